// The sidecar's public entry point: what the CLI, examples, benchmarks and tests may use.
export { GrpcIdentityApi, type IssuedSvidWire, type TrustStateWire } from './identity/grpc-identity-api.ts';
export { loadSidecarConfig, parseSidecarConfig, type SidecarConfig } from './config.ts';
export { runSidecarFromConfig } from './run.ts';
