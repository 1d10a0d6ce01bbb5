import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REQUEST_BYTES, maxRequestBytes, produceRequests } from '../../src/kafka/output-writer';
import { recordSize } from '../../src/output/record-size';
import type { OutputRecord } from '../../src/records';

const record = (i: number, valueBytes: number): OutputRecord => ({
  key: Buffer.from(`k${i}`),
  value: Buffer.alloc(valueBytes, i % 256),
  headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'scorer.model.name': 'card-fraud' },
});

describe('output writes: bounded produce requests (the broker refuses a partition batch above 1 MiB)', () => {
  it('keeps a small batch in one request, both topics together', () => {
    const requests = produceRequests([
      { topic: 'out', records: [record(0, 100), record(1, 100)] },
      { topic: 'dlq', records: [record(2, 100)] },
    ]);
    assert.equal(requests.length, 1);
    assert.deepEqual(
      requests[0]?.map((t) => [t.topic, t.messages.length]),
      [
        ['out', 2],
        ['dlq', 1],
      ],
    );
  });

  it('splits a big batch by bytes, in order, losing and repeating nothing', () => {
    const records = Array.from({ length: 3_000 }, (_, i) => record(i, 1_000)); // ~3.3 MB of outputs
    const requests = produceRequests([{ topic: 'out', records }], MAX_REQUEST_BYTES, 10_000);
    assert.ok(requests.length >= 6, `${requests.length} requests`);
    const keys = requests.flatMap((r) => r.flatMap((t) => t.messages.map((m) => String(m.key))));
    assert.deepEqual(keys, records.map((r) => String(r.key)));
    for (const request of requests) {
      const bytes = request.reduce((sum, t) => sum + t.messages.reduce((s, m) => s + (m.value as Buffer).length, 0), 0);
      assert.ok(bytes <= MAX_REQUEST_BYTES, `request of ${bytes} value bytes`);
    }
  });

  it('splits by record count too, and sends an oversized record alone', () => {
    const byCount = produceRequests([{ topic: 'out', records: Array.from({ length: 1_001 }, (_, i) => record(i, 10)) }], MAX_REQUEST_BYTES, 500);
    assert.deepEqual(byCount.map((r) => r[0]?.messages.length), [500, 500, 1]);
    const huge = produceRequests([{ topic: 'out', records: [record(0, 10), record(1, MAX_REQUEST_BYTES + 1), record(2, 10)] }]);
    assert.deepEqual(huge.map((r) => r[0]?.messages.length), [1, 1, 1]);
  });

  it('keeps every partition batch under a topic limit below 1 MiB; a record near the limit goes alone', () => {
    const limit = 300_000;
    assert.equal(maxRequestBytes(undefined), MAX_REQUEST_BYTES);
    assert.equal(maxRequestBytes(2 * 1024 * 1024), MAX_REQUEST_BYTES);
    assert.equal(maxRequestBytes(limit), limit / 2);
    const records = [record(0, 90_000), record(1, 90_000), record(2, 299_000), record(3, 90_000), record(4, 1_000), record(5, 90_000)];
    const requests = produceRequests([{ topic: 'dlq', records }], maxRequestBytes(limit));
    for (const request of requests) {
      const bytes = request.reduce((sum, t) => sum + t.messages.reduce((s, m) => s + recordSize(m as OutputRecord), 0), 0);
      assert.ok(bytes + 61 <= limit, `a record batch of ${bytes + 61} bytes`);
    }
    assert.deepEqual(
      requests.map((r) => r[0]?.messages.map((m) => String(m.key))),
      [['k0'], ['k1'], ['k2'], ['k3', 'k4'], ['k5']],
    );
  });

  it('has nothing to send for empty outputs', () => {
    assert.deepEqual(produceRequests([{ topic: 'out', records: [] }]), []);
  });
});
