import { mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { trace } from '@opentelemetry/api';
import type { Config } from '../config/schema';
import { ServiceError } from '../errors';
import { pathsMissingInWriter, unresolvableField } from '../formats/writer-fields';
import type { PipelineDeps } from '../pipeline';
import { SERVICE_VERSION, prepare } from '../service';
import { type EventDecoder, createDecoder } from '../stages/decode';
import type { Logger } from '../telemetry/logger';
import { type ContainerHeader, openContainer } from './container-read';
import type { ContainerCodec } from './container-write';
import { fileSink } from './file-sink';
import { fileSource } from './file-source';
import { dependencyWaitFrom } from './dependency-wait';
import { type RunOptions, runBatchJob } from './run';
import type { BatchSummary } from './types';

export interface ScoreFileArgs {
  readonly input: string;
  /** Default: the input file's directory. */
  readonly outDir?: string;
  readonly codec?: ContainerCodec;
}

/** Output files are named after the input: payments.avro → payments.predictions.avro, payments.dead-letters.avro. */
export function outputName(input: string): string {
  const base = basename(input);
  return extname(base) === '.avro' ? base.slice(0, -'.avro'.length) : base;
}

/**
 * The file's writer schema (from its header) resolved into INPUT_SCHEMA, as createDecoder does
 * for INPUT_WRITER_SCHEMA; refused, naming the file, when a field the model reads is missing from
 * it (resolution would score the reader's default) or when the two cannot be resolved.
 */
export function fileDecoder(config: Config, header: ContainerHeader, reader: EventDecoder['reader'], required: readonly (readonly string[])[], input: string): EventDecoder {
  const bounds = { maxItems: config.decodeMaxItems, maxBytes: config.decodeMaxBytes };
  const writer = header.writer.equals(reader) ? undefined : header.writer;
  if (writer) {
    const missing = pathsMissingInWriter(reader, writer, required);
    if (missing.length > 0) {
      throw new ServiceError('CONTRACT_MISMATCH', `${input}: the file's writer schema (${writer.name ?? writer.typeName}) has no field ${missing.join(', ')}, which the model reads; resolving it into INPUT_SCHEMA=${config.inputSchema} would score the default instead`);
    }
  }
  try {
    return createDecoder(reader, writer, bounds);
  } catch (error) {
    const field = writer ? unresolvableField(reader, writer) : undefined;
    throw new ServiceError('SCHEMA_INVALID', `${input}: the file's writer schema cannot be read as INPUT_SCHEMA=${config.inputSchema}${field ? ` (field ${field})` : ''}: ${(error as Error).message}`, { cause: error });
  }
}

/** `stream-scorer score-file IN.avro [--out DIR]`: the container file's events through processBatch into container files. */
export async function scoreFile(config: Config, logger: Logger, args: ScoreFileArgs, options: RunOptions = {}): Promise<BatchSummary> {
  if (config.inputFormat !== 'avro') throw new ServiceError('CONFIG_INVALID', `INPUT_FORMAT=${config.inputFormat}: score-file reads Avro container files, whose records are plain Avro of the writer schema in the file header; unset INPUT_FORMAT`);
  if (config.outputFormat !== 'avro') throw new ServiceError('CONFIG_INVALID', `OUTPUT_FORMAT=${config.outputFormat}: score-file writes predictions to an Avro container file (plain Avro); unset OUTPUT_FORMAT`);
  const input = resolve(args.input);
  const reader = await openContainer(input);
  try {
    if (config.inputWriterSchema) logger.warn({ file: input }, 'INPUT_WRITER_SCHEMA is ignored by score-file: the writer schema is the one in the file header');
    const prepared = await prepare(config, logger);
    const required = prepared.model.contract.features.eventPaths;
    const decoder = fileDecoder(config, reader.header, prepared.decoder.reader, required, input);
    const outDir = resolve(args.outDir ?? dirname(input));
    try {
      mkdirSync(outDir, { recursive: true });
    } catch (error) {
      throw new ServiceError('CONFIG_INVALID', `--out ${outDir}: cannot create the output directory (${(error as Error).message})`, { cause: error });
    }
    const sink = fileSink({ outDir, name: outputName(input), predictionSchemaJson: readFileSync(config.predictionSchema, 'utf8'), ...(args.codec ? { codec: args.codec } : {}) });
    const deps: PipelineDeps = {
      decoder,
      model: prepared.model,
      prediction: prepared.prediction,
      // A file has no record size limit: dead letters keep the whole event.
      deadLetter: { ...prepared.deadLetter, maxRecordBytes: Number.MAX_SAFE_INTEGER },
      outputTopic: sink.destinations[0] as string,
      deadLetterTopic: sink.destinations[1] as string,
      maxScoreBatch: prepared.maxScoreBatch,
      store: prepared.store,
      tracer: trace.getTracer('stream-scorer', SERVICE_VERSION),
      recordSpans: false,
    };
    logger.info({ file: input, bytes: reader.size, codec: reader.header.codec, writer_schema: reader.header.writer.name, resolved: decoder.resolver !== undefined }, 'scoring a container file');
    try {
      return await runBatchJob(deps, fileSource(input, reader, config.maxScoreBatch), sink, { dependencyWait: dependencyWaitFrom(config, logger), ...options });
    } finally {
      // An open Redis connection would keep the process alive after the job.
      await prepared.store.close();
    }
  } finally {
    await reader.close();
  }
}
