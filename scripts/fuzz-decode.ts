/**
 * A longer fuzzing run of the decode stage than the unit test's (test/unit/decode-fuzz.test.ts,
 * same checks, same targets): FUZZ_RUNS cases per schema (default 1,000,000: 2,000,000 over the
 * input schema and the array/map test schema, plus a fifth of that through a resolver), seed
 * FUZZ_SEED (default: the time, printed so a failure can be replayed).
 *   node --import tsx scripts/fuzz-decode.ts
 */
import { describeFigures, fuzzInWorker, fuzzTargets } from '../test/support/decode-fuzz';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1_000_000);

async function main(): Promise<void> {
  const targets = fuzzTargets().map(({ target, share }) => [target, Math.ceil(RUNS * share)] as const);
  process.stdout.write(`decode fuzzing: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}\n`);
  let failed = false;
  for (const [i, [target, runs]] of targets.entries()) {
    try {
      const figures = await fuzzInWorker(target, { seed: SEED + i, runs, maxEventMs: 50, maxRssGrowthMb: 256 });
      process.stdout.write(`  ${describeFigures(figures)}\n`);
    } catch (error) {
      failed = true;
      process.stdout.write(`  ${target.name}: FAILED (seed ${SEED + i}): ${(error as Error).message}\n`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

void main();
