import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { readContract } from '../../src/model/contract';
import { type ScoringModel, loadModel } from '../../src/model/session';
import { checkBatch } from '../../src/stages/check/contract-check';
import { scoreBatch } from '../../src/stages/score';
import { MODEL_PATH, referenceCases } from '../support/model';

describe('score stage (onnxruntime-node, no Kafka)', () => {
  let model: ScoringModel;
  const cases = referenceCases();
  before(async () => {
    model = await loadModel(readContract(MODEL_PATH), { intraOpThreads: 1, scoreOutput: 'probabilities', labelOutput: 'label', positiveClassIndex: 1 });
  });

  it('matches the Python onnxruntime reference within 1e-5, in one call per batch', async () => {
    const events = cases.map((c) => c.event);
    const checked = checkBatch(model.contract.features, events, []);
    assert.equal(checked.features.rowCount, cases.length, 'every reference event is valid');
    let calls = 0;
    const run = model.session.run.bind(model.session);
    const counting = { ...model, session: Object.assign(Object.create(model.session) as typeof model.session, { run: (...args: Parameters<typeof run>) => ((calls += 1), run(...args)) }) };
    const scored = await scoreBatch(counting, checked.features);
    assert.equal(calls, 1);
    assert.equal(scored.classCount, 2);
    let worst = 0;
    cases.forEach((c, r) => {
      for (let k = 0; k < 2; k += 1) worst = Math.max(worst, Math.abs((scored.probabilities[r * 2 + k] as number) - (c.probabilities[k] as number)));
      assert.equal(scored.labels[r], String(c.label), `label of reference event ${r}`);
    });
    assert.ok(worst <= 1e-5, `max |node - python| = ${worst}`);
    assert.ok(cases.some((c) => c.label === 1), 'the reference includes positives');
  });

  it('returns nothing to do for an empty batch', async () => {
    const scored = await scoreBatch(model, checkBatch(model.contract.features, [], []).features);
    assert.equal(scored.probabilities.length, 0);
  });

  it('isolates a failing row instead of failing the batch', async () => {
    const checked = checkBatch(model.contract.features, cases.slice(0, 3).map((c) => c.event), []);
    const run = model.session.run.bind(model.session);
    // A session that refuses any call containing the second row's amount: the batch call fails, then row 1 alone.
    const poisoned = checked.features.numeric.get('amount')?.[1];
    const failing = {
      ...model,
      session: Object.assign(Object.create(model.session) as typeof model.session, {
        run: (feeds: Parameters<typeof run>[0], ...rest: unknown[]) => {
          const amounts = (feeds.amount as { data: Float32Array }).data;
          if (amounts.includes(poisoned as number)) return Promise.reject(new Error('simulated kernel failure'));
          return run(feeds, ...(rest as []));
        },
      }),
    };
    const scored = await scoreBatch(failing, checked.features);
    assert.equal(scored.rejections[0], undefined);
    assert.equal(scored.rejections[1]?.code, 'MODEL_ERROR');
    assert.match(scored.rejections[1]?.message ?? '', /simulated kernel failure/);
    assert.equal(scored.rejections[2], undefined);
    assert.ok(Math.abs((scored.probabilities[2 * 2 + 1] as number) - (cases[2]?.probabilities[1] as number)) < 1e-5);
  });
});
