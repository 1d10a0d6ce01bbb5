import type { SourceMessage } from '../records';
import type { InputEvent } from '../stages/decode';
import type { ChunkObservation } from '../telemetry/observation';
import type { AttributionResult } from './attribution';
import { type FeatureProfile, type NumericProfile, type TrainingProfile, binnedQuantile, numericBin, predictionBin, psi, trainingPositiveRate } from './profile';

/**
 * Model monitoring: live traffic against the training profile over tumbling event-time
 * windows. Per window and column: the population stability index (PSI) of the values the
 * model scored, the share of unknown categories (categorical columns) and the share of missing
 * values against the training null rate; per window the scores: PSI over the training score
 * quantiles, the positive rate at each decision threshold and the mean score. A measure that
 * crosses its threshold starts a drift episode whose onset is the start of the first window
 * over the threshold; the episode ends at the first window back under it. The same code runs
 * in the service (fed per batch) and in `stream-scorer drift` (fed from the topics), so both
 * give the same answer.
 */
export type DriftMeasure = 'psi' | 'unknown_rate' | 'missing_rate' | 'positive_rate' | 'mean_score' | 'class_share';

/** The column of one class of a multi-class model: the share of predictions with that label. */
export function classColumn(label: string): string {
  return `${PREDICTION_COLUMN}[${label}]`;
}

/** The column name under which the score distribution is reported. */
export const PREDICTION_COLUMN = 'prediction';

/** Bucket for unknown values beyond the ones tracked by name. */
export const OTHER_VALUES = '__other__';

/**
 * A relative change of a rate or a mean is only an alarm when it is also this many standard
 * errors away from the training figure: with few positives per window (1 % of 1,000 events is
 * 10) a 50 % move is noise. 4: ~6e-5 false alarms per window and measure (0.01 a day with
 * 10-minute windows); 3 would give 0.4 a day.
 */
const MIN_Z = 4;
const MIN_EXPECTED_POSITIVES = 10;
/**
 * An early look tests a window several times as it fills: each look is another chance of a
 * false alarm, so the scores' z-score bar is higher there. Measured over the six stable hours
 * of test/unit/drift-scenario.test.ts: with 3, six early alarms on the scores in one run; with
 * 4, one in 20 seeds (2,000 events, 47 positives for 26 expected); with 5 (and 4 for closed
 * windows), none in 16 seeds of 12,000-event windows.
 */
const MIN_Z_EARLY = 5;

export interface DriftOptions {
  readonly windowMs: number;
  /** A window with fewer scored events is not evaluated (neither starts nor ends an episode). */
  readonly minWindowEvents: number;
  readonly psiThreshold: number;
  readonly unknownRateThreshold: number;
  readonly predictionPsiThreshold: number;
  /** Missing share above the training null share by more than this: drifting (default 0.01). */
  readonly missingRateThreshold?: number;
  /** Decision thresholds whose positive rate (share of scores >= t) is watched (default [0.5]). */
  readonly positiveThresholds?: readonly number[];
  /** Relative change of the positive rate against training that is drifting (default 0.3: +-30 %). */
  readonly positiveRateChange?: number;
  /** Relative change of the mean score against training that is drifting (default 0.25). */
  readonly meanScoreChange?: number;
  /**
   * 'live': a window is evaluated once the event-time watermark (the latest event time seen)
   * is `latenessMs` past its end; events for a window already evaluated are counted as late.
   * 'offline': windows are evaluated by finish(), in order.
   */
  readonly mode: 'live' | 'offline';
  readonly latenessMs?: number;
  /** live: the clock that bounds event times (an event more than a window ahead of it is not counted). */
  readonly now?: () => number;
  /** Evaluated windows kept for the report (default 288). */
  readonly historyWindows?: number;
  /** Distinct unknown values tracked by name per column and window (default 20). */
  readonly unknownValuesTracked?: number;
  /** Input field with the event time (epoch ms); the Kafka timestamp is used when it is missing. */
  readonly eventTimeField: string;
  /** Events before this event time are not counted (the start of a range read from the topics). */
  readonly rangeStart?: number;
  /** Scored events kept per window (reservoir sample) for attribution; 0: none (default). */
  readonly sampleEvents?: number;
  /** Drifting score windows whose samples are kept for attribution, latest first (default 1: each holds sampleEvents events). */
  readonly attributionCases?: number;
  /**
   * Early look: once an open window has this many events, its measures are computed on what it
   * has (labelled partial) and an `early` event is emitted for a measure over its threshold.
   * Tumbling windows stay the record: episodes start and end only when a window closes. 0: off.
   */
  readonly earlyLookEvents?: number;
}

export interface DriftEvent {
  readonly type: 'onset' | 'cleared' | 'early';
  readonly column: string;
  readonly measure: DriftMeasure;
  /** positive_rate: the decision threshold. */
  readonly cut?: number;
  readonly value: number;
  readonly threshold: number;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Start of the first window over the threshold in this episode. */
  readonly onset: number;
  /** unknown_rate / missing_rate: event time of the earliest unknown / missing value in the run of windows that had any. */
  readonly firstSeen?: number;
  readonly topValues?: readonly ValueCount[];
  /** early: events the window had when it was looked at. */
  readonly partialEvents?: number;
  readonly direction?: Direction;
}

export interface ValueCount {
  readonly value: string;
  readonly count: number;
  /** Event time of its first occurrence in the run of windows counted. */
  readonly firstSeen: number;
}

interface Tally {
  count: number;
  first: number;
}

export interface Episode {
  readonly onset: number;
  /** Start of the first window back under the threshold; undefined while drifting. */
  readonly end?: number;
  readonly peak: number;
  readonly windows: number;
  readonly firstSeen?: number;
  /**
   * The episode was already on in the first window this monitor evaluated (the start of the
   * range read, or of the service without saved state): it began at `onset` or before.
   */
  readonly censored?: boolean;
}

/** Which way a column moved in a window, and by how much, in training terms. */
export interface Direction {
  /** Numbers: the window's mean and median against training, and the shifts in training standard deviations. */
  readonly mean?: number;
  readonly trainingMean?: number;
  readonly meanShiftSd?: number;
  readonly median?: number;
  readonly trainingMedian?: number;
  readonly medianShiftSd?: number;
  /** Categories: the known categories whose share moved most (signed change), at most three. */
  readonly moves?: readonly { readonly value: string; readonly share: number; readonly trainingShare: number }[];
}

export interface MeasureReport {
  readonly measure: DriftMeasure;
  /** positive_rate: the decision threshold (share of scores >= cut). */
  readonly cut?: number;
  /**
   * psi, unknown_rate, missing_rate: the value above which the column drifts.
   * positive_rate, mean_score: the relative change against `baseline` that drifts.
   */
  readonly threshold: number;
  /** The training figure the value is compared with (missing_rate, positive_rate, mean_score). */
  readonly baseline?: number;
  /** Value in the latest evaluated window (undefined: no window evaluated yet). */
  readonly current?: number;
  readonly currentWindowStart?: number;
  readonly drifting: boolean;
  readonly since?: number;
  /** The current episode was on in the first window evaluated: it began at `since` or before. */
  readonly sinceBefore?: boolean;
  readonly firstSeen?: number;
  readonly episodes: readonly Episode[];
}

export interface ColumnReport {
  readonly column: string;
  readonly kind: 'numeric' | 'categorical' | 'prediction';
  readonly measures: readonly MeasureReport[];
  /** Unknown values of the current (or last) run of windows with unknown values, most frequent first. */
  readonly topUnknownValues: readonly ValueCount[];
  /** Direction and size in the latest evaluated window. */
  readonly direction?: Direction;
}

/** Per measure key (psi, unknown_rate, missing_rate, mean_shift_sd, median_shift_sd, positive_rate@0.5, mean_score, p50, p90, p99) its value in a window. */
export type WindowValues = Readonly<Record<string, number>>;

export interface WindowSummary {
  readonly start: number;
  readonly events: number;
  readonly predictions: number;
  readonly unknown: number;
  readonly missing: number;
  readonly evaluated: boolean;
  /** Per column: the window's values (evaluated windows only). */
  readonly values?: Readonly<Record<string, WindowValues>>;
  /** Rejections seen in the window, by "REASON column" (column "-" when the reason names none). */
  readonly deadLetters?: Readonly<Record<string, number>>;
}

/** A window in progress looked at early (DriftOptions.earlyLookEvents): figures on part of a window. */
export interface PartialWindow {
  readonly start: number;
  readonly events: number;
  readonly partial: true;
  readonly values: Readonly<Record<string, WindowValues>>;
  /** "column measure" over its threshold on what the window has so far. */
  readonly over: readonly string[];
}

export interface DriftReport {
  readonly model: string;
  readonly modelVersion: string;
  readonly profile: string;
  readonly trainedAt?: string;
  readonly windowSeconds: number;
  readonly minWindowEvents: number;
  readonly windowsEvaluated: number;
  readonly windowsSkipped: number;
  readonly firstWindowStart?: number;
  readonly lastWindowEnd?: number;
  /** The range read started here (offline); onsets at the first window are "since before" it. */
  readonly rangeStart?: number;
  readonly lateEvents: number;
  readonly columns: readonly ColumnReport[];
  readonly recentWindows: readonly WindowSummary[];
  /** Rejections over the evaluated windows, by "REASON column", most first. */
  readonly deadLetters: readonly { readonly reason: string; readonly column: string; readonly count: number }[];
  readonly partialWindows?: readonly PartialWindow[];
  /** Episodes and onsets come from a saved state (a restart): when it was saved. */
  readonly restoredFrom?: number;
  /** Which input moved the scores (stream-scorer drift re-scores a drifting window when it can). */
  readonly attribution?: AttributionResult;
}

interface WindowAcc {
  readonly start: number;
  rows: number;
  readonly counts: Float64Array[];
  readonly sums: Float64Array;
  readonly unknown: Float64Array;
  readonly unknownFirst: Float64Array;
  readonly unknownValues: (Map<string, Tally> | undefined)[];
  readonly missing: Float64Array;
  readonly missingFirst: Float64Array;
  readonly predictionCounts: Float64Array | undefined;
  predictions: number;
  scoreSum: number;
  readonly positives: Float64Array;
  /** Predictions per predicted label (multi-class models whose profile has class shares). */
  readonly labels: Map<string, number>;
  readonly deadLetters: Map<string, number>;
  readonly sample: InputEvent[];
  sampleSeen: number;
  /** Early look: events at the last look, and the series already announced for this window. */
  lookedAt: number;
  readonly announced: Set<Series>;
}

interface Series {
  readonly column: string;
  readonly feature: number; // -1: the prediction
  readonly measure: DriftMeasure;
  readonly cut?: number;
  /** class_share: the class label. */
  readonly label?: string;
  readonly threshold: number;
  readonly baseline?: number;
  current?: number;
  currentWindowStart?: number;
  active?: { onset: number; peak: number; windows: number; firstSeen?: number; censored?: boolean };
  episodes: Episode[];
  onsets: number;
}

/** What restore() takes and snapshot() gives: episodes and onsets that survive a restart. */
export interface DriftState {
  readonly version: 1;
  readonly savedAt: number;
  readonly model: string;
  readonly modelVersion: string;
  readonly windowMs: number;
  readonly closedBefore: number;
  readonly evaluated: number;
  readonly skipped: number;
  readonly firstStart?: number;
  readonly lastEnd?: number;
  readonly lateEvents: number;
  readonly series: readonly {
    readonly key: string;
    readonly current?: number;
    readonly currentWindowStart?: number;
    readonly active?: { onset: number; peak: number; windows: number; firstSeen?: number; censored?: boolean };
    readonly episodes: readonly Episode[];
    readonly onsets: number;
  }[];
  readonly history: readonly WindowSummary[];
  /** Per column: the current run of unknown values (since when, which) and of missing values, and the latest direction. */
  readonly columns?: Readonly<Record<string, { readonly unknownSince?: number; readonly unknownValues?: readonly ValueCount[]; readonly missingSince?: number; readonly direction?: Direction }>>;
}

/** A drifting score window with a sample of its events and of the last stable window before it: what attribution re-scores. */
export interface AttributionCase {
  readonly windowStart: number;
  readonly live: readonly InputEvent[];
  readonly reference: readonly InputEvent[];
  readonly referenceWindowStart: number;
  /** Direction and size of each column in that window. */
  readonly directions: Readonly<Record<string, Direction>>;
}

const MAX_EPISODES = 20;
const SAVED_HISTORY = 48;
const MAX_OPEN_WINDOWS = 64;

function tally(into: Map<string, Tally>, value: string, count: number, first: number, capacity: number): void {
  const key = into.has(value) || into.size < capacity ? value : OTHER_VALUES;
  const entry = into.get(key);
  if (entry) {
    entry.count += count;
    if (first < entry.first) entry.first = first;
  } else {
    into.set(key, { count, first });
  }
}

function top(values: ReadonlyMap<string, Tally> | undefined, n = 10): ValueCount[] {
  if (!values) return [];
  return [...values]
    .map(([value, t]) => ({ value, count: t.count, firstSeen: t.first }))
    .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1))
    .slice(0, n);
}

function seriesKey(s: { column: string; measure: DriftMeasure; cut?: number }): string {
  return s.cut === undefined ? `${s.column}/${s.measure}` : `${s.column}/${s.measure}@${s.cut}`;
}

/** The key of a measure in per-window values: the measure, with its cut for positive rates. */
export function valueKey(measure: DriftMeasure, cut?: number): string {
  return cut === undefined ? measure : `${measure}@${cut}`;
}

/** Direction and size of a numeric column from its window counts and sum. */
function numericDirection(feature: NumericProfile, counts: Float64Array, sum: number): Direction | undefined {
  let n = 0;
  for (let i = 0; i < counts.length; i += 1) n += counts[i] as number;
  if (n === 0) return undefined;
  const mean = sum / n;
  const lo = feature.min ?? (feature.edges[0] as number);
  const hi = feature.max ?? (feature.edges[feature.edges.length - 1] as number);
  const median = binnedQuantile(feature.edges, counts, 0.5, lo, hi);
  // The training median through the same estimator, so a column that did not move shows 0.
  const trainingMedian = binnedQuantile(feature.edges, feature.shares, 0.5, lo, hi);
  const sd = feature.std !== undefined && feature.std > 0 ? feature.std : undefined;
  return {
    mean,
    ...(feature.mean !== undefined ? { trainingMean: feature.mean } : {}),
    ...(feature.mean !== undefined && sd !== undefined ? { meanShiftSd: (mean - feature.mean) / sd } : {}),
    ...(median !== undefined ? { median } : {}),
    ...(trainingMedian !== undefined ? { trainingMedian } : {}),
    ...(median !== undefined && trainingMedian !== undefined && sd !== undefined ? { medianShiftSd: (median - trainingMedian) / sd } : {}),
  };
}

function categoricalDirection(categories: readonly string[], shares: Float64Array, counts: Float64Array): Direction | undefined {
  let n = 0;
  for (let i = 0; i < counts.length; i += 1) n += counts[i] as number;
  if (n === 0) return undefined;
  const moves = categories
    .map((value, i) => ({ value, share: (counts[i] as number) / n, trainingShare: shares[i] as number }))
    .sort((a, b) => Math.abs(b.share - b.trainingShare) - Math.abs(a.share - a.trainingShare) || (a.value < b.value ? -1 : 1))
    .slice(0, 3);
  return { moves };
}

export class DriftMonitor {
  private readonly features: readonly FeatureProfile[];
  // The hot loop's view of the features: monomorphic arrays, one per kind.
  private readonly numeric: { readonly slot: number; readonly name: string; readonly edges: Float64Array; readonly edges32: Float64Array }[];
  private readonly categorical: { readonly slot: number; readonly name: string; readonly index: ReadonlyMap<string, number> }[];
  private readonly featureIndex: ReadonlyMap<string, number>;
  private readonly series: Series[] = [];
  private readonly open = new Map<number, WindowAcc>();
  private cursor: WindowAcc | undefined;
  private watermark = Number.NEGATIVE_INFINITY;
  /** Windows that start before this were evaluated: their events are late. */
  private closedBefore = Number.NEGATIVE_INFINITY;
  private history: WindowSummary[] = [];
  private evaluated = 0;
  private skipped = 0;
  private firstStart: number | undefined;
  private lastEnd: number | undefined;
  private restoredFrom: number | undefined;
  lateEvents = 0;
  /** Per column: unknown values since the current run of windows with unknown values began. */
  private readonly streakValues: (Map<string, Tally> | undefined)[];
  private readonly streakFirstSeen: Float64Array;
  private readonly missingFirstSeen: Float64Array;
  private readonly listeners: ((event: DriftEvent) => void)[] = [];
  private readonly closedListeners: ((start: number) => void)[] = [];
  private readonly cuts: readonly number[];
  private watchLabels = false;
  /** Score bins: the training quantile bins when the profile has them, else its equal-width bins. */
  private readonly scoreBins: { readonly edges: Float64Array; readonly shares: Float64Array; readonly quantile: boolean } | undefined;
  private readonly directions = new Map<number, Direction>();
  private readonly partials = new Map<number, PartialWindow>();
  private lastStableSample: { start: number; events: InputEvent[] } | undefined;
  private readonly attributionCases: AttributionCase[] = [];
  private random = 0x2545f491;

  constructor(
    readonly profile: TrainingProfile,
    readonly options: DriftOptions,
  ) {
    if (!(options.windowMs > 0)) throw new Error('windowMs must be positive');
    this.features = profile.features;
    this.numeric = [];
    this.categorical = [];
    this.features.forEach((f, slot) => {
      // The checked columns hold float32 values: compare them with float32 edges, so a value equal
      // to an edge (as a double) still falls in the edge's bin.
      if (f.kind === 'numeric') this.numeric.push({ slot, name: f.name, edges: f.edges, edges32: Float64Array.from(f.edges, Math.fround) });
      else this.categorical.push({ slot, name: f.name, index: f.index });
    });
    this.featureIndex = new Map(this.features.map((f, i) => [f.name, i]));
    const missingDelta = options.missingRateThreshold ?? 0.01;
    this.features.forEach((f, i) => {
      this.series.push({ column: f.name, feature: i, measure: 'psi', threshold: options.psiThreshold, episodes: [], onsets: 0 });
      if (f.kind === 'categorical') this.series.push({ column: f.name, feature: i, measure: 'unknown_rate', threshold: options.unknownRateThreshold, episodes: [], onsets: 0 });
      this.series.push({ column: f.name, feature: i, measure: 'missing_rate', threshold: f.nullShare + missingDelta, baseline: f.nullShare, episodes: [], onsets: 0 });
    });
    const prediction = profile.prediction;
    const cuts: number[] = [];
    if (prediction) {
      this.scoreBins = prediction.quantileEdges && prediction.quantileShares
        ? { edges: prediction.quantileEdges, shares: prediction.quantileShares, quantile: true }
        : { edges: prediction.edges, shares: prediction.shares, quantile: false };
      this.series.push({ column: PREDICTION_COLUMN, feature: -1, measure: 'psi', threshold: options.predictionPsiThreshold, episodes: [], onsets: 0 });
      for (const cut of options.positiveThresholds ?? [0.5]) {
        const rate = trainingPositiveRate(prediction, cut);
        // Without a training rate at that threshold there is nothing honest to compare with.
        if (rate === undefined) continue;
        cuts.push(cut);
        this.series.push({ column: PREDICTION_COLUMN, feature: -1, measure: 'positive_rate', cut, threshold: options.positiveRateChange ?? 0.3, baseline: rate, episodes: [], onsets: 0 });
      }
      // Multi-class: the share of each predicted class against its training share.
      for (const [label, share] of prediction.classShares ?? []) {
        this.series.push({ column: classColumn(label), feature: -1, measure: 'class_share', label, threshold: options.positiveRateChange ?? 0.3, baseline: share, episodes: [], onsets: 0 });
      }
      this.watchLabels = (prediction.classShares?.size ?? 0) > 0;
      if (prediction.mean !== undefined) {
        this.series.push({ column: PREDICTION_COLUMN, feature: -1, measure: 'mean_score', threshold: options.meanScoreChange ?? 0.25, baseline: prediction.mean, episodes: [], onsets: 0 });
      }
    } else {
      this.scoreBins = undefined;
    }
    this.cuts = cuts;
    this.streakValues = new Array(this.features.length);
    this.streakFirstSeen = new Float64Array(this.features.length).fill(Number.NaN);
    this.missingFirstSeen = new Float64Array(this.features.length).fill(Number.NaN);
  }

  /** Decision thresholds watched (those the profile has a training positive rate for). */
  get positiveThresholds(): readonly number[] {
    return this.cuts;
  }

  onEvent(listener: (event: DriftEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Called after each window is closed (evaluated or skipped): when a saved state goes stale. */
  onWindowClosed(listener: (start: number) => void): void {
    this.closedListeners.push(listener);
  }

  private nextRandom(): number {
    // xorshift32: a deterministic reservoir, so two runs over the same records sample the same events.
    let x = this.random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.random = x >>> 0;
    return this.random / 4_294_967_296;
  }

  private windowFor(time: number): WindowAcc | undefined {
    const cursor = this.cursor;
    if (cursor && time >= cursor.start && time < cursor.start + this.options.windowMs) return cursor;
    const start = Math.floor(time / this.options.windowMs) * this.options.windowMs;
    if (start < this.closedBefore) return undefined;
    // One event stamped far in the future (a producer's broken clock) would otherwise move the
    // watermark there and make every later event late.
    if (this.options.mode === 'live' && time > (this.options.now ?? Date.now)() + Math.max(this.options.windowMs, 60_000)) return undefined;
    let acc = this.open.get(start);
    if (!acc) {
      const n = this.features.length;
      acc = {
        start,
        rows: 0,
        counts: this.features.map((f) => new Float64Array(f.kind === 'numeric' ? f.edges.length + 1 : f.categories.length)),
        sums: new Float64Array(n),
        unknown: new Float64Array(n),
        unknownFirst: new Float64Array(n).fill(Number.POSITIVE_INFINITY),
        unknownValues: new Array(n),
        missing: new Float64Array(n),
        missingFirst: new Float64Array(n).fill(Number.POSITIVE_INFINITY),
        predictionCounts: this.scoreBins ? new Float64Array(this.scoreBins.shares.length) : undefined,
        predictions: 0,
        scoreSum: 0,
        positives: new Float64Array(this.cuts.length),
        labels: new Map(),
        deadLetters: new Map(),
        sample: [],
        sampleSeen: 0,
        lookedAt: 0,
        announced: new Set(),
      };
      this.open.set(start, acc);
    }
    this.cursor = acc;
    if (time > this.watermark) this.watermark = time;
    return acc;
  }

  private timeOf(event: Readonly<Record<string, unknown>> | undefined, message: SourceMessage | undefined): number {
    const value = event?.[this.options.eventTimeField];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value === 'bigint') return Number(value);
    return message ? Number(message.timestamp) : Number.NaN;
  }

  /** Whether an event time is counted: finite, and not before the range read. */
  private inRange(time: number): boolean {
    return Number.isFinite(time) && !(this.options.rangeStart !== undefined && time < this.options.rangeStart);
  }

  /** The model inputs of an event that passed every check. */
  observeEvent(time: number, event: Readonly<Record<string, unknown>>): void {
    if (this.options.rangeStart !== undefined && time < this.options.rangeStart) return;
    const acc = Number.isFinite(time) ? this.windowFor(time) : undefined;
    if (!acc) {
      this.lateEvents += 1;
      return;
    }
    this.count(acc, event);
  }

  private count(acc: WindowAcc, event: Readonly<Record<string, unknown>>): void {
    acc.rows += 1;
    const counts = acc.counts;
    for (const { slot, name, edges } of this.numeric) {
      const value = event[name];
      if (typeof value === 'number') {
        const bins = counts[slot] as Float64Array;
        const bin = numericBin(edges, value);
        bins[bin] = (bins[bin] as number) + 1;
        acc.sums[slot] = (acc.sums[slot] as number) + value;
      }
    }
    for (const { slot, name, index } of this.categorical) {
      const value = event[name];
      if (typeof value === 'string') {
        const i = index.get(value);
        if (i !== undefined) {
          const bins = counts[slot] as Float64Array;
          bins[i] = (bins[i] as number) + 1;
        }
      }
    }
  }

  private countRows(acc: WindowAcc, chunk: ChunkObservation, from: number, to: number, scores: boolean): void {
    acc.rows += to - from;
    const { features, scores: scored, rowRejections } = chunk;
    for (const { slot, name, edges32 } of this.numeric) {
      const column = features.numeric.get(name);
      if (!column) continue;
      const bins = acc.counts[slot] as Float64Array;
      let sum = 0;
      for (let r = from; r < to; r += 1) {
        const value = column[r] as number;
        const bin = numericBin(edges32, value);
        bins[bin] = (bins[bin] as number) + 1;
        sum += value;
      }
      acc.sums[slot] = (acc.sums[slot] as number) + sum;
    }
    for (const { slot, name, index } of this.categorical) {
      const column = features.categorical.get(name);
      if (!column) continue;
      const bins = acc.counts[slot] as Float64Array;
      for (let r = from; r < to; r += 1) {
        const i = index.get(column[r] as string);
        if (i !== undefined) bins[i] = (bins[i] as number) + 1;
      }
    }
    const sampleSize = this.options.sampleEvents ?? 0;
    if (sampleSize > 0) {
      for (let r = from; r < to; r += 1) {
        const event = chunk.events[chunk.rows[r] as number];
        if (!event) continue;
        acc.sampleSeen += 1;
        if (acc.sample.length < sampleSize) acc.sample.push(event);
        else {
          const j = Math.floor(this.nextRandom() * acc.sampleSeen);
          if (j < sampleSize) acc.sample[j] = event;
        }
      }
    }
    if (!scores || !this.scoreBins) return;
    const labels = this.watchLabels ? chunk.labels : undefined;
    for (let r = from; r < to; r += 1) {
      if (rowRejections[r]) continue;
      this.countScore(acc, scored[r] as number, labels?.[r] ?? undefined);
    }
  }

  private countScore(acc: WindowAcc, score: number, label?: string): void {
    const bins = this.scoreBins;
    if (!bins || !Number.isFinite(score)) return;
    if (label !== undefined && this.watchLabels) acc.labels.set(label, (acc.labels.get(label) ?? 0) + 1);
    const counts = acc.predictionCounts as Float64Array;
    const bin = bins.quantile ? numericBin(bins.edges, score) : predictionBin(bins.edges, score);
    counts[bin] = (counts[bin] as number) + 1;
    acc.predictions += 1;
    acc.scoreSum += score;
    const cuts = this.cuts;
    for (let c = 0; c < cuts.length; c += 1) if (score >= (cuts[c] as number)) acc.positives[c] = (acc.positives[c] as number) + 1;
  }

  /** A value of `column` the model does not know (an UNKNOWN_CATEGORY rejection). */
  observeUnknown(time: number, column: string, value: string): void {
    const f = this.featureIndex.get(column);
    if (f === undefined || !this.inRange(time)) return;
    const acc = this.windowFor(time);
    if (!acc) {
      this.lateEvents += 1;
      return;
    }
    acc.unknown[f] = (acc.unknown[f] as number) + 1;
    if (time < (acc.unknownFirst[f] as number)) acc.unknownFirst[f] = time;
    let values = acc.unknownValues[f];
    if (!values) acc.unknownValues[f] = values = new Map();
    tally(values, value, 1, time, this.options.unknownValuesTracked ?? 20);
  }

  /** A model input that was null or absent (a MISSING_FIELD rejection naming the column). */
  observeMissing(time: number, column: string): void {
    const f = this.featureIndex.get(column);
    if (f === undefined || !this.inRange(time)) return;
    const acc = this.windowFor(time);
    if (!acc) {
      this.lateEvents += 1;
      return;
    }
    acc.missing[f] = (acc.missing[f] as number) + 1;
    if (time < (acc.missingFirst[f] as number)) acc.missingFirst[f] = time;
  }

  /** A published score (and its predicted label), windowed by the event time of the event it scores. */
  observeScore(time: number, score: number, label?: string): void {
    if (!this.scoreBins || !Number.isFinite(score) || !this.inRange(time)) return;
    const acc = this.windowFor(time);
    if (!acc) return;
    this.countScore(acc, score, label);
  }

  /**
   * One scoring chunk of a batch, as the pipeline saw it: checked events, unknown categories,
   * missing values, other rejections, published scores. `messages` are the batch's messages
   * (for the Kafka timestamp fallback).
   */
  observeChunk(chunk: ChunkObservation, messages: readonly SourceMessage[], scores = true): void {
    const { events, rejections, rows, from } = chunk;
    for (let i = 0; i < events.length; i += 1) {
      const rejection = rejections[i];
      if (!rejection) continue;
      const time = this.timeOf(events[i], messages[from + i]);
      if (rejection.code === 'UNKNOWN_CATEGORY' && rejection.field !== undefined) this.observeUnknown(time, rejection.field, rejection.value ?? '');
      else if (rejection.code === 'MISSING_FIELD' && rejection.field !== undefined) this.observeMissing(time, rejection.field);
      // Every rejection, by reason and column, for the report's dead letters over the same windows.
      if (this.inRange(time)) {
        const acc = this.windowFor(time);
        if (acc) {
          const key = `${rejection.code} ${rejection.field ?? '-'}`;
          acc.deadLetters.set(key, (acc.deadLetters.get(key) ?? 0) + 1);
        }
      }
    }
    // Unknown categories scored under score-and-flag count as unknown all the same.
    for (const [r, reasons] of chunk.features.flags) {
      const i = rows[r] as number;
      for (const reason of reasons) {
        if (!reason.startsWith('UNKNOWN_CATEGORY:')) continue;
        const column = reason.slice('UNKNOWN_CATEGORY:'.length);
        this.observeUnknown(this.timeOf(events[i], messages[from + i]), column, chunk.features.categorical.get(column)?.[r] ?? '');
      }
    }
    // Rows in runs that share a window (usually the whole chunk), each run counted column by
    // column from the checked columns: no per-value property lookups on the hot path.
    const count = rows.length;
    let runStart = 0;
    let runAcc: WindowAcc | undefined;
    for (let r = 0; r <= count; r += 1) {
      let acc: WindowAcc | undefined;
      let skip = false;
      if (r < count) {
        const i = rows[r] as number;
        const time = this.timeOf(events[i], messages[from + i]);
        if (this.options.rangeStart !== undefined && time < this.options.rangeStart) skip = true;
        else {
          acc = Number.isFinite(time) ? this.windowFor(time) : undefined;
          if (!acc) this.lateEvents += 1;
        }
      }
      if (r === count || acc !== runAcc || skip) {
        if (runAcc) this.countRows(runAcc, chunk, runStart, r, scores);
        runStart = skip ? r + 1 : r;
        runAcc = acc;
      }
    }
    if (this.options.mode === 'live') this.closeDue();
    if ((this.options.earlyLookEvents ?? 0) > 0) this.lookEarly();
  }

  /** Evaluates the windows the watermark has passed (live mode). */
  closeDue(): void {
    const lateness = this.options.latenessMs ?? this.options.windowMs;
    const due = [...this.open.keys()].filter((start) => start + this.options.windowMs + lateness <= this.watermark);
    // Too many open windows (event times all over the place): evaluate the oldest.
    const extra = this.open.size - due.length - MAX_OPEN_WINDOWS;
    if (extra > 0) due.push(...[...this.open.keys()].filter((s) => !due.includes(s)).sort((a, b) => a - b).slice(0, extra));
    for (const start of due.sort((a, b) => a - b)) this.close(start);
  }

  /** Evaluates every open window in order (the end of an offline run, or a stop). */
  finish(): void {
    for (const start of [...this.open.keys()].sort((a, b) => a - b)) this.close(start);
  }

  private totals(acc: WindowAcc): { unknown: number; missing: number } {
    let unknown = 0;
    let missing = 0;
    for (let f = 0; f < this.features.length; f += 1) {
      unknown += acc.unknown[f] as number;
      missing += acc.missing[f] as number;
    }
    return { unknown, missing };
  }

  /** A series' value in a window, undefined when the window has too few events for it; and whether it is over its threshold. */
  private measure(series: Series, acc: WindowAcc, minZ = MIN_Z): { value: number; over: boolean } | undefined {
    const min = this.options.minWindowEvents;
    const f = series.feature;
    switch (series.measure) {
      case 'psi': {
        if (f < 0) {
          if (acc.predictions < min || !acc.predictionCounts || !this.scoreBins) return undefined;
          const value = psi(this.scoreBins.shares, acc.predictionCounts);
          return { value, over: value > series.threshold };
        }
        if (acc.rows < min) return undefined;
        const value = psi((this.features[f] as FeatureProfile).shares, acc.counts[f] as Float64Array);
        return { value, over: value > series.threshold };
      }
      case 'unknown_rate': {
        const unknown = acc.unknown[f] as number;
        const value = unknown / (unknown + acc.rows);
        return Number.isFinite(value) ? { value, over: value > series.threshold } : undefined;
      }
      case 'missing_rate': {
        // Among the events that reached this column: scored, or rejected because it was missing.
        // An event rejected for an earlier column first is counted in neither.
        const missing = acc.missing[f] as number;
        const value = missing / (missing + acc.rows);
        return Number.isFinite(value) ? { value, over: value > series.threshold } : undefined;
      }
      case 'positive_rate': {
        const n = acc.predictions;
        const base = series.baseline as number;
        if (n < min) return undefined;
        const c = this.cuts.indexOf(series.cut as number);
        const value = (acc.positives[c] as number) / n;
        // Fewer than 10 positives expected: measured, but a count that small is not judged (its tail is too heavy for a z-score).
        if (n * base < MIN_EXPECTED_POSITIVES) return { value, over: false };
        const change = value / base - 1;
        const z = Math.abs(value - base) / Math.sqrt((base * (1 - base)) / n);
        return { value, over: Math.abs(change) > series.threshold && z >= minZ };
      }
      case 'class_share': {
        const n = acc.predictions;
        const base = series.baseline as number;
        if (n < min) return undefined;
        const value = (acc.labels.get(series.label as string) ?? 0) / n;
        if (n * base < MIN_EXPECTED_POSITIVES) return { value, over: false };
        const z = Math.abs(value - base) / Math.sqrt((base * (1 - base)) / n);
        return { value, over: Math.abs(value / base - 1) > series.threshold && z >= minZ };
      }
      case 'mean_score': {
        const n = acc.predictions;
        const base = series.baseline as number;
        if (n < min) return undefined;
        const value = acc.scoreSum / n;
        const change = base !== 0 ? value / base - 1 : 0;
        const sd = this.profile.prediction?.std;
        const z = sd !== undefined ? Math.abs(value - base) / (sd / Math.sqrt(n)) : Number.POSITIVE_INFINITY;
        return { value, over: Math.abs(change) > series.threshold && z >= minZ };
      }
      default:
        return undefined;
    }
  }

  /** Per column: the window's values, for the per-window history. */
  private windowValues(acc: WindowAcc, measured: ReadonlyMap<Series, { value: number }>): Record<string, WindowValues> {
    const values: Record<string, Record<string, number>> = {};
    for (const [series, m] of measured) {
      const column = (values[series.column] ??= {});
      column[valueKey(series.measure, series.cut)] = m.value;
    }
    this.features.forEach((feature, f) => {
      const direction = feature.kind === 'numeric' ? numericDirection(feature, acc.counts[f] as Float64Array, acc.sums[f] as number) : undefined;
      if (!direction) return;
      const column = (values[feature.name] ??= {});
      if (direction.meanShiftSd !== undefined) column.mean_shift_sd = direction.meanShiftSd;
      if (direction.medianShiftSd !== undefined) column.median_shift_sd = direction.medianShiftSd;
    });
    const bins = this.scoreBins;
    if (bins?.quantile && acc.predictionCounts && acc.predictions > 0) {
      // Live score quantiles from the quantile bins (regressors: where the predictions moved).
      const column = (values[PREDICTION_COLUMN] ??= {});
      for (const q of [0.5, 0.9, 0.99]) {
        const v = binnedQuantile(bins.edges, acc.predictionCounts, q, Math.min(0, bins.edges[0] as number), Math.max(1, bins.edges[bins.edges.length - 1] as number));
        if (v !== undefined) column[`p${Math.round(q * 100)}`] = v;
      }
    }
    return values;
  }

  private close(start: number): void {
    if (!this.open.has(start)) return;
    this.evaluate(start);
    for (const listener of this.closedListeners) listener(start);
  }

  private evaluate(start: number): void {
    const acc = this.open.get(start);
    if (!acc) return;
    this.open.delete(start);
    this.partials.delete(start);
    if (this.cursor === acc) this.cursor = undefined;
    const end = start + this.options.windowMs;
    if (end > this.closedBefore) this.closedBefore = end;
    // Skipped windows between evaluated ones are simply absent: they neither start nor end an episode.
    const { unknown, missing } = this.totals(acc);
    const enough = acc.rows + unknown + missing >= this.options.minWindowEvents;
    const deadLetters = acc.deadLetters.size > 0 ? Object.fromEntries(acc.deadLetters) : undefined;
    if (!enough) {
      // A window with only scores (its events before the range read) is not a skipped window.
      if (acc.rows + unknown + missing > 0) {
        this.skipped += 1;
        this.pushHistory({ start, events: acc.rows, predictions: acc.predictions, unknown, missing, evaluated: false, ...(deadLetters ? { deadLetters } : {}) });
      }
      return;
    }
    const first = this.firstStart === undefined && this.restoredFrom === undefined;
    this.evaluated += 1;
    this.firstStart = Math.min(this.firstStart ?? start, start);
    this.lastEnd = Math.max(this.lastEnd ?? end, end);

    // Runs of windows with unknown (missing) values, per column: "since when" for new categories and vanished columns.
    for (let f = 0; f < this.features.length; f += 1) {
      const values = acc.unknownValues[f];
      if ((acc.unknown[f] as number) > 0 && values) {
        let streak = this.streakValues[f];
        if (!streak) {
          this.streakValues[f] = streak = new Map();
          this.streakFirstSeen[f] = acc.unknownFirst[f] as number;
        }
        for (const [value, t] of values) tally(streak, value, t.count, t.first, this.options.unknownValuesTracked ?? 20);
      } else if (this.features[f]?.kind === 'categorical') {
        this.streakValues[f] = undefined;
        this.streakFirstSeen[f] = Number.NaN;
      }
      if ((acc.missing[f] as number) > 0) {
        if (!Number.isFinite(this.missingFirstSeen[f] as number)) this.missingFirstSeen[f] = acc.missingFirst[f] as number;
      } else {
        this.missingFirstSeen[f] = Number.NaN;
      }
    }

    const measured = new Map<Series, { value: number; over: boolean }>();
    for (const series of this.series) {
      const m = this.measure(series, acc);
      if (m) measured.set(series, m);
    }
    // Direction and size per column in this window.
    this.features.forEach((feature, f) => {
      const direction = feature.kind === 'numeric'
        ? numericDirection(feature, acc.counts[f] as Float64Array, acc.sums[f] as number)
        : categoricalDirection(feature.categories, feature.shares, acc.counts[f] as Float64Array);
      if (direction) this.directions.set(f, direction);
    });
    const values = this.windowValues(acc, measured);
    this.pushHistory({ start, events: acc.rows, predictions: acc.predictions, unknown, missing, evaluated: true, values, ...(deadLetters ? { deadLetters } : {}) });
    let anyOver = false;
    let scoresOver = false;
    for (const [series, m] of measured) {
      this.update(series, m.value, m.over, start, end, first);
      if (m.over) {
        anyOver = true;
        if (series.feature < 0) scoresOver = true;
      }
    }
    const sampleSize = this.options.sampleEvents ?? 0;
    if (sampleSize > 0) {
      if (scoresOver && this.lastStableSample) {
        const directions = Object.fromEntries([...this.directions].map(([f, d]) => [(this.features[f] as FeatureProfile).name, d]));
        this.attributionCases.push({ windowStart: start, live: acc.sample, reference: this.lastStableSample.events, referenceWindowStart: this.lastStableSample.start, directions });
        while (this.attributionCases.length > Math.max(1, this.options.attributionCases ?? 1)) this.attributionCases.shift();
      }
      if (!anyOver) this.lastStableSample = { start, events: acc.sample };
    }
  }

  private pushHistory(summary: WindowSummary): void {
    this.history.push(summary);
    if (this.history.length > (this.options.historyWindows ?? 288)) this.history.shift();
  }

  private firstSeenOf(series: Series): number | undefined {
    const f = series.feature;
    if (f < 0) return undefined;
    const seen = series.measure === 'unknown_rate' ? this.streakFirstSeen[f] : series.measure === 'missing_rate' ? this.missingFirstSeen[f] : Number.NaN;
    return seen !== undefined && Number.isFinite(seen) ? seen : undefined;
  }

  private update(series: Series, value: number, over: boolean, start: number, end: number, first: boolean): void {
    series.current = value;
    series.currentWindowStart = start;
    const f = series.feature;
    const firstSeen = this.firstSeenOf(series);
    if (over) {
      if (series.active) {
        series.active.windows += 1;
        series.active.peak = Math.max(series.active.peak, value);
        return;
      }
      series.active = { onset: start, peak: value, windows: 1, ...(firstSeen !== undefined ? { firstSeen } : {}), ...(first ? { censored: true } : {}) };
      series.onsets += 1;
      const direction = f >= 0 ? this.directions.get(f) : undefined;
      this.emit({
        type: 'onset',
        column: series.column,
        measure: series.measure,
        ...(series.cut !== undefined ? { cut: series.cut } : {}),
        value,
        threshold: series.threshold,
        windowStart: start,
        windowEnd: end,
        onset: start,
        ...(firstSeen !== undefined ? { firstSeen } : {}),
        ...(series.measure === 'unknown_rate' && f >= 0 ? { topValues: top(this.streakValues[f], 5) } : {}),
        ...(direction && series.measure === 'psi' ? { direction } : {}),
      });
    } else if (series.active) {
      const episode: Episode = { ...series.active, end: start };
      series.episodes.push(episode);
      if (series.episodes.length > MAX_EPISODES) series.episodes.shift();
      series.active = undefined;
      this.emit({ type: 'cleared', column: series.column, measure: series.measure, ...(series.cut !== undefined ? { cut: series.cut } : {}), value, threshold: series.threshold, windowStart: start, windowEnd: end, onset: episode.onset });
    }
  }

  /**
   * Early look at the windows in progress: each time one has gained another `earlyLookEvents`
   * events, its measures are computed on what it has. A measure over its threshold that is not
   * already drifting is announced once per window as an `early` event. Nothing here starts or
   * ends an episode: the window is still open and will be evaluated in full.
   */
  private lookEarly(): void {
    const step = this.options.earlyLookEvents ?? 0;
    for (const acc of this.open.values()) {
      const { unknown, missing } = this.totals(acc);
      const events = acc.rows + unknown + missing;
      if (events < Math.max(step, this.options.minWindowEvents) || events - acc.lookedAt < step) continue;
      acc.lookedAt = events;
      const measured = new Map<Series, { value: number; over: boolean }>();
      const over: string[] = [];
      for (const series of this.series) {
        const m = this.measure(series, acc, MIN_Z_EARLY);
        if (!m) continue;
        measured.set(series, m);
        if (!m.over) continue;
        over.push(`${series.column} ${valueKey(series.measure, series.cut)}`);
        if (series.active || acc.announced.has(series)) continue;
        acc.announced.add(series);
        this.emit({
          type: 'early',
          column: series.column,
          measure: series.measure,
          ...(series.cut !== undefined ? { cut: series.cut } : {}),
          value: m.value,
          threshold: series.threshold,
          windowStart: acc.start,
          windowEnd: acc.start + this.options.windowMs,
          onset: acc.start,
          partialEvents: events,
        });
      }
      this.partials.set(acc.start, { start: acc.start, events, partial: true, values: this.windowValues(acc, measured), over });
    }
  }

  private emit(event: DriftEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Drifting score windows with samples to re-score (DriftOptions.sampleEvents), oldest first. */
  attributionSamples(): readonly AttributionCase[] {
    return this.attributionCases;
  }

  /** Per column and measure: the latest value, whether it is drifting, since when, and earlier episodes. */
  report(): DriftReport {
    const columns: ColumnReport[] = [];
    for (const series of this.series) {
      let column = columns.find((c) => c.column === series.column);
      if (!column) {
        const feature = series.feature >= 0 ? this.features[series.feature] : undefined;
        const values = series.feature >= 0 ? top(this.streakValues[series.feature]) : [];
        const direction = series.feature >= 0 ? this.directions.get(series.feature) : undefined;
        column = { column: series.column, kind: feature ? feature.kind : 'prediction', measures: [], topUnknownValues: values, ...(direction ? { direction } : {}) };
        columns.push(column);
      }
      const episodes: Episode[] = [...series.episodes];
      if (series.active) episodes.push({ ...series.active });
      (column.measures as MeasureReport[]).push({
        measure: series.measure,
        ...(series.cut !== undefined ? { cut: series.cut } : {}),
        threshold: series.threshold,
        ...(series.baseline !== undefined ? { baseline: series.baseline } : {}),
        ...(series.current !== undefined ? { current: series.current, currentWindowStart: series.currentWindowStart } : {}),
        drifting: series.active !== undefined,
        ...(series.active ? { since: series.active.onset } : {}),
        ...(series.active?.censored ? { sinceBefore: true } : {}),
        ...(series.active?.firstSeen !== undefined ? { firstSeen: series.active.firstSeen } : {}),
        episodes,
      });
    }
    const deadLetters = new Map<string, number>();
    for (const window of this.history) {
      for (const [key, n] of Object.entries(window.deadLetters ?? {})) deadLetters.set(key, (deadLetters.get(key) ?? 0) + n);
    }
    return {
      model: this.profile.model,
      modelVersion: this.profile.modelVersion,
      profile: this.profile.source,
      ...(this.profile.trainedAt ? { trainedAt: this.profile.trainedAt } : {}),
      windowSeconds: this.options.windowMs / 1000,
      minWindowEvents: this.options.minWindowEvents,
      windowsEvaluated: this.evaluated,
      windowsSkipped: this.skipped,
      ...(this.firstStart !== undefined ? { firstWindowStart: this.firstStart } : {}),
      ...(this.lastEnd !== undefined ? { lastWindowEnd: this.lastEnd } : {}),
      ...(this.options.rangeStart !== undefined ? { rangeStart: this.options.rangeStart } : {}),
      lateEvents: this.lateEvents,
      columns,
      recentWindows: [...this.history],
      deadLetters: [...deadLetters]
        .map(([key, count]) => {
          const [reason = key, column = '-'] = key.split(' ', 2);
          return { reason, column, count };
        })
        .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1)),
      ...(this.partials.size > 0 ? { partialWindows: [...this.partials.values()] } : {}),
      ...(this.restoredFrom !== undefined ? { restoredFrom: this.restoredFrom } : {}),
    };
  }

  windowCounts(): { evaluated: number; skipped: number } {
    return { evaluated: this.evaluated, skipped: this.skipped };
  }

  /** Live state for metrics: one entry per column and measure. */
  states(): readonly { column: string; measure: DriftMeasure; cut?: number; current?: number; drifting: boolean; since?: number; onsets: number; shiftSd?: number }[] {
    return this.series.map((s) => {
      const direction = s.feature >= 0 && s.measure === 'psi' ? this.directions.get(s.feature) : undefined;
      return {
        column: s.column,
        measure: s.measure,
        ...(s.cut !== undefined ? { cut: s.cut } : {}),
        ...(s.current !== undefined ? { current: s.current } : {}),
        drifting: s.active !== undefined,
        ...(s.active ? { since: s.active.onset } : {}),
        onsets: s.onsets,
        ...(direction?.meanShiftSd !== undefined ? { shiftSd: direction.meanShiftSd } : {}),
      };
    });
  }

  /** Episodes, onsets and the window history: what a restarted service needs to go on where this one stopped. */
  snapshot(now = Date.now()): DriftState {
    return {
      version: 1,
      savedAt: now,
      model: this.profile.model,
      modelVersion: this.profile.modelVersion,
      windowMs: this.options.windowMs,
      closedBefore: this.closedBefore,
      evaluated: this.evaluated,
      skipped: this.skipped,
      ...(this.firstStart !== undefined ? { firstStart: this.firstStart } : {}),
      ...(this.lastEnd !== undefined ? { lastEnd: this.lastEnd } : {}),
      lateEvents: this.lateEvents,
      series: this.series.map((s) => ({
        key: seriesKey(s),
        ...(s.current !== undefined ? { current: s.current, currentWindowStart: s.currentWindowStart } : {}),
        ...(s.active ? { active: { ...s.active } } : {}),
        episodes: [...s.episodes],
        onsets: s.onsets,
      })),
      // The recent windows only: the state stays one small record (the report's sparklines need ~24).
      history: this.history.slice(-SAVED_HISTORY),
      columns: Object.fromEntries(
        this.features.map((feature, f) => {
          const unknownSince = this.streakFirstSeen[f] as number;
          const missingSince = this.missingFirstSeen[f] as number;
          const direction = this.directions.get(f);
          return [
            feature.name,
            {
              ...(Number.isFinite(unknownSince) ? { unknownSince, unknownValues: top(this.streakValues[f], this.options.unknownValuesTracked ?? 20) } : {}),
              ...(Number.isFinite(missingSince) ? { missingSince } : {}),
              ...(direction ? { direction } : {}),
            },
          ];
        }),
      ),
    };
  }

  /**
   * Takes over a saved state (before any event is observed). Refused, with the reason, when it
   * is for another model, version or window length: its episodes would not mean the same.
   */
  restore(state: DriftState): { restored: boolean; reason?: string } {
    if (state.version !== 1) return { restored: false, reason: `state version ${String(state.version)}` };
    if (state.model !== this.profile.model || state.modelVersion !== this.profile.modelVersion) return { restored: false, reason: `state of ${state.model} ${state.modelVersion}, profile of ${this.profile.model} ${this.profile.modelVersion}` };
    if (state.windowMs !== this.options.windowMs) return { restored: false, reason: `state windows of ${state.windowMs} ms, configured ${this.options.windowMs} ms` };
    if (this.evaluated > 0 || this.open.size > 0) return { restored: false, reason: 'the monitor has already counted events' };
    const byKey = new Map(state.series.map((s) => [s.key, s]));
    for (const series of this.series) {
      const saved = byKey.get(seriesKey(series));
      if (!saved) continue;
      if (saved.current !== undefined) {
        series.current = saved.current;
        series.currentWindowStart = saved.currentWindowStart;
      }
      series.active = saved.active ? { ...saved.active } : undefined;
      series.episodes = [...saved.episodes];
      series.onsets = saved.onsets;
    }
    this.closedBefore = state.closedBefore;
    this.evaluated = state.evaluated;
    this.skipped = state.skipped;
    this.firstStart = state.firstStart;
    this.lastEnd = state.lastEnd;
    this.lateEvents = state.lateEvents;
    this.history = [...state.history];
    this.features.forEach((feature, f) => {
      const saved = state.columns?.[feature.name];
      if (!saved) return;
      if (saved.unknownSince !== undefined) {
        this.streakFirstSeen[f] = saved.unknownSince;
        this.streakValues[f] = new Map((saved.unknownValues ?? []).map((v) => [v.value, { count: v.count, first: v.firstSeen }]));
      }
      if (saved.missingSince !== undefined) this.missingFirstSeen[f] = saved.missingSince;
      if (saved.direction) this.directions.set(f, saved.direction);
    });
    this.restoredFrom = state.savedAt;
    return { restored: true };
  }
}

/** Columns the report names: a measure is drifting now or drifted during the period read. */
export function driftedColumns(report: DriftReport): string[] {
  return report.columns.filter((c) => c.measures.some((m) => m.episodes.length > 0)).map((c) => c.column);
}
