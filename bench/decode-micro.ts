/**
 * CPU per event of the decode stage alone (decodeBatch), next to a bare avsc `decode` loop over
 * the same bytes, on (a) the project's input schema (the synthetic stream of bench/common.ts,
 * 10 % bad events as in pipeline-micro) and (b) test/fixtures/bounds-event.avsc (arrays, maps,
 * unions, bytes, fixed, zero-byte items; valid values from a fixed fast-check seed).
 * Also the bounds check alone (src/formats/avro-bounds.ts), the walk decodeBatch runs before avsc.
 * Each figure is process CPU time (not wall time: other processes on a shared machine take turns
 * on the cores), measured in interleaved rounds, median of the rounds.
 *   node --import tsx bench/decode-micro.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { createDecoder, decodeBatch } from '../src/stages/decode';
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

/** µs of process CPU since `from`. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return used.user + used.system;
}

function measure(workload: Workload): { stage: number; avsc: number; walk: number; bytes: number; rejected: number } {
  const perRound = workload.values.length * workload.passes;
  const decoder = createDecoder(workload.type);
  const batches: Buffer[][] = [];
  for (let i = 0; i < workload.values.length; i += BATCH) batches.push(workload.values.slice(i, i + BATCH));
  const stage: number[] = [];
  const plain: number[] = [];
  const walk: number[] = [];
  let sink = 0;
  let rejected = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    let events = 0;
    let t0 = process.cpuUsage();
    while (events < perRound) {
      for (const batch of batches) {
        const decoded = decodeBatch(decoder, batch);
        if (round === 0) for (const r of decoded.rejections) if (r) rejected += 1;
        events += batch.length;
      }
    }
    stage.push(cpuSince(t0) / events);
    events = 0;
    t0 = process.cpuUsage();
    while (events < perRound) {
      for (const batch of batches) {
        for (const value of batch) {
          try {
            sink += workload.type.decode(value, 0).offset;
          } catch {
            sink += 1;
          }
        }
        events += batch.length;
      }
    }
    plain.push(cpuSince(t0) / events);
    events = 0;
    t0 = process.cpuUsage();
    while (events < perRound) {
      for (const batch of batches) {
        for (const value of batch) if (decoder.bounds.check(value)) sink += 1;
        events += batch.length;
      }
    }
    walk.push(cpuSince(t0) / events);
  }
  if (sink === 0.5) process.stdout.write('');
  const bytes = workload.values.reduce((s, v) => s + v.length, 0) / workload.values.length;
  // Round 0 is warm-up (JIT), left out of the medians.
  return { stage: median(stage.slice(1)), avsc: median(plain.slice(1)), walk: median(walk.slice(1)), bytes, rejected: rejected / workload.passes };
}

function main(): void {
  process.stdout.write(`decode micro: batch ${BATCH}, ${ROUNDS - 1} rounds, median of CPU time, load ${loadAverage()}\n`);
  for (const workload of [paymentWorkload(), fixtureWorkload()]) {
    const r = measure(workload);
    process.stdout.write(
      `  ${workload.name.padEnd(20)} ${r.bytes.toFixed(0).padStart(4)} B/event, ${((100 * r.rejected) / workload.values.length).toFixed(1)} % rejected: ` +
        `decodeBatch ${r.stage.toFixed(3)} µs/event, bare avsc decode ${r.avsc.toFixed(3)}, bounds check alone ${r.walk.toFixed(3)} (CPU µs/event)\n`,
    );
  }
}

main();
