import { ServiceError } from '../errors';
import type { GraphInput, TensorElement } from '../model/graph';
import type { Manifest, ManifestColumn, MissingPolicy, UnknownPolicy } from '../model/manifest';
import { NO_STORE, STORE_ROOT, type StorePlan, planStore } from './store/plan';

/**
 * The feature plan: for every graph input, and every column of an [N, F] input, which event
 * field feeds it and how. Built once at start-up from the graph and the manifest; the check stage
 * follows it for every event. Without a manifest, graph input name = top-level field name.
 */
export type FeedElement = 'string' | 'float' | 'double' | 'int64' | 'int32' | 'bool';

export interface FeatureColumn {
  /** Feature name in logs, metrics, drift and dead letters: the field path, e.g. merchant.country. */
  readonly name: string;
  /** The field path split at dots; for a store feature, [STORE_ROOT, name] (the enrich stage puts it there). */
  readonly path: readonly string[];
  /** event: read from the Avro record; store: looked up in the online feature store by the enrich stage. */
  readonly source: 'event' | 'store';
  readonly kind: 'numeric' | 'categorical';
  /** Index of the tensor it feeds in FeaturePlan.tensors, and its column there. */
  readonly tensor: number;
  readonly column: number;
  readonly element: FeedElement;
  /** Categories the model knows; undefined when neither graph nor manifest says. */
  readonly categories?: ReadonlySet<string>;
  /** True when every known category is an integer's text (int64 encoder keys): int and long values are then categories too. */
  readonly integerCategories: boolean;
  /** Where the categories come from: an encoder op type, or "manifest codes". */
  readonly categoriesFrom?: string;
  /** Category -> code, for a categorical column fed into a numeric tensor. */
  readonly codes?: ReadonlyMap<string, number>;
  readonly missing: MissingPolicy;
  /** What is fed for a missing value under missing: nan (NaN) or default. */
  readonly missingValue?: number | string;
  readonly unknown: UnknownPolicy;
  /** What is fed for an unknown category under score-and-flag when the column has codes. */
  readonly unknownCode?: number;
}

export interface TensorFeed {
  readonly name: string;
  readonly element: FeedElement;
  /** 1 for [N] inputs, 2 for [N, F]. */
  readonly rank: number;
  readonly width: number;
  readonly columns: readonly FeatureColumn[];
}

export interface FeaturePlan {
  readonly tensors: readonly TensorFeed[];
  /** Every column of every tensor, in tensor then column order. */
  readonly columns: readonly FeatureColumn[];
  /** Features looked up in the online store per batch (empty without `store:` in the manifest). */
  readonly store: StorePlan;
  /** Every event field path the model reads: event columns and the fields store keys are built from. */
  readonly eventPaths: readonly (readonly string[])[];
}

const FEEDABLE = new Set<TensorElement>(['string', 'float', 'double', 'int64', 'int32', 'bool']);

function columnsOf(input: GraphInput, manifest: Manifest | undefined): { columns: readonly ManifestColumn[]; fromManifest: boolean } {
  const entry = manifest?.inputs?.find((i) => i.name === input.name);
  if (entry?.columns) return { columns: entry.columns, fromManifest: true };
  if (entry?.field) return { columns: [entry as ManifestColumn], fromManifest: true };
  return { columns: [{ field: input.name }], fromManifest: false };
}

function planColumn(input: GraphInput, element: FeedElement, spec: ManifestColumn, tensor: number, column: number, where: string): FeatureColumn {
  const problems: string[] = [];
  const fromStore = spec.source === 'store';
  if (fromStore) {
    // A store value is a number, and what happens without one is the store feature's own policy.
    for (const key of ['kind', 'codes', 'missing', 'default', 'unknown', 'unknown_code'] as const) {
      if (spec[key] !== undefined) problems.push(`reads store feature "${spec.field}" and cannot have \`${key}\` (a store feature is numeric; give default and missing under store.features.${spec.field})`);
    }
    if (element === 'string') problems.push('reads a store feature (a number) but the tensor is string');
  }
  const numericTensor = element !== 'string';
  const kind = spec.kind ?? (spec.codes || !numericTensor ? 'categorical' : 'numeric');
  if (kind === 'numeric' && !numericTensor) problems.push(`is numeric but the tensor is string; feed it from a string field as kind: categorical, or export the model with a numeric input`);
  if (kind === 'categorical' && numericTensor && !spec.codes) problems.push(`is categorical but the tensor is ${element}: give \`codes\` (category -> the code the model was trained on)`);
  if (spec.codes && !numericTensor) problems.push('has `codes` but the tensor is string: the graph encodes the categories itself, remove `codes`');
  if (spec.codes && kind === 'numeric') problems.push('has `codes` but kind: numeric; codes are for categorical columns');
  const integral = element === 'int64' || element === 'int32' || element === 'bool';
  if (spec.codes && integral) {
    const fractional = Object.entries(spec.codes).filter(([, code]) => !Number.isInteger(code));
    if (fractional.length > 0) problems.push(`has codes that are not integers for an ${element} tensor: ${fractional.slice(0, 3).map(([c, v]) => `${c}: ${v}`).join(', ')}`);
  }

  const known = input.categories.get(column);
  const codes = spec.codes ? new Map(Object.entries(spec.codes)) : undefined;
  const categories = codes ? new Set(codes.keys()) : known?.categories;
  const categoriesFrom = codes ? 'manifest codes' : known?.from;

  const missing = spec.missing ?? 'dead-letter';
  let missingValue: number | string | undefined;
  if (spec.default !== undefined && missing !== 'default') problems.push('has `default` but missing is not default; set missing: default to use it');
  if (missing === 'nan') {
    if (element !== 'float' && element !== 'double') problems.push(`has missing: nan but the tensor is ${element}, which has no NaN; use missing: default or dead-letter`);
    missingValue = Number.NaN;
  } else if (missing === 'default') {
    const value = spec.default;
    if (value === undefined) problems.push('has missing: default but no `default` value');
    else if (kind === 'categorical') {
      if (typeof value !== 'string') problems.push(`has default ${JSON.stringify(value)}, but a categorical default is a category (a string)`);
      else if (categories && !categories.has(value)) problems.push(`has default "${value}", which is not a category the model knows (${categoriesFrom})`);
      else missingValue = codes ? (codes.get(value) as number) : value;
    } else if (typeof value === 'string') problems.push(`has default "${value}", but a numeric default is a number`);
    else if (integral && !Number.isInteger(Number(value))) problems.push(`has default ${value}, but the tensor is ${element}: give an integer`);
    else missingValue = Number(value);
  }

  const unknown = spec.unknown ?? 'dead-letter';
  let unknownCode: number | undefined;
  if (spec.unknown_code !== undefined && unknown !== 'score-and-flag') problems.push('has `unknown_code` but unknown is not score-and-flag; set unknown: score-and-flag to use it');
  if (unknown === 'score-and-flag') {
    if (kind !== 'categorical') problems.push('has unknown: score-and-flag, which is for categorical columns');
    else if (codes) {
      if (spec.unknown_code === undefined) problems.push('has unknown: score-and-flag and codes: give `unknown_code`, the code the model was trained to read as "unknown" (e.g. -1, or nan for tree models that treat NaN as missing)');
      else if (spec.unknown_code === 'nan') {
        if (element !== 'float' && element !== 'double') problems.push(`has unknown_code: nan but the tensor is ${element}, which has no NaN`);
        unknownCode = Number.NaN;
      } else unknownCode = spec.unknown_code;
    }
  }
  if (problems.length > 0) throw new ServiceError('CONTRACT_MISMATCH', problems.map((p) => `${where} (field ${spec.field}) ${p}`).join('; '));

  const integerCategories = categories !== undefined && categories.size > 0 && [...categories].every((c) => /^-?\d+$/.test(c));
  const path = fromStore ? [STORE_ROOT, spec.field] : spec.field.split('.');
  const column_: FeatureColumn = { name: spec.field, path, source: fromStore ? 'store' : 'event', kind, tensor, column, element, integerCategories, missing, unknown };
  return Object.assign(
    column_,
    categories ? { categories, categoriesFrom } : {},
    codes ? { codes } : {},
    missingValue !== undefined ? { missingValue } : {},
    unknownCode !== undefined ? { unknownCode } : {},
  );
}

/** Builds the plan, or says at once everything about the graph and manifest that does not fit. */
export function planFeatures(inputs: readonly GraphInput[], manifest: Manifest | undefined, manifestPath: string | undefined): FeaturePlan {
  const source = manifestPath ?? 'the model (no manifest)';
  const problems: string[] = [];
  const graphNames = new Set(inputs.map((i) => i.name));
  for (const entry of manifest?.inputs ?? []) {
    if (!graphNames.has(entry.name)) problems.push(`${source}: input "${entry.name}" is not a graph input (the graph has ${[...graphNames].join(', ')})`);
  }
  const tensors: TensorFeed[] = [];
  const columns: FeatureColumn[] = [];
  for (const input of inputs) {
    const where = `model input "${input.name}"`;
    if (!FEEDABLE.has(input.element)) {
      problems.push(`${where} has tensor type ${input.element}; supported: string, float, double, int64, int32, bool`);
      continue;
    }
    const element = input.element as FeedElement;
    if (input.rank !== 1 && input.rank !== 2) {
      problems.push(`${where} has rank ${input.rank}; stream-scorer feeds [N] and [N, F] inputs`);
      continue;
    }
    const { columns: specs, fromManifest } = columnsOf(input, manifest);
    const width = input.rank === 1 ? 1 : input.width;
    if (width !== undefined && specs.length !== width) {
      problems.push(
        fromManifest
          ? `${source}: input "${input.name}" lists ${specs.length} columns, but the graph input is [N, ${width}]: list every column, in order`
          : `${where} is [N, ${width}]: the graph does not name its columns, so the manifest must list them (inputs: - name: ${input.name} columns: - field: ...; see docs/model-handover.md)`,
      );
      continue;
    }
    if (width === undefined && !fromManifest) {
      problems.push(`${where} has an open second dimension [N, ?]: list its columns in the manifest`);
      continue;
    }
    const tensor = tensors.length;
    const planned: FeatureColumn[] = [];
    specs.forEach((spec, column) => {
      try {
        planned.push(planColumn(input, element, spec, tensor, column, specs.length > 1 ? `column ${column} of ${where}` : where));
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
        problems.push(error.message.replace(/^CONTRACT_MISMATCH: /, ''));
      }
    });
    tensors.push({ name: input.name, element, rank: input.rank, width: specs.length, columns: planned });
    columns.push(...planned);
  }
  const storeColumns = (manifest?.inputs ?? []).flatMap((i) => i.columns ?? (i.field !== undefined ? [i as ManifestColumn] : [])).filter((c) => c.source === 'store');
  let store = NO_STORE;
  try {
    if (storeColumns.length > 0 || manifest?.store) store = planStore(manifest, storeColumns, source);
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    problems.push(error.message.replace(/^CONTRACT_MISMATCH: /, ''));
  }
  if (problems.length > 0) throw new ServiceError('CONTRACT_MISMATCH', problems.join('; '));
  const eventPaths = new Map<string, readonly string[]>();
  for (const column of columns) if (column.source === 'event') eventPaths.set(column.path.join('.'), column.path);
  for (const path of store.eventPaths) eventPaths.set(path.join('.'), path);
  return { tensors, columns, store, eventPaths: [...eventPaths.values()] };
}
