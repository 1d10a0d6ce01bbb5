import type { Config } from '../../src/config/schema';
import { type RunningService, SERVICE_VERSION, startService } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { type Monitoring, startMonitoring } from '../../src/telemetry/monitoring';
import { type Telemetry, startTelemetry } from '../../src/telemetry/sdk';
import type { TestTopics } from './kafka';
import { brokers } from './kafka';
import { testConfig } from './model';

export function scorerConfig(topics: TestTopics, env: Record<string, string> = {}): Config {
  return testConfig({
    KAFKA_BROKERS: brokers().join(','),
    INPUT_TOPICS: topics.input,
    OUTPUT_TOPIC: topics.output,
    DEAD_LETTER_TOPIC: topics.deadLetter,
    KAFKA_GROUP_ID: topics.group,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...env,
  });
}

let telemetry: Telemetry | undefined;

/** The scorer in this test process, as main.ts runs it: telemetry first, then the service. */
export async function startScorer(topics: TestTopics, env: Record<string, string> = {}): Promise<RunningService> {
  const config = scorerConfig(topics, env);
  telemetry ??= startTelemetry({ serviceName: 'stream-scorer-test', serviceVersion: '0', otlpEndpoint: config.otlpEndpoint });
  return startService(config, createLogger(config.logLevel));
}

export interface MonitoredScorer {
  readonly service: RunningService;
  readonly monitoring: Monitoring;
}

/** The service with its health, metrics and drift server, wired as main.ts wires them (the monitoring's observer fed by the service). */
export async function startMonitoredScorer(topics: TestTopics, env: Record<string, string> = {}): Promise<MonitoredScorer> {
  const config = scorerConfig(topics, env);
  const logger = createLogger(config.logLevel);
  const monitoring = await startMonitoring(config, logger, SERVICE_VERSION);
  const service = await startService(config, logger, monitoring.observer);
  return { service, monitoring };
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
