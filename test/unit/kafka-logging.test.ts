import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createKafka } from '../../src/kafka/client';
import { createLogger } from '../../src/telemetry/logger';

/** What kafkajs' own log lines become in ours: level and message, via the real log creator. */
function capture(): { lines: Array<{ level: string; msg: string; namespace?: string }>; kafka: ReturnType<typeof createKafka> } {
  const lines: Array<{ level: string; msg: string; namespace?: string }> = [];
  const logger = createLogger('debug', 'test', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { lines, kafka: createKafka({ brokers: ['127.0.0.1:1'], clientId: 'log-test' }, logger) };
}

describe('kafkajs log levels', () => {
  it('a consumer crash kafkajs restarts from, and the restart, are warnings', () => {
    const { lines, kafka } = capture();
    const consumerLog = kafka.logger().namespace('Consumer');
    consumerLog.error("Crash: KafkaJSProtocolError: The coordinator is loading and hence can't process requests for this group", { groupId: 'g' });
    consumerLog.error('Restarting the consumer in 300ms', { retryTime: 300, groupId: 'g' });
    assert.deepEqual(
      lines.map((l) => [l.level, l.namespace]),
      [
        ['warn', 'Consumer'],
        ['warn', 'Consumer'],
      ],
    );
  });

  it('the rejoin after a lost membership is a warning; other runner errors stay errors', () => {
    const { lines, kafka } = capture();
    const runnerLog = kafka.logger().namespace('Runner');
    runnerLog.error('The coordinator is not aware of this member, re-joining the group', { groupId: 'g', memberId: 'm' });
    runnerLog.error('Something else went wrong', { groupId: 'g' });
    assert.deepEqual(
      lines.map((l) => [l.level, l.namespace]),
      [
        ['warn', 'Runner'],
        ['error', 'Runner'],
      ],
    );
  });

  it('error responses seen by the connection layer are warnings; other errors stay errors', () => {
    const { lines, kafka } = capture();
    kafka.logger().namespace('Connection').error('Response Produce(key: 0, version: 7)', { error: 'Not authorized' });
    kafka.logger().namespace('Consumer').error('Error when calling eachBatch', { topic: 't' });
    kafka.logger().namespace('Producer').error('The request included a message larger than the max message size', {});
    assert.deepEqual(
      lines.map((l) => [l.level, l.namespace]),
      [
        ['warn', 'Connection'],
        ['error', 'Consumer'],
        ['error', 'Producer'],
      ],
    );
  });

  it('CONCURRENT_TRANSACTIONS (an expected wait for the previous transaction) is never a warning or an error', () => {
    const concurrent = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
    const { lines, kafka } = capture();
    kafka.logger().namespace('Connection').error('Response AddOffsetsToTxn(key: 25, version: 1)', { error: concurrent });
    kafka.logger().namespace('Connection').error('Response InitProducerId(key: 22, version: 1)', { error: concurrent });
    kafka.logger().namespace('Producer').error(`Failed to send messages: ${concurrent}`, { retryCount: 0, retryTime: 200 });
    kafka.logger().namespace('Producer').error('Failed to send messages: The coordinator is not available', { retryCount: 0, retryTime: 200 });
    assert.deepEqual(
      lines.map((l) => [l.level, l.namespace]),
      [
        ['debug', 'Connection'],
        ['debug', 'Connection'],
        ['info', 'Producer'],
        ['error', 'Producer'],
      ],
    );
  });
});
