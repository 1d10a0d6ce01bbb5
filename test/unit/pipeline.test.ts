import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { H } from '../../src/output/headers';
import { type PipelineDeps, processBatch } from '../../src/pipeline';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { type Telemetry, startTelemetry } from '../../src/telemetry/sdk';
import { mixedCases } from '../support/mixed';
import { referenceCases, testConfig } from '../support/model';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let deps: PipelineDeps;

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

before(async () => {
  telemetry = startTelemetry({ serviceName: 'test', serviceVersion: '0', spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const prepared = await prepare(testConfig({ SCORE_BATCH_MAX_EVENTS: '4' }), createLogger('silent'));
  deps = { ...prepared, tracer: trace.getTracer('test') };
});
after(() => telemetry.shutdown());

describe('pipeline: one output per input', () => {
  it('routes a mixed batch: predictions for valid events, dead letters with reasons for the rest', async () => {
    const reference = referenceCases();
    const cases = mixedCases(deps.decoder.reader, reference, 'unit');
    const messages: SourceMessage[] = cases.map((c, i) => ({
      topic: 'in',
      partition: 2,
      offset: String(100 + i),
      key: c.key,
      value: c.value,
      headers: i === 0 ? { ...c.headers, traceparent: Buffer.from(`00-${TRACE_ID}-${PARENT_SPAN}-01`) } : c.headers,
      timestamp: String(1_700_000_000_000 + i),
    }));
    const processed = await processBatch(deps, messages);
    processed.finish();

    const expectedPredictions = cases.filter((c) => c.expected === undefined);
    const expectedDead = cases.filter((c) => c.expected !== undefined);
    assert.equal(processed.predictions.length, expectedPredictions.length);
    assert.equal(processed.deadLetters.length, expectedDead.length);
    assert.equal(processed.predictions.length + processed.deadLetters.length, messages.length);

    for (const c of expectedDead) {
      const record = processed.deadLetters.find((r) => r.key?.equals(c.key));
      assert.ok(record, `dead letter for ${c.name}`);
      assert.equal(record.headers[H.reasonCode], c.expected, c.name);
      if (c.field) assert.equal(record.headers[H.reasonField], c.field, c.name);
      assert.equal(record.value === null ? null : Buffer.compare(record.value, c.value as Buffer), c.value === null ? null : 0, `${c.name} value intact`);
      assert.ok(Buffer.isBuffer(record.headers['x-origin']) && (record.headers['x-origin'] as Buffer).equals(c.headers['x-origin'] as Buffer));
      assert.equal(record.headers[H.sourceTopic], 'in');
      assert.equal(record.headers[H.sourcePartition], '2');
      assert.equal(record.headers[H.sourceOffset], String(100 + cases.indexOf(c)));
      assert.equal(record.headers[H.consumerGroup], 'stream-scorer');
      assert.equal(record.headers[H.modelName], 'card-fraud');
      assert.equal(record.timestamp, String(1_700_000_000_000 + cases.indexOf(c)), 'original timestamp kept');
    }

    const predictionType = deps.prediction.type;
    for (const record of processed.predictions) {
      const prediction = predictionType.fromBuffer(record.value as Buffer) as { event_id: string; score: number; source: { offset: number } };
      const source = cases[prediction.source.offset - 100];
      assert.ok(source && source.expected === undefined, 'predictions only for valid events');
      assert.ok(record.key?.equals(source.key), 'prediction keeps the input key');
      const ref = reference.find((r) => r.event.event_id === prediction.event_id);
      assert.ok(ref, 'prediction carries the event id');
      assert.ok(Math.abs(prediction.score - ref.probabilities[1]) < 1e-5);
      assert.equal(String(record.headers[H.modelVersion]), deps.prediction.modelVersion);
      assert.equal(String(record.headers[H.modelName]), deps.prediction.modelName);
    }

    // Trace: the first message's prediction continues the producer's trace.
    const first = processed.predictions.find((r) => r.key?.equals(cases[0]?.key as Buffer));
    const traceparent = String(first?.headers.traceparent);
    assert.match(traceparent, new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    const spans = exporter.getFinishedSpans();
    const process0 = spans.find((s) => s.name === 'process in' && s.attributes['messaging.kafka.offset'] === 100);
    assert.ok(process0, 'process span for offset 100');
    assert.equal(process0.spanContext().traceId, TRACE_ID);
    assert.equal(process0.parentSpanContext?.spanId, PARENT_SPAN, 'a child of the producer span, not a link');
    assert.equal(process0.attributes['messaging.system'], 'kafka');
    assert.equal(process0.attributes['messaging.consumer.group.name'], 'stream-scorer');
    const children = spans.filter((s) => s.parentSpanContext?.spanId === process0.spanContext().spanId).map((s) => s.name);
    for (const name of ['decode', 'check', 'score', 'publish']) assert.ok(children.includes(name), `child span ${name} in ${children.join(',')}`);
    const publish = spans.find((s) => s.name === 'publish' && s.parentSpanContext?.spanId === process0.spanContext().spanId);
    const send = spans.find((s) => s.name === 'send payments.scored' && s.parentSpanContext?.spanId === publish?.spanContext().spanId);
    assert.ok(send, 'the send span is a child of the publish step');
    assert.equal(send.kind, 3, 'PRODUCER');
    assert.equal(traceparent.split('-')[2], send.spanContext().spanId, "the prediction carries the send span's context");
    const rejected = spans.find((s) => s.name === 'process in' && s.attributes['messaging.kafka.offset'] === 101);
    assert.equal(rejected?.attributes['stream_scorer.rejection.code'], 'UNKNOWN_CATEGORY');
    assert.equal(rejected?.status.code, 2, 'error status');
    const deadLetterStep = spans.find((s) => s.name === 'dead-letter' && s.parentSpanContext?.spanId === rejected?.spanContext().spanId);
    assert.ok(deadLetterStep, 'a dead-letter step under the rejected message');
    assert.equal(deadLetterStep.status.code, 2);
    assert.equal(deadLetterStep.attributes['stream_scorer.rejection.code'], 'UNKNOWN_CATEGORY');
    assert.equal(deadLetterStep.attributes['stream_scorer.rejection.field'], 'channel');
    assert.ok(spans.some((s) => s.name === 'send payments.dead-letter' && s.parentSpanContext?.spanId === deadLetterStep.spanContext().spanId));
    assert.ok(spans.some((s) => s.name === 'score batch' && s.links.length > 0), 'one ONNX span per chunk, linked to its messages');
  });
});
