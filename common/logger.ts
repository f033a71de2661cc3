import { pino, type Logger, type DestinationStream } from 'pino';
import { ErrorCode, SigilError } from './errors.ts';

/** Stable log field names (DESIGN.md section 8): dashboards and alerts key on these. */
export const LogField = {
  component: 'component',
  spiffeId: 'spiffe_id',
  serial: 'serial',
  notAfter: 'not_after',
  peer: 'peer',
  errCode: 'err_code',
  reason: 'reason',
  /** The part of a component (a listener, a duty): `component` is set once per process logger and never repeated. */
  subsystem: 'subsystem',
} as const;

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Refuses an unknown level as a config finding naming where it came from, instead of pino's internal error. */
export function checkLogLevel(level: string, source: string): string {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `${source}=${JSON.stringify(level)} is not a log level: use one of ${LOG_LEVELS.join(', ')}`,
    );
  return level;
}

export interface LoggerOptions {
  readonly component: string;
  readonly level?: string;
  /** Where lines go; stdout when omitted. Tests pass a stream to read what was logged. */
  readonly destination?: DestinationStream;
}

/**
 * JSON-lines logger. Paths that could carry secrets are censored as a second line of defence; the first is
 * never passing key material or tokens to a logger at all.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level:
        options.level !== undefined
          ? checkLogLevel(options.level, 'log level')
          : checkLogLevel(process.env['SIGIL_LOG_LEVEL'] || 'info', 'SIGIL_LOG_LEVEL'),
      base: { [LogField.component]: options.component },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'token',
          'joinToken',
          'join_token',
          'passphrase',
          'key',
          'keyPem',
          'privateKey',
          '*.token',
          '*.keyPem',
          '*.privateKey',
          '*.passphrase',
        ],
        censor: '[redacted]',
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/** A logger that drops everything, for library users and tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
