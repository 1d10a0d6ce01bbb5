import { ServiceError } from '../errors';
import type { GraphOutput } from './graph';
import type { ManifestOutput } from './manifest';

/**
 * What the model's outputs mean: which one is scored, which one is the label, the class labels
 * of the probability columns and which class's probability is published as the score.
 */
export type OutputKind = 'classifier' | 'regressor' | 'probability';

export interface OutputPlan {
  readonly kind: OutputKind;
  /** Graph output (after ZipMaps are unwrapped) with the probabilities, the value or the probability. */
  readonly scores: string;
  /** Graph output with the predicted label; undefined: the most probable class. */
  readonly label: string | undefined;
  /** Labels of the probability columns (classifier, probability); [] for a regressor. */
  readonly classes: readonly string[];
  /** Index into classes of the class whose probability is the score; 0 for a regressor. */
  readonly positive: number;
  readonly transform: 'none' | 'sigmoid';
}

export interface OutputSettings {
  readonly scoreOutput?: string;
  readonly labelOutput?: string;
  readonly positiveClassIndex?: number;
}

/** The names the outputs go by once ZipMaps are unwrapped. */
export interface OutputNames {
  readonly scores: string;
  readonly label: string | undefined;
  /** The graph output as read (a ZipMap output before unwrapping), for messages and class labels. */
  readonly scoresOutput: GraphOutput;
}

const LABEL_ELEMENTS = new Set(['int64', 'int32', 'string']);

function isLabelLike(o: GraphOutput): boolean {
  return o.tensor && LABEL_ELEMENTS.has(o.element) && (o.rank === 1 || (o.rank === 2 && o.width === 1));
}

function describe(o: GraphOutput): string {
  if (o.zipMap) return `${o.name} (ZipMap over ${o.zipMap.tensor})`;
  if (!o.tensor) return `${o.name} (not a tensor)`;
  return `${o.name} (${o.element} [${o.rank === 1 ? 'N' : `N, ${o.width ?? '?'}`}])`;
}

/**
 * Chooses the score and label outputs: settings, then the manifest, then what the graph makes
 * plain (one ZipMap; an output named probabilities; one float output besides the label).
 */
export function chooseOutputs(outputs: readonly GraphOutput[], manifest: ManifestOutput | undefined, settings: OutputSettings, zipMapOutputs: ReadonlyMap<string, string>): OutputNames {
  const all = outputs.map(describe).join(', ');
  const byName = (name: string, source: string): GraphOutput => {
    const found = outputs.find((o) => o.name === name || (o.zipMap && o.zipMap.tensor === name));
    if (!found) throw new ServiceError('CONTRACT_MISMATCH', `${source}: the model has no output "${name}" (it has ${all})`);
    return found;
  };
  const scoreSource = settings.scoreOutput !== undefined ? `MODEL_SCORE_OUTPUT=${settings.scoreOutput}` : 'manifest output.scores';
  const named = settings.scoreOutput ?? manifest?.scores;
  let scoresOutput: GraphOutput;
  if (named !== undefined) scoresOutput = byName(named, scoreSource);
  else {
    const zipMaps = outputs.filter((o) => o.zipMap);
    const numeric = outputs.filter((o) => o.tensor && (o.element === 'float' || o.element === 'double'));
    const legacy = outputs.find((o) => o.name === 'probabilities' && o.tensor);
    const chosen = zipMaps.length === 1 ? zipMaps[0] : legacy ?? (numeric.length === 1 ? numeric[0] : undefined);
    if (!chosen) {
      throw new ServiceError(
        'CONTRACT_MISMATCH',
        `cannot tell which model output is the score (outputs: ${all}); name it in the manifest (output: {scores: <name>}) or with MODEL_SCORE_OUTPUT`,
      );
    }
    scoresOutput = chosen;
  }
  if (!scoresOutput.tensor && !scoresOutput.zipMap) {
    throw new ServiceError('CONTRACT_MISMATCH', `model output ${describe(scoresOutput)} is a sequence or map, which onnxruntime-node cannot return, and not a ZipMap stream-scorer can unwrap; export it as a tensor`);
  }
  const scores = zipMapOutputs.get(scoresOutput.name) ?? scoresOutput.name;

  let label: string | undefined;
  const labelNamed = settings.labelOutput ?? manifest?.label;
  if (labelNamed !== undefined) {
    const found = byName(labelNamed, settings.labelOutput !== undefined ? `MODEL_LABEL_OUTPUT=${labelNamed}` : 'manifest output.label');
    if (!isLabelLike(found)) throw new ServiceError('CONTRACT_MISMATCH', `label output ${describe(found)} must be one int64, int32 or string per event ([N] or [N, 1])`);
    label = found.name;
  } else if (manifest?.kind !== 'regressor' && manifest?.kind !== 'probability') {
    const candidates = outputs.filter((o) => o !== scoresOutput && isLabelLike(o));
    if (candidates.length === 1) label = (candidates[0] as GraphOutput).name;
  }
  return { scores, label, scoresOutput };
}

function sigmoidNote(kind: OutputKind): string {
  return kind === 'probability' ? ' (kind: probability; add transform: sigmoid if it is a logit)' : '';
}

/**
 * Completes the plan once the width of the score output is known (from the graph or a smoke
 * run). Every inconsistency between graph, manifest and settings is an error that says which.
 */
export function planOutputs(names: OutputNames, width: number | undefined, manifest: ManifestOutput | undefined, settings: OutputSettings): OutputPlan {
  const out = names.scoresOutput;
  const zipClasses = out.zipMap?.classes;
  let kind: OutputKind;
  if (manifest?.kind) kind = manifest.kind;
  else if (out.zipMap || (width !== undefined && width >= 2)) kind = 'classifier';
  else if (width === 1) {
    throw new ServiceError(
      'CONTRACT_MISMATCH',
      `model output "${names.scores}" has one column: say in the manifest what it is, output: {kind: regressor} for a predicted value, or output: {kind: probability} for the probability of the positive class (with transform: sigmoid if the graph ends before the sigmoid, i.e. outputs a logit)`,
    );
  } else {
    throw new ServiceError('CONTRACT_MISMATCH', `the width of model output "${names.scores}" is unknown; say its kind in the manifest (output: {kind: classifier | regressor | probability})`);
  }

  const transform = manifest?.transform ?? 'none';
  if (transform !== 'none' && kind !== 'probability') throw new ServiceError('CONTRACT_MISMATCH', `manifest output.transform: ${transform} is for kind: probability (one column); this output is a ${kind}`);

  if (kind === 'regressor' || kind === 'probability') {
    if (width !== undefined && width !== 1) {
      throw new ServiceError('CONTRACT_MISMATCH', `manifest output.kind: ${kind} needs one value per event, but "${names.scores}" has ${width} columns${width >= 2 ? '; it looks like class probabilities (kind: classifier)' : ''}`);
    }
    if (kind === 'regressor') {
      if (manifest?.classes || manifest?.positive_class !== undefined || settings.positiveClassIndex !== undefined) {
        throw new ServiceError('CONTRACT_MISMATCH', 'a regressor has no classes: remove output.classes / output.positive_class from the manifest and MODEL_POSITIVE_CLASS_INDEX');
      }
      return { kind, scores: names.scores, label: undefined, classes: [], positive: 0, transform };
    }
    const classes = (manifest?.classes ?? ['0', '1']).map(String);
    if (classes.length !== 2) throw new ServiceError('CONTRACT_MISMATCH', `manifest output.classes: a probability output is binary; give two labels (negative, positive), not ${classes.length}`);
    const positive = manifest?.positive_class === undefined ? 1 : resolvePositive(manifest.positive_class, classes, 'manifest output.positive_class');
    if (positive !== 1) throw new ServiceError('CONTRACT_MISMATCH', `manifest output.positive_class: the one column of "${names.scores}" is the probability of the positive class, classes[1] (${classes[1]})${sigmoidNote(kind)}`);
    return { kind, scores: names.scores, label: undefined, classes, positive: 1, transform };
  }

  // Classifier.
  const count = width ?? zipClasses?.length;
  let classes: string[];
  if (manifest?.classes) {
    classes = manifest.classes.map(String);
    if (zipClasses && zipClasses.length > 0 && zipClasses.join('\u0000') !== classes.join('\u0000')) {
      throw new ServiceError('CONTRACT_MISMATCH', `manifest output.classes [${classes.join(', ')}] differ from the graph's ZipMap labels [${zipClasses.join(', ')}]; remove output.classes (the graph's are used) or fix them`);
    }
  } else if (zipClasses && zipClasses.length > 0) classes = [...zipClasses];
  else if (count !== undefined) classes = Array.from({ length: count }, (_, i) => String(i));
  else throw new ServiceError('CONTRACT_MISMATCH', `the number of classes of "${names.scores}" is unknown; list them in the manifest (output: {classes: [...]})`);
  if (count !== undefined && classes.length !== count) {
    throw new ServiceError('CONTRACT_MISMATCH', `output "${names.scores}" has ${count} probability columns but ${classes.length} class labels [${classes.join(', ')}]`);
  }
  if (classes.length < 2) throw new ServiceError('CONTRACT_MISMATCH', `output "${names.scores}" has ${classes.length} column: a classifier has at least two; for a single probability or value use output.kind: probability or regressor`);

  let positive: number;
  if (settings.positiveClassIndex !== undefined) {
    positive = settings.positiveClassIndex;
    if (positive >= classes.length) {
      throw new ServiceError('CONFIG_INVALID', `MODEL_POSITIVE_CLASS_INDEX=${positive}: the model's score output "${names.scores}" has ${classes.length} columns (0..${classes.length - 1}, classes ${classes.join(', ')}); set it to the column of the positive class`);
    }
  } else if (manifest?.positive_class !== undefined) positive = resolvePositive(manifest.positive_class, classes, 'manifest output.positive_class');
  else positive = 1;
  return { kind, scores: names.scores, label: names.label, classes, positive, transform };
}

function resolvePositive(value: string | number, classes: readonly string[], source: string): number {
  if (typeof value === 'number') {
    if (value >= 0 && value < classes.length) return value;
    throw new ServiceError('CONTRACT_MISMATCH', `${source}: ${value} is not a column of the probabilities (0..${classes.length - 1}, classes ${classes.join(', ')})`);
  }
  const index = classes.indexOf(value);
  if (index < 0) throw new ServiceError('CONTRACT_MISMATCH', `${source}: "${value}" is not one of the model's classes (${classes.join(', ')})`);
  return index;
}
