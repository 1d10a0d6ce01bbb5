import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../../src/demo/synthetic';
import { ROOT } from './model';

/**
 * Events whose model inputs follow the training profile column by column (each drawn on its
 * own: the marginals match the profile, the joint distribution does not), and scores drawn
 * from the profile's score distribution. A stream with no drift, into which a test injects
 * one on purpose.
 */
export const PROFILE_PATH = join(ROOT, 'models/card-fraud/profile.json');

interface RawNumeric {
  type: 'numeric';
  min: number;
  max: number;
  bin_edges: number[];
  bin_shares: number[];
}
interface RawCategorical {
  type: 'categorical';
  categories: Record<string, { share: number }>;
}
interface RawProfile {
  features: Record<string, RawNumeric | RawCategorical>;
  prediction: { bin_edges: number[]; bin_shares: number[] };
}

let scoresCache: number[] | undefined;
function heldOutScores(): number[] {
  if (!scoresCache) {
    const path = join(ROOT, 'models/card-fraud/sample.json');
    scoresCache = [];
    if (existsSync(path)) {
      const sample = JSON.parse(readFileSync(path, 'utf8')) as { columns: string[]; rows: (string | number)[][] };
      const at = sample.columns.indexOf('score');
      if (at >= 0) scoresCache = sample.rows.map((row) => row[at] as number);
    }
  }
  return scoresCache;
}

/** Avro int/long model inputs: drawn as integers. */
const INTEGER_COLUMNS = new Set(['account_age_days', 'txn_count_24h', 'seconds_since_last_txn']);

function pickIndex(random: () => number, shares: readonly number[]): number {
  const total = shares.reduce((a, b) => a + b, 0);
  let u = random() * total;
  for (let i = 0; i < shares.length; i += 1) {
    u -= shares[i] as number;
    if (u < 0) return i;
  }
  return shares.length - 1;
}

export type ProfileEvent = Record<string, string | number | boolean | null>;

export class ProfileSampler {
  private readonly profile: RawProfile;
  readonly random: () => number;
  private sequence = 0;

  constructor(seed = 7) {
    this.profile = JSON.parse(readFileSync(PROFILE_PATH, 'utf8')) as RawProfile;
    this.random = seededRandom(seed);
  }

  value(column: string): string | number {
    const feature = this.profile.features[column];
    if (!feature) throw new Error(`no profile for ${column}`);
    const r = this.random;
    if (feature.type === 'categorical') {
      const names = Object.keys(feature.categories);
      return names[pickIndex(r, names.map((n) => (feature.categories[n] as { share: number }).share))] as string;
    }
    const edges = feature.bin_edges;
    const bin = pickIndex(r, feature.bin_shares);
    // Bin 0: [min, e0]; bin i: (e[i-1], e[i]]; last: (e[last], max].
    const lo = bin === 0 ? feature.min : (edges[bin - 1] as number);
    const hi = bin === edges.length ? feature.max : (edges[bin] as number);
    if (INTEGER_COLUMNS.has(column)) {
      const first = bin === 0 ? Math.ceil(lo) : Math.floor(lo) + 1;
      const last = Math.max(first, Math.floor(hi));
      return first + Math.floor(r() * (last - first + 1));
    }
    if (bin === 0) return lo + r() * (hi - lo);
    // Strictly above the lower edge, at most the upper one; float32 for the float column.
    let v = hi - r() * (hi - lo);
    if (v <= lo) v = hi;
    if (column === 'merchant_risk_score') {
      v = Math.fround(v);
      if (v <= lo || v > hi) v = Math.fround(hi);
    }
    return v;
  }

  /** A full PaymentEvent (all 20 Avro fields) at `time` (epoch ms). */
  event(time: number): ProfileEvent {
    this.sequence += 1;
    const r = this.random;
    const event: ProfileEvent = {
      event_id: `evt-${this.sequence}-${Math.floor(r() * 1e9)}`,
      event_time: time,
      card_id: `card-${Math.floor(r() * 1e6)}`,
      merchant_id: `m-${Math.floor(r() * 3_000)}`,
      terminal_id: null,
      currency: 'EUR',
      is_recurring: false,
      ip_country: null,
      user_agent_hash: null,
    };
    for (const column of Object.keys(this.profile.features)) event[column] = this.value(column);
    return event;
  }

  /**
   * A score drawn from the model's scores of held-out events (sample.json), so it follows the
   * training score distribution in the tail too; from the profile's equal-width histogram when
   * there is no sample.
   */
  score(): number {
    const scores = heldOutScores();
    if (scores.length > 0) return scores[Math.floor(this.random() * scores.length)] as number;
    const { bin_edges: edges, bin_shares: shares } = this.profile.prediction;
    const bin = pickIndex(this.random, shares);
    const lo = edges[bin] as number;
    const hi = edges[bin + 1] as number;
    return Math.min(lo + this.random() * (hi - lo), hi - 1e-6);
  }
}
