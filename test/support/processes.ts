import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { INPUT_SCHEMA, MODEL_PATH, PREDICTION_SCHEMA, ROOT } from './model';

export interface CliProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** The exit code, or null when a signal ended the process. */
  readonly exit: Promise<number | null>;
  readonly signal: Promise<NodeJS.Signals | null>;
}

/**
 * `stream-scorer <args>` from the sources as its own process, so it can be signalled and
 * SIGKILLed like a real pod. Paths point into this repository; HEALTH_PORT=0 lets several run at once.
 */
export function runCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', MODEL_PATH, INPUT_SCHEMA, PREDICTION_SCHEMA, HEALTH_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => output, exit: ended.then((e) => e.code), signal: ended.then((e) => e.signal) };
}

export interface ScorerProcess extends CliProcess {
  /** How many times the log says the process joined its group. */
  joins(): number;
}

/** `stream-scorer run` with info logs, which the fault tests read. */
export function spawnScorer(env: Record<string, string>): ScorerProcess {
  const run = runCli(['run'], { LOG_LEVEL: 'info', ...env });
  return { ...run, joins: () => (run.output().match(/"msg":"joined consumer group"/g) ?? []).length };
}

/** A broker of the test's own (port, data dir), so a fault injected into it harms no other test. */
export class TestBroker {
  readonly brokers: string[];
  private readonly env: NodeJS.ProcessEnv;

  constructor(readonly port: number) {
    this.brokers = [`127.0.0.1:${port}`];
    this.env = { ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1), KAFKA_DATA_DIR: join(ROOT, '.cache', 'kafka-run', `fault-${port}`) };
  }

  private script(command: string): { status: number | null; output: string } {
    const result = spawnSync(join(ROOT, 'scripts/kafka.sh'), [command], { env: this.env, encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  }

  start(): void {
    const result = this.script('start');
    if (result.status !== 0) throw new Error(`kafka.sh start (port ${this.port}) failed:\n${result.output}`);
  }

  pid(): number {
    const result = this.script('pid');
    const pid = Number(result.output.trim());
    if (result.status !== 0 || !Number.isInteger(pid)) throw new Error(`no broker pid on port ${this.port}: ${result.output}`);
    return pid;
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid(), signal);
  }

  stop(): void {
    this.script('stop');
  }

  reset(): void {
    this.script('reset');
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
