import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { RunningService } from '../../src/service';
import { EventFactory, seededRandom } from '../../src/demo/synthetic';
import { readContract } from '../../src/model/contract';
import { loadSchema } from '../../src/stages/decode';
import { collect, committedAtLeast, createTestTopics, endOffsets, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, MODEL_PATH, PREDICTION_SCHEMA } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';

describe('integration: restart', () => {
  const kafka = testKafka();
  const running: RunningService[] = [];
  after(async () => {
    for (const s of running) await s.stop();
  });

  it('resumes from the committed offset without losing or repeating an event', async () => {
    const topics = await createTestTopics(kafka, 'restart');
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
    const factory = new EventFactory(readContract(MODEL_PATH), seededRandom(7));
    const batch = (n: number) => Array.from({ length: n }, () => factory.valid()).map((e) => ({ key: String(e.card_id), value: eventType.toBuffer(e), id: String(e.event_id) }));

    const first = batch(400);
    await produce(kafka, topics.input, first);
    const scorer1 = await startScorer(topics);
    running.push(scorer1);
    await waitFor(() => scorer1.stats.consumed >= first.length, 60_000, 'first run to consume 400 events');
    await committedAtLeast(kafka, topics.group, topics.input, await endOffsets(kafka, topics.input), 10_000);
    await scorer1.stop();

    // Events that arrive while no scorer runs.
    const second = batch(600);
    await produce(kafka, topics.input, second);

    const scorer2 = await startScorer(topics);
    running.push(scorer2);
    await waitFor(() => scorer2.stats.consumed >= second.length, 60_000, 'second run to consume the 600 new events');
    assert.equal(scorer2.stats.consumed, second.length, 'the restarted scorer starts at the committed offset, not the beginning');

    const outputs = await collect(kafka, topics.output, first.length + second.length);
    const ids = outputs.map((o) => (predictionType.fromBuffer(o.message.value as Buffer) as { event_id: string }).event_id);
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    const lost = [...first, ...second].filter((e) => !counts.has(e.id));
    const duplicated = [...counts.values()].filter((n) => n > 1).length;
    assert.equal(lost.length, 0, `lost ${lost.length} events`);
    assert.equal(duplicated, 0, `duplicated ${duplicated} events after a graceful stop`);
    assert.equal(outputs.length, first.length + second.length);
  });
});
