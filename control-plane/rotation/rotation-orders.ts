import { randomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import {
  describeRotationTarget,
  parseRotationTarget,
  rotationTargetFields,
  type RotationTargetInput,
} from '../../common/rotation-target.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { RotationOrderRecord, Store } from '../store/store.ts';
import { rotationProgress, targetOfRecord, type RotationProgress } from './rotation-progress.ts';

export const DEFAULT_ROTATION_WINDOW_MS = 5 * 60_000;
const MAX_ROTATION_WINDOW_MS = 7 * 24 * 3_600_000;
/** After the window, how long a renewal may still be on its way (retries with backoff) before it counts as failed. */
const DEFAULT_GRACE_MS = 60_000;
/** How long after its window an order is still handed out by FetchTrust, for sidecars that were away. */
const SERVED_AFTER_WINDOW_MS = 10 * 60_000;

export interface RotationOrderView extends RotationProgress {
  readonly order: RotationOrderRecord;
}

export interface RotationOrderDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** With several replicas: tells the others to reload the running orders they serve. */
  readonly announce?: () => Promise<void>;
}

/**
 * Rotation orders: persisted, pushed as signed events to every sidecar, served in the trust state while they run
 * (for sidecars that missed the event or run without NATS), and followed up from the inventory.
 */
export class RotationOrderService {
  readonly #trustDomain: string;
  readonly #deps: RotationOrderDeps;
  readonly #graceMs: number;
  /** Orders recent enough to serve in FetchTrust; a cache of the store, reloaded at start. */
  #recent: RotationOrderRecord[] = [];
  #publisher: EventPublisher | undefined;

  constructor(options: { trustDomain: string; graceMs?: number }, deps: RotationOrderDeps) {
    this.#trustDomain = options.trustDomain;
    this.#graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.#deps = deps;
  }

  /** The event channel, once it exists (it starts after the trust state is built). */
  publishWith(publisher: EventPublisher | undefined): void {
    this.#publisher = publisher;
  }

  /** Loads the orders that may still be running (after a restart they must still reach sidecars over gRPC). */
  async load(): Promise<void> {
    this.#recent = await this.#deps.store.listRotationOrders(
      this.#deps.clock.now() - MAX_ROTATION_WINDOW_MS - SERVED_AFTER_WINDOW_MS,
    );
  }

  /** Orders whose window (plus a margin for late sidecars) has not ended: part of the trust state. */
  running(): RotationOrderRecord[] {
    const now = this.#deps.clock.now();
    this.#recent = this.#recent.filter((o) => o.createdAt + o.windowMs + SERVED_AFTER_WINDOW_MS > now);
    return this.#recent;
  }

  async order(input: RotationTargetInput & { readonly windowMs?: number }, reason: string): Promise<RotationOrderView> {
    const target = parseRotationTarget(input, this.#trustDomain);
    const windowMs = input.windowMs === undefined || input.windowMs === 0 ? DEFAULT_ROTATION_WINDOW_MS : input.windowMs;
    if (!Number.isSafeInteger(windowMs) || windowMs < 1_000 || windowMs > MAX_ROTATION_WINDOW_MS) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `rotation window ${windowMs} ms is out of range: give --within between 1s and 7d`,
      );
    }
    const fields = rotationTargetFields(target);
    const record: RotationOrderRecord = {
      orderId: randomBytes(9).toString('base64url'),
      targetKind: fields.kind,
      target: fields.value,
      windowMs,
      reason,
      createdAt: this.#deps.clock.now(),
    };
    await this.#deps.store.insertRotationOrder(record);
    this.#recent = [...this.#recent, record];
    await this.#deps.announce?.();
    if (this.#publisher) {
      await this.#publisher.publish({
        type: 'rotate.ordered',
        orderId: record.orderId,
        target,
        windowMs,
        reason,
        createdAt: record.createdAt,
      });
    } else {
      this.#deps.logger.info(
        { order_id: record.orderId },
        'rotation order recorded; without NATS, sidecars learn of it at their next trust refresh',
      );
    }
    this.#deps.logger.info(
      { order_id: record.orderId, target: describeRotationTarget(target), window_ms: windowMs, reason },
      'rotation ordered',
    );
    return this.#view(record);
  }

  /** Progress of an order (the latest when no id is given). */
  async status(orderId?: string): Promise<RotationOrderView> {
    const record = orderId
      ? await this.#deps.store.getRotationOrder(orderId)
      : await this.#deps.store.latestRotationOrder();
    if (!record) {
      throw new SigilError(
        ErrorCode.NOT_FOUND,
        orderId
          ? `no rotation order ${orderId}: see the id sigil rotate printed`
          : 'no rotation has been ordered yet: use sigil rotate',
      );
    }
    return this.#view(record);
  }

  async #view(order: RotationOrderRecord): Promise<RotationOrderView> {
    const certificates = await this.#deps.store.listCertificates({
      kind: 'svid',
      notAfterAfter: Math.min(order.createdAt, this.#deps.clock.now()),
    });
    return { order, ...rotationProgress(order, certificates, this.#deps.clock.now(), this.#graceMs) };
  }

  describe(order: RotationOrderRecord): string {
    return describeRotationTarget(targetOfRecord(order));
  }
}
