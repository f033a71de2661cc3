// The control plane's operator-side entry point: what the CLI's admin commands use to talk to a running control
// plane. Light on purpose: it loads the Admin API client (gRPC and the wire types) and no CA, store or server code,
// so `sigil certs list` pays only for what it uses. Everything else is in index.ts.
export { AdminApi, type AdminConnection } from './api/admin-client.ts';
export { writeNewFile } from './ca/write-new-file.ts';
