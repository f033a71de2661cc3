import { existsSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/** The preload that lets a measured Node process report its heap (heap-probe.js). */
export const HEAP_PROBE = fileURLToPath(new URL('./heap-probe.js', import.meta.url));

export interface MemorySample {
  /** Resident set size of all the processes, bytes (VmRSS from /proc). */
  readonly rssBytes: number;
  /** V8 heap in use, bytes, where the process reports it (Node processes with the heap probe). */
  readonly heapUsedBytes?: number;
}

/** VmRSS of one process from /proc, in bytes. */
export function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new SigilError(ErrorCode.UNAVAILABLE, `no VmRSS for process ${pid} in /proc`);
  return Number(match[1]) * 1024;
}

/** Sum of the RSS of several processes (nginx's master and worker), bytes. */
export function rssOfAll(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + rssOf(pid), 0);
}

/** Asks a process started with the heap probe for its memory usage (SIGUSR2, then reads the file it writes). */
export async function heapOf(pid: number, probeFile: string): Promise<NodeJS.MemoryUsage> {
  rmSync(probeFile, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let waited = 0; waited < 5_000; waited += 20) {
    if (existsSync(probeFile)) {
      try {
        return JSON.parse(readFileSync(probeFile, 'utf8')) as NodeJS.MemoryUsage;
      } catch {
        // written but not complete yet
      }
    }
    await sleep(20);
  }
  throw new SigilError(ErrorCode.UNAVAILABLE, `process ${pid} did not report its heap within 5 s`);
}

/** RSS and heap of a Node process started with the heap probe. */
export async function sampleNode(pid: number, probeFile: string): Promise<MemorySample> {
  const usage = await heapOf(pid, probeFile);
  return { rssBytes: rssOf(pid), heapUsedBytes: usage.heapUsed };
}
