import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Context, ROOT_CONTEXT, SpanKind, type TextMapGetter, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { IHeaders } from 'kafkajs';
import { loadSchema } from '../../src/stages/decode';
import { type TestJaeger as Jaeger, type JaegerSpan, type JaegerTrace, TestJaeger, parentOf, tag } from '../support/jaeger';
import { type TestTopics, brokers, collect, createTestTopics, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { type ScorerProcess, spawnScorer } from '../support/processes';

/**
 * The whole chain in a real Jaeger: a test producer sends an event inside its own span, the
 * scorer (its own process, exporting OTLP) scores it, a test consumer reads the prediction and
 * continues the trace. Jaeger's query API must then show one trace, producer to consumer.
 */
const propagator = new W3CTraceContextPropagator();
const headerGetter: TextMapGetter<IHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value.map(String) : String(value);
  },
};

function testProvider(jaeger: Jaeger, serviceName: string): BasicTracerProvider {
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${jaeger.otlpUrl}/v1/traces` }))],
  });
}

function byName(t: JaegerTrace | undefined, name: string): JaegerSpan | undefined {
  return t?.spans.find((s) => s.operationName === name);
}

function serviceOf(t: JaegerTrace | undefined, span: JaegerSpan | undefined): string | undefined {
  return span ? t?.processes[span.processID]?.serviceName : undefined;
}

function describeTrace(t: JaegerTrace | undefined): string {
  if (!t) return '(no trace)';
  const children = new Map<string | undefined, JaegerSpan[]>();
  for (const s of t.spans) {
    const parent = parentOf(s);
    const key = parent && t.spans.some((p) => p.spanID === parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), s]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number): void => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => a.startTime - b.startTime)) {
      lines.push(`${'  '.repeat(depth)}${s.operationName} [${serviceOf(t, s)}, ${tag(s, 'span.kind') ?? 'internal'}${tag(s, 'otel.status_code') === 'ERROR' ? ', ERROR' : ''}]`);
      walk(s.spanID, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}

describe('integration: one trace from producer to consumer, in a real Jaeger', () => {
  const kafka = testKafka();
  const jaeger = new TestJaeger();
  let scorer: ScorerProcess | undefined;
  let topics: TestTopics;

  before(async () => {
    await jaeger.start();
    topics = await createTestTopics(kafka, 'jaeger', 1);
  });
  after(async () => {
    if (scorer && scorer.child.exitCode === null) {
      scorer.child.kill('SIGKILL');
      await scorer.exit;
    }
    jaeger.stop();
  });

  it('shows send → process → decode/check/score/publish → send → process, with messaging attributes', async () => {
    const producerProvider = testProvider(jaeger, 'test-producer');
    const consumerProvider = testProvider(jaeger, 'test-consumer');
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const [good, bad] = referenceCases();

    scorer = spawnScorer({
      KAFKA_BROKERS: brokers().join(','),
      INPUT_TOPICS: topics.input,
      OUTPUT_TOPIC: topics.output,
      DEAD_LETTER_TOPIC: topics.deadLetter,
      KAFKA_GROUP_ID: topics.group,
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl,
      OTEL_SERVICE_NAME: 'stream-scorer',
    });
    const running = scorer;
    // Ready: model loaded, group joined, broker reachable (from the scorer's own /readyz).
    const deadline = Date.now() + 60_000;
    let healthUrl: string | undefined;
    for (;;) {
      healthUrl ??= /"msg":"health and metrics server listening"/.test(running.output()) ? /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(running.output())?.[1] : undefined;
      if (healthUrl && (await fetch(`${healthUrl}/readyz`).then((r) => r.status === 200, () => false))) break;
      assert.ok(Date.now() < deadline && running.child.exitCode === null, `scorer not ready:\n${running.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The test producer: a `send <topic>` PRODUCER span per event, its context in the headers.
    const tracer = producerProvider.getTracer('test-producer');
    const sendSpan = (key: string) =>
      tracer.startSpan(`send ${topics.input}`, {
        kind: SpanKind.PRODUCER,
        attributes: { 'messaging.system': 'kafka', 'messaging.operation.name': 'send', 'messaging.destination.name': topics.input, 'messaging.kafka.message.key': key },
      });
    const goodSpan = sendSpan('good-1');
    const badSpan = sendSpan('bad-1');
    const headersOf = (span: ReturnType<typeof sendSpan>): Record<string, string> => {
      const headers: Record<string, string> = {};
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, { set: (c, k, v) => (c[k] = v) });
      return headers;
    };
    await produce(kafka, topics.input, [
      { key: 'good-1', value: eventType.toBuffer(good?.event), headers: headersOf(goodSpan) },
      { key: 'bad-1', value: eventType.toBuffer({ ...bad?.event, channel: 'crypto_atm' }), headers: headersOf(badSpan) },
    ]);
    goodSpan.end();
    badSpan.end();
    const goodTrace = goodSpan.spanContext().traceId;
    const badTrace = badSpan.spanContext().traceId;

    // The test consumer continues the trace from the prediction's headers.
    const [prediction] = await collect(kafka, topics.output, 1, 60_000);
    assert.ok(prediction, 'a prediction arrived');
    const parent: Context = propagator.extract(ROOT_CONTEXT, prediction.message.headers ?? {}, headerGetter);
    assert.equal(trace.getSpanContext(parent)?.traceId, goodTrace, 'the prediction carries the producer trace');
    consumerProvider
      .getTracer('test-consumer')
      .startSpan(
        `process ${topics.output}`,
        { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'kafka', 'messaging.operation.name': 'process', 'messaging.destination.name': topics.output } },
        parent,
      )
      .end();
    const [dead] = await collect(kafka, topics.deadLetter, 1, 60_000);
    assert.ok(dead, 'a dead letter arrived');
    await producerProvider.forceFlush();
    await consumerProvider.forceFlush();

    // SIGTERM: the scorer finishes, commits, and its SDK flushes the spans it still holds.
    running.child.kill('SIGTERM');
    assert.equal(await running.exit, 0, running.output().slice(-3000));

    const expected = [`send ${topics.input}`, `process ${topics.input}`, 'decode', 'check', 'score', 'publish', `send ${topics.output}`, `process ${topics.output}`];
    const t = await jaeger.waitForTrace(goodTrace, expected);
    process.stdout.write(`# trace ${goodTrace} in Jaeger:\n${describeTrace(t).replace(/^/gm, '#   ')}\n`);
    assert.ok(t, `trace ${goodTrace} is in Jaeger`);
    assert.deepEqual([...new Set(t.spans.map((s) => s.operationName))].sort(), [...expected].sort(), 'exactly the expected spans');
    assert.ok(t.spans.every((s) => s.traceID === goodTrace), 'one trace id');

    const send = byName(t, `send ${topics.input}`);
    const process_ = byName(t, `process ${topics.input}`);
    const publish = byName(t, 'publish');
    const sendOut = byName(t, `send ${topics.output}`);
    const consume = byName(t, `process ${topics.output}`);
    assert.equal(serviceOf(t, send), 'test-producer');
    assert.equal(serviceOf(t, process_), 'stream-scorer');
    assert.equal(serviceOf(t, consume), 'test-consumer');
    assert.equal(parentOf(send), undefined, 'the producer span is the root');
    assert.equal(parentOf(process_), send?.spanID, 'process <in> is a child of the producer span');
    for (const step of ['decode', 'check', 'score', 'publish']) assert.equal(parentOf(byName(t, step)), process_?.spanID, `${step} is a step of process <in>`);
    assert.equal(parentOf(sendOut), publish?.spanID, 'send <out> is a child of publish');
    assert.equal(parentOf(consume), sendOut?.spanID, 'the consumer continues from send <out>');

    assert.equal(tag(process_, 'span.kind'), 'consumer');
    assert.equal(tag(process_, 'messaging.system'), 'kafka');
    assert.equal(tag(process_, 'messaging.operation.name'), 'process');
    assert.equal(tag(process_, 'messaging.destination.name'), topics.input);
    assert.equal(tag(process_, 'messaging.destination.partition.id'), '0');
    assert.equal(Number(tag(process_, 'messaging.kafka.offset')), 0);
    assert.equal(tag(process_, 'messaging.consumer.group.name'), topics.group);
    assert.equal(tag(process_, 'messaging.kafka.message.key'), 'good-1');
    assert.notEqual(tag(process_, 'otel.status_code'), 'ERROR');
    assert.equal(tag(sendOut, 'span.kind'), 'producer');
    assert.equal(tag(sendOut, 'messaging.destination.name'), topics.output);
    assert.equal(tag(sendOut, 'messaging.operation.name'), 'send');
    // OTel JS stamps a span's start with Date.now() (whole ms) and its end with a monotonic duration
    // after that: spans of one process can be off by up to 1 ms (Jaeger times are in µs).
    const endOf = (s: JaegerSpan | undefined): number => (s?.startTime ?? 0) + (s?.duration ?? 0);
    assert.ok(endOf(sendOut) <= endOf(process_) + 1_000, 'send <out> ends (on the ack) within process <in>');
    assert.ok(endOf(sendOut) <= endOf(publish) + 1_000 && (publish?.startTime ?? 0) <= (sendOut?.startTime ?? 0) + 1_000, 'publish spans send <out>');

    // The dead-lettered event: error status and reason code, a dead-letter step, send to the DLQ.
    const deadTrace = await jaeger.waitForTrace(badTrace, [`process ${topics.input}`, 'dead-letter', `send ${topics.deadLetter}`]);
    process.stdout.write(`# trace ${badTrace} (dead-lettered) in Jaeger:\n${describeTrace(deadTrace).replace(/^/gm, '#   ')}\n`);
    const rejected = byName(deadTrace, `process ${topics.input}`);
    assert.equal(parentOf(rejected), badSpan.spanContext().spanId);
    assert.equal(tag(rejected, 'otel.status_code'), 'ERROR');
    assert.equal(tag(rejected, 'error'), true);
    assert.equal(tag(rejected, 'stream_scorer.rejection.code'), 'UNKNOWN_CATEGORY');
    assert.equal(tag(rejected, 'stream_scorer.rejection.field'), 'channel');
    const step = byName(deadTrace, 'dead-letter');
    assert.equal(parentOf(step), rejected?.spanID);
    assert.equal(tag(step, 'otel.status_code'), 'ERROR');
    assert.equal(tag(step, 'stream_scorer.rejection.code'), 'UNKNOWN_CATEGORY');
    assert.equal(parentOf(byName(deadTrace, `send ${topics.deadLetter}`)), step?.spanID);
    assert.ok(!deadTrace?.spans.some((s) => s.operationName === 'publish'), 'no prediction published');

    // The one ONNX call per batch: its own span, linked to the message span it served.
    const batches = await jaeger.search('stream-scorer', 'score batch');
    const batchSpan = batches.flatMap((b) => b.spans).find((s) => s.operationName === 'score batch' && s.references.some((r) => r.spanID === process_?.spanID));
    assert.ok(batchSpan, "a 'score batch' span links to the message span");
    assert.ok(!batchSpan.references.some((r) => r.spanID === rejected?.spanID), 'not to the message it did not score');
    assert.equal(Number(tag(batchSpan, 'messaging.batch.message_count')), 1);

    await producerProvider.shutdown();
    await consumerProvider.shutdown();
  });
});
