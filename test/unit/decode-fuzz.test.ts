/**
 * Fuzzing decodeBatch with valid, mutated and random payloads (test/support/decode-fuzz.ts says
 * what must hold). Reproducible: FUZZ_SEED (default below) and FUZZ_RUNS (cases per schema)
 * from the environment; a failure prints fast-check's seed and path to replay it, a hang the
 * payload it hung on. The figures go to the test output. A longer run: scripts/fuzz-decode.ts.
 */
import { describe, it } from 'node:test';
import { describeFigures, fuzzInWorker, fuzzTargets } from '../support/decode-fuzz';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_130);
const RUNS = Number(process.env.FUZZ_RUNS ?? 100_000);

describe(`decode fuzzing (FUZZ_SEED=${SEED}, FUZZ_RUNS=${RUNS})`, () => {
  fuzzTargets().forEach(({ target, share }, i) => {
    const runs = Math.ceil(RUNS * share);
    it(`${target.name}: ${runs} payloads, nothing thrown, one event or one rejection each, none slower than 50 ms, memory flat`, { timeout: 10 * 60_000 }, async (t) => {
      const figures = await fuzzInWorker(target, { seed: SEED + i, runs, maxEventMs: 50, maxRssGrowthMb: 256 });
      t.diagnostic(describeFigures(figures));
    });
  });
});
