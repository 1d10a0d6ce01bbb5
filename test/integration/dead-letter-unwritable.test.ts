import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { RunningService } from '../../src/service';
import { ServiceError } from '../../src/errors';
import { loadSchema } from '../../src/stages/decode';
import { committedAtLeast, committedOffsets, createTestTopics, endOffsets, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';

describe('integration: the dead-letter topic becomes unwritable', () => {
  const kafka = testKafka();
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop().catch(() => undefined);
  });

  it('stops with OUTPUT_UNWRITABLE and commits nothing past the failure', async () => {
    const topics = await createTestTopics(kafka, 'dlq-gone', 1);
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const events = referenceCases().map((c) => c.event);
    await produce(kafka, topics.input, events.slice(0, 5).map((e) => ({ key: 'k', value: eventType.toBuffer(e) })));

    scorer = await startScorer(topics, { PRODUCER_RETRIES: '2' });
    const outcome = scorer.done.then(
      () => undefined,
      (error: unknown) => error,
    );
    await committedAtLeast(kafka, topics.group, topics.input, await endOffsets(kafka, topics.input), 30_000);
    assert.equal((await committedOffsets(kafka, topics.group, topics.input)).get(0), '5');

    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topics.deadLetter], timeout: 10_000 });
    await admin.disconnect();

    // Offset 5 is bad and must be dead-lettered; offsets 6.. are fine but come after it.
    await produce(kafka, topics.input, [
      { key: 'bad', value: eventType.toBuffer({ ...events[5], channel: 'crypto_atm' }) },
      ...events.slice(6, 9).map((e) => ({ key: 'k', value: eventType.toBuffer(e) })),
    ]);

    let settled = false;
    void outcome.then(() => (settled = true));
    await waitFor(() => settled, 60_000, 'the scorer to stop on its own');
    const error = await outcome;
    assert.ok(error instanceof ServiceError, `stopped with a ServiceError, got ${String(error)}`);
    assert.equal(error.code, 'OUTPUT_UNWRITABLE');
    assert.match(error.message, new RegExp(topics.deadLetter));
    assert.match(error.message, /nothing from this batch was committed/);

    const committed = await committedOffsets(kafka, topics.group, topics.input);
    assert.ok(BigInt(committed.get(0) ?? '-1') <= 5n, `committed ${committed.get(0)}: nothing past the bad event at offset 5`);
  });
});
