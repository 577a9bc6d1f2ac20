/**
 * `runContractSuite`: the one behaviour suite every adapter runs from its own
 * `test/contract.test.ts`. The tests are the same for every adapter; {@link Features} only switch
 * expectations (a number, `null`, one copy or two), never which steps a test takes.
 */
import t from 'tap';
import { DEFAULT_FEATURES } from './features.js';
import type { ContractOptions, Features } from './features.js';
import type { SuiteContext, TapTest } from './harness.js';
import { failureTests } from './failures.js';
import { inspectionTests } from './inspection.js';
import { lifecycleTests } from './lifecycle.js';
import { messageTests } from './messages.js';
import { requestReplyTests } from './request-reply.js';
import { seamTests } from './seams.js';
import { semanticsTests } from './semantics.js';
import { validationTests } from './validation.js';

/** The areas of the suite, in the order they run. */
const AREAS: readonly [string, (parent: TapTest, ctx: SuiteContext) => void][] = [
  ['semantics', semanticsTests],
  ['retry and dead letters', failureTests],
  ['messages', messageTests],
  ['names and configuration errors', validationTests],
  ['close and drain', lifecycleTests],
  ['inspection', inspectionTests],
  ['core seams', seamTests],
  ['request and reply', requestReplyTests],
];

/**
 * Register the contract suite as one tap test named `contract: <name>`. Call it once at the top
 * level of a test file:
 *
 * ```ts
 * import { runContractSuite } from '@brokerkit/contract-tests';
 * import { connect } from '@brokerkit/core';
 * runContractSuite({
 *   name: 'memory',
 *   url: 'memory://',
 *   connect: (o) => connect('memory://', o),
 *   features: { persistent: true },
 * });
 * ```
 *
 * `only` (a list of area names, see the README) narrows the run while developing an adapter.
 */
export function runContractSuite(options: ContractOptions): void {
  const features: Features = { ...DEFAULT_FEATURES, ...options.features };
  const ctx: SuiteContext = { name: options.name, features, connect: options.connect, url: options.url };
  void t.test(`contract: ${options.name}`, async (tt) => {
    tt.comment(`features: ${JSON.stringify(features)}`);
    for (const area of options.only ?? []) {
      if (!AREAS.some(([known]) => known === area)) tt.fail(`only: unknown area "${area}"`);
    }
    for (const [area, register] of AREAS) {
      if (options.only && !options.only.includes(area)) continue;
      void tt.test(area, async (at) => register(at, ctx));
    }
  });
}
