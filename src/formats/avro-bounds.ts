/**
 * Bounded Avro decoding: refuse, before avsc allocates anything, an event whose bytes declare more
 * than they can hold.
 *
 * avsc trusts every length and block count it reads. One array block count of 10^8 in a 30-byte
 * event makes it run `new Array(10^8)` and a 10^8-step loop until V8 aborts with a heap OOM, which
 * no try/catch survives; the restarted scorer reads the same offset and dies again. A map count of
 * 10^11 is a CPU loop of minutes. So each event is first walked over the WRITER schema (the bytes
 * were written with it; a resolver reads them in the same order), reading only varints: every
 * string/bytes length and every array/map block count is checked against the bytes that remain
 * and against per-event caps. Only then does avsc decode it.
 *
 * The walk follows avsc's reading byte for byte, so the bytes avsc reads are the bytes that were
 * checked; wherever the walk cannot follow, it refuses the event rather than leave the error to
 * avsc, because avsc may not read those bytes at all. A block with a negative count also declares
 * its size in bytes, which avsc's skipper (used through a resolver for writer fields the reader
 * drops) jumps over while its reader walks the items: a negative string length inside such a
 * block stops avsc's reader but not its skipper, which lands on whatever follows. So a block size
 * must be what its items take, and a negative length or an unknown union branch is refused here.
 */
import type avro from 'avsc';
import { type Rejection, reject } from '../errors';

export interface DecodeBounds {
  /** Most array items plus map entries in one event (DECODE_MAX_ITEMS). */
  readonly maxItems: number;
  /** Most bytes of strings, bytes values and map keys declared in one event (DECODE_MAX_BYTES). */
  readonly maxBytes: number;
}

/** Kafka's default max.message.bytes is 1 MiB (plus a 12-byte batch header). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * The default bounds for a topic whose largest message is `maxMessageBytes`. No event the topic
 * carries can declare more string/bytes bytes than that, nor more items: items of a type that takes
 * a byte need their bytes, and items of zero-byte types (null, empty records, fixed of size 0) are
 * held to one per byte of the event anyway (see Walk.count). So the defaults refuse nothing that
 * fits the topic; the settings can only make them tighter.
 */
export function boundsFor(maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES): DecodeBounds {
  return { maxItems: maxMessageBytes, maxBytes: maxMessageBytes };
}

export interface BoundsCheck {
  /**
   * Events of at most this many bytes need no walk (-1: every event is walked). A writer schema
   * without arrays and maps declares no counts, and the strings and bytes of an event that avsc
   * decodes lie inside its bytes (avsc fails fast on a length beyond them), so only an event
   * longer than maxBytes could break a bound.
   */
  readonly walkAbove: number;
  /** A rejection when the event breaks a bound or cannot be walked; undefined otherwise (avsc still judges the rest). */
  check(value: Buffer): Rejection | undefined;
}

// Which bound a walk broke (numbers, not strings: set on the failure path, compared on every step).
const NO_LIMIT = 0;
/** A block count that cannot fit in the bytes left (or in the block's declared size). */
const COUNT = 1;
/** A string/bytes/map key length beyond the bytes left. */
const LENGTH = 2;
/** A block size that is negative or beyond the bytes left. */
const BLOCK_SIZE = 3;
/** A block size other than what its items take. */
const BLOCK_MISMATCH = 4;
const ITEMS = 5;
/** More items than the event has bytes: only items of zero-byte types can get there. */
const ITEMS_PER_BYTE = 6;
const BYTES = 7;
/** Not a bound: a union branch index the writer schema does not have (here the walk knows the field path). */
const UNION_INDEX = 8;
type Limit = typeof NO_LIMIT | typeof COUNT | typeof LENGTH | typeof BLOCK_SIZE | typeof BLOCK_MISMATCH | typeof ITEMS | typeof ITEMS_PER_BYTE | typeof BYTES | typeof UNION_INDEX;

type What = 'array' | 'map' | 'string' | 'bytes' | 'map key' | 'union';

/** The state of one walk: one instance per compiled schema (decoding is synchronous), reset per event, so no allocation per event. */
class Walk {
  pos = 0;
  end = 0;
  items = 0;
  bytes = 0;
  limit: Limit = NO_LIMIT;
  what: What = 'array';
  declared = 0;
  /** COUNT, LENGTH, BLOCK_SIZE: bytes left; ITEMS, ITEMS_PER_BYTE, BYTES: the event's total with this declaration; BLOCK_MISMATCH: bytes the items took. */
  actual = 0;
  /** COUNT: the least bytes one item takes; BLOCK_SIZE, BLOCK_MISMATCH: items in the block. */
  unit = 0;
  /** Filled innermost first on the way out of a failed walk only: field names, array indexes, [map keys]. */
  readonly path: (string | number)[] = [];

  constructor(
    readonly maxItems: number,
    readonly maxBytes: number,
  ) {}

  reset(end: number): void {
    this.pos = 0;
    this.end = end;
    this.items = 0;
    this.bytes = 0;
    this.limit = NO_LIMIT;
    this.path.length = 0;
  }

  remaining(): number {
    return this.end > this.pos ? this.end - this.pos : 0;
  }

  fail(limit: Limit, what: What, declared: number, actual: number, unit = 0): false {
    this.limit = limit;
    this.what = what;
    this.declared = declared;
    this.actual = actual;
    this.unit = unit;
    return false;
  }

  /** A block of n items (or map entries) of at least `min` bytes each: does it fit? */
  count(n: number, min: number, what: What, available = this.remaining()): boolean {
    // n * 0 is NaN for n = Infinity: NaN compares false, so the items cap below catches it.
    if (n * min > available) return this.fail(COUNT, what, n, available, min);
    const total = this.items + n;
    if (total > this.maxItems) return this.fail(ITEMS, what, n, total);
    // Items of zero-byte types (null, empty records, fixed of size 0) are the only ones the bytes
    // do not bound, yet each still costs avsc an array slot or an object: 10^6 empty records in a
    // 5-byte event take 24 MB and 130 ms, and a 1 MiB fetch holds 200,000 such events. One item per
    // byte of the event keeps them as cheap as items of one byte; every other item passes anyway.
    if (total > this.end) return this.fail(ITEMS_PER_BYTE, what, n, total);
    this.items = total;
    return true;
  }

  /** A declared string/bytes length: inside the event and under the per-event total? */
  length(len: number, what: What): boolean {
    const available = this.remaining();
    // Written so NaN (from an absurdly long varint) fails too.
    if (!(len >= 0 && len <= available)) return this.fail(LENGTH, what, len, available);
    const total = this.bytes + len;
    if (total > this.maxBytes) return this.fail(BYTES, what, len, total);
    this.bytes = total;
    this.pos += len;
    return true;
  }
}

/** A compiled walker over one type: advances walk.pos; false stops the walk, walk.limit saying why. */
type Step = (buf: Buffer, walk: Walk) => boolean;

/**
 * What a type compiles to: `width` >= 0 bytes to jump over, one varint (width -1), or a step
 * (width -2). One object shape for all three keeps the call sites monomorphic.
 */
interface Node {
  readonly width: number;
  readonly step: Step | undefined;
}
const VARINT: Node = { width: -1, step: undefined };
const fixedWidth = (width: number): Node => ({ width, step: undefined });
const stepNode = (step: Step): Node => ({ width: -2, step });

/**
 * avsc's Tap.readLong, including its float arithmetic beyond 28 bits and reading a byte past the
 * end as 0 (`undefined & x`), so both see the same number.
 */
function readLong(buf: Buffer, walk: Walk): number {
  const end = walk.end;
  let pos = walk.pos;
  let n = 0;
  let k = 0;
  let b: number;
  do {
    b = pos < end ? (buf[pos] as number) : 0;
    pos += 1;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (b & 0x80 && k < 28);
  if (b & 0x80) {
    let f = n;
    let fk = 268435456;
    do {
      b = pos < end ? (buf[pos] as number) : 0;
      pos += 1;
      f += (b & 0x7f) * fk;
      fk *= 128;
    } while (b & 0x80);
    walk.pos = pos;
    return (f % 2 ? -(f + 1) : f) / 2;
  }
  walk.pos = pos;
  return (n >> 1) ^ -(n & 1);
}

function skipLong(buf: Buffer, walk: Walk): void {
  const end = walk.end;
  let pos = walk.pos;
  let b: number;
  do {
    b = pos < end ? (buf[pos] as number) : 0;
    pos += 1;
  } while (b & 0x80);
  walk.pos = pos;
}

/** Runs a node; false as a step. */
function run(node: Node, buf: Buffer, walk: Walk): boolean {
  if (node.width >= 0) walk.pos += node.width;
  else if (node.step === undefined) skipLong(buf, walk);
  else return node.step(buf, walk);
  return true;
}

/** The least bytes a value of the type takes (a lower bound; 0 for the recursive part of a recursive type). */
function minBytes(type: avro.Type, memo: Map<avro.Type, number>): number {
  const known = memo.get(type);
  if (known !== undefined) return known;
  const shape = type as unknown as TypeShape;
  let min: number;
  switch (type.typeName) {
    case 'null':
      min = 0;
      break;
    case 'float':
      min = 4;
      break;
    case 'double':
      min = 8;
      break;
    case 'fixed':
      min = shape.size ?? 0;
      break;
    case 'record':
    case 'error':
      memo.set(type, 0);
      min = 0;
      for (const field of shape.fields ?? []) min += minBytes(field.type, memo);
      break;
    default:
      // boolean, int, long, enum, string, bytes, union index, array/map terminator: one byte at least.
      min = shape.underlyingType ? minBytes(shape.underlyingType, memo) : 1;
  }
  memo.set(type, min);
  return min;
}

function hasBlocks(type: avro.Type, seen: Set<avro.Type> = new Set()): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  const shape = type as unknown as TypeShape;
  if (type.typeName === 'array' || type.typeName === 'map') return true;
  if (shape.fields) return shape.fields.some((f) => hasBlocks(f.type, seen));
  if (shape.types) return shape.types.some((t) => hasBlocks(t, seen));
  return shape.underlyingType ? hasBlocks(shape.underlyingType, seen) : false;
}

function stringStep(what: 'string' | 'bytes'): Step {
  return (buf, walk) => walk.length(readLong(buf, walk), what);
}

/** After a block's items: the block size it declared must be what they took (see the file comment). */
function blockEnds(walk: Walk, what: What, blockEnd: number, start: number, n: number): boolean {
  return walk.pos === blockEnd || walk.fail(BLOCK_MISMATCH, what, blockEnd - start, walk.pos - start, n);
}

function arrayStep(items: Node, min: number): Step {
  return (buf, walk) => {
    let index = 0;
    for (;;) {
      let n = readLong(buf, walk);
      // `!n` as avsc's `while ((n = tap.readLong()))`: 0 and NaN end the array.
      if (!n) return true;
      let blockEnd = -1;
      let start = 0;
      let available = walk.remaining();
      if (n < 0) {
        n = -n;
        const size = readLong(buf, walk);
        available = walk.remaining();
        if (!(size >= 0 && size <= available)) return walk.fail(BLOCK_SIZE, 'array', size, available, n);
        start = walk.pos;
        blockEnd = start + size;
        available = size;
      }
      if (!walk.count(n, min, 'array', available)) return false;
      if (items.width >= 0) {
        walk.pos += n * items.width;
        index += n;
      } else if (items.step === undefined) {
        for (let i = 0; i < n; i += 1) skipLong(buf, walk);
        index += n;
      } else {
        const step = items.step;
        for (let i = 0; i < n; i += 1, index += 1) {
          if (!step(buf, walk)) {
            walk.path.push(index);
            return false;
          }
        }
      }
      if (blockEnd >= 0 && !blockEnds(walk, 'array', blockEnd, start, n)) return false;
    }
  };
}

function mapStep(values: Node, valueMin: number): Step {
  // Each entry is a key (a string: one byte at least) and a value.
  const min = 1 + valueMin;
  return (buf, walk) => {
    for (;;) {
      let n = readLong(buf, walk);
      if (!n) return true;
      let blockEnd = -1;
      let start = 0;
      let available = walk.remaining();
      if (n < 0) {
        n = -n;
        const size = readLong(buf, walk);
        available = walk.remaining();
        if (!(size >= 0 && size <= available)) return walk.fail(BLOCK_SIZE, 'map', size, available, n);
        start = walk.pos;
        blockEnd = start + size;
        available = size;
      }
      if (!walk.count(n, min, 'map', available)) return false;
      for (let i = 0; i < n; i += 1) {
        const len = readLong(buf, walk);
        const keyAt = walk.pos;
        if (!walk.length(len, 'map key')) return false;
        if (!run(values, buf, walk)) {
          walk.path.push(`[${JSON.stringify(shorten(buf.toString('utf8', keyAt, keyAt + len)))}]`);
          return false;
        }
      }
      if (blockEnd >= 0 && !blockEnds(walk, 'map', blockEnd, start, n)) return false;
    }
  };
}

function unionStep(branches: readonly Node[]): Step {
  return (buf, walk) => {
    const index = readLong(buf, walk);
    const branch = branches[index];
    // avsc would throw on the same byte too ("invalid union index", or a TypeError when it skips the field).
    if (branch === undefined) return walk.fail(UNION_INDEX, 'union', index, branches.length);
    return run(branch, buf, walk);
  };
}

function recordStep(fields: readonly { readonly name: string; readonly node: Node }[]): Step {
  // Consecutive fixed-width fields are one jump: fewer calls for the common double/float/boolean runs.
  const nodes: Node[] = [];
  const names: string[] = [];
  for (const field of fields) {
    const last = nodes[nodes.length - 1];
    if (field.node.width >= 0 && last !== undefined && last.width >= 0) {
      nodes[nodes.length - 1] = fixedWidth(last.width + field.node.width);
    } else {
      nodes.push(field.node);
      names.push(field.name);
    }
  }
  const count = nodes.length;
  return (buf, walk) => {
    for (let i = 0; i < count; i += 1) {
      const node = nodes[i] as Node;
      if (node.width >= 0) walk.pos += node.width;
      else if (node.step === undefined) skipLong(buf, walk);
      else if (!node.step(buf, walk)) {
        walk.path.push(names[i] as string);
        return false;
      }
    }
    return true;
  };
}

function compile(type: avro.Type, memo: Map<avro.Type, Node>, mins: Map<avro.Type, number>): Node {
  const known = memo.get(type);
  if (known !== undefined) return known;
  const shape = type as unknown as TypeShape;
  switch (type.typeName) {
    case 'null':
      return fixedWidth(0);
    case 'boolean':
      return fixedWidth(1);
    case 'float':
      return fixedWidth(4);
    case 'double':
      return fixedWidth(8);
    case 'fixed':
      return fixedWidth(shape.size ?? 0);
    case 'int':
    case 'long':
    case 'enum':
      return VARINT;
    case 'string':
      return stepNode(stringStep('string'));
    case 'bytes':
      return stepNode(stringStep('bytes'));
    case 'array': {
      const items = shape.itemsType as avro.Type;
      return stepNode(arrayStep(compile(items, memo, mins), minBytes(items, mins)));
    }
    case 'map': {
      const values = shape.valuesType as avro.Type;
      return stepNode(mapStep(compile(values, memo, mins), minBytes(values, mins)));
    }
    case 'record':
    case 'error': {
      // Registered before its fields are compiled, so a recursive reference finds it.
      let body: Step = () => {
        throw new Error('bounded decoding: a record walked before it was compiled');
      };
      const node = stepNode((buf, walk) => body(buf, walk));
      memo.set(type, node);
      const fields = (shape.fields ?? []).map((f) => ({ name: f.name, node: compile(f.type, memo, mins) }));
      // A record of fixed-width fields is one jump (it cannot be recursive: that needs a union or array).
      if (fields.every((f) => f.node.width >= 0)) {
        const fixed = fixedWidth(fields.reduce((sum, f) => sum + f.node.width, 0));
        memo.set(type, fixed);
        return fixed;
      }
      body = recordStep(fields);
      return node;
    }
    default:
      if (shape.types) return stepNode(unionStep(shape.types.map((t) => compile(t, memo, mins))));
      if (shape.underlyingType) return compile(shape.underlyingType, memo, mins);
      throw new Error(`bounded decoding does not know Avro type ${type.typeName}`);
  }
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function renderPath(path: readonly (string | number)[]): string {
  let out = '';
  for (let i = path.length - 1; i >= 0; i -= 1) {
    const segment = path[i] as string | number;
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (segment.startsWith('[')) out += segment;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

const SCHEMA_ACTION = 'the bytes are corrupt or hostile, or were written with another schema: check the producer\'s schema and framing';

function describe(walk: Walk, path: string): string {
  const where = path === '' ? 'the event itself' : path;
  const unit = walk.what === 'array' ? 'items' : walk.what === 'map' ? 'entries' : 'bytes';
  switch (walk.limit) {
    case COUNT:
      return `${walk.what} at ${where} declares a block of ${walk.declared} ${unit}, but only ${walk.actual} bytes remain for it and each takes at least ${walk.unit} (limit: the event's remaining bytes); ${SCHEMA_ACTION}`;
    case LENGTH:
      return walk.declared < 0
        ? `${walk.what} at ${where} declares a negative length (${walk.declared} bytes); ${SCHEMA_ACTION}`
        : `${walk.what} at ${where} declares ${walk.declared} bytes, but only ${walk.actual} remain (limit: the event's remaining bytes); truncated, or ${SCHEMA_ACTION}`;
    case BLOCK_SIZE:
      return `${walk.what} block at ${where} declares a size of ${walk.declared} bytes for its ${walk.unit} ${unit}, but ${walk.actual} bytes remain (limit: the event's remaining bytes); ${SCHEMA_ACTION}`;
    case BLOCK_MISMATCH:
      return `${walk.what} block at ${where} declares a size of ${walk.declared} bytes for its ${walk.unit} ${unit}, but they take ${walk.actual} (limit: a block's size must match its items); ${SCHEMA_ACTION}`;
    case UNION_INDEX:
      return `union at ${where} has no branch ${walk.declared} (it has ${walk.actual}); ${SCHEMA_ACTION}`;
    case ITEMS_PER_BYTE:
      return `${walk.what} at ${where} declares ${walk.declared} ${unit}, which makes ${walk.actual} array items and map entries in this ${walk.end}-byte event (limit: one item per byte of the event, which only items of zero-byte types such as null or empty records can exceed); ${SCHEMA_ACTION}`;
    case ITEMS:
      return `${walk.what} at ${where} declares ${walk.declared} ${unit}, which makes ${walk.actual} array items and map entries in this event, over DECODE_MAX_ITEMS=${walk.maxItems}; if such events are genuine, raise DECODE_MAX_ITEMS (decoded events take memory in proportion), otherwise ${SCHEMA_ACTION}`;
    default:
      return `${walk.what} at ${where} declares ${walk.declared} bytes, which makes ${walk.actual} bytes of strings, bytes and map keys in this event, over DECODE_MAX_BYTES=${walk.maxBytes}; if such events are genuine, raise DECODE_MAX_BYTES, otherwise ${SCHEMA_ACTION}`;
  }
}

/** Compiles the writer schema once (at start-up) into the walker that checks every event. */
export function compileBounds(writer: avro.Type, bounds: DecodeBounds): BoundsCheck {
  const root = compile(writer, new Map(), new Map());
  const walk = new Walk(bounds.maxItems, bounds.maxBytes);
  return {
    walkAbove: hasBlocks(writer) ? -1 : bounds.maxBytes,
    check(value) {
      walk.reset(value.length);
      try {
        if (run(root, value, walk)) return undefined;
      } catch (error) {
        // Only a recursive schema nests deep enough to exhaust the stack, and avsc would too.
        if (error instanceof RangeError) return reject('UNDECODABLE_AVRO', `nested deeper than the decoder's stack allows: ${SCHEMA_ACTION}`);
        throw error;
      }
      const path = renderPath(walk.path);
      return reject('UNDECODABLE_AVRO', describe(walk, path), path === '' ? undefined : path, walk.declared);
    },
  };
}

/** The parts of avsc's type classes read here (its typings declare them per subclass). */
interface TypeShape {
  readonly size?: number;
  readonly itemsType?: avro.Type;
  readonly valuesType?: avro.Type;
  readonly fields?: readonly { readonly name: string; readonly type: avro.Type }[];
  readonly types?: readonly avro.Type[];
  readonly underlyingType?: avro.Type;
}
