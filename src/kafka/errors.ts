/**
 * What a Kafka client error means for the batch that hit it:
 * - transient: the broker or network will come back; retry the batch, never dead-letter it;
 * - fenced: another producer owns this transactional id now; drop ours, commit nothing;
 * - permanent: retrying cannot help (not authorized, record too large); stop the service.
 */
export type KafkaFailure = 'transient' | 'fenced' | 'permanent';

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

export function classifyKafkaError(error: unknown): KafkaFailure {
  const types = protocolErrorTypes(error);
  if (types.some((t) => PERMANENT.has(t))) return 'permanent';
  if (types.some((t) => FENCED.has(t))) return 'fenced';
  const message = error instanceof Error ? error.message : String(error);
  if (/fenced|producer epoch/i.test(message)) return 'fenced';
  return 'transient';
}
