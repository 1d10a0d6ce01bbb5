import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadSchema } from '../../src/stages/decode';
import { H } from '../../src/output/headers';
import type { RunningService } from '../../src/service';
import { collect, createTestTopics, headerText, produce, testKafka } from '../support/kafka';
import { mixedCases } from '../support/mixed';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';

describe('integration: a mixed batch of good and bad events', () => {
  const kafka = testKafka();
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop();
  });

  it('gives exactly one output per input, with reason codes and the original bytes in the dead-letter topic', async () => {
    const topics = await createTestTopics(kafka, 'mixed', 1);
    const cases = mixedCases(loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA'), referenceCases(), 'mixed');
    await produce(
      kafka,
      topics.input,
      cases.map((c) => ({ key: c.key, value: c.value, headers: c.headers, timestamp: '1767225600000' })),
    );
    scorer = await startScorer(topics);
    await waitFor(() => (scorer?.stats.consumed ?? 0) >= cases.length, 60_000, 'every input consumed');

    const good = cases.filter((c) => c.expected === undefined);
    const bad = cases.filter((c) => c.expected !== undefined);
    const predictions = await collect(kafka, topics.output, good.length);
    const deadLetters = await collect(kafka, topics.deadLetter, bad.length);
    assert.equal(predictions.length, good.length, 'one prediction per valid event');
    assert.equal(deadLetters.length, bad.length, 'one dead letter per bad event');
    assert.deepEqual(predictions.map((p) => p.message.key?.toString()).sort(), good.map((c) => c.key.toString()).sort());

    for (const c of bad) {
      const found = deadLetters.filter((d) => d.message.key?.equals(c.key));
      assert.equal(found.length, 1, `exactly one dead letter for ${c.name}`);
      const message = (found[0] as (typeof found)[number]).message;
      assert.equal(headerText(message, H.reasonCode), c.expected, c.name);
      if (c.field) assert.equal(headerText(message, H.reasonField), c.field, c.name);
      assert.ok((headerText(message, H.reasonMessage) ?? '').length > 0, 'a readable message');
      assert.equal(headerText(message, H.sourceTopic), topics.input);
      assert.equal(headerText(message, H.consumerGroup), topics.group);
      assert.equal(message.timestamp, '1767225600000', 'original timestamp');
      if (c.value === null) assert.equal(message.value, null, `${c.name}: null value stays null`);
      else assert.ok(message.value?.equals(c.value), `${c.name}: value byte-for-byte`);
      for (const [name, value] of Object.entries(c.headers)) assert.ok(Buffer.isBuffer(message.headers?.[name]) && (message.headers?.[name] as Buffer).equals(value), `${c.name}: header ${name} byte-for-byte`);
    }
    assert.deepEqual(scorer.stats.snapshot().byReason, bad.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.expected as string]: (acc[c.expected as string] ?? 0) + 1 }), {}));
  });
});
