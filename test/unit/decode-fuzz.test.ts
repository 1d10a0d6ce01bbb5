/**
 * Fuzzing decodeBatch with valid, mutated and random payloads (test/support/decode-fuzz.ts says
 * what must hold). Reproducible: FUZZ_SEED (default below) and FUZZ_RUNS (cases per schema)
 * from the environment; a failure prints fast-check's seed and path to replay it, a hang the
 * payload it hung on. The figures go to the test output. A longer run: scripts/fuzz-decode.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { loadSchema } from '../../src/stages/decode';
import { type FuzzTarget, describeFigures, fuzzInWorker } from '../support/decode-fuzz';
import { INPUT_SCHEMA, ROOT } from '../support/model';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_130);
const RUNS = Number(process.env.FUZZ_RUNS ?? 100_000);

const fixture = avro.Type.forSchema(JSON.parse(readFileSync(join(ROOT, 'test/fixtures/bounds-event.avsc'), 'utf8')) as avro.Schema);
// The resolver path: a reader that keeps only some fields, so avsc skips the others (by block size where one is given).
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

const targets: FuzzTarget[] = [
  { name: 'payment-event.avsc', writer: loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA') },
  { name: 'bounds-event.avsc', writer: fixture },
  { name: 'bounds-event.avsc read with fewer fields', writer: fixture, reader: fixtureReader },
];

describe(`decode fuzzing (FUZZ_SEED=${SEED}, FUZZ_RUNS=${RUNS})`, () => {
  targets.forEach((target, i) => {
    // The resolver path shares the fixture's bytes: a fifth of the runs covers it.
    const runs = target.reader ? Math.ceil(RUNS / 5) : RUNS;
    it(`${target.name}: ${runs} payloads, nothing thrown, one event or one rejection each, none slower than 50 ms, memory flat`, { timeout: 10 * 60_000 }, async (t) => {
      const figures = await fuzzInWorker(target, { seed: SEED + i, runs, maxEventMs: 50, maxRssGrowthMb: 256 });
      t.diagnostic(describeFigures(figures));
    });
  });
});
