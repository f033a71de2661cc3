// The sidecar's public entry point: what the CLI, examples, benchmarks and tests may use.
export { Sidecar, type SidecarOptions, type SidecarDeps, type SidecarAddresses, type SidecarEvent } from './sidecar.ts';
export { GrpcIdentityApi, type TrustStateWire } from './identity/grpc-identity-api.ts';
export type { IdentityApi, IssuedSvidWire } from './identity/identity-api.ts';
export { loadSidecarConfig, parseSidecarConfig, type SidecarConfig } from './config.ts';
export { runSidecarFromConfig } from './run.ts';
export {
  EventChannel,
  type EventChannelOptions,
  type EventChannelDeps,
  type EventMeta,
} from './trust/event-channel.ts';
export { TrustState } from './trust/trust-state.ts';
export { RevocationState, type RevocationStateOptions } from './trust/revocation-state.ts';
export { InboundListener, type InboundListenerOptions } from './proxy/inbound-listener.ts';
export { CredentialSource, type TlsMaterial } from './identity/credential-source.ts';
export { svidPeerVerifier } from './peer-verifier.ts';
export { resolveClientTlsSettings, resolveTlsSettings } from './proxy/tls-settings.ts';
export { PolicyEnforcer } from './policy/policy-enforcer.ts';
export { SvidManager, type SvidManagerOptions, type SvidManagerDeps } from './identity/svid-manager.ts';
export { RotationOrders, type RotationOrder } from './identity/rotation-orders.ts';
