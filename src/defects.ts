import { type Rejection, ServiceError, reject } from './errors';
import { deadLetterRecord } from './output/dead-letter';
import { isFeatureStoreUnavailable } from './features/store/lookup';
import { type PipelineDeps, type ProcessedBatch, processBatch, rejectedBatch } from './pipeline';
import type { SourceMessage } from './records';
import type { ChunkObservation } from './telemetry/observation';

/**
 * Defects: exceptions that are not the broker's or the network's — a bug in a stage, a record
 * that trips one, a misuse of the Kafka client. Retried like a broker error they would block
 * their partition forever, in silence. Instead, an exception out of the pipeline is isolated to
 * the record(s) it is thrown for (dead-lettered as INTERNAL_ERROR, the rest of the batch scored);
 * what cannot be isolated is retried a bounded number of times and then stops the service.
 */

/** Enough of an error to find the bug, short enough for a header. */
const MAX_ERROR_CHARS = 500;

/** `TypeError: Cannot read properties of undefined (reading 'x')`, capped. Never throws. */
export function describeError(error: unknown, maxChars = MAX_ERROR_CHARS): string {
  let text: string;
  try {
    if (error instanceof Error) {
      // The class says more than `name` when a subclass did not set it (and kafkajs names some subclasses after their parent).
      const ctor = (error.constructor as { name?: unknown } | undefined)?.name;
      const kind = typeof ctor === 'string' && ctor !== '' && ctor !== 'Error' ? ctor : error.name || 'Error';
      text = `${kind}: ${error.message}`;
    } else {
      text = `non-Error value thrown (${typeof error}): ${String(error)}`;
    }
  } catch {
    text = 'an error that cannot be rendered as text';
  }
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}

/** The INTERNAL_ERROR rejection of a record whose processing threw `error`. */
export function internalError(error: unknown): Rejection {
  return reject('INTERNAL_ERROR', `processing this record threw ${describeError(error)}`);
}

/** The record whose processing threw, and whose INTERNAL_ERROR dead letter could not be built either. */
export class DefectNotIsolated extends Error {
  constructor(
    readonly source: SourceMessage,
    processingError: unknown,
    deadLetterError: unknown,
  ) {
    super(
      `${source.topic}[${source.partition}] offset ${source.offset}: processing threw ${describeError(processingError)}, and its INTERNAL_ERROR dead letter could not be built either: ${describeError(deadLetterError)}`,
      { cause: deadLetterError },
    );
    this.name = 'DefectNotIsolated';
  }
}

export type BatchProcessor = (messages: readonly SourceMessage[]) => Promise<ProcessedBatch>;

export interface Culprit {
  readonly offset: string;
  readonly error: unknown;
}

export interface IsolatedBatch {
  /** One output per input message, in input order, as processBatch would have made them. */
  readonly processed: ProcessedBatch;
  /** The messages whose processing threw on their own, in batch order: dead-lettered as INTERNAL_ERROR. */
  readonly culprits: readonly Culprit[];
  /** How many times `process` ran (the cost of the isolation). */
  readonly runs: number;
}

/**
 * processBatch threw `error` for `messages`: the same messages, processed again in halves, and
 * the halves that throw halved again, down to single messages. A single message that throws is
 * a culprit and becomes an INTERNAL_ERROR dead letter; every other message gets the output it
 * would have had, in order.
 *
 * Cost, paid only after processBatch threw: with one culprit among n messages, about
 * 2·log2(n) runs over about 2n messages in total (twice the batch's own work: ~20 runs for
 * 1,000 messages); with k culprits, O(k·log(n/k)) runs; at worst (every message throws) 2n − 2.
 * Batches still go to onnxruntime whole where they can, unlike a retry one message at a time
 * (n runs and n single-row model calls for every poisoned batch).
 *
 * Pure apart from the spans it starts: no Kafka, no clock beyond deps.now. Throws
 * DefectNotIsolated when a culprit's dead letter cannot be built.
 */
export async function isolateDefects(
  deps: PipelineDeps,
  messages: readonly SourceMessage[],
  error: unknown,
  process: BatchProcessor = (part) => processBatch(deps, part),
): Promise<IsolatedBatch> {
  const parts: { readonly from: number; readonly processed: ProcessedBatch }[] = [];
  const culprits: Culprit[] = [];
  let runs = 0;

  const bisect = async (from: number, to: number, failure: unknown): Promise<void> => {
    if (to - from === 1) {
      const message = messages[from] as SourceMessage;
      parts.push({ from, processed: culpritBatch(deps, message, failure) });
      culprits.push({ offset: message.offset, error: failure });
      return;
    }
    const middle = from + Math.ceil((to - from) / 2);
    for (const [start, end] of [
      [from, middle],
      [middle, to],
    ] as const) {
      let processed: ProcessedBatch;
      try {
        runs += 1;
        processed = await process(messages.slice(start, end));
      } catch (partError) {
        // The store went away while the halves were being run: not a record's fault, and the
        // batch must wait whole (a half scored now would be the other half's duplicate later).
        if (isFeatureStoreUnavailable(partError)) {
          for (const part of parts) part.processed.finish(partError);
          throw partError;
        }
        await bisect(start, end, partError);
        continue;
      }
      parts.push({ from: start, processed });
    }
  };

  if (messages.length > 0) await bisect(0, messages.length, error);
  return { processed: merge(parts, deps.now ?? Date.now), culprits, runs };
}

function culpritBatch(deps: PipelineDeps, message: SourceMessage, error: unknown): ProcessedBatch {
  const rejection = internalError(error);
  try {
    return rejectedBatch(deps, [message], rejection);
  } catch {
    // What the record breaks may be the trace machinery itself (its headers): then it leaves
    // without the scorer's trace context rather than not at all.
    try {
      const failedAt = (deps.now ?? Date.now)();
      return {
        predictions: [],
        deadLetters: [deadLetterRecord(message, rejection, deps.deadLetter, {}, failedAt)],
        rejections: [rejection],
        observation: { chunks: [], stageSeconds: { decode: 0, check: 0, score: 0, encode: 0 }, processedAt: failedAt },
        finish: () => undefined,
      };
    } catch (deadLetterError) {
      throw new DefectNotIsolated(message, error, deadLetterError);
    }
  }
}

/** The parts (contiguous, in batch order) as one processed batch; chunk positions made batch-relative. */
function merge(parts: readonly { readonly from: number; readonly processed: ProcessedBatch }[], now: () => number): ProcessedBatch {
  const predictions: ProcessedBatch['predictions'] = [];
  const deadLetters: ProcessedBatch['deadLetters'] = [];
  const rejections: Rejection[] = [];
  const chunks: ChunkObservation[] = [];
  const stageSeconds = { decode: 0, check: 0, score: 0, encode: 0 };
  for (const { from, processed } of parts) {
    for (const record of processed.predictions) predictions.push(record);
    for (const record of processed.deadLetters) deadLetters.push(record);
    for (const rejection of processed.rejections) rejections.push(rejection);
    for (const chunk of processed.observation.chunks) chunks.push({ ...chunk, from: chunk.from + from });
    const seconds = processed.observation.stageSeconds;
    stageSeconds.decode += seconds.decode;
    stageSeconds.check += seconds.check;
    stageSeconds.score += seconds.score;
    stageSeconds.encode += seconds.encode;
  }
  return {
    predictions,
    deadLetters,
    rejections,
    observation: { chunks, stageSeconds, processedAt: now() },
    finish(error?: Error) {
      for (const { processed } of parts) processed.finish(error);
    },
  };
}

/**
 * Counts failed attempts at the batch that starts at the same offset of a partition, for
 * defects that could not be isolated to a record (a culprit's dead letter cannot be built, the
 * writer throws something that is not a broker error). A partition that moves on starts again
 * from one; a broker error in between does not reset the count, so a flapping broker cannot
 * turn a defect into an endless loop.
 */
export class DefectAttempts {
  private readonly last = new Map<string, { offset: string; attempts: number }>();

  constructor(readonly maxAttempts: number) {}

  /** One more failed attempt at `messages`; `stop` is set once no attempt is left. */
  failed(messages: readonly SourceMessage[], error: unknown): { attempt: number; stop?: ServiceError } {
    const first = messages[0] as SourceMessage;
    const last = messages[messages.length - 1] as SourceMessage;
    const key = `${first.topic}:${first.partition}`;
    const previous = this.last.get(key);
    const attempt = previous?.offset === first.offset ? previous.attempts + 1 : 1;
    this.last.set(key, { offset: first.offset, attempts: attempt });
    if (attempt < this.maxAttempts) return { attempt };
    return {
      attempt,
      stop: new ServiceError(
        'INTERNAL_DEFECT',
        `${first.topic}[${first.partition}] offsets ${first.offset}..${last.offset} failed ${attempt} time(s) in a row (DEFECT_MAX_ATTEMPTS=${this.maxAttempts}) with ${describeError(error)}. ` +
          `That is not a broker or network error, and it could not be isolated to one record's INTERNAL_ERROR dead letter. Nothing from offset ${first.offset} on was committed: ` +
          'fix the defect (the log has the stack), then restart; the batch is read again from that offset.',
        { cause: error },
      ),
    };
  }
}
