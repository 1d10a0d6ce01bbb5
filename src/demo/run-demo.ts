import type { Config } from '../config/schema';
import { createKafka } from '../kafka/client';
import { createTopics } from '../kafka/admin';
import { createEventSender } from '../kafka/producer';
import { readContract } from '../model/contract';
import { SERVICE_VERSION, startService } from '../service';
import { loadSchema } from '../stages/decode';
import type { Logger } from '../telemetry/logger';
import { type Monitoring, startMonitoring } from '../telemetry/monitoring';
import { startLocalBroker } from './local-broker';
import { type LocalRedis, StoreEventFactory, startLocalRedis, storeDemoConfig } from './store-demo';
import { EventFactory, seededRandom } from './synthetic';

function line(text: string): void {
  process.stderr.write(`${text}\n`);
}

/**
 * The demo: a local broker when none is configured, the topics, the scorer with the example
 * model, and a steady stream of synthetic events (some bad on purpose), with a live summary.
 */
export async function runDemo(config: Config, logger: Logger, brokersConfigured: boolean, stopSignal: Promise<void>): Promise<void> {
  const broker = brokersConfigured ? undefined : startLocalBroker();
  let redis: LocalRedis | undefined;
  let effective: Config = broker ? { ...config, kafkaBrokers: broker.brokers } : config;
  let monitoring: Monitoring | undefined;
  try {
    let store: StoreEventFactory | undefined;
    if (effective.demoFeatureStore) {
      redis = startLocalRedis();
      effective = storeDemoConfig(effective, redis.address);
      store = new StoreEventFactory(seededRandom(Date.now() & 0xffffffff));
      await fillStore(redis.address, store.hashes());
      line(`demo: feature store ${redis.address} filled; model ${effective.modelPath} reads card_txn_count_24h and merchant_risk_score from it`);
    }
    const kafka = createKafka({ brokers: effective.kafkaBrokers, clientId: `${effective.kafkaClientId}-demo`, security: effective }, logger);
    await createTopics(kafka, [
      ...effective.inputTopics.map((topic) => ({ topic, partitions: 3 })),
      { topic: effective.outputTopic, partitions: 3 },
      { topic: effective.deadLetterTopic, partitions: 1 },
    ]);
    monitoring = await startMonitoring(effective, logger, SERVICE_VERSION);
    line(`demo: metrics ${monitoring.server.url}/metrics, health /healthz /readyz, drift ${monitoring.server.url}/drift`);
    const service = await startService(effective, logger, monitoring.observer);
    const contract = readContract(effective.modelPath);
    const eventType = loadSchema(effective.inputSchema, 'INPUT_SCHEMA');
    const factory = new EventFactory(contract, seededRandom(Date.now() & 0xffffffff));
    const producer = await createEventSender(kafka);

    const inputTopic = effective.inputTopics[0] as string;
    const started = Date.now();
    let sent = 0;
    let lastSummary = { at: started, consumed: 0 };
    let stopped = false;
    void stopSignal.then(() => {
      stopped = true;
    });

    line(`demo: producing ${effective.demoRate} events/s to ${inputTopic} (${effective.demoBadShare}% bad); predictions -> ${effective.outputTopic}, dead letters -> ${effective.deadLetterTopic}. Ctrl-C to stop.`);
    const tickMs = 100;
    const summaryEveryMs = 2_000;
    let nextSummary = started + summaryEveryMs;
    while (!stopped && (effective.demoDurationSeconds === 0 || Date.now() - started < effective.demoDurationSeconds * 1000)) {
      const due = Math.floor(((Date.now() - started) / 1000) * effective.demoRate) - sent;
      if (due > 0) {
        const messages: { key: Buffer; value: Buffer; headers: Record<string, never> }[] = [];
        for (let i = 0; i < due; i += 1) {
          const isBad = Math.random() * 100 < effective.demoBadShare;
          if (store) {
            messages.push({ key: Buffer.from(`card-${Math.floor(Math.random() * 1000)}`), value: eventType.toBuffer(store.next(isBad)), headers: {} });
            continue;
          }
          const kind = isBad ? factory.badKind() : undefined;
          let value: Buffer;
          if (kind === undefined) value = eventType.toBuffer(factory.valid());
          else if (kind === 'corrupt-bytes') value = factory.corruptBytes(eventType.toBuffer(factory.valid()));
          else value = eventType.toBuffer(factory.bad(kind));
          messages.push({ key: Buffer.from(`card-${Math.floor(Math.random() * 1000)}`), value, headers: {} });
        }
        await producer.send(inputTopic, messages);
        sent += due;
      }
      if (Date.now() >= nextSummary) {
        nextSummary += summaryEveryMs;
        const s = service.stats.snapshot();
        const now = Date.now();
        const rate = ((s.consumed - lastSummary.consumed) * 1000) / (now - lastSummary.at);
        lastSummary = { at: now, consumed: s.consumed };
        const reasons = Object.entries(s.byReason)
          .map(([code, n]) => `${code}=${n}`)
          .join(' ');
        line(`[${((now - started) / 1000).toFixed(0)}s] sent=${sent} in=${s.consumed} predictions=${s.predictions} dead-letters=${s.deadLetters} (${reasons || 'none'}) rate=${rate.toFixed(0)}/s`);
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
    // Let the scorer catch up with what was sent before reporting.
    const deadline = Date.now() + 15_000;
    while (service.stats.consumed < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await producer.disconnect();
    await service.stop();
    const s = service.stats.snapshot();
    line(`demo: done. sent=${sent} in=${s.consumed} predictions=${s.predictions} dead-letters=${s.deadLetters} ${JSON.stringify(s.byReason)}`);
  } finally {
    await monitoring?.close();
    redis?.stop();
    broker?.stop();
  }
}

/** What a feature pipeline would have written, in one round trip. */
async function fillStore(address: string, hashes: readonly [string, Record<string, string>][]): Promise<void> {
  const { Redis } = await import('ioredis');
  const at = address.lastIndexOf(':');
  const client = new Redis({ host: address.slice(0, at), port: Number(address.slice(at + 1)), lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const pipeline = client.pipeline();
  for (const [key, hash] of hashes) pipeline.hset(key, hash);
  await pipeline.exec();
  await client.quit();
}
