import * as ort from 'onnxruntime-node';
import { type Rejection, reject } from '../errors';
import type { ScoringModel } from '../model/session';
import type { FeatureBatch } from './check/contract-check';

export interface ScoredRows {
  /** Per feature row: probabilities of every class, row-major [rowCount × classCount]. */
  readonly probabilities: Float32Array;
  readonly classCount: number;
  readonly labels: Float64Array;
  /** Per feature row: set when this row could not be scored. */
  readonly rejections: (Rejection | undefined)[];
}

function feedsFor(model: ScoringModel, features: FeatureBatch, from: number, to: number): Record<string, ort.Tensor> {
  const rows = to - from;
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of model.contract.inputs) {
    if (input.kind === 'numeric') {
      const column = features.numeric.get(input.name) as Float32Array;
      const data = input.element === 'double' ? Float64Array.from(column.subarray(from, to)) : column.subarray(from, to);
      feeds[input.name] = new ort.Tensor(input.element === 'double' ? 'float64' : 'float32', data, [rows, 1]);
    } else {
      const column = features.categorical.get(input.name) as string[];
      feeds[input.name] = new ort.Tensor('string', from === 0 && to === column.length ? column : column.slice(from, to), [rows, 1]);
    }
  }
  return feeds;
}

async function run(model: ScoringModel, features: FeatureBatch, from: number, to: number): Promise<{ probabilities: Float32Array; labels: ArrayLike<number | bigint> }> {
  const results = await model.session.run(feedsFor(model, features, from, to), [model.scoreOutput, model.labelOutput]);
  const scores = results[model.scoreOutput] as ort.Tensor;
  const labels = results[model.labelOutput] as ort.Tensor;
  return { probabilities: scores.data as Float32Array, labels: labels.data as ArrayLike<number | bigint> };
}

/**
 * Scores all rows with one onnxruntime call. If the call fails, each row is scored alone so
 * one bad row is dead-lettered instead of its whole batch.
 */
export async function scoreBatch(model: ScoringModel, features: FeatureBatch): Promise<ScoredRows> {
  const rowCount = features.rowCount;
  const rejections = new Array<Rejection | undefined>(rowCount);
  if (rowCount === 0) return { probabilities: new Float32Array(0), classCount: 0, labels: new Float64Array(0), rejections };

  let probabilities: Float32Array;
  let classCount: number;
  const labels = new Float64Array(rowCount);
  try {
    const result = await run(model, features, 0, rowCount);
    probabilities = result.probabilities;
    classCount = probabilities.length / rowCount;
    for (let r = 0; r < rowCount; r += 1) labels[r] = Number(result.labels[r]);
  } catch (batchError) {
    classCount = 0;
    const perRow: (Float32Array | undefined)[] = new Array(rowCount);
    for (let r = 0; r < rowCount; r += 1) {
      try {
        const result = await run(model, features, r, r + 1);
        perRow[r] = result.probabilities;
        classCount = result.probabilities.length;
        labels[r] = Number(result.labels[0]);
      } catch (rowError) {
        rejections[r] = reject('MODEL_ERROR', `onnxruntime failed on this event: ${(rowError as Error).message} (batch error: ${(batchError as Error).message})`);
      }
    }
    probabilities = new Float32Array(rowCount * classCount);
    for (let r = 0; r < rowCount; r += 1) {
      const row = perRow[r];
      if (row) probabilities.set(row, r * classCount);
    }
  }

  const positive = model.positiveClassIndex;
  for (let r = 0; r < rowCount; r += 1) {
    if (rejections[r]) continue;
    const score = probabilities[r * classCount + positive];
    if (score === undefined || !Number.isFinite(score)) {
      rejections[r] = reject('NON_FINITE_SCORE', `the model returned ${score} for class ${positive}`, model.scoreOutput, score);
    }
  }
  return { probabilities, classCount, labels, rejections };
}
