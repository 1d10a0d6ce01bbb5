/**
 * Batch recompute: a Source hands out batches of SourceMessage, processBatch (the same stages,
 * checks, reason codes and model as the live service) turns each into a ProcessedBatch, and a
 * Sink stores it. Nothing here knows whether the events came from a file or a topic.
 */
import type { ProcessedBatch } from '../pipeline';
import type { SourceMessage } from '../records';

export interface SourceProgress {
  /** How far the source is, in `unit`. */
  readonly done: number;
  /** The whole, when known: bytes of the file, events of the offset range. */
  readonly total: number | undefined;
  readonly unit: 'bytes' | 'events';
}

export interface BatchSource {
  /** For messages and summaries: the file path, or the topics and range. */
  readonly description: string;
  /**
   * Calls onBatch with every batch, in order, waiting for each before reading on (the only
   * backpressure needed: nothing is read ahead of what is being processed).
   */
  /** `heartbeat` (a Kafka source): keeps the reading consumer's group session while a batch waits. */
  forEachBatch(onBatch: (messages: readonly SourceMessage[], heartbeat?: () => Promise<void>) => Promise<void>): Promise<void>;
  progress(): SourceProgress;
}

export interface BatchSink {
  /** Stores the outputs of one batch; resolves when they are written (or acknowledged). */
  write(messages: readonly SourceMessage[], processed: ProcessedBatch): Promise<void>;
  /** All batches written: make the outputs final (close files, flush producers). */
  close(): Promise<void>;
  /** Something failed: leave nothing that looks complete. */
  abort(): Promise<void>;
  /** Where the outputs went, for the summary. */
  readonly destinations: readonly string[];
}

export interface BatchSummary {
  readonly source: string;
  readonly destinations: readonly string[];
  readonly events: number;
  readonly predictions: number;
  readonly deadLetters: number;
  /** Dead letters per reason code. */
  readonly reasons: Readonly<Record<string, number>>;
  readonly seconds: number;
}

/** Exit code of score-file and backfill when the run completed but dead-lettered something. */
export const EXIT_DEAD_LETTERS = 4;

export function exitCodeOf(summary: BatchSummary): number {
  return summary.deadLetters > 0 ? EXIT_DEAD_LETTERS : 0;
}
