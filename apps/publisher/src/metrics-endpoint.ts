/**
 * `--metrics-port`: the publisher's `/metrics` for Prometheus while it runs, so publish rate,
 * errors and confirm latency of a long-running publisher reach the dashboard. A bare node:http
 * server: one route, nothing else to serve.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Broker } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';

/** A running endpoint. */
export interface MetricsEndpoint {
  readonly url: string;
  close(): Promise<void>;
}

/** Add the metrics middleware to `broker` and serve its registry at `http://host:port/metrics`. */
export async function serveMetrics(broker: Broker, host: string, port: number): Promise<MetricsEndpoint> {
  const middleware = metrics();
  broker.use(middleware);
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    middleware.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': middleware.registry.contentType }).end(text),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
