/**
 * npm run bench: stream-scorer against its ceiling (bare kafkajs consume → produce) and its naive
 * baseline (per-message decode/score/awaited send), in one run, on the same broker and settings.
 * Each row runs as its own process (bench/row.ts); the load generator is another (bench/load.ts).
 *
 * The python-peer and python-passthrough rows are independent Python processes (bench/python/:
 * confluent-kafka + fastavro + onnxruntime, and the bare librdkafka consume → produce limit), in the
 * venv of scripts/python-check-env.sh; when python-peer runs next to scorer, their outputs are
 * compared record by record (bench/compare-rows.ts).
 *
 * Settings (environment): BENCH_EVENTS (pre-produced events, 400000), BENCH_NAIVE_EVENTS (20000),
 * BENCH_LIVE_SECONDS (15), BENCH_ROWS (python-passthrough,ceiling,python-peer,scorer,scorer-eos,naive),
 * BENCH_SCORER_ENV (JSON of extra service settings), BENCH_PROFILE=1 (--cpu-prof of the stream-scorer
 * throughput row; BENCH_PROFILE_ROWS=ceiling,scorer for others),
 * BENCH_LATENCY=0 (throughput only), BENCH_FULL_LOAD=0 (with BENCH_HALF_RATE: the paced phase only), BENCH_HALF_RATE (pins the "50 %" rate), BENCH_LABEL (a word in the results file name).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { scanTopic } from '../src/kafka/scan';
import type { SourceMessage } from '../src/records';
import { SERVICE_NODE_FLAGS } from '../src/runtime';
import { loadSchema } from '../src/stages/decode';
import { INPUT_SCHEMA, PREDICTION_SCHEMA, ROOT, benchKafka, brokers, createTopics, deleteTopics, busyShare, describeMachine, loadAverage, machineCpu, quantile, sleep } from './common';
import { type Comparison, compareRows } from './compare-rows';
import type { RowMode, RowResult, RowSpec } from './row';

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const env = process.env;
const EVENTS = Number(env.BENCH_EVENTS ?? 400_000);
const NAIVE_EVENTS = Number(env.BENCH_NAIVE_EVENTS ?? 20_000);
const LIVE_SECONDS = Number(env.BENCH_LIVE_SECONDS ?? 15);
/** Live load before the measured window: JIT, ONNX and connection warm-up are not steady state. */
const WARMUP_SECONDS = Number(env.BENCH_WARMUP_SECONDS ?? 5);
const ROWS = (env.BENCH_ROWS ?? 'python-passthrough,ceiling,python-peer,scorer,scorer-eos,naive').split(',') as RowMode[];
const SCORER_ENV = JSON.parse(env.BENCH_SCORER_ENV ?? '{}') as Record<string, string>;
const PROFILE = env.BENCH_PROFILE === '1';
const PROFILE_ROWS = (env.BENCH_PROFILE_ROWS ?? 'scorer').split(',');
const LATENCY = env.BENCH_LATENCY !== '0';
/** Node flags of the Node row processes: by default the service's own (src/runtime.ts, as `npm start` passes them). */
const NODE_FLAGS = (env.BENCH_NODE_FLAGS ?? SERVICE_NODE_FLAGS.join(' ')).split(' ').filter(Boolean);
const RUN = `bench-${Date.now().toString(36)}`;
const topics: string[] = [];

function node(script: string, envExtra: Record<string, string>, args: string[] = []): ChildProcess {
  return spawn(process.execPath, [...args, '--import', 'tsx', join(__dirname, script)], {
    cwd: ROOT,
    env: { ...process.env, ...envExtra },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
}

function load(spec: Record<string, unknown>): Promise<{ sent: number; seconds: number }> {
  const child = node('load.ts', { BENCH_LOAD: JSON.stringify(spec) });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      const line = text.split('\n').find((l) => l.startsWith('BENCH_LOAD_DONE '));
      if (code !== 0 || !line) reject(new Error(`load generator failed (exit ${code}): ${text}`));
      else resolve(JSON.parse(line.slice('BENCH_LOAD_DONE '.length)));
    });
  });
}

interface RunningRow {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly result: Promise<RowResult>;
  /** Live input: how many inputs the row is to finish after, known once the load generator is done. */
  readonly expect: (count: number) => void;
}

/** The Python rows: their script in bench/python/. */
const PYTHON_ROWS: Partial<Record<RowMode, string>> = { 'python-peer': 'peer.py', 'python-passthrough': 'passthrough.py' };

function startRow(spec: RowSpec, profileDir?: string): RunningRow {
  const script = PYTHON_ROWS[spec.mode];
  return script ? startPythonRow(spec, script) : startNodeRow(spec, profileDir);
}

/** A Node row (bench/row.ts): ready, result and `expected` over the IPC channel. */
function startNodeRow(spec: RowSpec, profileDir?: string): RunningRow {
  const args = [...NODE_FLAGS, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  const child = node('row.ts', { BENCH_ROW: JSON.stringify(spec) }, args);
  child.stdout?.on('data', (d: Buffer) => process.stderr.write(d));
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<RowResult>((resolve, reject) => {
    let got: RowResult | undefined;
    child.on('message', (m: { ready?: boolean; result?: RowResult }) => {
      if (m.ready) onReady();
      if (m.result) got = m.result;
    });
    child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`row ${spec.mode} exited with ${code} before reporting`))));
  });
  return { child, ready, result, expect: (count) => child.send({ expected: count }) };
}

let pythonPath: string | undefined;

/** The bench venv's python (scripts/python-check-env.sh installs bench/python/requirements.txt once). */
function benchPython(): string {
  if (pythonPath) return pythonPath;
  const made = spawnSync(join(ROOT, 'scripts/python-check-env.sh'), [], {
    encoding: 'utf8',
    env: { ...process.env, PYTHON_ENV_REQUIREMENTS: 'bench/python/requirements.txt', PYTHON_ENV_VENV: '.cache/venv-bench', PYTHON_ENV_IMPORTS: 'confluent_kafka fastavro numpy onnxruntime' },
  });
  if (made.status !== 0) throw new Error(`scripts/python-check-env.sh (bench venv) failed: ${made.stderr}`);
  pythonPath = made.stdout.trim();
  return pythonPath;
}

/** Versions of the Python rows' libraries, for the results file. */
function describePython(): string {
  const run = spawnSync(benchPython(), ['-c', 'import sys, confluent_kafka, fastavro, numpy, onnxruntime; print(f"Python {sys.version.split()[0]}, confluent-kafka {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]}), fastavro {fastavro.__version__}, onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}")'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : 'unknown';
}

/** A Python row (bench/python/*.py): `BENCH_ROW_READY` and `BENCH_ROW_RESULT {json}` lines on stdout, `expected` as a stdin line. */
function startPythonRow(spec: RowSpec, script: string): RunningRow {
  const child = spawn(benchPython(), [join(__dirname, 'python', script)], {
    cwd: ROOT,
    env: { ...process.env, BENCH_ROW: JSON.stringify(spec), KAFKA_BROKERS: brokers().join(',') },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<RowResult>((resolve, reject) => {
    let got: RowResult | undefined;
    let pending = '';
    child.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'BENCH_ROW_READY') onReady();
        else if (line.startsWith('BENCH_ROW_RESULT ')) got = JSON.parse(line.slice('BENCH_ROW_RESULT '.length)) as RowResult;
        else process.stderr.write(`${line}\n`);
      }
    });
    child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`row ${spec.mode} exited with ${code} before reporting`))));
  });
  return { child, ready, result, expect: (count) => void child.stdin?.write(`${JSON.stringify({ expected: count })}\n`) };
}

function rowTopics(tag: string): { output: string; deadLetter: string; group: string } {
  const t = { output: `${RUN}.${tag}.out`, deadLetter: `${RUN}.${tag}.dlq`, group: `${RUN}.${tag}.group` };
  topics.push(t.output, t.deadLetter);
  return t;
}

/** Every record of `topic` up to its end offsets, batch by batch (src/kafka/scan.ts, as `stream-scorer drift`). */
async function readAll(kafka: Kafka, topic: string, each: (message: SourceMessage) => void): Promise<void> {
  await scanTopic(kafka, topic, { readCommitted: false, timeoutMs: 120_000 }, (messages) => {
    for (const m of messages) each(m);
  });
}

/**
 * Latency of every output record, from the broker append time of the output (output topics use
 * LogAppendTime) back to (1) the input record's timestamp, the broker's append time of the
 * event (the live input topics use LogAppendTime too), and (2) the event_time in the payload,
 * the moment the load generator made the event, which adds the generator's own client-side
 * queueing. The ceiling copies the input records in order, so its output offset is the input's.
 */
async function latencies(kafka: Kafka, input: string, output: string, ceiling: boolean, since: number): Promise<{ fromInput: Float64Array; fromEvent: Float64Array }> {
  const appended = new Map<number, number[]>();
  await readAll(kafka, input, (m) => {
    let times = appended.get(m.partition);
    if (!times) appended.set(m.partition, (times = []));
    times[Number(m.offset)] = Number(m.timestamp);
  });
  const type = loadSchema(ceiling ? INPUT_SCHEMA : PREDICTION_SCHEMA, 'schema');
  const fromInput: number[] = [];
  const fromEvent: number[] = [];
  await readAll(kafka, output, (m) => {
    const at = Number(m.timestamp);
    let eventTime: number | undefined;
    let source: { partition: number; offset: number } | undefined = ceiling ? { partition: m.partition, offset: Number(m.offset) } : undefined;
    try {
      const value = m.value ? (type.fromBuffer(m.value) as { event_time?: number | null; source?: { partition: number; offset: number | string } }) : undefined;
      if (typeof value?.event_time === 'number') eventTime = value.event_time;
      if (!ceiling && value?.source) source = { partition: value.source.partition, offset: Number(value.source.offset) };
    } catch {
      // the ceiling copies corrupt inputs too: no event_time to read
    }
    const inputAt = source ? appended.get(source.partition)?.[source.offset] : undefined;
    if (inputAt === undefined || inputAt < since) return;
    fromInput.push(at - inputAt);
    if (eventTime !== undefined) fromEvent.push(at - eventTime);
  });
  return { fromInput: Float64Array.from(fromInput).sort(), fromEvent: Float64Array.from(fromEvent).sort() };
}

interface Latency {
  /** Output append time − input append time (the event's Kafka timestamp). */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** Output append time − event_time (when the load generator made the event). */
  readonly fromEvent: { readonly p50: number; readonly p95: number; readonly p99: number };
  readonly count: number;
  readonly rate: number;
  readonly offered: number;
  /** The row's event-loop delay p99 during this phase (Node rows). */
  readonly eventLoopDelayP99Ms?: number;
  /** The row's garbage collections during this phase (Node rows). */
  readonly gc?: { readonly minor: number; readonly minorMs: number; readonly major: number; readonly majorMs: number; readonly majorMaxMs: number };
  /** Share of the machine's CPU (all cores: row, load generator, broker) in use over the measured window. */
  readonly machineBusy: number;
}

async function livePhase(kafka: Kafka, mode: RowMode, tag: string, rate: number, cap?: number): Promise<Latency> {
  const input = `${RUN}.${tag}.in`;
  const t = rowTopics(tag);
  topics.push(input);
  // The live input gets LogAppendTime too: each event's Kafka timestamp is when it entered the broker.
  await createTopics(kafka, { output: [input, t.output, t.deadLetter] });
  const row = startRow({ mode, input, ...t, env: SCORER_ENV });
  await row.ready;
  await sleep(1_500);
  // The naive row only ever handles its first events (cap): measured from the start.
  const since = cap === undefined ? Date.now() + WARMUP_SECONDS * 1000 : 0;
  let cpuAtSince = machineCpu();
  const warm = setTimeout(() => {
    cpuAtSince = machineCpu();
  }, Math.max(0, since - Date.now()));
  const loaded = await load({ topic: input, durationMs: (WARMUP_SECONDS + LIVE_SECONDS) * 1000, rate, seed: 7 });
  clearTimeout(warm);
  const machineBusy = busyShare(cpuAtSince, machineCpu());
  row.expect(cap === undefined ? loaded.sent : Math.min(cap, loaded.sent));
  const result = await row.result;
  const { fromInput, fromEvent } = await latencies(kafka, input, t.output, COPIES.has(mode), since);
  return {
    p50: quantile(fromInput, 0.5),
    p95: quantile(fromInput, 0.95),
    p99: quantile(fromInput, 0.99),
    fromEvent: { p50: quantile(fromEvent, 0.5), p95: quantile(fromEvent, 0.95), p99: quantile(fromEvent, 0.99) },
    count: fromInput.length,
    rate: result.eventsPerSecond,
    offered: loaded.sent / loaded.seconds,
    eventLoopDelayP99Ms: result.eventLoopDelayP99Ms,
    ...(result.gc ? { gc: result.gc } : {}),
    machineBusy,
  };
}

/** Rows whose output is the input copied, record by record, to the same partition (offset = input offset). */
const COPIES = new Set<RowMode>(['ceiling', 'python-passthrough']);

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
/** A Node row's garbage collections, for the progress lines. */
const gcText = (gc: Latency['gc']): string =>
  gc ? ` GC ${gc.major} full (${gc.majorMs.toFixed(0)} ms, longest ${gc.majorMaxMs.toFixed(1)}) and ${gc.minor} scavenges (${gc.minorMs.toFixed(0)} ms),` : '';
/** An event-loop delay, or n/a for a Python row (no event loop). */
const ms = (n: number | undefined, digits = 1): string => (n === undefined ? 'n/a' : n.toFixed(digits));

async function main(): Promise<void> {
  const machine = describeMachine();
  if (ROWS.some((mode) => PYTHON_ROWS[mode])) machine.python = describePython();
  const kafka = benchKafka();
  const started = new Date();
  out(`# stream-scorer benchmark ${started.toISOString()} (${RUN})`);
  out(`load average at start: ${loadAverage()}`);
  const input = `${RUN}.in`;
  const naiveInput = `${RUN}.naive.in`;
  topics.push(input, naiveInput);
  await createTopics(kafka, { input: [input, naiveInput] });
  const pre = await load({ topic: input, count: EVENTS, seed: 1 });
  out(`pre-produced ${pre.sent} events (10 % bad) into ${input} in ${pre.seconds.toFixed(1)} s`);
  if (ROWS.includes('naive')) await load({ topic: naiveInput, count: NAIVE_EVENTS, seed: 1 });

  const throughput = new Map<RowMode, RowResult & { load: string }>();
  const outputs = new Map<RowMode, { output: string; deadLetter: string }>();
  for (const mode of ROWS) {
    const t = rowTopics(`${mode}.tp`);
    outputs.set(mode, t);
    await createTopics(kafka, { output: [t.output, t.deadLetter] });
    const naive = mode === 'naive';
    const before = loadAverage();
    const profileDir = PROFILE && PROFILE_ROWS.includes(mode) ? join(ROOT, 'bench/results/profiles') : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const row = startRow({ mode, input: naive ? naiveInput : input, ...t, expected: naive ? NAIVE_EVENTS : EVENTS, env: SCORER_ENV }, profileDir);
    const result = await row.result;
    throughput.set(mode, { ...result, load: `${before} → ${loadAverage()}` });
    out(`throughput ${mode}: ${fmt(result.eventsPerSecond)} events/s (${result.events} in ${result.seconds.toFixed(2)} s), cpu ${result.cpuSecondsPer1k.toFixed(3)} s/1k, peak RSS ${result.peakRssMb.toFixed(0)} MB, ELD p99 ${ms(result.eventLoopDelayP99Ms)} ms; load ${before} → ${loadAverage()}`);
  }

  // The Python peer must do the same work: the same predictions (scores), the same dead letters.
  const scorerOut = outputs.get('scorer');
  const peerOut = outputs.get('python-peer');
  let comparison: Comparison | undefined;
  if (scorerOut && peerOut) {
    comparison = await compareRows(kafka, scorerOut, peerOut);
    out(`python-peer vs scorer: ${comparison.summary}`);
    if (!comparison.ok) throw new Error(`python-peer does not match stream-scorer: ${comparison.summary}\n${comparison.problems.join('\n')}`);
  }

  // "50 % of the maximum rate": half of what stream-scorer sustains in the full-load phase, where
  // the load generator runs beside it. On a 2-core machine the generator and the broker take
  // about half the CPU, so half the pre-produced (throughput) rate would be beyond what any row
  // can sustain with a producer running, and measure queueing, not latency. BENCH_HALF_RATE pins
  // the paced rate, so runs with different settings can be compared.
  let half = env.BENCH_HALF_RATE ? Number(env.BENCH_HALF_RATE) : Math.round((throughput.get('scorer')?.eventsPerSecond ?? 10_000) / 2);
  const full = new Map<RowMode, Latency>();
  const halfLatency = new Map<RowMode, Latency>();
  // The naive row cannot keep up with either load: it is measured on its first events only.
  const capOf = (mode: RowMode): number | undefined => (mode === 'naive' ? Math.round((throughput.get('naive')?.eventsPerSecond ?? 1000) * 5) : undefined);
  if (LATENCY) {
    // BENCH_FULL_LOAD=0 (with BENCH_HALF_RATE): only the paced phase, for A/B runs of settings.
    for (const mode of env.BENCH_FULL_LOAD === '0' && env.BENCH_HALF_RATE ? [] : ROWS) {
      const f = await livePhase(kafka, mode, `${mode}.full`, 0, capOf(mode));
      full.set(mode, f);
      out(`latency ${mode} at full load (producer ${fmt(f.offered)} ev/s, row ${fmt(f.rate)} ev/s): p50 ${fmt(f.p50)} p95 ${fmt(f.p95)} p99 ${fmt(f.p99)} ms (from event creation: ${fmt(f.fromEvent.p50)} / ${fmt(f.fromEvent.p95)} / ${fmt(f.fromEvent.p99)}) over ${f.count} outputs, ELD p99 ${ms(f.eventLoopDelayP99Ms)} ms,${gcText(f.gc)} machine CPU busy ${fmt(f.machineBusy * 100)} %; load ${loadAverage()}`);
    }
    const sustained = full.get('scorer')?.rate;
    if (!env.BENCH_HALF_RATE && sustained !== undefined && Number.isFinite(sustained)) half = Math.round(sustained / 2);
    for (const mode of ROWS) {
      const cap = capOf(mode);
      const h = await livePhase(kafka, mode, `${mode}.half`, half, cap);
      halfLatency.set(mode, h);
      out(`latency ${mode} at ${fmt(half)} ev/s (50 % of stream-scorer max): p50 ${fmt(h.p50)} p95 ${fmt(h.p95)} p99 ${fmt(h.p99)} ms (from event creation: ${fmt(h.fromEvent.p50)} / ${fmt(h.fromEvent.p95)} / ${fmt(h.fromEvent.p99)}) over ${h.count} outputs, ELD p99 ${ms(h.eventLoopDelayP99Ms)} ms,${gcText(h.gc)} machine CPU busy ${fmt(h.machineBusy * 100)} %; load ${loadAverage()}`);
    }
  }

  const ceiling = throughput.get('ceiling');
  const scorer = throughput.get('scorer');
  const naive = throughput.get('naive');
  const lines: string[] = [];
  lines.push('| row | events/s | CPU s / 1k events | peak RSS MB | event-loop delay p99 / max ms (throughput run) | e2e p50 / p95 / p99 ms at full load | e2e p50 / p95 / p99 ms at 50 % | same at 50 %, from event creation | event-loop delay p99 ms at 50 % | machine CPU busy at 50 % (all processes) | load avg (start → end of row) |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const mode of ROWS) {
    const r = throughput.get(mode);
    if (!r) continue;
    const f = full.get(mode);
    const h = halfLatency.get(mode);
    const lat = (l?: { p50: number; p95: number; p99: number }): string => (l ? `${fmt(l.p50)} / ${fmt(l.p95)} / ${fmt(l.p99)}` : 'n/a');
    const label = {
      ceiling: 'ceiling (bare kafkajs consume → produce)',
      scorer: 'stream-scorer, at-least-once',
      'scorer-eos': 'stream-scorer, exactly-once',
      naive: `naive baseline (${r.events} events)`,
      'python-peer': 'Python peer (confluent-kafka + fastavro + onnxruntime, batched)',
      'python-passthrough': 'librdkafka passthrough (confluent-kafka consume → produce)',
    }[mode];
    lines.push(`| ${label} | ${fmt(r.eventsPerSecond)} | ${r.cpuSecondsPer1k.toFixed(3)} | ${r.peakRssMb.toFixed(0)} | ${ms(r.eventLoopDelayP99Ms)} / ${ms(r.eventLoopDelayMaxMs, 0)} | ${lat(f)} | ${lat(h)} | ${lat(h?.fromEvent)} | ${ms(h?.eventLoopDelayP99Ms)} | ${h ? `${fmt(h.machineBusy * 100)} %` : 'n/a'} | ${r.load} |`);
  }
  const ratioCeiling = scorer && ceiling ? scorer.eventsPerSecond / ceiling.eventsPerSecond : Number.NaN;
  const ratioNaive = scorer && naive ? scorer.eventsPerSecond / naive.eventsPerSecond : Number.NaN;
  const peer = throughput.get('python-peer');
  const passthrough = throughput.get('python-passthrough');
  const cpuRatio = (a?: RowResult, b?: RowResult): string => (a && b ? (a.cpuSecondsPer1k / b.cpuSecondsPer1k).toFixed(2) : 'n/a');
  const p99Half = halfLatency.get('scorer')?.p99 ?? Number.NaN;
  const eldHalf = halfLatency.get('scorer')?.eventLoopDelayP99Ms;
  const verdict = (ok: boolean, measured: boolean): string => (!measured ? 'not measured' : ok ? 'MET' : 'NOT MET');
  // Issue 14's goals: ahead of the scorer a user would write instead (the batched Python peer).
  const peerRate = peer?.eventsPerSecond ?? Number.NaN;
  const rateRatio = scorer && peer ? scorer.eventsPerSecond / peer.eventsPerSecond : Number.NaN;
  const cpuPeerRatio = scorer && peer ? scorer.cpuSecondsPer1k / peer.cpuSecondsPer1k : Number.NaN;
  const targets = [
    `| events/s ≥ 1.3 × the Python peer (${fmt(peerRate)}) | ${rateRatio.toFixed(2)} × | ${verdict(rateRatio >= 1.3, Number.isFinite(rateRatio))} |`,
    `| CPU per event ≤ 0.75 × the Python peer's | ${cpuPeerRatio.toFixed(2)} × | ${verdict(cpuPeerRatio <= 0.75, Number.isFinite(cpuPeerRatio))} |`,
    `| peak RSS ≤ 200 MB | ${fmt(scorer?.peakRssMb ?? Number.NaN)} MB | ${verdict((scorer?.peakRssMb ?? 999) <= 200, !!scorer)} |`,
    `| p99 e2e ≤ 20 ms at 50 % of max rate | ${fmt(p99Half)} ms | ${verdict(p99Half <= 20, Number.isFinite(p99Half))} |`,
    `| event-loop delay p99 < 10 ms, at 50 % of max rate | ${(eldHalf ?? Number.NaN).toFixed(1)} ms | ${verdict((eldHalf ?? 99) < 10, eldHalf !== undefined)} |`,
    `| ≥ 8 × naive | ${ratioNaive.toFixed(1)} | ${verdict(ratioNaive >= 8, Number.isFinite(ratioNaive))} |`,
    `| event-loop delay p99, flat out (throughput run; not a goal: the loop is busy by design) | ${(scorer?.eventLoopDelayP99Ms ?? Number.NaN).toFixed(1)} ms | — |`,
    '| RSS growth over the soak < 10 % | see `npm run bench:soak` | — |',
  ];

  const md = [
    `# stream-scorer benchmark, ${started.toISOString()}`,
    '',
    '## Machine',
    '',
    ...Object.entries(machine).map(([k, v]) => `- ${k}: ${v}`),
    `- load average at start / end: ${throughput.values().next().value?.load.split(' → ')[0] ?? ''} / ${loadAverage()} (other engineers' tests share the machine)`,
    '',
    '## Set-up',
    '',
    `- Input: ${EVENTS} pre-produced 20-field Avro events (schemas/payment-event.avsc), 10 % bad (unknown category, missing field, NaN/∞, corrupt bytes: dead-lettered), ${3} partitions; the naive row reads a ${NAIVE_EVENTS}-event slice made the same way. Model: models/card-fraud (100-tree GBM).`,
    '- Every row reads the same pre-produced topic with a fresh consumer group from the start and writes to fresh output topics; one row at a time, each its own process.',
    '- events/s: inputs whose outputs are acknowledged, from the first fetched batch to the last acknowledgement (the commit of the last batch follows). CPU s / 1k events: process.cpuUsage over the same span. Peak RSS: process.resourceUsage().maxRSS of the row process. Event-loop delay: how late the 10 ms timer of perf_hooks.monitorEventLoopDelay fired, over the same span (the interval it records minus the 10 ms resolution, bench/event-loop.ts; an idle loop reads 0).',
    `- End-to-end latency: a separate producer process writes fresh events to a fresh input topic for ${WARMUP_SECONDS} + ${LIVE_SECONDS} s, each with event_time = the moment it was created; only events that entered the broker after the first ${WARMUP_SECONDS} s (warm-up: JIT, first ONNX runs, connections) are measured. Input and output topics use message.timestamp.type=LogAppendTime, so each record's Kafka timestamp is the broker's append time (the acks=all ack follows it within the same request on this single broker). Latency ("e2e") = output append time − the event's Kafka timestamp (its input append time), for every prediction (ceiling: every copied event), read back after the row finished; "from event creation" = output append time − event_time, which adds the load generator's own client-side queueing on this shared 2-core machine. "Full load": the producer sends as fast as it can alongside the row (queueing included when the row is slower than the producer). "50 %": paced at ${fmt(half)} events/s, half the rate stream-scorer (at-least-once) sustained in its full-load phase, with the load generator beside it on the same machine${env.BENCH_HALF_RATE ? ' (pinned by BENCH_HALF_RATE)' : ''}.`,
    '- The naive row cannot sustain either load: its latency is over its first 5 s worth of events, and says how far behind it falls.',
    '- Python rows (bench/python/, their own process, the venv of scripts/python-check-env.sh with bench/python/requirements.txt): the peer is what a good engineer would write instead of stream-scorer with confluent-kafka + fastavro + onnxruntime (consume(num_messages=5000) batches, fastavro decode, the same contract checks, one session.run per batch on 1 intra-op thread, fastavro encode, the same keys and headers, dead letters with the same reason headers, idempotent acks=all producer, a batch committed once all its records are acknowledged); the passthrough is its librdkafka limit (consume → produce the same key, bytes and headers, same commit discipline). Their CPU is getrusage(RUSAGE_SELF) (every thread: librdkafka, onnxruntime), peak RSS ru_maxrss, over the same span; they have no event loop (n/a).',
    ...(comparison ? [`- python-peer vs stream-scorer on the same input, record by record (bench/compare-rows.ts): ${comparison.summary}.`] : []),
    `- Service settings: defaults of src/config/schema.ts${Object.keys(SCORER_ENV).length ? `, plus ${JSON.stringify(SCORER_ENV)}` : ''}. Node flags of the row processes: ${NODE_FLAGS.join(' ') || 'none'}.`,
    '',
    '## Results',
    '',
    ...lines,
    '',
    `Ratios: stream-scorer / ceiling = ${ratioCeiling.toFixed(2)}; stream-scorer / naive = ${ratioNaive.toFixed(1)}.${peer || passthrough ? ` CPU s / 1k: stream-scorer / Python peer = ${cpuRatio(scorer, peer)}; ceiling / librdkafka passthrough = ${cpuRatio(ceiling, passthrough)}; Python peer / librdkafka passthrough = ${cpuRatio(peer, passthrough)}.` : ''}`,
    '',
    '| target | measured | |',
    '|---|---:|---|',
    ...targets,
    '',
  ].join('\n');
  out();
  out(md);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${started.toISOString().slice(0, 16).replace(/[:T]/g, '-')}-${hostname()}${env.BENCH_LABEL ? `-${env.BENCH_LABEL}` : ''}`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.json`, JSON.stringify({ machine, run: RUN, settings: { EVENTS, NAIVE_EVENTS, LIVE_SECONDS, SCORER_ENV, NODE_FLAGS }, throughput: Object.fromEntries(throughput), fullLoad: Object.fromEntries(full), halfLoad: { rate: half, ...Object.fromEntries(halfLatency) }, ratios: { ceiling: ratioCeiling, naive: ratioNaive }, ...(comparison ? { pythonPeerVsScorer: { ok: comparison.ok, summary: comparison.summary, problems: comparison.problems } } : {}) }, null, 2));
  out(`written: ${base}.md, ${base}.json`);
  await deleteTopics(kafka, topics);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  await deleteTopics(benchKafka(), topics).catch(() => undefined);
  process.exit(1);
});
