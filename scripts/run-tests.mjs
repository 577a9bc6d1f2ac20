#!/usr/bin/env node
// Runs the whole test suite with tap, then prints one summary line computed from the TAP
// results tap saved under .tap/test-results: "N passed, N failed" (test points, all files).
// Tests that disturb the shared brokers live in test/serial/ folders, which .taprc marks serial.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { globSync } from 'glob';

rmSync('.tap/test-results', { recursive: true, force: true });
const args = process.argv.slice(2);
const tap = spawnSync('npx', ['--no-install', 'tap', ...args], { stdio: 'inherit' });

let passed = 0;
let failed = 0;
let todo = 0;
let skipped = 0;
// Leaf points are "ok" / "not ok" lines whose subtests (deeper lines) did not come just before.
for (const file of globSync('.tap/test-results/**/*.tap')) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const points = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(ok|not ok) \d+/.exec(lines[i]);
    if (!m) continue;
    points.push({ indent: m[1].length, ok: m[2] === 'ok', line: lines[i] });
  }
  // A point is a parent when the previous point is deeper (its subtests came just before it).
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const prev = points[i - 1];
    const isParent = prev !== undefined && prev.indent > p.indent;
    if (isParent) {
      // A parent failing with all children passing (a thrown error, a timeout) still counts.
      if (!p.ok && !hasFailedChild(points, i)) failed++;
      continue;
    }
    if (/# SKIP/i.test(p.line)) skipped++;
    else if (/# TODO/i.test(p.line)) todo++;
    else if (p.ok) passed++;
    else failed++;
  }
}

function hasFailedChild(points, index) {
  const indent = points[index].indent;
  for (let j = index - 1; j >= 0 && points[j].indent > indent; j--) if (!points[j].ok) return true;
  return false;
}

const status = tap.status ?? 1;
if (status !== 0 && failed === 0) failed = 1; // tap itself failed (no results, crashed runner)
if (skipped || todo) console.log(`(${skipped} skipped, ${todo} todo)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(status);
