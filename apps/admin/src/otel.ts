/**
 * OTLP trace export for brokerkit's processes (the admin, the demo; any app that depends on
 * `@brokerkit/admin`): when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * is set, {@link startOtlpTracing} registers the OpenTelemetry Node SDK (NodeTracerProvider with
 * the AsyncLocalStorage context manager and the W3C propagators, a BatchSpanProcessor, the
 * OTLP/HTTP JSON exporter), so core's tracing middleware starts producing spans. Unset, nothing
 * is loaded: the SDK packages are imported dynamically, only on that path.
 *
 * It lives in the admin because the admin already depends on the SDK and every app depends on the
 * admin: `@brokerkit/admin/otel` resolves the SDK from the admin's own dependencies, so the demo,
 * `brokerkit-publish` and `brokerkit-subscribe` can use it without declaring the SDK themselves.
 *
 * The SDK reads the standard variables itself: `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`,
 * `_TIMEOUT`, `_COMPRESSION`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_SPAN_*_LIMIT`;
 * `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the service (default given by the app).
 */

/** A running OTLP export: `shutdown` exports the spans still queued, then stops the SDK. */
export interface OtlpTracing {
  /** The `service.name` the spans carry. */
  readonly serviceName: string;
  /** Where the spans go (the traces URL, `…/v1/traces`), for the startup banner or log. */
  readonly endpoint: string;
  /** Export every queued span and stop; idempotent. Call it after the broker has drained. */
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The URL spans are posted to, or undefined when neither endpoint variable is set. */
export function otlpTracesEndpoint(env: Env = process.env): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces; // used as given, per the OTLP exporter spec
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return undefined;
  return `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
}

/**
 * Register the OpenTelemetry SDK with an OTLP exporter when an endpoint variable is set
 * (`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off); resolves undefined
 * without loading anything otherwise. Call it before `connect`, so the first publish is traced.
 *
 * @param defaultServiceName - `service.name` when neither `OTEL_SERVICE_NAME` nor a `service.name`
 *   in `OTEL_RESOURCE_ATTRIBUTES` is set.
 */
export async function startOtlpTracing(
  defaultServiceName: string,
  env: Env = process.env,
): Promise<OtlpTracing | undefined> {
  const endpoint = otlpTracesEndpoint(env);
  if (endpoint === undefined) return undefined;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return undefined;

  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  // Later merges win: the SDK's defaults (telemetry.sdk.*), then the app's name, then what the
  // environment says (OTEL_RESOURCE_ATTRIBUTES, and OTEL_SERVICE_NAME above all).
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': defaultServiceName }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  // The exporter reads the endpoint, headers, timeout and compression from the environment.
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  const serviceName = String(resource.attributes['service.name'] ?? defaultServiceName);
  let stopped: Promise<void> | undefined;
  return {
    serviceName,
    endpoint,
    shutdown: () => (stopped ??= provider.shutdown()),
  };
}
