/** The metadata every Workload API call must carry, set to "true" (SPIFFE Workload Endpoint specification). */
export const SECURITY_HEADER = 'workload.spiffe.io';
