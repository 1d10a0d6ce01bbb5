/**
 * Benchmark of `stream-scorer score-file` (issue 13, batch recompute): writes an Avro container file
 * of BENCH_EVENTS (default 1,000,000) synthetic payment events (bench/common.ts InputStream: 10%
 * bad in the ways a container file can hold them: unknown categories, missing fields, NaN), deflate
 * codec, to /tmp; runs score-file on it as a child process; prints events/s and the child's peak
 * RSS (VmHWM from /proc/<pid>/status, polled). Not part of `npm test`.
 *
 *   node --import tsx bench/score-file.ts            # BENCH_EVENTS=1000000 BENCH_DIR=/tmp/score-file-bench
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerWriter } from '../src/batch/container-write';
import { INPUT_SCHEMA, InputStream, ROOT, describeMachine, loadAverage } from './common';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const DIR = process.env.BENCH_DIR ?? '/tmp/score-file-bench';

async function writeInput(path: string): Promise<void> {
  const stream = new InputStream(42, 0.1, 0);
  const writer = new ContainerWriter(path, readFileSync(INPUT_SCHEMA, 'utf8'), 'deflate');
  const now = Date.now();
  let written = 0;
  while (written < EVENTS) {
    const { value } = stream.next(now + written);
    // A container file holds whole records of its schema: InputStream's corrupt-bytes kind cannot be in one.
    try {
      if (stream.type.decode(value, 0).offset !== value.length) continue;
    } catch {
      continue;
    }
    await writer.append(value);
    written += 1;
  }
  await writer.close();
}

function vmHwmKiB(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const input = join(DIR, 'payments.avro');
  const t0 = Date.now();
  await writeInput(input);
  const size = statSync(input).size;
  process.stdout.write(`wrote ${EVENTS} events, ${(size / 2 ** 20).toFixed(1)} MiB (deflate) in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${input}\n`);

  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'score-file', input, '--out', join(DIR, 'out'), '--json'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let peakKiB = 0;
  const poll = setInterval(() => {
    peakKiB = Math.max(peakKiB, vmHwmKiB(child.pid as number));
  }, 100);
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  const wall = (Date.now() - started) / 1000;
  const summaryLine = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{"source"'));
  const summary = summaryLine ? (JSON.parse(summaryLine) as { events: number; predictions: number; deadLetters: number; reasons: Record<string, number>; seconds: number }) : undefined;
  const result = {
    events: EVENTS,
    input_mib: Number((size / 2 ** 20).toFixed(1)),
    exit_code: code,
    scored: summary?.predictions,
    dead_lettered: summary?.deadLetters,
    reasons: summary?.reasons,
    job_seconds: summary?.seconds,
    job_events_per_s: summary ? Math.round(summary.events / summary.seconds) : undefined,
    wall_seconds_incl_startup: Number(wall.toFixed(1)),
    wall_events_per_s: Math.round(EVENTS / wall),
    peak_rss_mib: Number((peakKiB / 1024).toFixed(0)),
    load_average: loadAverage(),
    machine: describeMachine(),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (process.env.BENCH_KEEP !== '1') rmSync(DIR, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
