#!/usr/bin/env node
import { loadConfig } from './config/load';
import { SETTINGS } from './config/schema';
import { ServiceError } from './errors';
import { SERVICE_NODE_FLAGS, missingNodeFlags, runtimeWarning, tuneHeap } from './runtime';
import { createLogger } from './telemetry/logger';
import { startTelemetry } from './telemetry/sdk';

const USAGE = `usage: stream-scorer <command>

  run        score the configured input topics (default)
  demo       local broker (unless KAFKA_BROKERS is set), topics, scorer and a synthetic stream
  contract   what feeds every model input and column, what the outputs mean, and whether
             schema, manifest and graph agree (exit 1 if not) [--json]
  config     print every setting with its value, default and meaning
  verify     account for every input record: events in, accounted for, lost, duplicated
             (reads INPUT_TOPICS, OUTPUT_TOPIC, DEAD_LETTER_TOPIC; read_committed in exactly-once mode)
  drift      which model inputs (and the scores) drifted from the training profile, since when, how
             much now: reads INPUT_TOPICS and OUTPUT_TOPIC [--since TIME] [--json], or asks a running
             scorer [--service http://HOST:PORT]
  score-file IN.avro [--out DIR] [--codec deflate|null] [--json]
             score an Avro container file of input events into IN.predictions.avro and
             IN.dead-letters.avro (in DIR, default: next to IN); exit 4 if anything was dead-lettered
  backfill   re-score a range of INPUT_TOPICS into a separate topic, up to the end offsets seen at
             start: (--from-offset N|P:N,... | --from-time TIME) (--to-offset N|P:N,... | --to-time TIME)
             --to-topic T [--dead-letter-topic T2 (default T.dead-letter)] [--json]; exit 4 if anything
             was dead-lettered
  redrive    send dead letters again, to their input topic or scored into OUTPUT_TOPIC; prints a
             dry-run summary and writes only with --apply [--reason CODE] [--field F] [--value V]
             [--model-version V] [--since TIME] [--until TIME] [--to input|output] [--top N]
             [--max-redrives N] [--apply|--yes] (docs/model-lifecycle.md#re-drive)

Settings come from the environment (or a JSON file named by STREAM_SCORER_CONFIG); see docs/configuration.md.`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'run';
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig();
  const logger = createLogger(config.logLevel);

  if (command === 'config') {
    for (const [key, setting] of Object.entries(SETTINGS)) {
      const value = (config as Record<string, unknown>)[key];
      process.stdout.write(`${setting.env}=${value === undefined ? '' : Array.isArray(value) ? value.join(',') : String(value)}\n    ${setting.doc}\n`);
    }
    return 0;
  }
  if (command === 'contract') {
    const { contractReport, formatContractReport } = await import('./model/report');
    const report = await contractReport(config);
    if (argv.includes('--json')) {
      const { contract, output, checks } = report;
      const inputs = contract?.inputs.map((i) => ({ ...i, categories: i.categories ? [...i.categories] : undefined, codes: i.codes ? Object.fromEntries(i.codes) : undefined }));
      process.stdout.write(`${JSON.stringify({ name: contract?.name, version: contract?.version, manifest: contract?.manifestPath, inputs, output, checks }, null, 2)}\n`);
    } else process.stdout.write(`${formatContractReport(report, config)}\n`);
    return report.checks.every((c) => c.ok) ? 0 : 1;
  }
  if (command === 'verify') {
    const { createKafka } = await import('./kafka/client');
    const { loadSchema } = await import('./stages/decode');
    const { verifyTopics, formatReport } = await import('./verify/verify');
    const { predictionReader } = await import('./formats/confluent');
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `${config.kafkaClientId}-verify` }, logger);
    const report = await verifyTopics(
      kafka,
      { inputs: config.inputTopics, output: config.outputTopic, deadLetter: config.deadLetterTopic },
      predictionReader(loadSchema(config.predictionSchema, 'PREDICTION_SCHEMA'), config.outputFormat),
      config.processingGuarantee === 'exactly-once',
    );
    process.stdout.write(`${formatReport(report)}\n`);
    return report.lost === 0 && (config.processingGuarantee === 'at-least-once' || report.duplicated === 0) ? 0 : 3;
  }
  if (command === 'drift') {
    const { runDriftCommand } = await import('./monitor/cli');
    return runDriftCommand(config, logger, argv.slice(1));
  }
  if (command === 'score-file') {
    const { scoreFileCommand } = await import('./batch/cli');
    return scoreFileCommand(config, logger, argv.slice(1));
  }
  if (command === 'backfill') {
    const { backfillCommand } = await import('./batch/cli');
    return backfillCommand(config, logger, argv.slice(1));
  }
  if (command === 'redrive') {
    const { parseRedriveArgs } = await import('./redrive/args');
    const { runRedrive } = await import('./redrive/redrive');
    let args: ReturnType<typeof parseRedriveArgs>;
    try {
      args = parseRedriveArgs(argv.slice(1));
    } catch (error) {
      process.stderr.write(`stream-scorer redrive: ${(error as Error).message}\n`);
      return 2;
    }
    const result = await runRedrive(config, logger, args, (line) => process.stdout.write(`${line}\n`));
    const summary = result.applied ?? result.dryRun;
    return summary.complete ? 0 : 3;
  }
  if (command !== 'run' && command !== 'demo') {
    process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }

  const runtime = runtimeWarning();
  if (runtime) logger.warn({ node_version: process.versions.node }, runtime);
  tuneHeap(config);
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    logger.warn({ missing_node_flags: missing }, `started without ${missing.join(' ')}: expect about 100 MB more peak RSS; npm start and npm run demo pass them, or set NODE_OPTIONS="${SERVICE_NODE_FLAGS.join(' ')}"`);
  }
  // The SDK starts before anything loads kafkajs (service and demo are imported below).
  const telemetry = startTelemetry({ serviceName: config.serviceName, serviceVersion: '0.1.0', otlpEndpoint: config.otlpEndpoint });
  let signals = 0;
  let requestStop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the in-flight batch');
      process.exit(130);
    }
    logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'stopping: finishing the in-flight batch, committing, leaving the group');
    setTimeout(() => {
      logger.error({ timeout_ms: config.shutdownTimeoutMs }, 'graceful stop took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    requestStop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP: hot swap of the model (docs/model-lifecycle.md), once the service runs; never a stop.
  let onHangUp: () => void = () => logger.warn({ signal: 'SIGHUP' }, 'SIGHUP before the model is loaded: ignored');
  process.on('SIGHUP', () => onHangUp());

  try {
    if (command === 'demo') {
      const { runDemo } = await import('./demo/run-demo');
      await runDemo(config, logger, Boolean(process.env[SETTINGS.kafkaBrokers.env]), stopRequested);
    } else {
      const { startService, SERVICE_VERSION } = await import('./service');
      const { startMonitoring } = await import('./telemetry/monitoring');
      const monitoring = await startMonitoring(config, logger, SERVICE_VERSION);
      try {
        const service = await startService(config, logger, monitoring.observer);
        monitoring.setReloader(() => service.reload('admin'));
        monitoring.setScorer({ plan: () => service.featurePlan, score: (events) => service.scoreEvents(events) });
        onHangUp = () => {
          logger.info({ signal: 'SIGHUP', model_path: config.modelPath }, 'SIGHUP: reloading the model');
          void service.reload('SIGHUP');
        };
        await Promise.race([service.done, stopRequested]);
        monitoring.stopping();
        await service.stop();
        await service.done;
        logger.info(service.stats.snapshot(), 'stopped');
      } finally {
        await monitoring.close();
      }
    }
    return 0;
  } finally {
    await telemetry.shutdown().catch(() => undefined);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof ServiceError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`stream-scorer: ${message}\n`);
    process.exitCode = 1;
    // kafkajs may keep sockets open after a failure; do not hang.
    setTimeout(() => process.exit(1), 2_000).unref();
  },
);
