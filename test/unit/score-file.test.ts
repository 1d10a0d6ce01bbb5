import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import avro from 'avsc';
import { openContainer } from '../../src/batch/container-read';
import { ContainerWriter } from '../../src/batch/container-write';
import type { FileDeadLetter } from '../../src/batch/file-sink';
import { ProgressReporter, progressLine } from '../../src/batch/progress';
import { fileSource } from '../../src/batch/file-source';
import { scoreFile } from '../../src/batch/score-file';
import { type BatchSink, type BatchSource, EXIT_DEAD_LETTERS, exitCodeOf } from '../../src/batch/types';
import { ServiceError } from '../../src/errors';
import { type ProcessedBatch, processBatch } from '../../src/pipeline';
import { failpointsFrom } from '../../src/failpoints';
import { runBatchJob } from '../../src/batch/run';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { createLogger } from '../../src/telemetry/logger';
import { readContainerFile, writeContainerFile } from '../support/container';
import { INPUT_SCHEMA, ROOT, referenceCases, testConfig } from '../support/model';
import { runCli } from '../support/processes';

interface Prediction {
  event_id: string;
  score: number;
  probabilities: number[];
  label: string | null;
  source: { topic: string; partition: number; offset: number };
}

const logger = createLogger('silent');
const dir = mkdtempSync(join(tmpdir(), 'score-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const type = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
const reference = referenceCases();
/** The reference events, with bad ones at known positions. */
const bad = [
  { at: 7, event: { ...reference[7]?.event, country: 'ZZ' }, code: 'UNKNOWN_CATEGORY', field: 'country' },
  { at: 50, event: { ...reference[50]?.event, channel: 'crypto_atm' }, code: 'UNKNOWN_CATEGORY', field: 'channel' },
  { at: 123, event: { ...reference[123]?.event, merchant_category: null }, code: 'MISSING_FIELD', field: 'merchant_category' },
  { at: 299, event: { ...reference[299]?.event, distance_from_home_km: null }, code: 'MISSING_FIELD', field: 'distance_from_home_km' },
];
const events: Record<string, unknown>[] = reference.map((c) => ({ ...c.event }));
for (const b of bad) events.splice(b.at, 0, b.event);
const badAt = new Map(bad.map((b) => [b.at, b]));
const goodCases = events.map((e, i) => ({ e, i })).filter(({ i }) => !badAt.has(i));

describe('score-file: an Avro container file through processBatch', () => {
  const input = join(dir, 'payments.avro');
  const out = join(dir, 'out');
  let predictions: Prediction[];
  let deadLetters: FileDeadLetter[];
  let exitCode: number;

  before(async () => {
    // Small blocks: records of one batch span several blocks and batches split blocks.
    await writeContainerFile(input, type, events, { codec: 'deflate', blockSize: 4096 });
    const summary = await scoreFile(testConfig({ SCORE_BATCH_MAX_EVENTS: '64' }), logger, { input, outDir: out });
    exitCode = exitCodeOf(summary);
    assert.equal(summary.events, events.length);
    assert.equal(summary.predictions, reference.length);
    assert.equal(summary.deadLetters, bad.length);
    assert.deepEqual(summary.reasons, { UNKNOWN_CATEGORY: 2, MISSING_FIELD: 2 });
    predictions = (await readContainerFile(join(out, 'payments.predictions.avro'))) as Prediction[];
    deadLetters = (await readContainerFile(join(out, 'payments.dead-letters.avro'))) as FileDeadLetter[];
  });

  it('gives the Python reference scores (within 1e-5), one prediction per good event, in file order', () => {
    assert.equal(predictions.length, reference.length);
    let worst = 0;
    predictions.forEach((p, k) => {
      const expected = reference[k];
      assert.ok(expected);
      assert.equal(p.event_id, expected.event.event_id);
      assert.equal(p.label, String(expected.label));
      assert.deepEqual({ ...p.source }, { topic: 'payments.avro', partition: 0, offset: goodCases[k]?.i });
      worst = Math.max(worst, Math.abs(p.score - expected.probabilities[1]), Math.abs((p.probabilities[0] as number) - expected.probabilities[0]));
    });
    assert.ok(worst <= 1e-5, `max |node - python| = ${worst}`);
  });

  it('dead-letters the bad events with their reasons, fields, positions and original bytes', () => {
    assert.equal(deadLetters.length, bad.length);
    for (const [k, b] of bad.entries()) {
      const letter = deadLetters[k];
      assert.ok(letter);
      assert.equal(letter.reason_code, b.code);
      assert.equal(letter.reason_field, b.field);
      assert.equal(letter.source.offset, b.at);
      assert.equal(letter.source.topic, 'payments.avro');
      assert.ok(letter.value?.equals(type.toBuffer(b.event)), 'the event bytes as written in the file');
      assert.equal(letter.model_name, 'card-fraud');
      assert.ok(letter.reason_message.length > 0);
    }
    assert.equal(exitCode, EXIT_DEAD_LETTERS);
  });

  it('scores exactly (===) what processBatch gives for the same events as Kafka messages', async () => {
    const prepared = await prepare(testConfig(), logger);
    const deps = { ...prepared, tracer: trace.getTracer('test') };
    const messages: SourceMessage[] = events.map((e, i) => ({ topic: 'payments.avro', partition: 0, offset: String(i), key: null, value: type.toBuffer(e), headers: {}, timestamp: '0' }));
    const processed = await processBatch(deps, messages);
    processed.finish();
    const predictionType = loadSchema(join(ROOT, 'schemas/prediction.avsc'), 'PREDICTION_SCHEMA');
    const streamed = processed.predictions.map((r) => predictionType.fromBuffer(r.value as Buffer) as Prediction);
    assert.equal(streamed.length, predictions.length);
    streamed.forEach((s, k) => {
      assert.equal(predictions[k]?.score, s.score);
      assert.deepEqual(predictions[k]?.probabilities, s.probabilities);
      assert.deepEqual({ ...predictions[k]?.source }, { ...s.source });
    });
    assert.deepEqual(processed.rejections.map((r) => r.code), bad.map((b) => b.code));
  });

  it('exits 0 (no dead letters) for a clean file written without compression', async () => {
    const clean = join(dir, 'clean.avro');
    await writeContainerFile(clean, type, reference.slice(0, 40).map((c) => c.event), { codec: 'null' });
    const summary = await scoreFile(testConfig(), logger, { input: clean });
    assert.equal(exitCodeOf(summary), 0);
    assert.equal((await readContainerFile(join(dir, 'clean.predictions.avro'))).length, 40);
    assert.equal((await readContainerFile(join(dir, 'clean.dead-letters.avro'))).length, 0);
  });
});

describe('score-file: writer schemas', () => {
  const schema = JSON.parse(readFileSync(INPUT_SCHEMA, 'utf8')) as { fields: { name: string; type: unknown }[] } & Record<string, unknown>;

  it('resolves a different writer schema (extra field, other field order) into INPUT_SCHEMA', async () => {
    const writerSchema = { ...schema, fields: [{ name: 'batch_note', type: 'string' }, ...[...schema.fields].reverse()] };
    const writer = avro.Type.forSchema(writerSchema as avro.Schema);
    const file = join(dir, 'evolved.avro');
    await writeContainerFile(file, writer, reference.slice(0, 30).map((c) => ({ ...c.event, batch_note: 'x'.repeat(5) })));
    const summary = await scoreFile(testConfig(), logger, { input: file });
    assert.equal(summary.predictions, 30);
    const scored = (await readContainerFile(join(dir, 'evolved.predictions.avro'))) as Prediction[];
    scored.forEach((p, k) => assert.ok(Math.abs(p.score - (reference[k]?.probabilities[1] as number)) <= 1e-5));
  });

  it('refuses a writer schema without a field the model reads, naming the file and field', async () => {
    const writer = avro.Type.forSchema({ ...schema, fields: schema.fields.filter((f) => f.name !== 'amount') } as avro.Schema);
    const file = join(dir, 'no-amount.avro');
    const { amount: _amount, ...rest } = reference[0]?.event as Record<string, unknown>;
    await writeContainerFile(file, writer, [rest]);
    await assert.rejects(scoreFile(testConfig(), logger, { input: file }), (error: unknown) => error instanceof ServiceError && /no-amount\.avro/.test(error.message) && /amount/.test(error.message) && error.message.startsWith('CONTRACT_MISMATCH'));
    assert.ok(!existsSync(join(dir, 'no-amount.predictions.avro')));
  });

  it('refuses a writer schema that cannot be resolved (a type Avro cannot promote)', async () => {
    const writer = avro.Type.forSchema({ ...schema, fields: schema.fields.map((f) => (f.name === 'amount' ? { name: 'amount', type: 'string' } : f)) } as avro.Schema);
    const file = join(dir, 'string-amount.avro');
    await writeContainerFile(file, writer, [{ ...reference[0]?.event, amount: '12.5' }]);
    await assert.rejects(scoreFile(testConfig(), logger, { input: file }), (error: unknown) => error instanceof ServiceError && error.message.startsWith('SCHEMA_INVALID') && /string-amount\.avro/.test(error.message));
  });
});

describe('score-file: unreadable files', () => {
  it('names the file when it is missing, not Avro, or truncated; leaves no output under the final names', async () => {
    await assert.rejects(scoreFile(testConfig(), logger, { input: join(dir, 'missing.avro') }), /missing\.avro: cannot open/);
    const notAvro = join(dir, 'not-avro.avro');
    writeFileSync(notAvro, '{"event_id": "x"}\n');
    await assert.rejects(scoreFile(testConfig(), logger, { input: notAvro }), /not-avro\.avro: not a readable Avro container file: no Avro magic/);
    const whole = join(dir, 'whole.avro');
    await writeContainerFile(whole, type, reference.map((c) => c.event), { codec: 'null', blockSize: 4096 });
    const cut = join(dir, 'cut.avro');
    const bytes = readFileSync(whole);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await assert.rejects(scoreFile(testConfig(), logger, { input: cut }), /cut\.avro: not a readable Avro container file: block \d+ \(after record \d+\): truncated/);
    assert.ok(!existsSync(join(dir, 'cut.predictions.avro')));
    assert.ok(!existsSync(join(dir, 'cut.predictions.avro.partial')));
  });
});

describe('container files: the scorer writer, read by avsc and by the scorer reader', () => {
  it('round-trips encoded records across blocks, both codecs', async () => {
    for (const codec of ['null', 'deflate'] as const) {
      const file = join(dir, `rt-${codec}.avro`);
      const writer = new ContainerWriter(file, readFileSync(INPUT_SCHEMA, 'utf8'), codec);
      for (const c of reference) await writer.append(type.toBuffer(c.event));
      await writer.close();
      const read = (await readContainerFile(file)) as { event_id: string }[];
      assert.deepEqual(read.map((r) => r.event_id), reference.map((c) => c.event.event_id));
      const reader = await openContainer(file);
      const raw: Buffer[] = [];
      for await (const record of reader.records()) raw.push(record.bytes);
      await reader.close();
      assert.equal(raw.length, reference.length);
      raw.forEach((b, i) => assert.ok(b.equals(type.toBuffer(reference[i]?.event))));
    }
  });

  it('progress line: rate, share and ETA', () => {
    const line = progressLine({ events: 1000, deadLetters: 3 }, { done: 25, total: 100, unit: 'events' }, 10);
    assert.match(line, /1000 events, 3 dead-lettered, 100 events\/s, 10s elapsed, 25\.0% \(25 of 100\), ETA 30s/);
  });
});

describe('score-file: a container file written by fastavro (another Avro library)', () => {
  const fixture = join(ROOT, 'test/fixtures/payments-fastavro.avro');
  const out = join(dir, 'fastavro');

  it('reads it (deflate, several blocks) and scores it like the reference; dead-letters the bad ones', async () => {
    const summary = await scoreFile(testConfig({ SCORE_BATCH_MAX_EVENTS: '16' }), logger, { input: fixture, outDir: out });
    assert.deepEqual({ events: summary.events, predictions: summary.predictions, reasons: summary.reasons }, { events: 50, predictions: 45, reasons: { UNKNOWN_CATEGORY: 3, MISSING_FIELD: 2 } });
    const scored = (await readContainerFile(join(out, 'payments-fastavro.predictions.avro'))) as Prediction[];
    scored.forEach((p, k) => {
      assert.equal(p.event_id, reference[k]?.event.event_id);
      assert.ok(Math.abs(p.score - (reference[k]?.probabilities[1] as number)) <= 1e-5, `event ${k}`);
    });
    const letters = (await readContainerFile(join(out, 'payments-fastavro.dead-letters.avro'))) as FileDeadLetter[];
    assert.deepEqual(letters.map((l) => [l.source.offset, l.reason_code, l.reason_field]), [
      [45, 'UNKNOWN_CATEGORY', 'country'],
      [46, 'UNKNOWN_CATEGORY', 'country'],
      [47, 'UNKNOWN_CATEGORY', 'country'],
      [48, 'MISSING_FIELD', 'merchant_category'],
      [49, 'MISSING_FIELD', 'merchant_category'],
    ]);
  });

  const python = '/work/main/.cache/venv-check/bin/python';
  it('writes outputs fastavro reads back', { skip: existsSync(python) ? false : `no fastavro venv at ${python}` }, () => {
    const script = 'import sys, fastavro\nfor p in sys.argv[1:]:\n    with open(p, "rb") as f:\n        print(sum(1 for _ in fastavro.reader(f)))';
    const result = spawnSync(python, ['-c', script, join(out, 'payments-fastavro.predictions.avro'), join(out, 'payments-fastavro.dead-letters.avro')], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), ['45', '5']);
  });
});

describe('score-file: the CLI as a process', () => {
  it('exit 4 with a summary when something was dead-lettered; one progress line per interval on a non-TTY', async () => {
    const out = join(dir, 'cli');
    const run = runCli(['score-file', join(ROOT, 'test/fixtures/payments-fastavro.avro'), '--out', out], { LOG_LEVEL: 'warn' });
    assert.equal(await run.exit, 4, run.output());
    assert.match(run.output(), /events: +50\nscored: +45\ndead-lettered: 5\n {2}UNKNOWN_CATEGORY: 3\n {2}MISSING_FIELD: 2\ntime: .*events\/s/);
    assert.ok(existsSync(join(out, 'payments-fastavro.predictions.avro')));
  });

  it('exit 1 naming the file for an unreadable file, exit 2 for a bad command line', async () => {
    const bad = join(dir, 'cli-bad.avro');
    writeFileSync(bad, 'Obj\u0001');
    const run = runCli(['score-file', bad], { LOG_LEVEL: 'warn' });
    assert.equal(await run.exit, 1);
    assert.match(run.output(), /stream-scorer: SCHEMA_INVALID: .*cli-bad\.avro: not a readable Avro container file: the header is truncated/);
    const usage = runCli(['score-file'], { LOG_LEVEL: 'warn' });
    assert.equal(await usage.exit, 2);
    assert.match(usage.output(), /score-file takes one input file, got 0\nusage: stream-scorer score-file/);
  });

  it('progress reporter: lines at the interval on a non-TTY, one redrawn line on a TTY', async () => {
    const written: string[] = [];
    const sink = { write: (s: string) => written.push(s) > 0, isTTY: false } as unknown as NodeJS.WritableStream;
    const reporter = new ProgressReporter({ out: sink, intervalMs: 20 }, () => ({ events: 10, deadLetters: 1 }), () => ({ done: 1, total: 2, unit: 'bytes' }));
    reporter.start();
    await new Promise((r) => setTimeout(r, 110));
    reporter.stop();
    assert.ok(written.length >= 3, `${written.length} lines`);
    assert.ok(written.every((l) => /^progress: 10 events, 1 dead-lettered, .*50\.0%.*ETA .*\n$/.test(l)), written[0]);
    const tty: string[] = [];
    const terminal = { write: (s: string) => tty.push(s) > 0, isTTY: true } as unknown as NodeJS.WritableStream;
    const redraw = new ProgressReporter({ out: terminal }, () => ({ events: 1, deadLetters: 0 }), () => ({ done: 0, total: undefined, unit: 'events' }));
    redraw.report();
    redraw.stop();
    assert.deepEqual(tty.map((s) => s.startsWith('\r\x1b[2K') && !s.endsWith('\n')), [true, true]);
  });
});

describe('batch job: source → processBatch → sink', () => {
  it('a record processing throws for becomes one INTERNAL_ERROR dead letter; the rest of its batch is scored', async () => {
    const config = testConfig({ FAILPOINT_THROW_ON_KEY: 'boom' });
    const prepared = await prepare(config, logger);
    const deps = { ...prepared, tracer: trace.getTracer('test'), failpoints: failpointsFrom(config) };
    const messages: SourceMessage[] = reference.slice(0, 6).map((c, i) => ({ topic: 't', partition: 0, offset: String(i), key: Buffer.from(i === 3 ? 'boom' : `k${i}`), value: type.toBuffer(c.event), headers: {}, timestamp: '0' }));
    const source: BatchSource = { description: 'six', progress: () => ({ done: 0, total: undefined, unit: 'events' }), forEachBatch: (onBatch) => onBatch(messages) };
    const written: ProcessedBatch[] = [];
    const sink: BatchSink = { destinations: [], write: async (_m, p) => void written.push(p), close: async () => undefined, abort: async () => undefined };
    const summary = await runBatchJob(deps, source, sink);
    assert.deepEqual({ predictions: summary.predictions, reasons: summary.reasons }, { predictions: 5, reasons: { INTERNAL_ERROR: 1 } });
    assert.equal(written[0]?.deadLetters[0]?.key?.toString(), 'boom');
  });
});

describe('file source: streamed, not read whole', () => {
  it('hands out the first batch after reading a small part of a multi-megabyte file, and every record once', async () => {
    const file = join(dir, 'big.avro');
    const events = Array.from({ length: 40_000 }, (_, i) => ({ ...reference[i % reference.length]?.event, event_id: `big-${i}` }));
    await writeContainerFile(file, type, events, { codec: 'null' });
    const reader = await openContainer(file);
    const source = fileSource(file, reader, 500);
    const readWhenFirst: number[] = [];
    let records = 0;
    await source.forEachBatch(async (batch) => {
      if (records === 0) readWhenFirst.push(reader.bytesRead());
      assert.equal(batch[0]?.offset, String(records));
      records += batch.length;
    });
    await reader.close();
    assert.equal(records, events.length);
    assert.ok(reader.size > 5 * 2 ** 20, `a file of ${reader.size} bytes`);
    assert.ok((readWhenFirst[0] as number) <= 1.25 * 2 ** 20, `read ${readWhenFirst[0]} of ${reader.size} bytes before the first batch`);
    assert.equal(source.progress().done, reader.size);
  });
});
