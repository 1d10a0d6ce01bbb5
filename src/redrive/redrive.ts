import { trace } from '@opentelemetry/api';
import type { Config } from '../config/schema';
import { createKafka } from '../kafka/client';
import { createOutputWriter } from '../kafka/output-writer';
import { type OffsetRange, pendingRanges, readRanges } from '../kafka/ranges';
import { dependencyWaitFrom, withDependencyWait } from '../batch/dependency-wait';
import { type PipelineDeps, processBatch } from '../pipeline';
import type { OutputRecord, SourceMessage } from '../records';
import type { Logger } from '../telemetry/logger';
import type { RedriveArgs } from './args';
import { deadLetterInfo, redrivenMessage, verdict } from './select';

/** What one pass over the dead letters saw and did. */
export interface RedriveSummary {
  read: number;
  matched: number;
  redriven: number;
  skipped: number;
  readByReason: Map<string, number>;
  matchedByReason: Map<string, number>;
  matchedByFieldValue: Map<string, number>;
  redrivenByReason: Map<string, number>;
  skippedBy: Map<string, number>;
  /** --to output: predictions written, and records dead-lettered again. */
  predictions: number;
  deadLettered: number;
  complete: boolean;
}

export interface RedriveResult {
  readonly group: string;
  readonly ranges: ReadonlyMap<number, OffsetRange>;
  readonly dryRun: RedriveSummary;
  /** Undefined without --apply. */
  readonly applied?: RedriveSummary;
}

export function redriveGroup(config: Config): string {
  return config.redriveGroup ?? `${config.groupId}.redrive`;
}

function emptySummary(): RedriveSummary {
  return { read: 0, matched: 0, redriven: 0, skipped: 0, readByReason: new Map(), matchedByReason: new Map(), matchedByFieldValue: new Map(), redrivenByReason: new Map(), skippedBy: new Map(), predictions: 0, deadLettered: 0, complete: false };
}

const bump = (map: Map<string, number>, key: string, n = 1): void => {
  map.set(key, (map.get(key) ?? 0) + n);
};

/** Counts one dead letter; returns the message to send again when it is selected and re-drivable. */
function classify(summary: RedriveSummary, message: SourceMessage, args: RedriveArgs, at: number): { message: SourceMessage; reason: string } | undefined {
  const info = deadLetterInfo(message);
  summary.read += 1;
  bump(summary.readByReason, info.reason);
  const v = verdict(message, info, args.filter, args.maxRedrives);
  if (v.kind === 'filtered') return undefined;
  summary.matched += 1;
  bump(summary.matchedByReason, info.reason);
  bump(summary.matchedByFieldValue, `${info.field ?? '-'}=${info.value ?? '-'}`);
  if (v.kind === 'skip') {
    summary.skipped += 1;
    bump(summary.skippedBy, v.why);
    return undefined;
  }
  return { message: redrivenMessage(message, info, at), reason: info.reason };
}

function table(map: ReadonlyMap<string, number>, top = Number.POSITIVE_INFINITY): string[] {
  const rows = [...map].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = rows.slice(0, top).map(([k, n]) => `  ${String(n).padStart(8)}  ${k}`);
  if (rows.length > top) shown.push(`  ${String(rows.slice(top).reduce((s, [, n]) => s + n, 0)).padStart(8)}  (${rows.length - top} more)`);
  return shown.length > 0 ? shown : ['         -'];
}

export function formatDryRun(summary: RedriveSummary, args: RedriveArgs): string {
  const redrivable = summary.matched - summary.skipped;
  return [
    `dry run: read ${summary.read} dead letter(s), ${summary.matched} match the filter, ${redrivable} can be re-driven, ${summary.skipped} would be skipped${summary.complete ? '' : ' (INCOMPLETE: the topic was not read to the end offsets)'}`,
    'read, by reason:',
    ...table(summary.readByReason),
    'matching, by reason:',
    ...table(summary.matchedByReason),
    `matching, by field=value (top ${args.top}):`,
    ...table(summary.matchedByFieldValue, args.top),
    ...(summary.skipped > 0 ? ['would be skipped:', ...table(summary.skippedBy)] : []),
    args.apply ? `re-driving ${redrivable} to ${args.to === 'input' ? 'their input topics' : 'OUTPUT_TOPIC (scored now)'}` : `nothing written: run again with --apply to re-drive ${redrivable} dead letter(s) to ${args.to}`,
  ].join('\n');
}

export function formatApplied(summary: RedriveSummary, args: RedriveArgs): string {
  return [
    `re-drive done: read ${summary.read}, matched ${summary.matched}, re-driven ${summary.redriven}, skipped ${summary.skipped}${summary.complete ? '' : ' (INCOMPLETE: stopped before the end offsets; run again to continue)'}`,
    ...(args.to === 'output' ? [`  scored: ${summary.predictions} prediction(s), ${summary.deadLettered} dead-lettered again`] : []),
    're-driven, by reason:',
    ...table(summary.redrivenByReason),
    ...(summary.skipped > 0 ? ['skipped:', ...table(summary.skippedBy)] : []),
  ].join('\n');
}

export interface RedriveHooks {
  /** testing: called once a batch's outputs are sent, before its offsets are committed (inside the transaction in exactly-once mode). A throw fails the run there. */
  readonly beforeCommit?: () => void;
}

/**
 * `stream-scorer redrive`: a dry-run pass over the dead letters the re-drive group has not passed
 * yet, up to the end offsets seen at the start; with --apply, a second pass over the same ranges
 * that sends the selected originals again and commits each batch's offsets to the re-drive group
 * once every record it produced was acknowledged. See docs/model-lifecycle.md#re-drive.
 */
export async function runRedrive(config: Config, logger: Logger, args: RedriveArgs, print: (line: string) => void, hooks: RedriveHooks = {}): Promise<RedriveResult> {
  const group = redriveGroup(config);
  const topic = config.deadLetterTopic;
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `${config.kafkaClientId}-redrive`, security: config }, logger);
  const readCommitted = true;
  const ranges = await pendingRanges(kafka, topic, group);
  const total = [...ranges.values()].reduce((s, r) => s + (r.end - r.start), 0n);
  print(`redrive: ${topic}, group ${group}: ${total} dead letter(s) not yet passed${[...ranges].map(([p, r]) => `; partition ${p} offsets ${r.start}..${r.end - 1n}`).join('')}`);

  const dryRun = emptySummary();
  const scanAt = Date.now();
  dryRun.complete = (
    await readRanges(kafka, topic, ranges, { readCommitted }, async (messages) => {
      for (const m of messages) classify(dryRun, m, args, scanAt);
    })
  ).complete;
  print(formatDryRun(dryRun, args));
  if (!args.apply) return { group, ranges, dryRun };

  let deps: PipelineDeps | undefined;
  let closeStore: () => Promise<void> = async () => undefined;
  if (args.to === 'output') {
    const { prepare } = await import('../service');
    const prepared = await prepare(config, logger);
    deps = { ...prepared, deadLetter: { ...prepared.deadLetter, consumerGroup: group }, tracer: trace.getTracer('stream-scorer-redrive'), recordSpans: false };
    closeStore = () => prepared.store.close();
    print(`scoring with model ${prepared.prediction.modelName} ${prepared.prediction.modelVersion}`);
  }
  // exactly-once: the outputs and the re-drive group's offsets go in one transaction per
  // dead-letter partition (no repeat after a crash); at-least-once: offsets committed after the acks.
  const writer = createOutputWriter(kafka, config.processingGuarantee, {
    retries: config.producerRetries,
    consumerGroup: group,
    transactionalIdPrefix: group,
    transactionTimeoutMs: config.transactionTimeoutMs,
  });
  const applied = emptySummary();
  const dependencyWait = dependencyWaitFrom(config, logger);
  let lastPrint = 0;
  try {
    applied.complete = (
      await readRanges(kafka, topic, ranges, { groupId: group, readCommitted }, async (batch, commit, heartbeat) => {
        const now = Date.now();
        let messages = batch;
        if (writer.guarantee === 'exactly-once' && batch[0]) {
          // Fences an earlier run's producer of this partition; what it committed meanwhile is done.
          const committed = await writer.claim(topic, batch[0].partition);
          if (committed !== undefined) messages = batch.filter((m) => BigInt(m.offset) >= BigInt(committed));
        }
        const selected: SourceMessage[] = [];
        const reasons = new Map<SourceMessage, string>();
        for (const m of messages) {
          const again = classify(applied, m, args, now);
          if (!again) continue;
          selected.push(again.message);
          reasons.set(again.message, again.reason);
        }
        const batches: { topic: string; records: OutputRecord[] }[] = [];
        let processed: Awaited<ReturnType<typeof processBatch>> | undefined;
        if (selected.length > 0 && deps) {
          const ready = deps;
          processed = await withDependencyWait(() => processBatch(ready, selected), dependencyWait, heartbeat);
          batches.push({ topic: deps.outputTopic, records: processed.predictions }, { topic: deps.deadLetterTopic, records: processed.deadLetters });
        } else if (selected.length > 0) {
          const byTopic = new Map<string, OutputRecord[]>();
          for (const m of selected) {
            const records = byTopic.get(m.topic) ?? [];
            records.push({ key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp });
            byTopic.set(m.topic, records);
          }
          for (const [t, records] of byTopic) batches.push({ topic: t, records });
        }
        const first = messages[0];
        try {
          if (writer.guarantee === 'exactly-once' && first) {
            const last = messages[messages.length - 1] as SourceMessage;
            await writer.write({ topic, partition: first.partition, nextOffset: (BigInt(last.offset) + 1n).toString() }, batches, hooks.beforeCommit);
          } else if (batches.length > 0 && first) {
            // Acknowledged (acks = all, idempotent producer) before the offsets are committed.
            await writer.write({ topic, partition: first.partition, nextOffset: '' }, batches, hooks.beforeCommit);
          }
          processed?.finish();
        } catch (error) {
          processed?.finish(error as Error);
          throw error;
        }
        if (writer.guarantee === 'at-least-once') await commit();
        for (const m of selected) bump(applied.redrivenByReason, reasons.get(m) ?? '(none)');
        applied.redriven += selected.length;
        applied.predictions += processed?.predictions.length ?? 0;
        applied.deadLettered += processed?.deadLetters.length ?? 0;
        if (first && (now - lastPrint > 1_000 || applied.read === dryRun.read)) {
          lastPrint = now;
          const last = messages[messages.length - 1] as SourceMessage;
          const range = ranges.get(first.partition);
          print(`progress: partition ${first.partition} at offset ${last.offset} of ${range ? range.end - 1n : '?'}; read ${applied.read}, re-driven ${applied.redriven}, skipped ${applied.skipped}`);
        }
      })
    ).complete;
  } finally {
    await writer.disconnect();
    // An open Redis connection (a model with store features) would keep the process alive.
    await closeStore();
  }
  print(formatApplied(applied, args));
  return { group, ranges, dryRun, applied };
}
