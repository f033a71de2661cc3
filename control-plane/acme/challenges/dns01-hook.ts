import { runHook } from '../hook-command.ts';
import type { Clock } from '../../../common/clock.ts';
import { ErrorCode, SigilError } from '../../../common/errors.ts';
import type { ChallengeSolver, ChallengeTask } from './challenge-solver.ts';

export interface Dns01HookOptions {
  /** The operator's command and its fixed arguments; Sigil appends `present|cleanup <fqdn> <value>`. */
  readonly command: readonly string[];
  /** How long to wait after `present` for the record to reach the authoritative servers. */
  readonly propagationMs: number;
  readonly timeoutMs: number;
}

/** `_acme-challenge.<name>.` for a name (a wildcard's record sits at its base name, RFC 8555 8.4). */
export function dnsChallengeName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '')}.`;
}

/**
 * dns-01 through an operator hook: `COMMAND... present <fqdn> <value>` creates the TXT record, `cleanup` removes it.
 * The same values are in SIGIL_ACME_ACTION, SIGIL_ACME_DNS_NAME and SIGIL_ACME_DNS_VALUE. The value is the public
 * TXT content, never a secret; the hook's own credentials stay in its environment or files.
 */
export function dns01HookSolver(options: Dns01HookOptions, deps: { clock: Clock }): ChallengeSolver {
  const run = async (action: 'present' | 'cleanup', task: ChallengeTask) => {
    const name = dnsChallengeName(task.identifier);
    try {
      await runHook(options.command, [action, name, task.keyAuthorization], {
        timeoutMs: options.timeoutMs,
        env: { SIGIL_ACME_ACTION: action, SIGIL_ACME_DNS_NAME: name, SIGIL_ACME_DNS_VALUE: task.keyAuthorization },
      });
    } catch (err) {
      throw new SigilError(
        ErrorCode.ACME_CHALLENGE_SETUP,
        `the dns-01 hook failed to ${action} the TXT record ${name} for ${task.identifier}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };
  return {
    type: 'dns-01',
    async present(task) {
      await run('present', task);
      if (options.propagationMs > 0) {
        await new Promise<void>((resolve) => deps.clock.setTimer(options.propagationMs, resolve));
      }
    },
    async cleanup(task) {
      await run('cleanup', task);
    },
  };
}
