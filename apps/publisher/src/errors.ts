/**
 * The one error the publisher CLI raises itself: bad flags or a bad input file. It maps to exit
 * code 2 and carries a message meant for a person at a terminal.
 */

/** Bad command line or malformed input; nothing was sent. Exit code 2. */
export class UsageError extends Error {
  /** Exit code the CLI uses for it. */
  readonly exitCode = 2;

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
