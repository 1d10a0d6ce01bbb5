import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: compiled code runs from dist/src/demo, sources from src/demo. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

function script(): string {
  return join(projectRoot(), 'scripts', 'kafka.sh');
}

export interface LocalBroker {
  readonly brokers: string[];
  /** Stops the broker if this process started it; leaves a broker it found running alone. */
  stop(): void;
}

export function startLocalBroker(port = Number(process.env.KAFKA_PORT ?? 9092)): LocalBroker {
  const env = { ...process.env, KAFKA_PORT: String(port) };
  const wasRunning = spawnSync(script(), ['status'], { env, stdio: 'ignore' }).status === 0;
  if (!wasRunning) {
    const started = spawnSync(script(), ['start'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (started.status !== 0) throw new Error(`scripts/kafka.sh start failed (exit ${started.status}); see its output above`);
  }
  let stopped = wasRunning;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    spawnSync(script(), ['stop'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  };
  // A second Ctrl-C exits at once, past any finally: the broker we started must not outlive us.
  process.once('exit', stop);
  return { brokers: [`127.0.0.1:${port}`], stop };
}
