import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type PipelineDeps, processBatch } from '../../src/pipeline';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { type Telemetry, startTelemetry } from '../../src/telemetry/sdk';
import { spansExported } from '../../src/telemetry/span-export';
import { forwardTraceHeaders, newTraceparent } from '../../src/telemetry/trace-forwarding';
import { mixedCases } from '../support/mixed';
import { referenceCases, testConfig } from '../support/model';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const VALID = /^00-[\da-f]{32}-[\da-f]{16}-00$/;

describe('trace context without recorded spans', () => {
  it('passes a valid traceparent and its tracestate on, byte for byte', () => {
    const parent = Buffer.from(PARENT);
    const state = Buffer.from('vendor=abc');
    const headers = forwardTraceHeaders({ traceparent: parent, tracestate: state, other: 'x' });
    assert.deepEqual(Object.keys(headers).sort(), ['traceparent', 'tracestate']);
    assert.equal(headers.traceparent, parent, 'the same Buffer, not a copy');
    assert.equal(headers.tracestate, state);
    assert.equal(forwardTraceHeaders({ traceparent: PARENT }).traceparent, PARENT);
  });

  it('mints a new, unsampled traceparent for a missing, malformed or all-zero one (and drops its tracestate)', () => {
    for (const source of [
      {},
      { traceparent: Buffer.from('not-a-traceparent'), tracestate: 'vendor=abc' },
      { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' },
      { traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      { traceparent: [PARENT, PARENT] },
    ]) {
      const headers = forwardTraceHeaders(source);
      assert.deepEqual(Object.keys(headers), ['traceparent'], JSON.stringify(source));
      assert.match(String(headers.traceparent), VALID);
    }
  });

  it('drops a tracestate longer than 512 characters, as the SDK propagator ignores one', () => {
    const parent = Buffer.from(PARENT);
    assert.deepEqual(Object.keys(forwardTraceHeaders({ traceparent: parent, tracestate: Buffer.alloc(513, 0x61) })), ['traceparent']);
    assert.deepEqual(Object.keys(forwardTraceHeaders({ traceparent: parent, tracestate: 'a'.repeat(600_000) })), ['traceparent']);
    assert.equal(String(forwardTraceHeaders({ traceparent: parent, tracestate: 'a'.repeat(512) }).tracestate).length, 512);
  });

  it('new trace ids do not repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i += 1) seen.add(newTraceparent().slice(3, 35));
    assert.equal(seen.size, 2_000);
  });
});

describe('pipeline with spans off (no exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let deps: PipelineDeps;
  before(async () => {
    telemetry = startTelemetry({ serviceName: 'test', serviceVersion: '0', spanProcessors: [new SimpleSpanProcessor(exporter)] });
    assert.equal(spansExported(), true, 'a span processor means spans go somewhere');
    deps = { ...(await prepare(testConfig({ SCORE_BATCH_MAX_EVENTS: '4' }), createLogger('silent'))), tracer: trace.getTracer('test'), recordSpans: false };
  });
  after(async () => {
    await telemetry.shutdown();
    assert.equal(spansExported(), false);
  });

  it('builds no span and carries each input trace context to its prediction or dead letter', async () => {
    const cases = mixedCases(deps.decoder.reader, referenceCases(), 'unit');
    const parents = cases.map((_, i) => (i % 2 === 0 ? Buffer.from(`00-${String(i + 1).padStart(32, 'a')}-00f067aa0ba902b7-01`) : undefined));
    const messages: SourceMessage[] = cases.map((c, i) => ({
      topic: 'in',
      partition: 0,
      offset: String(i),
      key: c.key,
      value: c.value,
      headers: parents[i] ? { ...c.headers, traceparent: parents[i] } : c.headers,
      timestamp: '1700000000000',
    }));
    exporter.reset();
    const processed = await processBatch(deps, messages);
    processed.finish();
    assert.equal(exporter.getFinishedSpans().length, 0, 'no span built');
    assert.equal(processed.predictions.length + processed.deadLetters.length, messages.length);
    assert.ok(processed.predictions.length > 0 && processed.deadLetters.length > 0);
    const minted = new Set<string>();
    const indexOf = (key: Buffer | null): number => messages.findIndex((m) => m.key?.equals(key as Buffer));
    for (const record of processed.predictions) {
      const index = indexOf(record.key);
      const parent = parents[index];
      if (parent) assert.equal(record.headers.traceparent, parent, `prediction ${index}: its input's traceparent, unchanged`);
      else {
        assert.match(String(record.headers.traceparent), VALID, `prediction ${index}: a new traceparent`);
        minted.add(String(record.headers.traceparent));
      }
    }
    // A dead letter keeps the input's headers as received; the context passed on goes under scorer.traceparent.
    for (const record of processed.deadLetters) {
      const index = indexOf(record.key);
      const parent = parents[index];
      if (parent) {
        assert.equal(record.headers.traceparent, parent, `dead letter ${index}: the input's traceparent, as received`);
        assert.equal(record.headers['scorer.traceparent'], parent.toString(), `dead letter ${index}: the context passed on`);
      } else {
        assert.match(String(record.headers['scorer.traceparent']), VALID, `dead letter ${index}: a new traceparent`);
        minted.add(String(record.headers['scorer.traceparent']));
      }
    }
    assert.equal(minted.size, parents.filter((p) => p === undefined).length, 'one new trace per message without one');
  });
});
