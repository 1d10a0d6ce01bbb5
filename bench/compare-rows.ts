/**
 * Does the Python peer (bench/python/peer.py) do stream-scorer's work? After both throughput rows
 * read the same pre-produced input, their outputs are read back and matched by input position
 * (topic/partition/offset: a prediction's `source`, a dead letter's scorer.source.* headers):
 *
 * - the same inputs end as predictions, the same as dead letters (with the same reason code, stage,
 *   field and rendered value), nothing twice;
 * - predictions: the same output key and partition, event_id, event_time, classes, label, flags,
 *   model name/version and headers; scores and probabilities: the largest difference is reported
 *   (both run the same ONNX graph with onnxruntime 1.30.0, so 0 is expected);
 * - dead letters: the original key, bytes and headers, and the same scorer.* headers, except
 *   scorer.failed.at (a clock) and scorer.consumer.group (each row has its group); reason messages
 *   of the decode stage are the Avro library's own words (avsc vs fastavro): counted, not compared.
 *
 * Trace headers: an input with a valid traceparent has it passed on unchanged (compared); one
 * without gets a new random id in each row (values ending -00 that differ are accepted).
 */
import type { Kafka } from 'kafkajs';
import { H } from '../src/output/headers';
import { scanTopic } from '../src/kafka/scan';
import type { Headers, SourceMessage } from '../src/records';
import { loadSchema } from '../src/stages/decode';
import { PREDICTION_SCHEMA } from './common';

export interface Comparison {
  readonly ok: boolean;
  readonly summary: string;
  /** The first differences found (at most 20). */
  readonly problems: string[];
}

interface Side {
  readonly predictions: Map<string, { readonly record: SourceMessage; readonly value: Record<string, unknown> }>;
  readonly deadLetters: Map<string, SourceMessage>;
  readonly duplicates: number;
}

const IGNORED_DEAD_LETTER_HEADERS = new Set<string>([H.failedAt, H.consumerGroup]);

function text(value: Headers[string]): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => (v === null ? '<null>' : Buffer.isBuffer(v) ? v.toString('latin1') : v));
}

/** Header name → values, as comparable text, without the ones that legitimately differ. */
function headerMap(headers: Headers, ignore: ReadonlySet<string> = new Set()): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const name of Object.keys(headers).sort()) if (!ignore.has(name)) map.set(name, text(headers[name]));
  return map;
}

function sameHeaders(a: Map<string, string[]>, b: Map<string, string[]>): string | undefined {
  const names = new Set([...a.keys(), ...b.keys()]);
  for (const name of names) {
    const x = a.get(name) ?? [];
    const y = b.get(name) ?? [];
    if (x.length !== y.length) return `header ${name}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`;
    for (let i = 0; i < x.length; i += 1) {
      if (x[i] === y[i]) continue;
      // A traceparent made for an input without a valid one: random, unsampled (-00), in both rows.
      if (name.endsWith('traceparent') && x[i]?.endsWith('-00') && y[i]?.endsWith('-00')) continue;
      return `header ${name}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`;
    }
  }
  return undefined;
}

const one = (headers: Headers, name: string): string => text(headers[name])[0] ?? '';

async function readSide(kafka: Kafka, topics: { output: string; deadLetter: string }): Promise<Side> {
  const type = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
  const predictions: Side['predictions'] = new Map();
  const deadLetters: Side['deadLetters'] = new Map();
  let duplicates = 0;
  await scanTopic(kafka, topics.output, { readCommitted: false, timeoutMs: 120_000 }, (messages) => {
    for (const record of messages) {
      const value = type.fromBuffer(record.value as Buffer) as Record<string, unknown> & { source: { topic: string; partition: number; offset: number } };
      const at = `${value.source.topic}/${value.source.partition}/${value.source.offset}`;
      if (predictions.has(at)) duplicates += 1;
      predictions.set(at, { record, value });
    }
  });
  await scanTopic(kafka, topics.deadLetter, { readCommitted: false, timeoutMs: 120_000 }, (messages) => {
    for (const record of messages) {
      const at = `${one(record.headers, H.sourceTopic)}/${one(record.headers, H.sourcePartition)}/${one(record.headers, H.sourceOffset)}`;
      if (deadLetters.has(at)) duplicates += 1;
      deadLetters.set(at, record);
    }
  });
  return { predictions, deadLetters, duplicates };
}

const sameBytes = (a: Buffer | null, b: Buffer | null): boolean => (a === null || b === null ? a === b : a.equals(b));

/** Compares the outputs of stream-scorer (`scorer`) and the Python peer (`peer`) on the same input. */
export async function compareRows(kafka: Kafka, scorerTopics: { output: string; deadLetter: string }, peerTopics: { output: string; deadLetter: string }): Promise<Comparison> {
  const scorer = await readSide(kafka, scorerTopics);
  const peer = await readSide(kafka, peerTopics);
  const problems: string[] = [];
  const problem = (p: string): void => void (problems.length < 20 && problems.push(p));
  let differences = 0;
  const differ = (p: string): void => {
    differences += 1;
    problem(p);
  };
  if (scorer.duplicates || peer.duplicates) differ(`duplicates: stream-scorer ${scorer.duplicates}, peer ${peer.duplicates} (inputs written twice)`);

  let maxScoreDiff = 0;
  let maxProbabilityDiff = 0;
  for (const [at, s] of scorer.predictions) {
    const p = peer.predictions.get(at);
    if (!p) {
      differ(`${at}: a prediction from stream-scorer, ${peer.deadLetters.has(at) ? `a dead letter (${one((peer.deadLetters.get(at) as SourceMessage).headers, H.reasonCode)}) from the peer` : 'nothing from the peer'}`);
      continue;
    }
    maxScoreDiff = Math.max(maxScoreDiff, Math.abs((s.value.score as number) - (p.value.score as number)));
    const sp = s.value.probabilities as number[];
    const pp = p.value.probabilities as number[];
    if (sp.length !== pp.length) differ(`${at}: probabilities ${JSON.stringify(sp)} vs ${JSON.stringify(pp)}`);
    sp.forEach((v, i) => (maxProbabilityDiff = Math.max(maxProbabilityDiff, Math.abs(v - (pp[i] as number)))));
    for (const field of ['event_id', 'event_time', 'classes', 'label', 'flags', 'model_name', 'model_version']) {
      if (JSON.stringify(s.value[field]) !== JSON.stringify(p.value[field])) differ(`${at}: prediction ${field} ${JSON.stringify(s.value[field])} vs ${JSON.stringify(p.value[field])}`);
    }
    if (!sameBytes(s.record.key, p.record.key)) differ(`${at}: prediction key ${s.record.key?.toString()} vs ${p.record.key?.toString()}`);
    if (s.record.partition !== p.record.partition) differ(`${at}: prediction partition ${s.record.partition} vs ${p.record.partition}`);
    const headers = sameHeaders(headerMap(s.record.headers), headerMap(p.record.headers));
    if (headers) differ(`${at}: prediction ${headers}`);
  }
  for (const at of peer.predictions.keys()) if (!scorer.predictions.has(at)) differ(`${at}: a prediction from the peer, ${scorer.deadLetters.has(at) ? `a dead letter (${one((scorer.deadLetters.get(at) as SourceMessage).headers, H.reasonCode)}) from stream-scorer` : 'nothing from stream-scorer'}`);

  const codes = new Map<string, number>();
  let decodeWording = 0;
  for (const [at, s] of scorer.deadLetters) {
    const p = peer.deadLetters.get(at);
    if (!p) {
      if (!peer.predictions.has(at)) differ(`${at}: a dead letter from stream-scorer, nothing from the peer`);
      continue;
    }
    const code = one(s.headers, H.reasonCode);
    codes.set(code, (codes.get(code) ?? 0) + 1);
    if (!sameBytes(s.key, p.key) || !sameBytes(s.value, p.value)) differ(`${at}: dead letter key or value differs`);
    const decodeStage = one(s.headers, H.reasonStage) === 'decode' && one(p.headers, H.reasonStage) === 'decode';
    const ignore = new Set(IGNORED_DEAD_LETTER_HEADERS);
    if (decodeStage && one(s.headers, H.reasonMessage) !== one(p.headers, H.reasonMessage)) {
      decodeWording += 1;
      ignore.add(H.reasonMessage);
    }
    const headers = sameHeaders(headerMap(s.headers, ignore), headerMap(p.headers, ignore));
    if (headers) differ(`${at}: dead letter ${headers}`);
  }
  for (const at of peer.deadLetters.keys()) if (!scorer.deadLetters.has(at) && !scorer.predictions.has(at)) differ(`${at}: a dead letter from the peer, nothing from stream-scorer`);

  const n = (x: number): string => x.toLocaleString('en-US');
  const byCode = [...codes].sort().map(([c, k]) => `${c} ${n(k)}`).join(', ');
  const summary =
    `predictions ${n(scorer.predictions.size)} (stream-scorer) / ${n(peer.predictions.size)} (peer), dead letters ${n(scorer.deadLetters.size)} / ${n(peer.deadLetters.size)} (${byCode}); ` +
    `max |score difference| ${maxScoreDiff.toExponential(2)}, max |probability difference| ${maxProbabilityDiff.toExponential(2)}; ` +
    `${differences === 0 ? 'no other difference' : `${n(differences)} differences`} in keys, partitions, fields and headers` +
    (decodeWording ? ` (reason messages of ${n(decodeWording)} decode-stage dead letters are each Avro library's own wording, not compared)` : '');
  return { ok: differences === 0 && scorer.predictions.size + scorer.deadLetters.size > 0, summary, problems };
}
