import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as kafkajs from 'kafkajs';
import {
  KafkaJSAggregateError,
  KafkaJSBrokerNotFound,
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSLockTimeout,
  KafkaJSNonRetriableError,
  KafkaJSNotImplemented,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
  KafkaJSServerDoesNotSupportApiKey,
} from 'kafkajs';
import { ServiceError } from '../../src/errors';
import { classifyKafkaError } from '../../src/kafka/errors';

function protocolError(type: string, retriable: boolean): Error {
  return new KafkaJSProtocolError({ message: type, type, code: 0, retriable } as never);
}

/** kafkajs' types declare some constructors without the message every one of them takes, and leave some classes out. */
function kafkaError(Class: unknown, message: string): Error {
  return new (Class as new (message: string) => Error)(message);
}

const runtime = kafkajs as unknown as Record<'KafkaJSConnectionClosedError' | 'KafkaJSInvariantViolation', unknown>;

/** What kafkajs' retrier (retry/index.js) rejects with when the retried function threw something it will not retry. */
function retrierWrapped(error: Error): Error {
  return new (KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error)(error, { cause: error });
}

function retriesExceeded(error: Error): Error {
  return new KafkaJSNumberOfRetriesExceeded(error, { retryCount: 5, retryTime: 1000 });
}

function systemError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
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

describe('Kafka error classification: broker and network errors are retried without limit', () => {
  const cases: [string, unknown][] = [
    ['connection closed', kafkaError(runtime.KafkaJSConnectionClosedError, 'Closed connection')],
    ['request timed out', new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out')],
    ['broker not found', kafkaError(KafkaJSBrokerNotFound, 'Broker 1 not found in the cached metadata')],
    ['producer disconnected under a write (a retriable KafkaJSError)', new KafkaJSError('The producer is disconnected')],
    ['group coordinator not found (non-retriable class, but the broker is away)', kafkaError(KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator')],
    ['lock timeout waiting on a broker connection', kafkaError(KafkaJSLockTimeout, 'Timeout while acquiring lock (1 waiting locks)')],
    ['retries exhausted on a connection error', retriesExceeded(new KafkaJSConnectionError('Connection timeout'))],
    ['retries exhausted on kafkajs\' plain "Broker not connected"', retriesExceeded(new Error('Broker not connected'))],
    ['rebalance wrapped by the consumer group in a retriable KafkaJSError', new KafkaJSError(protocolError('REBALANCE_IN_PROGRESS', false))],
    ['a Node socket error', systemError('read ECONNRESET', 'ECONNRESET')],
    ['a Node DNS failure', systemError('getaddrinfo EAI_AGAIN kafka-0', 'EAI_AGAIN')],
    ['our ServiceError around a TLS failure at connect() (security.ts)', new ServiceError('KAFKA_AUTH_FAILED', 'TLS with the brokers failed', { cause: new KafkaJSConnectionError('self-signed certificate') })],
    ['aggregate of retriable protocol errors (admin)', new KafkaJSAggregateError('Topic creation errors', [protocolError('NOT_CONTROLLER', true), protocolError('REQUEST_TIMED_OUT', true)])],
  ];
  for (const [name, error] of cases) {
    it(name, () => assert.equal(classifyKafkaError(error), 'transient'));
  }
});

describe('Kafka error classification: retrying cannot help', () => {
  const cases: [string, unknown][] = [
    ['SASL authentication refused (client side class)', kafkaError(KafkaJSSASLAuthenticationError, 'SASL SCRAM SHA512 authentication failed: bad password')],
    ['SASL refusal wrapped by security.ts at connect()', new ServiceError('KAFKA_AUTH_FAILED', 'refused', { cause: kafkaError(KafkaJSSASLAuthenticationError, 'SASL PLAIN authentication failed') })],
    ['an API the broker does not support', new KafkaJSServerDoesNotSupportApiKey('The Kafka server does not support the requested API version', { apiKey: 0, apiName: 'Produce' })],
  ];
  for (const [name, error] of cases) {
    it(name, () => assert.equal(classifyKafkaError(error), 'permanent'));
  }
});

describe('Kafka error classification: not a Kafka or network error is a defect', () => {
  const typeError = new TypeError("Cannot read properties of undefined (reading 'length')");
  const cases: [string, unknown][] = [
    ['a TypeError from our pipeline', typeError],
    ['a RangeError', new RangeError('Invalid array length')],
    ['a plain Error that names no network failure', new Error('boom')],
    ['a thrown string', 'something went wrong'],
    ['a thrown undefined', undefined],
    ['a TypeError kafkajs threw while encoding a record we built (it leaves the producer unwrapped)', new TypeError('The "string" argument must be of type string or an instance of Buffer or ArrayBuffer. Received [Object: null prototype] {}')],
    ["the same TypeError, as kafkajs' retrier wraps it (KafkaJSNonRetriableError with the cause)", retrierWrapped(typeError)],
    ['retries exhausted on a plain Error (kafkajs retries errors without `retriable`)', retriesExceeded(new Error('boom'))],
    ['kafkajs invariant violation (a client bug)', kafkaError(runtime.KafkaJSInvariantViolation, 'unexpected state')],
    ['kafkajs not implemented', kafkaError(KafkaJSNotImplemented, 'Not implemented')],
    ['kafkajs refusing a call in the wrong transaction state', new KafkaJSNonRetriableError('Transaction state exception: Cannot call "send" in state "COMMITTING"')],
    ['kafkajs refusing a message without value', new KafkaJSNonRetriableError('Invalid message without value for topic "out"')],
    ['a ServiceError of ours with no client error inside', new ServiceError('CONFIG_INVALID', 'nope')],
    ['an aggregate with a TypeError among broker errors', new AggregateError([protocolError('NOT_CONTROLLER', true), typeError], 'mixed')],
    ['a TypeError whose message mentions fencing is still a defect', new TypeError('fenced is not a function')],
  ];
  for (const [name, error] of cases) {
    it(name, () => assert.equal(classifyKafkaError(error), 'defect'));
  }

  it('a permanent broker answer inside a wrapper still wins over the wrapper', () => {
    assert.equal(classifyKafkaError(retrierWrapped(protocolError('TOPIC_AUTHORIZATION_FAILED', false))), 'permanent');
  });
});
