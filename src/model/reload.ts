import { existsSync, readFileSync } from 'node:fs';
import type avro from 'avsc';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema';
import { defaultProfilePath, loadProfile, type TrainingProfile } from '../monitor/profile';
import type { DeadLetterContext } from '../output/dead-letter';
import { checkBatch } from '../stages/check/contract-check';
import { type EventFieldSamples, assertPredictionSchemaFits } from '../stages/check/prediction-fit';
import { assertSchemaFitsContract } from '../stages/check/schema-fit';
import type { EventDecoder, InputEvent } from '../stages/decode';
import type { PredictionContext } from '../stages/encode';
import { scoreBatch } from '../stages/score';
import { readContract } from './contract';
import { findManifest } from './manifest';
import { sha256File } from './integrity';
import { type ScoringModel, loadModel } from './session';

/**
 * Hot swap (issue 13): a candidate model is loaded and checked beside the serving one, then
 * swapped between batches. The serving model lives in a ModelHolder; the batch handler leases
 * it once per batch, so one batch is never scored by two versions, and the old onnxruntime
 * session is released once the last batch that leased it is done.
 */

/** Everything a batch needs from the model: read together, once per batch. */
export interface ServingModel {
  readonly model: ScoringModel;
  readonly prediction: PredictionContext;
  readonly deadLetter: DeadLetterContext;
  readonly decoder: EventDecoder;
  /** sha256 of the model file this was loaded from. */
  readonly sha256: string;
  /** The training profile drift is measured against (undefined: none). */
  readonly profile: { readonly path: string; readonly profile: TrainingProfile } | undefined;
}

export interface ModelLease {
  readonly serving: ServingModel;
  /** The batch is done with it (idempotent). */
  release(): void;
}

interface Slot {
  readonly serving: ServingModel;
  leases: number;
  retired: boolean;
  released: boolean;
}

/** The serving model, leased per batch; a swapped-out session is released when its last lease ends. */
export class ModelHolder {
  private slot: Slot;

  constructor(
    serving: ServingModel,
    private readonly onReleaseError: (error: Error, serving: ServingModel) => void = () => undefined,
  ) {
    this.slot = { serving, leases: 0, retired: false, released: false };
  }

  get current(): ServingModel {
    return this.slot.serving;
  }

  /** Batches holding the serving model right now (for tests and logs). */
  get leases(): number {
    return this.slot.leases;
  }

  acquire(): ModelLease {
    const slot = this.slot;
    slot.leases += 1;
    let done = false;
    return {
      serving: slot.serving,
      release: () => {
        if (done) return;
        done = true;
        slot.leases -= 1;
        if (slot.retired && slot.leases === 0) this.dispose(slot);
      },
    };
  }

  /**
   * Batches leased after this call get `next`. Resolves when the old session is released: at
   * once if no batch holds it, else when the last one that does is done.
   */
  swap(next: ServingModel): Promise<void> {
    const old = this.slot;
    this.slot = { serving: next, leases: 0, retired: false, released: false };
    old.retired = true;
    return new Promise<void>((resolve) => {
      this.waiting.set(old, resolve);
      if (old.leases === 0) this.dispose(old);
    });
  }

  /** Releases the serving session (service stop). */
  async close(): Promise<void> {
    const slot = this.slot;
    slot.retired = true;
    if (slot.leases === 0) this.dispose(slot);
    await Promise.all([...this.pending]);
  }

  private readonly waiting = new Map<Slot, () => void>();
  private readonly pending = new Set<Promise<void>>();

  private dispose(slot: Slot): void {
    if (slot.released) return;
    slot.released = true;
    const done = slot.serving.model.session
      .release()
      .catch((error: unknown) => this.onReleaseError(error as Error, slot.serving))
      .finally(() => {
        this.pending.delete(done);
        this.waiting.get(slot)?.();
        this.waiting.delete(slot);
      });
    this.pending.add(done);
  }
}

/** Which start-up check refused a candidate. */
export type ReloadCheck = 'read' | 'integrity' | 'contract' | 'schema fit' | 'load' | 'prediction schema fit' | 'reference' | 'profile';

export type ReloadTrigger = 'watch' | 'poll' | 'SIGHUP' | 'admin' | 'test';

export type CandidateResult =
  | { readonly ok: true; readonly serving: ServingModel }
  | { readonly ok: false; readonly check: ReloadCheck; readonly file: string; readonly reason: string };

/** What a candidate is checked against: the start-up settings and what start-up read once. */
export interface CandidateInputs {
  readonly config: Pick<
    Config,
    'modelPath' | 'modelSha256' | 'modelName' | 'modelVersion' | 'modelManifest' | 'inputSchema' | 'predictionSchema' | 'inputTopics' | 'intraOpThreads' | 'scoreOutput' | 'labelOutput' | 'positiveClassIndex' | 'driftProfile'
  >;
  readonly reader: avro.Type;
  readonly eventFields: EventFieldSamples;
  /** The serving model: its prediction and dead-letter contexts are the template of the new ones. */
  readonly current: ServingModel;
  /** A decoder for the candidate's required input paths (the current one is reused when they are the same). */
  readonly decoderFor: (required: readonly (readonly string[])[]) => EventDecoder;
  readonly warn?: (message: string) => void;
}

/** reference.json next to the model, if any: events the candidate must score without a rejection. */
export function referenceEventsFor(modelPath: string): { readonly path: string; readonly events: InputEvent[] } | undefined {
  const path = join(dirname(modelPath), 'reference.json');
  if (!existsSync(path)) return undefined;
  const json = JSON.parse(readFileSync(path, 'utf8')) as { events?: unknown };
  if (!Array.isArray(json.events)) throw new Error('no "events" array');
  // models/card-fraud: {event, probabilities, label}; models/zoo: the events themselves.
  const events = json.events.map((e: unknown) => {
    const item = e as Record<string, unknown>;
    return (typeof item.event === 'object' && item.event !== null ? item.event : item) as InputEvent;
  });
  return { path, events };
}

/** The training profile the candidate's drift is measured against: DRIFT_PROFILE, else profile.json next to it. */
export function profilePathFor(config: Pick<Config, 'driftProfile' | 'modelPath'>): string | undefined {
  return config.driftProfile ?? defaultProfilePath(config.modelPath);
}

function refused(check: ReloadCheck, file: string, error: unknown): CandidateResult {
  return { ok: false, check, file, reason: error instanceof Error ? error.message : String(error) };
}

/**
 * Loads MODEL_PATH (as it is on disk now) beside the serving model and runs every start-up
 * check on it: sha256 pin, contract, schema fit, onnxruntime load with a smoke score, prediction
 * schema fit, reference events (when reference.json ships with it), training profile. Never
 * throws: a refusal names the check and the file. A refused candidate's session is released.
 */
export async function loadCandidate(inputs: CandidateInputs): Promise<CandidateResult> {
  const { config } = inputs;
  const modelPath = config.modelPath;
  let sha256: string;
  try {
    sha256 = sha256File(modelPath);
  } catch (error) {
    return refused('read', modelPath, error);
  }
  if (config.modelSha256 !== undefined && sha256 !== config.modelSha256.toLowerCase()) {
    return refused('integrity', modelPath, `sha256 ${sha256}, but MODEL_SHA256=${config.modelSha256.toLowerCase()} is pinned (a pinned deployment rolls out the new pin together with the new file)`);
  }
  let contract;
  try {
    contract = readContract(modelPath, { name: config.modelName, version: config.modelVersion, manifestPath: config.modelManifest });
  } catch (error) {
    // A manifest that is invalid (or two of them) is the manifest's fault, not the graph's.
    const code = (error as { code?: unknown }).code;
    let file = modelPath;
    if (typeof code === 'string' && code.startsWith('MANIFEST')) {
      try {
        file = findManifest(modelPath, config.modelManifest) ?? modelPath;
      } catch {
        file = dirname(modelPath);
      }
    }
    return refused('contract', file, error);
  }
  const manifestOrModel = contract.manifestPath ?? modelPath;
  try {
    assertSchemaFitsContract(inputs.reader, contract.features, `INPUT_SCHEMA=${config.inputSchema}`);
  } catch (error) {
    return refused('schema fit', manifestOrModel, error);
  }
  let model: ScoringModel;
  try {
    model = await loadModel(contract, {
      intraOpThreads: config.intraOpThreads,
      scoreOutput: config.scoreOutput,
      labelOutput: config.labelOutput,
      positiveClassIndex: config.positiveClassIndex,
      ...(inputs.warn ? { warn: inputs.warn } : {}),
    });
  } catch (error) {
    return refused('load', modelPath, error);
  }
  const discard = async (result: CandidateResult): Promise<CandidateResult> => {
    await model.session.release().catch(() => undefined);
    return result;
  };
  const template = inputs.current.prediction;
  const prediction: PredictionContext = {
    ...template,
    modelName: contract.name,
    modelVersion: contract.version,
    classes: model.output.kind === 'regressor' ? [] : model.output.classes,
  };
  try {
    assertPredictionSchemaFits(prediction, inputs.eventFields, { topics: config.inputTopics }, `PREDICTION_SCHEMA=${config.predictionSchema}`);
  } catch (error) {
    return discard(refused('prediction schema fit', manifestOrModel, error));
  }
  let reference;
  try {
    reference = referenceEventsFor(modelPath);
  } catch (error) {
    return discard(refused('reference', join(dirname(modelPath), 'reference.json'), error));
  }
  if (reference) {
    const checked = checkBatch(contract.features, reference.events, reference.events.map(() => undefined));
    const rejected = checked.rejections.findIndex((r) => r !== undefined);
    if (rejected >= 0) return discard(refused('reference', reference.path, `reference event ${rejected} is rejected: ${checked.rejections[rejected]?.message}`));
    try {
      const scored = await scoreBatch(model, checked.features);
      const bad = scored.rejections.findIndex((r) => r !== undefined);
      if (bad >= 0) return discard(refused('reference', reference.path, `reference event ${bad} cannot be scored: ${scored.rejections[bad]?.message}`));
      if (scored.scores.some((s) => !Number.isFinite(s))) return discard(refused('reference', reference.path, 'a reference event scores a non-finite number'));
    } catch (error) {
      return discard(refused('reference', reference.path, error));
    }
  }
  let profile: ServingModel['profile'];
  const profilePath = profilePathFor(config);
  if (profilePath) {
    try {
      profile = { path: profilePath, profile: loadProfile(profilePath) };
    } catch (error) {
      return discard(refused('profile', profilePath, error));
    }
  }
  const required = contract.features.eventPaths;
  const currentRequired = inputs.current.model.contract.features.eventPaths;
  const sameRequired = required.length === currentRequired.length && required.every((p, i) => p.join('.') === currentRequired[i]?.join('.'));
  return {
    ok: true,
    serving: {
      model,
      prediction,
      deadLetter: { ...inputs.current.deadLetter, modelName: contract.name, modelVersion: contract.version },
      decoder: sameRequired ? inputs.current.decoder : inputs.decoderFor(required),
      sha256,
      profile,
    },
  };
}

export interface ReloadOutcome {
  readonly result: 'ok' | 'refused';
  readonly trigger: ReloadTrigger;
  /** ISO time the reload finished. */
  readonly at: string;
  readonly model: { readonly name: string; readonly version: string; readonly sha256: string };
  /** ok: the model that served before. */
  readonly previous?: { readonly name: string; readonly version: string; readonly sha256: string };
  /** refused: the check and the file at fault, and why. */
  readonly check?: ReloadCheck;
  readonly file?: string;
  readonly reason?: string;
}

function identity(serving: ServingModel): ReloadOutcome['model'] {
  return { name: serving.prediction.modelName, version: serving.prediction.modelVersion, sha256: serving.sha256 };
}

/**
 * One reload at a time: a trigger while one runs waits for it and then runs its own (the files
 * may have changed again meanwhile). Every outcome goes to `report` (log, metric, readiness).
 */
export class ModelReloader {
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly holder: ModelHolder,
    private readonly candidate: (current: ServingModel) => Promise<CandidateResult>,
    private readonly report: (outcome: ReloadOutcome, serving: ServingModel) => void,
  ) {}

  reload(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const next = this.running.catch(() => undefined).then(() => this.once(trigger));
    this.running = next;
    return next;
  }

  private async once(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const current = this.holder.current;
    const result = await this.candidate(current);
    const at = new Date().toISOString();
    if (!result.ok) {
      const outcome: ReloadOutcome = { result: 'refused', trigger, at, model: identity(current), check: result.check, file: result.file, reason: result.reason };
      this.report(outcome, current);
      return outcome;
    }
    const released = this.holder.swap(result.serving);
    const outcome: ReloadOutcome = { result: 'ok', trigger, at, model: identity(result.serving), previous: identity(current) };
    this.report(outcome, result.serving);
    await released;
    return outcome;
  }
}
