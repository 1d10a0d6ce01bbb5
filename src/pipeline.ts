import { type Span, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { type Rejection, ServiceError } from './errors';
import type { BatchLookup, LookupStats } from './features/store/lookup';
import { type Failpoints, afterProcessing, beforeProcessing } from './failpoints';
import type { ScoringModel } from './model/session';
import { type DeadLetterContext, deadLetterRecord } from './output/dead-letter';
import { predictionRecord } from './output/predictions';
import type { OutputRecord, SourceMessage } from './records';
import { checkBatch } from './stages/check/contract-check';
import { type EventDecoder, decodeBatch, prepareDecoder } from './stages/decode';
import { type PredictionContext, encodePredictions } from './stages/encode';
import { enrichBatch } from './stages/enrich';
import { scoreBatch } from './stages/score';
import { BatchSpans } from './telemetry/message-spans';
import type { BatchObservation, ChunkObservation } from './telemetry/observation';

export interface PipelineDeps {
  readonly decoder: EventDecoder;
  readonly model: ScoringModel;
  readonly prediction: PredictionContext;
  readonly deadLetter: DeadLetterContext;
  readonly tracer: Tracer;
  readonly outputTopic: string;
  readonly deadLetterTopic: string;
  readonly maxScoreBatch: number;
  /** False when no span would be exported: trace context is then passed on without building spans. Default true. */
  readonly recordSpans?: boolean;
  readonly now?: () => number;
  /**
   * The online feature store (src/features/store), for models whose manifest declares store
   * features; its lookup throws FeatureStoreUnavailableError out of processBatch when a feature
   * that waits for the store cannot be looked up (the caller retries the batch).
   */
  readonly store?: { readonly lookup: BatchLookup; found(stats: LookupStats): void };
  /** testing: faults switched on by FAILPOINT_* settings; undefined in production. */
  readonly failpoints?: Failpoints;
}

export interface ProcessedBatch {
  readonly predictions: OutputRecord[];
  readonly deadLetters: OutputRecord[];
  /** Why each dead-lettered message was rejected, in deadLetters order. */
  readonly rejections: Rejection[];
  /** Stage timings and stage outputs, for metrics and model monitoring. */
  readonly observation: BatchObservation;
  /** Ends the message spans once the records are acknowledged (or failed). */
  finish(error?: Error): void;
}

/**
 * decode → check → score → encode, then route: every message of the batch becomes exactly
 * one prediction or exactly one dead-letter record. Nothing here talks to Kafka.
 */
export async function processBatch(deps: PipelineDeps, messages: readonly SourceMessage[]): Promise<ProcessedBatch> {
  const failpoints = deps.failpoints;
  if (failpoints) beforeProcessing(failpoints, messages);
  const now = deps.now ?? Date.now;
  // Framed input: writer schemas by id first (throws RegistryUnavailableError: the batch waits).
  if (deps.decoder.framed) await prepareDecoder(deps.decoder, messages.map((m) => m.value));
  const spans = new BatchSpans(deps.tracer, messages, deps.deadLetter.consumerGroup, deps.recordSpans ?? true);
  const predictions: OutputRecord[] = [];
  const deadLetters: OutputRecord[] = [];
  const rejections: Rejection[] = [];
  const sendSpans: Span[] = [];
  // `publish` / `dead-letter` steps: from routing until the broker acknowledged the record.
  const stepSpans: Span[] = [];
  const chunks: ChunkObservation[] = [];
  const stageSeconds = { decode: 0, check: 0, score: 0, encode: 0 };
  const outputs: Outputs = { deadLetters, rejections, sendSpans, stepSpans };

  const deadLetter = (index: number, rejection: Rejection): void => addDeadLetter(deps, messages, spans, outputs, index, rejection, now());

  for (let from = 0; from < messages.length; from += deps.maxScoreBatch) {
    const chunk = messages.slice(from, from + deps.maxScoreBatch);
    const values = chunk.map((m) => m.value);

    const t0 = now();
    const decoded = decodeBatch(deps.decoder, values);
    const t1 = now();
    spans.stage('decode', t0, t1, from, from + chunk.length);

    const plan = deps.model.contract.features;
    let events = decoded.events;
    let earlier = decoded.rejections;
    let storeFlags: ReadonlyMap<number, readonly string[]> | undefined;
    let storeValues: readonly (Readonly<Record<string, number>> | undefined)[] | undefined;
    let tc = t1;
    if (plan.store.features.length > 0) {
      // Never score without the store values: a model reading store features with no store wired is a bug of the caller.
      if (!deps.store) throw new ServiceError('CONFIG_INVALID', `model ${deps.prediction.modelName} reads features from the online store (${plan.store.features.map((f) => f.name).join(', ')}) but no feature store is configured here`);
      const enriched = await enrichBatch(plan.store, events, earlier, deps.store.lookup, now());
      tc = now();
      deps.store.found(enriched.stats);
      spans.batchStage('enrich', t1, tc, Int32Array.from({ length: chunk.length }, (_, i) => from + i), { 'feature_store.keys': enriched.stats.keys, 'feature_store.hits': enriched.stats.hits, 'feature_store.misses': enriched.stats.misses });
      events = enriched.events;
      earlier = enriched.rejections;
      storeFlags = enriched.flags;
      storeValues = enriched.values;
    }

    const checked = checkBatch(plan, events, earlier);
    const t2 = now();
    spans.stage('check', tc, t2, from, from + chunk.length);

    const scored = await scoreBatch(deps.model, checked.features);
    const t3 = now();
    const rows = checked.features.rows;
    const absolute = Int32Array.from(rows, (i) => i + from);
    spans.batchStage('score batch', t2, t3, absolute);
    if (spans.recording) for (let r = 0; r < absolute.length; r += 1) spans.stage('score', t2, t3, absolute[r] as number, (absolute[r] as number) + 1);

    const flags = storeFlags && storeFlags.size > 0 ? mergeFlags(rows, storeFlags, checked.features.flags) : checked.features.flags;
    const encoded = encodePredictions(deps.prediction, rows, events, chunk, scored, t3, flags, storeValues);
    const t4 = now();
    stageSeconds.decode += (t1 - t0) / 1000;
    stageSeconds.check += (t2 - t1) / 1000;
    stageSeconds.score += (t3 - t2) / 1000;
    stageSeconds.encode += (t4 - t3) / 1000;
    chunks.push({
      from,
      events: decoded.events,
      rejections: checked.rejections,
      rows,
      // With the store's flags too, so flagged-prediction metrics count FEATURE_MISSING / FEATURE_UNAVAILABLE defaults.
      features: flags === checked.features.flags ? checked.features : { ...checked.features, flags },
      scores: scored.scores,
      labels: scored.labels,
      rowRejections: encoded.rejections,
    });

    for (let i = 0; i < chunk.length; i += 1) {
      const rejection = checked.rejections[i];
      if (rejection) deadLetter(from + i, rejection);
    }
    for (let r = 0; r < rows.length; r += 1) {
      const index = from + (rows[r] as number);
      const rejection = encoded.rejections[r];
      if (rejection) {
        deadLetter(index, rejection);
        continue;
      }
      const step = spans.step(index, 'publish', t3);
      if (step) stepSpans.push(step);
      const { headers, span } = spans.sendHeaders(index, deps.outputTopic, step);
      if (span) sendSpans.push(span);
      predictions.push(predictionRecord(messages[index] as SourceMessage, encoded.values[r] as Buffer, deps.prediction, headers));
    }
  }

  if (failpoints) afterProcessing(failpoints, predictions, deadLetters);
  return {
    predictions,
    deadLetters,
    rejections,
    observation: { chunks, stageSeconds, processedAt: now() },
    finish: finisher(spans, outputs),
  };
}

/**
 * Every message dead-lettered with the same rejection, with the spans and headers a rejection
 * inside processBatch gets: how a message whose processing threw leaves the pipeline.
 */
export function rejectedBatch(deps: PipelineDeps, messages: readonly SourceMessage[], rejection: Rejection): ProcessedBatch {
  const now = deps.now ?? Date.now;
  const spans = new BatchSpans(deps.tracer, messages, deps.deadLetter.consumerGroup, deps.recordSpans ?? true);
  const outputs: Outputs = { deadLetters: [], rejections: [], sendSpans: [], stepSpans: [] };
  for (let i = 0; i < messages.length; i += 1) addDeadLetter(deps, messages, spans, outputs, i, rejection, now());
  return {
    predictions: [],
    deadLetters: outputs.deadLetters,
    rejections: outputs.rejections,
    observation: { chunks: [], stageSeconds: { decode: 0, check: 0, score: 0, encode: 0 }, processedAt: now() },
    finish: finisher(spans, outputs),
  };
}

/** Check flags are by feature row, enrich flags by batch index: one map by row, enrich's first. */
function mergeFlags(rows: Int32Array, byIndex: ReadonlyMap<number, readonly string[]>, byRow: ReadonlyMap<number, readonly string[]>): Map<number, readonly string[]> {
  const merged = new Map<number, readonly string[]>(byRow);
  for (let r = 0; r < rows.length; r += 1) {
    const store = byIndex.get(rows[r] as number);
    if (store) merged.set(r, [...store, ...(byRow.get(r) ?? [])]);
  }
  return merged;
}

/** The dead letters of a batch being routed, and the spans that end once the broker acknowledged them. */
interface Outputs {
  readonly deadLetters: OutputRecord[];
  readonly rejections: Rejection[];
  readonly sendSpans: Span[];
  readonly stepSpans: Span[];
}

function addDeadLetter(deps: PipelineDeps, messages: readonly SourceMessage[], spans: BatchSpans, outputs: Outputs, index: number, rejection: Rejection, at: number): void {
  spans.reject(index, rejection);
  const step = spans.step(index, 'dead-letter', at, rejection);
  if (step) outputs.stepSpans.push(step);
  const { headers, span } = spans.sendHeaders(index, deps.deadLetterTopic, step);
  if (span) outputs.sendSpans.push(span);
  outputs.deadLetters.push(deadLetterRecord(messages[index] as SourceMessage, rejection, deps.deadLetter, headers, at));
  outputs.rejections.push(rejection);
}

function finisher(spans: BatchSpans, outputs: Outputs): (error?: Error) => void {
  return (error?: Error) => {
    for (const span of [...outputs.sendSpans, ...outputs.stepSpans]) {
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      span.end();
    }
    spans.endAll(error);
  };
}
