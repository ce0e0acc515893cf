/**
 * Every failure surfaced by emdb-js is an EmdbError with a stable `code`.
 * Codes are the contract; messages may change between releases.
 */
export const ErrorCode = {
  INVALID_CONFIG: 'ERR_EMDB_INVALID_CONFIG',
  INVALID_KEY: 'ERR_EMDB_INVALID_KEY',
  INVALID_VALUE: 'ERR_EMDB_INVALID_VALUE',
  KEY_TOO_LARGE: 'ERR_EMDB_KEY_TOO_LARGE',
  VALUE_TOO_LARGE: 'ERR_EMDB_VALUE_TOO_LARGE',
  LOCKED: 'ERR_EMDB_LOCKED',
  NOT_A_DATABASE: 'ERR_EMDB_NOT_A_DATABASE',
  UNSUPPORTED_VERSION: 'ERR_EMDB_UNSUPPORTED_VERSION',
  CORRUPTION: 'ERR_EMDB_CORRUPTION',
  ENCRYPTION_KEY_MISMATCH: 'ERR_EMDB_ENCRYPTION_KEY_MISMATCH',
  TRANSACTION_ABORTED: 'ERR_EMDB_TRANSACTION_ABORTED',
  RANGE_SCANS_DISABLED: 'ERR_EMDB_RANGE_SCANS_DISABLED',
  /** A range iterator outlived rangeSnapshotLimit (age, or bytes of retired buffers it pins). */
  SNAPSHOT_TOO_OLD: 'ERR_EMDB_SNAPSHOT_TOO_OLD',
  CLOSED: 'ERR_EMDB_CLOSED',
  IO: 'ERR_EMDB_IO',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface EmdbErrorOptions {
  cause?: unknown;
  /** Byte offset in the log, for corruption reports. */
  offset?: number;
  /** Entries (keys) an interrupted insertMany (removeMany) wrote (and kept) before it failed. */
  committed?: number;
}

export class EmdbError extends Error {
  readonly code: ErrorCodeValue;
  readonly offset: number | undefined;
  /** Set on an insertMany or removeMany failure: how many of its entries (keys) were committed before it stopped. */
  committed: number | undefined;

  constructor(code: ErrorCodeValue, message: string, options: EmdbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EmdbError';
    this.code = code;
    this.offset = options.offset;
    this.committed = options.committed;
  }
}

/** Shape used to carry an EmdbError across a MessagePort (structured clone drops the class). */
export interface SerializedError {
  code: string;
  message: string;
  offset?: number;
  causeCode?: string;
  causeMessage?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof EmdbError) {
    const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
    return {
      code: err.code,
      message: err.message,
      ...(err.offset === undefined ? {} : { offset: err.offset }),
      ...(cause && typeof cause === 'object'
        ? { causeCode: String(cause.code ?? ''), causeMessage: String(cause.message ?? '') }
        : {}),
    };
  }
  const e = err as { code?: unknown; message?: unknown };
  return {
    code: ErrorCode.IO,
    message: String(e?.message ?? err),
    causeCode: typeof e?.code === 'string' ? e.code : '',
    causeMessage: String(e?.message ?? err),
  };
}

export function deserializeError(s: SerializedError): EmdbError {
  let cause: Error | undefined;
  if (s.causeCode !== undefined || s.causeMessage !== undefined) {
    cause = new Error(s.causeMessage ?? '');
    (cause as Error & { code?: string }).code = s.causeCode;
  }
  const code = (Object.values(ErrorCode) as string[]).includes(s.code)
    ? (s.code as ErrorCodeValue)
    : ErrorCode.IO;
  return new EmdbError(code, s.message, {
    ...(cause ? { cause } : {}),
    ...(s.offset === undefined ? {} : { offset: s.offset }),
  });
}

/** Wraps a system error from node:fs as ERR_EMDB_IO, keeping it as `cause`. */
export function ioError(op: string, cause: unknown): EmdbError {
  const c = cause as { code?: string; message?: string };
  return new EmdbError(ErrorCode.IO, `${op} failed: ${c?.code ?? ''} ${c?.message ?? String(cause)}`.trim(), {
    cause,
  });
}

/**
 * Structured clone (a piscina task's thrown error) keeps an Error's message
 * but not its own properties: a reader thread throws an EmdbError as a plain
 * Error carrying the serialized error in its message, and the opening thread
 * turns it back (fromThreadError) so the code and offset survive the hop.
 */
const THREAD_ERROR_PREFIX = 'EMDB_THREAD_ERROR:';

export function toThreadError(err: unknown): unknown {
  return err instanceof EmdbError ? new Error(THREAD_ERROR_PREFIX + JSON.stringify(serializeError(err))) : err;
}

export function fromThreadError(err: unknown): EmdbError | undefined {
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message !== 'string' || !message.startsWith(THREAD_ERROR_PREFIX)) return undefined;
  try {
    return deserializeError(JSON.parse(message.slice(THREAD_ERROR_PREFIX.length)) as SerializedError);
  } catch {
    return undefined;
  }
}
