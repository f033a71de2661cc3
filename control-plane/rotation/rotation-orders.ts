import { randomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { describeRotationTarget, parseRotationTarget, rotationTargetFields, type RotationTargetInput } from '../../common/rotation-target.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { RotationOrderRecord, Store } from '../store/store.ts';
import { rotationProgress, targetOfRecord, type RotationProgress } from './rotation-progress.ts';

export const DEFAULT_ROTATION_WINDOW_MS = 5 * 60_000;
const MAX_ROTATION_WINDOW_MS = 7 * 24 * 3_600_000;
/** After the window, how long a renewal may still be on its way (retries with backoff) before it counts as failed. */
const DEFAULT_GRACE_MS = 60_000;

export interface RotationOrderView extends RotationProgress {
  readonly order: RotationOrderRecord;
}

export interface RotationOrderDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly publisher: EventPublisher | undefined;
}

/**
 * Rotation orders: persisted, pushed as signed events to every sidecar, and followed up from the inventory. Without
 * NATS an order is still recorded, and reported pending then failed: sidecars only learn of orders by event.
 */
export class RotationOrderService {
  readonly #trustDomain: string;
  readonly #deps: RotationOrderDeps;
  readonly #graceMs: number;

  constructor(options: { trustDomain: string; graceMs?: number }, deps: RotationOrderDeps) {
    this.#trustDomain = options.trustDomain;
    this.#graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.#deps = deps;
  }

  async order(input: RotationTargetInput & { readonly windowMs?: number }, reason: string): Promise<RotationOrderView> {
    const target = parseRotationTarget(input, this.#trustDomain);
    const windowMs = input.windowMs === undefined || input.windowMs === 0 ? DEFAULT_ROTATION_WINDOW_MS : input.windowMs;
    if (!Number.isSafeInteger(windowMs) || windowMs < 0 || windowMs > MAX_ROTATION_WINDOW_MS) {
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, `rotation window ${windowMs} ms is out of range: give --within between 1s and 7d`);
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
    if (this.#deps.publisher) {
      await this.#deps.publisher.publish({ type: 'rotate.ordered', orderId: record.orderId, target, windowMs, reason });
    } else {
      this.#deps.logger.warn({ order_id: record.orderId }, 'rotation order recorded, but no NATS is configured: sidecars will not hear of it');
    }
    this.#deps.logger.info({ order_id: record.orderId, target: describeRotationTarget(target), window_ms: windowMs, reason }, 'rotation ordered');
    return this.#view(record);
  }

  /** Progress of an order (the latest when no id is given). */
  async status(orderId?: string): Promise<RotationOrderView> {
    const record = orderId ? await this.#deps.store.getRotationOrder(orderId) : await this.#deps.store.latestRotationOrder();
    if (!record) {
      throw new SigilError(ErrorCode.NOT_FOUND, orderId ? `no rotation order ${orderId}: see the id sigil rotate printed` : 'no rotation has been ordered yet: use sigil rotate');
    }
    return this.#view(record);
  }

  async #view(order: RotationOrderRecord): Promise<RotationOrderView> {
    const certificates = await this.#deps.store.listCertificates({ kind: 'svid', notAfterAfter: Math.min(order.createdAt, this.#deps.clock.now()) });
    return { order, ...rotationProgress(order, certificates, this.#deps.clock.now(), this.#graceMs) };
  }

  describe(order: RotationOrderRecord): string {
    return describeRotationTarget(targetOfRecord(order));
  }
}
