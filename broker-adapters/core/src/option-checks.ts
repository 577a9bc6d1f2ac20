/** Checks every options object of the API shares: unknown keys, integer ranges. */
import { ValidationError } from './errors.js';

/**
 * Reject keys that are not in `allowed`: plain JavaScript callers get `{ concurency: 4 }` named
 * instead of silently ignored. `where` prefixes the key in the message (e.g. `subscribe options`).
 */
export function assertKnownKeys(value: unknown, allowed: ReadonlySet<string>, where: string): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`${where} must be an object, got ${value === null ? 'null' : typeof value}`);
  }
  for (const key in value) {
    if (!allowed.has(key)) {
      const known = [...allowed].sort().join(', ');
      throw new ValidationError(`${where}: unknown option "${key}" (known: ${known})`);
    }
  }
}

/** `value` if it is an integer ≥ `min`, `fallback` if undefined; otherwise `BK_VALIDATION` naming it. */
export function integerOption(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ValidationError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}
