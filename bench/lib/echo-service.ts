import type { ServiceDefinition } from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

/** One unary method carrying raw bytes both ways: gRPC with no message encoding at all. */
export const ECHO_SERVICE: ServiceDefinition = {
  call: {
    path: '/bench.Echo/Call',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
