import * as ort from 'onnxruntime-node';
import { ServiceError } from '../errors';
import type { FeaturePlan } from '../features/plan';
import { checkBatch } from '../stages/check/contract-check';
import type { InputEvent } from '../stages/decode';
import { feedsFor } from '../stages/score';
import type { ModelContract } from './contract';
import { type OutputNames, type OutputPlan, type OutputSettings, chooseOutputs, planOutputs } from './outputs';

export interface ScoringModel {
  readonly contract: ModelContract;
  readonly session: ort.InferenceSession;
  readonly output: OutputPlan;
}

export interface SessionOptions extends OutputSettings {
  readonly intraOpThreads: number;
  /** Told what start-up found but did not refuse (e.g. a smoke run that failed). */
  readonly warn?: (message: string) => void;
}

/** One event every column of the plan accepts: a known category, or zero. */
function sampleEvent(plan: FeaturePlan): InputEvent {
  const event: Record<string, unknown> = {};
  for (const column of plan.columns) {
    let holder = event;
    for (const part of column.path.slice(0, -1)) holder = (holder[part] ??= {}) as Record<string, unknown>;
    const first = column.categories ? [...column.categories][0] : undefined;
    holder[column.path[column.path.length - 1] as string] = column.kind === 'categorical' ? (first ?? 'sample') : 0;
  }
  return event;
}

/**
 * Scores one sample event to learn the width of the score output when the graph leaves it open
 * (most converters write [N, ?]). Undefined when the model refuses the sample.
 */
async function smokeWidth(session: ort.InferenceSession, plan: FeaturePlan, names: OutputNames, warn: (message: string) => void): Promise<number | undefined> {
  const checked = checkBatch(plan, [sampleEvent(plan)], [undefined]);
  if (checked.features.rowCount !== 1) {
    warn(`no sample event passes the checks (${checked.rejections[0]?.message}); the score output width is checked per batch instead`);
    return undefined;
  }
  let scores: ort.Tensor;
  try {
    const results = await session.run(feedsFor(plan, checked.features, 0, 1), [names.scores]);
    scores = results[names.scores] as ort.Tensor;
  } catch (error) {
    warn(`onnxruntime refused a sample event (${(error as Error).message}); the score output width is checked per batch instead`);
    return undefined;
  }
  if (scores.type !== 'float32' && scores.type !== 'float64') {
    throw new ServiceError('CONTRACT_MISMATCH', `score output "${names.scores}" holds ${scores.type} values; scores are float or double (probabilities, a value, a logit): name the right output in the manifest (output.scores) or with MODEL_SCORE_OUTPUT`);
  }
  return scores.data.length;
}

export async function loadModel(contract: ModelContract, options: SessionOptions): Promise<ScoringModel> {
  const modelPath = contract.session.path;
  const names = chooseOutputs(contract.graph.outputs, contract.manifest?.output, options, contract.session.zipMapOutputs);
  let session: ort.InferenceSession;
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // No CPU memory arena (and no memory patterns, which allocate through it): the arena keeps the
    // largest batch's buffers for good and grows in chunks. Measured on the example model, 1,000
    // runs of 1,024 rows: peak RSS 132–136 MB with it, 119 MB without, CPU per row the same
    // (1.21 vs 1.20 µs); batch tensors are small, so plain malloc costs nothing visible.
    enableCpuMemArena: false,
    enableMemPattern: false,
    // Errors only: onnxruntime writes warnings as plain text on stderr, outside the JSON logs, and
    // some converters' harmless ones come once per batch (onnxmltools' LightGBM label declared [1]).
    logSeverityLevel: 3,
    // Spinning threads burn a core waiting for work; on a small machine Kafka I/O needs it more.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
  try {
    session = contract.session.bytes ? await ort.InferenceSession.create(contract.session.bytes, sessionOptions) : await ort.InferenceSession.create(modelPath, sessionOptions);
  } catch (error) {
    throw new ServiceError('MODEL_INVALID', `MODEL_PATH=${modelPath}: onnxruntime cannot load it (${(error as Error).message})`, { cause: error });
  }
  const warn = options.warn ?? (() => undefined);
  const declared = names.scoresOutput.zipMap ? names.scoresOutput.zipMap.classes.length || undefined : names.scoresOutput.rank === 1 ? 1 : names.scoresOutput.width;
  const width = (await smokeWidth(session, contract.features, names, warn)) ?? declared;
  const output = planOutputs(names, width, contract.manifest?.output, options);
  return { contract, session, output };
}
