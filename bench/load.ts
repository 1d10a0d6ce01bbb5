/**
 * Benchmark load generator (a child process of bench/bench.ts and bench/soak.ts).
 *   BENCH_LOAD='{"topic":"t","count":500000}'                   pre-produce `count` events, as fast as possible
 *   BENCH_LOAD='{"topic":"t","durationMs":15000,"rate":0}'      live: as fast as it can for the duration
 *   BENCH_LOAD='{"topic":"t","durationMs":15000,"rate":40000}'  live: paced at `rate` events/s
 * Each event's event_time is the moment it is created, just before it is handed to the producer.
 * Prints one line `BENCH_LOAD_DONE {"sent":n,"seconds":s}`.
 */
import { CompressionTypes, type Message, Partitioners } from 'kafkajs';
import { InputStream, benchKafka, sleep } from './common';

interface LoadSpec {
  readonly topic: string;
  readonly count?: number;
  readonly durationMs?: number;
  readonly rate?: number;
  readonly seed?: number;
  readonly badShare?: number;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.BENCH_LOAD ?? '{}') as LoadSpec;
  const stream = new InputStream(spec.seed ?? 1, spec.badShare ?? 0.1);
  const kafka = benchKafka('bench-load');
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const inFlight = new Set<Promise<unknown>>();
  const maxInFlight = 4;
  const send = async (n: number): Promise<void> => {
    const now = Date.now();
    const messages: Message[] = new Array(n);
    for (let i = 0; i < n; i += 1) messages[i] = stream.next(now);
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const p = producer.send({ topic: spec.topic, messages, acks: 1, compression: CompressionTypes.None });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const started = Date.now();
  let sent = 0;
  if (spec.count !== undefined) {
    while (sent < spec.count) {
      const n = Math.min(1000, spec.count - sent);
      await send(n);
      sent += n;
    }
  } else {
    const end = started + (spec.durationMs ?? 10_000);
    const rate = spec.rate ?? 0;
    while (Date.now() < end) {
      if (rate <= 0) {
        await send(500);
        sent += 500;
      } else {
        // Paced in small steps (about every 2 ms), so events are spread over each second.
        const due = Math.floor(((Date.now() - started) / 1000) * rate) - sent;
        if (due > 0) {
          const n = Math.min(due, 2000);
          await send(n);
          sent += n;
        }
        await sleep(2);
      }
    }
  }
  await Promise.all(inFlight);
  const seconds = (Date.now() - started) / 1000;
  await producer.disconnect();
  process.stdout.write(`BENCH_LOAD_DONE ${JSON.stringify({ sent, seconds })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench load: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
