import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ServiceError } from '../errors';

/**
 * The training profile the data scientist's script writes next to the model (profile.json):
 * the distribution of every model input and of the scores on the training data. Live traffic
 * is compared with it. Format: models/card-fraud/README.md, "profile.json".
 */
export interface NumericProfile {
  readonly kind: 'numeric';
  readonly name: string;
  /** Upper-inclusive bin edges: bin 0 holds v <= edges[0], the last bin v > edges[edges.length - 1]. */
  readonly edges: Float64Array;
  /** Training share per bin, edges.length + 1 of them. */
  readonly shares: Float64Array;
  /** Share of training rows with no value (null_count / count; 0 when the profile does not say). */
  readonly nullShare: number;
  /** Training mean, standard deviation, median, range: the size of a shift in training terms (absent in older profiles). */
  readonly mean?: number;
  readonly std?: number;
  readonly median?: number;
  readonly min?: number;
  readonly max?: number;
}

export interface CategoricalProfile {
  readonly kind: 'categorical';
  readonly name: string;
  readonly categories: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** Training share per category (over the categories the model knows). */
  readonly shares: Float64Array;
  readonly nullShare: number;
}

export type FeatureProfile = NumericProfile | CategoricalProfile;

export interface PredictionProfile {
  /** Equal-width bins over [edges[0], edges[last]]: bin i holds edges[i] <= p < edges[i+1]; the top edge falls in the last bin. */
  readonly edges: Float64Array;
  readonly shares: Float64Array;
  /**
   * Bins at the training scores' quantiles (upper-inclusive, as numeric features): each holds a
   * known share of the scores, so a move in the tail, where the alerts are, shows in the PSI.
   * Absent in older profiles: the equal-width bins are used.
   */
  readonly quantileEdges?: Float64Array;
  readonly quantileShares?: Float64Array;
  readonly mean?: number;
  readonly std?: number;
  /** Training share of scores >= threshold, by threshold (positive_rates; label_1_share at 0.5 in older profiles). */
  readonly positiveRates: ReadonlyMap<number, number>;
  /** Multi-class models: the training share of each predicted label (class_shares). */
  readonly classShares?: ReadonlyMap<string, number>;
}

export interface TrainingProfile {
  readonly source: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly trainedAt: string | undefined;
  readonly rows: number | undefined;
  readonly features: readonly FeatureProfile[];
  readonly prediction: PredictionProfile | undefined;
}

/** profile.json next to the model file, if there is one. */
export function defaultProfilePath(modelPath: string): string | undefined {
  const path = join(dirname(modelPath), 'profile.json');
  return existsSync(path) ? path : undefined;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numbers(value: unknown, what: string, fail: (m: string) => never): Float64Array {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) fail(`${what} must be an array of finite numbers`);
  return Float64Array.from(value as number[]);
}

function ascending(values: Float64Array): boolean {
  for (let i = 1; i < values.length; i += 1) if (!((values[i] as number) > (values[i - 1] as number))) return false;
  return true;
}

function nullShareOf(feature: Json): number {
  const count = feature.count;
  const nulls = feature.null_count;
  if (typeof count !== 'number' || typeof nulls !== 'number' || !(count + nulls > 0)) return 0;
  // count is the rows profiled; null_count the rows among them with no value.
  return Math.min(1, Math.max(0, nulls / count));
}

export function parseProfile(json: unknown, source: string): TrainingProfile {
  const fail = (message: string): never => {
    throw new ServiceError('CONFIG_INVALID', `training profile ${source}: ${message}`);
  };
  if (!isObject(json)) fail('must be a JSON object');
  const root = json as Json;
  if (!isObject(root.features)) fail('has no "features" object');
  const features: FeatureProfile[] = [];
  for (const [name, raw] of Object.entries(root.features as Json)) {
    if (!isObject(raw)) fail(`feature "${name}" must be an object`);
    const feature = raw as Json;
    const nullShare = nullShareOf(feature);
    if (feature.type === 'numeric') {
      const edges = numbers(feature.bin_edges, `feature "${name}" bin_edges`, fail);
      const shares = numbers(feature.bin_shares, `feature "${name}" bin_shares`, fail);
      if (!ascending(edges)) fail(`feature "${name}" bin_edges must increase`);
      if (shares.length !== edges.length + 1) fail(`feature "${name}" needs ${edges.length + 1} bin_shares for ${edges.length} bin_edges, has ${shares.length}`);
      const stats: { mean?: number; std?: number; median?: number; min?: number; max?: number } = {};
      for (const key of ['mean', 'std', 'median', 'min', 'max'] as const) {
        const value = feature[key];
        if (typeof value === 'number' && Number.isFinite(value)) stats[key] = value;
      }
      features.push({ kind: 'numeric', name, edges, shares, nullShare, ...stats });
    } else if (feature.type === 'categorical') {
      if (!isObject(feature.categories) || Object.keys(feature.categories as Json).length === 0) fail(`feature "${name}" has no categories`);
      const entries = Object.entries(feature.categories as Json);
      const categories = entries.map(([value]) => value);
      const shares = Float64Array.from(entries, ([value, c]) => {
        const share = isObject(c) ? c.share : undefined;
        if (typeof share !== 'number' || !Number.isFinite(share) || share < 0) fail(`feature "${name}" category "${value}" has no valid share`);
        return share as number;
      });
      features.push({ kind: 'categorical', name, categories, index: new Map(categories.map((c, i) => [c, i])), shares, nullShare });
    } else {
      fail(`feature "${name}" has unknown type ${JSON.stringify(feature.type)} (numeric or categorical)`);
    }
  }
  let prediction: PredictionProfile | undefined;
  if (isObject(root.prediction)) {
    const edges = numbers(root.prediction.bin_edges, 'prediction bin_edges', fail);
    const shares = numbers(root.prediction.bin_shares, 'prediction bin_shares', fail);
    if (!ascending(edges) || edges.length < 2) fail('prediction bin_edges must be at least two increasing numbers');
    if (shares.length !== edges.length - 1) fail(`prediction needs ${edges.length - 1} bin_shares for ${edges.length} bin_edges, has ${shares.length}`);
    const p = root.prediction;
    const positiveRates = new Map<number, number>();
    if (isObject(p.positive_rates)) {
      for (const [threshold, share] of Object.entries(p.positive_rates)) {
        if (typeof share !== 'number' || !(share >= 0 && share <= 1) || !Number.isFinite(Number(threshold))) fail(`prediction positive_rates["${threshold}"] must be a share in 0..1`);
        positiveRates.set(Number(threshold), share as number);
      }
    } else if (typeof p.label_1_share === 'number') {
      // Older profiles: the share labelled 1, i.e. p1 > 0.5; the same as >= 0.5 but for ties.
      positiveRates.set(0.5, p.label_1_share);
    }
    let quantile: { quantileEdges: Float64Array; quantileShares: Float64Array } | undefined;
    if (p.quantile_bin_edges !== undefined) {
      const quantileEdges = numbers(p.quantile_bin_edges, 'prediction quantile_bin_edges', fail);
      const quantileShares = numbers(p.quantile_bin_shares, 'prediction quantile_bin_shares', fail);
      if (!ascending(quantileEdges)) fail('prediction quantile_bin_edges must increase');
      if (quantileShares.length !== quantileEdges.length + 1) fail(`prediction needs ${quantileEdges.length + 1} quantile_bin_shares for ${quantileEdges.length} quantile_bin_edges, has ${quantileShares.length}`);
      quantile = { quantileEdges, quantileShares };
    }
    let classShares: Map<string, number> | undefined;
    if (isObject(p.class_shares)) {
      classShares = new Map();
      for (const [label, share] of Object.entries(p.class_shares)) {
        if (typeof share !== 'number' || !(share >= 0 && share <= 1)) fail(`prediction class_shares["${label}"] must be a share in 0..1`);
        classShares.set(label, share as number);
      }
    }
    prediction = {
      edges,
      shares,
      ...(classShares ? { classShares } : {}),
      ...quantile,
      // The mean of the held-out scores when the profile has it (live events are unseen events), else the training mean.
      ...(typeof p.baseline_mean === 'number' ? { mean: p.baseline_mean } : typeof p.mean === 'number' ? { mean: p.mean } : {}),
      ...(typeof p.std === 'number' && p.std > 0 ? { std: p.std } : {}),
      positiveRates,
    };
  }
  return {
    source,
    model: typeof root.model === 'string' ? root.model : '',
    modelVersion: typeof root.model_version === 'string' ? root.model_version : '',
    trainedAt: typeof root.trained_at === 'string' ? root.trained_at : undefined,
    rows: typeof root.rows === 'number' ? root.rows : undefined,
    features,
    prediction,
  };
}

export function loadProfile(path: string): TrainingProfile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ServiceError('CONFIG_INVALID', `training profile ${path}: cannot read JSON (${(error as Error).message})`, { cause: error });
  }
  return parseProfile(json, path);
}

/** Numeric bin of `value`: the first edge >= value, else the last bin. */
export function numericBin(edges: Float64Array, value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((edges[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Prediction bin: lower-inclusive equal-width bins, the top edge in the last bin, out-of-range clamped. */
export function predictionBin(edges: Float64Array, score: number): number {
  const bins = edges.length - 1;
  let lo = 0;
  let hi = bins - 1;
  // Last bin whose lower edge <= score.
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((edges[mid] as number) <= score) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Population stability index of observed counts against expected shares:
 * sum over bins of (a - e) * ln(a / e). Observed shares are smoothed (add one half per bin)
 * so an empty bin does not make it infinite; expected shares are floored at 1e-4.
 */
export function psi(expected: Float64Array, counts: Float64Array): number {
  const bins = expected.length;
  let total = 0;
  for (let i = 0; i < bins; i += 1) total += counts[i] as number;
  if (total === 0) return 0;
  const denominator = total + 0.5 * bins;
  let expectedTotal = 0;
  for (let i = 0; i < bins; i += 1) expectedTotal += Math.max(expected[i] as number, 1e-4);
  let sum = 0;
  for (let i = 0; i < bins; i += 1) {
    const a = ((counts[i] as number) + 0.5) / denominator;
    const e = Math.max(expected[i] as number, 1e-4) / expectedTotal;
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * Training share of scores >= threshold: the profile's figure at that threshold, else
 * interpolated between the nearest two it has (undefined when it has none around it).
 */
export function trainingPositiveRate(prediction: PredictionProfile, threshold: number): number | undefined {
  const exact = prediction.positiveRates.get(threshold);
  if (exact !== undefined) return exact;
  let below: [number, number] | undefined;
  let above: [number, number] | undefined;
  for (const [t, share] of prediction.positiveRates) {
    if (t < threshold && (!below || t > below[0])) below = [t, share];
    if (t > threshold && (!above || t < above[0])) above = [t, share];
  }
  if (!below || !above) return undefined;
  return below[1] + ((above[1] - below[1]) * (threshold - below[0])) / (above[0] - below[0]);
}

/**
 * The value at quantile q of a distribution known only by bin counts over `edges`
 * (upper-inclusive bins), interpolated linearly inside the bin; the outer bins are closed by
 * `lo`/`hi` (the training min/max). Used for the live median of a window without keeping values.
 */
export function binnedQuantile(edges: Float64Array, counts: Float64Array, q: number, lo: number, hi: number): number | undefined {
  let total = 0;
  for (let i = 0; i < counts.length; i += 1) total += counts[i] as number;
  if (total === 0) return undefined;
  const target = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const c = counts[i] as number;
    if (below + c >= target && c > 0) {
      const from = i === 0 ? Math.min(lo, edges[0] as number) : (edges[i - 1] as number);
      const to = i === edges.length ? Math.max(hi, edges[edges.length - 1] as number) : (edges[i] as number);
      return from + ((to - from) * (target - below)) / c;
    }
    below += c;
  }
  return hi;
}
