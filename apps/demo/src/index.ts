/**
 * The brokerkit demo: `npm start` runs it in one process on `memory://` (or `BROKER_URL`).
 *
 * @packageDocumentation
 */
export { startDemo, DEMO_GROUPS, DEMO_QUEUE, DEMO_TOPICS } from './demo.js';
export type { DemoOptions, DemoCounters, RunningDemo } from './demo.js';
export { demoSettings, formatBanner, type DemoSettings } from './settings.js';
