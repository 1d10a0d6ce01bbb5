/**
 * Kafka client candidates, bare consume → produce passthroughs on the same pre-produced input:
 * kafkajs (bench/row.ts `ceiling`), @platformatic/kafka, and @confluentinc/kafka-javascript with
 * its native API and its KafkaJS-compatible API (bench/client-row.ts). Each row in its own
 * process, a fresh consumer group and output topic per row; rounds alternate the order. After each
 * row the output's record count (sum of the partitions' end offsets) must equal the input's.
 *
 *   KAFKA_BROKERS=127.0.0.1:PORT node --import tsx bench/clients.ts
 *
 * Settings: BENCH_EVENTS (200000), BENCH_ROUNDS (2), BENCH_CLIENTS
 * (kafkajs,platformatic,rdkafka,ckjs-kafkajs,ckjs-kafkajs/b1000: `/bN` sets the ckjs KafkaJS
 * consumer's js.consumer.max.batch.size, default 32; `rdkafka/fN` keeps N batches in flight),
 * BENCH_LABEL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { ClientMode, ClientRowResult, ClientRowSpec } from './client-row';
import { ROOT, benchKafka, createTopics, deleteTopics, describeMachine, loadAverage } from './common';
import type { RowResult, RowSpec } from './row';

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CLIENTS = (process.env.BENCH_CLIENTS ?? 'kafkajs,platformatic,rdkafka,ckjs-kafkajs,ckjs-kafkajs/b1000').split(',');
const RUN = `clients-${Date.now().toString(36)}`;
const topics: string[] = [];

function node(script: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(__dirname, script)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
}

function collect<T>(child: ChildProcess, what: string): Promise<T> {
  child.stdout?.on('data', (d: Buffer) => process.stderr.write(d));
  return new Promise<T>((resolve, reject) => {
    let got: T | undefined;
    child.on('message', (m: { result?: T }) => {
      if (m.result) got = m.result;
    });
    child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`${what} exited with ${code} before reporting`))));
  });
}

function load(topic: string, count: number): Promise<{ sent: number; seconds: number }> {
  const child = node('load.ts', { BENCH_LOAD: JSON.stringify({ topic, count, seed: 1 }) });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => {
      const line = text.split('\n').find((l) => l.startsWith('BENCH_LOAD_DONE '));
      if (code !== 0 || !line) reject(new Error(`load generator failed (exit ${code}): ${text}`));
      else resolve(JSON.parse(line.slice('BENCH_LOAD_DONE '.length)));
    }),
  );
}

async function count(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

async function runClient(client: string, input: string, tag: string): Promise<ClientRowResult | RowResult> {
  const output = `${RUN}.${tag}.out`;
  const group = `${RUN}.${tag}.group`;
  topics.push(output);
  if (client === 'kafkajs') {
    const deadLetter = `${RUN}.${tag}.dlq`;
    topics.push(deadLetter);
    const spec: RowSpec = { mode: 'ceiling', input, output, deadLetter, group, expected: EVENTS };
    return collect<RowResult>(node('row.ts', { BENCH_ROW: JSON.stringify(spec) }), client);
  }
  const [mode, option] = client.split('/') as [ClientMode, string | undefined];
  const spec: ClientRowSpec = {
    mode,
    input,
    output,
    group,
    expected: EVENTS,
    ...(option?.startsWith('b') ? { batchSize: Number(option.slice(1)) } : {}),
    ...(option?.startsWith('f') ? { inFlight: Number(option.slice(1)) } : {}),
  };
  return collect<ClientRowResult>(node('client-row.ts', { BENCH_CLIENT_ROW: JSON.stringify(spec) }), client);
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const machine = describeMachine();
  const kafka = benchKafka();
  const started = new Date();
  out(`# Kafka client passthroughs ${started.toISOString()} (${RUN})`);
  const input = `${RUN}.in`;
  topics.push(input);
  await createTopics(kafka, { input: [input] });
  const pre = await load(input, EVENTS);
  const inputCount = await count(kafka, input);
  out(`pre-produced ${pre.sent} events into ${input} (${inputCount} records) in ${pre.seconds.toFixed(1)} s`);

  const rows: Array<{ round: number; client: string; result: ClientRowResult | RowResult; outputCount: number; load: string }> = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const order = round % 2 === 1 ? CLIENTS : [...CLIENTS].reverse();
    for (const client of order) {
      const tag = `${client.replace('/', '-')}.r${round}`;
      await createTopics(kafka, { output: [`${RUN}.${tag}.out`, ...(client === 'kafkajs' ? [`${RUN}.${tag}.dlq`] : [])] });
      const before = loadAverage();
      const result = await runClient(client, input, tag);
      const outputCount = await count(kafka, `${RUN}.${tag}.out`);
      const loadText = `${before} → ${loadAverage()}`;
      rows.push({ round, client, result, outputCount, load: loadText });
      const check = outputCount === inputCount ? 'ok' : `MISMATCH (${outputCount} ≠ ${inputCount})`;
      out(`round ${round} ${client}: ${fmt(result.eventsPerSecond)} events/s (${result.events} in ${result.seconds.toFixed(2)} s), cpu ${result.cpuSecondsPer1k.toFixed(3)} s/1k, peak RSS ${result.peakRssMb.toFixed(0)} MB; output ${outputCount} ${check}; load ${loadText}`);
    }
  }

  const table = [
    '| client / API | round | events/s | CPU s / 1k events | peak RSS MB | output = input | load average (before → after) |',
    '|---|---|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r.client} | ${r.round} | ${fmt(r.result.eventsPerSecond)} | ${r.result.cpuSecondsPer1k.toFixed(3)} | ${r.result.peakRssMb.toFixed(0)} | ${r.outputCount === inputCount ? 'yes' : `no (${r.outputCount})`} | ${r.load} |`),
  ];
  out();
  for (const line of table) out(line);

  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const label = process.env.BENCH_LABEL ? `-${process.env.BENCH_LABEL}` : '';
  const base = join(dir, `${started.toISOString().slice(0, 10)}-${hostname()}-clients${label}`);
  const settings = { events: EVENTS, rounds: ROUNDS, clients: CLIENTS, input: inputCount };
  writeFileSync(`${base}.json`, `${JSON.stringify({ started: started.toISOString(), machine, settings, rows }, null, 2)}\n`);
  const md = [
    `# Kafka client passthroughs, ${started.toISOString()}`,
    '',
    ...Object.entries(machine).map(([k, v]) => `- ${k}: ${v}`),
    `- events: ${EVENTS} pre-produced (traceparent headers), ${ROUNDS} rounds, order alternating`,
    '',
    'Each row: its own process, a fresh consumer group, consume → produce the same key, value and headers; idempotent producer, acks=all, no compression; offsets committed after the batch is acknowledged. Measured from the first fetched batch to the last acknowledgement (bench/row.ts method).',
    '',
    ...table,
    '',
  ];
  writeFileSync(`${base}.md`, md.join('\n'));
  out(`\nwritten ${base}.md and .json`);
  await deleteTopics(kafka, topics);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench clients: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
