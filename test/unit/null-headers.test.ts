import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { produceRequests } from '../../src/kafka/output-writer';
import { H } from '../../src/output/headers';
import { type PipelineDeps, processBatch } from '../../src/pipeline';
import type { Headers, OutputRecord, SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { type Telemetry, startTelemetry } from '../../src/telemetry/sdk';
import { forwardTraceHeaders } from '../../src/telemetry/trace-forwarding';
import { referenceCases, testConfig } from '../support/model';
import { decodeRecordForTest, encodeRecordForTest } from '../support/record-codec';

/**
 * Kafka allows a header value to be null (length -1), and kafkajs hands it over as null. Such a
 * header must travel like any other: nothing throws (a throw is classified transient and blocks
 * the partition forever), dead letters keep it as null, predictions pass on only trace headers.
 */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const OTHER_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const VALID = /^00-[\da-f]{32}-[\da-f]{16}-0[01]$/;

/** Header sets with null values, each given to a good and to a bad event. */
const VARIANTS: Record<string, Headers> = {
  'null traceparent': { traceparent: null, 'x-bin': Buffer.from([0x00, 0xff]) },
  'null tracestate': { traceparent: Buffer.from(PARENT), tracestate: null },
  'null custom headers': { traceparent: Buffer.from(PARENT), 'x-null': null, 'x-empty': Buffer.alloc(0), 'x-other-null': null },
  'duplicate traceparent': { traceparent: [Buffer.from(PARENT), Buffer.from(OTHER_PARENT)], tracestate: [Buffer.from('a=1'), Buffer.from('b=2')] },
  'duplicates with nulls': { traceparent: [null, Buffer.from(PARENT)], tracestate: [null, null], 'x-null': [null, Buffer.from('v'), null] },
  'single null in an array': { traceparent: [null], tracestate: [Buffer.from('a=1')] },
};

function messagesFor(deps: PipelineDeps): { messages: SourceMessage[]; good: Set<number> } {
  const events = referenceCases().map((c) => c.event);
  const messages: SourceMessage[] = [];
  const good = new Set<number>();
  for (const [name, headers] of Object.entries(VARIANTS)) {
    for (const bad of [false, true]) {
      const event = bad ? { ...events[messages.length % events.length], channel: 'crypto_atm' } : events[messages.length % events.length];
      if (!bad) good.add(messages.length);
      messages.push({
        topic: 'in',
        partition: 0,
        offset: String(messages.length),
        key: Buffer.from(`${name}/${bad ? 'bad' : 'good'}`),
        value: deps.decoder.reader.toBuffer(event),
        headers,
        timestamp: '1767225600000',
      });
    }
  }
  return { messages, good };
}

function byKey(records: readonly OutputRecord[], key: Buffer | null): OutputRecord | undefined {
  return records.find((r) => r.key?.equals(key as Buffer));
}

/** Header names of a prediction: trace context and the model, nothing of the input's own. */
const PREDICTION_HEADERS = new Set(['traceparent', 'tracestate', H.modelName, H.modelVersion]);

/** What every output must satisfy, spans on or off; and every record must encode and decode as kafkajs sends it. */
async function assertOutputs(messages: readonly SourceMessage[], good: ReadonlySet<number>, predictions: readonly OutputRecord[], deadLetters: readonly OutputRecord[]): Promise<void> {
  assert.equal(predictions.length, good.size, 'every good event scored');
  assert.equal(deadLetters.length, messages.length - good.size, 'every bad event dead-lettered');
  messages.forEach((message, i) => {
    const name = message.key?.toString();
    if (good.has(i)) {
      const prediction = byKey(predictions, message.key);
      assert.ok(prediction, `prediction for ${name}`);
      for (const header of Object.keys(prediction.headers)) assert.ok(PREDICTION_HEADERS.has(header), `${name}: prediction header ${header}`);
      const parent = prediction.headers.traceparent;
      assert.ok(typeof parent === 'string' || Buffer.isBuffer(parent), `${name}: one traceparent, got ${String(parent)}`);
      assert.match(parent.toString(), VALID, `${name}: a valid traceparent`);
    } else {
      const deadLetter = byKey(deadLetters, message.key);
      assert.ok(deadLetter, `dead letter for ${name}`);
      assert.equal(deadLetter.headers[H.reasonCode], 'UNKNOWN_CATEGORY');
      for (const [header, value] of Object.entries(message.headers)) {
        assert.deepEqual(deadLetter.headers[header], value, `${name}: original header ${header} kept as received (null stays null)`);
      }
      assert.match(String(deadLetter.headers['scorer.traceparent']), VALID, `${name}: scorer.traceparent`);
      assert.notEqual(deadLetter.headers['scorer.tracestate'], null, `${name}: no null scorer.tracestate`);
    }
  });
  // The writer's split and kafkajs' own record encoding take them as they are.
  const requests = produceRequests([
    { topic: 'out', records: predictions },
    { topic: 'dlq', records: deadLetters },
  ]);
  assert.equal(requests.flat().reduce((n, t) => n + t.messages.length, 0), messages.length);
  for (const record of [...predictions, ...deadLetters]) {
    const decoded = await decodeRecordForTest(await encodeRecordForTest(record));
    assert.deepEqual(decoded.headers, plainHeaders(record.headers), `${record.key?.toString()}: headers after kafkajs encode/decode`);
  }
}

/** Headers as kafkajs decodes them: every value a Buffer (or null), repeated keys as arrays. */
function plainHeaders(headers: Headers): Record<string, Buffer | null | (Buffer | null)[]> {
  const out: Record<string, Buffer | null | (Buffer | null)[]> = {};
  const bytes = (v: Buffer | string | null): Buffer | null => (v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8'));
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    // On the wire a one-element array is one header: it reads back as a single value.
    out[name] = Array.isArray(value) ? (value.length === 1 ? bytes(value[0] as Buffer | string | null) : value.map(bytes)) : bytes(value);
  }
  return out;
}

describe('null header values: trace forwarding (no spans)', () => {
  it('a null traceparent is no traceparent: a new one is minted, nothing throws', () => {
    for (const parent of [null, [null], [null, null]]) {
      const headers = forwardTraceHeaders({ traceparent: parent, tracestate: 'a=1' });
      assert.deepEqual(Object.keys(headers), ['traceparent'], JSON.stringify(parent));
      assert.match(String(headers.traceparent), VALID);
    }
  });

  it('a null tracestate next to a valid traceparent is passed on unchanged, as null', () => {
    const parent = Buffer.from(PARENT);
    const headers = forwardTraceHeaders({ traceparent: parent, tracestate: null });
    assert.equal(headers.traceparent, parent);
    assert.ok('tracestate' in headers);
    assert.equal(headers.tracestate, null);
  });

  it('a duplicate traceparent (with or without nulls) mints a new one', () => {
    for (const parent of [[PARENT, PARENT], [null, PARENT], [PARENT, null]]) {
      const headers = forwardTraceHeaders({ traceparent: parent });
      assert.match(String(headers.traceparent), VALID);
      assert.notEqual(String(headers.traceparent), PARENT);
    }
  });
});

describe('null header values through processBatch', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let deps: PipelineDeps;
  before(async () => {
    telemetry = startTelemetry({ serviceName: 'test', serviceVersion: '0', spanProcessors: [new SimpleSpanProcessor(exporter)] });
    deps = { ...(await prepare(testConfig({ SCORE_BATCH_MAX_EVENTS: '4' }), createLogger('silent'))), tracer: trace.getTracer('test') };
  });
  after(() => telemetry.shutdown());

  it('spans off: one output per event, null headers kept in dead letters, predictions carry trace headers only', async () => {
    const { messages, good } = messagesFor(deps);
    exporter.reset();
    const processed = await processBatch({ ...deps, recordSpans: false }, messages);
    processed.finish();
    assert.equal(exporter.getFinishedSpans().length, 0);
    await assertOutputs(messages, good, processed.predictions, processed.deadLetters);
    // Passed on unchanged: the valid parent, and its null tracestate as null.
    const nullState = byKey(processed.predictions, Buffer.from('null tracestate/good'));
    assert.equal(String(nullState?.headers.traceparent), PARENT);
    assert.equal(nullState?.headers.tracestate, null);
    assert.ok(nullState && 'tracestate' in nullState.headers);
    assert.equal(byKey(processed.deadLetters, Buffer.from('null tracestate/bad'))?.headers['scorer.traceparent'], PARENT);
    // A null traceparent is none: a new trace, not the string "null".
    assert.notEqual(String(byKey(processed.predictions, Buffer.from('null traceparent/good'))?.headers.traceparent), 'null');
  });

  it('spans on: one output per event, the process span of a null traceparent starts a new trace', async () => {
    const { messages, good } = messagesFor(deps);
    exporter.reset();
    const processed = await processBatch({ ...deps, recordSpans: true }, messages);
    processed.finish();
    await assertOutputs(messages, good, processed.predictions, processed.deadLetters);
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'process in');
    assert.equal(spans.length, messages.length, 'a process span per message');
    const spanOf = (offset: number) => spans.find((s) => s.attributes['messaging.kafka.offset'] === offset);
    const offsetOf = (key: string): number => messages.findIndex((m) => m.key?.toString() === key);
    assert.equal(spanOf(offsetOf('null traceparent/good'))?.parentSpanContext, undefined, 'a root span');
    assert.equal(spanOf(offsetOf('null tracestate/good'))?.spanContext().traceId, TRACE_ID, 'a null tracestate does not lose the parent');
    assert.equal(spanOf(offsetOf('null custom headers/bad'))?.spanContext().traceId, TRACE_ID);
    const prediction = byKey(processed.predictions, Buffer.from('null tracestate/good'));
    assert.match(String(prediction?.headers.traceparent), new RegExp(`^00-${TRACE_ID}-`));
  });
});

describe('null header values in produce requests', () => {
  it('kafkajs encodes a null header value as null (length -1) and decodes it as null', async () => {
    const record: OutputRecord = { key: Buffer.from('k'), value: Buffer.from('v'), headers: { a: null, b: [Buffer.from('x'), null], c: 'text' } };
    const decoded = await decodeRecordForTest(await encodeRecordForTest(record));
    assert.deepEqual(decoded.headers, { a: null, b: [Buffer.from('x'), null], c: Buffer.from('text') });
  });

  it('counts a null header value as no bytes and never throws', () => {
    const record: OutputRecord = { key: null, value: Buffer.alloc(10), headers: { a: null, b: [null, Buffer.alloc(3)], c: 'x' } };
    const requests = produceRequests([{ topic: 't', records: [record, record] }], 1_000, 10);
    assert.equal(requests.length, 1);
    assert.equal(requests[0]?.[0]?.messages.length, 2);
  });
});
