import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { onnx } from 'onnx-proto';
import { ServiceError } from '../errors';
import { type FeatureColumn, type FeaturePlan, planFeatures } from '../features/plan';
import { type GraphFacts, readGraph, unwrapZipMaps } from './graph';
import { sha256File } from './integrity';
import { type Manifest, findManifest, loadManifest } from './manifest';

export type { TensorElement } from './graph';
export type { FeatureColumn } from '../features/plan';

/**
 * What the model needs from an event and who it is: read from the ONNX graph and the model's
 * manifest (when there is one), not from a hand-written list in the service.
 */
export interface ModelContract {
  readonly name: string;
  readonly version: string;
  /** Where the version came from; "file hash" means nobody gave one. */
  readonly versionFrom: 'MODEL_VERSION' | 'manifest' | 'metadata' | 'model_version' | 'file hash';
  readonly metadata: Readonly<Record<string, string>>;
  readonly manifestPath: string | undefined;
  readonly manifest: Manifest | undefined;
  readonly graph: GraphFacts;
  readonly features: FeaturePlan;
  /** Every feature column; the same as features.columns. */
  readonly inputs: readonly FeatureColumn[];
  /** The graph onnxruntime loads: the file, or the file with its ZipMaps unwrapped. */
  readonly session: { readonly path: string; readonly bytes?: Uint8Array; readonly zipMapOutputs: ReadonlyMap<string, string> };
}

export interface ContractOptions {
  readonly name?: string;
  readonly version?: string;
  /** MODEL_MANIFEST; default: manifest.{yaml,yml,json} next to the model. */
  readonly manifestPath?: string;
}

/** A name for a model nobody named: the file name, or its folder for the usual model.onnx. */
function nameFromPath(modelPath: string): string {
  const file = basename(modelPath).replace(/\.onnx$/i, '');
  return file === 'model' || file === '' ? basename(dirname(modelPath)) || 'model' : file;
}

export function readContract(modelPath: string, options: ContractOptions = {}): ModelContract {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(readFileSync(modelPath));
  } catch (error) {
    throw new ServiceError('MODEL_INVALID', `MODEL_PATH=${modelPath}: not a readable ONNX model (${(error as Error).message})`, { cause: error });
  }
  let graph: GraphFacts;
  try {
    graph = readGraph(model);
  } catch (error) {
    throw new ServiceError('MODEL_INVALID', `MODEL_PATH=${modelPath}: ${(error as Error).message}`, { cause: error });
  }
  const manifestPath = findManifest(modelPath, options.manifestPath);
  const manifest = manifestPath ? loadManifest(manifestPath).manifest : undefined;
  const features = planFeatures(graph.inputs, manifest, manifestPath);

  let session: ModelContract['session'] = { path: modelPath, zipMapOutputs: new Map() };
  if (graph.outputs.some((o) => o.zipMap)) {
    const zipMapOutputs = unwrapZipMaps(model, graph);
    session = { path: modelPath, bytes: onnx.ModelProto.encode(model).finish(), zipMapOutputs };
  }

  const metadataVersion = graph.metadata.model_version;
  let version: string;
  let versionFrom: ModelContract['versionFrom'];
  if (options.version !== undefined) [version, versionFrom] = [options.version, 'MODEL_VERSION'];
  else if (manifest?.version !== undefined) [version, versionFrom] = [manifest.version, 'manifest'];
  else if (metadataVersion) [version, versionFrom] = [metadataVersion, 'metadata'];
  else if (graph.modelVersion > 0) [version, versionFrom] = [String(graph.modelVersion), 'model_version'];
  // Never a made-up number: the file's own hash names exactly what scored.
  else [version, versionFrom] = [`sha256-${sha256File(modelPath).slice(0, 12)}`, 'file hash'];

  return {
    name: options.name ?? manifest?.name ?? graph.metadata.model_name ?? nameFromPath(modelPath),
    version,
    versionFrom,
    metadata: graph.metadata,
    manifestPath,
    manifest,
    graph,
    features,
    inputs: features.columns,
    session,
  };
}
