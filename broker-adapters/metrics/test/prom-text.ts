/**
 * Reading Prometheus text exposition in tests: the value of one sample by name and labels, and
 * `promtool check metrics` with the same skip-outside-CI rule as `requireService`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type t from 'tap';

/** Parse `name{a="b",...} value` lines into samples. */
export function samples(
  text: string,
): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

type CheckTest = Parameters<Parameters<typeof t.test>[0]>[0];

/**
 * Run `promtool check metrics` on `text`. Outside CI a missing promtool is a skipped check with a
 * printed reason; with `CI=true` it fails (see `.ci/run`, which installs it).
 */
export function promtoolCheck(t: CheckTest, text: string): void {
  if (!existsSync(PROMTOOL)) {
    if (process.env.CI === 'true') t.fail(`promtool not found at ${PROMTOOL} (CI=true)`);
    else t.comment(`skipping promtool check: ${PROMTOOL} not found`);
    return;
  }
  const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(result.status, 0, `promtool check metrics: ${result.stdout}${result.stderr}`);
}
