/**
 * @brokerkit/admin — the Fastify admin API and status page. `buildApp` for embedding and tests;
 * `server.ts` is the process entry (`npm run admin`). The probes (`/healthz`, `/readyz`,
 * `/metrics`) are also exported alone as `@brokerkit/admin/probes`, for processes that need
 * nothing else.
 *
 * @packageDocumentation
 */
export { buildApp, REDACTED_LOG_PATHS, type BuildAppOptions } from './app.js';
export { configFromEnv, defaultConfig, type AdminConfig } from './config.js';
export { AdminError, PROBLEM_TYPE, problem, type AdminErrorCode, type Problem } from './problems.js';
export { probes, probesApp, type ProbesOptions } from './probes.js';
export { statusPage, type StatusPageOptions } from './status-page.js';
export { EXIT_CODES, configFailure, connectFailure, listenFailure, type StartupFailure } from './startup.js';
