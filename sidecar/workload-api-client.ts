// The sidecar's entry point for Workload API clients (`sigil jwt ...`): the client alone, without the sidecar, its
// proxies, trust state or the Identity API that index.ts brings along.
export {
  DEFAULT_SOCKET,
  ENDPOINT_ENV,
  socketPathOf,
  WorkloadApiClient,
} from './workload-api/workload-api-client.ts';
