/**
 * @brokerkit/subscriber — the `brokerkit-subscribe` service: fan-out subscribers, groups and
 * work-queue workers with simulated work, `/metrics`, `/readyz`, and a draining SIGTERM.
 *
 * @packageDocumentation
 */
export { main, EXIT, type CliIo } from './cli-main.js';
export {
  parseSubscriberConfig,
  ConfigError,
  USAGE,
  type SubscriberConfig,
  type SubscriptionConfig,
  type WorkTime,
  type ParsedConfig,
} from './config.js';
export {
  startSubscriber,
  describeSubscription,
  type SubscriberService,
  type StartOptions,
} from './service.js';
export { buildHttpApp, type HttpAppOptions, type Readiness } from './http.js';
export {
  createWorkHandler,
  openRecorder,
  SimulatedFailure,
  type HandlerCounters,
  type Recorder,
  type WorkHandlerOptions,
} from './worker.js';
