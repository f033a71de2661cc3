import { closeSync, openSync, readSync } from 'node:fs';

/** One line of a process's log: pino's JSON (with `time` in epoch ms), or `{ msg }` for a plain-text line. */
export type LogLine = Record<string, unknown> & { readonly msg?: unknown; readonly time?: unknown };

const POLL_MS = 20;

/**
 * Reads a log file that another process appends to. The demo's processes write to files, not pipes, so they can
 * outlive the demo (`--keep`); the demo follows those files. Timings come from the lines' own `time` fields, so
 * how often the file is read changes no number the demo prints.
 */
export class LogFile {
  readonly path: string;
  readonly #lines: LogLine[] = [];
  #offset = 0;
  #partial = '';

  /** `offset`: where this process's output starts (a restarted process appends to the same file). */
  constructor(path: string, offset = 0) {
    this.path = path;
    this.#offset = offset;
  }

  /** Every line written so far. */
  lines(): readonly LogLine[] {
    this.#read();
    return this.#lines;
  }

  /** How many lines there are now: pass it to `waitFor` to look only at what comes after. */
  mark(): number {
    return this.lines().length;
  }

  /**
   * Resolves with the first line from `from` on that matches; rejects after `timeoutMs`, or when `alive()` says
   * the writer has exited, with the end of the log so the reader sees why.
   */
  async waitFor(
    match: (line: LogLine) => boolean,
    what: string,
    options: { from?: number; timeoutMs?: number; alive?: () => boolean } = {},
  ): Promise<LogLine> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (let i = options.from ?? 0; ; ) {
      const lines = this.lines();
      for (; i < lines.length; i++) if (match(lines[i]!)) return lines[i]!;
      const exited = options.alive !== undefined && !options.alive();
      if (exited || Date.now() > deadline) {
        const tail = lines
          .slice(-15)
          .map((l) => `  ${JSON.stringify(l)}`)
          .join('\n');
        throw new Error(
          `${exited ? 'the process exited' : 'timed out'} waiting for ${what}; the end of ${this.path}:\n${tail}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  #read(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return; // not created yet
    }
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, this.#offset);
        if (n === 0) break;
        this.#offset += n;
        this.#partial += buffer.subarray(0, n).toString('utf8');
      }
    } finally {
      closeSync(fd);
    }
    const parts = this.#partial.split('\n');
    this.#partial = parts.pop() ?? '';
    for (const text of parts) if (text.trim() !== '') this.#lines.push(parseLine(text));
  }
}

function parseLine(text: string): LogLine {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as LogLine;
  } catch {
    // a plain-text line (nats-server, the example apps)
  }
  return { msg: text };
}

/** The line's pino timestamp (epoch ms, or ISO 8601 as Sigil logs it); throws when it has none: no invented numbers. */
export function timeOf(line: LogLine): number {
  const time = typeof line.time === 'string' ? Date.parse(line.time) : line.time;
  if (typeof time !== 'number' || !Number.isFinite(time))
    throw new Error(`log line without a time: ${JSON.stringify(line)}`);
  return time;
}
