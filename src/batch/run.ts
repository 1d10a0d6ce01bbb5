import { isFeatureStoreUnavailable } from '../features/store/lookup';
import { isolateDefects } from '../defects';
import { type DependencyWait, withDependencyWait } from './dependency-wait';
import { isRegistryUnavailable } from '../formats/registry';
import { type PipelineDeps, type ProcessedBatch, processBatch } from '../pipeline';
import type { SourceMessage } from '../records';
import { ProgressReporter } from './progress';
import type { BatchSink, BatchSource, BatchSummary } from './types';

export interface RunOptions {
  /** Where the progress line goes (stderr in the CLI); none: no progress. */
  readonly progress?: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly progressIntervalMs?: number;
  /** A registry or store outage: how long a batch waits (none: the job fails at once). */
  readonly dependencyWait?: DependencyWait;
}

/**
 * source → processBatch → sink, one batch at a time (the next batch is read only once the
 * previous one is written: memory is bounded by one batch). On any failure the sink is aborted
 * and the error is rethrown: the caller exits on the service's error path.
 */
export async function runBatchJob(deps: PipelineDeps, source: BatchSource, sink: BatchSink, options: RunOptions = {}): Promise<BatchSummary> {
  const started = Date.now();
  let events = 0;
  let predictions = 0;
  let deadLetters = 0;
  const reasons: Record<string, number> = {};
  const reporter = options.progress
    ? new ProgressReporter({ out: options.progress, ...(options.progressIntervalMs ? { intervalMs: options.progressIntervalMs } : {}) }, () => ({ events, deadLetters }), () => source.progress())
    : undefined;
  reporter?.start();
  try {
    await source.forEachBatch(async (messages, heartbeat) => {
      const processed = await withDependencyWait(() => processIsolated(deps, messages), options.dependencyWait, heartbeat);
      if (processed.predictions.length + processed.deadLetters.length !== messages.length) {
        processed.finish(new Error('outputs do not match inputs'));
        throw new Error(`internal: ${messages.length} events gave ${processed.predictions.length} predictions and ${processed.deadLetters.length} dead letters`);
      }
      await sink.write(messages, processed);
      events += messages.length;
      predictions += processed.predictions.length;
      deadLetters += processed.deadLetters.length;
      for (const rejection of processed.rejections) reasons[rejection.code] = (reasons[rejection.code] ?? 0) + 1;
    });
    await sink.close();
  } catch (error) {
    await sink.abort().catch(() => undefined);
    throw error;
  } finally {
    reporter?.stop();
  }
  return { source: source.description, destinations: sink.destinations, events, predictions, deadLetters, reasons, seconds: (Date.now() - started) / 1000 };
}

/**
 * processBatch, and when it throws (a defect in the scorer, not the data), what the live service
 * does: only the record(s) it throws for become INTERNAL_ERROR dead letters, the rest is scored.
 * A registry or feature store outage (a feature with unavailable: wait) is not a defect: it is
 * thrown, for the caller's dependency wait.
 */
async function processIsolated(deps: PipelineDeps, messages: readonly SourceMessage[]): Promise<ProcessedBatch> {
  try {
    return await processBatch(deps, messages);
  } catch (defect) {
    // Neither is a defect of a record: the batch waits for it (withDependencyWait), or the job fails.
    if (isRegistryUnavailable(defect) || isFeatureStoreUnavailable(defect)) throw defect;
    return (await isolateDefects(deps, messages, defect)).processed;
  }
}

export function formatSummary(summary: BatchSummary): string {
  const rate = summary.seconds > 0 ? Math.round(summary.events / summary.seconds) : summary.events;
  const lines = [
    `source:        ${summary.source}`,
    `events:        ${summary.events}`,
    `scored:        ${summary.predictions}`,
    `dead-lettered: ${summary.deadLetters}`,
    ...Object.entries(summary.reasons)
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `  ${code}: ${n}`),
    `time:          ${summary.seconds.toFixed(1)} s (${rate} events/s)`,
    ...summary.destinations.map((d, i) => `${i === 0 ? 'written to:   ' : '              '} ${d}`),
  ];
  return lines.join('\n');
}
