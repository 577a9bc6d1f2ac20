import type { Scenario } from './harness.js';

/** Scenarios of this suite; filled in by the adapter's issue. */
export const scenarios: Scenario[] = [];
