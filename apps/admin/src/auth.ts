/**
 * Bearer-token authorisation of the mutating routes. The comparison is constant-time over
 * SHA-256 digests, so neither the token's content nor its length leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AdminError } from './problems.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * An `onRequest` hook requiring `Authorization: Bearer <token>`. Without a configured token
 * every call is refused with 403 (mutations disabled); a missing or wrong token is a 401.
 */
export function requireToken(token: string | undefined): (request: FastifyRequest) => Promise<void> {
  const expected = token ? digest(token) : undefined;
  return async (request) => {
    if (!expected) {
      throw new AdminError('BK_FORBIDDEN', 'mutating routes are disabled: no ADMIN_TOKEN is configured');
    }
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new AdminError(
        'BK_UNAUTHORIZED',
        'a valid "Authorization: Bearer <ADMIN_TOKEN>" header is required',
      );
    }
  };
}
