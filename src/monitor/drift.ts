import type { SourceMessage } from '../records';
import type { ChunkObservation } from '../telemetry/observation';
import { type FeatureProfile, type TrainingProfile, numericBin, predictionBin, psi } from './profile';

/**
 * Model monitoring: live traffic against the training profile over tumbling event-time
 * windows. Per window and column: the population stability index (PSI) of the values the
 * model scored, and for categorical columns the share of unknown categories; per window the
 * PSI of the score distribution. A column whose measure crosses its threshold starts a drift
 * episode whose onset is the start of the first window over the threshold; the episode ends
 * at the first window back under it. The same code runs in the service (fed per batch) and in
 * `stream-scorer drift` (fed from the topics), so both give the same answer.
 */
export type DriftMeasure = 'psi' | 'unknown_rate';

/** The column name under which the score distribution is reported. */
export const PREDICTION_COLUMN = 'prediction';

/** Bucket for unknown values beyond the ones tracked by name. */
export const OTHER_VALUES = '__other__';

export interface DriftOptions {
  readonly windowMs: number;
  /** A window with fewer scored events is not evaluated (neither starts nor ends an episode). */
  readonly minWindowEvents: number;
  readonly psiThreshold: number;
  readonly unknownRateThreshold: number;
  readonly predictionPsiThreshold: number;
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
}

export interface DriftEvent {
  readonly type: 'onset' | 'cleared';
  readonly column: string;
  readonly measure: DriftMeasure;
  readonly value: number;
  readonly threshold: number;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Start of the first window over the threshold in this episode. */
  readonly onset: number;
  /** unknown_rate: event time of the earliest unknown value in the run of windows that had any. */
  readonly firstSeen?: number;
  readonly topValues?: readonly ValueCount[];
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
}

export interface MeasureReport {
  readonly measure: DriftMeasure;
  readonly threshold: number;
  /** Value in the latest evaluated window (undefined: no window evaluated yet). */
  readonly current?: number;
  readonly currentWindowStart?: number;
  readonly drifting: boolean;
  readonly since?: number;
  readonly firstSeen?: number;
  readonly episodes: readonly Episode[];
}

export interface ColumnReport {
  readonly column: string;
  readonly kind: 'numeric' | 'categorical' | 'prediction';
  readonly measures: readonly MeasureReport[];
  /** Unknown values of the current (or last) run of windows with unknown values, most frequent first. */
  readonly topUnknownValues: readonly ValueCount[];
}

export interface WindowSummary {
  readonly start: number;
  readonly events: number;
  readonly predictions: number;
  readonly unknown: number;
  readonly evaluated: boolean;
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
  readonly lateEvents: number;
  readonly columns: readonly ColumnReport[];
  readonly recentWindows: readonly WindowSummary[];
}

interface WindowAcc {
  readonly start: number;
  rows: number;
  readonly counts: Float64Array[];
  readonly unknown: Float64Array;
  readonly unknownFirst: Float64Array;
  readonly unknownValues: (Map<string, Tally> | undefined)[];
  readonly predictionCounts: Float64Array | undefined;
  predictions: number;
}

interface Series {
  readonly column: string;
  readonly feature: number; // -1: the prediction
  readonly measure: DriftMeasure;
  readonly threshold: number;
  current?: number;
  currentWindowStart?: number;
  active?: { onset: number; peak: number; windows: number; firstSeen?: number };
  readonly episodes: Episode[];
  onsets: number;
}

const MAX_EPISODES = 20;
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
  private readonly history: WindowSummary[] = [];
  private evaluated = 0;
  private skipped = 0;
  private firstStart: number | undefined;
  private lastEnd: number | undefined;
  lateEvents = 0;
  /** Per column: unknown values since the current run of windows with unknown values began. */
  private readonly streakValues: (Map<string, Tally> | undefined)[];
  private readonly streakFirstSeen: Float64Array;
  private readonly listeners: ((event: DriftEvent) => void)[] = [];

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
    this.features.forEach((f, i) => {
      this.series.push({ column: f.name, feature: i, measure: 'psi', threshold: options.psiThreshold, episodes: [], onsets: 0 });
      if (f.kind === 'categorical') this.series.push({ column: f.name, feature: i, measure: 'unknown_rate', threshold: options.unknownRateThreshold, episodes: [], onsets: 0 });
    });
    if (profile.prediction) this.series.push({ column: PREDICTION_COLUMN, feature: -1, measure: 'psi', threshold: options.predictionPsiThreshold, episodes: [], onsets: 0 });
    this.streakValues = new Array(this.features.length);
    this.streakFirstSeen = new Float64Array(this.features.length).fill(Number.NaN);
  }

  onEvent(listener: (event: DriftEvent) => void): void {
    this.listeners.push(listener);
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
        unknown: new Float64Array(n),
        unknownFirst: new Float64Array(n).fill(Number.POSITIVE_INFINITY),
        unknownValues: new Array(n),
        predictionCounts: this.profile.prediction ? new Float64Array(this.profile.prediction.shares.length) : undefined,
        predictions: 0,
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

  /** The model inputs of an event that passed every check. */
  observeEvent(time: number, event: Readonly<Record<string, unknown>>): void {
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
      for (let r = from; r < to; r += 1) {
        const bin = numericBin(edges32, column[r] as number);
        bins[bin] = (bins[bin] as number) + 1;
      }
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
    const prediction = this.profile.prediction;
    if (!scores || !prediction) return;
    const bins = acc.predictionCounts as Float64Array;
    for (let r = from; r < to; r += 1) {
      if (rowRejections[r]) continue;
      const score = scored[r] as number;
      if (!Number.isFinite(score)) continue;
      const bin = predictionBin(prediction.edges, score);
      bins[bin] = (bins[bin] as number) + 1;
      acc.predictions += 1;
    }
  }

  /** A value of `column` the model does not know (an UNKNOWN_CATEGORY rejection). */
  observeUnknown(time: number, column: string, value: string): void {
    const f = this.featureIndex.get(column);
    if (f === undefined) return;
    const acc = Number.isFinite(time) ? this.windowFor(time) : undefined;
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

  /** A published score. */
  observeScore(time: number, score: number): void {
    const prediction = this.profile.prediction;
    if (!prediction || !Number.isFinite(score)) return;
    const acc = Number.isFinite(time) ? this.windowFor(time) : undefined;
    if (!acc) return;
    const counts = acc.predictionCounts as Float64Array;
    const bin = predictionBin(prediction.edges, score);
    counts[bin] = (counts[bin] as number) + 1;
    acc.predictions += 1;
  }

  /**
   * One scoring chunk of a batch, as the pipeline saw it: checked events, unknown categories,
   * published scores. `messages` are the batch's messages (for the Kafka timestamp fallback).
   */
  observeChunk(chunk: ChunkObservation, messages: readonly SourceMessage[], scores = true): void {
    const { events, rejections, rows, from } = chunk;
    for (let i = 0; i < events.length; i += 1) {
      const rejection = rejections[i];
      if (rejection?.code === 'UNKNOWN_CATEGORY' && rejection.field !== undefined) {
        this.observeUnknown(this.timeOf(events[i], messages[from + i]), rejection.field, rejection.value ?? '');
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
      if (r < count) {
        const i = rows[r] as number;
        const time = this.timeOf(events[i], messages[from + i]);
        acc = Number.isFinite(time) ? this.windowFor(time) : undefined;
        if (!acc) this.lateEvents += 1;
      }
      if (r === count || acc !== runAcc) {
        if (runAcc) this.countRows(runAcc, chunk, runStart, r, scores);
        runStart = r;
        runAcc = acc;
      }
    }
    if (this.options.mode === 'live') this.closeDue();
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

  private close(start: number): void {
    const acc = this.open.get(start);
    if (!acc) return;
    this.open.delete(start);
    if (this.cursor === acc) this.cursor = undefined;
    const end = start + this.options.windowMs;
    if (end > this.closedBefore) this.closedBefore = end;
    // Skipped windows between evaluated ones are simply absent: they neither start nor end an episode.
    let unknownTotal = 0;
    for (let f = 0; f < this.features.length; f += 1) unknownTotal += acc.unknown[f] as number;
    const enough = acc.rows + unknownTotal >= this.options.minWindowEvents;
    this.history.push({ start, events: acc.rows, predictions: acc.predictions, unknown: unknownTotal, evaluated: enough });
    if (this.history.length > (this.options.historyWindows ?? 288)) this.history.shift();
    if (!enough) {
      this.skipped += 1;
      return;
    }
    this.evaluated += 1;
    this.firstStart = Math.min(this.firstStart ?? start, start);
    this.lastEnd = Math.max(this.lastEnd ?? end, end);

    // Runs of windows with unknown values, per column: "since when" for unknown categories.
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
    }

    for (const series of this.series) {
      let value: number | undefined;
      if (series.feature < 0) {
        if (acc.predictions >= this.options.minWindowEvents && acc.predictionCounts && this.profile.prediction) {
          value = psi(this.profile.prediction.shares, acc.predictionCounts);
        }
      } else if (series.measure === 'psi') {
        const feature = this.features[series.feature] as FeatureProfile;
        if (acc.rows >= this.options.minWindowEvents) value = psi(feature.shares, acc.counts[series.feature] as Float64Array);
      } else {
        const unknown = acc.unknown[series.feature] as number;
        value = unknown / (unknown + acc.rows);
      }
      if (value === undefined) continue;
      this.update(series, value, start, end);
    }
  }

  private update(series: Series, value: number, start: number, end: number): void {
    series.current = value;
    series.currentWindowStart = start;
    const f = series.feature;
    const firstSeen = series.measure === 'unknown_rate' && f >= 0 && Number.isFinite(this.streakFirstSeen[f] as number) ? (this.streakFirstSeen[f] as number) : undefined;
    if (value > series.threshold) {
      if (series.active) {
        series.active.windows += 1;
        series.active.peak = Math.max(series.active.peak, value);
        return;
      }
      series.active = { onset: start, peak: value, windows: 1, ...(firstSeen !== undefined ? { firstSeen } : {}) };
      series.onsets += 1;
      this.emit({
        type: 'onset',
        column: series.column,
        measure: series.measure,
        value,
        threshold: series.threshold,
        windowStart: start,
        windowEnd: end,
        onset: start,
        ...(firstSeen !== undefined ? { firstSeen } : {}),
        ...(series.measure === 'unknown_rate' && f >= 0 ? { topValues: top(this.streakValues[f], 5) } : {}),
      });
    } else if (series.active) {
      const episode: Episode = { ...series.active, end: start };
      series.episodes.push(episode);
      if (series.episodes.length > MAX_EPISODES) series.episodes.shift();
      series.active = undefined;
      this.emit({ type: 'cleared', column: series.column, measure: series.measure, value, threshold: series.threshold, windowStart: start, windowEnd: end, onset: episode.onset });
    }
  }

  private emit(event: DriftEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Per column and measure: the latest value, whether it is drifting, since when, and earlier episodes. */
  report(): DriftReport {
    const columns: ColumnReport[] = [];
    for (const series of this.series) {
      let column = columns.find((c) => c.column === series.column);
      if (!column) {
        const feature = series.feature >= 0 ? this.features[series.feature] : undefined;
        const values = series.feature >= 0 ? top(this.streakValues[series.feature]) : [];
        column = { column: series.column, kind: feature ? feature.kind : 'prediction', measures: [], topUnknownValues: values };
        columns.push(column);
      }
      const episodes: Episode[] = [...series.episodes];
      if (series.active) episodes.push({ ...series.active });
      (column.measures as MeasureReport[]).push({
        measure: series.measure,
        threshold: series.threshold,
        ...(series.current !== undefined ? { current: series.current, currentWindowStart: series.currentWindowStart } : {}),
        drifting: series.active !== undefined,
        ...(series.active ? { since: series.active.onset } : {}),
        ...(series.active?.firstSeen !== undefined ? { firstSeen: series.active.firstSeen } : {}),
        episodes,
      });
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
      lateEvents: this.lateEvents,
      columns,
      recentWindows: [...this.history],
    };
  }

  windowCounts(): { evaluated: number; skipped: number } {
    return { evaluated: this.evaluated, skipped: this.skipped };
  }

  /** Live state for metrics: one entry per column and measure. */
  states(): readonly { column: string; measure: DriftMeasure; current?: number; drifting: boolean; since?: number; onsets: number }[] {
    return this.series.map((s) => ({
      column: s.column,
      measure: s.measure,
      ...(s.current !== undefined ? { current: s.current } : {}),
      drifting: s.active !== undefined,
      ...(s.active ? { since: s.active.onset } : {}),
      onsets: s.onsets,
    }));
  }
}

/** Columns the report names: a measure is drifting now or drifted during the period read. */
export function driftedColumns(report: DriftReport): string[] {
  return report.columns.filter((c) => c.measures.some((m) => m.episodes.length > 0)).map((c) => c.column);
}
