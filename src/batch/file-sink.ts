import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Rejection } from '../errors';
import { H } from '../output/headers';
import type { ProcessedBatch } from '../pipeline';
import type { HeaderValue, SourceMessage } from '../records';
import { type ContainerCodec, ContainerWriter } from './container-write';
import type { BatchSink } from './types';

/** schemas/dead-letter-file.avsc, from src/batch (tsx) or dist/src/batch (the built CLI). */
export const DEAD_LETTER_FILE_SCHEMA = [join(__dirname, '..', '..', 'schemas', 'dead-letter-file.avsc'), join(__dirname, '..', '..', '..', 'schemas', 'dead-letter-file.avsc')].find((p) => existsSync(p)) ?? 'schemas/dead-letter-file.avsc';

/** One record of <name>.dead-letters.avro (schemas/dead-letter-file.avsc). */
export interface FileDeadLetter {
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: number };
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly reason_code: string;
  readonly reason_stage: string;
  readonly reason_field: string | null;
  readonly reason_value: string | null;
  readonly reason_message: string;
  readonly model_name: string;
  readonly model_version: string;
  readonly failed_at: number;
}

function text(value: HeaderValue): string | undefined {
  if (Array.isArray(value)) return text(value[value.length - 1]);
  if (value === null || value === undefined) return undefined;
  return Buffer.isBuffer(value) ? value.toString('utf8') : value;
}

export interface FileSinkOptions {
  readonly outDir: string;
  /** Output files are <name>.predictions.avro and <name>.dead-letters.avro. */
  readonly name: string;
  /** PREDICTION_SCHEMA as JSON text: the predictions' bytes are written with it. */
  readonly predictionSchemaJson: string;
  readonly codec?: ContainerCodec;
}

/**
 * Predictions (already encoded with PREDICTION_SCHEMA by the pipeline) into one container file,
 * dead letters into another, each record built from the pipeline's dead-letter record (its
 * headers carry the reason and position) and its original value.
 */
export function fileSink(options: FileSinkOptions): BatchSink {
  const schemaJson = readFileSync(DEAD_LETTER_FILE_SCHEMA, 'utf8');
  const deadLetterType = avro.Type.forSchema(JSON.parse(schemaJson) as avro.Schema);
  const predictions = new ContainerWriter(join(options.outDir, `${options.name}.predictions.avro`), options.predictionSchemaJson, options.codec);
  const deadLetters = new ContainerWriter(join(options.outDir, `${options.name}.dead-letters.avro`), JSON.stringify(deadLetterType.schema()), options.codec);
  return {
    destinations: [predictions.path, deadLetters.path],
    async write(_messages: readonly SourceMessage[], processed: ProcessedBatch) {
      for (const record of processed.predictions) await predictions.append(record.value as Buffer);
      for (let i = 0; i < processed.deadLetters.length; i += 1) {
        const record = processed.deadLetters[i] as (typeof processed.deadLetters)[number];
        const rejection = processed.rejections[i] as Rejection;
        const h = record.headers;
        const letter: FileDeadLetter = {
          source: { topic: text(h[H.sourceTopic]) ?? '', partition: Number(text(h[H.sourcePartition]) ?? 0), offset: Number(text(h[H.sourceOffset]) ?? -1) },
          key: record.key,
          value: record.value,
          reason_code: rejection.code,
          reason_stage: rejection.stage,
          reason_field: rejection.field ?? null,
          reason_value: rejection.value ?? null,
          reason_message: rejection.message,
          model_name: text(h[H.modelName]) ?? '',
          model_version: text(h[H.modelVersion]) ?? '',
          failed_at: Date.parse(text(h[H.failedAt]) ?? '') || Date.now(),
        };
        await deadLetters.append(deadLetterType.toBuffer(letter));
      }
      processed.finish();
    },
    async close() {
      await predictions.close();
      await deadLetters.close();
    },
    async abort() {
      await predictions.abort();
      await deadLetters.abort();
    },
  };
}
