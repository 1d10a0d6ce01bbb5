import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { type Rejection, ServiceError, reject } from '../errors';
import { type BoundsCheck, DEFAULT_MAX_MESSAGE_BYTES, type DecodeBounds, boundsFor, compileBounds } from '../formats/avro-bounds';
import { FRAME_BYTES, frameSchemaId } from '../formats/confluent';
import type { SchemaSource } from '../formats/registry';
import { pathsMissingInWriter, unresolvableField } from '../formats/writer-fields';

export type InputEvent = Readonly<Record<string, unknown>>;

/** A compiled reader (and optional writer) schema: compiled once at start-up, used for every batch. */
export interface EventDecoder {
  readonly reader: avro.Type;
  readonly resolver: avro.Resolver | undefined;
  /** Refuses events whose lengths and block counts could not be real, before avsc allocates for them. */
  readonly bounds: BoundsCheck;
  /** Set for Confluent-framed input: writer schemas come by id from a registry. */
  readonly framed?: FramedInput;
}

/** How the bytes written with one registry id are read: built once per id, kept for the process's life. */
export interface WriterCodec {
  readonly resolver: avro.Resolver | undefined;
  readonly bounds: BoundsCheck;
}

export interface FramedInput {
  readonly registry: SchemaSource;
  /** Per schema id: its codec, or the rejection every event written with it gets (SCHEMA_INCOMPATIBLE). */
  readonly writers: Map<number, WriterCodec | Rejection>;
  /** Ids the registry did not know, and until when that answer is trusted (epoch ms). */
  readonly unknown: Map<number, { readonly until: number; readonly rejection: Rejection }>;
  readonly limits: DecodeBounds;
  /** Field paths the model reads: a writer without one of them is refused (its default would be scored). */
  readonly required: readonly (readonly string[])[];
}

// An id the registry did not know is asked again after this long (it may be registered meanwhile),
// and at most this many such answers are kept (hostile traffic can name any id).
const UNKNOWN_ID_TTL_MS = 60_000;
const UNKNOWN_ID_CACHE = 10_000;

export interface DecoderOptions extends Partial<DecodeBounds> {
  /** The input topic's max.message.bytes: bounds not given derive from it (boundsFor). Default 1 MiB. */
  readonly maxMessageBytes?: number;
}

export function loadSchema(path: string, settingName: string): avro.Type {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ServiceError('SCHEMA_INVALID', `${settingName}=${path}: cannot read JSON (${(error as Error).message})`, { cause: error });
  }
  try {
    return avro.Type.forSchema(json as avro.Schema);
  } catch (error) {
    throw new ServiceError('SCHEMA_INVALID', `${settingName}=${path}: not a valid Avro schema (${(error as Error).message})`, { cause: error });
  }
}

function limitsOf(options: DecoderOptions): DecodeBounds {
  const defaults = boundsFor(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  const limits: DecodeBounds = { maxItems: options.maxItems ?? defaults.maxItems, maxBytes: options.maxBytes ?? defaults.maxBytes };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new ServiceError('CONFIG_INVALID', `decode bound ${name} must be a positive integer, got ${value}`);
  }
  return limits;
}

/** A decoder of Confluent-framed events: writer schemas by id from the registry, resolved into `reader`. */
export function createFramedDecoder(reader: avro.Type, registry: SchemaSource, required: readonly (readonly string[])[], options: DecoderOptions = {}): EventDecoder {
  const limits = limitsOf(options);
  return { reader, resolver: undefined, bounds: compileBounds(reader, limits), framed: { registry, writers: new Map(), unknown: new Map(), limits, required } };
}

/** Why a writer schema cannot be read as the reader schema, naming the fields avsc names. */
function incompatibility(reader: avro.Type, writer: avro.Type, id: number, error: Error): Rejection {
  const field = unresolvableField(reader, writer);
  return reject('SCHEMA_INCOMPATIBLE', `writer schema id ${id} (${writer.name ?? writer.typeName}) cannot be read as ${reader.name ?? 'the reader schema'}${field ? ` at field ${field}` : ''}: ${error.message}`, field);
}

/**
 * Makes sure every schema id named by the batch's framed values has a codec, asking the registry
 * for the ones not seen yet (in parallel, once each). Throws RegistryUnavailableError when the
 * registry cannot answer: the batch then waits, nothing is dead-lettered for it.
 */
export async function prepareDecoder(decoder: EventDecoder, values: readonly (Buffer | null)[], now: number = Date.now()): Promise<void> {
  const framed = decoder.framed;
  if (!framed) return;
  const wanted = new Set<number>();
  for (const value of values) {
    if (!value) continue;
    const id = frameSchemaId(value);
    if (typeof id !== 'number' || framed.writers.has(id)) continue;
    const unknown = framed.unknown.get(id);
    if (unknown && unknown.until > now) continue;
    wanted.add(id);
  }
  if (wanted.size === 0) return;
  await Promise.all(
    [...wanted].map(async (id) => {
      const found = await framed.registry.schemaById(id);
      if (!found.found) {
        if (framed.unknown.size >= UNKNOWN_ID_CACHE) framed.unknown.clear();
        framed.unknown.set(id, {
          until: now + UNKNOWN_ID_TTL_MS,
          rejection: reject('SCHEMA_NOT_FOUND', `schema id ${id} is not in the schema registry ${framed.registry.url} (HTTP ${found.status}); the producer wrote with a schema this registry does not have`, undefined, id),
        });
        return;
      }
      framed.unknown.delete(id);
      let codec: WriterCodec | Rejection;
      try {
        const resolver = found.type.equals(decoder.reader) ? undefined : decoder.reader.createResolver(found.type);
        const missing = pathsMissingInWriter(decoder.reader, found.type, framed.required);
        codec =
          missing.length > 0
            ? reject('SCHEMA_INCOMPATIBLE', `writer schema id ${id} (${found.type.name ?? found.type.typeName}) has no field ${missing.join(', ')}, which the model reads: resolution would score the reader schema's default instead`, missing[0])
            : { resolver, bounds: compileBounds(found.type, framed.limits) };
      } catch (error) {
        codec = incompatibility(decoder.reader, found.type, id, error as Error);
      }
      framed.writers.set(id, codec);
    }),
  );
}

export function createDecoder(reader: avro.Type, writer?: avro.Type, options: DecoderOptions = {}): EventDecoder {
  const limits = limitsOf(options);
  // The bytes were written with the writer schema, so that is the one whose lengths and counts are checked.
  const bounds = compileBounds(writer ?? reader, limits);
  if (!writer) return { reader, resolver: undefined, bounds };
  try {
    return { reader, resolver: reader.createResolver(writer), bounds };
  } catch (error) {
    throw new ServiceError('SCHEMA_INVALID', `the writer schema cannot be read with the reader schema (${(error as Error).message})`, { cause: error });
  }
}

export interface DecodedBatch {
  /** events[i] is set when message i decoded; otherwise rejections[i] says why not. */
  readonly events: (InputEvent | undefined)[];
  readonly rejections: (Rejection | undefined)[];
}

/** Decodes one Avro body (value[start..]) with the given resolver and bounds; the event or why not. */
function decodeOne(reader: avro.Type, value: Buffer, start: number, resolver: avro.Resolver | undefined, bounds: BoundsCheck): InputEvent | Rejection {
  try {
    if (value.length - start > bounds.walkAbove) {
      const refused = bounds.check(start === 0 ? value : value.subarray(start));
      if (refused) return refused;
    }
    // decode() rather than fromBuffer(): no exception on the common paths, and the offset tells truncation from trailing bytes.
    const { value: event, offset } = reader.decode(value, start, resolver) as { value: unknown; offset: number };
    if (offset < 0) return reject('UNDECODABLE_AVRO', `truncated buffer: ${value.length - start} bytes is less than the schema needs`);
    if (offset !== value.length) {
      return reject('UNDECODABLE_AVRO', `trailing data: ${value.length - offset} bytes after the event${start === 0 ? ' (Confluent framing? then INPUT_FORMAT=confluent; or a different schema)' : ''}`);
    }
    return event as InputEvent;
  } catch (error) {
    return reject('UNDECODABLE_AVRO', `invalid Avro for ${reader.name ?? 'the input schema'}: ${(error as Error).message}`);
  }
}

function isRejection(value: InputEvent | Rejection | WriterCodec): value is Rejection {
  return typeof (value as Rejection).code === 'string' && typeof (value as Rejection).stage === 'string';
}

/** Decodes every value of a batch; call prepareDecoder first for framed input. */
export function decodeBatch(decoder: EventDecoder, values: readonly (Buffer | null)[]): DecodedBatch {
  const count = values.length;
  const events = new Array<InputEvent | undefined>(count);
  const rejections = new Array<Rejection | undefined>(count);
  const framed = decoder.framed;
  for (let i = 0; i < count; i += 1) {
    const value = values[i];
    if (!value || value.length === 0) {
      rejections[i] = reject('EMPTY_VALUE', 'record value is empty; expected an Avro-encoded event');
      continue;
    }
    let result: InputEvent | Rejection;
    if (!framed) result = decodeOne(decoder.reader, value, 0, decoder.resolver, decoder.bounds);
    else {
      const id = frameSchemaId(value);
      const codec = typeof id === 'number' ? framed.writers.get(id) : undefined;
      if (typeof id === 'string') result = reject('UNDECODABLE_AVRO', id);
      else if (codec === undefined) result = framed.unknown.get(id)?.rejection ?? reject('SCHEMA_NOT_FOUND', `schema id ${id} was not looked up in the schema registry`, undefined, id);
      else if (isRejection(codec)) result = codec;
      else result = decodeOne(decoder.reader, value, FRAME_BYTES, codec.resolver, codec.bounds);
    }
    if (isRejection(result)) rejections[i] = result;
    else events[i] = result;
  }
  return { events, rejections };
}
