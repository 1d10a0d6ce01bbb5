import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import type avro from 'avsc';
import { DefectAttempts, DefectNotIsolated, describeError, internalError, isolateDefects } from '../../src/defects';
import { ServiceError } from '../../src/errors';
import { afterProcessing, failpointsFrom } from '../../src/failpoints';
import { classifyKafkaError } from '../../src/kafka/errors';
import { H } from '../../src/output/headers';
import { type PipelineDeps, type ProcessedBatch, processBatch } from '../../src/pipeline';
import type { Headers, OutputRecord, SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import type { EventDecoder } from '../../src/stages/decode';
import { createLogger } from '../../src/telemetry/logger';
import { mixedCases } from '../support/mixed';
import { referenceCases, testConfig } from '../support/model';

let deps: PipelineDeps;

before(async () => {
  // No span recorded (as without a trace exporter), and a fixed clock so that runs compare byte for byte.
  deps = { ...(await prepare(testConfig({ SCORE_BATCH_MAX_EVENTS: '4' }), createLogger('silent'))), tracer: trace.getTracer('test'), recordSpans: false, now: () => 1_700_000_100_000 };
});

const BUG = "Cannot read properties of undefined (reading 'toFixed')";

/**
 * The real decoder, except that the event it decodes from `culprit` bytes throws when the
 * check stage reads its amount: a stage that throws for one specific message, as a bug tripped
 * by a crafted record would.
 */
function decoderThrowingFor(real: EventDecoder, culprits: readonly Buffer[]): EventDecoder {
  const reader = {
    name: real.reader.name,
    decode(buffer: Buffer, position: number, resolver?: avro.Resolver): { value: unknown; offset: number } {
      const decoded = real.reader.decode(buffer, position, resolver) as { value: Record<string, unknown>; offset: number };
      if (!culprits.some((c) => c.equals(buffer))) return decoded;
      const event = { ...decoded.value };
      Object.defineProperty(event, 'amount', {
        enumerable: true,
        get() {
          throw new TypeError(BUG);
        },
      });
      return { value: event, offset: decoded.offset };
    },
  };
  return { reader: reader as unknown as avro.Type, resolver: real.resolver, bounds: real.bounds };
}

function sourceMessages(values: readonly { key: Buffer; value: Buffer | null; headers: Headers }[], firstOffset = 100): SourceMessage[] {
  return values.map((v, i) => ({ topic: 'in', partition: 2, offset: String(firstOffset + i), key: v.key, value: v.value, headers: v.headers, timestamp: String(1_700_000_000_000 + i) }));
}

/** The mixed batch (predictions and every kind of rejection) with culprits spliced in at `at`. */
function batchWithCulprits(at: readonly number[]): { messages: SourceMessage[]; culprits: SourceMessage[]; innocent: SourceMessage[] } {
  const reference = referenceCases();
  const cases = mixedCases(deps.decoder.reader, reference, 'defects');
  const rows: { key: Buffer; value: Buffer | null; headers: Headers; culprit: boolean }[] = cases.map((c) => ({ ...c, culprit: false }));
  at.forEach((position, n) => {
    // A valid event: only the stub makes it throw.
    const value = deps.decoder.reader.toBuffer({ ...reference[10 + n]?.event });
    rows.splice(position, 0, { key: Buffer.from(`culprit-${n}`), value, headers: { 'x-origin': Buffer.from([0xff, n]) }, culprit: true });
  });
  const messages = sourceMessages(rows);
  return { messages, culprits: messages.filter((_, i) => rows[i]?.culprit), innocent: messages.filter((_, i) => !rows[i]?.culprit) };
}

function headerText(record: OutputRecord, name: string): string | undefined {
  const value = record.headers[name];
  if (value === undefined) return undefined;
  return String(Array.isArray(value) ? value[value.length - 1] : value);
}

/** The input offset each output stands for, read back from the output itself. */
function predictionOffset(record: OutputRecord): string {
  return String((deps.prediction.type.fromBuffer(record.value as Buffer) as { source: { offset: number } }).source.offset);
}

describe('defects: an exception in the pipeline is isolated to the records it is thrown for', () => {
  it('dead-letters only the culprits as INTERNAL_ERROR and scores the rest of the batch as processBatch would, one output per input, in order', async () => {
    const { messages, culprits, innocent } = batchWithCulprits([3, 9]);
    const culpritValues = culprits.map((m) => m.value as Buffer);
    const stubbed: PipelineDeps = { ...deps, decoder: decoderThrowingFor(deps.decoder, culpritValues) };

    const thrown = await processBatch(stubbed, messages).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(thrown instanceof TypeError, 'the stub makes the whole batch throw');

    const isolated = await isolateDefects(stubbed, messages, thrown);
    const { processed } = isolated;
    processed.finish();

    // Exactly one output per input: every offset once, nothing else.
    const outputOffsets = [...processed.predictions.map(predictionOffset), ...processed.deadLetters.map((r) => headerText(r, H.sourceOffset) as string)];
    assert.equal(outputOffsets.length, messages.length);
    assert.deepEqual([...outputOffsets].sort(), messages.map((m) => m.offset).sort());
    // In order: predictions, and dead letters, each follow the input order.
    const predicted = processed.predictions.map((r) => Number(predictionOffset(r)));
    assert.deepEqual(predicted, [...predicted].sort((a, b) => a - b));

    // The culprits, and only they, are INTERNAL_ERROR, with the error class and message.
    assert.deepEqual(
      isolated.culprits.map((c) => c.offset),
      culprits.map((m) => m.offset),
    );
    const internal = processed.deadLetters.filter((r) => headerText(r, H.reasonCode) === 'INTERNAL_ERROR');
    assert.deepEqual(
      internal.map((r) => headerText(r, H.sourceOffset)),
      culprits.map((m) => m.offset),
    );
    for (const [i, record] of internal.entries()) {
      assert.equal(headerText(record, H.reasonStage), 'pipeline');
      assert.equal(headerText(record, H.reasonMessage), `processing this record threw TypeError: ${BUG}`);
      assert.ok(record.value?.equals(culpritValues[i] as Buffer), 'original bytes kept');
      assert.ok(record.key?.equals(culprits[i]?.key as Buffer));
      assert.ok(Buffer.isBuffer(record.headers['x-origin']), 'original headers kept');
      assert.match(headerText(record, 'scorer.traceparent') ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, 'the dead letter carries the trace context');
    }
    assert.equal(processed.rejections.filter((r) => r.code === 'INTERNAL_ERROR').length, culprits.length);

    // Everything else exactly as processBatch makes it for the same records without the culprits.
    const reference = await processBatch(deps, innocent);
    reference.finish();
    assert.deepEqual(
      processed.predictions.map((r) => r.value),
      reference.predictions.map((r) => r.value),
      'same predictions, same order',
    );
    const others = processed.deadLetters.filter((r) => headerText(r, H.reasonCode) !== 'INTERNAL_ERROR');
    assert.deepEqual(
      others.map((r) => [headerText(r, H.sourceOffset), headerText(r, H.reasonCode)]),
      reference.deadLetters.map((r) => [headerText(r, H.sourceOffset), headerText(r, H.reasonCode)]),
      'same rejections',
    );

    // Metrics and drift read the observation by batch index: the chunks must point at the scored messages.
    const observedScored = new Set<string>();
    for (const chunk of processed.observation.chunks) {
      chunk.rows.forEach((row, r) => {
        if (!chunk.rowRejections[r]) observedScored.add((messages[chunk.from + row] as SourceMessage).offset);
      });
    }
    assert.deepEqual([...observedScored].sort(), processed.predictions.map(predictionOffset).sort());

    // The cost is bounded: two culprits among 13 messages, a few halvings each.
    assert.ok(isolated.runs <= 2 * 2 * Math.ceil(Math.log2(messages.length)), `runs ${isolated.runs}`);
  });

  it('a batch of one that throws is its own culprit, without processing it again', async () => {
    const { culprits } = batchWithCulprits([0]);
    const stubbed: PipelineDeps = { ...deps, decoder: decoderThrowingFor(deps.decoder, culprits.map((m) => m.value as Buffer)) };
    let runs = 0;
    const isolated = await isolateDefects(stubbed, culprits, new TypeError(BUG), (part) => {
      runs += 1;
      return processBatch(stubbed, part);
    });
    assert.equal(runs, 0);
    assert.equal(isolated.processed.predictions.length, 0);
    assert.deepEqual(isolated.processed.rejections.map((r) => r.code), ['INTERNAL_ERROR']);
  });

  it('a batch that throws as a whole but for none of its records alone is scored in parts, with no dead letter', async () => {
    const { innocent } = batchWithCulprits([]);
    let calls = 0;
    const flaky = (part: readonly SourceMessage[]): Promise<ProcessedBatch> => {
      calls += 1;
      if (part.length === innocent.length) throw new RangeError('only the whole batch fails');
      return processBatch(deps, part);
    };
    const isolated = await isolateDefects(deps, innocent, new RangeError('only the whole batch fails'), flaky);
    assert.equal(isolated.culprits.length, 0);
    assert.equal(calls, 2, 'two halves');
    const whole = await processBatch(deps, innocent);
    assert.deepEqual(
      isolated.processed.predictions.map((r) => r.value),
      whole.predictions.map((r) => r.value),
    );
    assert.equal(isolated.processed.deadLetters.length, whole.deadLetters.length);
  });

  it('a record that breaks the trace machinery still leaves, as a dead letter without the scorer\'s trace context', async () => {
    const { innocent } = batchWithCulprits([]);
    // Reading its traceparent throws (it is not listed among the keys, so copying the headers works).
    const headers = new Proxy({ 'x-origin': Buffer.from('kept') } as Headers, {
      get(target, name) {
        if (name === 'traceparent') throw new TypeError('header getter exploded');
        return Reflect.get(target, name);
      },
    });
    const poisoned: SourceMessage = { ...(innocent[0] as SourceMessage), offset: '99', key: Buffer.from('poisoned'), headers };
    const messages = [poisoned, ...innocent];
    const thrown = await processBatch(deps, messages).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(thrown instanceof TypeError);
    const isolated = await isolateDefects(deps, messages, thrown);
    assert.deepEqual(isolated.culprits.map((c) => c.offset), ['99']);
    const record = isolated.processed.deadLetters.find((r) => headerText(r, H.sourceOffset) === '99') as OutputRecord;
    assert.equal(headerText(record, H.reasonCode), 'INTERNAL_ERROR');
    assert.match(headerText(record, H.reasonMessage) as string, /TypeError: header getter exploded/);
    assert.equal(record.headers['scorer.traceparent'], undefined);
    assert.equal(isolated.processed.predictions.length + isolated.processed.deadLetters.length, messages.length);
  });

  it('a record whose dead letter cannot be built either is not isolated: DefectNotIsolated, classified a defect', async () => {
    const { innocent } = batchWithCulprits([]);
    const broken = new Proxy({} as Headers, {
      ownKeys() {
        throw new TypeError('headers cannot be listed');
      },
      get() {
        throw new TypeError('headers cannot be read');
      },
    });
    const messages = [...innocent, { ...(innocent[0] as SourceMessage), offset: '500', headers: broken }];
    const thrown = await processBatch(deps, messages).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(thrown instanceof TypeError);
    await assert.rejects(isolateDefects(deps, messages, thrown), (error: unknown) => {
      assert.ok(error instanceof DefectNotIsolated);
      assert.match(error.message, /^in\[2\] offset 500: processing threw TypeError: headers cannot be (listed|read), and its INTERNAL_ERROR dead letter could not be built either: TypeError: headers cannot be (listed|read)$/);
      assert.equal(classifyKafkaError(error), 'defect');
      return true;
    });
  });
});

describe('defects: the FAILPOINT_* settings (testing)', () => {
  it('FAILPOINT_THROW_ON_KEY makes processing throw for the batch holding that key, and isolation dead-letters just that record', async () => {
    const { innocent } = batchWithCulprits([]);
    const target = innocent[4] as SourceMessage;
    const withFailpoint: PipelineDeps = { ...deps, failpoints: failpointsFrom({ failpointThrowOnKey: (target.key as Buffer).toString(), failpointUnencodableKey: undefined }) };
    await assert.rejects(processBatch(withFailpoint, innocent), TypeError);
    await processBatch(withFailpoint, innocent.filter((m) => m !== target)).then((p) => p.finish());
    const isolated = await isolateDefects(withFailpoint, innocent, new TypeError('failpoint'));
    assert.deepEqual(isolated.culprits.map((c) => c.offset), [target.offset]);
    assert.equal(isolated.processed.predictions.length + isolated.processed.deadLetters.length, innocent.length);
  });

  it('is off unless set, and FAILPOINT_UNENCODABLE_KEY spoils only the outputs of that key', () => {
    assert.equal(failpointsFrom({ failpointThrowOnKey: undefined, failpointUnencodableKey: undefined }), undefined);
    const failpoints = failpointsFrom({ failpointThrowOnKey: undefined, failpointUnencodableKey: 'k1' });
    assert.ok(failpoints);
    const records: OutputRecord[] = [
      { key: Buffer.from('k1'), value: Buffer.from('a'), headers: {} },
      { key: Buffer.from('k2'), value: Buffer.from('b'), headers: {} },
    ];
    afterProcessing(failpoints, [records[0] as OutputRecord], [records[1] as OutputRecord]);
    assert.ok('scorer.failpoint' in (records[0] as OutputRecord).headers);
    assert.deepEqual((records[1] as OutputRecord).headers, {});
  });
});

describe('defects: what cannot be isolated stops the service after DEFECT_MAX_ATTEMPTS', () => {
  const batch = (first: number, partition = 2): SourceMessage[] =>
    [first, first + 1, first + 2].map((o) => ({ topic: 'in', partition, offset: String(o), key: null, value: null, headers: {}, timestamp: '0' }));
  const writerBug = new TypeError('The "string" argument must be of type string or an instance of Buffer or ArrayBuffer. Received [Object: null prototype] {}');

  it('retries the same batch, then stops with INTERNAL_DEFECT naming topic, partition, offsets and the error', () => {
    const attempts = new DefectAttempts(3);
    assert.deepEqual(attempts.failed(batch(40), writerBug), { attempt: 1 });
    assert.deepEqual(attempts.failed(batch(40), writerBug), { attempt: 2 });
    const { attempt, stop } = attempts.failed(batch(40), writerBug);
    assert.equal(attempt, 3);
    assert.ok(stop instanceof ServiceError);
    assert.equal(stop.code, 'INTERNAL_DEFECT');
    assert.match(stop.message, /^INTERNAL_DEFECT: in\[2\] offsets 40\.\.42 failed 3 time\(s\) in a row \(DEFECT_MAX_ATTEMPTS=3\) with TypeError: The "string" argument/);
    assert.match(stop.message, /Nothing from offset 40 on was committed/);
    assert.equal(stop.cause, writerBug);
  });

  it('counts per partition and position: a partition that moved on starts again from one', () => {
    const attempts = new DefectAttempts(2);
    assert.equal(attempts.failed(batch(40), writerBug).attempt, 1);
    assert.equal(attempts.failed(batch(40, 3), writerBug).attempt, 1, 'another partition');
    assert.equal(attempts.failed(batch(43), writerBug).attempt, 1, 'the partition moved on');
    assert.ok(attempts.failed(batch(43), writerBug).stop);
  });

  it('DEFECT_MAX_ATTEMPTS=1 stops at the first defect', () => {
    assert.ok(new DefectAttempts(1).failed(batch(0), writerBug).stop);
  });
});

describe('defects: describing the error', () => {
  it('names the class, even of a subclass that did not set its name, and caps the text', () => {
    class StageBug extends Error {}
    assert.equal(describeError(new StageBug('oops')), 'StageBug: oops');
    assert.equal(describeError(new TypeError('x')), 'TypeError: x');
    assert.equal(describeError('a string'), 'non-Error value thrown (string): a string');
    assert.equal(describeError(Object.create(null)), 'an error that cannot be rendered as text');
    const long = describeError(new Error('y'.repeat(2_000)));
    assert.equal(long.length, 501);
    assert.ok(long.endsWith('…'));
  });

  it('the INTERNAL_ERROR rejection carries the class and message in the catalogue stage', () => {
    assert.deepEqual(internalError(new TypeError('x')), { code: 'INTERNAL_ERROR', stage: 'pipeline', message: 'processing this record threw TypeError: x' });
  });
});
