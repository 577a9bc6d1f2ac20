/**
 * Every error leaves the admin as `application/problem+json` (RFC 9457) carrying a stable `code`:
 * brokerkit's own (`BK_VALIDATION`, `BK_NOT_FOUND`, ...) or one of the admin's HTTP-level codes
 * below. The mapping from code to status lives here and nowhere else.
 */
import { STATUS_CODES } from 'node:http';
import { isBrokerkitError } from '@brokerkit/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Codes the admin adds to brokerkit's for HTTP-only failures. */
export type AdminErrorCode = 'BK_UNAUTHORIZED' | 'BK_FORBIDDEN' | 'BK_RATE_LIMITED' | 'BK_INTERNAL';

/** A problem details body. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
}

/** The media type of every error response. */
export const PROBLEM_TYPE = 'application/problem+json';

/** HTTP status of each brokerkit error code. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  BK_VALIDATION: 400,
  BK_DECODE: 400,
  BK_UNAUTHORIZED: 401,
  BK_FORBIDDEN: 403,
  BK_NOT_FOUND: 404,
  BK_CONFIG: 409,
  BK_PAYLOAD_TOO_LARGE: 413,
  BK_RATE_LIMITED: 429,
  BK_UNSUPPORTED: 501,
  BK_BROKER: 502,
  BK_UNAVAILABLE: 503,
  BK_CLOSED: 503,
  BK_TIMEOUT: 504,
};

/** Fastify's own request errors, translated to the code a client can act on. */
const CODE_BY_FASTIFY_CODE: Readonly<Record<string, string>> = {
  FST_ERR_VALIDATION: 'BK_VALIDATION',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BK_VALIDATION',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BK_VALIDATION',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BK_VALIDATION',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BK_VALIDATION',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BK_PAYLOAD_TOO_LARGE',
};

/** An error that carries the admin's own code (auth failures). */
export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

/** A stable URI per code (a URN: nothing to dereference, nothing that could go stale). */
function problemType(code: string): string {
  return `urn:brokerkit:error:${code}`;
}

/** Build the problem body for `code`, with the status of that code (or `status` if given). */
export function problem(code: string, detail: string, status = STATUS_BY_CODE[code] ?? 500): Problem {
  return { type: problemType(code), title: STATUS_CODES[status] ?? 'Error', status, detail, code };
}

/** Send `body` as a problem response. */
export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type(PROBLEM_TYPE).send(body);
}

function toProblem(error: FastifyError, request: FastifyRequest): Problem {
  if (isBrokerkitError(error) || error instanceof AdminError) {
    return problem(error.code, error.message);
  }
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const type = request.headers['content-type'];
    return problem(
      'BK_VALIDATION',
      `request bodies must be application/json${type ? `, got ${type}` : ' (no content-type was sent)'}`,
      415,
    );
  }
  const code = CODE_BY_FASTIFY_CODE[error.code];
  if (code) {
    // Validation messages name the offending field ("body must NOT have additional properties").
    return problem(code, error.message, error.statusCode ?? STATUS_BY_CODE[code]);
  }
  if (error.statusCode === 429) return problem('BK_RATE_LIMITED', error.message, 429);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return problem(status === 404 ? 'BK_NOT_FOUND' : 'BK_VALIDATION', error.message, status);
  }
  request.log.error({ err: error }, 'unhandled error');
  // Internal details stay in the log; the client learns only that it was not its fault.
  return problem('BK_INTERNAL', 'internal error', 500);
}

/** Install the error and not-found handlers that answer with problem details. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const body = toProblem(error, request);
    body.instance = request.url;
    if (body.status >= 500) request.log.warn({ code: body.code }, body.detail);
    if (body.code === 'BK_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="brokerkit-admin"');
    return sendProblem(reply, body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body = problem('BK_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    body.instance = request.url;
    return sendProblem(reply, body);
  });
}
