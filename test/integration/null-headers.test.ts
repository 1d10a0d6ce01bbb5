import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { IHeaders } from 'kafkajs';
// The test's own producer writes null header values too: as the service does, through this.
import { H } from '../../src/output/headers';
import type { RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { collect, committedAtLeast, createTestTopics, endOffsets, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const VALID = /^00-[\da-f]{32}-[\da-f]{16}-0[01]$/;

type WireHeaders = Record<string, Buffer | null | (Buffer | null)[]>;

/** Header sets with null values (as a Kafka producer may send them), each on a good and a bad event. */
const VARIANTS: Record<string, WireHeaders> = {
  'null-traceparent': { traceparent: null, 'x-bin': Buffer.from([0x00, 0xff]) },
  'null-tracestate': { traceparent: Buffer.from(PARENT), tracestate: null },
  'null-custom': { 'x-null': null, 'x-empty': Buffer.alloc(0), 'x-text': Buffer.from('t') },
  'duplicates-with-nulls': { traceparent: [null, Buffer.from(PARENT)], 'x-null': [null, Buffer.from('v'), null] },
};

describe('integration: null header values', () => {
  const kafka = testKafka();
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop();
  });

  it('reach the outputs as null, byte for byte, and block nothing', async () => {
    const topics = await createTestTopics(kafka, 'null-headers', 1);
    const type = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const events = referenceCases().map((c) => c.event);
    const inputs = Object.entries(VARIANTS).flatMap(([name, headers], i) => [
      { name: `${name}/good`, bad: false, headers, value: type.toBuffer(events[i]) },
      { name: `${name}/bad`, bad: true, headers, value: type.toBuffer({ ...events[i], channel: 'crypto_atm' }) },
    ]);
    // kafkajs' IHeaders has no null, though its consumer hands them out and the broker keeps them.
    await produce(
      kafka,
      topics.input,
      inputs.map((c) => ({ key: c.name, value: c.value, headers: c.headers as unknown as IHeaders, timestamp: '1767225600000' })),
    );
    // The input itself holds the nulls: the test would prove nothing if the producer had dropped them.
    const echoed = await collect(kafka, topics.input, inputs.length, 30_000, 0);
    assert.equal(echoed.find((e) => e.message.key?.toString() === 'null-custom/good')?.message.headers?.['x-null'], null);

    scorer = await startScorer(topics);
    const ends = await endOffsets(kafka, topics.input);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 60_000);
    assert.equal(committed.get(0), ends.get(0), 'every input committed: the partition is not blocked');
    await waitFor(() => (scorer?.stats.consumed ?? 0) >= inputs.length, 10_000, 'every input consumed');
    assert.equal(scorer.stats.retries, 0, 'no batch was retried');

    const good = inputs.filter((c) => !c.bad);
    const bad = inputs.filter((c) => c.bad);
    const predictions = await collect(kafka, topics.output, good.length);
    const deadLetters = await collect(kafka, topics.deadLetter, bad.length);
    assert.equal(predictions.length, good.length, 'one prediction per good event');
    assert.equal(deadLetters.length, bad.length, 'one dead letter per bad event');

    for (const c of bad) {
      const found = deadLetters.filter((d) => d.message.key?.toString() === c.name);
      assert.equal(found.length, 1, c.name);
      const headers = (found[0] as (typeof found)[number]).message.headers ?? {};
      assert.equal(String(headers[H.reasonCode]), 'UNKNOWN_CATEGORY', c.name);
      for (const [name, value] of Object.entries(c.headers)) assert.deepEqual(headers[name], value, `${c.name}: header ${name} as sent (null stays null)`);
      assert.match(String(headers['scorer.traceparent']), VALID, `${c.name}: scorer.traceparent`);
    }
    for (const c of good) {
      const found = predictions.filter((p) => p.message.key?.toString() === c.name);
      assert.equal(found.length, 1, c.name);
      const headers = (found[0] as (typeof found)[number]).message.headers ?? {};
      assert.deepEqual(Object.keys(headers).filter((n) => !n.startsWith('scorer.')).sort(), 'tracestate' in c.headers ? ['traceparent', 'tracestate'] : ['traceparent'], `${c.name}: trace headers only`);
      assert.match(String(headers.traceparent), VALID, `${c.name}: a valid traceparent`);
    }
    const nullState = predictions.find((p) => p.message.key?.toString() === 'null-tracestate/good')?.message.headers ?? {};
    assert.equal(String(nullState.traceparent), PARENT, 'a valid traceparent passed on');
    assert.equal(nullState.tracestate, null, 'its null tracestate passed on as null');
  });
});
