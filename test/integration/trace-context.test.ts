import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { collect, createTestTopics, headerText, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { startScorer, waitFor } from '../support/scorer';

describe('integration: trace context through Kafka headers', () => {
  const kafka = testKafka();
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop();
  });

  it('carries the input trace id to the prediction and to the dead-letter record', async () => {
    const topics = await createTestTopics(kafka, 'trace', 1);
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const [a, b] = referenceCases();
    const traceA = randomBytes(16).toString('hex');
    const traceB = randomBytes(16).toString('hex');
    const parentB = randomBytes(8).toString('hex');
    await produce(kafka, topics.input, [
      { key: 'good', value: eventType.toBuffer(a?.event), headers: { traceparent: `00-${traceA}-${randomBytes(8).toString('hex')}-01` } },
      { key: 'bad', value: eventType.toBuffer({ ...b?.event, channel: 'crypto_atm' }), headers: { traceparent: `00-${traceB}-${parentB}-01` } },
    ]);
    scorer = await startScorer(topics);
    await waitFor(() => (scorer?.stats.consumed ?? 0) >= 2, 60_000, 'both events consumed');

    const [prediction] = await collect(kafka, topics.output, 1);
    const traceparent = headerText(prediction?.message ?? ({} as never), 'traceparent') ?? '';
    assert.equal(traceparent.split('-')[1], traceA, `prediction traceparent ${traceparent} continues the input trace`);

    const [dead] = await collect(kafka, topics.deadLetter, 1);
    assert.ok(dead);
    assert.equal(headerText(dead.message, 'traceparent'), `00-${traceB}-${parentB}-01`, 'the original traceparent is kept as received');
    assert.equal((headerText(dead.message, 'scorer.traceparent') ?? '').split('-')[1], traceB, "the scorer's own context continues the trace");
  });
});
