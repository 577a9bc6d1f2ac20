#!/usr/bin/env node
// The `brokerkit-subscribe` bin as npm links it. npm links bins while it installs, before the `prepare`
// script has built dist/, so the link must point at a file that is committed: this launcher,
// which loads the build when it runs.
try {
  await import('../dist/cli.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/cli.js')) throw error;
  process.stderr.write('brokerkit-subscribe: not built yet: run `npm run build` at the repository root\n');
  process.exit(1);
}
