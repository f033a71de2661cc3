import { connect, type Socket } from 'node:net';

/** One read buffer for every socket made here: each read is copied out before the callback returns. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * Connects like `net.connect`, but reads into one shared buffer and pushes a copy of exactly what arrived, so the
 * socket behaves as any Readable (data, end, pipe, backpressure). By default Node gives every read a fresh 64 KiB
 * ArrayBuffer; at thousands of small reads a second that churn of external memory makes V8 run a full
 * mark-compact several times a second, and the sidecar's heap makes each one expensive. A small copy comes from
 * Buffer's pool instead.
 */
export function connectUpstream(options: {
  readonly host: string;
  readonly port: number;
  readonly allowHalfOpen: boolean;
  readonly noDelay: boolean;
}): Socket {
  const socket: Socket = connect({
    ...options,
    // Returning false (the readable buffer is full) stops reading until the consumer drains it.
    onread: { buffer: READ_BUFFER, callback: (nread, buf) => socket.push(Buffer.from(buf.subarray(0, nread))) },
  });
  return socket;
}
