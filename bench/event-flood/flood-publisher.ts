// Child entry: the attacker of bench/event-flood.ts. Publishes the forged envelopes in <events.json> round-robin on
// NATS until SIGTERM, then reports how many it published and exits. At <rate> events per second (in ten slices a
// second), or as fast as NATS takes them (a flush after every 500) when <rate> is 0.
// Usage (by bench/event-flood.ts only): node flood-publisher.ts <natsUrl> <events.json> <rate>
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'nats';

interface StoredEvent {
  readonly subject: string;
  readonly base64: string;
}

/** 'ready' once the first slice is out (the flood is on), 'done' after SIGTERM. */
export type PublisherMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly published: number; readonly seconds: number };

const [url, file, rateText] = process.argv.slice(2) as [string, string, string];
const events = (JSON.parse(readFileSync(file, 'utf8')) as StoredEvent[]).map((e) => ({
  subject: e.subject,
  data: new Uint8Array(Buffer.from(e.base64, 'base64')),
}));
const rate = Number(rateText);
const slice = rate > 0 ? Math.max(1, Math.round(rate / 10)) : 500;
const nc = await connect({ servers: url, name: 'bench-flood-publisher' });
let stopping = false;
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => {
  stopping = true;
});
let published = 0;
const started = performance.now();
while (!stopping) {
  for (let i = 0; i < slice; i++) {
    const e = events[published % events.length] as { subject: string; data: Uint8Array };
    nc.publish(e.subject, e.data);
    published++;
  }
  await nc.flush();
  if (published === slice) process.send?.({ type: 'ready' } satisfies PublisherMessage);
  if (rate > 0) {
    // Paced against the start, so a slow slice is made up for by the next ones.
    const due = started + (published / rate) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
}
const seconds = (performance.now() - started) / 1000;
await nc.close();
process.send?.({ type: 'done', published, seconds } satisfies PublisherMessage, () => process.exit(0));
