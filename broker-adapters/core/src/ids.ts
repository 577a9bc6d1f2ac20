import { v7 } from 'uuid';

/** A new message id: UUID v7, so ids sort by creation time. */
export function newMessageId(): string {
  return v7();
}
