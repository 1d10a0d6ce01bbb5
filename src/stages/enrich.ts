import { type Rejection, reject } from '../errors';
import { valueAt } from '../features/path';
import { type BatchLookup, type FeatureStoreUnavailableError, type KeyRequest, type LookupStats, isFeatureStoreUnavailable } from '../features/store/lookup';
import { STORE_ROOT, type StoreFeature, type StorePlan, renderKey } from '../features/store/plan';
import type { InputEvent } from './decode';

/**
 * The enrich stage: the features a model reads from the online store, looked up for a whole
 * batch in one round trip (every distinct key once, every hash field it is asked for at once),
 * then given to each event under STORE_ROOT where the check stage reads them like any field.
 * Plain data in and out; the store is the injected `lookup`. Only the pipeline routes rejections.
 */
export interface EnrichedBatch {
  /** The events, with their store values under STORE_ROOT (copies: the decoded events are not changed). */
  readonly events: (InputEvent | undefined)[];
  readonly rejections: (Rejection | undefined)[];
  /** By batch index: flags of a store default fed (FEATURE_MISSING:<name>, FEATURE_UNAVAILABLE:<name>). Sparse. */
  readonly flags: ReadonlyMap<number, readonly string[]>;
  /** By batch index: every store feature value the event will be scored with (defaults included). */
  readonly values: readonly (Readonly<Record<string, number>> | undefined)[];
  readonly stats: LookupStats;
  /** Set when the store could not be asked and no feature of the batch waits for it. */
  readonly unavailable?: FeatureStoreUnavailableError;
}

/** A stored text as the feature's type, or undefined when it is not one. */
export function parseStored(feature: Pick<StoreFeature, 'type'>, text: string): number | undefined {
  const trimmed = text.trim();
  if (feature.type === 'long') {
    if (!/^-?\d+$/.test(trimmed)) return undefined;
    const value = Number(trimmed);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

/** Why a found value cannot be used (stale, or not a number), or the value. */
export function judgeValue(feature: StoreFeature, raw: string | null, updatedAt: string | null | undefined, now: number): { value: number } | { missing: string } {
  if (raw === null) return { missing: 'no value' };
  if (feature.freshness) {
    const at = updatedAt === null || updatedAt === undefined ? undefined : parseStored({ type: 'double' }, updatedAt);
    if (at === undefined) return { missing: `no usable ${feature.freshness.updatedAtField} (the time of the value), so its age is unknown` };
    const age = now - at;
    if (age > feature.freshness.maxAgeMs) return { missing: `a value ${Math.round(age)} ms old, older than max_age_ms ${feature.freshness.maxAgeMs}` };
  }
  const value = parseStored(feature, raw);
  if (value === undefined) return { missing: `the value ${JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw)}, which is not a ${feature.type === 'long' ? 'whole number' : 'number'}` };
  return { value };
}

export async function enrichBatch(plan: StorePlan, events: readonly (InputEvent | undefined)[], earlier: readonly (Rejection | undefined)[], lookup: BatchLookup, now: number): Promise<EnrichedBatch> {
  const count = events.length;
  const rejections = earlier.slice();
  const flags = new Map<number, string[]>();
  const values = new Array<Record<string, number> | undefined>(count);
  const enriched = events.slice();
  if (plan.features.length === 0) return { events: enriched, rejections, flags, values, stats: { keys: 0, hits: 0, misses: 0 } };

  // Keys first: every distinct key once, with every hash field any feature wants from it.
  const wanted = new Map<string, Set<string>>();
  const keyOf: (string | undefined)[][] = plan.features.map(() => new Array<string | undefined>(count));
  for (let i = 0; i < count; i += 1) {
    const event = events[i];
    if (!event || rejections[i]) continue;
    for (let f = 0; f < plan.features.length; f += 1) {
      const feature = plan.features[f] as StoreFeature;
      const rendered = renderKey(feature.key, (path) => valueAt(event, path));
      if ('field' in rendered) {
        const { field, value } = rendered;
        rejections[i] =
          value === null || value === undefined
            ? reject('MISSING_FIELD', `"${field}" is ${value === null ? 'null' : 'absent'}, so store feature "${feature.name}" (key ${feature.key.text}) cannot be looked up`, field, value)
            : reject('WRONG_TYPE', `"${field}" must be a string or a whole number to build the key of store feature "${feature.name}", got ${typeof value}`, field, value);
        enriched[i] = undefined;
        break;
      }
      (keyOf[f] as (string | undefined)[])[i] = rendered.key;
      let fields = wanted.get(rendered.key);
      if (!fields) wanted.set(rendered.key, (fields = new Set()));
      fields.add(feature.hashField);
      if (feature.freshness) fields.add(feature.freshness.updatedAtField);
    }
  }
  const requests: KeyRequest[] = [...wanted].map(([key, fields]) => ({ key, fields: [...fields] }));
  let found: Map<string, Map<string, string | null>> | undefined;
  let unavailable: FeatureStoreUnavailableError | undefined;
  if (requests.length > 0) {
    try {
      const answers = await lookup(requests);
      found = new Map(requests.map((r, k) => [r.key, new Map(r.fields.map((field, j) => [field, answers[k]?.[j] ?? null]))]));
    } catch (error) {
      if (!isFeatureStoreUnavailable(error)) throw error;
      // An event that needs a feature whose policy is wait holds the whole batch: nothing of it may be
      // dead-lettered or committed for the store's sake.
      const waits = plan.features.some((feature, f) => feature.unavailable === 'wait' && (keyOf[f] as (string | undefined)[]).some((key, i) => key !== undefined && !rejections[i]));
      if (waits) throw error;
      unavailable = error;
    }
  }

  let hits = 0;
  let misses = 0;
  if (found) {
    // Per key and value field, not per event: the store was asked each once.
    const counted = new Set<string>();
    for (let f = 0; f < plan.features.length; f += 1) {
      const feature = plan.features[f] as StoreFeature;
      for (const key of new Set(keyOf[f])) {
        if (key === undefined || counted.has(`${key}\u0000${feature.hashField}`)) continue;
        counted.add(`${key}\u0000${feature.hashField}`);
        if ((found.get(key)?.get(feature.hashField) ?? null) === null) misses += 1;
        else hits += 1;
      }
    }
  }

  const flag = (i: number, text: string): void => {
    const list = flags.get(i);
    if (list) list.push(text);
    else flags.set(i, [text]);
  };
  for (let i = 0; i < count; i += 1) {
    const event = events[i];
    if (!event || rejections[i]) continue;
    const own: Record<string, number> = {};
    for (let f = 0; f < plan.features.length; f += 1) {
      const feature = plan.features[f] as StoreFeature;
      const key = (keyOf[f] as (string | undefined)[])[i] as string;
      if (!found) {
        if (feature.unavailable === 'default') {
          own[feature.name] = feature.default as number;
          flag(i, `FEATURE_UNAVAILABLE:${feature.name}`);
          continue;
        }
        rejections[i] = reject('FEATURE_UNAVAILABLE', `store feature "${feature.name}" could not be looked up (${unavailable?.message ?? 'store unavailable'})`, feature.name, key);
        break;
      }
      const answer = found.get(key);
      const judged = judgeValue(feature, answer?.get(feature.hashField) ?? null, feature.freshness ? (answer?.get(feature.freshness.updatedAtField) ?? null) : undefined, now);
      if ('value' in judged) {
        own[feature.name] = judged.value;
        continue;
      }
      if (feature.missing === 'default') {
        own[feature.name] = feature.default as number;
        flag(i, `FEATURE_MISSING:${feature.name}`);
        continue;
      }
      rejections[i] = reject('FEATURE_MISSING', `the store has ${judged.missing} for feature "${feature.name}" at ${key} ${feature.hashField}`, feature.name, key);
      break;
    }
    if (rejections[i]) {
      flags.delete(i);
      // As decode does: a rejected event is gone, so the check stage cannot overwrite its reason.
      enriched[i] = undefined;
      continue;
    }
    values[i] = own;
    enriched[i] = { ...event, [STORE_ROOT]: own };
  }
  return { events: enriched, rejections, flags, values, stats: { keys: requests.length, hits, misses }, ...(unavailable ? { unavailable } : {}) };
}
