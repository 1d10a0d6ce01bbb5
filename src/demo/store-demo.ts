import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema';
import { projectRoot } from './local-broker';

/**
 * The demo with features from Redis (DEMO_FEATURE_STORE=true): models/card-fraud-store, a local
 * redis-server (scripts/redis.sh) filled with the aggregates of the zoo's reference events, and
 * a stream of those events in which some cards and merchants are unknown to the store.
 */
export interface LocalRedis {
  readonly address: string;
  /** Stops Redis if this process started it. */
  stop(): void;
}

export function startLocalRedis(port = Number(process.env.REDIS_PORT ?? 6380)): LocalRedis {
  const script = join(projectRoot(), 'scripts', 'redis.sh');
  const env = { ...process.env, REDIS_PORT: String(port) };
  const wasRunning = spawnSync(script, ['status'], { env, stdio: 'ignore' }).status === 0;
  if (!wasRunning) {
    const started = spawnSync(script, ['start'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (started.status !== 0) throw new Error(`scripts/redis.sh start failed (exit ${started.status}); is redis-server installed (apt-get install redis-server)?`);
  }
  let stopped = wasRunning;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    spawnSync(script, ['stop'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  };
  process.once('exit', stop);
  return { address: `127.0.0.1:${port}`, stop };
}

/** The demo's config for the store model. */
export function storeDemoConfig(config: Config, address: string): Config {
  const dir = join(projectRoot(), 'models', 'card-fraud-store');
  return { ...config, modelPath: join(dir, 'model.onnx'), inputSchema: join(dir, 'schema.avsc'), featureStoreAddress: address };
}

interface ZooEvent {
  readonly txn_count_24h: number;
  readonly merchant: { readonly category: string; readonly country: string; readonly risk_score: number };
  readonly [field: string]: unknown;
}

export class StoreEventFactory {
  private readonly templates: readonly ZooEvent[];
  private n = 0;

  constructor(private readonly random: () => number) {
    this.templates = (JSON.parse(readFileSync(join(projectRoot(), 'models', 'zoo', 'xgboost', 'reference.json'), 'utf8')) as { events: ZooEvent[] }).events;
  }

  /** What the feature pipeline would have written: one hash per card and merchant of the templates. */
  hashes(now = Date.now()): [string, Record<string, string>][] {
    return this.templates.flatMap((t, i) => [
      [`card:demo-c-${i}`, { txn_count_24h: String(t.txn_count_24h), updated_at: String(now) }] as [string, Record<string, string>],
      [`merchant:demo-m-${i}`, { risk_score: String(t.merchant.risk_score) }] as [string, Record<string, string>],
    ]);
  }

  /** An event of a known card and merchant, or (bad) of a card or merchant the store does not know. */
  next(bad: boolean, now = Date.now()): Record<string, unknown> {
    const i = this.n++ % this.templates.length;
    const { txn_count_24h: _count, merchant, ...rest } = this.templates[i] as ZooEvent;
    const unknownCard = bad && this.random() < 0.5;
    return {
      ...rest,
      event_id: `demo-${now}-${this.n}`,
      event_time: now,
      card_id: unknownCard ? `demo-new-card-${this.n}` : `demo-c-${i}`,
      merchant: { id: bad && !unknownCard ? `demo-new-merchant-${this.n}` : `demo-m-${i}`, category: merchant.category, country: merchant.country },
    };
  }
}
