/**
 * CPU per event of the decode stage alone (decodeBatch) on (a) the project's input schema (the
 * synthetic stream of bench/common.ts, 10 % bad events as in pipeline-micro) and (b)
 * test/fixtures/bounds-event.avsc (arrays, maps, unions, bytes, fixed, zero-byte items; valid
 * values from a fixed fast-check seed). Next to it, over the same bytes: decodeBatch with the
 * bounds check switched off (the stage as it was before bounded decoding), a bare avsc `decode`
 * loop, and the bounds check alone (src/formats/avro-bounds.ts, run by decodeBatch only when the
 * writer schema has arrays or maps). Each figure is process CPU time (not wall time: other
 * processes on a shared machine take turns on the cores), in interleaved rounds, median.
 *   node --import tsx bench/decode-micro.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { encodeFramed } from '../src/formats/confluent';
import type { SchemaSource } from '../src/formats/registry';
import { type EventDecoder, createDecoder, createFramedDecoder, decodeBatch, prepareDecoder } from '../src/stages/decode';
import { avroArbitrary } from '../test/support/avro-arbitrary';
import { InputStream, ROOT, loadAverage } from './common';

const BATCH = Number(process.env.MICRO_BATCH ?? 1024);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 21);

interface Workload {
  readonly name: string;
  readonly type: avro.Type;
  readonly values: Buffer[];
  /** Passes over `values` per round: rounds of roughly 50-250 ms. */
  readonly passes: number;
}

function paymentWorkload(): Workload {
  const stream = new InputStream(3);
  return { name: 'payment-event.avsc', type: stream.type, values: Array.from({ length: 4096 }, () => stream.next(Date.now()).value), passes: 12 };
}

function fixtureWorkload(): Workload {
  const type = avro.Type.forSchema(JSON.parse(readFileSync(join(ROOT, 'test/fixtures/bounds-event.avsc'), 'utf8')) as avro.Schema);
  const values = fc.sample(avroArbitrary(type, { ascii: true }), { seed: 42, numRuns: 4096 }).map((v) => type.toBuffer(v));
  return { name: 'bounds-event.avsc', type, values, passes: 2 };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

type Variant = 'stage' | 'unbounded' | 'avsc' | 'walk' | 'framed' | 'evolved';

/**
 * The same events Confluent-framed: (framed) written with the reader schema itself (id 1), and
 * (evolved) with a writer that has one more field (id 2), so every event goes through a resolver.
 * The writer schemas come from an in-process source, prepared once as the registry cache would be.
 */
async function framedInputs(workload: Workload): Promise<{ framed: { decoder: EventDecoder; batches: Buffer[][] }; evolved: { decoder: EventDecoder; batches: Buffer[][] } }> {
  const schema = workload.type.schema() as { fields: unknown[] };
  const writer = avro.Type.forSchema({ ...schema, fields: [...schema.fields, { name: 'bench_extra', type: 'string', default: '' }] } as avro.Schema);
  const source: SchemaSource = { url: 'in-process', schemaById: async (id) => ({ found: true, type: id === 1 ? workload.type : writer }) };
  const events = workload.values.map((v) => {
    try {
      return workload.type.fromBuffer(v) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  });
  const build = async (id: number, type: avro.Type, extra: Record<string, unknown>) => {
    const values = workload.values.map((v, i) => (events[i] ? encodeFramed(type, id, { ...events[i], ...extra }) : Buffer.concat([Buffer.from([0, 0, 0, 0, id]), v])));
    const decoder = createFramedDecoder(workload.type, source, []);
    await prepareDecoder(decoder, values);
    const batches: Buffer[][] = [];
    for (let i = 0; i < values.length; i += BATCH) batches.push(values.slice(i, i + BATCH));
    return { decoder, batches };
  };
  return { framed: await build(1, workload.type, {}), evolved: await build(2, writer, { bench_extra: 'x' }) };
}

function measure(workload: Workload, framedInput: Awaited<ReturnType<typeof framedInputs>>): Record<Variant, number> & { bytes: number; rejected: number } {
  const decoder = createDecoder(workload.type);
  const unbounded: EventDecoder = { ...decoder, bounds: { walkAbove: Number.POSITIVE_INFINITY, check: () => undefined } };
  const batches: Buffer[][] = [];
  for (let i = 0; i < workload.values.length; i += BATCH) batches.push(workload.values.slice(i, i + BATCH));
  let sink = 0;
  const runs: Record<Variant, () => void> = {
    stage: () => {
      for (const batch of batches) sink += decodeBatch(decoder, batch).events.length;
    },
    unbounded: () => {
      for (const batch of batches) sink += decodeBatch(unbounded, batch).events.length;
    },
    avsc: () => {
      for (const batch of batches) {
        for (const value of batch) {
          try {
            sink += workload.type.decode(value, 0).offset;
          } catch {
            sink += 1;
          }
        }
      }
    },
    walk: () => {
      for (const batch of batches) for (const value of batch) if (decoder.bounds.check(value)) sink += 1;
    },
    framed: () => {
      for (const batch of framedInput.framed.batches) sink += decodeBatch(framedInput.framed.decoder, batch).events.length;
    },
    evolved: () => {
      for (const batch of framedInput.evolved.batches) sink += decodeBatch(framedInput.evolved.decoder, batch).events.length;
    },
  };
  const samples: Record<Variant, number[]> = { stage: [], unbounded: [], avsc: [], walk: [], framed: [], evolved: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const variant of Object.keys(runs) as Variant[]) {
      const from = process.cpuUsage();
      for (let pass = 0; pass < workload.passes; pass += 1) runs[variant]();
      const used = process.cpuUsage(from);
      // Round 0 is warm-up (JIT), left out.
      if (round > 0) samples[variant].push((used.user + used.system) / (workload.values.length * workload.passes));
    }
  }
  if (sink === 0.5) process.stdout.write('');
  const rejected = decodeBatch(decoder, workload.values).rejections.filter((r) => r !== undefined).length;
  return {
    stage: median(samples.stage),
    unbounded: median(samples.unbounded),
    avsc: median(samples.avsc),
    walk: median(samples.walk),
    framed: median(samples.framed),
    evolved: median(samples.evolved),
    bytes: workload.values.reduce((s, v) => s + v.length, 0) / workload.values.length,
    rejected: rejected / workload.values.length,
  };
}

async function main(): Promise<void> {
  process.stdout.write(`decode micro: batch ${BATCH}, ${ROUNDS - 1} rounds, median CPU µs/event, load ${loadAverage()}\n`);
  for (const workload of [paymentWorkload(), fixtureWorkload()]) {
    const r = measure(workload, await framedInputs(workload));
    process.stdout.write(
      `  ${workload.name.padEnd(18)} ${r.bytes.toFixed(0).padStart(4)} B/event, ${(100 * r.rejected).toFixed(1)} % rejected: ` +
        `decodeBatch ${r.stage.toFixed(3)}, without the bounds check ${r.unbounded.toFixed(3)} (${(((r.stage - r.unbounded) / r.unbounded) * 100).toFixed(1)} %), ` +
        `bare avsc decode ${r.avsc.toFixed(3)}, bounds check alone ${r.walk.toFixed(3)}; ` +
        `Confluent-framed: same writer ${r.framed.toFixed(3)}, evolved writer (resolver) ${r.evolved.toFixed(3)}\n`,
    );
  }
}

void main();
