import './null-header-values';
import { Kafka, type LogEntry, logLevel } from 'kafkajs';
import type { Logger } from '../telemetry/logger';
import { type KafkaSecuritySettings, resolveKafkaSecurity, withSecurityErrors } from './security';

export interface ClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** TLS / SASL settings (pass the Config); validated here, files read here. Unset: PLAINTEXT. */
  readonly security?: KafkaSecuritySettings;
}

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

function isRecoverable(namespace: string, message: string): boolean {
  if (namespace === 'Connection') return true;
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
        const effective = level === logLevel.ERROR && isRecoverable(namespace, String(message)) ? 'warn' : (LEVEL[level] ?? 'info');
        kafkaLogger[effective]({ namespace, ...extra }, message);
      },
  });
  return withSecurityErrors(kafka, security);
}

export type { Kafka };
