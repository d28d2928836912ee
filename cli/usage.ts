/**
 * Something the user fixes where they ran the command (a bad option, a missing optional
 * package): printed as one line and exit code 2, without a stack trace.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
