/**
 * Reads an Avro Object Container File (what Spark, Hive, Flink, Kafka Connect and fastavro write)
 * block by block, in bounded memory, and hands out each record's ORIGINAL bytes (no decode and
 * re-encode): the pipeline decodes them with the file's writer schema resolved into INPUT_SCHEMA,
 * and a dead letter keeps them byte for byte.
 *
 * Format (Avro spec, "Object Container Files"): magic `Obj\x01`, a metadata map<bytes>
 * (`avro.schema`, `avro.codec`), a 16-byte sync marker; then blocks of
 * <record count: long> <byte size: long> <records, compressed by the codec> <sync marker>.
 * Codecs: null and deflate (the ones avsc and Node's zlib read); others are refused by name.
 *
 * Record boundaries inside a block come from decoding each record with the writer schema (avsc
 * has no public skipper); a block whose records do not add up to its declared count and size is
 * a corrupt file, not a dead letter: nothing after it could be told apart.
 */
import { open } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { ServiceError } from '../errors';

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]);
const SYNC_BYTES = 16;
/** Largest header (schema and metadata) accepted. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** Largest block accepted, compressed or not: a file is streamed block by block, so one block must fit in memory. */
export const MAX_BLOCK_BYTES = 256 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

export interface ContainerHeader {
  readonly writer: avro.Type;
  /** The writer schema as written in the file (JSON text). */
  readonly schemaJson: string;
  readonly codec: string;
  readonly metadata: ReadonlyMap<string, Buffer>;
  readonly sync: Buffer;
}

export interface ContainerRecord {
  /** Position of the record in the file, from 0. */
  readonly index: number;
  /** The record's bytes as written (after decompression of its block). */
  readonly bytes: Buffer;
}

function corrupt(path: string, what: string): ServiceError {
  return new ServiceError('SCHEMA_INVALID', `${path}: not a readable Avro container file: ${what}`);
}

/** A zig-zag varint long at pos: its value and the position after it, or undefined when the bytes end first. */
export function readLong(buf: Buffer, pos: number): { value: number; next: number } | undefined {
  let result = 0;
  let factor = 1;
  for (let i = pos; i < buf.length && i < pos + 10; i += 1) {
    const byte = buf[i] as number;
    result += (byte & 0x7f) * factor;
    if ((byte & 0x80) === 0) {
      // zig-zag: even → n/2, odd → -(n+1)/2 (arithmetic, not bitwise: longs above 2^31).
      const value = result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      return { value, next: i + 1 };
    }
    factor *= 128;
  }
  return undefined;
}

/**
 * Bytes of a file, pulled on demand in READ_CHUNK_BYTES reads: never more in memory than the
 * largest block asked for plus one read.
 */
class FileBytes {
  private buffer: Buffer = Buffer.alloc(0);
  private pos = 0;
  private filePos = 0;
  private eof = false;

  constructor(
    private readonly handle: Awaited<ReturnType<typeof open>>,
    readonly size: number,
  ) {}

  /** Bytes read from the file and handed out so far. */
  get consumed(): number {
    return this.filePos - (this.buffer.length - this.pos);
  }

  get available(): number {
    return this.buffer.length - this.pos;
  }

  get atEnd(): boolean {
    return this.eof && this.available === 0;
  }

  /** Makes at least n bytes available, unless the file ends first; returns how many are. */
  async want(n: number): Promise<number> {
    if (this.available >= n || this.eof) return this.available;
    const need = n - this.available;
    const chunks: Buffer[] = [this.buffer.subarray(this.pos)];
    let got = 0;
    while (got < need) {
      const chunk = Buffer.allocUnsafe(Math.max(READ_CHUNK_BYTES, need - got));
      const { bytesRead } = await this.handle.read(chunk, 0, chunk.length, this.filePos);
      if (bytesRead === 0) {
        this.eof = true;
        break;
      }
      this.filePos += bytesRead;
      got += bytesRead;
      chunks.push(chunk.subarray(0, bytesRead));
    }
    this.buffer = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    this.pos = 0;
    return this.available;
  }

  view(): Buffer {
    return this.buffer.subarray(this.pos);
  }

  skip(n: number): void {
    this.pos += n;
  }

  /** n bytes as a buffer of their own (the read buffer is reused). */
  take(n: number): Buffer {
    const out = Buffer.from(this.buffer.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
}

function parseHeader(path: string, buf: Buffer): { header: Omit<ContainerHeader, 'writer' | 'schemaJson' | 'codec'>; length: number } | undefined {
  if (buf.length < MAGIC.length) return undefined;
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt(path, 'no Avro magic bytes (Obj\\x01) at the start; is it Avro single-object or raw binary, or another format (Parquet, JSON)?');
  const metadata = new Map<string, Buffer>();
  let pos = MAGIC.length;
  for (;;) {
    const count = readLong(buf, pos);
    if (!count) return undefined;
    pos = count.next;
    if (count.value === 0) break;
    let n = count.value;
    if (n < 0) {
      n = -n;
      const size = readLong(buf, pos);
      if (!size) return undefined;
      pos = size.next;
    }
    for (let i = 0; i < n; i += 1) {
      const keyLength = readLong(buf, pos);
      if (!keyLength) return undefined;
      if (keyLength.value < 0) throw corrupt(path, 'negative metadata key length');
      const keyEnd = keyLength.next + keyLength.value;
      const valueLength = readLong(buf, keyEnd);
      if (!valueLength) return undefined;
      if (valueLength.value < 0) throw corrupt(path, 'negative metadata value length');
      const valueEnd = valueLength.next + valueLength.value;
      if (valueEnd > buf.length) return undefined;
      metadata.set(buf.toString('utf8', keyLength.next, keyEnd), Buffer.from(buf.subarray(valueLength.next, valueEnd)));
      pos = valueEnd;
    }
  }
  if (pos + SYNC_BYTES > buf.length) return undefined;
  return { header: { metadata, sync: Buffer.from(buf.subarray(pos, pos + SYNC_BYTES)) }, length: pos + SYNC_BYTES };
}

export interface ContainerReader {
  readonly header: ContainerHeader;
  readonly size: number;
  /** Bytes of the file read so far (for progress). */
  bytesRead(): number;
  /** Every record, in file order. Corrupt blocks throw a ServiceError naming the file and block. */
  records(): AsyncGenerator<ContainerRecord>;
  close(): Promise<void>;
}

/** Opens a container file and reads its header; throws a ServiceError naming the file when it cannot. */
export async function openContainer(path: string): Promise<ContainerReader> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new ServiceError('CONFIG_INVALID', `${path}: cannot open the input file (${(error as Error).message})`, { cause: error });
  }
  try {
    const size = (await handle.stat()).size;
    const bytes = new FileBytes(handle, size);
    let parsed: ReturnType<typeof parseHeader>;
    for (let want = 4096; ; want *= 2) {
      const available = await bytes.want(want);
      parsed = parseHeader(path, bytes.view());
      if (parsed) break;
      if (available < want) throw corrupt(path, available === 0 ? 'the file is empty' : 'the header is truncated');
      if (want > MAX_HEADER_BYTES) throw corrupt(path, `header larger than ${MAX_HEADER_BYTES} bytes`);
    }
    bytes.skip(parsed.length);
    const schemaBytes = parsed.header.metadata.get('avro.schema');
    if (!schemaBytes) throw corrupt(path, 'the header has no avro.schema');
    const schemaJson = schemaBytes.toString('utf8');
    let writer: avro.Type;
    try {
      writer = avro.Type.forSchema(JSON.parse(schemaJson) as avro.Schema);
    } catch (error) {
      throw new ServiceError('SCHEMA_INVALID', `${path}: the writer schema in the file header is not a valid Avro schema (${(error as Error).message})`, { cause: error });
    }
    const codec = parsed.header.metadata.get('avro.codec')?.toString('utf8') || 'null';
    if (codec !== 'null' && codec !== 'deflate') throw new ServiceError('CONFIG_INVALID', `${path}: block codec "${codec}" is not supported (supported: null, deflate); rewrite the file with one of those`);
    const header: ContainerHeader = { ...parsed.header, writer, schemaJson, codec };
    return {
      header,
      size,
      bytesRead: () => bytes.consumed,
      records: () => readRecords(path, bytes, header),
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function* readRecords(path: string, bytes: FileBytes, header: ContainerHeader): AsyncGenerator<ContainerRecord> {
  let index = 0;
  for (let block = 0; ; block += 1) {
    await bytes.want(20);
    if (bytes.atEnd) return;
    const view = bytes.view();
    const count = readLong(view, 0);
    const size = count && readLong(view, count.next);
    if (!count || !size) throw corrupt(path, `block ${block} (after record ${index}): truncated block header`);
    if (count.value < 0 || size.value < 0 || size.value > MAX_BLOCK_BYTES) throw corrupt(path, `block ${block} (after record ${index}): declares ${count.value} records in ${size.value} bytes (limit ${MAX_BLOCK_BYTES} bytes)`);
    bytes.skip(size.next);
    const total = size.value + SYNC_BYTES;
    if ((await bytes.want(total)) < total) throw corrupt(path, `block ${block} (after record ${index}): truncated (the file ends inside it)`);
    const compressed = bytes.take(size.value);
    const sync = bytes.take(SYNC_BYTES);
    if (!sync.equals(header.sync)) throw corrupt(path, `block ${block} (after record ${index}): sync marker does not match the header's`);
    let data: Buffer;
    try {
      data = header.codec === 'deflate' ? inflateRawSync(compressed, { maxOutputLength: MAX_BLOCK_BYTES }) : compressed;
    } catch (error) {
      throw corrupt(path, `block ${block} (after record ${index}): ${header.codec} decompression failed (${(error as Error).message})`);
    }
    let pos = 0;
    for (let i = 0; i < count.value; i += 1) {
      let end: number;
      try {
        end = header.writer.decode(data, pos).offset;
      } catch (error) {
        throw corrupt(path, `block ${block}, record ${index}: cannot be read with the file's writer schema (${(error as Error).message})`);
      }
      if (end < 0) throw corrupt(path, `block ${block}, record ${index}: the block ends inside the record (it declares ${count.value} records)`);
      yield { index, bytes: data.subarray(pos, end) };
      pos = end;
      index += 1;
    }
    if (pos !== data.length) throw corrupt(path, `block ${block}: ${data.length - pos} bytes left after its ${count.value} records`);
  }
}
