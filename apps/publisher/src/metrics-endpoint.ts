/**
 * `--metrics-port`: the publisher's HTTP surface while it runs — the shared probes
 * (`@brokerkit/admin/probes`: `/metrics`, `/readyz`, `/healthz`), so publish rate, errors and
 * confirm latency of a long-running publisher reach the dashboard like the other apps' do.
 */
import type { AddressInfo } from 'node:net';
import type { Broker } from '@brokerkit/core';
import type { Registry } from '@brokerkit/metrics';
import { probesApp } from '@brokerkit/admin/probes';

/** Options of {@link serveMetrics}. */
export interface MetricsEndpointOptions {
  readonly broker: Broker;
  /** The registry of the metrics middleware the caller added to `broker`. */
  readonly registry: Registry;
  readonly host: string;
  readonly port: number;
}

/** A running endpoint. */
export interface MetricsEndpoint {
  /** `http://host:port/metrics`, with the port actually bound (for `--metrics-port 0`). */
  readonly url: string;
  close(): Promise<void>;
}

/** Serve `registry` at `http://host:port/metrics` (plus the health probes). Rejects if the port is taken. */
export async function serveMetrics(options: MetricsEndpointOptions): Promise<MetricsEndpoint> {
  const app = probesApp({ broker: options.broker, registry: options.registry });
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/metrics`,
    // Fastify's close() also ends idle keep-alive connections (a scraper's), so none of them
    // holds the finished publisher open.
    close: () => app.close(),
  };
}
