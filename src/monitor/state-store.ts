import { type Kafka, Partitioners } from 'kafkajs';
import { scanTopic } from '../kafka/scan';
import type { Logger } from '../telemetry/logger';
import type { DriftState } from './drift';

/**
 * Drift episodes and onsets kept on a compacted Kafka topic (DRIFT_STATE_TOPIC), so a restarted
 * service goes on where the old one stopped instead of starting its episodes over. One record
 * per key (the consumer group): compaction keeps the latest. Written when a window closes, at
 * most one write in flight (a newer state replaces one still waiting); read once at start-up.
 *
 * Chosen over rebuilding from the input topics at start-up: reading back hours of events and
 * predictions costs the time and CPU of `stream-scorer drift` on every start, where one record
 * (~80 kB with 48 windows of history, measured in test/unit/drift-scenario.test.ts) is read in one
 * fetch (0.4-0.6 s at start-up in test/integration/drift-report.test.ts).
 * What it loses: the windows still open when the old process stopped (at most a window plus the
 * lateness of events); their events are counted again only if they are consumed again.
 */
export interface DriftStateStore {
  load(): Promise<{ state: DriftState | undefined; records: number; ms: number }>;
  save(state: DriftState): void;
  close(): Promise<void>;
}

function isState(value: unknown): value is DriftState {
  return typeof value === 'object' && value !== null && (value as { version?: unknown }).version === 1 && Array.isArray((value as { series?: unknown }).series);
}

export function kafkaStateStore(kafka: Kafka, topic: string, key: string, logger: Logger): DriftStateStore {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  let connected: Promise<void> | undefined;
  let writing: Promise<void> | undefined;
  let pending: DriftState | undefined;
  const write = async (): Promise<void> => {
    while (pending) {
      const state = pending;
      pending = undefined;
      try {
        connected ??= producer.connect();
        await connected;
        await producer.send({ topic, messages: [{ key, value: JSON.stringify(state) }] });
      } catch (error) {
        // The state is an aid, not the record: scoring goes on; the next window close tries again.
        logger.warn({ topic, err: (error as Error).message }, 'drift state not saved');
      }
    }
  };
  const start = (): void => {
    if (writing || !pending) return;
    writing = write().finally(() => {
      writing = undefined;
      start(); // a state that came in after the loop's last look
    });
  };
  return {
    async load() {
      const started = Date.now();
      let latest: DriftState | undefined;
      const result = await scanTopic(kafka, topic, { readCommitted: false, timeoutMs: 30_000, idleMs: 2_000 }, (messages) => {
        for (const message of messages) {
          if (message.key?.toString() !== key) continue;
          if (!message.value) {
            latest = undefined; // a tombstone: the state was deleted
            continue;
          }
          try {
            const parsed: unknown = JSON.parse(message.value.toString('utf8'));
            if (isState(parsed)) latest = parsed;
          } catch {
            // not a state this version writes: ignored
          }
        }
      });
      return { state: latest, records: result.records, ms: Date.now() - started };
    },
    save(state) {
      pending = state;
      start();
    },
    async close() {
      await writing;
      if (connected) await producer.disconnect();
    },
  };
}
