/** A user's mistake: printed as one line, without a stack. */
export class CliError extends Error {
  override readonly name = 'CliError';
}
