import { ServiceError } from '../../errors';
import type { Manifest, ManifestColumn, StoreMissingPolicy, StoreUnavailablePolicy } from '../../model/manifest';

/**
 * Where the values of store-backed columns live in an enriched event: a top-level key no Avro
 * field can have (Avro names match [A-Za-z_][A-Za-z0-9_]*), so an event field can never be
 * mistaken for a store value, and the check stage reads both through the same path lookup.
 */
export const STORE_ROOT = '$store';

/** A key template split into literal text and event field paths, e.g. card:{card_id}. */
export interface KeyTemplate {
  readonly text: string;
  readonly parts: readonly (string | { readonly field: string; readonly path: readonly string[] })[];
}

/** One feature read from the online store, as the enrich stage follows it. */
export interface StoreFeature {
  readonly name: string;
  /** The event field holding the entity id. */
  readonly entity: { readonly field: string; readonly path: readonly string[] };
  readonly key: KeyTemplate;
  /** Hash field of the value. */
  readonly hashField: string;
  readonly type: 'double' | 'long';
  /** Hash field with the epoch milliseconds of the value, and the oldest value accepted. */
  readonly freshness?: { readonly updatedAtField: string; readonly maxAgeMs: number };
  readonly unavailable: StoreUnavailablePolicy;
  readonly missing: StoreMissingPolicy;
  readonly default?: number;
}

export interface StorePlan {
  /** Empty when the model reads nothing from a store. */
  readonly features: readonly StoreFeature[];
  /** Event fields the keys are built from: the decoder must provide them. */
  readonly eventPaths: readonly (readonly string[])[];
}

export const NO_STORE: StorePlan = { features: [], eventPaths: [] };

const PLACEHOLDER = /\{([^{}]*)\}/g;
const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Splits a key template; throws a message naming what is wrong with it. */
export function parseKeyTemplate(text: string): KeyTemplate {
  const parts: KeyTemplate['parts'][number][] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    const field = match[1] as string;
    if (!PATH.test(field)) throw new Error(`placeholder {${field}} is not a field path (letters, digits, _ and dots)`);
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push({ field, path: field.split('.') });
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  if (!parts.some((p) => typeof p !== 'string')) throw new Error('has no {field} placeholder: every entity would read the same key');
  const literal = parts.filter((p): p is string => typeof p === 'string').join('');
  if (literal.includes('{') || literal.includes('}')) throw new Error('has an unmatched { or }');
  return { text, parts };
}

/**
 * The key of one event, or undefined with the field at fault when a placeholder's value is
 * absent or null (the event cannot name its entity) or not a string or whole number.
 */
export function renderKey(template: KeyTemplate, valueAt: (path: readonly string[]) => unknown): { key: string } | { field: string; value: unknown } {
  let key = '';
  for (const part of template.parts) {
    if (typeof part === 'string') {
      key += part;
      continue;
    }
    const value = valueAt(part.path);
    if (typeof value === 'string') key += value;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) key += String(value);
    else return { field: part.field, value };
  }
  return { key };
}

/**
 * The store part of the feature plan, from the manifest's `store.features` and the columns
 * that read them (`source: store`). Everything that does not fit is said at once.
 */
export function planStore(manifest: Manifest | undefined, storeColumns: readonly ManifestColumn[], source: string): StorePlan {
  const declared = manifest?.store?.features ?? {};
  const problems: string[] = [];
  const used = new Set(storeColumns.map((c) => c.field));
  for (const column of storeColumns) {
    if (!(column.field in declared)) problems.push(`${source}: a column reads store feature "${column.field}", which store.features does not declare (it has ${Object.keys(declared).join(', ') || 'none'})`);
  }
  const features: StoreFeature[] = [];
  const eventPaths = new Map<string, readonly string[]>();
  for (const [name, spec] of Object.entries(declared)) {
    const where = `${source}: store.features.${name}`;
    if (!used.has(name)) problems.push(`${where} is declared but no column reads it (add \`- {field: ${name}, source: store}\` where the model takes it, or remove it)`);
    let key: KeyTemplate | undefined;
    try {
      key = parseKeyTemplate(spec.key);
    } catch (error) {
      problems.push(`${where}.key "${spec.key}" ${(error as Error).message}`);
    }
    if (key && !key.parts.some((p) => typeof p !== 'string' && p.field === spec.entity)) problems.push(`${where}.key "${spec.key}" does not contain {${spec.entity}}, its entity field`);
    const unavailable = spec.unavailable ?? 'wait';
    const missing = spec.missing ?? 'dead-letter';
    const type = spec.type ?? 'double';
    if ((unavailable === 'default' || missing === 'default') && spec.default === undefined) problems.push(`${where} has ${unavailable === 'default' ? 'unavailable' : 'missing'}: default but no \`default\` value`);
    if (spec.default !== undefined && unavailable !== 'default' && missing !== 'default') problems.push(`${where} has \`default\` but neither unavailable nor missing is default`);
    if (spec.default !== undefined && type === 'long' && !Number.isInteger(spec.default)) problems.push(`${where} has type long but default ${spec.default}`);
    if (spec.max_age_ms !== undefined && spec.updated_at_field === undefined) problems.push(`${where} has max_age_ms but no updated_at_field (the hash field with the value's epoch milliseconds)`);
    if (spec.updated_at_field !== undefined && spec.max_age_ms === undefined) problems.push(`${where} has updated_at_field but no max_age_ms`);
    if (!key) continue;
    for (const part of key.parts) if (typeof part !== 'string') eventPaths.set(part.field, part.path);
    features.push(
      Object.assign(
        { name, entity: { field: spec.entity, path: spec.entity.split('.') }, key, hashField: spec.field, type, unavailable, missing },
        spec.default !== undefined ? { default: spec.default } : {},
        spec.updated_at_field !== undefined && spec.max_age_ms !== undefined ? { freshness: { updatedAtField: spec.updated_at_field, maxAgeMs: spec.max_age_ms } } : {},
      ),
    );
  }
  if (problems.length > 0) throw new ServiceError('CONTRACT_MISMATCH', problems.join('; '));
  return { features, eventPaths: [...eventPaths.values()] };
}
