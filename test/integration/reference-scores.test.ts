import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadSchema } from '../../src/stages/decode';
import { H } from '../../src/output/headers';
import { collect, committedAtLeast, createTestTopics, endOffsets, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, PREDICTION_SCHEMA, referenceCases } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';
import type { RunningService } from '../../src/service';

describe('integration: reference events through a real broker', () => {
  const kafka = testKafka();
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop();
  });

  it('publishes one prediction per event, equal to the Python reference within 1e-5, then commits', async () => {
    const topics = await createTestTopics(kafka, 'reference');
    const cases = referenceCases();
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
    await produce(
      kafka,
      topics.input,
      cases.map((c) => ({ key: String(c.event.card_id), value: eventType.toBuffer(c.event) })),
    );

    scorer = await startScorer(topics);
    await waitFor(() => (scorer?.stats.consumed ?? 0) >= cases.length, 60_000, 'the scorer to consume every reference event');
    const outputs = await collect(kafka, topics.output, cases.length);
    const deadLetters = await collect(kafka, topics.deadLetter, 0, 1_000);

    assert.equal(deadLetters.length, 0, 'no reference event is dead-lettered');
    assert.equal(outputs.length, cases.length, 'exactly one prediction per event');
    const byId = new Map(cases.map((c) => [c.event.event_id, c]));
    const seen = new Set<string>();
    let worst = 0;
    for (const { message } of outputs) {
      const prediction = predictionType.fromBuffer(message.value as Buffer) as { event_id: string; score: number; probabilities: number[]; label: string | null; model_name: string };
      const expected = byId.get(prediction.event_id);
      assert.ok(expected, `prediction for a known event ${prediction.event_id}`);
      assert.ok(!seen.has(prediction.event_id), 'no duplicates');
      seen.add(prediction.event_id);
      worst = Math.max(worst, Math.abs(prediction.probabilities[0] as number - expected.probabilities[0]), Math.abs(prediction.score - expected.probabilities[1]));
      assert.equal(prediction.label, String(expected.label));
      assert.equal(message.key?.toString(), expected.event.card_id, 'same key as the input');
      assert.equal(message.headers?.[H.modelName]?.toString(), 'card-fraud');
      assert.ok(message.headers?.traceparent, 'trace context on the prediction');
    }
    assert.ok(worst <= 1e-5, `max |node - python| = ${worst}`);

    const ends = await endOffsets(kafka, topics.input);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 10_000);
    for (const [partition, end] of ends) assert.equal(committed.get(partition), end, `partition ${partition} committed to its end`);
  });
});
