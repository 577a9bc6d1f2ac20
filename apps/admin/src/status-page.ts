/**
 * The status page at `/` for operators without Grafana (or before it is set up): live charts of
 * published / consumed / failed rates and queue depth over the last minutes (uPlot, served by
 * the admin itself: no CDN), the queue table, and a detail view per queue with its dead letters
 * and purge / replay / delete buttons that ask for the admin token and confirm first. The page
 * reads the same API as everyone else (`api/queues`, `api/history`) and changes the broker only
 * through the token-protected routes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ValidationError } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import type { Registry } from '@brokerkit/metrics';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
// For the `hide` schema flag: the page and its assets are not part of the OpenAPI document.
import type {} from '@fastify/swagger';
import { HistorySchema, QueueHistorySchema, QueueParams, problems } from './schemas.js';
import { StatusHistory } from './status/history.js';
import { renderPage, type PageAssets } from './status/page-html.js';
import { PAGE_SCRIPT } from './status/page-script.js';
import { PAGE_STYLE } from './status/page-style.js';

/** Options of {@link statusPage}. */
export interface StatusPageOptions {
  /** The broker whose queues the page shows (read through its inspector). */
  broker: Broker;
  /** The registry of the broker's `metrics()` middleware: the rates come from its counters. */
  registry: Registry;
  /** How often the page polls and the history samples, ms. Default 2000. */
  refreshMs?: number;
  /** How far back the charts reach, ms. Default 10 minutes. */
  historyMs?: number;
}

interface Asset {
  readonly url: string;
  readonly type: string;
  readonly body: string | Buffer;
}

function asset(name: string, type: string, body: string | Buffer): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { url: `assets/${name}?v=${hash}`, type, body };
}

/** uPlot's browser build, from the installed package (a dependency of the admin). */
function uplotFile(file: string): Buffer {
  const dir = path.dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
  return readFileSync(path.join(dir, 'dist', file));
}

// Scripts and styles are files of the admin, so the page needs no inline code and no CDN.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Fastify plugin serving the page at `GET /`, its assets under `/assets/`, and the chart data:
 * `GET /api/history` (the whole broker) and `GET /api/queues/:name/history` (one queue).
 */
export const statusPage: FastifyPluginAsyncTypebox<StatusPageOptions> = async (app, options) => {
  const refreshMs = options.refreshMs ?? 2000;
  const historyMs = options.historyMs ?? 10 * 60_000;
  if (!Number.isInteger(refreshMs) || refreshMs < 100) {
    throw new ValidationError(
      `statusPage refreshMs must be an integer >= 100, got ${String(options.refreshMs)}`,
    );
  }
  if (!Number.isInteger(historyMs) || historyMs < refreshMs) {
    throw new ValidationError(
      `statusPage historyMs must be an integer >= refreshMs (${refreshMs}), got ${String(options.historyMs)}`,
    );
  }
  const { broker, registry } = options;
  const history = new StatusHistory({ broker, registry, sampleMs: refreshMs, keepMs: historyMs });
  app.addHook('onReady', async () => history.start());
  app.addHook('onClose', async () => history.stop());

  const assets = {
    uplotJs: asset('uPlot.iife.min.js', 'text/javascript; charset=utf-8', uplotFile('uPlot.iife.min.js')),
    uplotCss: asset('uPlot.min.css', 'text/css; charset=utf-8', uplotFile('uPlot.min.css')),
    script: asset('status.js', 'text/javascript; charset=utf-8', PAGE_SCRIPT),
    style: asset('status.css', 'text/css; charset=utf-8', PAGE_STYLE),
  };
  const urls: PageAssets = {
    uplotJs: assets.uplotJs.url,
    uplotCss: assets.uplotCss.url,
    script: assets.script.url,
    style: assets.style.url,
  };
  const page = renderPage(refreshMs, historyMs, urls);

  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('cache-control', 'no-store')
      .send(page);
  });
  for (const a of Object.values(assets)) {
    app.get(`/${a.url.split('?')[0]}`, { schema: { hide: true } }, async (_request, reply) => {
      // The URL carries the content hash: a new build is a new URL, so this one can be kept.
      return reply.type(a.type).header('cache-control', 'public, max-age=31536000, immutable').send(a.body);
    });
  }

  app.get(
    '/api/history',
    {
      schema: {
        summary: "The broker's published / consumed / failed rates and queue depth over the last minutes",
        tags: ['status'],
        response: { 200: HistorySchema },
      },
    },
    async () => {
      await history.watch();
      const { destinations, consumers } = history.latestRates();
      return {
        broker: broker.adapter,
        status: broker.status,
        sampleMs: history.sampleMs,
        ...(history.inspectError ? { inspectError: history.inspectError } : {}),
        points: history.overall(),
        destinations,
        consumers,
      };
    },
  );

  app.get(
    '/api/queues/:name/history',
    {
      schema: {
        summary: "One queue's or group's rates, depth and dead letters over the last minutes",
        tags: ['status'],
        params: QueueParams,
        response: { 200: QueueHistorySchema, ...problems(400) },
      },
    },
    async (request) => {
      await history.watch();
      return {
        queue: request.params.name,
        sampleMs: history.sampleMs,
        ...(history.inspectError ? { inspectError: history.inspectError } : {}),
        points: history.queue(request.params.name),
      };
    },
  );
};
