import { type Rejection, reject, renderValue } from '../../errors';
import type { FeatureColumn, FeaturePlan, TensorFeed } from '../../features/plan';
import { valueAt } from '../../features/path';
import type { InputEvent } from '../decode';

// Largest finite float32: anything bigger turns into Infinity inside the model.
const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const TWO_32 = 2 ** 32;

/** The data of one model input for the rows of a batch, row-major [rowCount × width]. */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | string[];

/**
 * Model-ready inputs of the events that passed every check: one typed array per graph input
 * (tensors, in FeaturePlan.tensors order), plus the value of every feature as the model sees it,
 * by feature name, for monitoring. rows[r] is the batch index of row r.
 */
export interface FeatureBatch {
  readonly rowCount: number;
  readonly rows: Int32Array;
  readonly tensors: readonly TensorData[];
  readonly numeric: ReadonlyMap<string, Float32Array>;
  readonly categorical: ReadonlyMap<string, string[]>;
  /** Per row (by row index r), the reasons it was scored but flagged, e.g. UNKNOWN_CATEGORY:country. Sparse. */
  readonly flags: ReadonlyMap<number, readonly string[]>;
}

export interface CheckedBatch {
  readonly rejections: (Rejection | undefined)[];
  readonly features: FeatureBatch;
}

function isMissing(value: unknown): boolean {
  return value === null || value === undefined;
}

/** The category text of a categorical value, or undefined when the value cannot be a category. */
function categoryOf(column: FeatureColumn, value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  // Integer categories (int64 encoder keys) read from int/long fields: compared as their decimal text.
  if (column.integerCategories && typeof value === 'number' && Number.isInteger(value)) return String(value);
  return undefined;
}

/** First reason one column of an event cannot be fed honestly, or undefined. */
function checkColumn(column: FeatureColumn, value: unknown): Rejection | undefined {
  if (isMissing(value)) {
    if (column.missing !== 'dead-letter') return undefined;
    return reject('MISSING_FIELD', `required model input "${column.name}" is ${value === null ? 'null' : 'absent'}`, column.name, value);
  }
  if (column.kind === 'categorical') {
    const category = categoryOf(column, value);
    if (category === undefined) return reject('WRONG_TYPE', `model input "${column.name}" must be a string category, got ${typeof value}`, column.name, value);
    if (column.categories && column.unknown === 'dead-letter' && !column.categories.has(category)) {
      // The value as rendered (capped) in the message too: a huge one must not crowd out the rest.
      return reject('UNKNOWN_CATEGORY', `"${renderValue(category)}" is not a category the model knows for "${column.name}" (${column.categories.size} known, from ${column.categoriesFrom})`, column.name, value);
    }
    return undefined;
  }
  const number = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  if (typeof number !== 'number') return reject('WRONG_TYPE', `model input "${column.name}" must be a number, got ${typeof value}`, column.name, value);
  if (!Number.isFinite(number)) return reject('NON_FINITE_NUMBER', `model input "${column.name}" is ${number}`, column.name, value);
  switch (column.element) {
    case 'float':
      if (Math.abs(number) > FLOAT32_MAX) return reject('OUT_OF_RANGE', `model input "${column.name}" overflows the model's float32 input`, column.name, value);
      break;
    case 'int32':
    case 'int64':
    case 'bool':
      if (!Number.isInteger(number)) return reject('WRONG_TYPE', `model input "${column.name}" feeds an ${column.element} tensor and must be a whole number`, column.name, value);
      if (column.element === 'int32' && (number < INT32_MIN || number > INT32_MAX)) return reject('OUT_OF_RANGE', `model input "${column.name}" overflows the model's int32 input`, column.name, value);
      if (column.element === 'bool' && number !== 0 && number !== 1) return reject('OUT_OF_RANGE', `model input "${column.name}" feeds a bool tensor and must be true/false or 0/1`, column.name, value);
      break;
    default:
      break;
  }
  return undefined;
}

/** First reason an event cannot be scored honestly, or undefined if it can. */
export function checkEvent(event: InputEvent, columns: readonly FeatureColumn[]): Rejection | undefined {
  for (const column of columns) {
    const rejection = checkColumn(column, valueAt(event, column.path));
    if (rejection) return rejection;
  }
  return undefined;
}

/** Columns whose unknown categories are scored and flagged: checked for flags per valid row. */
function flaggingColumns(plan: FeaturePlan): FeatureColumn[] {
  return plan.columns.filter((c) => c.kind === 'categorical' && c.unknown === 'score-and-flag' && c.categories !== undefined);
}

/** The number fed for a checked value (codes, missing and unknown policies applied). */
function numberFed(column: FeatureColumn, value: unknown): number {
  if (isMissing(value)) return column.missingValue as number;
  if (column.codes) {
    const code = column.codes.get(categoryOf(column, value) as string);
    return code === undefined ? (column.unknownCode as number) : code;
  }
  return typeof value === 'boolean' ? (value ? 1 : 0) : (value as number);
}

function allocate(feed: TensorFeed, rowCount: number): TensorData {
  const size = rowCount * feed.width;
  switch (feed.element) {
    case 'string':
      return new Array<string>(size);
    case 'float':
      return new Float32Array(size);
    case 'double':
      return new Float64Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'bool':
      return new Uint8Array(size);
  }
}

/**
 * Checks every decoded event of a batch against the feature plan and fills the model's input
 * tensors with the valid ones. Events that failed decoding keep their earlier rejection.
 */
export function checkBatch(plan: FeaturePlan, events: readonly (InputEvent | undefined)[], earlier: readonly (Rejection | undefined)[]): CheckedBatch {
  const count = events.length;
  const rejections = earlier.slice();
  const rows = new Int32Array(count);
  let rowCount = 0;
  for (let i = 0; i < count; i += 1) {
    const event = events[i];
    if (!event) continue;
    const rejection = checkEvent(event, plan.columns);
    if (rejection) rejections[i] = rejection;
    else rows[rowCount++] = i;
  }

  const flags = new Map<number, string[]>();
  for (const column of flaggingColumns(plan)) {
    const known = column.categories as ReadonlySet<string>;
    for (let r = 0; r < rowCount; r += 1) {
      const value = valueAt(events[rows[r] as number] as InputEvent, column.path);
      if (isMissing(value) || known.has(categoryOf(column, value) as string)) continue;
      const flag = `UNKNOWN_CATEGORY:${column.name}`;
      const list = flags.get(r);
      if (list) list.push(flag);
      else flags.set(r, [flag]);
    }
  }

  const tensors: TensorData[] = [];
  const numeric = new Map<string, Float32Array>();
  const categorical = new Map<string, string[]>();
  for (const feed of plan.tensors) {
    const data = allocate(feed, rowCount);
    tensors.push(data);
    const width = feed.width;
    for (const column of feed.columns) {
      const at = column.column;
      if (feed.element === 'string') {
        const strings = data as string[];
        for (let r = 0; r < rowCount; r += 1) {
          const value = valueAt(events[rows[r] as number] as InputEvent, column.path);
          strings[r * width + at] = isMissing(value) ? (column.missingValue as string) : (categoryOf(column, value) as string);
        }
        // A one-column string tensor is the feature's column itself: no copy.
        categorical.set(column.name, width === 1 ? strings : Array.from({ length: rowCount }, (_, r) => strings[r * width + at] as string));
        continue;
      }
      if (feed.element === 'int64') {
        // Whole numbers up to 2^53 written as two 32-bit halves: no BigInt per value.
        const words = new Uint32Array((data as BigInt64Array).buffer, (data as BigInt64Array).byteOffset, rowCount * width * 2);
        const highs = new Int32Array(words.buffer, words.byteOffset, words.length);
        for (let r = 0; r < rowCount; r += 1) {
          const n = numberFed(column, valueAt(events[rows[r] as number] as InputEvent, column.path));
          const k = (r * width + at) * 2;
          words[k] = n >>> 0;
          highs[k + 1] = Math.floor(n / TWO_32);
        }
      } else {
        const numbers = data as Float32Array | Float64Array | Int32Array | Uint8Array;
        for (let r = 0; r < rowCount; r += 1) numbers[r * width + at] = numberFed(column, valueAt(events[rows[r] as number] as InputEvent, column.path));
      }
      if (column.kind === 'categorical') {
        const observed = new Array<string>(rowCount);
        for (let r = 0; r < rowCount; r += 1) {
          const value = valueAt(events[rows[r] as number] as InputEvent, column.path);
          observed[r] = isMissing(value) ? '' : (categoryOf(column, value) as string);
        }
        categorical.set(column.name, observed);
      } else if (feed.element === 'float' && width === 1) {
        numeric.set(column.name, data as Float32Array);
      } else {
        const observed = new Float32Array(rowCount);
        const source = data as Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array;
        if (source instanceof BigInt64Array) {
          const words = new Int32Array(source.buffer, source.byteOffset, source.length * 2);
          for (let r = 0; r < rowCount; r += 1) observed[r] = (words[(r * width + at) * 2 + 1] as number) * TWO_32 + ((words[(r * width + at) * 2] as number) >>> 0);
        } else {
          for (let r = 0; r < rowCount; r += 1) observed[r] = source[r * width + at] as number;
        }
        numeric.set(column.name, observed);
      }
    }
  }
  return { rejections, features: { rowCount, rows: rows.subarray(0, rowCount), tensors, numeric, categorical, flags } };
}
