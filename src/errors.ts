/**
 * The one catalogue of reasons an event is not scored. Codes are stable: they are
 * written to dead-letter headers and metrics, and dashboards and re-drive tools key on
 * them, so never rename one — add a new code instead.
 */
export type Stage = 'decode' | 'check' | 'score' | 'encode';

interface CatalogueEntry {
  readonly stage: Stage;
  /** What a person looking at the dead-letter record should do about it. */
  readonly action: string;
}

export const REJECTIONS = {
  EMPTY_VALUE: {
    stage: 'decode',
    action: 'The record has no value (a tombstone?). Producers must send an Avro-encoded event.',
  },
  UNDECODABLE_AVRO: {
    stage: 'decode',
    action: 'The bytes are not an event of the configured writer schema, or declare more than they hold or the decode limits allow (DECODE_MAX_ITEMS, DECODE_MAX_BYTES; docs/dead-letter.md). Check the producer schema and framing.',
  },
  MISSING_FIELD: {
    stage: 'check',
    action: 'A column the model needs is null or absent. Fix the producer, or re-drive once the field is filled.',
  },
  UNKNOWN_CATEGORY: {
    stage: 'check',
    action: 'The model was never trained on this category and would score it as "none of the known ones". Retrain with it, or map it upstream.',
  },
  WRONG_TYPE: {
    stage: 'check',
    action: 'A model input has a value of the wrong type for the model (e.g. a number where a category is expected).',
  },
  NON_FINITE_NUMBER: {
    stage: 'check',
    action: 'NaN or Infinity in a numeric model input. Fix the producer.',
  },
  OUT_OF_RANGE: {
    stage: 'check',
    action: 'A number is outside the range the model contract allows.',
  },
  MODEL_ERROR: {
    stage: 'score',
    action: 'onnxruntime refused this event. See the message; the model or its inputs need attention.',
  },
  NON_FINITE_SCORE: {
    stage: 'score',
    action: 'The model returned NaN or Infinity for this event; it was not published.',
  },
  ENCODE_FAILED: {
    stage: 'encode',
    action: 'The prediction could not be encoded with the prediction schema.',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type RejectionCode = keyof typeof REJECTIONS;
export const REJECTION_CODES = Object.keys(REJECTIONS) as RejectionCode[];

/** A failed event is data, not an exception: it travels with the batch to the dead-letter output. */
export interface Rejection {
  readonly code: RejectionCode;
  readonly stage: Stage;
  readonly field?: string;
  /** The offending value, rendered for humans and capped in length. */
  readonly value?: string;
  readonly message: string;
}

const MAX_VALUE_CHARS = 200;

export function renderValue(value: unknown): string {
  let text: string;
  if (value === null) text = 'null';
  else if (value === undefined) text = 'undefined';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number') text = String(value); // JSON would turn NaN into null
  else if (Buffer.isBuffer(value)) text = `0x${value.toString('hex')}`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text;
}

export function reject(code: RejectionCode, message: string, field?: string, value?: unknown): Rejection {
  const rejection: Rejection = { code, stage: REJECTIONS[code].stage, message };
  if (field !== undefined) (rejection as { field?: string }).field = field;
  if (field !== undefined || value !== undefined) (rejection as { value?: string }).value = renderValue(value);
  return rejection;
}

/**
 * Start-up and operational failures (not per-event): bad configuration, a model whose
 * contract does not fit the schema, an output the service cannot write. The code is stable.
 */
export type ServiceErrorCode =
  | 'CONFIG_INVALID'
  | 'SCHEMA_INVALID'
  | 'MODEL_INVALID'
  | 'CONTRACT_MISMATCH'
  | 'OUTPUT_UNWRITABLE'
  | 'BROKER_UNAVAILABLE'
  /** The brokers refused the client's credentials or the TLS handshake failed: a configuration or secret problem. */
  | 'KAFKA_AUTH_FAILED';

export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.name = 'ServiceError';
  }
}
