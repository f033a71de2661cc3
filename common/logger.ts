import { pino, type Logger, type DestinationStream } from 'pino';

/** Stable log field names (DESIGN.md section 8): dashboards and alerts key on these. */
export const LogField = {
  component: 'component',
  spiffeId: 'spiffe_id',
  serial: 'serial',
  notAfter: 'not_after',
  peer: 'peer',
  errCode: 'err_code',
  reason: 'reason',
} as const;

export type { Logger };

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
      level: options.level ?? process.env['SIGIL_LOG_LEVEL'] ?? 'info',
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
