import { Kafka, type LogEntry, logLevel } from 'kafkajs';
import type { Logger } from '../telemetry/logger';
import { type KafkaSecuritySettings, resolveKafkaSecurity, withSecurityErrors } from './security';

export interface ClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** TLS / SASL settings (pass the Config); validated here, files read here. Unset: PLAINTEXT. */
  readonly security?: KafkaSecuritySettings;
}

type Level = 'error' | 'warn' | 'info' | 'debug';

const LEVEL: Record<number, Level> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * kafkajs' text for CONCURRENT_TRANSACTIONS (protocol error 51): the transaction coordinator is
 * still completing this transactional id's previous transaction (writing its markers, or aborting
 * a predecessor's on InitProducerId). The client is expected to ask again, and every path that
 * can get it asks again: InitProducerId (kafkajs), AddOffsetsToTxn (output-writer.ts addOffsets),
 * AddPartitionsToTxn (kafkajs' sendBatch retrier; rare once addOffsets has waited).
 */
const CONCURRENT_TRANSACTIONS = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';

/**
 * An expected wait, not a fault: the response line is debug; kafkajs' retry of a send is info,
 * because that path still costs its 200 ms first backoff and should stay countable. If the wait
 * never ends, the error reaches the batch and the service logs it there.
 */
function concurrentTransactionsLevel(namespace: string, message: string, error: unknown): Level | undefined {
  if (namespace === 'Connection' && error === CONCURRENT_TRANSACTIONS) return 'debug';
  if (namespace === 'Producer' && message.endsWith(CONCURRENT_TRANSACTIONS)) return 'info';
  return undefined;
}

function isRecoverable(namespace: string, message: string): boolean {
  if (namespace === 'Connection') return true;
  // The rejoin after a lost membership (a paused member, or one the fencing in consumer.ts made
  // rejoin): the consumer logs the loss itself at warn, with the partitions it stopped writing.
  if (namespace === 'Runner') return message.startsWith('The coordinator is not aware of this member');
  return namespace === 'Consumer' && (message.startsWith('Crash: ') || message.startsWith('Restarting the consumer'));
}

/** kafkajs logs through pino, as structured lines with the kafkajs namespace. */
export function createKafka(options: ClientOptions, logger: Logger): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  const security = resolveKafkaSecurity(options.security ?? { kafkaSecurityProtocol: 'PLAINTEXT' });
  if (security.protocol !== 'PLAINTEXT') logger.info({ kafka_security: security.summary }, 'kafka client security');
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    ...(security.ssl ? { ssl: security.ssl } : {}),
    ...(security.sasl ? { sasl: security.sasl } : {}),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const { message, timestamp: _timestamp, logger: _logger, ...extra } = log;
        // Said at every start because our idempotent producer has finite retries. That is deliberate:
        // a send that keeps failing must fail the batch (nothing committed) rather than hang forever.
        if (message === 'Limiting retries for the idempotent producer may invalidate EoS guarantees') return;
        // kafkajs logs every error *response* at ERROR in its Connection layer, retriable ones
        // included (coordinator loading, leader moved). Whether it is final shows in the call that
        // made the request, which fails to our code and is logged there. So these are warnings.
        // Likewise a consumer "crash" it restarts from (coordinator still loading on a fresh broker,
        // a broker away): the consumer recovers by itself, and a crash it does not restart from
        // stops the service, which says so at error level (src/kafka/consumer.ts, src/main.ts).
        const text = String(message);
        const effective =
          concurrentTransactionsLevel(namespace, text, extra.error) ??
          (level === logLevel.ERROR && isRecoverable(namespace, text) ? 'warn' : (LEVEL[level] ?? 'info'));
        kafkaLogger[effective]({ namespace, ...extra }, message);
      },
  });
  return withSecurityErrors(kafka, security);
}

export type { Kafka };
