import type { ModelContract } from '../model/contract';

/**
 * Synthetic payment events for the demo, the tests and the benchmark. Valid events draw
 * categories from the model contract; bad ones break it in one of the ways production does.
 */
export type BadKind = 'unknown-category' | 'missing-field' | 'non-finite' | 'corrupt-bytes';
export const BAD_KINDS: readonly BadKind[] = ['unknown-category', 'missing-field', 'non-finite', 'corrupt-bytes'];

export type PaymentEvent = Record<string, string | number | boolean | null>;

/** Small, fast, seeded PRNG (mulberry32): reproducible streams without a dependency. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function hex(random: () => number, length: number): string {
  let out = '';
  while (out.length < length) out += Math.floor(random() * 0x100000000).toString(16).padStart(8, '0');
  return out.slice(0, length);
}

function uuid(random: () => number): string {
  const h = hex(random, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class EventFactory {
  private readonly categories: Map<string, readonly string[]>;

  constructor(
    contract: ModelContract,
    private readonly random: () => number = seededRandom(42),
  ) {
    this.categories = new Map(contract.inputs.filter((i) => i.categories).map((i) => [i.name, [...(i.categories as ReadonlySet<string>)]]));
  }

  category(column: string, fallback: readonly string[]): string {
    return pick(this.random, this.categories.get(column) ?? fallback);
  }

  valid(now = Date.now()): PaymentEvent {
    const r = this.random;
    const avg = Math.round((20 + r() * 180) * 100) / 100;
    return {
      event_id: uuid(r),
      event_time: now,
      card_id: `card-${hex(r, 10)}`,
      merchant_id: `m-${Math.floor(r() * 50_000)}`,
      terminal_id: r() < 0.7 ? `t-${Math.floor(r() * 1_000_000)}` : null,
      currency: pick(r, ['EUR', 'USD', 'GBP', 'CHF']),
      amount: Math.round(avg * (0.2 + r() * (r() < 0.05 ? 20 : 2)) * 100) / 100,
      merchant_category: this.category('merchant_category', ['grocery']),
      channel: this.category('channel', ['pos']),
      country: this.category('country', ['DE']),
      card_type: this.category('card_type', ['debit']),
      account_age_days: Math.floor(r() * 3650),
      txn_count_24h: Math.floor(r() * r() * 20),
      avg_amount_30d: avg,
      distance_from_home_km: Math.round(r() * r() * 500 * 10) / 10,
      seconds_since_last_txn: Math.floor(r() * 86_400 * 3),
      merchant_risk_score: Math.round(r() * r() * 1000) / 1000,
      is_recurring: r() < 0.1,
      ip_country: r() < 0.5 ? this.category('country', ['DE']) : null,
      user_agent_hash: r() < 0.5 ? hex(r, 16) : null,
    };
  }

  /** A bad event as an object (its bytes are made by the caller), or corrupt bytes. */
  bad(kind: Exclude<BadKind, 'corrupt-bytes'>, now = Date.now()): PaymentEvent {
    const event = this.valid(now);
    switch (kind) {
      case 'unknown-category':
        event.channel = pick(this.random, ['crypto_atm', 'voice_assistant', 'smart_fridge']);
        break;
      case 'missing-field':
        if (this.random() < 0.5) event.merchant_category = null;
        else event.distance_from_home_km = null;
        break;
      case 'non-finite':
        event.amount = pick(this.random, [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
        break;
    }
    return event;
  }

  corruptBytes(valid: Buffer): Buffer {
    // Cut the event short: the classic "truncated buffer" of a producer that died mid-write.
    if (this.random() < 0.5) return valid.subarray(0, Math.max(1, Math.floor(valid.length / 3)));
    return Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), valid]); // Confluent framing the scorer was not told about
  }

  badKind(): BadKind {
    return pick(this.random, BAD_KINDS);
  }
}
