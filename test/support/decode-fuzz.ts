/**
 * Fuzzing of the decode stage (test/unit/decode-fuzz.test.ts, scripts/fuzz-decode.ts): valid
 * encodings of seeded random values, then mutated (bytes flipped or set, huge varints inserted or
 * written over the bytes, truncation, appended or deleted bytes), plus some plain random bytes,
 * each through decodeBatch alone. What must hold for every payload: nothing throws out of
 * decodeBatch; the result is exactly one event or one rejection with a decode-stage code; an
 * accepted event is what plain avsc decodes from the same bytes; an unmutated valid encoding is
 * accepted; no event takes more than `maxEventMs`; and memory does not grow with the cases.
 *
 * The cases run in a worker thread (fuzzInWorker): a decode that never returns cannot be stopped
 * from its own thread, so the main thread watches a shared counter and terminates a worker whose
 * current case has not finished within `stallMs`, reporting that case's bytes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import avro from 'avsc';
import fc from 'fast-check';
import { createDecoder, decodeBatch, loadSchema } from '../../src/stages/decode';
import { avroArbitrary } from './avro-arbitrary';
import { avroLong } from './avro-bytes';

export interface FuzzTarget {
  readonly name: string;
  /** The schema the bytes are written with. */
  readonly writer: avro.Type;
  /** The schema they are read into, when it differs (the resolver path: avsc skips the fields it drops). */
  readonly reader?: avro.Type;
}

const ROOT = join(__dirname, '..', '..');

/**
 * What the unit test and scripts/fuzz-decode.ts fuzz, with the share of the runs each gets: the
 * project's input schema, the array/map test schema, and that schema through a resolver (a reader
 * that keeps only some fields, so avsc skips the others, by block size where one is given). The
 * resolver path shares the fixture's bytes: a fifth of the runs covers it.
 */
export function fuzzTargets(): { readonly target: FuzzTarget; readonly share: number }[] {
  const fixture = avro.Type.forSchema(JSON.parse(readFileSync(join(ROOT, 'test/fixtures/bounds-event.avsc'), 'utf8')) as avro.Schema);
  const fixtureReader = avro.Type.forSchema({
    type: 'record',
    name: 'Order',
    namespace: 'io.streamscorer.test',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'tags', type: { type: 'array', items: 'string' } },
      { name: 'created', type: 'long' },
    ],
  } as avro.Schema);
  return [
    { target: { name: 'payment-event.avsc', writer: loadSchema(join(ROOT, 'schemas/payment-event.avsc'), 'INPUT_SCHEMA') }, share: 1 },
    { target: { name: 'bounds-event.avsc', writer: fixture }, share: 1 },
    { target: { name: 'bounds-event.avsc read with fewer fields', writer: fixture, reader: fixtureReader }, share: 0.2 },
  ];
}

export interface FuzzOptions {
  readonly seed: number;
  readonly runs: number;
  /** The slowest a single event may take (wall time, least of 3 tries when over 1 ms: the machine is shared). */
  readonly maxEventMs: number;
  /** The most RSS may grow over the run; over it, what a full GC leaves (heap and buffers) must still be under it. */
  readonly maxRssGrowthMb: number;
}

export interface FuzzFigures {
  readonly name: string;
  readonly seed: number;
  readonly cases: number;
  readonly accepted: number;
  /** Rejections by the kind of message (the limit hit, or avsc's own error). */
  readonly rejected: Record<string, number>;
  readonly slowestEventUs: number;
  /** The slowest first try, before the retries that tell a slow event from a pause (GC, the shared machine). */
  readonly slowestFirstTryUs: number;
  /** What the slowest case was, for reproducing it (hex, capped). */
  readonly slowestPayload: string;
  readonly peakRssGrowthMb: number;
  readonly peakHeapGrowthMb: number;
  readonly seconds: number;
}

/** Block counts and lengths that make plain avsc allocate or loop: the point of the bounds. */
const HOSTILE = [10n ** 8n, -(10n ** 9n), 2n ** 62n, -(2n ** 62n), 10n ** 11n, -(10n ** 11n), 2n ** 31n, 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n), 10n ** 7n, 10n ** 6n, 1_048_577n, 65_536n, -1n];

const varint: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE).map(avroLong) },
  { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(avroLong) },
  { weight: 2, arbitrary: fc.integer({ min: -300, max: 300 }).map(avroLong) },
  // A negative block count followed by a block size, small or huge.
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...HOSTILE), fc.oneof(fc.integer({ min: -8, max: 64 }).map(BigInt), fc.constantFrom(...HOSTILE))).map(([n, size]) => Buffer.concat([avroLong(n < 0n ? n : -n), avroLong(size)])) },
  // Longer than any 64-bit number: avsc's reader switches to float arithmetic and can reach Infinity or NaN.
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 200 }).map((k) => Buffer.concat([Buffer.alloc(k, 0xff), Buffer.from([0x01])])) },
);

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly mask: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'insert' | 'overwrite'; readonly at: number; readonly bytes: Buffer }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'append'; readonly bytes: Buffer }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number };

const at = fc.nat();
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at, mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), at, value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('insert' as const, 'overwrite' as const), at, bytes: varint }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('insert' as const, 'overwrite' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('append' as const), bytes: fc.oneof(varint, fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.from(a))) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 8 }) }) },
);

function mutate(value: Buffer, m: Mutation): Buffer {
  const i = 'at' in m ? m.at % (value.length + 1) : value.length;
  switch (m.kind) {
    case 'flip':
    case 'set': {
      if (value.length === 0) return value;
      const out = Buffer.from(value);
      const j = i % value.length;
      out[j] = m.kind === 'flip' ? (out[j] as number) ^ m.mask : m.value;
      return out;
    }
    case 'insert':
      return Buffer.concat([value.subarray(0, i), m.bytes, value.subarray(i)]);
    case 'overwrite':
      return Buffer.concat([value.subarray(0, i), m.bytes, value.subarray(Math.min(value.length, i + m.bytes.length))]);
    case 'truncate':
      return value.subarray(0, i);
    case 'append':
      return Buffer.concat([value, m.bytes]);
    case 'delete':
      return Buffer.concat([value.subarray(0, i), value.subarray(i + m.length)]);
  }
}

export interface FuzzCase {
  readonly payload: Buffer;
  /** An unmutated valid encoding: must decode. */
  readonly valid: boolean;
}

export function payloadArbitrary(writer: avro.Type): fc.Arbitrary<FuzzCase> {
  const encoded = avroArbitrary(writer, { maxItems: 4, maxLength: 12 }).map((v) => writer.toBuffer(v));
  return fc.oneof(
    { weight: 2, arbitrary: encoded.map((payload) => ({ payload, valid: true })) },
    { weight: 12, arbitrary: fc.tuple(encoded, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([payload, ms]) => ({ payload: ms.reduce(mutate, payload), valid: false })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => ({ payload: Buffer.from(a), valid: false })) },
  );
}

/** Rejection messages by kind, for the figures (the limit hit, or avsc's own error). */
function kindOf(message: string): string {
  if (/one item per byte/.test(message)) return 'items per byte';
  if (/DECODE_MAX_ITEMS/.test(message)) return 'DECODE_MAX_ITEMS';
  if (/DECODE_MAX_BYTES/.test(message)) return 'DECODE_MAX_BYTES';
  if (/block's size must match/.test(message)) return 'block size mismatch';
  if (/block at .* declares a size/.test(message)) return 'block size';
  if (/declares a block of/.test(message)) return 'count > remaining bytes';
  if (/declares \S+ bytes, but only/.test(message)) return 'length > remaining bytes';
  if (/declares a negative length/.test(message)) return 'negative length';
  if (/^union at .* has no branch/.test(message)) return 'union index';
  if (/nested deeper/.test(message)) return 'nesting';
  if (/^record value is empty/.test(message)) return 'empty value';
  if (/^truncated buffer/.test(message)) return 'avsc: truncated';
  if (/^trailing data/.test(message)) return 'avsc: trailing data';
  if (/invalid union index/.test(message)) return 'avsc: union index';
  if (/enum index/.test(message)) return 'avsc: enum index';
  return `avsc: ${message.replace(/^invalid Avro for [^:]*: /, '').slice(0, 40)}`;
}

const DECODE_CODES = new Set(['UNDECODABLE_AVRO', 'EMPTY_VALUE']);
const MB = 1024 * 1024;

/** Where a worker shows its current case: [0] cases started, [1] payload length, then the payload bytes. */
const WATCH_HEADER = 8;
const WATCH_BYTES = 64 * 1024;

function showCase(watch: Int32Array | undefined, payload: Buffer): void {
  if (!watch) return;
  const length = Math.min(payload.length, WATCH_BYTES);
  payload.copy(new Uint8Array(watch.buffer, WATCH_HEADER, WATCH_BYTES), 0, 0, length);
  Atomics.store(watch, 1, payload.length);
  Atomics.add(watch, 0, 1);
}

function watchedCase(watch: Int32Array): string {
  const length = Atomics.load(watch, 1);
  const bytes = Buffer.from(new Uint8Array(watch.buffer, WATCH_HEADER, Math.min(length, WATCH_BYTES)));
  return `${bytes.toString('hex')}${length > WATCH_BYTES ? `… (${length} bytes)` : ''}`;
}

/** A full garbage collection: gc() of --expose-gc, exposed at run time when the process was started without it. */
function fullGc(): void {
  if (typeof global.gc === 'function') return void global.gc();
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export function runDecodeFuzz(target: FuzzTarget, options: FuzzOptions, watch?: Int32Array): FuzzFigures {
  const reader = target.reader ?? target.writer;
  const decoder = createDecoder(reader, target.reader ? target.writer : undefined);
  const resolver = target.reader ? reader.createResolver(target.writer) : undefined;
  const rejected: Record<string, number> = {};
  let cases = 0;
  let accepted = 0;
  let slowestUs = 0;
  let slowestFirstTryUs = 0;
  let slowestPayload = '';
  const started = performance.now();
  fullGc();
  const rss0 = process.memoryUsage.rss();
  const heap0 = process.memoryUsage().heapUsed;
  const start = process.memoryUsage();
  const kept0 = start.heapUsed + start.external + start.arrayBuffers;
  let peakRss = 0;
  let peakHeap = 0;

  const decodeOne = (payload: Buffer): { result: ReturnType<typeof decodeBatch>; us: number } => {
    const t0 = performance.now();
    const result = decodeBatch(decoder, [payload]);
    return { result, us: (performance.now() - t0) * 1000 };
  };

  fc.assert(
    fc.property(payloadArbitrary(target.writer), ({ payload, valid }) => {
      showCase(watch, payload);
      const first = decodeOne(payload);
      const result = first.result;
      let us = first.us;
      if (us > slowestFirstTryUs) slowestFirstTryUs = us;
      // Over 1 ms: try twice more and keep the fastest, so a GC pause or the shared machine is not a slow event.
      if (us > 1000) for (let k = 0; k < 2; k += 1) us = Math.min(us, decodeOne(payload).us);
      cases += 1;
      const event = result.events[0];
      const rejection = result.rejections[0];
      assert.ok((event === undefined) !== (rejection === undefined), 'exactly one of event and rejection');
      if (rejection) {
        assert.ok(DECODE_CODES.has(rejection.code), `stable decode code, got ${rejection.code}`);
        assert.equal(rejection.stage, 'decode');
        assert.ok(rejection.message.length > 0);
        assert.ok(!valid, `a valid encoding was refused: ${rejection.message}`);
        const kind = kindOf(rejection.message);
        rejected[kind] = (rejected[kind] ?? 0) + 1;
      } else {
        accepted += 1;
        // Safe to hand to plain avsc now: the bounds let these bytes through, and decodeBatch just decoded them.
        assert.deepStrictEqual(event, reader.decode(payload, 0, resolver).value);
      }
      if (us > slowestUs) {
        slowestUs = us;
        slowestPayload = payload.subarray(0, 64).toString('hex') + (payload.length > 64 ? `… (${payload.length} bytes)` : '');
      }
      assert.ok(us <= options.maxEventMs * 1000, `one event took ${(us / 1000).toFixed(1)} ms (limit ${options.maxEventMs} ms): ${payload.subarray(0, 64).toString('hex')}`);
      if (cases % 1000 === 0) {
        const rss = process.memoryUsage.rss() - rss0;
        const heap = process.memoryUsage().heapUsed - heap0;
        if (rss > peakRss) peakRss = rss;
        if (heap > peakHeap) peakHeap = heap;
        if (rss > options.maxRssGrowthMb * MB) {
          // RSS over the limit is not yet a leak: V8 and the allocator keep pages they freed (Node 24 on the
          // bounds target: ~270 MB of RSS after 100,000 cases, 1.4 MB of heap kept after a full GC). What
          // decoding keeps is what a full GC leaves in the heap and in buffers: that must stay under it.
          fullGc();
          const now = process.memoryUsage();
          const kept = now.heapUsed + now.external + now.arrayBuffers - kept0;
          assert.ok(kept <= options.maxRssGrowthMb * MB, `RSS grew by ${(rss / MB).toFixed(0)} MB after ${cases} cases, and after a full GC the heap and buffers still hold ${(kept / MB).toFixed(0)} MB more than at the start (limit ${options.maxRssGrowthMb} MB)`);
        }
      }
    }),
    { seed: options.seed, numRuns: options.runs },
  );
  return {
    name: target.name,
    seed: options.seed,
    cases,
    accepted,
    rejected,
    slowestEventUs: slowestUs,
    slowestFirstTryUs,
    slowestPayload,
    peakRssGrowthMb: peakRss / MB,
    peakHeapGrowthMb: peakHeap / MB,
    seconds: (performance.now() - started) / 1000,
  };
}

export function describeFigures(f: FuzzFigures): string {
  const kinds = Object.entries(f.rejected)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return (
    `${f.name}: seed ${f.seed}, ${f.cases} cases in ${f.seconds.toFixed(1)} s; ${f.accepted} decoded, ${f.cases - f.accepted} rejected (${kinds}); ` +
    `slowest event ${f.slowestEventUs.toFixed(0)} µs (first tries up to ${f.slowestFirstTryUs.toFixed(0)} µs); peak growth RSS ${f.peakRssGrowthMb.toFixed(1)} MB, heap ${f.peakHeapGrowthMb.toFixed(1)} MB`
  );
}

/** What a worker needs to rebuild a target: schemas as JSON. */
export interface FuzzSpec {
  readonly name: string;
  readonly writer: avro.Schema;
  readonly reader?: avro.Schema;
}

export function fuzzSpec(target: FuzzTarget): FuzzSpec {
  return { name: target.name, writer: target.writer.schema() as avro.Schema, ...(target.reader ? { reader: target.reader.schema() as avro.Schema } : {}) };
}

export function fuzzTarget(spec: FuzzSpec): FuzzTarget {
  return { name: spec.name, writer: avro.Type.forSchema(spec.writer), ...(spec.reader ? { reader: avro.Type.forSchema(spec.reader) } : {}) };
}

export interface WorkerInput {
  readonly spec: FuzzSpec;
  readonly options: FuzzOptions;
  readonly watch: SharedArrayBuffer;
}

export type WorkerOutput = { readonly figures: FuzzFigures } | { readonly error: string };

/** runDecodeFuzz in a worker thread, terminated when one case takes longer than `stallMs` (a hang). */
export function fuzzInWorker(target: FuzzTarget, options: FuzzOptions, stallMs = 10_000): Promise<FuzzFigures> {
  const watchBuffer = new SharedArrayBuffer(WATCH_HEADER + WATCH_BYTES);
  const watch = new Int32Array(watchBuffer);
  const input: WorkerInput = { spec: fuzzSpec(target), options, watch: watchBuffer };
  // tsx registers itself in the worker before the TypeScript module loads.
  const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(join(__dirname, 'decode-fuzz-worker.ts'))});`, { eval: true, workerData: input });
  return new Promise<FuzzFigures>((resolve, reject) => {
    let settled = false;
    let seen = -1;
    let since = Date.now();
    const timer = setInterval(() => {
      const started = Atomics.load(watch, 0);
      if (started !== seen) {
        seen = started;
        since = Date.now();
      } else if (Date.now() - since > stallMs) {
        finish(new Error(`${target.name}: case ${started} (seed ${options.seed}) has not returned from decodeBatch in ${stallMs} ms; its payload: ${watchedCase(watch)}`));
        void worker.terminate();
      }
    }, 250);
    const finish = (error: Error | undefined, figures?: FuzzFigures): void => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      if (error) reject(error);
      else resolve(figures as FuzzFigures);
    };
    worker.on('message', (out: WorkerOutput) => finish('error' in out ? new Error(out.error) : undefined, 'figures' in out ? out.figures : undefined));
    worker.on('error', (error) => finish(error));
    worker.on('exit', (code) => finish(new Error(`${target.name}: the fuzz worker exited (code ${code}) without a result`)));
  });
}
