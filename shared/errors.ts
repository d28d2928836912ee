/**
 * Domain errors. Each maps to one HTTP status in `shared/http/api.ts`; messages are safe to
 * show to the caller (they never contain tokens or stack traces).
 */
export class FailoverError extends Error {
  override name = 'FailoverError';
}

/** The configuration file (or environment) is invalid; raised at start-up and at synth. */
export class ConfigError extends FailoverError {
  override name = 'ConfigError';
}

/** A request body, path or query parameter is malformed or has an invalid field. */
export class ValidationError extends FailoverError {
  override name = 'ValidationError';
}

/**
 * Missing or wrong credentials. Deliberately says nothing about whether the cluster or
 * node exists, so an unauthenticated caller cannot enumerate them.
 */
export class AuthError extends FailoverError {
  override name = 'AuthError';
}

/** The caller is known not to be allowed, whatever credentials it shows (e.g. a foreign web page's Origin). */
export class ForbiddenError extends FailoverError {
  override name = 'ForbiddenError';
}

/** The request was addressed to a host name this server does not answer for (`Host`). */
export class MisdirectedRequestError extends FailoverError {
  override name = 'MisdirectedRequestError';
}

/** Unknown route or (for an authorised admin) unknown cluster. */
export class NotFoundError extends FailoverError {
  override name = 'NotFoundError';
}

export class MethodNotAllowedError extends FailoverError {
  override name = 'MethodNotAllowedError';
  constructor(
    message: string,
    readonly allow: readonly string[],
  ) {
    super(message);
  }
}

export class PayloadTooLargeError extends FailoverError {
  override name = 'PayloadTooLargeError';
}

/** A POST body that is not declared as JSON (`Content-Type: application/json`). */
export class UnsupportedMediaTypeError extends FailoverError {
  override name = 'UnsupportedMediaTypeError';
}

/** Over the route group's throttle (API Gateway answers these itself in AWS; the local server models it). */
export class ThrottledError extends FailoverError {
  override name = 'ThrottledError';
}

/** The request is well-formed but the state does not allow it (e.g. an illegal transition). */
export class ConflictError extends FailoverError {
  override name = 'ConflictError';
}

/** A target could not be applied; the message names the remote error, for status and events. */
export class TargetApplyError extends FailoverError {
  override name = 'TargetApplyError';
}
