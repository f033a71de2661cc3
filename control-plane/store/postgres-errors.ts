import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * PostgreSQL's SQLSTATE classes and the codes Sigil branches on
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
const UNIQUE_VIOLATION = '23505';
const INVALID_PASSWORD = '28P01';
const INVALID_AUTHORIZATION = '28000';
const UNKNOWN_DATABASE = '3D000';
const INSUFFICIENT_PRIVILEGE = '42501';
const SERIALIZATION_FAILURE = '40001';
const DEADLOCK_DETECTED = '40P01';
/** Class 08 (connection exception), 57P0x (server shutting down or starting), 53300 (too many connections). */
const UNAVAILABLE_STATES = /^(08|57P0|53300)/;
/** Socket-level failures of the client itself. */
const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** The parts of a pg error Sigil reads; pg errors are plain Errors with these fields. */
interface PgErrorFields {
  readonly code?: unknown;
  readonly message?: unknown;
}

export function pgCode(err: unknown): string | undefined {
  const code = (err as PgErrorFields | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A conflict the transaction can simply be run again after. */
export function isRetryableTransactionError(err: unknown): boolean {
  const code = pgCode(err);
  return code === SERIALIZATION_FAILURE || code === DEADLOCK_DETECTED;
}

/** The server is unreachable, restarting or shutting down, or the connection broke: worth retrying later. */
export function isConnectionError(err: unknown): boolean {
  const code = pgCode(err);
  if (code !== undefined && (UNAVAILABLE_STATES.test(code) || NETWORK_ERRNOS.has(code))) return true;
  const message = String((err as PgErrorFields | null)?.message ?? '');
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    message,
  );
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured PostgreSQL URL';
  }
}

export interface PgErrorContext {
  /** Where, without a password: `postgres://sigil@db:5432/sigil`. */
  readonly where: string;
  readonly user: string;
  readonly schema: string;
}

/** Maps driver errors to stable codes with what to do next; callers never see pg's own, nor a password. */
export function translatePgError(err: unknown, context: PgErrorContext, action: string): unknown {
  if (err instanceof SigilError) return err;
  const code = pgCode(err);
  const reason = String((err as PgErrorFields | null)?.message ?? err);
  switch (code) {
    case UNIQUE_VIOLATION:
      return new SigilError(ErrorCode.INVALID_ARGUMENT, `${action}: the record conflicts with one already stored`, {
        cause: err,
      });
    case INVALID_PASSWORD:
    case INVALID_AUTHORIZATION:
      return new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${action}: PostgreSQL at ${context.where} refused user ${context.user} (${reason}): check the user and password in store.postgres.url or urlFile`,
        { cause: err, details: { code } },
      );
    case UNKNOWN_DATABASE:
      return new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${action}: ${reason} at ${context.where}: create it (createdb) or fix the database name in store.postgres.url`,
        { cause: err, details: { code } },
      );
    case INSUFFICIENT_PRIVILEGE:
      return new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${action}: PostgreSQL user ${context.user} lacks a right in schema ${context.schema} (${reason}): grant it (GRANT CREATE, USAGE ON SCHEMA ${context.schema} TO ${context.user} to apply migrations; SELECT, INSERT, UPDATE, DELETE on its tables to run), or apply the migrations once as the schema's owner`,
        { cause: err, details: { code } },
      );
  }
  if (isConnectionError(err)) {
    return new SigilError(
      ErrorCode.UNAVAILABLE,
      `${action}: PostgreSQL at ${context.where} is unavailable (${reason}); retry, and check that the server is up and reachable`,
      { cause: err, details: { ...(code ? { code } : {}) } },
    );
  }
  // Anything without a SQLSTATE was not PostgreSQL's (a caller's own error thrown inside a transaction).
  if (code === undefined) return err;
  return new SigilError(ErrorCode.INTERNAL, `${action}: PostgreSQL failed (${reason})`, {
    cause: err,
    details: { code },
  });
}
