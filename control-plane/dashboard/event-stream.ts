import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Timer } from '../../common/clock.ts';
import type { DashboardData } from './dashboard-data.ts';

/** A comment line this often keeps proxies and browsers from dropping an idle stream. */
const HEARTBEAT_MS = 25_000;
/** What browsers wait before reconnecting (after a control-plane restart, say). */
const RETRY_MS = 2_000;

/**
 * Server-sent events: one `change` event per topic that changed, which the open page answers by fetching what it
 * shows again. EventSource reconnects by itself; the session cookie outlives a restart of this control plane, so
 * the page picks up where it was. A stream whose admin credential is revoked is closed at the next event.
 */
export class EventStream {
  readonly #data: Pick<DashboardData, 'watch' | 'adminActive'>;
  readonly #clock: Clock;
  readonly #open = new Set<ServerResponse>();

  constructor(deps: { readonly data: Pick<DashboardData, 'watch' | 'adminActive'>; readonly clock: Clock }) {
    this.#data = deps.data;
    this.#clock = deps.clock;
  }

  serve(req: IncomingMessage, res: ServerResponse, adminSerial: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    res.write(`retry: ${RETRY_MS}\n: connected\n\n`);
    this.#open.add(res);
    let heartbeat: Timer | undefined;
    const beat = () => {
      res.write(': heartbeat\n\n');
      heartbeat = this.#clock.setTimer(HEARTBEAT_MS, beat);
    };
    heartbeat = this.#clock.setTimer(HEARTBEAT_MS, beat);
    const unsubscribe = this.#data.watch((topic) => {
      void this.#data.adminActive(adminSerial).then(
        (active) => {
          if (active) res.write(`event: change\ndata: ${JSON.stringify({ topic })}\n\n`);
          else res.end();
        },
        () => res.end(),
      );
    });
    const done = () => {
      heartbeat?.cancel();
      unsubscribe();
      this.#open.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  }

  close(): void {
    for (const res of this.#open) res.end();
    this.#open.clear();
  }
}
