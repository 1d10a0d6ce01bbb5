import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { classifyKafkaError } from '../../src/kafka/errors';

function protocolError(type: string, retriable: boolean): Error {
  return new KafkaJSProtocolError({ message: type, type, code: 0, retriable } as never);
}

describe('Kafka error classification: retry, drop the producer, or stop', () => {
  const cases: [string, unknown, string][] = [
    ['connection refused', new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), 'transient'],
    ['leader moved', protocolError('NOT_LEADER_OR_FOLLOWER', true), 'transient'],
    ['not enough replicas', protocolError('NOT_ENOUGH_REPLICAS', true), 'transient'],
    ['retries exhausted on a retriable cause', new KafkaJSNumberOfRetriesExceeded(protocolError('REQUEST_TIMED_OUT', true), { retryCount: 5, retryTime: 1000 }), 'transient'],
    ['unknown topic (checked against the cluster separately)', protocolError('UNKNOWN_TOPIC_OR_PARTITION', true), 'transient'],
    ['topic not authorized', protocolError('TOPIC_AUTHORIZATION_FAILED', false), 'permanent'],
    ['authorization failure wrapped in retries', new KafkaJSNumberOfRetriesExceeded(protocolError('TRANSACTIONAL_ID_AUTHORIZATION_FAILED', false), { retryCount: 0, retryTime: 0 }), 'permanent'],
    ['record too large', protocolError('MESSAGE_TOO_LARGE', false), 'permanent'],
    ['fenced by a newer producer epoch', protocolError('INVALID_PRODUCER_EPOCH', false), 'fenced'],
    ['fenced (named)', protocolError('PRODUCER_FENCED', false), 'fenced'],
    ['plain error', new Error('socket hang up'), 'transient'],
  ];
  for (const [name, error, expected] of cases) {
    it(name, () => assert.equal(classifyKafkaError(error), expected));
  }
});
