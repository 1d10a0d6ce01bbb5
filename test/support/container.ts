import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import avro from 'avsc';

/**
 * Writes an Avro container file with avsc's own BlockEncoder (not the scorer's writer), so the
 * scorer's reader is tested against another implementation. `records` are values of `type`.
 */
export async function writeContainerFile(path: string, type: avro.Type, records: Iterable<unknown> | AsyncIterable<unknown>, options: { codec?: 'null' | 'deflate'; blockSize?: number } = {}): Promise<void> {
  const encoder = new avro.streams.BlockEncoder(type, { codec: options.codec ?? 'deflate', blockSize: options.blockSize ?? 65536 });
  await pipeline(Readable.from(records as AsyncIterable<unknown>, { objectMode: true }), encoder, createWriteStream(path));
}

/** Reads every record of a container file with avsc's own decoder. */
export async function readContainerFile(path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const record of avro.createFileDecoder(path)) out.push(record);
  return out;
}
