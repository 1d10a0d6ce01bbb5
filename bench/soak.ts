/**
 * npm run bench:soak: stream-scorer (the real service, bench/row.ts) under a fixed rate for
 * BENCH_SOAK_SECONDS (600), printing RSS and heap every BENCH_SOAK_REPORT_SECONDS (30): memory
 * must stay flat. BENCH_SOAK_RATE (events/s, 5000). Writes bench/results/<date>-<host>-soak.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '../src/runtime';
import { ROOT, benchKafka, createTopics, deleteTopics, describeMachine, loadAverage, sleep } from './common';
import type { RowResult } from './row';

const out = (line = ''): void => void process.stdout.write(`${line}\n`);
const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const REPORT = Number(process.env.BENCH_SOAK_REPORT_SECONDS ?? 30);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 5000);
const RUN = `soak-${Date.now().toString(36)}`;

interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  events: number;
}

async function main(): Promise<void> {
  const kafka = benchKafka();
  const t = { input: `${RUN}.in`, output: `${RUN}.out`, deadLetter: `${RUN}.dlq`, group: `${RUN}.group` };
  await createTopics(kafka, { input: [t.input], output: [t.output, t.deadLetter] });
  const started = new Date();
  out(`# stream-scorer soak ${started.toISOString()}: ${RATE} events/s for ${SECONDS} s, memory every ${REPORT} s; load ${loadAverage()}`);
  const spawnNode = (script: string, env: Record<string, string>) =>
    spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS ?? SERVICE_NODE_FLAGS.join(' ')).split(' ').filter(Boolean), '--import', 'tsx', join(__dirname, script)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const row = spawnNode('row.ts', { BENCH_ROW: JSON.stringify({ mode: 'scorer', ...t }), BENCH_SOAK_REPORT_MS: String(REPORT * 1000) });
  row.stdout?.on('data', (d: Buffer) => process.stderr.write(d));
  const samples: (Memory & { at: number; load: string })[] = [];
  let t0 = 0;
  let ready: () => void = () => undefined;
  const joined = new Promise<void>((resolve) => (ready = resolve));
  let onResult: (r: RowResult) => void = () => undefined;
  const result = new Promise<RowResult>((resolve) => (onResult = resolve));
  const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
  row.on('message', (m: { ready?: boolean; memory?: Memory; result?: RowResult }) => {
    if (m.ready) ready();
    if (m.result) onResult(m.result);
    if (m.memory && t0 > 0) {
      const at = Math.round((Date.now() - t0) / 1000);
      samples.push({ ...m.memory, at, load: loadAverage() });
      out(`t=${String(at).padStart(4)} s  rss ${mb(m.memory.rss)} MB  heapUsed ${mb(m.memory.heapUsed)} MB  heapTotal ${mb(m.memory.heapTotal)} MB  external ${mb(m.memory.external)} MB  events ${m.memory.events}  load ${loadAverage()}`);
    }
  });
  await joined;
  await sleep(1_500);
  t0 = Date.now();
  const load = spawnNode('load.ts', { BENCH_LOAD: JSON.stringify({ topic: t.input, durationMs: SECONDS * 1000, rate: RATE, seed: 11 }) });
  let text = '';
  load.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  const sent = await new Promise<number>((resolve, reject) =>
    load.on('exit', (code) => {
      const line = text.split('\n').find((l) => l.startsWith('BENCH_LOAD_DONE '));
      if (code !== 0 || !line) reject(new Error(`load generator failed: ${text}`));
      else resolve((JSON.parse(line.slice('BENCH_LOAD_DONE '.length)) as { sent: number }).sent);
    }),
  );
  row.send({ expected: sent });
  const final = await result;
  await deleteTopics(kafka, [t.input, t.output, t.deadLetter]);

  const first = samples[0];
  const last = samples[samples.length - 1];
  const maxRss = Math.max(...samples.map((s) => s.rss));
  const growth = first && last ? (last.rss - first.rss) / first.rss : Number.NaN;
  const growthMax = first ? (maxRss - first.rss) / first.rss : Number.NaN;
  // After warm-up (JIT, heap sizing, kafkajs buffers): from the first sample at or after 60 s.
  const warm = samples.find((s) => s.at >= 60);
  const growthWarm = warm && last ? (last.rss - warm.rss) / warm.rss : Number.NaN;
  const lines = [
    `# stream-scorer soak, ${started.toISOString()}`,
    '',
    ...Object.entries(describeMachine()).map(([k, v]) => `- ${k}: ${v}`),
    '',
    `${RATE} events/s (10 % bad) for ${SECONDS} s into a 3-partition topic; the real service (at-least-once, default settings) in its own process; ${sent} events sent, ${final.events} processed. process.memoryUsage() every ${REPORT} s:`,
    '',
    '| t (s) | RSS MB | heapUsed MB | heapTotal MB | external MB | events | load avg |',
    '|---:|---:|---:|---:|---:|---:|---|',
    ...samples.map((s) => `| ${s.at} | ${mb(s.rss)} | ${mb(s.heapUsed)} | ${mb(s.heapTotal)} | ${mb(s.external)} | ${s.events} | ${s.load} |`),
    '',
    `RSS growth first → last sample: ${(growth * 100).toFixed(1)} % (first → max: ${(growthMax * 100).toFixed(1)} %; after warm-up, t=${warm?.at ?? '?'} s → last: ${(growthWarm * 100).toFixed(1)} %): target < 10 % ${growth < 0.1 ? 'MET' : 'NOT MET'} (first → last). Event-loop delay p99 over the soak: ${(final.eventLoopDelayP99Ms ?? Number.NaN).toFixed(1)} ms: target < 10 ms ${(final.eventLoopDelayP99Ms ?? 99) < 10 ? 'MET' : 'NOT MET'}. CPU ${final.cpuSecondsPer1k.toFixed(3)} s / 1k events.`,
    '',
  ];
  out();
  out(lines.join('\n'));
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${started.toISOString().slice(0, 16).replace(/[:T]/g, '-')}-${hostname()}-soak.md`);
  writeFileSync(file, lines.join('\n'));
  out(`written: ${file}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`soak: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
