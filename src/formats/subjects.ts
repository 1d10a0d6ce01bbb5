import type avro from 'avsc';
import type { Config } from '../config/schema';
import { ServiceError } from '../errors';
import type { Logger } from '../telemetry/logger';
import { type Registry, isRegistryUnavailable, subjectFor } from './registry';
import { pathsMissingInWriter, unresolvableField } from './writer-fields';

/**
 * What the registry says about the subjects stream-scorer reads and writes, checked at start-up
 * and by `stream-scorer contract`: can the reader schema read the latest input version, and does
 * it still carry every field the model reads; which id the predictions are written with.
 */
export interface InputSubjectReport {
  readonly topic: string;
  readonly subject: string;
  /** undefined: the subject has no version yet. */
  readonly latestId: number | undefined;
  /** Why INPUT_SCHEMA cannot read the latest version; undefined when it can. */
  readonly unreadable?: string;
  /** Model fields the latest version lacks (resolution would score the reader's defaults). */
  readonly missingModelFields: readonly string[];
}

export async function checkInputSubjects(registry: Registry, config: Config, reader: avro.Type, modelPaths: readonly (readonly string[])[]): Promise<InputSubjectReport[]> {
  const reports: InputSubjectReport[] = [];
  for (const topic of config.inputTopics) {
    const subject = subjectFor(config.schemaRegistrySubjectStrategy, topic, reader.name);
    const latest = await registry.latest(subject);
    if (!latest) {
      reports.push({ topic, subject, latestId: undefined, missingModelFields: [] });
      continue;
    }
    let unreadable: string | undefined;
    try {
      if (!latest.type.equals(reader)) reader.createResolver(latest.type);
    } catch (error) {
      const field = unresolvableField(reader, latest.type);
      unreadable = `${field ? `at field ${field}: ` : ''}${(error as Error).message}`;
    }
    const report: InputSubjectReport = { topic, subject, latestId: latest.id, missingModelFields: pathsMissingInWriter(reader, latest.type, modelPaths) };
    reports.push(unreadable === undefined ? report : { ...report, unreadable });
  }
  return reports;
}

export function describeInputSubject(report: InputSubjectReport): { ok: boolean; text: string } {
  if (report.latestId === undefined) return { ok: true, text: `subject ${report.subject} has no version yet (events will name their schema ids)` };
  if (report.unreadable !== undefined) return { ok: false, text: `INPUT_SCHEMA cannot read the latest version of ${report.subject} (id ${report.latestId}): ${report.unreadable}; its events will be dead-lettered as SCHEMA_INCOMPATIBLE` };
  if (report.missingModelFields.length > 0) {
    return { ok: false, text: `the latest version of ${report.subject} (id ${report.latestId}) has no field ${report.missingModelFields.join(', ')}, which the model reads; its events will be dead-lettered as SCHEMA_INCOMPATIBLE` };
  }
  return { ok: true, text: `INPUT_SCHEMA reads the latest version of ${report.subject} (id ${report.latestId}), which carries every field the model reads` };
}

/**
 * The id predictions are framed with: PREDICTION_SCHEMA registered under the output subject
 * (SCHEMA_REGISTRY_AUTO_REGISTER), or looked up there. A refusal stops start-up with the
 * registry's answer.
 */
export async function predictionSchemaId(registry: Registry, config: Config, prediction: avro.Type, schemaJson: unknown): Promise<{ subject: string; id: number }> {
  const subject = subjectFor(config.schemaRegistrySubjectStrategy, config.outputTopic, prediction.name);
  if (config.schemaRegistryAutoRegister) {
    try {
      return { subject, id: await registry.register(subject, schemaJson) };
    } catch (error) {
      if (isRegistryUnavailable(error) || error instanceof ServiceError) throw error;
      throw new ServiceError('SCHEMA_INVALID', `the schema registry refused PREDICTION_SCHEMA=${config.predictionSchema} under subject ${subject}: ${(error as Error).message}. Check the subject's compatibility setting, or make the prediction schema compatible with its latest version.`, { cause: error });
    }
  }
  const id = await registry.lookup(subject, schemaJson);
  if (id === undefined) {
    throw new ServiceError('SCHEMA_INVALID', `PREDICTION_SCHEMA=${config.predictionSchema} is not registered under subject ${subject}, and SCHEMA_REGISTRY_AUTO_REGISTER=false: register it, or allow auto-registration`);
  }
  return { subject, id };
}

/** Runs a start-up call, waiting with backoff while the registry is unavailable (up to STARTUP_TIMEOUT_MS). */
export async function untilRegistryAnswers<T>(call: () => Promise<T>, timeoutMs: number, logger: Logger): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!isRegistryUnavailable(error)) throw error;
      if (Date.now() > deadline) throw new ServiceError('REGISTRY_UNAVAILABLE', `${error.message}; gave up after STARTUP_TIMEOUT_MS=${timeoutMs}`, { cause: error });
      const waitMs = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
      logger.warn({ attempt, wait_ms: waitMs, registry: error.url, error: error.message }, 'schema registry not reachable yet; waiting');
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
