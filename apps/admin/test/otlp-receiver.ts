/**
 * A real OTLP/HTTP receiver for the tests: a local HTTP server that accepts `POST /v1/traces`
 * with a JSON body (what `@opentelemetry/exporter-trace-otlp-http` sends) and keeps the spans.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One span as the OTLP/JSON encoding carries it (the fields the tests read). */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  /** OTLP SpanKind: 4 = PRODUCER, 5 = CONSUMER. */
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  readonly serviceName: string | undefined;
  readonly scope: string | undefined;
}

export const SPAN_KIND_PRODUCER = 4;
export const SPAN_KIND_CONSUMER = 5;

interface KeyValue {
  key: string;
  value: Record<string, unknown>;
}
interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<Omit<ReceivedSpan, 'attributes' | 'serviceName' | 'scope'> & { attributes?: KeyValue[] }>;
    }>;
  }>;
}

const valueOf = (value: Record<string, unknown>): unknown => {
  const v = Object.values(value)[0];
  return typeof v === 'string' && 'intValue' in value ? Number(v) : v;
};
const attributesOf = (list: KeyValue[] | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));

/** A running receiver. */
export interface OtlpReceiver {
  /** What to put in `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  /** Export requests received so far (each a batch). */
  readonly requests: number;
  /** Content types of the requests, to show the encoding. */
  readonly contentTypes: string[];
  readonly spans: ReceivedSpan[];
  close(): Promise<void>;
}

/** Start a receiver on a free loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      requests++;
      contentTypes.push(String(req.headers['content-type']));
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const request = JSON.parse(body.toString('utf8')) as ExportRequest;
      for (const rs of request.resourceSpans ?? []) {
        const serviceName = attributesOf(rs.resource?.attributes)['service.name'] as string | undefined;
        for (const ss of rs.scopeSpans ?? [])
          for (const span of ss.spans ?? [])
            spans.push({
              ...span,
              attributes: attributesOf(span.attributes),
              serviceName,
              scope: ss.scope?.name,
            });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    contentTypes,
    spans,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Pairs of a PRODUCER span and a CONSUMER span that is its child (same trace id, parent = the
 * producer's span id), as many as found.
 */
export function producerConsumerPairs(spans: readonly ReceivedSpan[]): Array<[ReceivedSpan, ReceivedSpan]> {
  const producers = new Map<string, ReceivedSpan>();
  for (const s of spans) if (s.kind === SPAN_KIND_PRODUCER) producers.set(`${s.traceId}/${s.spanId}`, s);
  const pairs: Array<[ReceivedSpan, ReceivedSpan]> = [];
  for (const s of spans) {
    if (s.kind !== SPAN_KIND_CONSUMER || !s.parentSpanId) continue;
    const producer = producers.get(`${s.traceId}/${s.parentSpanId}`);
    if (producer) pairs.push([producer, s]);
  }
  return pairs;
}
