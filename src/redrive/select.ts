import { H, HEADER_PREFIX } from '../output/headers';
import type { HeaderValue, Headers, SourceMessage } from '../records';
import type { RedriveFilter } from './args';

/** The current (last) value of a header as text: a re-rejected record repeats our headers, the last is current. */
export function lastText(value: HeaderValue): string | undefined {
  if (value === undefined) return undefined;
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined || last === null ? undefined : last.toString();
}

/** What a re-drive does with one dead letter. */
export type Verdict =
  | { readonly kind: 'filtered' }
  | { readonly kind: 'skip'; readonly why: 'not a dead letter' | 'value left out' | 'key left out' | 'max re-drives' }
  | { readonly kind: 'match' };

/** The headers a re-drive filters and counts on. */
export interface DeadLetterInfo {
  readonly reason: string;
  readonly field: string | undefined;
  readonly value: string | undefined;
  readonly modelVersion: string | undefined;
  readonly failedAt: number | undefined;
  readonly sourceTopic: string | undefined;
  /** How many times the original was re-driven before this dead letter. */
  readonly redrives: number;
}

export function deadLetterInfo(message: SourceMessage): DeadLetterInfo {
  const h = message.headers;
  const failedAt = lastText(h[H.failedAt]);
  const parsed = failedAt === undefined ? Number.NaN : Date.parse(failedAt);
  const count = Number(lastText(h[H.redriveCount]) ?? '0');
  return {
    reason: lastText(h[H.reasonCode]) ?? '(none)',
    field: lastText(h[H.reasonField]),
    value: lastText(h[H.reasonValue]),
    modelVersion: lastText(h[H.modelVersion]),
    failedAt: Number.isNaN(parsed) ? undefined : parsed,
    sourceTopic: lastText(h[H.sourceTopic]),
    redrives: Number.isInteger(count) && count > 0 ? count : 0,
  };
}

export function matches(info: DeadLetterInfo, filter: RedriveFilter): boolean {
  if (filter.reason !== undefined && info.reason !== filter.reason) return false;
  if (filter.field !== undefined && info.field !== filter.field) return false;
  if (filter.value !== undefined && info.value !== filter.value) return false;
  if (filter.modelVersion !== undefined && info.modelVersion !== filter.modelVersion) return false;
  if (filter.since !== undefined && (info.failedAt === undefined || info.failedAt < filter.since)) return false;
  if (filter.until !== undefined && (info.failedAt === undefined || info.failedAt >= filter.until)) return false;
  return true;
}

/** Filter first (a record the filter does not select is not "skipped"), then what makes a selected one impossible to re-drive. */
export function verdict(message: SourceMessage, info: DeadLetterInfo, filter: RedriveFilter, maxRedrives: number): Verdict {
  if (!matches(info, filter)) return { kind: 'filtered' };
  const h = message.headers;
  if (info.sourceTopic === undefined || lastText(h[H.sourcePartition]) === undefined || lastText(h[H.sourceOffset]) === undefined) return { kind: 'skip', why: 'not a dead letter' };
  // A dead letter too big for its topic lost its value (or key): the original is only on the input topic, if retention still keeps it.
  if (lastText(h[H.valueTruncated]) === 'true') return { kind: 'skip', why: 'value left out' };
  if (lastText(h[H.keyTruncated]) === 'true') return { kind: 'skip', why: 'key left out' };
  if (info.redrives >= maxRedrives) return { kind: 'skip', why: 'max re-drives' };
  return { kind: 'match' };
}

/**
 * The original record of a dead letter, as it is sent again: key, value, timestamp and the
 * original headers byte for byte, without the scorer.* headers (the rejection, and those of an
 * earlier re-drive), plus the re-drive count and the dead letter's own coordinates.
 * topic/partition/offset are the original input's (scorer.source.*): a prediction made from it
 * names the input record it stands for.
 */
export function redrivenMessage(deadLetter: SourceMessage, info: DeadLetterInfo, at: number): SourceMessage {
  const headers: Headers = {};
  for (const name in deadLetter.headers) if (!name.startsWith(HEADER_PREFIX)) headers[name] = deadLetter.headers[name];
  headers[H.redriveCount] = String(info.redrives + 1);
  headers[H.redriveFromTopic] = deadLetter.topic;
  headers[H.redriveFromPartition] = String(deadLetter.partition);
  headers[H.redriveFromOffset] = deadLetter.offset;
  headers[H.redriveAt] = new Date(at).toISOString();
  const h = deadLetter.headers;
  return {
    topic: info.sourceTopic as string,
    partition: Number(lastText(h[H.sourcePartition])),
    offset: lastText(h[H.sourceOffset]) as string,
    key: deadLetter.key,
    value: deadLetter.value,
    headers,
    timestamp: lastText(h[H.sourceTimestamp]) ?? deadLetter.timestamp,
  };
}
