// The SPIFFE Workload API's wire contract (proto/spiffe/workload/workload.proto): protobufjs message classes and the
// typed grpc-js service. Separate from proto/index.ts so that only the Workload API server and its clients load it.
export * from './gen/workload.js';
export * from './gen/workload-services.ts';
