import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load';
import { fetchLimits } from '../../src/kafka/consumer';

describe('fetch limits', () => {
  const base = { KAFKA_BROKERS: '127.0.0.1:9092' };
  it('bound a whole fetch to one partition\'s worth by default', () => {
    const config = loadConfig(base);
    assert.deepEqual(fetchLimits(config), { maxBytesPerPartition: 256 * 1024, maxBytes: 256 * 1024 });
    assert.deepEqual(fetchLimits(loadConfig({ ...base, CONSUMER_MAX_BYTES_PER_PARTITION: '1048576' })), { maxBytesPerPartition: 1_048_576, maxBytes: 1_048_576 });
  });
  it('take CONSUMER_MAX_BYTES for the whole fetch when it is set', () => {
    assert.deepEqual(fetchLimits(loadConfig({ ...base, CONSUMER_MAX_BYTES: '10485760' })), { maxBytesPerPartition: 256 * 1024, maxBytes: 10_485_760 });
  });
  it('refuse a fetch size below 1 KiB, naming the setting', () => {
    assert.throws(() => loadConfig({ ...base, CONSUMER_MAX_BYTES: '100' }), /CONSUMER_MAX_BYTES/);
  });
});
