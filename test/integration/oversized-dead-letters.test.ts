import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MAX_MESSAGE_CHARS } from '../../src/errors';
import { topicMaxMessageBytes } from '../../src/kafka/admin';
import { H } from '../../src/output/headers';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES } from '../../src/output/record-size';
import type { RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { collect, committedAtLeast, createTestTopics, endOffsets, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';

/**
 * An input topic that takes records of up to 2 MiB, a dead-letter topic at the broker's 1 MiB:
 * before, a 1 MiB undecodable input or a 600 KB unknown category (its message repeated the value)
 * made a dead letter the broker refused for good, and the service stopped with OUTPUT_UNWRITABLE,
 * again after every restart.
 */
const MiB = 1024 * 1024;

describe('integration: inputs whose dead letters would not fit the dead-letter topic', () => {
  const kafka = testKafka();
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop().catch(() => undefined);
  });

  for (const guarantee of ['at-least-once', 'exactly-once']) {
    it(`are dead-lettered within the limit, and every good event around them is scored (${guarantee})`, async () => {
      await scorer?.stop();
      const topics = await createTestTopics(kafka, 'oversized', 3, { input: [{ name: 'max.message.bytes', value: String(2 * MiB) }] });
      assert.deepEqual(
        (await topicMaxMessageBytes(kafka, [topics.input, topics.deadLetter])).map((l) => [l.maxMessageBytes, l.error]),
        [
          [2 * MiB, undefined],
          [BROKER_DEFAULT_MAX_MESSAGE_BYTES, undefined],
        ],
        'the limits, as the service reads them',
      );
      const type = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
      const events = referenceCases().map((c) => c.event);
      const good = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ key: `${tag}-${i}`, value: type.toBuffer(events[i % events.length]) }));
      // A good event with 1 MiB of trailing bytes: UNDECODABLE_AVRO ("trailing data").
      const first = type.toBuffer(events[0]);
      const undecodable = Buffer.concat([first, Buffer.alloc(MiB - first.length, 0xab)]);
      const unknown = type.toBuffer({ ...events[1], channel: 'q'.repeat(600_000) });
      const before = good(30, 'before');
      const afterwards = good(30, 'after');
      await produce(kafka, topics.input, before);
      // One big record per send: the producer puts a partition's records in one batch, and the topic takes 2 MiB.
      await produce(kafka, topics.input, [{ key: 'big-undecodable', value: undecodable }]);
      await produce(kafka, topics.input, [{ key: 'big-unknown', value: unknown }]);
      await produce(kafka, topics.input, afterwards);
      const ends = await endOffsets(kafka, topics.input);
      assert.equal(ends.size, 3);

      scorer = await startScorer(topics, { PROCESSING_GUARANTEE: guarantee });
      let stopped: unknown;
      scorer.done.then(
        () => (stopped = 'stopped'),
        (error: unknown) => (stopped = error),
      );
      const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 90_000);
      for (const [partition, end] of ends) assert.equal(committed.get(partition), end, `partition ${partition} committed to its end: no stall`);
      assert.equal(stopped, undefined, 'the service keeps running');
      await waitFor(() => (scorer?.stats.consumed ?? 0) >= before.length + afterwards.length + 2, 10_000, 'every input counted');
      assert.equal(scorer.stats.retries, 0, 'no batch had to be retried');

      const predictions = await collect(kafka, topics.output, before.length + afterwards.length);
      const deadLetters = await collect(kafka, topics.deadLetter, 2);
      assert.deepEqual(predictions.map((p) => p.message.key?.toString()).sort(), [...before, ...afterwards].map((m) => m.key).sort(), 'every good event scored, once');
      assert.equal(deadLetters.length, 2);

      const byKey = (key: string) => deadLetters.find((d) => d.message.key?.toString() === key)?.message;
      const cut = byKey('big-undecodable');
      assert.ok(cut, 'the undecodable one is dead-lettered');
      assert.equal(String(cut.headers?.[H.reasonCode]), 'UNDECODABLE_AVRO');
      assert.equal(cut.value?.length, 0, 'its value left out');
      assert.equal(String(cut.headers?.[H.valueTruncated]), 'true');
      assert.equal(String(cut.headers?.[H.valueOriginalSize]), String(MiB));
      assert.equal(cut.headers?.[H.headersDroppedCount], undefined, 'nothing else left out');
      // Where the original is: read it back from the input topic.
      const [partition, offset] = [Number(String(cut.headers?.[H.sourcePartition])), String(cut.headers?.[H.sourceOffset])];
      assert.equal(String(cut.headers?.[H.sourceTopic]), topics.input);
      const inputs = await collect(kafka, topics.input, before.length + afterwards.length + 2);
      const original = inputs.find((r) => r.partition === partition && r.message.offset === offset);
      assert.ok(original?.message.value?.equals(undecodable), 'the source headers lead to the original bytes');

      const kept = byKey('big-unknown');
      assert.ok(kept, 'the unknown category is dead-lettered');
      assert.equal(String(kept.headers?.[H.reasonCode]), 'UNKNOWN_CATEGORY');
      assert.equal(String(kept.headers?.[H.reasonField]), 'channel');
      assert.ok(kept.value?.equals(unknown), 'its value kept byte for byte: it fits once the message is capped');
      assert.equal(kept.headers?.[H.valueTruncated], undefined);
      assert.ok(String(kept.headers?.[H.reasonMessage]).length <= MAX_MESSAGE_CHARS + 1, 'the message is capped');
      assert.ok(String(kept.headers?.[H.reasonValue]).length <= 201, 'the value is capped');
    });
  }
});
