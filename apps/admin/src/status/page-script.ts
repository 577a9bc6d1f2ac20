/**
 * The status page's browser script, served as `/assets/status.js` (plain ES2020, no build step, no
 * DOM typings in this package). It polls the admin API, draws the charts with uPlot (loaded
 * before it by the page), and runs the purge / replay / delete dialogs. Everything from the
 * broker (queue names, errors, bodies) is written with `textContent`, never as markup.
 *
 * Hooks for the Chromium tests: every chart's `<figure>` carries `data-points` (points drawn) and
 * `data-last` (the newest point as JSON); `body[data-polls]` counts finished polls.
 */
export const PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var REFRESH_MS = Number(document.body.dataset.refreshMs) || 2000;
  var $ = function (id) { return document.getElementById(id); };
  var timer;
  var charts = {};
  var lastToken = '';
  var currentQueue; // name shown in the detail view, or undefined on the overview
  var detailInfo;   // the detail view's latest QueueInfo and dead-letter count

  // ---- formatting -------------------------------------------------------------------------
  var fmtRate = function (r) { return r === null || r === undefined ? '–' : r.toFixed(1); };
  var fmt = function (n) { return n === null || n === undefined ? '–' : String(n); };
  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    return node;
  }
  function cell(row, text, field, cls) {
    var td = el('td', text);
    if (field) td.dataset.field = field;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function preview(letter) {
    if (letter.data !== undefined) {
      var text = typeof letter.data === 'string' ? letter.data : JSON.stringify(letter.data);
      return text.length > 160 ? text.slice(0, 157) + '…' : text;
    }
    var bytes = Math.floor((letter.body.length * 3) / 4) - (letter.body.endsWith('==') ? 2 : letter.body.endsWith('=') ? 1 : 0);
    return '(' + bytes + ' bytes, ' + letter.contentType + ')';
  }

  // ---- HTTP ---------------------------------------------------------------------------------
  function problemText(res, body) {
    var detail = body && body.detail ? body.detail : res.statusText;
    return res.status + ' ' + (body && body.title ? body.title : '') + ': ' + detail + (body && body.code ? ' [' + body.code + ']' : '');
  }
  async function getJson(url) {
    var res = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
    var body = await res.json().catch(function () { return undefined; });
    if (!res.ok) { var err = new Error(problemText(res, body)); err.status = res.status; throw err; }
    return body;
  }

  // ---- charts -------------------------------------------------------------------------------
  var COLORS = { published: '#0969da', consumed: '#1a7f37', failed: '#cf222e', depth: '#8250df', inFlight: '#bf8700', deadLetters: '#cf222e' };
  var RATE_SERIES = [['published', 'published /s'], ['consumed', 'consumed /s'], ['failed', 'failed /s']];
  var DEPTH_SERIES = [['depth', 'ready'], ['inFlight', 'in flight'], ['deadLetters', 'dead letters']];

  function chart(id, defs) {
    var figure = $(id);
    var box = figure.querySelector('.plot');
    var existing = charts[id];
    if (existing) return existing;
    var opts = {
      width: Math.max(280, box.clientWidth || 480),
      height: 200,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: [{}, { size: 56 }],
      series: [{}].concat(defs.map(function (d) {
        return { label: d[1], stroke: COLORS[d[0]], width: 2, spanGaps: false, points: { show: false } };
      })),
      legend: { live: true },
    };
    var u = new uPlot(opts, [[]].concat(defs.map(function () { return []; })), box);
    charts[id] = { u: u, defs: defs, figure: figure, box: box };
    return charts[id];
  }

  function draw(id, defs, points) {
    var c = chart(id, defs);
    var data = [points.map(function (p) { return p.t / 1000; })];
    defs.forEach(function (d) { data.push(points.map(function (p) { return p[d[0]]; })); });
    c.u.setData(data);
    c.figure.dataset.points = String(points.length);
    c.figure.dataset.last = JSON.stringify(points.length ? points[points.length - 1] : null);
  }

  window.addEventListener('resize', function () {
    for (var id in charts) { var c = charts[id]; c.u.setSize({ width: Math.max(280, c.box.clientWidth), height: 200 }); }
  });

  // ---- overview -----------------------------------------------------------------------------
  function renderOverview(list, history) {
    var queues = list.queues;
    var byName = new Map(queues.map(function (q) { return [q.name, q]; }));
    var shown = queues.filter(function (q) { return q.kind !== 'dlq' || !byName.has(q.name.replace(/\.dlq$/, '')); });
    shown.sort(function (a, b) { return a.name.localeCompare(b.name); });
    var body = document.createDocumentFragment();
    shown.forEach(function (q) {
      var dlq = q.kind === 'dlq' ? q : byName.get(q.name + '.dlq');
      var rates = history.consumers[q.name] || { consumed: null, failed: null };
      var tr = el('tr');
      tr.dataset.queue = q.name;
      var name = cell(tr, '', 'name');
      name.appendChild(el('a', q.name, { href: '#queue=' + encodeURIComponent(q.name) }));
      cell(tr, q.kind, 'kind', q.kind === 'dlq' ? 'dlq' : '');
      cell(tr, fmt(q.depth), 'depth');
      cell(tr, fmt(q.inFlight), 'inFlight');
      cell(tr, fmt(q.consumers), 'consumers', q.consumers === 0 && q.kind !== 'dlq' ? 'down' : '');
      cell(tr, dlq ? fmt(dlq.depth) : '0', 'deadLetters', dlq && dlq.depth > 0 ? 'dlq' : '');
      cell(tr, q.kind === 'queue' ? fmtRate(history.destinations[q.name] || 0) : '–', 'inRate');
      cell(tr, fmtRate(rates.consumed), 'consumedRate');
      cell(tr, fmtRate(rates.failed), 'failedRate');
      body.appendChild(tr);
    });
    if (!shown.length) {
      var empty = el('tr');
      cell(empty, 'no queues yet', '', 'empty').colSpan = 9;
      body.appendChild(empty);
    }
    $('queues').replaceChildren(body);

    var pub = document.createDocumentFragment();
    Object.keys(history.destinations).sort().forEach(function (d) {
      var tr = el('tr');
      tr.dataset.destination = d;
      cell(tr, d, 'destination');
      cell(tr, fmtRate(history.destinations[d]), 'rate');
      pub.appendChild(tr);
    });
    $('published').replaceChildren(pub);

    var last = history.points.length ? history.points[history.points.length - 1] : {};
    $('publishedRate').textContent = fmtRate(last.published);
    $('consumedRate').textContent = fmtRate(last.consumed);
    $('failedRate').textContent = fmtRate(last.failed);
    $('readyTotal').textContent = String(queues.filter(function (q) { return q.kind !== 'dlq'; }).reduce(function (n, q) { return n + q.depth; }, 0));
    $('deadLetters').textContent = String(queues.filter(function (q) { return q.kind === 'dlq'; }).reduce(function (n, q) { return n + q.depth; }, 0));
    draw('chart-rates', RATE_SERIES, history.points);
    draw('chart-depth', DEPTH_SERIES, history.points);
  }

  // ---- queue detail -------------------------------------------------------------------------
  function renderDetail(name, info, history, letters) {
    $('detail-name').textContent = name;
    $('detail-kind').textContent = info.kind;
    var last = history.points.length ? history.points[history.points.length - 1] : {};
    $('d-depth').textContent = fmt(info.depth);
    $('d-inFlight').textContent = fmt(info.inFlight);
    $('d-consumers').textContent = fmt(info.consumers);
    $('d-inRate').textContent = info.kind === 'queue' ? fmtRate(last.published) : '–';
    $('d-consumedRate').textContent = fmtRate(last.consumed);
    $('d-failedRate').textContent = fmtRate(last.failed);
    var count = letters ? letters.total : null;
    $('d-deadLetters').textContent = fmt(count);
    detailInfo = { info: info, deadLetters: count };
    $('replay').disabled = !letters || count === 0;
    $('purge').disabled = info.depth === 0;

    var rows = document.createDocumentFragment();
    if (!letters) {
      var none = el('tr');
      cell(none, info.kind === 'dlq' ? 'open its origin queue to see these dead letters' : 'no dead-letter queue', '', 'empty').colSpan = 5;
      rows.appendChild(none);
    } else if (!letters.items.length) {
      var empty = el('tr');
      cell(empty, 'no dead letters', '', 'empty').colSpan = 5;
      rows.appendChild(empty);
    }
    (letters ? letters.items : []).forEach(function (d) {
      var tr = el('tr');
      tr.dataset.deadLetter = d.id;
      cell(tr, d.id, 'id', 'mono');
      cell(tr, d.error, 'error', 'error');
      cell(tr, String(d.attempts), 'attempts');
      cell(tr, new Date(d.failedAt).toLocaleString(), 'failedAt');
      cell(tr, preview(d), 'body', 'mono');
      rows.appendChild(tr);
    });
    $('dead-letters').replaceChildren(rows);
    $('dead-letters-more').textContent = letters && letters.total > letters.items.length ? 'showing the oldest ' + letters.items.length + ' of ' + letters.total : '';
    draw('chart-queue-rates', RATE_SERIES, history.points);
    draw('chart-queue-depth', DEPTH_SERIES, history.points);
  }

  async function loadDetail(name) {
    var base = 'api/queues/' + encodeURIComponent(name);
    var info = await getJson(base);
    var history = await getJson(base + '/history');
    var letters;
    if (info.kind !== 'dlq') {
      try {
        var dlq = await getJson(base + '.dlq').catch(function () { return { depth: 0 }; });
        var peek = await getJson(base + '/dead-letters?limit=20');
        letters = { items: peek.deadLetters, total: Math.max(dlq.depth, peek.deadLetters.length) };
      } catch (err) {
        if (err.status !== 404) throw err;
      }
    }
    renderDetail(name, info, history, letters);
  }

  // ---- routing and polling --------------------------------------------------------------------
  function route() {
    var m = /^#queue=(.+)$/.exec(location.hash);
    currentQueue = m ? decodeURIComponent(m[1]) : undefined;
    $('overview').hidden = currentQueue !== undefined;
    $('detail').hidden = currentQueue === undefined;
    $('action-result').textContent = '';
    document.title = currentQueue ? currentQueue + ' · brokerkit status' : 'brokerkit status';
    poll();
  }

  var polling = false;
  var again = false;
  async function poll() {
    clearTimeout(timer);
    // One poll at a time: a navigation during a poll asks for another one right after it.
    if (polling) { again = true; return; }
    polling = true;
    try {
      var list = await getJson('api/queues');
      var history = await getJson('api/history');
      $('connection').textContent = history.status === 'ready' ? 'up' : history.status;
      $('connection').className = 'badge ' + (history.status === 'ready' ? 'up' : 'down');
      $('adapter').textContent = history.broker;
      if (currentQueue === undefined) renderOverview(list, history);
      else await loadDetail(currentQueue);
      $('error').textContent = history.inspectError || '';
      $('updated').textContent = new Date().toLocaleTimeString();
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
    } catch (err) {
      if (currentQueue !== undefined && err.status === 404) {
        $('error').textContent = 'queue "' + currentQueue + '" does not exist (any more)';
      } else {
        $('error').textContent = 'Cannot reach the admin API: ' + (err && err.message ? err.message : err);
      }
    } finally {
      polling = false;
      if (again) { again = false; poll(); }
      else timer = setTimeout(poll, REFRESH_MS);
    }
  }

  // ---- actions: token, confirmation, result --------------------------------------------------
  var pending;
  var ACTIONS = {
    replay: function (name) {
      var n = detailInfo ? detailInfo.deadLetters : null;
      return {
        title: 'Replay dead letters',
        text: 'Move ' + (n === null ? 'the' : 'the ' + n) + ' dead letter' + (n === 1 ? '' : 's') + ' of "' + name + '" back to "' + name + '", each once, at attempt 1?',
        button: 'Replay',
        method: 'POST',
        url: 'api/queues/' + encodeURIComponent(name) + '/dead-letters/replay',
        done: function (r) { return 'replayed ' + r.replayed + ' dead letter' + (r.replayed === 1 ? '' : 's') + ' to ' + r.queue; },
      };
    },
    purge: function (name) {
      var n = detailInfo ? detailInfo.info.depth : null;
      return {
        title: 'Purge ready messages',
        text: 'Remove the ' + fmt(n) + ' ready message' + (n === 1 ? '' : 's') + ' of "' + name + '"? Messages in flight and dead letters stay.',
        button: 'Purge',
        method: 'POST',
        url: 'api/queues/' + encodeURIComponent(name) + '/purge',
        done: function (r) { return 'purged ' + r.purged + ' message' + (r.purged === 1 ? '' : 's') + ' from ' + r.queue; },
      };
    },
    delete: function (name) {
      return {
        title: 'Delete queue',
        text: 'Delete "' + name + '" with its retry and dead-letter queues? Its messages are lost and its consumers stop receiving.',
        button: 'Delete',
        method: 'DELETE',
        url: 'api/queues/' + encodeURIComponent(name),
        done: function () { return 'deleted ' + name; },
      };
    },
  };

  function ask(kind) {
    if (currentQueue === undefined) return;
    pending = ACTIONS[kind](currentQueue);
    pending.kind = kind;
    $('confirm-title').textContent = pending.title;
    $('confirm-text').textContent = pending.text;
    $('confirm-ok').textContent = pending.button;
    $('confirm-ok').className = kind === 'replay' ? '' : 'danger';
    $('confirm-error').textContent = '';
    $('confirm-token').value = lastToken;
    $('confirm').showModal();
    $('confirm-token').focus();
  }

  async function act(event) {
    event.preventDefault();
    var action = pending;
    var token = $('confirm-token').value.trim();
    if (!action) return;
    if (!token) { $('confirm-error').textContent = 'the admin token (ADMIN_TOKEN) is required'; return; }
    $('confirm-ok').disabled = true;
    try {
      var res = await fetch(action.url, { method: action.method, headers: { authorization: 'Bearer ' + token }, cache: 'no-store' });
      var body = res.status === 204 ? null : await res.json().catch(function () { return undefined; });
      if (!res.ok) { $('confirm-error').textContent = problemText(res, body); return; }
      lastToken = token;
      pending = undefined;
      $('confirm').close();
      $('action-result').textContent = action.done(body);
      if (action.kind === 'delete') { location.hash = ''; $('error').textContent = ''; }
      else poll();
    } catch (err) {
      $('confirm-error').textContent = 'request failed: ' + (err && err.message ? err.message : err);
    } finally {
      $('confirm-ok').disabled = false;
    }
  }

  $('replay').addEventListener('click', function () { ask('replay'); });
  $('purge').addEventListener('click', function () { ask('purge'); });
  $('delete').addEventListener('click', function () { ask('delete'); });
  $('confirm-form').addEventListener('submit', act);
  $('confirm-cancel').addEventListener('click', function () { pending = undefined; $('confirm').close(); });
  window.addEventListener('hashchange', route);
  route();
})();
`;
