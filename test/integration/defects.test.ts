import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ServiceError } from '../../src/errors';
import { H } from '../../src/output/headers';
import type { RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { collect, committedAtLeast, committedOffsets, createTestTopics, endOffsets, headerText, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, PREDICTION_SCHEMA, referenceCases } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';

/*
 * Defects (exceptions that are not the broker's) in a running scorer against the real broker,
 * injected with the testing fail-points FAILPOINT_THROW_ON_KEY (processing throws for a record)
 * and FAILPOINT_UNENCODABLE_KEY (kafkajs throws a TypeError while encoding an output record).
 */
describe('integration: a defect in the pipeline or the writer', () => {
  const kafka = testKafka();
  const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
  const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
  const events = referenceCases().map((c) => c.event);
  const running: RunningService[] = [];
  after(async () => {
    for (const scorer of running) await scorer.stop().catch(() => undefined);
  });

  it('a record whose processing throws is dead-lettered as INTERNAL_ERROR; every other record is scored and the partition moves on', async () => {
    const topics = await createTestTopics(kafka, 'defect-isolated', 1);
    const poison = 137;
    const unknown = new Set([50, 200]);
    const messages = events.map((event, i) => ({
      key: i === poison ? 'poison' : `k${i}`,
      value: eventType.toBuffer(unknown.has(i) ? { ...event, channel: 'crypto_atm' } : event),
      headers: { 'x-index': String(i) },
    }));
    await produce(kafka, topics.input, messages);

    const scorer = await startScorer(topics, { FAILPOINT_THROW_ON_KEY: 'poison' });
    running.push(scorer);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, await endOffsets(kafka, topics.input), 60_000);
    assert.equal(committed.get(0), String(messages.length), 'the partition is not blocked: committed to the end');

    const predictions = await collect(kafka, topics.output, messages.length - 3);
    const deadLetters = await collect(kafka, topics.deadLetter, 3);
    assert.equal(predictions.length + deadLetters.length, messages.length, 'one output per input');
    const predicted = predictions.map((p) => (predictionType.fromBuffer(p.message.value as Buffer) as { source: { offset: number } }).source.offset);
    assert.deepEqual(predicted, [...predicted].sort((a, b) => a - b), 'predictions in input order');
    assert.deepEqual(new Set(predicted), new Set(messages.map((_, i) => i).filter((i) => i !== poison && !unknown.has(i))));

    const reasons = deadLetters.map((d) => [Number(headerText(d.message, H.sourceOffset)), headerText(d.message, H.reasonCode)]);
    assert.deepEqual(reasons, [
      [50, 'UNKNOWN_CATEGORY'],
      [137, 'INTERNAL_ERROR'],
      [200, 'UNKNOWN_CATEGORY'],
    ]);
    const internal = (deadLetters.find((d) => headerText(d.message, H.reasonCode) === 'INTERNAL_ERROR') as (typeof deadLetters)[number]).message;
    assert.equal(headerText(internal, H.reasonStage), 'pipeline');
    assert.match(headerText(internal, H.reasonMessage) ?? '', /^processing this record threw TypeError: failpoint FAILPOINT_THROW_ON_KEY/);
    assert.ok(internal.value?.equals(messages[poison]?.value as Buffer), 'original bytes');
    assert.equal(internal.key?.toString(), 'poison');
    assert.equal(headerText(internal, 'x-index'), String(poison), 'original headers');
    assert.equal(scorer.stats.snapshot().byReason.INTERNAL_ERROR, 1);
  });

  for (const guarantee of ['at-least-once', 'exactly-once'] as const) {
    it(`${guarantee}: a defect in the writer stops the service after DEFECT_MAX_ATTEMPTS with INTERNAL_DEFECT, nothing past it committed`, async () => {
      const topics = await createTestTopics(kafka, `defect-writer-${guarantee}`, 1);
      await produce(kafka, topics.input, events.slice(0, 5).map((e, i) => ({ key: `k${i}`, value: eventType.toBuffer(e) })));

      const scorer = await startScorer(topics, { PROCESSING_GUARANTEE: guarantee, FAILPOINT_UNENCODABLE_KEY: 'unencodable' });
      running.push(scorer);
      const outcome = scorer.done.then(
        () => undefined,
        (error: unknown) => error,
      );
      await committedAtLeast(kafka, topics.group, topics.input, await endOffsets(kafka, topics.input), 30_000);
      assert.equal((await committedOffsets(kafka, topics.group, topics.input)).get(0), '5');

      // Offset 6 is the record whose prediction kafkajs cannot encode; 5, 7 and 8 are fine but share its batch.
      await produce(
        kafka,
        topics.input,
        events.slice(5, 9).map((e, i) => ({ key: i === 1 ? 'unencodable' : `k${5 + i}`, value: eventType.toBuffer(e) })),
      );

      let settled = false;
      void outcome.then(() => (settled = true));
      await waitFor(() => settled, 60_000, 'the scorer to stop on its own');
      const error = await outcome;
      assert.ok(error instanceof ServiceError, `stopped with a ServiceError, got ${String(error)}`);
      assert.equal(error.code, 'INTERNAL_DEFECT');
      const match = error.message.match(new RegExp(`^INTERNAL_DEFECT: ${topics.input.replace(/\./g, '\\.')}\\[0\\] offsets (\\d+)\\.\\.(\\d+) failed 3 time\\(s\\) in a row \\(DEFECT_MAX_ATTEMPTS=3\\) with TypeError: `));
      assert.ok(match, error.message);
      const [first, last] = [Number(match[1]), Number(match[2])];
      assert.ok(first <= 6 && 6 <= last, `the batch named (${first}..${last}) holds offset 6`);
      assert.match(error.message, new RegExp(`Nothing from offset ${first} on was committed`));

      const committed = await committedOffsets(kafka, topics.group, topics.input);
      assert.equal(committed.get(0), String(first), `committed ${committed.get(0)}: nothing past the batch that failed`);
      const predictions = await collect(kafka, topics.output, 5, 5_000, 1_000);
      assert.deepEqual(
        predictions.map((p) => (predictionType.fromBuffer(p.message.value as Buffer) as { source: { offset: number } }).source.offset).sort((a, b) => a - b),
        [0, 1, 2, 3, 4],
        'no output of the failed batch was written (or committed, read_committed)',
      );
    });
  }
});
