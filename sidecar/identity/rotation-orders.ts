import type { Clock, Timer } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { describeRotationTarget, rotationTargetMatches, type RotationTarget } from '../../common/rotation-target.ts';

export interface RotationOrder {
  readonly orderId: string;
  readonly target: RotationTarget;
  readonly windowMs: number;
  readonly reason: string;
  /** Unix ms: the window runs from here, so an order heard late (a trust refresh after an outage) renews sooner. */
  readonly createdAt: number;
}

export type RotationOrderResult = 'scheduled' | 'not-targeted' | 'duplicate' | 'rotated' | 'failed';

export interface RotationOrdersDeps {
  /** Renews at once with a new key; true when a new SVID is in force. */
  readonly renewNow: (reason: string) => Promise<boolean>;
  readonly clock: Clock;
  /** Uniform in [0, 1): where in the window this sidecar renews. */
  readonly random: () => number;
  readonly logger: Logger;
  readonly onResult?: (result: RotationOrderResult, order: RotationOrder) => void;
}

/** Orders are remembered so a re-delivery (NATS reconnect, replay) never rotates twice; old ids fall off. */
const REMEMBERED_ORDERS = 256;

/**
 * Acts on rotation orders for this sidecar's identity: each targeted order renews once, at a uniformly random moment
 * in what is left of its window, so a fleet spreads its renewals instead of stampeding the CA. Orders that arrive
 * while a renewal is pending share it, at the earliest moment any of them chose: a short window is never stretched
 * by a longer one.
 */
export class RotationOrders {
  readonly #ownId: string;
  readonly #deps: RotationOrdersDeps;
  readonly #seen = new Set<string>();
  /** One renewal at a time serves every order received before it: at the earliest moment any of them chose. */
  #pending: { readonly orders: readonly RotationOrder[]; readonly timer: Timer; readonly at: number } | undefined;

  constructor(ownId: string, deps: RotationOrdersDeps) {
    this.#ownId = ownId;
    this.#deps = deps;
  }

  /** When the pending order will renew (ms since epoch), if one is pending. */
  get pendingAt(): number | undefined {
    return this.#pending?.at;
  }

  offer(order: RotationOrder): RotationOrderResult {
    if (this.#seen.has(order.orderId)) return this.#report('duplicate', order);
    this.#remember(order.orderId);
    if (!rotationTargetMatches(order.target, this.#ownId)) return this.#report('not-targeted', order);
    const now = this.#deps.clock.now();
    const left = Math.max(0, Math.min(order.windowMs, order.createdAt + order.windowMs - now));
    const delayMs = Math.floor(this.#deps.random() * left);
    const pending = this.#pending;
    if (pending !== undefined && pending.at <= now + delayMs) {
      this.#pending = { ...pending, orders: [...pending.orders, order] };
    } else {
      pending?.timer.cancel();
      const orders = [...(pending?.orders ?? []), order];
      this.#pending = {
        orders,
        at: now + delayMs,
        timer: this.#deps.clock.setTimer(delayMs, () => void this.#rotate()),
      };
    }
    const at = this.#pending!.at;
    this.#deps.logger.info(
      {
        order_id: order.orderId,
        [LogField.reason]: order.reason,
        target: describeRotationTarget(order.target),
        renew_at: new Date(at).toISOString(),
      },
      'rotation order received; renewing with a new key inside its window',
    );
    return this.#report('scheduled', order);
  }

  stop(): void {
    this.#pending?.timer.cancel();
    this.#pending = undefined;
  }

  async #rotate(): Promise<void> {
    const orders = this.#pending?.orders ?? [];
    this.#pending = undefined;
    const ids = orders.map((o) => o.orderId).join(',');
    let rotated = false;
    try {
      rotated = await this.#deps.renewNow(`rotation-order:${ids}`);
    } catch {
      rotated = false;
    }
    // A failed attempt is retried by the SVID manager's own backoff; the orders are reported as failed here.
    if (rotated) this.#deps.logger.info({ order_id: ids }, 'rotation order carried out: new key and SVID in force');
    else
      this.#deps.logger.warn(
        { order_id: ids },
        'rotation order: renewal failed; the SVID manager retries with backoff',
      );
    for (const order of orders) this.#report(rotated ? 'rotated' : 'failed', order);
  }

  #remember(orderId: string): void {
    this.#seen.add(orderId);
    if (this.#seen.size > REMEMBERED_ORDERS) this.#seen.delete(this.#seen.values().next().value as string);
  }

  #report(result: RotationOrderResult, order: RotationOrder): RotationOrderResult {
    this.#deps.onResult?.(result, order);
    return result;
  }
}
