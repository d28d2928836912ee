/**
 * Something the user fixes where they ran the command (a bad option, a missing optional
 * package): printed as one line and exit code 2, without a stack trace.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The control plane refused or failed an admin request: its message says why (exit code 1).
 * Here, not in admin-client.ts, so that main.ts can name it without loading an HTTP client.
 */
export class AdminRequestError extends Error {
  override name = 'AdminRequestError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
