/// <reference lib="dom" />
// The status page in headless Chromium (playwright-core, /usr/bin/chromium): the queue table
// follows the broker, the charts draw real data, the detail view lists dead letters, a replay
// from the page moves them back, and a wrong token shows the error and changes nothing.
// Screenshots go to apps/admin/test-output/screenshots/ (gitignored) for review.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { PermanentError } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { TOKEN, adminFor } from './app-helpers.js';
import { targets } from './targets.js';
import type { TapTest } from './targets.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where the screenshots of a test run are written. */
export const SCREENSHOTS = fileURLToPath(new URL('../test-output/screenshots/', import.meta.url));

/** False (skipped outside CI, failed in CI) when Chromium is missing. */
function requireChromium(t: TapTest): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') t.fail(`${CHROMIUM} not found (CI=true: .ci/run installs chromium)`);
  else t.plan(0, `skip: ${CHROMIUM} not found`);
  return false;
}

/**
 * Serve `app` on a free port and open a Chromium page on it (closed on teardown). `problems`
 * collects script errors and console errors (CSP violations among them).
 */
async function browse(
  t: TapTest,
  app: FastifyInstance,
): Promise<{ base: string; page: Page; problems: string[] }> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  return { base: `http://127.0.0.1:${port}`, page, problems };
}

async function screenshot(t: TapTest, page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  t.comment(`screenshot: ${file}`);
}

/** The newest point a chart drew, and how many it has (the page's `data-*` hooks). */
function chartState(page: Page, id: string) {
  return page.evaluate((chartId) => {
    const figure = document.getElementById(chartId)!;
    return {
      points: Number(figure.dataset.points),
      last: JSON.parse(figure.dataset.last ?? 'null') as Record<string, number | null> | null,
    };
  }, id);
}

/** Pixels of a chart's canvas that are not transparent: a drawn chart has lines on it. */
function inkedPixels(page: Page, id: string): Promise<number> {
  return page.evaluate((chartId) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`#${chartId} canvas`);
    if (!canvas) return 0;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let inked = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) inked++;
    return inked;
  }, id);
}

/** Steady traffic: events to a group and jobs to a work queue, some failing. Stopped on teardown. */
async function traffic(t: TapTest, broker: Broker): Promise<{ queue: string; group: string }> {
  const queue = uniqueName('jobs');
  const group = uniqueName('billing');
  const topic = `${uniqueName('orders')}.created`;
  let n = 0;
  await broker.subscribe(topic.split('.')[0] + '.>', () => {}, { group });
  await broker.consume<{ n: number }>(
    queue,
    (m) => {
      if (m.data.n % 5 === 0) throw new PermanentError(`job ${m.data.n} is poison`);
    },
    { concurrency: 4 },
  );
  const timer = setInterval(() => {
    n++;
    void broker.publish(topic, { n }).catch(() => {});
    void broker.send(queue, { n }).catch(() => {});
  }, 20);
  t.teardown(() => clearInterval(timer));
  return { queue, group };
}

t.test('status page lists queues and refreshes their numbers', async (t) => {
  if (!requireChromium(t)) return;
  const broker = (await targets(t)[0]!.open(t))!;
  const { app } = await adminFor(t, broker, { statusRefreshMs: 200 });
  const queue = uniqueName('page');
  await Promise.all([1, 2, 3].map((i) => broker.send(queue, i)));
  const { base, page, problems } = await browse(t, app);
  const response = await page.goto(`${base}/`);
  t.equal(response?.status(), 200);
  t.equal(await page.title(), 'brokerkit status');

  const depth = page.locator(`tr[data-queue="${queue}"] td[data-field="depth"]`);
  await depth.filter({ hasText: /^3$/ }).waitFor({ timeout: 15_000 });
  t.equal(await depth.textContent(), '3', 'the queue is listed with its depth');
  t.equal(await page.locator(`tr[data-queue="${queue}"] td[data-field="kind"]`).textContent(), 'queue');
  t.equal(await page.locator(`tr[data-queue="${queue}"] td[data-field="deadLetters"]`).textContent(), '0');
  t.equal(await page.locator('#connection').textContent(), 'up');

  await Promise.all([4, 5].map((i) => broker.send(queue, i)));
  await depth.filter({ hasText: /^5$/ }).waitFor({ timeout: 15_000 });
  t.pass('the depth follows new messages without a reload');

  const other = uniqueName('late');
  await broker.send(other, 1);
  await page.locator(`tr[data-queue="${other}"]`).waitFor({ timeout: 15_000 });
  t.pass('a queue created later appears');
  await page
    .locator(`tr[data-destination="${queue}"] td[data-field="rate"]`)
    .filter({ hasText: /^\d+\.\d$/ })
    .waitFor({ timeout: 15_000 });
  t.pass('published per destination shows a rate');
  t.same(problems, [], 'no script errors or CSP violations');
});

t.test('charts render live rates and depth; the first view already has history', async (t) => {
  if (!requireChromium(t)) return;
  const broker = (await targets(t)[0]!.open(t))!;
  const { app } = await adminFor(t, broker, { statusRefreshMs: 200 });
  const { queue } = await traffic(t, broker);
  const { base, page, problems } = await browse(t, app);
  // The admin samples its counters from the start: let it collect a few points before the page opens.
  await waitFor(async () => {
    const res = await app.inject('/api/history');
    return (JSON.parse(res.body) as { points: unknown[] }).points.length >= 5;
  });
  await page.goto(`${base}/`);
  await page.waitForFunction(
    () => {
      const figure = document.getElementById('chart-rates');
      const last = JSON.parse(figure?.dataset.last ?? 'null') as Record<string, number | null> | null;
      // The poison jobs fail now and then: a point without a failure is no error, so wait for one.
      return (
        Number(figure?.dataset.points) >= 5 &&
        !!last &&
        last.published! > 0 &&
        last.consumed! > 0 &&
        last.failed! > 0
      );
    },
    undefined,
    { timeout: 20_000 },
  );
  const rates = await chartState(page, 'chart-rates');
  t.ok(rates.points >= 5, `the rates chart has history at once (${rates.points} points)`);
  t.pass('poison jobs show as failed (the wait above needs a drawn point with failures)');
  await page.waitForFunction(
    () => JSON.parse(document.getElementById('chart-depth')?.dataset.last ?? 'null')?.deadLetters > 0,
    undefined,
    { timeout: 20_000 },
  );
  const depth = await chartState(page, 'chart-depth');
  t.type(depth.last!.depth, 'number', 'depth is drawn');
  t.ok(await inkedPixels(page, 'chart-rates'), 'the rates canvas has ink');
  t.ok(await inkedPixels(page, 'chart-depth'), 'the depth canvas has ink');
  t.match(await page.locator('#publishedRate').textContent(), /^\d+\.\d$/, 'the cards show rates');
  t.not(await page.locator('#publishedRate').textContent(), '0.0');
  await screenshot(t, page, 'status-overview');

  // The queue's own view: its charts draw too.
  await page.locator(`tr[data-queue="${queue}"] a`).click();
  await page.waitForFunction(
    () => {
      const last = JSON.parse(document.getElementById('chart-queue-rates')?.dataset.last ?? 'null');
      return last && last.consumed > 0 && last.published > 0;
    },
    undefined,
    { timeout: 20_000 },
  );
  t.equal(await page.locator('#detail-name').textContent(), queue);
  t.ok(await inkedPixels(page, 'chart-queue-rates'), "the queue's rates canvas has ink");
  await page.locator('tr[data-dead-letter]').first().waitFor({ timeout: 20_000 });
  await screenshot(t, page, 'status-queue-detail');
  t.same(problems, [], 'no script errors or CSP violations');
});

/** A queue with `ready` ready messages and `dead` dead letters (the consumer is gone). */
async function seeded(broker: Broker, ready: number, dead: number): Promise<string> {
  const queue = uniqueName('dl');
  const worker = await broker.consume<{ i: number }>(queue, (m) => {
    throw new PermanentError(`order ${m.data.i} has no customer`);
  });
  await Promise.all(Array.from({ length: dead }, (_, i) => broker.send(queue, { i })));
  await waitFor(async () => (await broker.inspector!.queueInfo(`${queue}.dlq`)).depth === dead);
  await worker.close();
  await Promise.all(Array.from({ length: ready }, (_, i) => broker.send(queue, { i: 100 + i })));
  return queue;
}

t.test(
  'a replay from the queue page moves the dead letters back, after the token and a confirmation',
  async (t) => {
    if (!requireChromium(t)) return;
    const broker = (await targets(t)[0]!.open(t))!;
    const { app } = await adminFor(t, broker, { statusRefreshMs: 200 });
    const queue = await seeded(broker, 0, 2);
    const { base, page, problems } = await browse(t, app);
    await page.goto(`${base}/#queue=${queue}`);
    const letters = page.locator('tr[data-dead-letter]');
    await letters.nth(1).waitFor({ timeout: 15_000 });
    t.equal(await letters.count(), 2, 'both dead letters are listed');
    t.match(await letters.first().locator('td[data-field="error"]').textContent(), /has no customer/);
    t.equal(await letters.first().locator('td[data-field="attempts"]').textContent(), '1');
    t.match(await letters.first().locator('td[data-field="body"]').textContent(), /^\{"i":[01]\}$/);
    t.equal(await page.locator('#d-deadLetters').textContent(), '2');

    await page.locator('#replay').click();
    const dialog = page.locator('#confirm');
    await dialog.waitFor({ state: 'visible' });
    t.match(
      await page.locator('#confirm-text').textContent(),
      new RegExp(`the 2 dead letters of "${queue}"`),
    );
    await page.locator('#confirm-ok').click();
    t.match(
      await page.locator('#confirm-error').textContent(),
      /token .* is required/,
      'no token: asked again',
    );
    t.equal((await broker.inspector!.queueInfo(`${queue}.dlq`)).depth, 2, 'nothing moved yet');
    await page.locator('#confirm-token').fill(TOKEN);
    await page.locator('#confirm-ok').click();
    await page
      .locator('#action-result')
      .filter({ hasText: `replayed 2 dead letters to ${queue}` })
      .waitFor();
    await dialog.waitFor({ state: 'hidden' });
    t.equal((await broker.inspector!.queueInfo(`${queue}.dlq`)).depth, 0, 'the dead-letter queue is empty');
    t.equal((await broker.inspector!.queueInfo(queue)).depth, 2, 'both are back in the queue');
    await page.locator('#d-depth').filter({ hasText: /^2$/ }).waitFor({ timeout: 15_000 });
    await page.locator('td.empty', { hasText: 'no dead letters' }).waitFor({ timeout: 15_000 });
    await screenshot(t, page, 'status-after-replay');
    t.same(problems, [], 'no script errors or CSP violations');
  },
);

t.test('a wrong token shows the error in the dialog and changes nothing', async (t) => {
  if (!requireChromium(t)) return;
  const broker = (await targets(t)[0]!.open(t))!;
  const { app } = await adminFor(t, broker, { statusRefreshMs: 200 });
  const queue = await seeded(broker, 3, 1);
  const { base, page, problems } = await browse(t, app);
  await page.goto(`${base}/#queue=${queue}`);
  await page.locator('tr[data-dead-letter]').first().waitFor({ timeout: 15_000 });
  await page.locator('#d-depth').filter({ hasText: /^3$/ }).waitFor({ timeout: 15_000 });
  for (const button of ['#purge', '#replay', '#delete']) {
    await page.locator(button).click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    await page.locator('#confirm-token').fill('not-the-token');
    await page.locator('#confirm-ok').click();
    const error = page.locator('#confirm-error');
    await error.filter({ hasText: /^401 Unauthorized: .*\[BK_UNAUTHORIZED\]$/ }).waitFor();
    t.pass(`${button}: the problem is shown`);
    t.ok(await page.locator('#confirm').isVisible(), `${button}: the dialog stays open`);
    if (button === '#delete') await screenshot(t, page, 'status-wrong-token');
    await page.locator('#confirm-cancel').click();
    await page.locator('#confirm').waitFor({ state: 'hidden' });
  }
  t.equal((await broker.inspector!.queueInfo(queue)).depth, 3, 'the queue is unchanged');
  t.equal((await broker.inspector!.queueInfo(`${queue}.dlq`)).depth, 1, 'the dead letter is still there');
  t.equal(await page.locator('#action-result').textContent(), '', 'no success is reported');
  t.same(
    problems.filter((p) => !/status of 401/.test(p)),
    [],
    'no script errors or CSP violations',
  );
});

t.test('the Swagger UI at /docs renders every route without CSP or script errors', async (t) => {
  if (!requireChromium(t)) return;
  const broker = (await targets(t)[0]!.open(t))!;
  const { app } = await adminFor(t, broker);
  const { base, page, problems } = await browse(t, app);
  await page.goto(`${base}/docs`);
  await page.getByText('Move dead letters back to their origin').first().waitFor({ timeout: 15_000 });
  t.equal(await page.locator('.opblock').count(), 11, 'all eleven operations listed');
  t.same(problems, []);
});
