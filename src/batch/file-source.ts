import { basename } from 'node:path';
import type { SourceMessage } from '../records';
import type { ContainerReader } from './container-read';
import type { BatchSource, SourceProgress } from './types';

/**
 * The records of a container file as SourceMessages: topic = the file's name, partition 0,
 * offset = the record's position in the file, value = its original bytes (written with the
 * file's writer schema), no key, no headers. Batches of `batchSize`, read as they are processed.
 */
export function fileSource(path: string, reader: ContainerReader, batchSize: number): BatchSource {
  const topic = basename(path);
  // No per-record time in a container file: the pipeline falls back to it for event time only when EVENT_TIME_FIELD is unset.
  const timestamp = String(Date.now());
  return {
    description: path,
    progress: (): SourceProgress => ({ done: reader.bytesRead(), total: reader.size, unit: 'bytes' }),
    async forEachBatch(onBatch) {
      let batch: SourceMessage[] = [];
      for await (const record of reader.records()) {
        batch.push({ topic, partition: 0, offset: String(record.index), key: null, value: record.bytes, headers: {}, timestamp });
        if (batch.length >= batchSize) {
          await onBatch(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await onBatch(batch);
    },
  };
}
