import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { EventFactory, seededRandom } from '../../src/demo/synthetic';
import { readContract } from '../../src/model/contract';
import { loadSchema } from '../../src/stages/decode';
import { INPUT_SCHEMA, MODEL_PATH } from './model';

/**
 * Sends `total` events to `topic` in small sends at about `perSecond`, retrying a send until the
 * broker takes it (faults are the point of these tests). One in ten events is bad on purpose.
 */
export async function sendTraffic(brokers: string[], topic: string, total: number, perSecond: number, chunk = 50): Promise<number> {
  const kafka = new Kafka({ clientId: 'traffic', brokers, logLevel: logLevel.NOTHING, retry: { retries: 3 } });
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  const type = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
  const factory = new EventFactory(readContract(MODEL_PATH), seededRandom(total));
  await producer.connect();
  const started = Date.now();
  let sent = 0;
  while (sent < total) {
    const n = Math.min(chunk, total - sent);
    const messages = Array.from({ length: n }, (_, i) => {
      const bad = (sent + i) % 10 === 9;
      const event = bad ? factory.bad('unknown-category') : factory.valid();
      return { key: String(event.card_id), value: type.toBuffer(event) };
    });
    for (;;) {
      try {
        await producer.send({ topic, messages, acks: -1 });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    sent += n;
    const due = started + (sent / perSecond) * 1000;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  }
  await producer.disconnect().catch(() => undefined);
  return sent;
}
