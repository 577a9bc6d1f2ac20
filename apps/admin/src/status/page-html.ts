/**
 * The status page's HTML: the overview (cards, charts, queue table) and the queue detail view
 * (`#queue=<name>`: numbers, charts, dead letters, purge / replay / delete), one confirmation
 * dialog. Scripts and styles are files of the admin itself (`assets/…`), so the page works
 * offline and under a CSP without `unsafe-inline`.
 */

/** URLs of the page's assets, with a content hash so they can be cached for good. */
export interface PageAssets {
  readonly uplotJs: string;
  readonly uplotCss: string;
  readonly script: string;
  readonly style: string;
}

const card = (id: string, label: string) =>
  `<div class="card"><span>${label}</span><b id="${id}">–</b></div>`;

const figure = (id: string, caption: string) =>
  `<figure class="chart" id="${id}" data-points="0"><figcaption>${caption}</figcaption><div class="plot"></div></figure>`;

/** The page for a poll interval of `refreshMs` and charts reaching back `historyMs`. */
export function renderPage(refreshMs: number, historyMs: number, assets: PageAssets): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>brokerkit status</title>
<link rel="stylesheet" href="${assets.uplotCss}">
<link rel="stylesheet" href="${assets.style}">
</head>
<body data-refresh-ms="${refreshMs}">
<header>
  <h1><a href="#">brokerkit status</a></h1>
  <span id="connection" class="badge">–</span>
  <span id="adapter" class="muted"></span>
  <span class="muted">updated <span id="updated">never</span></span>
</header>
<p id="error" role="alert"></p>

<main id="overview">
  <div class="cards">
    ${card('publishedRate', 'published /s')}
    ${card('consumedRate', 'consumed /s')}
    ${card('failedRate', 'failed /s')}
    ${card('readyTotal', 'ready')}
    ${card('deadLetters', 'dead letters')}
  </div>
  <section class="charts">
    ${figure('chart-rates', 'Messages per second')}
    ${figure('chart-depth', 'Queue depth (all queues)')}
  </section>
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
</main>

<main id="detail" hidden>
  <p><a href="#">← all queues</a></p>
  <h2><span id="detail-name"></span> <span id="detail-kind" class="muted"></span></h2>
  <div class="cards">
    ${card('d-depth', 'ready')}
    ${card('d-inFlight', 'in flight')}
    ${card('d-consumers', 'consumers')}
    ${card('d-inRate', 'in /s')}
    ${card('d-consumedRate', 'consumed /s')}
    ${card('d-failedRate', 'failed /s')}
    ${card('d-deadLetters', 'dead letters')}
  </div>
  <section class="charts">
    ${figure('chart-queue-rates', 'Messages per second')}
    ${figure('chart-queue-depth', 'Depth')}
  </section>
  <div class="actions">
    <button id="replay" type="button">Replay dead letters…</button>
    <button id="purge" type="button" class="danger">Purge ready messages…</button>
    <button id="delete" type="button" class="danger">Delete queue…</button>
  </div>
  <p id="action-result" role="status"></p>
  <h3>Dead letters</h3>
  <table id="dead-letters-table">
    <thead><tr><th>id</th><th>error</th><th>attempts</th><th>failed at</th><th>body</th></tr></thead>
    <tbody id="dead-letters"></tbody>
  </table>
  <p id="dead-letters-more" class="muted"></p>
</main>

<dialog id="confirm" aria-labelledby="confirm-title">
  <form id="confirm-form">
    <h3 id="confirm-title"></h3>
    <p id="confirm-text"></p>
    <label>Admin token (<code>ADMIN_TOKEN</code>)
      <input id="confirm-token" type="password" autocomplete="off" spellcheck="false">
    </label>
    <p id="confirm-error" role="alert"></p>
    <menu>
      <button id="confirm-cancel" type="button">Cancel</button>
      <button id="confirm-ok" type="submit">OK</button>
    </menu>
  </form>
</dialog>

<footer>Refreshes every ${refreshMs / 1000} s; the charts cover the last ${Math.round(historyMs / 60_000)} minutes.
JSON at <a href="api/queues">api/queues</a> and <a href="api/history">api/history</a>, Prometheus metrics at <a href="metrics">metrics</a>, API docs at <a href="docs">docs</a>.</footer>
<script src="${assets.uplotJs}"></script>
<script src="${assets.script}"></script>
</body>
</html>
`;
}
