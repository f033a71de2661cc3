import { round, summarize, type LatencySummary } from './stats.ts';
import type { SubscriberPool } from './subscriber-pool.ts';

/** One kind of event driven through the channel, one at a time. */
export interface EventScenario {
  /** The event kind subscribers report completion for (a NATS subject kind: 'bundle', later 'revocation'). */
  readonly kind: string;
  /** How the event is produced, said in the output so nobody has to read the code to know. */
  readonly trigger: string;
  /** Produces the i-th measured event; resolves once the control plane has handed it to NATS. */
  readonly publish: (i: number) => Promise<void>;
}

export interface ScenarioResult {
  readonly trigger: string;
  readonly requestedEvents: number;
  /** Events measured: fewer than requested when the time budget ran out first. */
  readonly events: number;
  /** Events that had not reached every subscriber within the per-event timeout. */
  readonly incompleteEvents: number;
  readonly samples: { readonly expected: number; readonly received: number };
  readonly wallMs: number;
  /** Paced: the next event is published once every subscriber applied the previous one. */
  readonly eventsPerSecond: number;
  readonly latencyMs: LatencySummary;
  readonly latencyMsByLabel: Readonly<Record<string, LatencySummary>>;
  readonly cpuMs: {
    readonly controlPlane: number;
    readonly subscribers: number;
    readonly natsServer: number;
    readonly controlPlanePerEvent: number;
    readonly subscriberPerEventPerSubscriber: number;
    readonly natsServerPerEvent: number;
  };
  readonly dropped: Readonly<Record<string, number>>;
}

export interface MeasureContext {
  readonly pool: SubscriberPool;
  readonly subscribers: number;
  readonly controlPlaneCpuMs: () => number;
  readonly natsServerCpuMs: () => number;
  readonly eventTimeoutMs: number;
  /** performance.now() after which no new event is started (the run's wall-clock budget). */
  readonly stopBy: number;
}

/**
 * Publishes `events` events one at a time, each once the previous one reached every subscriber (or timed out), so
 * the latencies are publish-to-applied without queueing behind earlier events. The CPU of the control plane, the
 * subscriber processes and nats-server is read from /proc around exactly that window. The caller warms up first.
 */
export async function measureEvents(
  ctx: MeasureContext,
  scenario: EventScenario,
  requestedEvents: number,
): Promise<ScenarioResult> {
  const { pool } = ctx;
  pool.reset();
  const base = pool.completedEverywhere(scenario.kind);
  const cpu0 = { cp: ctx.controlPlaneCpuMs(), subs: pool.cpuMs(), nats: ctx.natsServerCpuMs() };
  const start = performance.now();
  let incompleteEvents = 0;
  let events = 0;
  let slowestMs = 0;
  for (let i = 0; i < requestedEvents; i++) {
    const eventStart = performance.now();
    // Another event only if one as slow as the slowest so far still fits, with a margin, in the budget.
    if (i > 0 && eventStart + 2 * slowestMs > ctx.stopBy) break;
    await scenario.publish(i);
    // Sequences of a kind grow by one per event, so the i-th event is base + i + 1.
    if (!(await pool.untilApplied(scenario.kind, base + i + 1, ctx.eventTimeoutMs))) incompleteEvents++;
    events++;
    slowestMs = Math.max(slowestMs, performance.now() - eventStart);
  }
  const wallMs = performance.now() - start;
  const cpu = {
    cp: ctx.controlPlaneCpuMs() - cpu0.cp,
    subs: pool.cpuMs() - cpu0.subs,
    nats: ctx.natsServerCpuMs() - cpu0.nats,
  };
  const report = await pool.report();
  const all = Object.values(report.samples).flat();
  return {
    trigger: scenario.trigger,
    requestedEvents,
    events,
    incompleteEvents,
    samples: { expected: events * ctx.subscribers, received: all.length },
    wallMs: Math.round(wallMs),
    eventsPerSecond: round(events / (wallMs / 1000), 1),
    latencyMs: summarize(all),
    latencyMsByLabel: Object.fromEntries(
      Object.entries(report.samples).map(([label, list]) => [label, summarize(list)]),
    ),
    cpuMs: {
      controlPlane: Math.round(cpu.cp),
      subscribers: Math.round(cpu.subs),
      natsServer: Math.round(cpu.nats),
      controlPlanePerEvent: round(cpu.cp / events, 2),
      subscriberPerEventPerSubscriber: round(cpu.subs / events / ctx.subscribers, 4),
      natsServerPerEvent: round(cpu.nats / events, 2),
    },
    dropped: report.dropped,
  };
}
