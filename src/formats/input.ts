import type { Config } from '../config/schema';
import { type EventDecoder, createDecoder, createFramedDecoder, loadSchema } from '../stages/decode';
import { type SchemaSource, createRegistry, registrySettings } from './registry';

export interface InputDecoderOptions {
  /** The input topics' largest max.message.bytes: decode bounds not set derive from it. */
  readonly maxMessageBytes?: number;
  /** The registry framed input is read with (default: one from the SCHEMA_REGISTRY_* settings). */
  readonly registry?: SchemaSource;
  /** Field paths the model reads: a writer schema without one is refused (INPUT_FORMAT=confluent). */
  readonly required?: readonly (readonly string[])[];
}

/**
 * The input decoder INPUT_FORMAT asks for: plain Avro with INPUT_WRITER_SCHEMA (or INPUT_SCHEMA),
 * or Confluent-framed with writer schemas from the registry, always resolved into INPUT_SCHEMA,
 * with the per-event bounds of DECODE_MAX_ITEMS / DECODE_MAX_BYTES.
 */
export function inputDecoder(config: Config, options: InputDecoderOptions = {}): EventDecoder {
  const reader = loadSchema(config.inputSchema, 'INPUT_SCHEMA');
  const bounds = { maxItems: config.decodeMaxItems, maxBytes: config.decodeMaxBytes, maxMessageBytes: options.maxMessageBytes };
  if (config.inputFormat === 'confluent') {
    const registry = options.registry ?? createRegistry(registrySettings(config) as NonNullable<ReturnType<typeof registrySettings>>);
    return createFramedDecoder(reader, registry, options.required ?? [], bounds);
  }
  const writer = config.inputWriterSchema ? loadSchema(config.inputWriterSchema, 'INPUT_WRITER_SCHEMA') : undefined;
  return createDecoder(reader, writer, bounds);
}
