// The pure allow-policy engine: documents → validated policies → a compiled set that decides and explains.
export * from './allow-policy.ts';
export {
  parsePolicyDocuments,
  validatePolicySet,
  throwOnErrors,
  type ParsedPolicyDocuments,
  type PolicyDocumentOptions,
} from './policy-documents.ts';
export { compilePolicySet, type CompiledPolicySet, type Explained } from './compiled-policy-set.ts';
export type { ClosestMiss } from './closest-miss.ts';
export { toWirePolicySet, fromWirePolicySet } from './policy-wire.ts';
export { diffDecisions, type DecisionChange, type TrafficPair } from './diff-decisions.ts';
export { parseIdPattern, patternMatches, splitId, type IdPattern } from './spiffe-pattern.ts';
