import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { ServiceError, renderValue } from '../../errors';
import type { InputEvent } from '../decode';
import { type MessagePosition, type PredictionContext, buildPrediction } from '../encode';

/**
 * Start-up checks that a prediction can be built and published: the id and time fields the
 * settings name exist in the input schema with a type the encoder can use, and the prediction
 * schema holds every prediction the encoder can write. Without them a wrong setting shows only
 * later, as ids made of offsets, null event times, or every event dead-lettered as ENCODE_FAILED.
 */

/** One kind of value the encoder can meet in an event field, and when it meets it (for messages). */
export interface FieldSample {
  /** What the decoded event holds; undefined: the field is not read at all. */
  readonly value: unknown;
  readonly when: string;
}

/** Every kind of value the id and time fields can hold, read from the input schema. */
export interface EventFieldSamples {
  readonly id: readonly FieldSample[];
  readonly time: readonly FieldSample[];
}

export interface EventFieldSettings {
  readonly eventIdField: string;
  readonly eventTimeField: string;
}

interface RawField {
  readonly name: string;
  /** As written in the schema file: avsc drops logicalType attributes it has no implementation for. */
  readonly raw: unknown;
  readonly type: avro.Type;
}

interface Branch {
  readonly type: avro.Type;
  readonly logicalType: string | undefined;
}

/** A field's type split into "can it be null" and its other branches (several only for unions the encoder cannot use). */
function branchesOf(field: RawField): { nullable: boolean; others: Branch[] } {
  const union = (field.type as unknown as { types?: avro.Type[] }).types;
  const types = union ?? [field.type];
  const raws: unknown[] = union ? (Array.isArray(field.raw) ? field.raw : []) : [field.raw];
  const others: Branch[] = [];
  let nullable = false;
  types.forEach((type, i) => {
    if (type.typeName === 'null') {
      nullable = true;
      return;
    }
    const raw = raws[i];
    const logicalType = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as { logicalType?: unknown }).logicalType : undefined;
    others.push({ type, logicalType: typeof logicalType === 'string' ? logicalType : undefined });
  });
  return { nullable, others };
}

// The epoch-millisecond value the samples use: any long fits, so a fixed one keeps the check deterministic.
const SAMPLE_TIME = Date.UTC(2026, 0, 1);
// The largest long avsc reads or writes (past it, it refuses rather than lose precision): the
// largest id a long field can deliver, and an offset that shows whether source.offset holds offsets.
const LARGEST_LONG = Number.MAX_SAFE_INTEGER - 1;

/** Sample values of the id field, or why it cannot be one. */
function idSamples(field: RawField): FieldSample[] | string {
  const { nullable, others } = branchesOf(field);
  if (others.length !== 1) return 'an id field must have exactly one type besides null';
  const { type } = others[0] as Branch;
  const samples: FieldSample[] = [];
  switch (type.typeName) {
    case 'string':
      samples.push({ value: 'sample-event-id', when: `${field.name} is a string` });
      break;
    case 'enum':
      samples.push({ value: (type as unknown as { symbols: string[] }).symbols[0], when: `${field.name} is an enum symbol` });
      break;
    case 'int':
      samples.push({ value: 2 ** 31 - 1, when: `${field.name} is an int` });
      break;
    case 'long':
      samples.push({ value: LARGEST_LONG, when: `${field.name} is a long` });
      break;
    default:
      return 'an id field must be a string, an enum, an int or a long';
  }
  if (nullable) samples.push({ value: null, when: `${field.name} is null (the id is then topic/partition/offset)` });
  return samples;
}

/** Sample values of the time field, or why it cannot be one. */
function timeSamples(field: RawField): FieldSample[] | string {
  const { nullable, others } = branchesOf(field);
  if (others.length !== 1) return 'a time field must have exactly one type besides null';
  const { type, logicalType } = others[0] as Branch;
  if (type.typeName === 'int') {
    // 2^31 ms is 1970-01-25: an int event time is in other units (seconds?) and would be published as milliseconds.
    return 'an int cannot hold epoch milliseconds after 1970-01-25; a time field must be a long of epoch milliseconds';
  }
  if (type.typeName !== 'long') return 'a time field must be a long of epoch milliseconds (plain or logicalType timestamp-millis)';
  if (logicalType !== undefined && logicalType !== 'timestamp-millis') {
    // avsc has no implementation for these and reads them as plain numbers: they would be published as milliseconds.
    return `logicalType ${logicalType} is not epoch milliseconds; a time field must be a long of epoch milliseconds (plain or logicalType timestamp-millis)`;
  }
  const samples: FieldSample[] = [{ value: SAMPLE_TIME, when: `${field.name} holds a time` }];
  if (nullable) samples.push({ value: null, when: `${field.name} is null (event_time is then null)` });
  return samples;
}

function fieldsOf(schemaJson: unknown, schemaSetting: string): RawField[] {
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(schemaJson as avro.Schema);
  } catch (error) {
    throw new ServiceError('SCHEMA_INVALID', `${schemaSetting}: not a valid Avro schema (${(error as Error).message})`, { cause: error });
  }
  const typed = (type as unknown as { fields?: { name: string; type: avro.Type }[] }).fields ?? [];
  const rawFields = (schemaJson as { fields?: unknown }).fields;
  const raws = new Map((Array.isArray(rawFields) ? (rawFields as { name?: unknown; type?: unknown }[]) : []).map((f) => [f.name, f.type]));
  return typed.map((f) => ({ name: f.name, type: f.type, raw: raws.get(f.name) }));
}

function fitting(fields: readonly RawField[], fits: (field: RawField) => boolean): string {
  const names = fields.filter(fits).map((f) => f.name);
  if (names.length === 0) return 'no field of the input schema fits';
  return `fields that fit: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ` and ${names.length - 12} more` : ''}`;
}

/**
 * Checks EVENT_ID_FIELD and EVENT_TIME_FIELD against the input (reader) schema and returns the
 * kinds of value each can hold, for the prediction-schema check. An empty setting means "no such
 * field" and always fits. Every problem is reported at once, as CONFIG_INVALID: the fix is a
 * setting (or the schema).
 */
export function checkEventFields(schemaJson: unknown, settings: EventFieldSettings, schemaSetting: string): EventFieldSamples {
  const fields = fieldsOf(schemaJson, schemaSetting);
  const byName = new Map(fields.map((f) => [f.name, f]));
  const problems: string[] = [];
  const checks = [
    {
      env: 'EVENT_ID_FIELD',
      name: settings.eventIdField,
      samplesOf: idSamples,
      none: { value: undefined, when: 'EVENT_ID_FIELD is empty (the id is topic/partition/offset)' },
      unset: 'every prediction then gets the id topic/partition/offset',
    },
    {
      env: 'EVENT_TIME_FIELD',
      name: settings.eventTimeField,
      samplesOf: timeSamples,
      none: { value: undefined, when: 'EVENT_TIME_FIELD is empty (event_time is null)' },
      unset: 'event_time is then null and drift windows use the Kafka timestamp',
    },
  ];
  const samples: FieldSample[][] = [];
  for (const check of checks) {
    if (check.name === '') {
      samples.push([check.none]);
      continue;
    }
    const field = byName.get(check.name);
    const result = field ? check.samplesOf(field) : `${schemaSetting} has no top-level field "${check.name}"`;
    if (typeof result !== 'string') {
      samples.push(result);
      continue;
    }
    const found = field ? `field "${check.name}" of ${schemaSetting} has type ${JSON.stringify(field.raw ?? field.type.schema())}: ${result}` : result;
    const alternatives = fitting(fields, (f) => typeof check.samplesOf(f) !== 'string');
    problems.push(`${check.env}=${check.name}: ${found}; ${alternatives}. Set ${check.env} to a field that fits, or to empty (${check.env}=) if events have none: ${check.unset}.`);
  }
  if (problems.length > 0) throw new ServiceError('CONFIG_INVALID', problems.join('\n  '));
  return { id: samples[0] as FieldSample[], time: samples[1] as FieldSample[] };
}

/** Reads a schema file as JSON, for the logicalType attributes avsc does not keep. */
export function readSchemaJson(path: string, settingName: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ServiceError('SCHEMA_INVALID', `${settingName}=${path}: cannot read JSON (${(error as Error).message})`, { cause: error });
  }
}

/** Where avsc says a value does not fit a type: "path: value is not <type>" per problem. */
function invalidPaths(type: avro.Type, value: unknown): string[] {
  const found: string[] = [];
  type.isValid(value, {
    errorHook: (path: string[], bad: unknown, badType: avro.Type) => {
      found.push(`${path.length > 0 ? path.join('.') : '(the prediction itself)'}: ${renderValue(bad)} is not ${JSON.stringify(badType.schema())}`);
    },
  });
  return found;
}

/** Fields of what the encoder writes that the decoded record lacks: avsc drops unknown fields without a word. */
function droppedFields(written: Readonly<Record<string, unknown>>, read: Readonly<Record<string, unknown>>, prefix = ''): string[] {
  const dropped: string[] = [];
  for (const [key, value] of Object.entries(written)) {
    if (!(key in read)) dropped.push(`${prefix}${key}`);
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const back = read[key];
      if (back !== null && typeof back === 'object') dropped.push(...droppedFields(value as Record<string, unknown>, back as Record<string, unknown>, `${prefix}${key}.`));
    }
  }
  return dropped;
}

export interface PredictionSampleOptions {
  /** Input topics: predictions carry their name in source.topic. */
  readonly topics: readonly string[];
}

/**
 * Encodes a sample prediction for every kind of id and time value the input schema allows, built
 * by the encoder's own buildPrediction, with the largest partition and offset Kafka can give. A
 * prediction that does not encode, or whose fields the schema would drop, refuses the start
 * (SCHEMA_INVALID) instead of dead-lettering every event later.
 */
export function assertPredictionSchemaFits(ctx: PredictionContext, samples: EventFieldSamples, options: PredictionSampleOptions, schemaSetting: string): void {
  const classCount = ctx.classes.length;
  // Everything a prediction can hold: every class, the longest label, a flag.
  const outcome = {
    score: classCount > 0 ? 1 / classCount : 0,
    probabilities: Array.from({ length: classCount }, () => 1 / classCount),
    label: classCount > 0 ? ctx.classes.reduce((a, b) => (b.length > a.length ? b : a)) : null,
    flags: ['UNKNOWN_CATEGORY:sample'],
  };
  for (const topic of options.topics.length > 0 ? options.topics : ['input']) {
    const message: MessagePosition = { topic, partition: 2 ** 31 - 1, offset: String(LARGEST_LONG) };
    for (const id of samples.id) {
      for (const time of samples.time) {
        const event: Record<string, unknown> = {};
        if (id.value !== undefined) event[ctx.eventIdField] = id.value;
        if (time.value !== undefined) event[ctx.eventTimeField] = time.value;
        const prediction = buildPrediction(ctx, event as InputEvent, message, outcome, SAMPLE_TIME);
        const when = `when ${id.when} and ${time.when}`;
        let buffer: Buffer;
        try {
          buffer = ctx.type.toBuffer(prediction);
        } catch (error) {
          const where = invalidPaths(ctx.type, prediction);
          throw new ServiceError(
            'SCHEMA_INVALID',
            `${schemaSetting} cannot hold the prediction the scorer writes ${when}: ${where.length > 0 ? where.join('; ') : 'see avsc'} (avsc: ${(error as Error).message}). Change that field of the prediction schema to accept it (schemas/prediction.avsc is the schema the scorer writes), or change EVENT_ID_FIELD / EVENT_TIME_FIELD if the value comes from them.`,
            { cause: error },
          );
        }
        const dropped = droppedFields(prediction as unknown as Record<string, unknown>, ctx.type.fromBuffer(buffer) as Record<string, unknown>);
        if (dropped.length > 0) {
          throw new ServiceError(
            'SCHEMA_INVALID',
            `${schemaSetting} has no field for ${dropped.join(', ')}: the scorer writes them and avsc would drop them from every prediction without a word (verify and drift read them back). Add them to the prediction schema; schemas/prediction.avsc has every field.`,
          );
        }
      }
    }
  }
}
