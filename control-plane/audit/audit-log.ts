import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { AuditRecord, AuditResult, Store } from '../store/store.ts';

/** What a caller records: who (SPIFFE ID URI or 'anonymous'), did what, to what, with which outcome. */
export interface AuditInput {
  readonly actor: string;
  /** e.g. 'revoke', 'policy.apply', 'token.create', 'rotate', 'ca.rotation.stage', 'dashboard.login'. */
  readonly action: string;
  readonly target: string;
  readonly result: AuditResult;
  readonly requestId: string;
  /** Error code and message of a refusal or failure. Never a secret. */
  readonly detail?: string;
}

export interface AuditEntry extends AuditInput {
  /** Grows with every entry; `list` pages after it. */
  readonly id: string;
  readonly at: Date;
}

export interface AuditQuery {
  readonly since?: Date;
  readonly actor?: string;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  /** The `next` of the previous page. */
  readonly after?: string;
}

export interface AuditLogDeps {
  readonly store: Pick<Store, 'appendAudit' | 'listAudit' | 'pruneAudit'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The publisher of the moment (absent without NATS): each entry also goes out as a signed 'audit' event. */
  readonly publisher?: () => EventPublisher | undefined;
}

export const DEFAULT_AUDIT_PAGE = 100;
export const MAX_AUDIT_PAGE = 1000;
/** Texts longer than this are cut: an entry names things, it does not carry documents. */
const MAX_FIELD_CHARS = 1024;

const clip = (text: string): string => (text.length > MAX_FIELD_CHARS ? `${text.slice(0, MAX_FIELD_CHARS)}…` : text);

function entryOf(r: AuditRecord): AuditEntry {
  return {
    id: String(r.entryId),
    at: new Date(r.at),
    actor: r.actor,
    action: r.action,
    target: r.target,
    result: r.result,
    requestId: r.requestId,
    ...(r.detail !== '' ? { detail: r.detail } : {}),
  };
}

/**
 * The audit log: append-only through this class (there is no update or delete; only `prune`, the retention duty,
 * removes entries by age). An entry is stored first and then published; a publish that fails is logged and the
 * stored entry stands, like every event of the channel (best effort, the store is the record).
 */
export class AuditLog {
  readonly #deps: AuditLogDeps;
  readonly #listeners = new Set<(entry: AuditEntry) => void>();

  constructor(deps: AuditLogDeps) {
    this.#deps = deps;
  }

  async record(entry: AuditInput): Promise<AuditEntry> {
    const stored = await this.#deps.store.appendAudit({
      at: this.#deps.clock.now(),
      actor: clip(entry.actor),
      action: clip(entry.action),
      target: clip(entry.target),
      result: entry.result,
      requestId: clip(entry.requestId),
      detail: clip(entry.detail ?? ''),
    });
    const recorded = entryOf(stored);
    for (const listener of this.#listeners) {
      try {
        listener(recorded);
      } catch (err) {
        this.#deps.logger.warn({ err, audit_id: recorded.id }, 'audit listener failed');
      }
    }
    const publisher = this.#deps.publisher?.();
    if (publisher) {
      const { at, detail, ...rest } = recorded;
      await publisher
        .publish({ type: 'audit.recorded', entry: { ...rest, at: at.getTime(), detail: detail ?? '' } })
        .catch((err: unknown) =>
          this.#deps.logger.warn(
            { err, [LogField.errCode]: (err as SigilError).code, audit_id: recorded.id },
            'audit event not published; the entry is stored',
          ),
        );
    }
    return recorded;
  }

  /**
   * Calls `listener` with every entry recorded by this control plane from now on (live views: the dashboard's
   * server-sent events). Returns the function that unsubscribes. A listener that throws is logged and kept.
   */
  subscribe(listener: (entry: AuditEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Oldest first; `next` is set when more entries match (pass it as `after`). */
  async list(query: AuditQuery = {}): Promise<{ entries: AuditEntry[]; next?: string }> {
    const limit = query.limit ?? DEFAULT_AUDIT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `audit page size ${limit} is out of range: give 1 to ${MAX_AUDIT_PAGE}`,
      );
    }
    const afterId = query.after === undefined || query.after === '' ? undefined : cursorOf(query.after);
    const rows = await this.#deps.store.listAudit({
      limit: limit + 1,
      ...(query.since ? { since: query.since.getTime() } : {}),
      ...(query.actor ? { actor: query.actor } : {}),
      ...(afterId !== undefined ? { afterId } : {}),
    });
    const entries = rows.slice(0, limit).map(entryOf);
    const last = entries.at(-1);
    return rows.length > limit && last ? { entries, next: last.id } : { entries };
  }

  /** Removes entries older than `retentionMs` before now; returns how many. */
  async prune(retentionMs: number): Promise<number> {
    return this.#deps.store.pruneAudit(this.#deps.clock.now() - retentionMs);
  }
}

function cursorOf(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `audit cursor ${JSON.stringify(text)} is not one this control plane gave: pass the next cursor of the previous page`,
    );
  }
  return Number(text);
}
