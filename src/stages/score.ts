import * as ort from 'onnxruntime-node';
import { type Rejection, reject } from '../errors';
import type { FeaturePlan } from '../features/plan';
import type { ScoringModel } from '../model/session';
import type { FeatureBatch, TensorData } from './check/contract-check';

export interface ScoredRows {
  /** Per feature row: the published score (positive-class probability, or the regression value). */
  readonly scores: Float64Array;
  /** Per feature row: probabilities of every class, row-major [rowCount × classCount]; empty for a regressor. */
  readonly probabilities: Float64Array;
  readonly classCount: number;
  /** Per feature row: the predicted class label; null for a regressor. */
  readonly labels: (string | null)[];
  /** Per feature row: set when this row could not be scored. */
  readonly rejections: (Rejection | undefined)[];
}

const ORT_TYPE = { string: 'string', float: 'float32', double: 'float64', int64: 'int64', int32: 'int32', bool: 'bool' } as const;

/** The onnxruntime feeds for rows [from, to) of a batch. */
export function feedsFor(plan: FeaturePlan, features: FeatureBatch, from: number, to: number): Record<string, ort.Tensor> {
  const rows = to - from;
  const feeds: Record<string, ort.Tensor> = {};
  plan.tensors.forEach((feed, t) => {
    const data = features.tensors[t] as TensorData;
    const all = from === 0 && to === features.rowCount;
    const part = all ? data : Array.isArray(data) ? data.slice(from * feed.width, to * feed.width) : data.subarray(from * feed.width, to * feed.width);
    const dims = feed.rank === 1 ? [rows] : [rows, feed.width];
    feeds[feed.name] = new ort.Tensor(ORT_TYPE[feed.element], part as never, dims);
  });
  return feeds;
}

interface RawOutputs {
  readonly scores: ArrayLike<number>;
  readonly labels: ArrayLike<number | bigint | string> | undefined;
}

async function run(model: ScoringModel, features: FeatureBatch, from: number, to: number): Promise<RawOutputs> {
  const { scores, label } = model.output;
  const results = await model.session.run(feedsFor(model.contract.features, features, from, to), label ? [scores, label] : [scores]);
  const scoreTensor = results[scores] as ort.Tensor;
  if (scoreTensor.type !== 'float32' && scoreTensor.type !== 'float64') throw new Error(`score output "${scores}" is ${scoreTensor.type}, not float32 or float64`);
  return { scores: scoreTensor.data as ArrayLike<number>, labels: label ? ((results[label] as ort.Tensor).data as ArrayLike<number | bigint | string>) : undefined };
}

// Label values repeat: one string per distinct value, not one per event.
const labelTexts = new Map<number | bigint | string, string>();
function labelText(value: number | bigint | string): string {
  let text = labelTexts.get(value);
  if (text === undefined) {
    text = String(value);
    if (labelTexts.size < 10_000) labelTexts.set(value, text);
  }
  return text;
}

/** Fills row r of the results from the model's raw outputs for that row (at offset k of `raw`). */
function fill(model: ScoringModel, raw: RawOutputs, k: number, width: number, r: number, out: { scores: Float64Array; probabilities: Float64Array; labels: (string | null)[] }): void {
  const { kind, classes, positive, transform } = model.output;
  if (kind === 'regressor') {
    out.scores[r] = raw.scores[k] as number;
    out.labels[r] = null;
    return;
  }
  if (kind === 'probability') {
    const value = raw.scores[k] as number;
    const p = transform === 'sigmoid' ? 1 / (1 + Math.exp(-value)) : value;
    out.scores[r] = p;
    out.probabilities[r * 2] = 1 - p;
    out.probabilities[r * 2 + 1] = p;
    out.labels[r] = p >= 0.5 ? (classes[1] as string) : (classes[0] as string);
    return;
  }
  let best = 0;
  for (let c = 0; c < width; c += 1) {
    const p = raw.scores[k * width + c] as number;
    out.probabilities[r * width + c] = p;
    if (p > (raw.scores[k * width + best] as number)) best = c;
  }
  out.scores[r] = raw.scores[k * width + positive] as number;
  out.labels[r] = raw.labels ? labelText(raw.labels[k] as number | bigint | string) : (classes[best] as string);
}

/**
 * Scores all rows with one onnxruntime call. If the call fails, each row is scored alone so
 * one bad row is dead-lettered instead of its whole batch.
 */
export async function scoreBatch(model: ScoringModel, features: FeatureBatch): Promise<ScoredRows> {
  const rowCount = features.rowCount;
  const rejections = new Array<Rejection | undefined>(rowCount);
  const { kind, classes, positive, scores: scoreOutput } = model.output;
  const classCount = kind === 'regressor' ? 0 : classes.length;
  const scores = new Float64Array(rowCount);
  const out = { scores, probabilities: new Float64Array(rowCount * classCount), labels: new Array<string | null>(rowCount) };
  if (rowCount === 0) return { ...out, classCount, rejections };
  const width = kind === 'classifier' ? classCount : 1;
  const widthError = (got: number): string =>
    `score output "${scoreOutput}" has ${got} values per event, but the model plan expects ${width} (${kind}${kind === 'classifier' ? `, classes ${classes.join(', ')}` : ''})`;

  try {
    const raw = await run(model, features, 0, rowCount);
    if (raw.scores.length !== rowCount * width) throw new Error(widthError(raw.scores.length / rowCount));
    for (let r = 0; r < rowCount; r += 1) fill(model, raw, r, width, r, out);
  } catch (batchError) {
    for (let r = 0; r < rowCount; r += 1) {
      try {
        const raw = await run(model, features, r, r + 1);
        if (raw.scores.length !== width) throw new Error(widthError(raw.scores.length));
        fill(model, raw, 0, width, r, out);
      } catch (rowError) {
        rejections[r] = reject('MODEL_ERROR', `onnxruntime failed on this event: ${(rowError as Error).message} (batch error: ${(batchError as Error).message})`);
      }
    }
  }

  for (let r = 0; r < rowCount; r += 1) {
    if (rejections[r]) continue;
    const score = scores[r] as number;
    if (!Number.isFinite(score)) {
      rejections[r] = reject('NON_FINITE_SCORE', `the model returned ${score}${kind === 'regressor' ? '' : ` for class ${classes[positive]}`}`, scoreOutput, score);
    }
  }
  return { ...out, classCount, rejections };
}
