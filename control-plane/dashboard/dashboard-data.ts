// The dashboard's ports: what its pages read and the actions they take, as plain JSON-able values. The control
// plane implements them over its services (control-plane-data.ts); the dashboard's tests pass fakes.

export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json | undefined };
export type JsonObject = { readonly [key: string]: Json | undefined };

export interface InventoryPageQuery {
  /** Case-insensitive text matched against name, subject, serial, SPIFFE IDs and DNS names. */
  readonly q?: string;
  readonly source?: string;
  readonly status?: string;
  readonly kind?: string;
  readonly sort?: 'notAfter' | 'name' | 'source' | 'status' | 'kind';
  readonly order?: 'asc' | 'desc';
  readonly offset?: number;
  /** At most 200 a page. */
  readonly limit?: number;
}

export interface RevokeRequest {
  readonly serial?: string;
  readonly spiffeId?: string;
  readonly reason: string;
}

export interface RotateRequest {
  readonly spiffeId?: string;
  readonly prefix?: string;
  readonly all?: boolean;
  readonly windowMs: number;
}

export interface AuditQuery {
  readonly since?: number;
  readonly actor?: string;
  readonly limit?: number;
  readonly after?: string;
}

export interface DashboardData {
  /** True while the admin certificate with this serial is in the inventory and not revoked. */
  adminActive(serial: string): Promise<boolean>;
  /** True once the session with this id was signed out (its cookie is refused from then on, by every replica). */
  sessionSignedOut(sessionId: string): Promise<boolean>;
  /** Ends a session for good; `until` (ms) is when its cookie would have expired anyway. */
  signOut(sessionId: string, until: number): Promise<void>;
  overview(): Promise<JsonObject>;
  sidecars(): Promise<JsonObject>;
  inventory(query: InventoryPageQuery): Promise<JsonObject>;
  /** undefined: no such certificate. */
  certificate(id: string): Promise<JsonObject | undefined>;
  policies(): Promise<JsonObject>;
  /** The documents of one stored version; undefined: no such version. */
  policyVersion(version: number): Promise<JsonObject | undefined>;
  /** The same answer as `sigil policy explain` (the Admin API's ExplainPolicy). */
  explain(from: string, to: string, port: number): Promise<JsonObject>;
  policyDryRun(yaml: string): Promise<JsonObject>;
  revocations(): Promise<JsonObject>;
  ca(): Promise<JsonObject>;
  alerts(): Promise<JsonObject>;
  audit(query: AuditQuery): Promise<JsonObject>;
  revoke(request: RevokeRequest): Promise<JsonObject>;
  rotate(request: RotateRequest): Promise<JsonObject>;
  /** Marks an open alert as seen by `actor`; NOT_FOUND when there is no such alert. */
  acknowledge(alertId: string, actor: string, requestId: string): Promise<JsonObject>;
  /**
   * Calls `listener` with a topic ('fleet', 'revocations', 'policies', 'ca', 'alerts', 'inventory', 'audit') when
   * something pages show may have changed; returns the unsubscribe function.
   */
  watch(listener: (topic: string) => void): () => void;
}

/** One line of the audit log, as the control plane's AuditLog records it. */
export interface DashboardAuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly result: 'ok' | 'refused' | 'failed';
  readonly requestId: string;
  readonly detail?: string;
}

export interface DashboardAudit {
  record(entry: DashboardAuditEntry): Promise<unknown>;
}
