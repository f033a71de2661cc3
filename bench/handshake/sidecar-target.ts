// Child entry: a real Sigil sidecar (the same Sidecar class and config loading as `sigil sidecar run`) that attests
// to the benchmark's control plane, serves its inbound (or outbound) listener, and writes the SVID it obtained to `outDir` so the
// baseline targets serve the very same certificate, key and bundle.
// Usage (by targets.ts only): node sidecar-target.ts <sidecar.yaml> <outDir>
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../common/logger.ts';
import { Sidecar, loadSidecarConfig } from '../../sidecar/index.ts';
import { childEntry } from './node-child.ts';
import type { CredentialFiles, TargetReady } from './protocol.ts';

childEntry('sidecar target', async () => {
  const [configPath, outDir] = process.argv.slice(2) as [string, string];
  const config = loadSidecarConfig(configPath, {});
  const tokenFile = config.joinTokenFile;
  if (!tokenFile) throw new Error(`${configPath} has no joinToken.file`);
  const sidecar = new Sidecar(
    {
      config,
      bootstrapBundlePem: readFileSync(config.controlPlane.bundlePath, 'utf8'),
      joinToken: () => readFileSync(tokenFile, 'utf8').trim(),
    },
    { logger: createLogger({ component: 'bench-sidecar', level: config.logLevel, destination: process.stderr }) },
  );
  const addresses = await sidecar.start();
  process.once('SIGTERM', () => void sidecar.stop(500).finally(() => process.exit(0)));
  const material = sidecar.credentials.current?.material;
  // The handshake benchmark's sidecar has an inbound listener; the mesh benchmark's client-side one an outbound.
  const listener = addresses.inbound[0] ?? addresses.outbound[0];
  if (!material || !listener) throw new Error('the sidecar started without an SVID or a listener');
  const files: CredentialFiles = {
    certChainPath: join(outDir, 'svid.pem'),
    keyPath: join(outDir, 'key.pem'),
    bundlePath: join(outDir, 'bundle.pem'),
  };
  writeFileSync(files.keyPath, material.keyPem, { mode: 0o600 });
  chmodSync(files.keyPath, 0o600);
  writeFileSync(files.certChainPath, material.certChainPem);
  writeFileSync(files.bundlePath, material.bundlePem);
  process.send?.({
    type: 'ready',
    host: listener.host,
    port: listener.port,
    admin: { host: addresses.admin.host, port: addresses.admin.port },
    credentials: files,
    serial: material.serial,
  } satisfies TargetReady);
});
