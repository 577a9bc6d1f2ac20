/**
 * The status page at `/`: one self-contained HTML page (inline CSS and JS, no build step) for
 * people running the demo without Grafana. It polls `api/queues` and `metrics` and shows every
 * queue with depth, in-flight, consumers, dead letters and rates computed from the counters.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '@brokerkit/core';
import type { FastifyPluginAsync } from 'fastify';
// For the `hide` schema flag: the page is not part of the OpenAPI document.
import type {} from '@fastify/swagger';

/** Options of {@link statusPage}. */
export interface StatusPageOptions {
  /** How often the page polls the admin API, in ms. Default 2000. */
  refreshMs?: number;
}

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; }
.card { border: 1px solid #8884; border-radius: 6px; padding: .5rem .9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
.card span { color: var(--muted); font-size: .85rem; }
table { border-collapse: collapse; min-width: 40rem; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #8883; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
th { font-weight: 600; color: var(--muted); }
.up { color: var(--ok); } .down, .dlq { color: var(--bad); } .empty { color: var(--muted); }
#error { color: var(--bad); min-height: 1.2em; }
footer { margin-top: 1.5rem; color: var(--muted); font-size: .85rem; }
`;

// Plain browser JS (no DOM typings here): built with textContent only, so queue names from the
// broker never reach the page as markup.
const SCRIPT = `
'use strict';
const REFRESH_MS = Number(document.body.dataset.refreshMs) || 2000;
const $ = (id) => document.getElementById(id);
let previous;

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\\n')) {
    if (!line.startsWith('brokerkit_')) continue;
    const m = /^(\\w+)(?:\\{(.*)\\})?\\s+(\\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/(\\w+)="((?:[^"\\\\]|\\\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\\\(.)/g, (_, c) => (c === 'n' ? '\\n' : c));
    samples.push({ name: m[1], labels, key: m[1] + '{' + (m[2] || '') + '}', value: Number(m[3]) });
  }
  return samples;
}

// Per-second rate of every counter sample since the previous poll (null on the first poll or after a reset).
function withRates(samples, at) {
  const values = new Map(samples.map((s) => [s.key, s.value]));
  const rated = samples.map((s) => {
    const before = previous && previous.values.get(s.key);
    const secs = previous ? (at - previous.at) / 1000 : 0;
    const rate = before === undefined || secs <= 0 || s.value < before ? null : (s.value - before) / secs;
    return { ...s, rate };
  });
  previous = { at, values };
  return rated;
}

function sumRate(samples, name, match) {
  let sum = null;
  for (const s of samples) if (s.name === name && s.rate !== null && match(s.labels)) sum = (sum || 0) + s.rate;
  return sum;
}

// Groups count under their group name; work queues under the queue (the destination, group empty).
const consumedFrom = (q) => (l) => l.group === q.name || (!l.group && l.destination === q.name);

const fmtRate = (r) => (r === null ? '–' : r.toFixed(1));
const fmt = (n) => (n === null || n === undefined ? '–' : String(n));

function cell(row, text, field, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (field) td.dataset.field = field;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function render(queues, samples) {
  const byName = new Map(queues.map((q) => [q.name, q]));
  const shown = queues.filter((q) => q.kind !== 'dlq' || !byName.has(q.name.replace(/\\.dlq$/, '')));
  shown.sort((a, b) => a.name.localeCompare(b.name));
  const body = document.createDocumentFragment();
  for (const q of shown) {
    const dlq = q.kind === 'dlq' ? q : byName.get(q.name + '.dlq');
    const consumed = consumedFrom(q);
    const tr = document.createElement('tr');
    tr.dataset.queue = q.name;
    cell(tr, q.name, 'name');
    cell(tr, q.kind, 'kind', q.kind === 'dlq' ? 'dlq' : '');
    cell(tr, fmt(q.depth), 'depth');
    cell(tr, fmt(q.inFlight), 'inFlight');
    cell(tr, fmt(q.consumers), 'consumers', q.consumers === 0 && q.kind !== 'dlq' ? 'down' : '');
    cell(tr, dlq ? fmt(dlq.depth) : '0', 'deadLetters', dlq && dlq.depth > 0 ? 'dlq' : '');
    cell(tr, q.kind === 'queue' ? fmtRate(sumRate(samples, 'brokerkit_messages_published_total', (l) => l.destination === q.name)) : '–', 'inRate');
    cell(tr, fmtRate(sumRate(samples, 'brokerkit_messages_consumed_total', consumed)), 'consumedRate');
    cell(tr, fmtRate(sumRate(samples, 'brokerkit_messages_consumed_total', (l) => consumed(l) && l.outcome !== 'ack')), 'failedRate');
    body.appendChild(tr);
  }
  if (!shown.length) {
    const tr = document.createElement('tr');
    cell(tr, 'no queues yet', '', 'empty');
    body.appendChild(tr);
  }
  $('queues').replaceChildren(body);

  const destinations = new Map();
  for (const s of samples) {
    if (s.name !== 'brokerkit_messages_published_total') continue;
    const d = s.labels.destination || '';
    const sum = destinations.get(d) ?? null;
    destinations.set(d, s.rate === null ? sum : (sum ?? 0) + s.rate);
  }
  const pub = document.createDocumentFragment();
  for (const [d, r] of [...destinations].sort((a, b) => a[0].localeCompare(b[0]))) {
    const tr = document.createElement('tr');
    tr.dataset.destination = d;
    cell(tr, d, 'destination');
    cell(tr, fmtRate(r), 'rate');
    pub.appendChild(tr);
  }
  $('published').replaceChildren(pub);

  const up = samples.filter((s) => s.name === 'brokerkit_connection_up');
  const connected = up.length === 0 ? null : up.every((s) => s.value === 1);
  $('connection').textContent = connected === null ? '–' : connected ? 'up' : 'down';
  $('connection').className = connected === null ? '' : connected ? 'up' : 'down';
  $('publishedRate').textContent = fmtRate(sumRate(samples, 'brokerkit_messages_published_total', () => true));
  $('consumedRate').textContent = fmtRate(sumRate(samples, 'brokerkit_messages_consumed_total', () => true));
  $('deadLetters').textContent = String(queues.filter((q) => q.kind === 'dlq').reduce((n, q) => n + q.depth, 0));
}

async function getJson(url) {
  const res = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new Error(url + ': HTTP ' + res.status);
  return res.json();
}

async function getText(url) {
  const res = await fetch(url, { cache: 'no-store' });
  return res.ok ? res.text() : '';
}

async function poll() {
  try {
    const [body, metrics] = await Promise.all([getJson('api/queues'), getText('metrics').catch(() => '')]);
    render(body.queues, withRates(parseMetrics(metrics), Date.now()));
    $('error').textContent = '';
    $('updated').textContent = new Date().toLocaleTimeString();
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (err) {
    $('error').textContent = 'Cannot reach the admin API: ' + (err && err.message ? err.message : err);
  } finally {
    setTimeout(poll, REFRESH_MS);
  }
}
poll();
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

// The page carries its script and style inline, so the admin's default CSP (helmet's
// `script-src 'self'`) would block them; this route allows exactly these two by hash.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function renderPage(refreshMs: number): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>brokerkit status</title>
<style>${STYLE}</style>
</head>
<body data-refresh-ms="${refreshMs}">
<h1>brokerkit status</h1>
<div class="cards">
  <div class="card"><span>connection</span><b id="connection">–</b></div>
  <div class="card"><span>published /s</span><b id="publishedRate">–</b></div>
  <div class="card"><span>consumed /s</span><b id="consumedRate">–</b></div>
  <div class="card"><span>dead letters</span><b id="deadLetters">–</b></div>
</div>
<p id="error" role="alert"></p>
<h2>Queues</h2>
<table>
  <thead><tr><th>queue</th><th>kind</th><th>ready</th><th>in flight</th><th>consumers</th><th>dead letters</th><th>in /s</th><th>consumed /s</th><th>failed /s</th></tr></thead>
  <tbody id="queues"></tbody>
</table>
<h2>Published per destination</h2>
<table>
  <thead><tr><th>destination</th><th>/s</th></tr></thead>
  <tbody id="published"></tbody>
</table>
<footer>Refreshes every ${refreshMs / 1000} s (last <span id="updated">never</span>).
JSON at <a href="api/queues">api/queues</a>, Prometheus metrics at <a href="metrics">metrics</a>, API docs at <a href="docs">docs</a>.</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/**
 * Fastify plugin serving the status page at `GET /`. Register it on the admin app next to the
 * API routes it reads (`/api/queues`, `/metrics`).
 */
export const statusPage: FastifyPluginAsync<StatusPageOptions> = async (app, options) => {
  const refreshMs = options.refreshMs ?? 2000;
  if (!Number.isInteger(refreshMs) || refreshMs < 100) {
    throw new ValidationError(
      `statusPage refreshMs must be an integer >= 100, got ${String(options.refreshMs)}`,
    );
  }
  const page = renderPage(refreshMs);
  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('cache-control', 'no-store')
      .send(page);
  });
};
