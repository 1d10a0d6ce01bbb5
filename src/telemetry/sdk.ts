import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { AlwaysOffSampler, BatchSpanProcessor, NoopSpanProcessor, type Sampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { setSpansExported } from './span-export';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export interface TelemetryOptions {
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** OTLP/HTTP base URL; without it nothing is exported, but trace context still flows. */
  readonly otlpEndpoint?: string;
  /** For tests: e.g. a SimpleSpanProcessor over an in-memory exporter. */
  readonly spanProcessors?: SpanProcessor[];
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK. Call it before anything imports kafkajs, so instrumentation
 * that patches modules on load (should one be added) sees them.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const spanProcessors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (options.otlpEndpoint) {
    const url = `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
  }
  // With nowhere to send spans, record none; the tracer still mints trace ids, so an event that
  // arrives without a traceparent still leaves with one and its prediction can be followed.
  const exporting = spanProcessors.length > 0;
  const sampler: Sampler | undefined = exporting ? undefined : new AlwaysOffSampler();
  if (!exporting) spanProcessors.push(new NoopSpanProcessor());
  const sdk = new NodeSDK({
    ...(sampler ? { sampler } : {}),
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: options.serviceVersion }),
    // An explicit list (even empty) keeps the SDK from guessing exporters from the environment.
    spanProcessors,
    instrumentations: [],
    autoDetectResources: false,
  });
  sdk.start();
  setSpansExported(exporting);
  return {
    shutdown: () => {
      setSpansExported(false);
      return sdk.shutdown();
    },
  };
}
