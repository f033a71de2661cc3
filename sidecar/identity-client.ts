// The sidecar's client-side entry point for workloads without a sidecar (`sigil svid fetch`): the Identity API
// client alone, without the proxies, trust state or event channel that index.ts brings along.
export { GrpcIdentityApi, type TrustStateWire } from './identity/grpc-identity-api.ts';
export type { IdentityApi, IssuedSvidWire } from './identity/identity-api.ts';
