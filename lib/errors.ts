/** Every error the library throws on purpose carries a stable `code` (the native engine's codes included). */
export type ErrorCode =
  | 'E_INVALID_ARGUMENT'
  | 'E_SHAPE_MISMATCH'
  | 'E_NON_FINITE'
  | 'E_DTYPE'
  | 'E_OUT_OF_MEMORY'
  | 'E_UNSUPPORTED'
  | 'E_CUDA'
  | 'E_INTERNAL'
  | 'E_ABORTED'
  | 'E_FILE'
  | 'E_FORMAT'
  | 'E_NATIVE_LOAD'
  | 'E_ONNX';

export class MimicError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MimicError';
    this.code = code;
  }
}

/** Re-throws a native error (a plain Error with a `code` property) as a MimicError, keeping the message. */
export function fromNative(err: unknown): MimicError {
  if (err instanceof MimicError) return err;
  const e = err as { code?: string; message?: string };
  const code = (typeof e?.code === 'string' && e.code.startsWith('E_') ? e.code : 'E_INTERNAL') as ErrorCode;
  return new MimicError(code, e?.message ?? String(err), { cause: err });
}

export function invalid(message: string): MimicError {
  return new MimicError('E_INVALID_ARGUMENT', message);
}

/**
 * Throws E_ABORTED when `signal` has fired (AbortSignal.throwIfAborted would throw its reason, a DOMException
 * whose numeric `code` is not one of ours). `what` names the call in the message.
 */
export function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    const why = signal.reason instanceof Error ? signal.reason.message : signal.reason === undefined ? '' : String(signal.reason);
    throw new MimicError('E_ABORTED', `${what}: aborted${why && why !== 'This operation was aborted' ? ` (${why})` : ''}`, { cause: signal.reason });
  }
}
