import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import YAML from 'yaml';
import manifestSchema from '../../schemas/model-manifest.schema.json';
import { ServiceError } from '../errors';

/**
 * The model manifest: how event fields feed the graph and what its outputs mean, written by the
 * data scientist next to the model (docs/model-handover.md). Plain data, validated against
 * schemas/model-manifest.schema.json, the one definition of the format.
 */
export type MissingPolicy = 'dead-letter' | 'nan' | 'default';
export type UnknownPolicy = 'dead-letter' | 'score-and-flag';

export interface ManifestColumn {
  readonly field: string;
  readonly kind?: 'numeric' | 'categorical';
  readonly codes?: Readonly<Record<string, number>>;
  readonly missing?: MissingPolicy;
  readonly default?: number | string | boolean;
  readonly unknown?: UnknownPolicy;
  readonly unknown_code?: number | 'nan';
  /** store: `field` names a feature of `store.features`, looked up in the online feature store per batch. */
  readonly source?: 'event' | 'store';
}

export interface ManifestInput extends Partial<ManifestColumn> {
  readonly name: string;
  readonly columns?: readonly ManifestColumn[];
}

export interface ManifestOutput {
  readonly kind?: 'classifier' | 'regressor' | 'probability';
  readonly scores?: string;
  readonly label?: string;
  readonly classes?: readonly (string | number)[];
  readonly positive_class?: string | number;
  readonly transform?: 'none' | 'sigmoid';
}

/** What a store that cannot be asked does to the events that need the feature. */
export type StoreUnavailablePolicy = 'wait' | 'dead-letter' | 'default';
/** What no value (or a stale one) for an entity does. */
export type StoreMissingPolicy = 'dead-letter' | 'default';

/** One feature of the online feature store (docs/feature-store.md). */
export interface ManifestStoreFeature {
  readonly entity: string;
  readonly key: string;
  readonly field: string;
  readonly type?: 'double' | 'long';
  readonly updated_at_field?: string;
  readonly max_age_ms?: number;
  readonly unavailable?: StoreUnavailablePolicy;
  readonly missing?: StoreMissingPolicy;
  readonly default?: number;
}

export interface ManifestStore {
  readonly features: Readonly<Record<string, ManifestStoreFeature>>;
}

export interface Manifest {
  readonly name?: string;
  readonly version?: string;
  readonly inputs?: readonly ManifestInput[];
  readonly output?: ManifestOutput;
  readonly store?: ManifestStore;
}

export interface LoadedManifest {
  readonly path: string;
  readonly manifest: Manifest;
}

const DEFAULT_NAMES = ['manifest.yaml', 'manifest.yml', 'manifest.json'];

/** The manifest a model uses: MODEL_MANIFEST, else manifest.{yaml,yml,json} in the model's folder, else none. */
export function findManifest(modelPath: string, configured: string | undefined): string | undefined {
  if (configured !== undefined) return configured;
  const found = DEFAULT_NAMES.map((name) => join(dirname(modelPath), name)).filter((path) => existsSync(path));
  if (found.length > 1) {
    throw new ServiceError('MANIFEST_INVALID', `${found.join(' and ')} are both next to MODEL_PATH=${modelPath}; keep one, or name it with MODEL_MANIFEST`);
  }
  return found[0];
}

let validator: ReturnType<Ajv['compile']> | undefined;

function where(error: ErrorObject): string {
  // /inputs/0/columns/2/missing -> inputs[0].columns[2].missing
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('')
    .replace(/^\./, '');
  return path === '' ? '(top level)' : path;
}

function describe(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `${where(error)}: unknown key "${String(params.additionalProperty)}"`;
  if (error.keyword === 'enum') return `${where(error)}: must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
  if (error.keyword === 'required') return `${where(error)}: "${String(params.missingProperty)}" is required`;
  return `${where(error)}: ${error.message ?? error.keyword}`;
}

/** Validates parsed manifest data; every problem is named by its path in the file. */
export function validateManifest(data: unknown, path: string): Manifest {
  validator ??= new Ajv({ allErrors: true, strict: false }).compile(manifestSchema);
  if (validator(data)) return data as Manifest;
  // oneOf branches repeat what their members said: keep the most specific messages.
  const errors = (validator.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'not' && e.keyword !== 'anyOf');
  const messages = [...new Set((errors.length > 0 ? errors : (validator.errors ?? [])).map(describe))];
  const inputShape = (validator.errors ?? []).some((e) => e.keyword === 'oneOf' && /^\/inputs\/\d+$/.test(e.instancePath));
  if (inputShape) messages.push('each input gives either `columns` (an [N, F] input) or `field` and the column keys inline (an [N, 1] input), not both');
  throw new ServiceError('MANIFEST_INVALID', `${path}: ${messages.join('; ')} (format: schemas/model-manifest.schema.json, docs/model-handover.md)`);
}

/** Reads and validates a manifest file (YAML or JSON: JSON is YAML). */
export function loadManifest(path: string): LoadedManifest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ServiceError('MANIFEST_INVALID', `MODEL_MANIFEST=${path}: cannot read it (${e.code ?? e.message})`, { cause: error });
  }
  let data: unknown;
  try {
    data = YAML.parse(text, { uniqueKeys: true });
  } catch (error) {
    throw new ServiceError('MANIFEST_INVALID', `${path}: not valid YAML/JSON (${(error as Error).message})`, { cause: error });
  }
  if (data === null || data === undefined) data = {};
  return { path, manifest: validateManifest(data, path) };
}
