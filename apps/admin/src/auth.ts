/**
 * Bearer-token authorisation of the mutating routes. The comparison is constant-time over
 * SHA-256 digests, so neither the token's content nor its length leaks through timing. Failures
 * are limited per client on their own ({@link AuthFailures}), so they never use up the rate limit
 * of valid calls.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthFailures } from './auth-failures.js';
import { AdminError } from './problems.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * An `onRequest` hook requiring `Authorization: Bearer <token>`. Without a configured token
 * every call is refused with 403 (mutations disabled); a missing or wrong token is a 401, and
 * once the client has used up `failures` in the window, a 429 with `Retry-After` instead. The
 * right token always passes.
 */
export function requireToken(
  token: string | undefined,
  failures: AuthFailures,
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const expected = token ? digest(token) : undefined;
  return async (request, reply) => {
    if (!expected) {
      throw new AdminError('BK_FORBIDDEN', 'mutating routes are disabled: no ADMIN_TOKEN is configured');
    }
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (match && timingSafeEqual(digest(match[1]!), expected)) return;
    const client = request.ip;
    const waitMs = failures.blockedFor(client);
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      reply.header('retry-after', String(seconds));
      throw new AdminError(
        'BK_RATE_LIMITED',
        `too many failed authorisations from this client: retry in ${seconds} s (a valid token is not limited by them)`,
      );
    }
    if (failures.record(client)) {
      request.log.warn(
        { client, failures: failures.max, windowMs: failures.windowMs },
        'client used up its failed authorisations; further failures answer 429',
      );
    }
    throw new AdminError(
      'BK_UNAUTHORIZED',
      'a valid "Authorization: Bearer <ADMIN_TOKEN>" header is required',
    );
  };
}
