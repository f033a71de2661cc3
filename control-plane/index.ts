// The control plane's public entry point: what the CLI, examples, benchmarks and tests may use.
export { ControlPlane, type ControlPlaneOptions, type ControlPlaneDeps, type ControlPlaneAddresses } from './server.ts';
export { loadControlPlaneConfig, resolveControlPlaneConfig, type ControlPlaneConfig } from './config.ts';
export { initCa, type InitCaOptions, type InitCaResult } from './ca/init-ca.ts';
export { loadCa } from './ca/load-ca.ts';
export { Pkcs11Tokens } from './keys/pkcs11-tokens.ts';
export { Pkcs11Token } from './keys/pkcs11-token.ts';
export { cryptoKeySigningKey } from './keys/crypto-key-signing-key.ts';
export { caFilePaths, CA_FILE_NAMES } from './ca/ca-files.ts';
export { SqliteStore } from './store/sqlite-store.ts';
export { PostgresStore } from './store/postgres-store.ts';
export { copyStore, type CopyReport } from './store/store-copy.ts';
export { createStore, storeFromSpec } from './store/open-store.ts';
export type { Store, CertificateRecord } from './store/store.ts';
export { AdminApi, type AdminConnection } from './api/admin-client.ts';
export { mintRoot } from './ca/mint-ca.ts';
export { writeNewFile } from './ca/write-new-file.ts';
// The ACME service itself is loaded only when a control plane starts (acme-client is heavy): import it from
// './acme/acme-service.ts' where needed.
export type { AcmeService, AcmeCertificateStatus } from './acme/acme-service.ts';
export type { AcmeRenewalAlert } from './acme/acme-renewer.ts';
export {
  parseAcmeDocument,
  type AcmeAccountSpec,
  type AcmeCertificateSpec,
  type AcmeDeclarations,
} from './acme/acme-config.ts';
