import { readTopic } from '../kafka/reader';
import type { Kafka } from '../kafka/client';
import { H } from '../output/headers';
import type { HeaderValue, SourceMessage } from '../records';

/**
 * Accounts for every input record: each must have exactly one prediction or one dead letter.
 * Records are identified by their input position (topic, partition, offset), which every
 * prediction (`source`) and dead letter (`scorer.source.*` headers) carries, so even
 * undecodable input is accounted for.
 */
export interface VerifyReport {
  readonly eventsIn: number;
  readonly predictions: number;
  readonly deadLetters: number;
  readonly accountedFor: number;
  readonly lost: number;
  /** Input records with more than one output. */
  readonly duplicated: number;
  /** Outputs beyond the first, summed over duplicated records. */
  readonly extraOutputs: number;
  /** Outputs whose source is not in the input topics read (other runs, other topics). */
  readonly foreign: number;
  readonly complete: boolean;
  readonly lostSample: string[];
}

function lastText(value: HeaderValue): string | undefined {
  if (value === undefined) return undefined;
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined || last === null ? undefined : last.toString();
}

/** The prediction schema's avsc Type, or predictionReader's framed reader. */
export interface PredictionDecoder {
  fromBuffer(value: Buffer): unknown;
}

export function account(inputs: readonly SourceMessage[], predictions: readonly SourceMessage[], deadLetters: readonly SourceMessage[], predictionType: PredictionDecoder, complete = true): VerifyReport {
  const outputs = new Map<string, number>();
  for (const input of inputs) outputs.set(`${input.topic}/${input.partition}/${input.offset}`, 0);
  let foreign = 0;
  const count = (position: string | undefined): void => {
    const seen = position === undefined ? undefined : outputs.get(position);
    if (position === undefined || seen === undefined) foreign += 1;
    else outputs.set(position, seen + 1);
  };
  for (const record of predictions) {
    try {
      const { source } = predictionType.fromBuffer(record.value as Buffer) as { source: { topic: string; partition: number; offset: number } };
      count(`${source.topic}/${source.partition}/${source.offset}`);
    } catch {
      count(undefined);
    }
  }
  for (const record of deadLetters) {
    const topic = lastText(record.headers[H.sourceTopic]);
    const partition = lastText(record.headers[H.sourcePartition]);
    const offset = lastText(record.headers[H.sourceOffset]);
    count(topic === undefined ? undefined : `${topic}/${partition}/${offset}`);
  }
  let lost = 0;
  let duplicated = 0;
  let extraOutputs = 0;
  const lostSample: string[] = [];
  for (const [position, n] of outputs) {
    if (n === 0) {
      lost += 1;
      if (lostSample.length < 10) lostSample.push(position);
    } else if (n > 1) {
      duplicated += 1;
      extraOutputs += n - 1;
    }
  }
  return {
    eventsIn: inputs.length,
    predictions: predictions.length,
    deadLetters: deadLetters.length,
    accountedFor: inputs.length - lost,
    lost,
    duplicated,
    extraOutputs,
    foreign,
    complete,
    lostSample,
  };
}

export async function verifyTopics(
  kafka: Kafka,
  topics: { inputs: readonly string[]; output: string; deadLetter: string },
  predictionType: PredictionDecoder,
  readCommitted: boolean,
): Promise<VerifyReport> {
  const inputs: SourceMessage[] = [];
  let complete = true;
  for (const topic of topics.inputs) {
    const read = await readTopic(kafka, topic, { readCommitted: true });
    // Not push(...messages): spreading a few hundred thousand arguments overflows the stack.
    for (const message of read.messages) inputs.push(message);
    complete &&= read.complete;
  }
  const predictions = await readTopic(kafka, topics.output, { readCommitted });
  const deadLetters = await readTopic(kafka, topics.deadLetter, { readCommitted });
  return account(inputs, predictions.messages, deadLetters.messages, predictionType, complete && predictions.complete && deadLetters.complete);
}

export function formatReport(report: VerifyReport): string {
  return [
    `events in      ${report.eventsIn}`,
    `accounted for  ${report.accountedFor}  (predictions ${report.predictions}, dead letters ${report.deadLetters})`,
    `lost           ${report.lost}${report.lostSample.length > 0 ? `  e.g. ${report.lostSample.join(' ')}` : ''}`,
    `duplicated     ${report.duplicated}  (${report.extraOutputs} extra outputs)`,
    ...(report.foreign > 0 ? [`foreign        ${report.foreign}  (outputs whose input was not read)`] : []),
    ...(report.complete ? [] : ['incomplete     a topic was not read to its end (open transaction or timeout)']),
  ].join('\n');
}
