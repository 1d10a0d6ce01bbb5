import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import avro from 'avsc';
import { H } from '../../src/output/headers';
import type { RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { collect, createTestTopics, produce, testKafka } from '../support/kafka';
import { PREDICTION_SCHEMA } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';
import { zooConfigEnv, zooReference } from '../support/zoo';

/**
 * A model with one float input [N, 9], fed by a manifest from nested Avro fields with category
 * codes, missing: nan and unknown: score-and-flag (XGBoost via onnxmltools, ZipMap-free), on a
 * real broker: the predictions equal Python onnxruntime, a flagged unknown is published with its
 * flag, and a null nested record is dead-lettered naming the field path.
 */
describe('integration: a single-tensor model with a manifest and nested fields', () => {
  const kafka = testKafka();
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop();
  });

  it('scores the reference events exactly, flags an unknown category, dead-letters a null record', async () => {
    const env = zooConfigEnv('xgboost');
    const reference = zooReference('xgboost');
    const topics = await createTestTopics(kafka, 'manifest');
    const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
    // The zoo schema with a nullable merchant record, so that a null parent of merchant.country can be sent.
    const zooJson = loadSchema(env.INPUT_SCHEMA as string, 'INPUT_SCHEMA').schema() as { fields: { name: string; type: unknown }[] };
    const schemaJson = { ...zooJson, fields: zooJson.fields.map((f) => (f.name === 'merchant' ? { ...f, type: ['null', f.type], default: null } : f)) };
    const schemaFile = join(mkdtempSync(join(tmpdir(), 'manifest-')), 'event.avsc');
    writeFileSync(schemaFile, JSON.stringify(schemaJson));
    const eventType = avro.Type.forSchema(schemaJson as avro.Schema);
    const base = reference.events[0] as Record<string, unknown>;
    const unknownCountry = { ...base, event_id: 'unknown-country', merchant: { ...(base.merchant as object), country: 'ZZ' } };
    const noMerchant = { ...base, event_id: 'no-merchant', merchant: null };
    const events = [...reference.events, unknownCountry];
    await produce(kafka, topics.input, [...events, noMerchant].map((e) => ({ key: String(e.event_id), value: eventType.toBuffer(e) })));

    scorer = await startScorer(topics, { ...env, INPUT_SCHEMA: schemaFile });
    await waitFor(() => (scorer?.stats.consumed ?? 0) >= events.length + 1, 60_000, 'the scorer to consume every event');
    const outputs = await collect(kafka, topics.output, events.length);
    const deadLetters = await collect(kafka, topics.deadLetter, 1);

    assert.equal(outputs.length, events.length, 'one prediction per scoreable event');
    let worst = 0;
    let flagged = 0;
    for (const { message } of outputs) {
      const p = predictionType.fromBuffer(message.value as Buffer) as { event_id: string; score: number; flags: string[]; model_name: string; classes: string[] };
      assert.equal(message.key?.toString(), p.event_id, 'same key as the input');
      assert.equal(message.headers?.[H.modelName]?.toString(), p.model_name);
      assert.deepEqual(p.classes, ['0', '1']);
      if (p.event_id === 'unknown-country') {
        assert.deepEqual(p.flags, ['UNKNOWN_CATEGORY:merchant.country']);
        flagged += 1;
        continue;
      }
      assert.deepEqual(p.flags, []);
      const i = reference.events.findIndex((e) => e.event_id === p.event_id);
      assert.ok(i >= 0, `prediction for a reference event ${p.event_id}`);
      worst = Math.max(worst, Math.abs(p.score - (reference.onnxruntime.scores[i] as number)));
    }
    assert.equal(flagged, 1);
    assert.ok(worst <= 1e-5, `max |node - python onnxruntime| = ${worst}`);

    assert.equal(deadLetters.length, 1);
    const dead = deadLetters[0]?.message;
    assert.equal(dead?.key?.toString(), 'no-merchant');
    assert.equal(dead?.headers?.[H.reasonCode]?.toString(), 'MISSING_FIELD');
    // The first column the manifest reads from the null record.
    assert.equal(dead?.headers?.[H.reasonField]?.toString(), 'merchant.risk_score');
  });
});
