/** What a solver is handed for one identifier's challenge. */
export interface ChallengeTask {
  /** The DNS name being validated (without a wildcard label). */
  readonly identifier: string;
  readonly token: string;
  /**
   * The key authorization (RFC 8555 8.1): for http-01 and tls-alpn-01 `token.thumbprint`; for dns-01 already the
   * base64url SHA-256 digest that goes into the TXT record.
   */
  readonly keyAuthorization: string;
}

/**
 * Makes one challenge answerable, then takes it down. `present` resolves once the CA can see the answer (for dns-01,
 * after the propagation wait); `cleanup` is called whether validation passed or not, and must not throw for a
 * challenge that was never presented.
 */
export interface ChallengeSolver {
  readonly type: 'http-01' | 'tls-alpn-01' | 'dns-01';
  present(task: ChallengeTask): Promise<void>;
  cleanup(task: ChallengeTask): Promise<void>;
}
