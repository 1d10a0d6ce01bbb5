import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../../src/demo/synthetic';
import { ROOT } from './model';
import type { ProfileEvent } from './profile-events';

/**
 * Drift scenarios with their ground truth written down before a single event is drawn.
 *
 * Events are drawn from the training process: each one is a held-out event of train.py
 * (models/card-fraud/sample.json: the 8,000 rows of the test split, whole rows, so the columns keep
 * their joint distribution and the model scores them as it scored the test split), drawn with
 * replacement, given a fresh event id and card id and the scenario's event time. After a stable
 * stretch, one change of each kind is applied over a known interval, then taken back:
 *
 * - numeric-shift: a column moves by a known amount (in training standard deviations);
 * - new-category: a value the model never saw appears in a share of events;
 * - column-null: a column goes null in a share of events;
 * - score-through-input: an input the model leans on moves, and the scores with it;
 * - barely-used-input: an input the model hardly uses moves; the scores must not be flagged;
 * - positive-rate-50: more of the events the model scores >= 0.5 (the mix of traffic changes, no
 *   column moves much): the positive rate x1.5, the scores must be flagged.
 */
export type ChangeKind = 'numeric-shift' | 'new-category' | 'column-null' | 'score-through-input' | 'barely-used-input' | 'positive-rate-50';

export interface ChangeTruth {
  readonly kind: ChangeKind;
  readonly column: string;
  /** Event time the change starts (inclusive) and ends (exclusive). */
  readonly from: number;
  readonly to: number;
  /** The change itself. */
  readonly add?: number;
  readonly value?: string;
  readonly share?: number;
  /** What a monitor must say. */
  readonly expect: {
    readonly measure: 'psi' | 'unknown_rate' | 'missing_rate' | 'positive_rate';
    readonly direction?: 'up' | 'down';
    /** Mean shift in training standard deviations. */
    readonly shiftSd?: number;
    readonly rate?: number;
    /** Whether the scores must be flagged while it lasts (undefined: not part of the truth). */
    readonly scores?: boolean;
  };
}

export interface ChangeScenario {
  readonly windowMs: number;
  readonly start: number;
  readonly stableWindows: number;
  readonly windows: number;
  readonly eventsPerWindow: number;
  readonly seed: number;
  readonly changes: readonly ChangeTruth[];
}

/** Training standard deviations (profile.json) of the columns the scenario moves. */
function trainingSd(column: string): number {
  const profile = JSON.parse(readFileSync(join(ROOT, 'models/card-fraud/profile.json'), 'utf8')) as { features: Record<string, { std?: number }> };
  const sd = profile.features[column]?.std;
  if (sd === undefined) throw new Error(`no training sd for ${column}`);
  return sd;
}

/**
 * Six hours of stable event time (36 windows of 10 min, 12,000 events each: the 1,200 events a
 * minute of the stream in issue 16), then each change for 40 minutes
 * followed by 40 stable minutes. Changes start 3 min 17 s into a window on purpose: the onset
 * may be that window or the next.
 */
export function changeScenario(eventsPerWindow = 12_000, seed = 20261201): ChangeScenario {
  const windowMs = 600_000;
  const start = Date.UTC(2026, 2, 1, 0, 0, 0);
  const stableWindows = 36;
  const kinds: Omit<ChangeTruth, 'from' | 'to'>[] = [
    { kind: 'numeric-shift', column: 'avg_amount_30d', add: trainingSd('avg_amount_30d'), expect: { measure: 'psi', direction: 'up', shiftSd: 1 } },
    { kind: 'new-category', column: 'country', value: 'XX', share: 0.03, expect: { measure: 'unknown_rate', rate: 0.03 } },
    { kind: 'column-null', column: 'distance_from_home_km', share: 0.2, expect: { measure: 'missing_rate', rate: 0.2 } },
    { kind: 'score-through-input', column: 'merchant_risk_score', add: 0.15, expect: { measure: 'psi', direction: 'up', shiftSd: 0.15 / trainingSd('merchant_risk_score'), scores: true } },
    { kind: 'barely-used-input', column: BARELY_USED.column, add: BARELY_USED.add, expect: { measure: 'psi', direction: 'up', shiftSd: BARELY_USED.add / trainingSd(BARELY_USED.column), scores: false } },
    // p' = (1 - q) p + q = 1.5 p: q = 0.5 p / (1 - p), p the sample's share >= 0.5.
    { kind: 'positive-rate-50', column: 'prediction', share: (0.5 * positiveShare()) / (1 - positiveShare()), expect: { measure: 'positive_rate', rate: 1.5 * positiveShare(), scores: true } },
  ];
  const changes = kinds.map((change, i): ChangeTruth => {
    const from = start + (stableWindows + i * 8) * windowMs + 197_000;
    return { ...change, from, to: from + 4 * windowMs };
  });
  return { windowMs, start, stableWindows, windows: stableWindows + kinds.length * 8, eventsPerWindow, seed, changes };
}

/**
 * The input the model hardly uses for this move: 14 more hours since the last payment (+0.33
 * training sd) takes its PSI to ~3.8, but the model only looks at whether that time is under
 * 2 or 15 minutes: re-scoring sample.json with it moves the mean score by -4 % and the share
 * >= 0.5 by -11 % (merchant_risk_score +1 sd: +37 % and +55 %).
 */
export const BARELY_USED = { column: 'seconds_since_last_txn', add: 50_000 };

interface Sample {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

let cached: Sample | undefined;
export function trainingSample(): Sample {
  cached ??= JSON.parse(readFileSync(join(ROOT, 'models/card-fraud/sample.json'), 'utf8')) as Sample;
  return cached;
}

const INTEGER_COLUMNS = new Set(['account_age_days', 'txn_count_24h', 'seconds_since_last_txn']);

/** Rows the model scores >= 0.5, and their share of the sample. */
function positiveRows(sample: Sample): readonly (readonly (string | number)[])[] {
  const at = sample.columns.indexOf('score');
  return sample.rows.filter((row) => (row[at] as number) >= 0.5);
}

export function positiveShare(sample = trainingSample()): number {
  return positiveRows(sample).length / sample.rows.length;
}

/** One held-out event at `time`, all 20 Avro fields. */
function drawEvent(random: () => number, sample: Sample, time: number, sequence: number, rows: readonly (readonly (string | number)[])[] = sample.rows): ProfileEvent {
  const row = rows[Math.floor(random() * rows.length)] as readonly (string | number)[];
  const event: ProfileEvent = {
    event_id: `evt-${sequence}`,
    event_time: time,
    card_id: `card-${Math.floor(random() * 1e6)}`,
    merchant_id: `m-${Math.floor(random() * 3_000)}`,
    terminal_id: null,
    currency: 'EUR',
    is_recurring: false,
    ip_country: null,
    user_agent_hash: null,
  };
  sample.columns.forEach((column, c) => {
    if (column !== 'score') event[column] = row[c] as string | number;
  });
  return event;
}

function apply(change: ChangeTruth, event: ProfileEvent, random: () => number): void {
  const value = event[change.column];
  switch (change.kind) {
    case 'new-category':
      if (random() < (change.share as number)) event[change.column] = change.value as string;
      break;
    case 'column-null':
      if (random() < (change.share as number)) event[change.column] = null;
      break;
    default: {
      let moved = (value as number) + (change.add as number);
      if (INTEGER_COLUMNS.has(change.column)) moved = Math.round(moved);
      // merchant_risk_score is an Avro float: keep it float32-exact.
      if (change.column === 'merchant_risk_score') moved = Math.fround(Math.min(1, moved));
      event[change.column] = moved;
    }
  }
}

/** The scenario's events in event-time order, each change applied over its interval. */
export function* changeEvents(scenario: ChangeScenario, sample = trainingSample()): Generator<ProfileEvent> {
  const random = seededRandom(scenario.seed);
  const positives = positiveRows(sample);
  const step = scenario.windowMs / scenario.eventsPerWindow;
  const total = scenario.windows * scenario.eventsPerWindow;
  for (let k = 0; k < total; k += 1) {
    const time = scenario.start + Math.floor(k * step);
    const mix = scenario.changes.find((c) => c.kind === 'positive-rate-50' && time >= c.from && time < c.to);
    const event = mix && random() < (mix.share as number) ? drawEvent(random, sample, time, k, positives) : drawEvent(random, sample, time, k);
    for (const change of scenario.changes) if (change.kind !== 'positive-rate-50' && time >= change.from && time < change.to) apply(change, event, random);
    yield event;
  }
}

/**
 * The two-change stream of test/support/drift-scenario.ts (a new category, a numeric column
 * multiplied), drawn from held-out events instead of column by column: for tests that score
 * with the real model, whose scores of independently drawn columns would not follow training.
 */
export function jointScenarioEvents(scenario: {
  readonly windowMs: number;
  readonly start: number;
  readonly windows: number;
  readonly eventsPerWindow: number;
  readonly unknown: { readonly column: string; readonly value: string; readonly share: number; readonly from: number };
  readonly shift: { readonly column: string; readonly factor: number; readonly from: number };
}, seed = 11): ProfileEvent[] {
  const random = seededRandom(seed);
  const sample = trainingSample();
  const events: ProfileEvent[] = [];
  const total = scenario.windows * scenario.eventsPerWindow;
  const step = scenario.windowMs / scenario.eventsPerWindow;
  for (let k = 0; k < total; k += 1) {
    const time = scenario.start + Math.floor(k * step);
    const event = drawEvent(random, sample, time, k);
    if (time >= scenario.unknown.from && random() < scenario.unknown.share) event[scenario.unknown.column] = scenario.unknown.value;
    if (time >= scenario.shift.from) event[scenario.shift.column] = Math.round((event[scenario.shift.column] as number) * scenario.shift.factor * 100) / 100;
    events.push(event);
  }
  return events;
}
