// The status page in headless Chromium: it loads, lists the queues and follows their numbers.
import { existsSync } from 'node:fs';
import t from 'tap';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { uniqueName } from '@brokerkit/contract-tests';
import { adminFor } from './app-helpers.js';
import { targets } from './targets.js';
import type { TapTest } from './targets.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

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
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  return { base: `http://127.0.0.1:${port}`, page, problems };
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
  await depth.filter({ hasText: /^3$/ }).waitFor({ timeout: 10_000 });
  t.equal(await depth.textContent(), '3', 'the queue is listed with its depth');
  t.equal(await page.locator(`tr[data-queue="${queue}"] td[data-field="kind"]`).textContent(), 'queue');
  t.equal(await page.locator(`tr[data-queue="${queue}"] td[data-field="deadLetters"]`).textContent(), '0');
  t.equal(await page.locator('#connection').textContent(), 'up');

  await Promise.all([4, 5].map((i) => broker.send(queue, i)));
  await depth.filter({ hasText: /^5$/ }).waitFor({ timeout: 10_000 });
  t.pass('the depth follows new messages without a reload');

  const other = uniqueName('late');
  await broker.send(other, 1);
  await page.locator(`tr[data-queue="${other}"]`).waitFor({ timeout: 10_000 });
  t.pass('a queue created later appears');
  // The published-rate column counts from the second poll on: a number, not a dash.
  await page
    .locator(`tr[data-destination="${queue}"] td[data-field="rate"]`)
    .filter({ hasText: /^\d+\.\d$/ })
    .waitFor({ timeout: 10_000 });
  t.same(problems, [], 'no script errors or CSP violations');
});

t.test('the Swagger UI at /docs renders every route without CSP or script errors', async (t) => {
  if (!requireChromium(t)) return;
  const broker = (await targets(t)[0]!.open(t))!;
  const { app } = await adminFor(t, broker);
  const { base, page, problems } = await browse(t, app);
  await page.goto(`${base}/docs`);
  await page.getByText('Move dead letters back to their origin').first().waitFor({ timeout: 15_000 });
  t.equal(await page.locator('.opblock').count(), 9, 'all nine operations listed');
  t.same(problems, []);
});
