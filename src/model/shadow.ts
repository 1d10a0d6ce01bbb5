import type { Config } from '../config/schema';
import { ServiceError } from '../errors';
import { type PipelineDeps, type ProcessedBatch, processBatch } from '../pipeline';
import type { SourceMessage } from '../records';
import type { Logger } from '../telemetry/logger';
import type { BatchObservation } from '../telemetry/observation';
import { type CandidateInputs, type ServingModel, loadCandidate } from './reload';

/**
 * Shadow (challenger) scoring, issue 13: a second model scores the same valid events of every
 * batch beside the serving (champion) one. Its predictions go to SHADOW_TOPIC only; it decides
 * nothing (no dead letters, no commits): its rejections and failures are counted and logged, and
 * the champion's outputs and offsets are what they would be without it. docs/model-lifecycle.md,
 * "Shadow scoring".
 */

/** How the challenger compared with the champion on one batch. */
export interface ShadowComparison {
  /** Events both published a prediction for, and whose predictions agree / disagree. */
  readonly agree: number;
  readonly disagree: number;
  /** Per compared event: |champion score − challenger score|. */
  readonly differences: number[];
}

/** A score and label per batch index (message position in the batch), for the rows a prediction was published for. */
function published(observation: BatchObservation): Map<number, { score: number; label: string | null }> {
  const out = new Map<number, { score: number; label: string | null }>();
  for (const chunk of observation.chunks) {
    const { rows, scores, rowRejections, labels } = chunk;
    for (let r = 0; r < rows.length; r += 1) {
      if (rowRejections[r]) continue;
      out.set(chunk.from + (rows[r] as number), { score: scores[r] as number, label: labels?.[r] ?? null });
    }
  }
  return out;
}

/**
 * Pairs the champion's and the challenger's published predictions of one batch by message and
 * compares them: classifiers agree when they predict the same label, regressors (or a side with
 * no label) when their scores differ by at most `tolerance`. Events only one side scored are not
 * compared (the challenger's rejections are counted on their own).
 */
export function compareShadow(champion: BatchObservation, challenger: BatchObservation, tolerance: number): ShadowComparison {
  const theirs = published(challenger);
  let agree = 0;
  let disagree = 0;
  const differences: number[] = [];
  for (const [index, ours] of published(champion)) {
    const other = theirs.get(index);
    if (!other) continue;
    const difference = Math.abs(ours.score - other.score);
    differences.push(difference);
    const same = ours.label !== null && other.label !== null ? ours.label === other.label : difference <= tolerance;
    if (same) agree += 1;
    else disagree += 1;
  }
  return { agree, disagree, differences };
}

/** What the challenger made of one batch: its prediction records (for SHADOW_TOPIC) and how it compared. */
export interface ShadowBatch {
  readonly processed: ProcessedBatch;
  readonly comparison: ShadowComparison;
  /** Seconds each model spent in the score stage over the batch. */
  readonly scoreSeconds: { readonly champion: number; readonly challenger: number };
}

export type ShadowErrorKind = 'score' | 'write';

export interface ShadowOptions {
  readonly tolerance: number;
  /** testing (FAILPOINT_SHADOW_THROW_EVERY): scoring throws on every Nth batch. */
  readonly throwEvery?: number | undefined;
  readonly logger: Logger;
  /** Counted (stream_scorer_shadow_errors_total). */
  readonly onError?: (kind: ShadowErrorKind) => void;
}

/** Errors are logged at most once per this many ms (with how many were not logged meanwhile). */
const LOG_EVERY_MS = 10_000;

/** Runs the challenger over the batches the champion scored; never throws. */
export class ShadowScorer {
  private on = true;
  private batches = 0;
  private lastLog = 0;
  private unlogged = 0;

  constructor(
    readonly deps: PipelineDeps,
    private readonly options: ShadowOptions,
  ) {}

  get enabled(): boolean {
    return this.on;
  }

  get topic(): string {
    return this.deps.outputTopic;
  }

  get model(): { readonly name: string; readonly version: string } {
    return { name: this.deps.prediction.modelName, version: this.deps.prediction.modelVersion };
  }

  /**
   * The challenger's predictions of the messages the champion just processed, or undefined when
   * shadow scoring is off or failed on this batch (counted and logged, rate-limited).
   */
  async score(messages: readonly SourceMessage[], champion: ProcessedBatch): Promise<ShadowBatch | undefined> {
    if (!this.on) return undefined;
    this.batches += 1;
    let processed: ProcessedBatch | undefined;
    try {
      const every = this.options.throwEvery;
      if (every !== undefined && this.batches % every === 0) throw new TypeError(`failpoint FAILPOINT_SHADOW_THROW_EVERY: shadow scoring throws on batch ${this.batches}`);
      processed = await processBatch(this.deps, messages);
      const comparison = compareShadow(champion.observation, processed.observation, this.options.tolerance);
      return { processed, comparison, scoreSeconds: { champion: champion.observation.stageSeconds.score, challenger: processed.observation.stageSeconds.score } };
    } catch (error) {
      processed?.finish(error as Error);
      this.failed('score', error, messages);
      return undefined;
    }
  }

  /** A write with shadow records failed in a way that is the shadow topic's fault (or may be): shadow output stops. */
  disable(reason: string, error?: unknown): void {
    if (!this.on) return;
    this.on = false;
    this.options.onError?.('write');
    this.options.logger.error(
      { event: 'shadow_disabled', shadow_topic: this.topic, model: this.model.name, model_version: this.model.version, reason, error: error instanceof Error ? error.message : error === undefined ? undefined : String(error) },
      `shadow scoring switched off: ${reason}. The champion keeps scoring and committing; restart the service to shadow again`,
    );
  }

  private failed(kind: ShadowErrorKind, error: unknown, messages: readonly SourceMessage[]): void {
    try {
      this.options.onError?.(kind);
      const now = Date.now();
      if (now - this.lastLog < LOG_EVERY_MS) {
        this.unlogged += 1;
        return;
      }
      const first = messages[0];
      this.options.logger.error(
        {
          event: 'shadow_error',
          kind,
          topic: first?.topic,
          partition: first?.partition,
          offsets: `${first?.offset}..${messages[messages.length - 1]?.offset}`,
          model: this.model.name,
          model_version: this.model.version,
          not_logged_since_last: this.unlogged,
          error: error instanceof Error ? error.message : String(error),
        },
        'shadow scoring failed for a batch: no shadow predictions for it; the champion is not affected',
      );
      this.lastLog = now;
      this.unlogged = 0;
    } catch {
      // Counting and logging never throw into the batch.
    }
  }
}

/**
 * Loads SHADOW_MODEL_PATH with every check a champion (or a hot-swap candidate) gets, against
 * the same INPUT_SCHEMA and PREDICTION_SCHEMA; a refusal stops start-up naming SHADOW_MODEL_PATH
 * (or SHADOW_MODEL_MANIFEST) and the check. MODEL_SHA256, MODEL_NAME, MODEL_VERSION, the
 * MODEL_*_OUTPUT overrides and DRIFT_PROFILE are the champion's: the challenger is described by
 * its own manifest and graph.
 */
export async function loadShadowModel(config: Config, inputs: Omit<CandidateInputs, 'config'>): Promise<ServingModel> {
  const modelPath = config.shadowModelPath;
  if (modelPath === undefined) throw new Error('loadShadowModel without SHADOW_MODEL_PATH');
  const result = await loadCandidate({
    ...inputs,
    config: {
      modelPath,
      modelManifest: config.shadowModelManifest,
      modelSha256: undefined,
      modelName: undefined,
      modelVersion: undefined,
      scoreOutput: undefined,
      labelOutput: undefined,
      positiveClassIndex: undefined,
      driftProfile: undefined,
      inputSchema: config.inputSchema,
      predictionSchema: config.predictionSchema,
      inputTopics: config.inputTopics,
      intraOpThreads: config.intraOpThreads,
    },
  });
  if (!result.ok) {
    const setting = config.shadowModelManifest !== undefined && result.file === config.shadowModelManifest ? 'SHADOW_MODEL_MANIFEST' : 'SHADOW_MODEL_PATH';
    throw new ServiceError('MODEL_INVALID', `${setting}=${setting === 'SHADOW_MODEL_PATH' ? modelPath : config.shadowModelManifest}: the challenger model is refused by the ${result.check} check (${result.file}): ${championKeys(result.reason)}`);
  }
  return result.serving;
}

/** The checks name the champion's settings (MODEL_PATH=…); for the challenger they are its own. */
function championKeys(reason: string): string {
  return reason.replace(/\bMODEL_PATH=/g, 'SHADOW_MODEL_PATH=').replace(/\bMODEL_MANIFEST=/g, 'SHADOW_MODEL_MANIFEST=');
}

/** The pipeline deps the challenger runs with: its model, its topic, no spans of its own, no champion failpoints. */
export function shadowDeps(champion: PipelineDeps, serving: ServingModel, shadowTopic: string): PipelineDeps {
  const { failpoints: _failpoints, ...rest } = champion;
  return {
    ...rest,
    model: serving.model,
    prediction: serving.prediction,
    deadLetter: serving.deadLetter,
    decoder: serving.decoder,
    outputTopic: shadowTopic,
    // The message spans are the champion's; the challenger's records carry the input's trace context on.
    recordSpans: false,
  };
}
