import { systemClock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import { RevocationState } from '../../sidecar/index.ts';
import { round } from '../lib/stats.ts';
import { randomSerials } from './random-serials.ts';

const PEER_ID = 'spiffe://bench.example/ns/bench/sa/load-client';
/** Distinct peers cycled through, so the loop does not look up one hot string. */
const PEERS = 1024;
const BATCH = 10_000;
const DELTAS = 20;

export interface CheckCost {
  /** What the loop asked. */
  readonly case: string;
  readonly revokedSerials: number;
  readonly calls: number;
  readonly nsPerCall: number;
}

export interface CheckCostResult {
  readonly windowMs: number;
  readonly cases: readonly CheckCost[];
  /** ns per call with 100,000 revoked serials (not revoked peer) over ns per call with an empty set. */
  readonly ratio: number;
  /** Building the 100,000-serial state from a full fetch (RevocationState.replace). */
  readonly replaceMs: number;
  /** One revocation applied to it (applyDelta: the set is immutable, so each delta copies it). */
  readonly applyDeltaMs: number;
}

function newState(): RevocationState {
  return new RevocationState(
    { maxStalenessMs: 3_600_000, failOpen: false },
    { clock: systemClock, logger: silentLogger() },
  );
}

interface Tally {
  readonly calls: number;
  readonly ms: number;
}

/** Calls `authorize` in batches until `windowMs` has passed; the allowed count keeps the calls from being optimised away. */
function loop(
  what: string,
  state: RevocationState,
  serials: readonly string[],
  windowMs: number,
  expectAllowed: boolean,
): Tally {
  const mask = serials.length - 1;
  let calls = 0;
  let allowed = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < windowMs) {
    for (let i = 0; i < BATCH; i++) {
      if (state.authorize(serials[(calls + i) & mask] as string, PEER_ID).allowed) allowed++;
    }
    calls += BATCH;
    elapsed = performance.now() - start;
  }
  if (allowed !== (expectAllowed ? calls : 0)) {
    throw new SigilError(
      ErrorCode.INTERNAL,
      `${what}: ${allowed} of ${calls} checks allowed, expected ${expectAllowed ? 'all' : 'none'}`,
    );
  }
  return { calls, ms: elapsed };
}

/** `windowMs` per case, split in two halves taken in turn (A B C A B C), so a drift of the machine touches every case alike. */
function interleaved(
  cases: readonly { what: string; state: RevocationState; serials: readonly string[]; allowed: boolean }[],
  windowMs: number,
): CheckCost[] {
  const totals = cases.map(() => ({ calls: 0, ms: 0 }));
  for (let half = 0; half < 2; half++) {
    for (const [i, c] of cases.entries()) {
      const t = loop(c.what, c.state, c.serials, windowMs / 2, c.allowed);
      const total = totals[i] as { calls: number; ms: number };
      total.calls += t.calls;
      total.ms += t.ms;
    }
  }
  return cases.map((c, i) => {
    const t = totals[i] as Tally;
    return {
      case: c.what,
      revokedSerials: c.state.set.size.serials,
      calls: t.calls,
      nsPerCall: round((t.ms * 1e6) / t.calls, 1),
    };
  });
}

/**
 * The revocation check alone, in this process: ns per RevocationState.authorize with an empty state, then with
 * 100,000 revoked serials (peers not revoked: the common case; then revoked ones), each for `windowMs`.
 */
export function measureCheckCost(windowMs: number, revoked = 100_000): CheckCostResult {
  const peers = randomSerials(PEERS);
  const empty = newState();
  empty.replace({ crlNumber: 1, revokedSerials: [], revokedSpiffeIds: [] });
  const serials = randomSerials(revoked);
  const full = newState();
  const t0 = performance.now();
  full.replace({ crlNumber: 1, revokedSerials: serials, revokedSpiffeIds: [] });
  const replaceMs = performance.now() - t0;
  // Warm the call site with every case once, so none pays for JIT compilation.
  loop('warm-up', empty, peers, 100, true);
  loop('warm-up', full, peers, 100, true);
  loop('warm-up', full, serials.slice(0, PEERS), 100, false);
  const [emptyCost, fullCost, hitCost] = interleaved(
    [
      { what: 'empty set, peer not revoked', state: empty, serials: peers, allowed: true },
      { what: `${revoked} revoked serials, peer not revoked`, state: full, serials: peers, allowed: true },
      {
        what: `${revoked} revoked serials, peer revoked`,
        state: full,
        serials: serials.slice(0, PEERS),
        allowed: false,
      },
    ],
    windowMs,
  ) as [CheckCost, CheckCost, CheckCost];

  const t1 = performance.now();
  for (let i = 0; i < DELTAS; i++) {
    full.applyDelta(
      {
        crlNumber: 2 + i,
        revokedSerials: randomSerials(1),
        revokedSpiffeIds: [],
        unrevokedSpiffeIds: [],
      },
      Date.now(),
    );
  }
  const applyDeltaMs = (performance.now() - t1) / DELTAS;
  return {
    windowMs,
    cases: [emptyCost, fullCost, hitCost],
    ratio: round(fullCost.nsPerCall / emptyCost.nsPerCall, 2),
    replaceMs: round(replaceMs, 1),
    applyDeltaMs: round(applyDeltaMs, 1),
  };
}
