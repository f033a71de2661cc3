// The floor under any unary gRPC service on this stack: a grpc-js server over TLS (the control plane's transport
// settings) whose one method answers every request with the same bytes, no protobuf, no work. bench/issuance.ts
// measures its CPU per call beside Attest's, so the part of an issuance that is transport is visible.
// Run as a child: `node bench/lib/grpc-echo-server.ts CERT_PEM_FILE KEY_PEM_FILE RESPONSE_BYTES`; prints the port.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { ECHO_SERVICE } from './echo-service.ts';

const [certFile, keyFile, responseBytes] = process.argv.slice(2);
if (!certFile || !keyFile) throw new Error('usage: grpc-echo-server.ts CERT_PEM_FILE KEY_PEM_FILE RESPONSE_BYTES');

const response = Buffer.alloc(Number(responseBytes ?? 1500), 0x5a);
const server = new Server();
server.addService(ECHO_SERVICE, {
  call: (_call: unknown, callback: (error: null, value: Buffer) => void) => callback(null, response),
});
server.bindAsync(
  '127.0.0.1:0',
  ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }]),
  (error, port) => {
    if (error) throw error;
    process.stdout.write(`${port}\n`);
  },
);
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
