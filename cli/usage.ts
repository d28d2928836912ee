/** A bad command line: printed as one line and exit code 2, without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}
