import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { processBatch } from '../../src/pipeline';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { ServiceMetrics } from '../../src/telemetry/metrics';
import { testConfig } from '../support/model';
import { samples } from '../support/prometheus';
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

describe('unknown categories under the manifest\'s policies', () => {
  async function run(model: string, country: string) {
    const reference = zooReference(model);
    const deps = { ...(await prepare(testConfig(zooConfigEnv(model)), createLogger('silent'))), tracer: trace.getTracer('zoo') };
    const base = reference.events[0] as Record<string, unknown>;
    const events = [base, { ...base, event_id: 'odd', merchant: { ...(base.merchant as object), country } }];
    const messages: SourceMessage[] = events.map((event, i) => ({ topic: 'zoo', partition: 0, offset: String(i), key: null, value: deps.decoder.reader.toBuffer(event), headers: {}, timestamp: '1' }));
    const processed = await processBatch(deps, messages);
    processed.finish();
    const metrics = new ServiceMetrics({ serviceName: 'test', serviceVersion: '0', unknownValuesNamed: 10 });
    metrics.recordBatch(messages, { predictions: processed.predictions.length, rejections: processed.rejections, observation: processed.observation }, 2);
    const values = samples(await metrics.text());
    await metrics.shutdown();
    await deps.model.session.release();
    return { processed, values, decode: (b: Buffer) => deps.prediction.type.fromBuffer(b) as Published };
  }

  it('score-and-flag (xgboost manifest): the event is scored with the unknown code, flagged, and counted as unknown', async () => {
    const { processed, values, decode } = await run('xgboost', 'ZZ');
    assert.equal(processed.deadLetters.length, 0);
    const odd = decode(processed.predictions[1]?.value as Buffer);
    assert.deepEqual(odd.flags, ['UNKNOWN_CATEGORY:merchant.country']);
    assert.ok(Number.isFinite(odd.score));
    assert.deepEqual(decode(processed.predictions[0]?.value as Buffer).flags, []);
    assert.equal(values.get('stream_scorer_predictions_flagged_total{reason="UNKNOWN_CATEGORY",column="merchant.country"}'), 1);
    assert.equal(values.get('stream_scorer_unknown_categories_total{column="merchant.country",value="ZZ"}'), 1);
  });

  it('dead-letter (lightgbm manifest, the default): the event is dead-lettered naming the field path and value', async () => {
    const { processed, values } = await run('lightgbm', 'ZZ');
    assert.equal(processed.predictions.length, 1);
    assert.deepEqual(processed.rejections.map((r) => [r.code, r.field, r.value]), [['UNKNOWN_CATEGORY', 'merchant.country', 'ZZ']]);
    assert.equal(values.get('stream_scorer_unknown_categories_total{column="merchant.country",value="ZZ"}'), 1);
    assert.equal(values.get('stream_scorer_predictions_flagged_total{reason="UNKNOWN_CATEGORY",column="merchant.country"}'), undefined);
  });
});
