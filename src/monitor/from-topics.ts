import type { Kafka } from '../kafka/client';
import { scanTopic } from '../kafka/scan';
import type { ModelContract } from '../model/contract';
import { checkBatch } from '../stages/check/contract-check';
import { type EventDecoder, decodeBatch, prepareDecoder } from '../stages/decode';
import { DriftMonitor, type DriftOptions, type DriftReport } from './drift';
import type { TrainingProfile } from './profile';

export interface TopicDriftSources {
  readonly inputTopics: readonly string[];
  /** Predictions (for the score distribution); omitted: features and unknown values only. */
  readonly outputTopic?: string;
  readonly readCommitted: boolean;
  /** Kafka timestamp (epoch ms) to start reading at; default: the beginning of the topics. */
  readonly since?: number;
}

export interface TopicDriftResult {
  readonly report: DriftReport;
  readonly inputRecords: number;
  readonly predictionRecords: number;
  readonly complete: boolean;
  /** The monitor itself (attribution samples, when options.sampleEvents asked for them). */
  readonly monitor: DriftMonitor;
}

/**
 * "Since when?" from the topics themselves: re-reads the input events and the predictions and
 * runs them through the same checks and the same monitor as the service, window by event time.
 * Deterministic for a given set of records, whatever the service saw or when it restarted.
 */
export async function driftFromTopics(
  kafka: Kafka,
  sources: TopicDriftSources,
  model: { contract: ModelContract; decoder: EventDecoder; readPrediction: { fromBuffer(value: Buffer): unknown } },
  profile: TrainingProfile,
  options: Omit<DriftOptions, 'mode' | 'rangeStart'>,
): Promise<TopicDriftResult> {
  // Windows are counted from the first whole window at or after --since: a window cut by the
  // range would be compared on part of its events. Events (and predictions, by the event time
  // they carry) before it are left out, so no window holds predictions without their events.
  const rangeStart = sources.since !== undefined ? Math.ceil(sources.since / options.windowMs) * options.windowMs : undefined;
  const monitor = new DriftMonitor(profile, { ...options, mode: 'offline', ...(rangeStart !== undefined ? { rangeStart } : {}) });
  const scan = { readCommitted: sources.readCommitted, ...(sources.since !== undefined ? { fromTimestamp: sources.since } : {}) };
  let inputRecords = 0;
  let complete = true;
  for (const topic of sources.inputTopics) {
    const result = await scanTopic(kafka, topic, scan, async (messages) => {
      await prepareDecoder(model.decoder, messages.map((m) => m.value));
      const decoded = decodeBatch(
        model.decoder,
        messages.map((m) => m.value),
      );
      const checked = checkBatch(model.contract.features, decoded.events, decoded.rejections);
      monitor.observeChunk(
        { from: 0, events: decoded.events, rejections: checked.rejections, rows: checked.features.rows, features: checked.features, scores: new Float64Array(0), rowRejections: [] },
        messages,
        false,
      );
    });
    inputRecords += result.records;
    complete &&= result.complete;
  }
  let predictionRecords = 0;
  if (sources.outputTopic) {
    const result = await scanTopic(kafka, sources.outputTopic, scan, (messages) => {
      for (const message of messages) {
        if (!message.value) continue;
        let prediction: { event_time?: number | bigint | null; score?: number; label?: string | null };
        try {
          prediction = model.readPrediction.fromBuffer(message.value) as typeof prediction;
        } catch {
          continue;
        }
        // The event time of the scored event, not when the prediction was written: a window of
        // predictions is the window of the events they score.
        const time = typeof prediction.event_time === 'number' ? prediction.event_time : typeof prediction.event_time === 'bigint' ? Number(prediction.event_time) : Number(message.timestamp);
        if (typeof prediction.score === 'number') monitor.observeScore(time, prediction.score, prediction.label ?? undefined);
      }
    });
    predictionRecords = result.records;
    complete &&= result.complete;
  }
  monitor.finish();
  return { report: monitor.report(), inputRecords, predictionRecords, complete, monitor };
}
