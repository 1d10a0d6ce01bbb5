/**
 * The one catalogue of reasons an event is not scored. Codes are stable: they are
 * written to dead-letter headers and metrics, and dashboards and re-drive tools key on
 * them, so never rename one — add a new code instead.
 */
export type Stage = 'decode' | 'enrich' | 'check' | 'score' | 'encode' | 'pipeline';

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
  SCHEMA_NOT_FOUND: {
    stage: 'decode',
    action: 'The event is Confluent-framed with a schema id the schema registry does not know (HTTP 404). The producer writes to another registry, or the id was deleted; re-drive once the schema is registered.',
  },
  SCHEMA_INCOMPATIBLE: {
    stage: 'decode',
    action: 'The schema the event was written with (its registry id) cannot be resolved into the reader schema (INPUT_SCHEMA): a field the reader needs is missing without a default, or a type changed in a way Avro cannot promote. The message names the field. Fix the producer schema (and the subject\'s compatibility setting), or evolve INPUT_SCHEMA.',
  },
  FEATURE_UNAVAILABLE: {
    stage: 'enrich',
    action: 'The online feature store was down, timed out or shut off by the circuit breaker when this event was scored, and the manifest says unavailable: dead-letter for the feature (field). Re-drive once the store is back.',
  },
  FEATURE_MISSING: {
    stage: 'enrich',
    action: 'The online feature store has no value (or only one older than max_age_ms, or one that is not a number) for this event\'s entity (value: the key), and the manifest says missing: dead-letter for the feature (field). Fill the store (a new entity, a lagging feature pipeline), then re-drive.',
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
  INTERNAL_ERROR: {
    // Not one stage: the exception came out of the pipeline as a whole, so only its message can tell where.
    stage: 'pipeline',
    action: 'The scorer threw an unexpected exception on this record (a bug, not a reason to reject the record). Report it with the message; re-drive the record once the scorer is fixed.',
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
/**
 * A message is for humans; capped so that a message repeating a huge value (a 600 KB category)
 * cannot make its dead letter bigger than the topic accepts.
 */
export const MAX_MESSAGE_CHARS = 1_000;

/** At most `max` UTF-16 units, then `…`; never half of a surrogate pair. */
function cap(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return `${text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max)}…`;
}

export function renderValue(value: unknown): string {
  let text: string;
  if (value === null) text = 'null';
  else if (value === undefined) text = 'undefined';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number') text = String(value); // JSON would turn NaN into null
  // Only the bytes that are shown: a megabyte value is not turned into two megabytes of hex first.
  else if (Buffer.isBuffer(value)) text = `0x${value.toString('hex', 0, MAX_VALUE_CHARS / 2)}`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return cap(text, MAX_VALUE_CHARS);
}

/** Every rejection is made here, so every message and value is capped here. */
export function reject(code: RejectionCode, message: string, field?: string, value?: unknown): Rejection {
  const rejection: Rejection = { code, stage: REJECTIONS[code].stage, message: cap(message, MAX_MESSAGE_CHARS) };
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
  /** The model manifest cannot be read or breaks its schema (schemas/model-manifest.schema.json). */
  | 'MANIFEST_INVALID'
  | 'CONTRACT_MISMATCH'
  | 'OUTPUT_UNWRITABLE'
  | 'BROKER_UNAVAILABLE'
  /** The brokers refused the client's credentials or the TLS handshake failed: a configuration or secret problem. */
  | 'KAFKA_AUTH_FAILED'
  /** A batch failed DEFECT_MAX_ATTEMPTS times with an error that is neither a broker nor a network error and could not be isolated to a record. */
  | 'INTERNAL_DEFECT'
  /** The schema registry could not be asked within STARTUP_TIMEOUT_MS at start-up, or a batch job's batch waited for it longer than BATCH_DEPENDENCY_WAIT_MS. */
  | 'REGISTRY_UNAVAILABLE'
  /** A batch job's batch waited longer than BATCH_DEPENDENCY_WAIT_MS for the feature store (a feature with unavailable: wait). */
  | 'FEATURE_STORE_UNAVAILABLE';

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
