import type { Config } from './config/schema';
import type { HeaderValue, OutputRecord, SourceMessage } from './records';

/**
 * testing: defects switched on by FAILPOINT_* settings, to show end to end what the service does
 * with an exception that is not the broker's. The pipeline checks for them once per batch, and
 * only does anything when one is set; deploy-env.ts keeps them out of every ConfigMap.
 */
export interface Failpoints {
  /** FAILPOINT_THROW_ON_KEY: processing a batch that holds a record with this key throws. */
  readonly throwOnKey?: Buffer;
  /** FAILPOINT_UNENCODABLE_KEY: the output of a record with this key cannot be encoded by the Kafka client. */
  readonly unencodableKey?: Buffer;
}

export function failpointsFrom(config: Pick<Config, 'failpointThrowOnKey' | 'failpointUnencodableKey'>): Failpoints | undefined {
  const { failpointThrowOnKey: throwOn, failpointUnencodableKey: unencodable } = config;
  if (throwOn === undefined && unencodable === undefined) return undefined;
  return {
    ...(throwOn !== undefined ? { throwOnKey: Buffer.from(throwOn, 'utf8') } : {}),
    ...(unencodable !== undefined ? { unencodableKey: Buffer.from(unencodable, 'utf8') } : {}),
  };
}

export function beforeProcessing(failpoints: Failpoints, messages: readonly SourceMessage[]): void {
  const key = failpoints.throwOnKey;
  if (!key) return;
  for (const message of messages) {
    // A TypeError, as a bug in a stage would throw, not an error of ours that could be special-cased.
    if (message.key?.equals(key)) throw new TypeError(`failpoint FAILPOINT_THROW_ON_KEY: processing throws for the record with key "${key.toString('utf8')}"`);
  }
}

/** A header value the Kafka client cannot turn into bytes: it throws a TypeError while encoding the produce request. */
const UNENCODABLE = Object.create(null) as HeaderValue;

export function afterProcessing(failpoints: Failpoints, predictions: readonly OutputRecord[], deadLetters: readonly OutputRecord[]): void {
  const key = failpoints.unencodableKey;
  if (!key) return;
  for (const record of [...predictions, ...deadLetters]) {
    if (record.key?.equals(key)) record.headers['scorer.failpoint'] = UNENCODABLE;
  }
}
