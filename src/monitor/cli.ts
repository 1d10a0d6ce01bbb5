import type { Config } from '../config/schema';
import { ServiceError } from '../errors';
import { createKafka } from '../kafka/client';
import { readContract } from '../model/contract';
import { inputDecoder } from '../formats/input';
import { predictionReader } from '../formats/confluent';
import { loadSchema } from '../stages/decode';
import type { Logger } from '../telemetry/logger';
import { driftOptions } from '../telemetry/monitoring';
import type { DriftReport } from './drift';
import { driftFromTopics } from './from-topics';
import { attributeScoreShift, modelScorer } from './attribution';
import { loadModel } from '../model/session';
import { defaultProfilePath, loadProfile } from './profile';
import { formatDriftReport, isoTime } from './report';

/** Events kept per window for attribution: enough for a mean score within ~0.005 of a window's. */
const ATTRIBUTION_SAMPLE = 1_000;

export interface DriftArgs {
  readonly since?: number;
  readonly json: boolean;
  readonly service?: string;
}

/** `--since` accepts an ISO time, epoch milliseconds, or a duration back from now (90m, 6h, 2d). */
export function parseSince(text: string, now = Date.now()): number {
  const relative = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text);
  if (relative) return now - Number(relative[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
  if (/^\d+$/.test(text)) return Number(text);
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new Error(`--since ${JSON.stringify(text)}: expected an ISO time, epoch milliseconds or a duration such as 6h`);
  return parsed;
}

export function parseDriftArgs(args: readonly string[], now = Date.now()): DriftArgs {
  let since: number | undefined;
  let json = false;
  let service: string | undefined;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--since') since = parseSince(value(), now);
    else if (flag === '--json') json = true;
    else if (flag === '--service') service = value().replace(/\/+$/, '');
    else throw new Error(`unknown option ${JSON.stringify(arg)} (--since TIME, --json, --service URL)`);
  }
  return { ...(since !== undefined ? { since } : {}), json, ...(service !== undefined ? { service } : {}) };
}

async function fromService(url: string): Promise<DriftReport> {
  let response: Response;
  try {
    // The running scorer re-scores its latest drifting score window with its own model (attribution).
    response = await fetch(`${url}/drift?attribution=1`, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new ServiceError('BROKER_UNAVAILABLE', `--service ${url}: no answer from ${url}/drift (${(error as Error).message})`, { cause: error });
  }
  if (!response.ok) throw new ServiceError('CONFIG_INVALID', `--service ${url}: /drift answered ${response.status}: ${(await response.text()).trim()}`);
  return (await response.json()) as DriftReport;
}

/** `stream-scorer drift`: prints the report; exit code 0 (2 for bad arguments). */
export async function runDriftCommand(config: Config, logger: Logger, argv: readonly string[]): Promise<number> {
  let args: DriftArgs;
  try {
    args = parseDriftArgs(argv);
  } catch (error) {
    process.stderr.write(`stream-scorer drift: ${(error as Error).message}\n`);
    return 2;
  }
  if (args.service) {
    const report = await fromService(args.service);
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDriftReport(report)}\n(live state of the scorer at ${args.service}: windows it evaluated since it started)\n`);
    return 0;
  }

  const profilePath = config.driftProfile ?? defaultProfilePath(config.modelPath);
  if (!profilePath) throw new ServiceError('CONFIG_INVALID', `no training profile: set DRIFT_PROFILE or put profile.json next to MODEL_PATH=${config.modelPath}`);
  const profile = loadProfile(profilePath);
  const contract = readContract(config.modelPath, { name: config.modelName, version: config.modelVersion, manifestPath: config.modelManifest });
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `${config.kafkaClientId}-drift`, security: config }, logger);
  const result = await driftFromTopics(
    kafka,
    {
      inputTopics: config.inputTopics,
      outputTopic: config.outputTopic,
      readCommitted: config.processingGuarantee === 'exactly-once',
      ...(args.since !== undefined ? { since: args.since } : {}),
    },
    {
      contract,
      decoder: inputDecoder(config, { required: contract.features.eventPaths }),
      readPrediction: predictionReader(loadSchema(config.predictionSchema, 'PREDICTION_SCHEMA'), config.outputFormat),
    },
    profile,
    // A sample of each window's events, so a drifting score window can be re-scored (attribution).
    { ...driftOptions(config), sampleEvents: ATTRIBUTION_SAMPLE },
  );
  let report: DriftReport = result.report;
  // The latest drifting score window is re-scored one column at a time: which input moved the scores.
  const kase = result.monitor.attributionSamples().at(-1);
  if (kase) {
    try {
      const model = await loadModel(contract, { intraOpThreads: 1, scoreOutput: config.scoreOutput, labelOutput: config.labelOutput, positiveClassIndex: config.positiveClassIndex });
      const attribution = await attributeScoreShift(kase, contract.features, modelScorer(model));
      if (attribution) report = { ...report, attribution };
      await model.session.release();
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'drift: the scores could not be attributed to inputs (the model did not load or score)');
    }
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...report, inputRecords: result.inputRecords, predictionRecords: result.predictionRecords, complete: result.complete }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatDriftReport(report)}\n`);
    process.stdout.write(
      `(read ${result.inputRecords} input record(s) from ${config.inputTopics.join(', ')} and ${result.predictionRecords} prediction(s) from ${config.outputTopic}` +
        `${args.since !== undefined ? ` written since ${isoTime(args.since)}` : ''}${result.complete ? '' : '; INCOMPLETE: the end of a topic was not reached'})\n`,
    );
  }
  return 0;
}
