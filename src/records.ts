/**
 * Plain records that flow between the Kafka adapter and the stages. Nothing here depends on
 * a Kafka client, so every stage can be tested with literals.
 */
/** Kafka allows a null header value (length -1); kafkajs gives it as null. Keys repeat as arrays. */
export type HeaderValue = Buffer | string | null | (Buffer | string | null)[] | undefined;
export type Headers = Record<string, HeaderValue>;

export interface SourceMessage {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are int64: kept as the decimal string the client gives. */
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: string;
}

export interface OutputRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp?: string;
}

/** What became of each consumed message; exactly one per input offset. */
export type Outcome = { readonly kind: 'prediction' } | { readonly kind: 'dead-letter'; readonly code: string };
