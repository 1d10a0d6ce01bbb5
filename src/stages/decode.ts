import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { type Rejection, ServiceError, reject } from '../errors';
import { type BoundsCheck, DEFAULT_MAX_MESSAGE_BYTES, type DecodeBounds, boundsFor, compileBounds } from '../formats/avro-bounds';

export type InputEvent = Readonly<Record<string, unknown>>;

/** A compiled reader (and optional writer) schema: compiled once at start-up, used for every batch. */
export interface EventDecoder {
  readonly reader: avro.Type;
  readonly resolver: avro.Resolver | undefined;
  /** Refuses events whose lengths and block counts could not be real, before avsc allocates for them. */
  readonly bounds: BoundsCheck;
}

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

export function createDecoder(reader: avro.Type, writer?: avro.Type, options: DecoderOptions = {}): EventDecoder {
  const defaults = boundsFor(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  const limits: DecodeBounds = { maxItems: options.maxItems ?? defaults.maxItems, maxBytes: options.maxBytes ?? defaults.maxBytes };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new ServiceError('CONFIG_INVALID', `decode bound ${name} must be a positive integer, got ${value}`);
  }
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

export function decodeBatch(decoder: EventDecoder, values: readonly (Buffer | null)[]): DecodedBatch {
  const count = values.length;
  const events = new Array<InputEvent | undefined>(count);
  const rejections = new Array<Rejection | undefined>(count);
  const bounds = decoder.bounds;
  const walkAbove = bounds.walkAbove;
  for (let i = 0; i < count; i += 1) {
    const value = values[i];
    if (!value || value.length === 0) {
      rejections[i] = reject('EMPTY_VALUE', 'record value is empty; expected an Avro-encoded event');
      continue;
    }
    try {
      if (value.length > walkAbove) {
        const refused = bounds.check(value);
        if (refused) {
          rejections[i] = refused;
          continue;
        }
      }
      // decode() rather than fromBuffer(): no exception on the common paths, and the offset tells truncation from trailing bytes.
      const { value: event, offset } = decoder.reader.decode(value, 0, decoder.resolver) as { value: unknown; offset: number };
      if (offset < 0) {
        rejections[i] = reject('UNDECODABLE_AVRO', `truncated buffer: ${value.length} bytes is less than the schema needs`);
      } else if (offset !== value.length) {
        rejections[i] = reject('UNDECODABLE_AVRO', `trailing data: ${value.length - offset} bytes after the event (Confluent framing or a different schema?)`);
      } else {
        events[i] = event as InputEvent;
      }
    } catch (error) {
      rejections[i] = reject('UNDECODABLE_AVRO', `invalid Avro for ${decoder.reader.name ?? 'the input schema'}: ${(error as Error).message}`);
    }
  }
  return { events, rejections };
}
