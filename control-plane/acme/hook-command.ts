import { execFile } from 'node:child_process';

export interface HookOptions {
  readonly timeoutMs: number;
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs an operator's hook without a shell (argv as given, then `args`), with a time limit. Resolves on exit 0;
 * otherwise rejects with the exit status and the last line the hook wrote to stderr (kept short: a hook's output is
 * the operator's, and may say more than an error message should).
 */
export function runHook(command: readonly string[], args: readonly string[], options: HookOptions): Promise<void> {
  const [file, ...fixed] = command;
  if (file === undefined) return Promise.reject(new Error('no hook command configured'));
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...fixed, ...args],
      { timeout: options.timeoutMs, env: { ...process.env, ...options.env }, maxBuffer: 1 << 20 },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        const last = String(stderr).trim().split('\n').pop()?.slice(0, 200) ?? '';
        const why =
          e.code === 'ENOENT'
            ? `${file} does not exist`
            : e.code === 'EACCES'
              ? `${file} is not executable`
              : e.killed
                ? `timed out after ${options.timeoutMs} ms`
                : `exited with ${typeof e.code === 'number' ? `status ${e.code}` : String(e.code ?? e.message)}`;
        reject(new Error(`${why}${last ? ` (${last})` : ''}`));
      },
    );
  });
}
