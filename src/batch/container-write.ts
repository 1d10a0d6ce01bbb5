/**
 * Writes an Avro Object Container File from records that are ALREADY Avro-encoded (the pipeline's
 * predictions are bytes): no decode and re-encode, blocks of about BLOCK_BYTES, deflate or null
 * codec. Written to `<path>.partial` and renamed when closed, so a file under the final name is
 * always complete. Writes wait for the disk (backpressure).
 */
import { randomBytes } from 'node:crypto';
import { type WriteStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { deflateRawSync } from 'node:zlib';

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]);
const BLOCK_BYTES = 64 * 1024;

export type ContainerCodec = 'null' | 'deflate';

/** A zig-zag varint long. */
export function encodeLong(n: number): Buffer {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
  return Buffer.from(out);
}

function encodeBytes(bytes: Buffer): Buffer {
  return Buffer.concat([encodeLong(bytes.length), bytes]);
}

export class ContainerWriter {
  readonly path: string;
  private readonly partial: string;
  private readonly out: WriteStream;
  private readonly sync = randomBytes(16);
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private failure: Error | undefined;
  /** Records written so far. */
  count = 0;

  constructor(
    path: string,
    schemaJson: string,
    private readonly codec: ContainerCodec = 'deflate',
  ) {
    this.path = path;
    this.partial = `${path}.partial`;
    this.out = createWriteStream(this.partial);
    this.out.on('error', (error) => {
      this.failure = error;
    });
    const meta = Buffer.concat([
      encodeLong(2),
      encodeBytes(Buffer.from('avro.schema')),
      encodeBytes(Buffer.from(schemaJson)),
      encodeBytes(Buffer.from('avro.codec')),
      encodeBytes(Buffer.from(codec)),
      encodeLong(0),
    ]);
    this.out.write(Buffer.concat([MAGIC, meta, this.sync]));
  }

  /** Adds one encoded record; resolves once the stream accepts more (backpressure). */
  async append(record: Buffer): Promise<void> {
    this.pending.push(record);
    this.pendingBytes += record.length;
    this.count += 1;
    if (this.pendingBytes >= BLOCK_BYTES) await this.flushBlock();
  }

  private async flushBlock(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.pending.length === 0) return;
    const raw = Buffer.concat(this.pending, this.pendingBytes);
    const data = this.codec === 'deflate' ? deflateRawSync(raw) : raw;
    const block = Buffer.concat([encodeLong(this.pending.length), encodeLong(data.length), data, this.sync]);
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.out.write(block)) await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.out.once('error', onError);
      this.out.once('drain', () => {
        this.out.off('error', onError);
        resolve();
      });
    });
  }

  /** Writes the last block, closes and renames the file into place. */
  async close(): Promise<void> {
    await this.flushBlock();
    await new Promise<void>((resolve, reject) => {
      this.out.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
    if (this.failure) throw this.failure;
    await rename(this.partial, this.path);
  }

  /** Closes and removes the unfinished file. */
  async abort(): Promise<void> {
    await new Promise<void>((resolve) => this.out.end(() => resolve()));
    await rm(this.partial, { force: true });
  }
}
