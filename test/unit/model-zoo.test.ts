import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { processBatch } from '../../src/pipeline';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { testConfig } from '../support/model';
import { zooConfigEnv, zooModels, zooReference } from '../support/zoo';

interface Published {
  event_id: string;
  score: number;
  probabilities: number[];
  classes: string[];
  label: string | null;
  flags: string[];
  model_name: string;
  model_version: string;
}

const TOLERANCE = 1e-5;

/**
 * Every model of the zoo, exported by another library's converter with its defaults, goes
 * through the real pipeline (Avro bytes in, decode, check, score, encode, Avro predictions out)
 * and must give Python onnxruntime's outputs. The framework's own predictions are reported
 * beside them: that difference is the converter's, not ours.
 */
describe('model zoo: other libraries\' exports score like Python onnxruntime', () => {
  const models = zooModels();
  it('has the ten exports', () => {
    assert.deepEqual(models, ['catboost', 'lightgbm', 'sklearn-hgb-ordinal', 'sklearn-logit', 'sklearn-mlp', 'sklearn-multiclass', 'sklearn-numeric', 'sklearn-percolumn', 'sklearn-regressor', 'xgboost']);
  });

  const summary: string[] = [];
  for (const model of models) {
    it(model, async () => {
      const reference = zooReference(model);
      const deps = { ...(await prepare(testConfig(zooConfigEnv(model)), createLogger('silent'))), tracer: trace.getTracer('zoo') };
      const messages: SourceMessage[] = reference.events.map((event, i) => ({
        topic: 'zoo',
        partition: 0,
        offset: String(i),
        key: Buffer.from(String(event.event_id)),
        value: deps.decoder.reader.toBuffer(event),
        headers: {},
        timestamp: String(event.event_time),
      }));
      const processed = await processBatch(deps, messages);
      processed.finish();
      assert.deepEqual(processed.rejections.map((r) => `${r.code} ${r.field}: ${r.message}`), [], 'every reference event is scored');
      assert.equal(processed.predictions.length, reference.events.length);

      let worst = 0;
      let worstFramework = 0;
      processed.predictions.forEach((record, i) => {
        const p = deps.prediction.type.fromBuffer(record.value as Buffer) as Published;
        assert.equal(p.event_id, reference.events[i]?.event_id);
        worst = Math.max(worst, Math.abs(p.score - (reference.onnxruntime.scores[i] as number)));
        worstFramework = Math.max(worstFramework, Math.abs(p.score - (reference.framework.scores[i] as number)));
        assert.deepEqual(p.flags, []);
        if (reference.kind === 'regressor') {
          assert.equal(p.label, null);
          assert.deepEqual([p.probabilities, p.classes], [[], []]);
          return;
        }
        assert.deepEqual(p.classes, reference.classes, 'class labels in probability order');
        const expected = reference.onnxruntime.probabilities?.[i] as number[];
        assert.equal(p.probabilities.length, expected.length);
        p.probabilities.forEach((v, c) => (worst = Math.max(worst, Math.abs(v - (expected[c] as number)))));
        const score = reference.onnxruntime.scores[i] as number;
        // A label at exactly 0.5 is a tie the frameworks break their own way.
        if (Math.abs(score - 0.5) > 1e-6) assert.equal(p.label, reference.onnxruntime.labels?.[i], `label of event ${i}`);
      });
      assert.ok(worst <= TOLERANCE, `${model}: max |node - python onnxruntime| = ${worst}`);
      summary.push(`${model.padEnd(20)} ${reference.framework_name.padEnd(22)} node vs onnxruntime ${worst.toExponential(1)}   node vs framework ${worstFramework.toExponential(1)}`);
      await deps.model.session.release();
    });
  }
  it('prints the table', () => {
    process.stdout.write(`\n${summary.join('\n')}\n`);
    assert.equal(summary.length, models.length);
  });
});
