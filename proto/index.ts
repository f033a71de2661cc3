// The one import for Sigil's wire contracts: protobufjs message classes (`sigil.v1.*`) and typed grpc-js services.
// Everything here is generated into proto/gen/ by `npm run proto`.
export { sigil } from './gen/sigil.js';
export * from './gen/services.ts';
