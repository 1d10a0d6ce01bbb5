import {
  type Context,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  context,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { Rejection } from '../errors';
import type { Headers, SourceMessage } from '../records';
import { forwardTraceHeaders } from './trace-forwarding';
import {
  ATTR_ERROR_TYPE,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_KAFKA_MESSAGE_KEY,
  ATTR_MESSAGING_KAFKA_OFFSET,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_REJECTION_CODE,
  ATTR_REJECTION_FIELD,
  ATTR_REJECTION_STAGE,
  MESSAGING_SYSTEM_KAFKA,
} from './semconv';

/**
 * A null header value (Kafka allows one) has no text: alone it reads as no header, so a null
 * traceparent starts a new trace; among repeated values it reads as empty, which keeps the
 * positions the propagator looks at (it takes the first traceparent) and is never valid.
 */
const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const value = carrier[key];
    if (value === undefined || value === null) return undefined;
    if (Array.isArray(value)) return value.map((v) => (v === null ? '' : v.toString()));
    return value.toString();
  },
};

const headerSetter: TextMapSetter<Headers> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/**
 * W3C trace context is part of the product, not of the telemetry set-up: it flows from input
 * to output headers even when no SDK is registered or nothing is exported.
 */
const propagator = new W3CTraceContextPropagator();

export function tracingHeaders(ctx: Context): Headers {
  const headers: Headers = {};
  propagator.inject(ctx, headers, headerSetter);
  return headers;
}

/** Keys are logged only when they are printable and short; binary or long keys could leak data. */
function safeKey(key: Buffer | null): string | undefined {
  if (!key || key.length > 64) return undefined;
  const text = key.toString('utf8');
  return /^[\x20-\x7e]+$/.test(text) ? text : undefined;
}

/**
 * The spans of one Kafka batch: a `process <topic>` span per message, a child of the
 * producer's context from its traceparent header (not a link), with a child per stage.
 * Stage spans get the batch's stage timings, since stages run over the whole batch.
 */
export class BatchSpans {
  readonly spans: Span[];
  private readonly contexts: Context[];
  readonly recording: boolean;

  /**
   * `recordSpans` false (nothing would be exported): no span is built at all, and each output
   * carries its input's trace context on unchanged (see trace-forwarding.ts).
   */
  constructor(
    private readonly tracer: Tracer,
    private readonly messages: readonly SourceMessage[],
    consumerGroup: string,
    private readonly recordSpans = true,
  ) {
    const count = recordSpans ? messages.length : 0;
    this.spans = new Array<Span>(count);
    this.contexts = new Array<Context>(count);
    const root = context.active();
    let recording = false;
    for (let i = 0; i < count; i += 1) {
      const message = messages[i] as SourceMessage;
      const parent = propagator.extract(root, message.headers, headerGetter);
      const attributes: Record<string, string | number> = {
        [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
        [ATTR_MESSAGING_OPERATION_NAME]: 'process',
        [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
        [ATTR_MESSAGING_DESTINATION_NAME]: message.topic,
        [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(message.partition),
        [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumerGroup,
        [ATTR_MESSAGING_KAFKA_OFFSET]: Number(message.offset),
      };
      const key = safeKey(message.key);
      if (key !== undefined) attributes[ATTR_MESSAGING_KAFKA_MESSAGE_KEY] = key;
      const span = tracer.startSpan(`process ${message.topic}`, { kind: SpanKind.CONSUMER, attributes }, parent);
      this.spans[i] = span;
      this.contexts[i] = trace.setSpan(parent, span);
      recording ||= span.isRecording();
    }
    this.recording = recording;
  }

  /** Adds a `name` child span to every message span in [from, to), timed as the stage ran. */
  stage(name: string, start: number, end: number, from = 0, to = this.messages.length): void {
    if (!this.recording) return;
    for (let i = from; i < to; i += 1) {
      const parent = this.spans[i] as Span;
      if (!parent.isRecording()) continue;
      this.tracer.startSpan(name, { startTime: start }, this.contexts[i]).end(end);
    }
  }

  /** One span for work done once for many messages (the ONNX call), linked to each message span. */
  batchStage(name: string, start: number, end: number, indexes: ArrayLike<number>, attributes: Readonly<Record<string, number | string>> = {}): void {
    if (!this.recording || indexes.length === 0) return;
    const links: Link[] = [];
    for (let r = 0; r < indexes.length; r += 1) links.push({ context: (this.spans[indexes[r] as number] as Span).spanContext() });
    this.tracer.startSpan(name, { startTime: start, links, attributes: { ...attributes, [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: indexes.length } }, context.active()).end(end);
  }

  reject(index: number, rejection: Rejection): void {
    if (!this.recording) return;
    const span = this.spans[index] as Span;
    if (!span.isRecording()) return;
    span.setAttribute(ATTR_REJECTION_CODE, rejection.code);
    span.setAttribute(ATTR_REJECTION_STAGE, rejection.stage);
    span.setAttribute(ATTR_ERROR_TYPE, rejection.code);
    if (rejection.field !== undefined) span.setAttribute(ATTR_REJECTION_FIELD, rejection.field);
    span.setStatus({ code: SpanStatusCode.ERROR, message: rejection.message });
  }

  /**
   * A step of message `index` that lasts until its output is acknowledged (`publish`,
   * `dead-letter`): a child of the message span, ended by the caller. undefined when the
   * message span is not recorded.
   */
  step(index: number, name: string, startTime: number, rejection?: Rejection): Span | undefined {
    if (!this.recording) return undefined;
    const parent = this.spans[index] as Span;
    if (!parent.isRecording()) return undefined;
    const span = this.tracer.startSpan(name, { startTime }, this.contexts[index]);
    if (rejection) {
      span.setAttribute(ATTR_REJECTION_CODE, rejection.code);
      span.setAttribute(ATTR_REJECTION_STAGE, rejection.stage);
      span.setAttribute(ATTR_ERROR_TYPE, rejection.code);
      if (rejection.field !== undefined) span.setAttribute(ATTR_REJECTION_FIELD, rejection.field);
      span.setStatus({ code: SpanStatusCode.ERROR, message: rejection.message });
    }
    return span;
  }

  /**
   * Trace headers for the record written on behalf of message `index`, from a `send <topic>`
   * span: a child of `step` when given, else of the message span.
   */
  sendHeaders(index: number, destination: string, step?: Span): { headers: Headers; span: Span | undefined } {
    if (!this.recordSpans) return { headers: forwardTraceHeaders((this.messages[index] as SourceMessage).headers), span: undefined };
    const parent = step ? trace.setSpan(this.contexts[index] as Context, step) : (this.contexts[index] as Context);
    if (!(this.spans[index] as Span).isRecording()) return { headers: tracingHeaders(parent), span: undefined };
    const span = this.tracer.startSpan(
      `send ${destination}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
          [ATTR_MESSAGING_OPERATION_NAME]: 'send',
          [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
          [ATTR_MESSAGING_DESTINATION_NAME]: destination,
        },
      },
      parent,
    );
    const key = safeKey((this.messages[index] as SourceMessage).key);
    if (key !== undefined) span.setAttribute(ATTR_MESSAGING_KAFKA_MESSAGE_KEY, key);
    return { headers: tracingHeaders(trace.setSpan(parent, span)), span };
  }

  endAll(error?: Error): void {
    for (const span of this.spans) {
      if (error && span.isRecording()) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      span.end();
    }
  }
}
