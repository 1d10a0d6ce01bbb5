import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import type { Config } from '../config/schema';
import { ServiceError } from '../errors';

/**
 * A Confluent-API schema registry, through @kafkajs/confluent-schema-registry (which parses
 * schemas with avsc and caches them by id: ids are immutable). This module only adds what a
 * stream needs on top: every failure is classified, because "the registry does not know this id"
 * is the event's problem (a dead letter) while "the registry is down" is not (the batch waits).
 */

/** The registry could not be asked (refused, reset, time-out, 5xx): the batch waits and retries. */
export class RegistryUnavailableError extends Error {
  readonly code = 'REGISTRY_UNAVAILABLE';
  constructor(
    message: string,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RegistryUnavailableError';
  }
}

export function isRegistryUnavailable(error: unknown): error is RegistryUnavailableError {
  return error instanceof RegistryUnavailableError;
}

export type SchemaLookup = { readonly found: true; readonly type: avro.Type } | { readonly found: false; readonly status: number; readonly message: string };

/** What the pipeline needs from a registry: a writer schema by id. */
export interface SchemaSource {
  readonly url: string;
  schemaById(id: number): Promise<SchemaLookup>;
}

// What mappersmith reports for a request that never got an HTTP answer: status 400 with the socket error's text.
const NO_ANSWER = /ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up|Timeout \(\d+ms\)|other side closed/;

interface ResponseErrorLike {
  readonly status?: number;
  readonly message: string;
}

/** 'unavailable', 'auth' (401/403: a setting or secret is wrong), or the HTTP status of a real answer. */
export function classifyRegistryError(error: unknown): 'unavailable' | 'auth' | number {
  const e = error as ResponseErrorLike;
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (status === undefined) return NO_ANSWER.test(String(e?.message)) ? 'unavailable' : 0;
  if (status === 401 || status === 403) return 'auth';
  if (status >= 500 || status === 408 || status === 429) return 'unavailable';
  if (status === 400 && NO_ANSWER.test(e.message)) return 'unavailable';
  return status;
}

export interface RegistrySettings {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly caPem?: string;
  readonly timeoutMs: number;
}

function readSecret(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new ServiceError('CONFIG_INVALID', `${setting}=${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
}

/** The registry settings, or undefined when no registry is configured; refuses a format that needs one without it. */
export function registrySettings(config: Config): RegistrySettings | undefined {
  const needs = [config.inputFormat === 'confluent' ? 'INPUT_FORMAT=confluent' : '', config.outputFormat === 'confluent' ? 'OUTPUT_FORMAT=confluent' : ''].filter(Boolean);
  if (!config.schemaRegistryUrl) {
    if (needs.length > 0) throw new ServiceError('CONFIG_INVALID', `${needs.join(' and ')} need(s) SCHEMA_REGISTRY_URL, the base URL of a Confluent-API schema registry`);
    return undefined;
  }
  if ((config.schemaRegistryUsernameFile === undefined) !== (config.schemaRegistryPasswordFile === undefined)) {
    throw new ServiceError('CONFIG_INVALID', 'SCHEMA_REGISTRY_USERNAME_FILE and SCHEMA_REGISTRY_PASSWORD_FILE go together: set both or neither');
  }
  let url: URL;
  try {
    url = new URL(config.schemaRegistryUrl);
  } catch {
    throw new ServiceError('CONFIG_INVALID', `SCHEMA_REGISTRY_URL=${config.schemaRegistryUrl}: not a URL (e.g. http://127.0.0.1:8081)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ServiceError('CONFIG_INVALID', `SCHEMA_REGISTRY_URL=${config.schemaRegistryUrl}: must be http:// or https://`);
  const settings: RegistrySettings = { url: config.schemaRegistryUrl.replace(/\/+$/, ''), timeoutMs: config.schemaRegistryTimeoutMs };
  return Object.assign(
    settings,
    config.schemaRegistryUsernameFile ? { username: readSecret(config.schemaRegistryUsernameFile, 'SCHEMA_REGISTRY_USERNAME_FILE') } : {},
    config.schemaRegistryPasswordFile ? { password: readSecret(config.schemaRegistryPasswordFile, 'SCHEMA_REGISTRY_PASSWORD_FILE') } : {},
    config.schemaRegistryTlsCaFile ? { caPem: readSecret(config.schemaRegistryTlsCaFile, 'SCHEMA_REGISTRY_TLS_CA_FILE') } : {},
  );
}

export interface Registry extends SchemaSource {
  /** The id and schema of the latest version of a subject; undefined when the subject does not exist. */
  latest(subject: string): Promise<{ id: number; type: avro.Type } | undefined>;
  /** Registers a schema under a subject (idempotent) and returns its id. */
  register(subject: string, schema: unknown): Promise<number>;
  /** The id a schema already has under a subject; undefined when it is not registered there. */
  lookup(subject: string, schema: unknown): Promise<number | undefined>;
}

/** The error a registry call ends with, classified; `what` says which call for the message. */
function fail(error: unknown, url: string, what: string): never {
  const kind = classifyRegistryError(error);
  const message = (error as Error).message;
  if (kind === 'unavailable') throw new RegistryUnavailableError(`schema registry ${url} unavailable (${what}): ${message}`, url, { cause: error });
  if (kind === 'auth') throw new ServiceError('CONFIG_INVALID', `schema registry ${url} refused the credentials (${what}): ${message}; check SCHEMA_REGISTRY_USERNAME_FILE / SCHEMA_REGISTRY_PASSWORD_FILE`, { cause: error });
  throw error;
}

export function createRegistry(settings: RegistrySettings): Registry {
  const { url, timeoutMs } = settings;
  const client = new SchemaRegistry({
    host: url,
    clientId: 'stream-scorer',
    // One attempt per call: the batch-level retry (with backoff, metrics and /readyz) is the one that waits.
    retry: { retries: 0 },
    ...(settings.username !== undefined ? { auth: { username: settings.username, password: settings.password ?? '' } } : {}),
    ...(settings.caPem !== undefined ? { agent: new HttpsAgent({ ca: settings.caPem, keepAlive: true }) } : {}),
    middlewares: [() => ({ request: (request) => request.enhance({ timeout: timeoutMs }) })],
  });
  const avroOf = (schema: unknown): { type: SchemaType.AVRO; schema: string } => ({ type: SchemaType.AVRO, schema: typeof schema === 'string' ? schema : JSON.stringify(schema) });

  return {
    url,
    async schemaById(id) {
      try {
        return { found: true, type: (await client.getSchema(id)) as unknown as avro.Type };
      } catch (error) {
        const kind = classifyRegistryError(error);
        if (typeof kind === 'number' && kind >= 400 && kind < 500) return { found: false, status: kind, message: (error as Error).message };
        return fail(error, url, `GET /schemas/ids/${id}`);
      }
    },
    async latest(subject) {
      try {
        const id = await client.getLatestSchemaId(subject);
        return { id, type: (await client.getSchema(id)) as unknown as avro.Type };
      } catch (error) {
        if (classifyRegistryError(error) === 404) return undefined;
        return fail(error, url, `GET /subjects/${subject}/versions/latest`);
      }
    },
    async register(subject, schema) {
      // Not client.register(): it refuses any subject whose compatibility is not the one it is
      // given (BACKWARD by default) and sets that level on a new subject. A scorer must neither
      // judge nor change a subject's compatibility: the registry's own check decides. So the
      // client's HTTP resource is called directly (same middlewares: time-out, auth, TLS).
      const api = (client as unknown as { api: { Subject: { register(request: unknown): Promise<{ data(): { id: number } }> } } }).api;
      try {
        return (await api.Subject.register({ subject, body: { schema: avroOf(schema).schema } })).data().id;
      } catch (error) {
        return fail(error, url, `POST /subjects/${subject}/versions`);
      }
    },
    async lookup(subject, schema) {
      try {
        return await client.getRegistryIdBySchema(subject, avroOf(schema));
      } catch (error) {
        // The client rewraps a 404 here as a plain ConfluentSchemaRegistryError, without the status.
        if (classifyRegistryError(error) === 404 || (error as Error).name === 'ConfluentSchemaRegistryError') return undefined;
        return fail(error, url, `POST /subjects/${subject}`);
      }
    },
  };
}

/** The subject of a topic's values under a naming strategy, as Confluent's serializers name it. */
export function subjectFor(strategy: Config['schemaRegistrySubjectStrategy'], topic: string, recordFullName: string | undefined): string {
  if (strategy === 'topic') return `${topic}-value`;
  if (!recordFullName) throw new ServiceError('CONFIG_INVALID', `SCHEMA_REGISTRY_SUBJECT_STRATEGY=${strategy} needs a named record schema`);
  return strategy === 'record' ? recordFullName : `${topic}-${recordFullName}`;
}
