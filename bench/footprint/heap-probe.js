// @ts-check
// Preloaded (`node --import`) into the processes the footprint benchmark measures: on SIGUSR2 it writes
// process.memoryUsage() as JSON to $SIGIL_HEAP_PROBE_FILE. Plain JavaScript and node:fs only, so that it adds next to
// nothing to the memory it reports; SIGUSR1 stays Node's (the inspector). In a process started with --expose-gc (the
// soak) it collects first, so that successive samples compare live heap, not garbage awaiting the next GC.
import { writeFileSync } from 'node:fs';

const file = process.env.SIGIL_HEAP_PROBE_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    /** @type {(() => void) | undefined} */ (globalThis.gc)?.();
    writeFileSync(file, JSON.stringify(process.memoryUsage()));
  });
}
