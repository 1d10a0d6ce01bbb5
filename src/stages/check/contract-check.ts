import { type Rejection, reject, renderValue } from '../../errors';
import type { ContractInput, ModelContract } from '../../model/contract';
import type { InputEvent } from '../decode';

// Largest finite float32: anything bigger turns into Infinity inside the model.
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Model-ready columns of the events that passed every check, one typed array per numeric
 * input and one string array per categorical input. rows[r] is the batch index of row r.
 */
export interface FeatureBatch {
  readonly rowCount: number;
  readonly rows: Int32Array;
  readonly numeric: ReadonlyMap<string, Float32Array>;
  readonly categorical: ReadonlyMap<string, string[]>;
}

export interface CheckedBatch {
  readonly rejections: (Rejection | undefined)[];
  readonly features: FeatureBatch;
}

/** First reason an event cannot be scored honestly, or undefined if it can. */
export function checkEvent(event: InputEvent, inputs: readonly ContractInput[]): Rejection | undefined {
  for (const input of inputs) {
    const value = event[input.name];
    if (value === null || value === undefined) {
      return reject('MISSING_FIELD', `required model input "${input.name}" is ${value === null ? 'null' : 'absent'}`, input.name, value);
    }
    if (input.kind === 'categorical') {
      if (typeof value !== 'string') {
        return reject('WRONG_TYPE', `model input "${input.name}" must be a string category, got ${typeof value}`, input.name, value);
      }
      if (input.categories && !input.categories.has(value)) {
        // The value as rendered (capped) in the message too: a huge one must not crowd out the rest.
        return reject('UNKNOWN_CATEGORY', `"${renderValue(value)}" is not a category the model knows for "${input.name}" (${input.categories.size} known)`, input.name, value);
      }
    } else {
      if (typeof value !== 'number') {
        return reject('WRONG_TYPE', `model input "${input.name}" must be a number, got ${typeof value}`, input.name, value);
      }
      if (!Number.isFinite(value)) {
        return reject('NON_FINITE_NUMBER', `model input "${input.name}" is ${value}`, input.name, value);
      }
      if (input.element === 'float' && Math.abs(value) > FLOAT32_MAX) {
        return reject('OUT_OF_RANGE', `model input "${input.name}" overflows the model's float32 input`, input.name, value);
      }
    }
  }
  return undefined;
}

/**
 * Checks every decoded event of a batch against the model contract and gathers the columns
 * of the valid ones. Events that failed decoding keep their earlier rejection.
 */
export function checkBatch(contract: ModelContract, events: readonly (InputEvent | undefined)[], earlier: readonly (Rejection | undefined)[]): CheckedBatch {
  const count = events.length;
  const rejections = earlier.slice();
  const rows = new Int32Array(count);
  let rowCount = 0;
  for (let i = 0; i < count; i += 1) {
    const event = events[i];
    if (!event) continue;
    const rejection = checkEvent(event, contract.inputs);
    if (rejection) rejections[i] = rejection;
    else rows[rowCount++] = i;
  }

  const numeric = new Map<string, Float32Array>();
  const categorical = new Map<string, string[]>();
  for (const input of contract.inputs) {
    if (input.kind === 'numeric') {
      const column = new Float32Array(rowCount);
      for (let r = 0; r < rowCount; r += 1) column[r] = (events[rows[r] as number] as InputEvent)[input.name] as number;
      numeric.set(input.name, column);
    } else {
      const column = new Array<string>(rowCount);
      for (let r = 0; r < rowCount; r += 1) column[r] = (events[rows[r] as number] as InputEvent)[input.name] as string;
      categorical.set(input.name, column);
    }
  }
  return { rejections, features: { rowCount, rows: rows.subarray(0, rowCount), numeric, categorical } };
}
