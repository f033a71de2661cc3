import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** One read buffer for every socket made here: each read is copied out before the callback returns. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Where a socket's reads go once a consumer has taken them; undefined until then (reads go to the stream). */
interface ReadRoute {
  sink: ((chunk: Buffer) => void) | undefined;
}

const routes = new WeakMap<Duplex, ReadRoute>();

/**
 * Connects like `net.connect`, but reads into one shared buffer and pushes a copy of exactly what arrived, so the
 * socket behaves as any Readable (data, end, pipe, backpressure). By default Node gives every read a fresh 64 KiB
 * ArrayBuffer; at thousands of small reads a second that churn of external memory makes V8 run a full
 * mark-compact several times a second, and the sidecar's heap makes each one expensive. A small copy comes from
 * Buffer's pool instead.
 *
 * A consumer can also take the reads with `takeReads`, which skips the Readable machinery (push, 'data' event,
 * the next-tick read-ahead) for every chunk; end-of-stream and errors still arrive as the stream's events.
 */
export function connectUpstream(options: {
  readonly host: string;
  readonly port: number;
  readonly allowHalfOpen: boolean;
  readonly noDelay: boolean;
}): Socket {
  const route: ReadRoute = { sink: undefined };
  const socket: Socket = connect({
    ...options,
    onread: {
      buffer: READ_BUFFER,
      callback: (nread, buf) => {
        const chunk = Buffer.from(buf.subarray(0, nread));
        if (route.sink === undefined) {
          // Returning false (the readable buffer is full) stops reading until the consumer drains it.
          return socket.push(chunk);
        }
        // The sink pauses the socket itself when its destination is full; pause() stops reading at once.
        route.sink(chunk);
        return true;
      },
    },
  });
  routes.set(socket, route);
  return socket;
}

/**
 * Sends every later read of a socket made by `connectUpstream` to `sink` instead of the stream, after handing it
 * whatever the stream had buffered. The caller starts the flow with `resume()`; `pause()` and `resume()` stop and
 * restart the socket's reads as for any stream. Returns false, and changes nothing, for any other stream: the caller then reads it
 * the ordinary way.
 */
export function takeReads(stream: Duplex, sink: (chunk: Buffer) => void): boolean {
  const route = routes.get(stream);
  if (!route || route.sink !== undefined) return false;
  route.sink = sink;
  for (let chunk: Buffer | null = stream.read(); chunk !== null; chunk = stream.read()) sink(chunk);
  return true;
}
