import {
  KafkaJSError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSSASLAuthenticationError,
  KafkaJSServerDoesNotSupportApiKey,
  KafkaJSTimeout,
} from 'kafkajs';
import { ServiceError } from '../errors';

/**
 * What an error means for the batch that hit it:
 * - transient: the broker or network will come back; retry the batch, never dead-letter it;
 * - fenced: another producer owns this transactional id now; drop ours, commit nothing;
 * - permanent: retrying cannot help (not authorized, record too large); stop the service;
 * - defect: not a broker or network error at all — a bug in the scorer, a record it cannot
 *   handle, or a misuse of the Kafka client. Retrying it forever would block the partition in
 *   silence, so it is isolated to a record or retried a bounded number of times (see service.ts).
 */
export type KafkaFailure = 'transient' | 'fenced' | 'permanent' | 'defect';

const PERMANENT = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_REQUIRED_ACKS',
  'INVALID_TOPIC_EXCEPTION',
  'UNSUPPORTED_VERSION',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
]);

const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'TRANSACTIONAL_ID_NOT_FOUND', 'INVALID_TXN_STATE']);

/** Node's error codes for a socket that failed: the network, not the data. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENETRESET', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * The same failures when only the text survived (a library re-threw `new Error(err.message)`),
 * and kafkajs' one plain Error about the network: "Broker not connected", thrown by a request on
 * a broker connection that is not (or no longer) up, seen while brokers restart.
 */
const NETWORK_MESSAGE = /socket hang up|^Broker not connected$|\b(ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)\b/;

/** Protocol error types found anywhere in the error and its causes (kafkajs nests them). */
export function protocolErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown): void => {
    if (!e || typeof e !== 'object' || seen.has(e)) return;
    seen.add(e);
    const candidate = e as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
    if (typeof candidate.type === 'string') types.push(candidate.type);
    visit(candidate.cause);
    visit(candidate.originalError);
    if (Array.isArray(candidate.errors)) candidate.errors.forEach(visit);
  };
  visit(error);
  return types;
}

type Origin = 'broker' | 'permanent' | 'defect';

/**
 * Where an error comes from, read from the kafkajs error classes (node_modules/kafkajs/src/errors.js):
 * - a protocol error is the broker's answer (its type decides permanent or fenced, see above);
 * - a kafkajs error that wraps another — KafkaJSNumberOfRetriesExceeded, and the
 *   KafkaJSNonRetriableError its retrier wraps around anything it will not retry (a TypeError
 *   included) — means what it wraps;
 * - a retriable kafkajs error (connection, request timeout, broker not found, metadata not
 *   loaded, "producer is disconnected"…) is the broker or the network; so are the non-retriable
 *   ones that only say a broker did not answer in time (coordinator not found, timeouts);
 * - SASL authentication failed, or an API the broker does not support: permanent;
 * - any other non-retriable kafkajs error (invariant violation, not implemented, bad varint,
 *   invalid arguments, a transaction in the wrong state) is the client refusing what we asked or
 *   failing on its own: a defect;
 * - our own ServiceError around a client error (connect() failures explained by security.ts)
 *   means what it wraps; a Node socket error (ECONNRESET…) is the network;
 * - anything else — TypeError, RangeError, a plain Error, a thrown string — is a defect.
 */
function origin(error: unknown, seen: Set<unknown>): Origin {
  if (!error || typeof error !== 'object') return 'defect';
  // Already judged where it first appeared (an error listed twice, or a cycle of causes).
  if (seen.has(error)) return 'broker';
  seen.add(error);
  if (error instanceof KafkaJSProtocolError || typeof (error as { type?: unknown }).type === 'string') return 'broker';
  if (error instanceof KafkaJSError) {
    if (error instanceof KafkaJSSASLAuthenticationError || error instanceof KafkaJSServerDoesNotSupportApiKey) return 'permanent';
    if (error.cause instanceof Error) return origin(error.cause, seen);
    if (error instanceof KafkaJSNumberOfRetriesExceeded) return 'broker';
    if (error.retriable || error instanceof KafkaJSGroupCoordinatorNotFound || error instanceof KafkaJSTimeout) return 'broker';
    return 'defect';
  }
  const { cause, code, errors, message } = error as { cause?: unknown; code?: unknown; errors?: unknown; message?: unknown };
  if (error instanceof ServiceError) return cause === undefined ? 'defect' : origin(cause, seen);
  // KafkaJSAggregateError (admin requests) and AggregateError: the worst of their parts.
  if (Array.isArray(errors) && errors.length > 0) {
    const parts = errors.map((e) => origin(e, seen));
    return parts.includes('permanent') ? 'permanent' : parts.includes('defect') ? 'defect' : 'broker';
  }
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'broker';
  if (typeof message === 'string' && NETWORK_MESSAGE.test(message)) return 'broker';
  return 'defect';
}

export function classifyKafkaError(error: unknown): KafkaFailure {
  const types = protocolErrorTypes(error);
  if (types.some((t) => PERMANENT.has(t))) return 'permanent';
  if (types.some((t) => FENCED.has(t))) return 'fenced';
  const from = origin(error, new Set());
  if (from !== 'broker') return from;
  const message = error instanceof Error ? error.message : String(error);
  if (/fenced|producer epoch/i.test(message)) return 'fenced';
  return 'transient';
}
