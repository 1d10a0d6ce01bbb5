import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DependencyWait, withDependencyWait } from '../../src/batch/dependency-wait';
import { ServiceError } from '../../src/errors';
import { FeatureStoreUnavailableError } from '../../src/features/store/lookup';
import { RegistryUnavailableError } from '../../src/formats/registry';

/** A clock that moves only when the wait sleeps. */
function clock(maxMs: number): { wait: DependencyWait; slept: number[]; waits: number[] } {
  let t = 0;
  const slept: number[] = [];
  const waits: number[] = [];
  return {
    slept,
    waits,
    wait: {
      maxMs,
      backoffMaxMs: 2_000,
      now: () => t,
      sleep: async (ms) => {
        slept.push(ms);
        t += ms;
      },
      onWait: ({ attempt }) => waits.push(attempt),
    },
  };
}

const storeDown = (): FeatureStoreUnavailableError => new FeatureStoreUnavailableError('feature store 127.0.0.1:6380: connect ECONNREFUSED', 'error');

describe('batch jobs wait for the registry and the feature store', () => {
  it('tries the batch again until the store is back, heartbeating while it waits', async () => {
    const { wait, waits, slept } = clock(60_000);
    let calls = 0;
    let beats = 0;
    const result = await withDependencyWait(
      async () => {
        calls += 1;
        if (calls < 4) throw storeDown();
        return 'scored';
      },
      wait,
      async () => {
        beats += 1;
      },
    );
    assert.equal(result, 'scored');
    assert.equal(calls, 4);
    assert.deepEqual(waits, [1, 2, 3]);
    assert.ok(slept.every((ms) => ms <= 1_000), 'sleeps in slices of at most a second');
    assert.equal(beats, slept.length, 'a heartbeat after every slice');
  });
  it('gives up after BATCH_DEPENDENCY_WAIT_MS with the outage code, the error and what to do', async () => {
    const { wait } = clock(5_000);
    let calls = 0;
    await assert.rejects(
      withDependencyWait(async () => {
        calls += 1;
        throw storeDown();
      }, wait),
      (error: unknown) => {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'FEATURE_STORE_UNAVAILABLE');
        assert.match(error.message, /ECONNREFUSED; the batch waited 5 s \(BATCH_DEPENDENCY_WAIT_MS=5000\) and nothing of it was written: run the job again/);
        return true;
      },
    );
    assert.ok(calls >= 3, `tried more than once (${calls})`);
  });
  it('a registry outage the same way, under its own code; 0 fails at once', async () => {
    let calls = 0;
    await assert.rejects(
      withDependencyWait(async () => {
        calls += 1;
        throw new RegistryUnavailableError('registry http://127.0.0.1:1 unreachable', 'http://127.0.0.1:1');
      }, clock(0).wait),
      /REGISTRY_UNAVAILABLE: registry http:\/\/127\.0\.0\.1:1 unreachable/,
    );
    assert.equal(calls, 1);
  });
  it('any other error is thrown at once, untouched', async () => {
    const bug = new TypeError('a defect');
    let calls = 0;
    await assert.rejects(
      withDependencyWait(async () => {
        calls += 1;
        throw bug;
      }, clock(60_000).wait),
      (error: unknown) => error === bug,
    );
    assert.equal(calls, 1);
  });
});
