/**
 * The one error the publisher CLI raises itself: bad flags or a bad input file. It maps to exit
 * code 2 and carries a message meant for a person at a terminal.
 */

/** Bad command line or malformed input; nothing was sent. `main` maps it to exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
