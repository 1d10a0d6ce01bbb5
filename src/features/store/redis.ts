import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../../config/schema';
import { ServiceError } from '../../errors';
import { type BatchLookup, FeatureStore, FeatureStoreUnavailableError } from './lookup';

/**
 * The service's Redis client (only the demo and tests import ioredis besides). Settings are checked as a whole and secrets read from
 * files (as for Kafka, src/kafka/security.ts); a secret's content never appears in a message.
 */
export interface RedisSettings {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly timeoutMs: number;
}

type FileReader = (path: string) => string;

export function redisSettings(config: Config, read: FileReader = (path) => readFileSync(path, 'utf8')): RedisSettings {
  const problems: string[] = [];
  const file = (env: string, path: string | undefined, what: string): string | undefined => {
    if (path === undefined) return undefined;
    try {
      const content = read(path).replace(/\r?\n$/, '');
      if (content.length === 0) problems.push(`${env}=${path}: the file is empty; it must hold ${what}`);
      return content;
    } catch (error) {
      problems.push(`${env}=${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); it must hold ${what}`);
      return undefined;
    }
  };
  if (!config.featureStoreTls) {
    for (const [env, value] of [['FEATURE_STORE_TLS_CA_FILE', config.featureStoreTlsCaFile], ['FEATURE_STORE_TLS_CERT_FILE', config.featureStoreTlsCertFile], ['FEATURE_STORE_TLS_KEY_FILE', config.featureStoreTlsKeyFile]] as const) {
      // Most likely FEATURE_STORE_TLS was forgotten: connecting in clear text would ignore it silently.
      if (value !== undefined) problems.push(`${env} is set, but FEATURE_STORE_TLS is false (set FEATURE_STORE_TLS=true, or remove ${env})`);
    }
  }
  if ((config.featureStoreTlsCertFile === undefined) !== (config.featureStoreTlsKeyFile === undefined)) problems.push('FEATURE_STORE_TLS_CERT_FILE and FEATURE_STORE_TLS_KEY_FILE go together (mutual TLS)');
  if (config.featureStoreUsernameFile !== undefined && config.featureStorePasswordFile === undefined) problems.push('FEATURE_STORE_USERNAME_FILE needs FEATURE_STORE_PASSWORD_FILE');
  const username = file('FEATURE_STORE_USERNAME_FILE', config.featureStoreUsernameFile, 'the Redis username');
  const password = file('FEATURE_STORE_PASSWORD_FILE', config.featureStorePasswordFile, 'the Redis password');
  const ca = file('FEATURE_STORE_TLS_CA_FILE', config.featureStoreTlsCaFile, 'PEM CA certificate(s)');
  const cert = file('FEATURE_STORE_TLS_CERT_FILE', config.featureStoreTlsCertFile, 'a PEM certificate');
  const key = file('FEATURE_STORE_TLS_KEY_FILE', config.featureStoreTlsKeyFile, 'a PEM private key');
  if (problems.length > 0) throw new ServiceError('CONFIG_INVALID', problems.join('; '));
  const at = config.featureStoreAddress.lastIndexOf(':');
  return Object.assign(
    { host: config.featureStoreAddress.slice(0, at), port: Number(config.featureStoreAddress.slice(at + 1)), db: config.featureStoreDb, timeoutMs: config.featureStoreTimeoutMs },
    username !== undefined ? { username } : {},
    password !== undefined ? { password } : {},
    config.featureStoreTls ? { tls: Object.assign({}, ca !== undefined ? { ca } : {}, cert !== undefined ? { cert } : {}, key !== undefined ? { key } : {}) } : {},
  );
}

/**
 * What to check when Redis refuses us for good rather than for now: credentials, the ACL, the
 * certificates. The store stays "unavailable" (a `wait` feature holds the batch, nothing is lost),
 * but the message in the log and in /readyz names the setting to fix instead of only Redis's words.
 */
export function redisFailureHint(error: Error & { code?: string }): string | undefined {
  const text = `${error.code ?? ''} ${error.message}`;
  if (/WRONGPASS|NOAUTH|invalid username-password/i.test(text)) return 'Redis refused the credentials: check FEATURE_STORE_PASSWORD_FILE (and FEATURE_STORE_USERNAME_FILE for an ACL user)';
  if (/NOPERM/.test(text)) return "the Redis user may not run HMGET on these keys: check the user's ACL (commands and key patterns)";
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE/i.test(text)) return "Redis's certificate is not signed by a trusted CA: check FEATURE_STORE_TLS_CA_FILE";
  if (/ALTNAME_INVALID|Hostname\/IP does not match/i.test(text)) return "Redis's certificate does not name FEATURE_STORE_ADDRESS's host: use the name in the certificate";
  if (/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/i.test(text)) return "Redis's certificate is outside its validity period";
  if (/CERTIFICATE_REQUIRED|certificate required/i.test(text)) return 'Redis wants a client certificate: set FEATURE_STORE_TLS_CERT_FILE and FEATURE_STORE_TLS_KEY_FILE';
  if (/WRONG_VERSION_NUMBER|packet length too long|wrong version number/i.test(text)) return 'the TLS handshake got no TLS answer: is FEATURE_STORE_TLS=true pointed at a port without TLS?';
  return undefined;
}

function unavailableMessage(settings: RedisSettings, error: Error): string {
  const hint = redisFailureHint(error);
  return `feature store ${settings.host}:${settings.port}: ${error.message.trim()}${hint ? ` (${hint})` : ''}`;
}

export interface RedisLookup {
  readonly lookup: BatchLookup;
  close(): Promise<void>;
}

/**
 * A batch lookup over one ioredis connection: one pipeline (HMGET per key) per call, one round
 * trip. The offline queue is off, so while Redis is away a lookup fails at once instead of
 * queueing behind a reconnect; ioredis reconnects in the background.
 */
export function createRedisLookup(settings: RedisSettings, onError: (error: Error) => void = () => undefined): RedisLookup {
  const options: RedisOptions = {
    host: settings.host,
    port: settings.port,
    db: settings.db,
    connectTimeout: settings.timeoutMs,
    commandTimeout: settings.timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect quickly but not in a busy loop: at most every 2 s while Redis is down.
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    ...(settings.username !== undefined ? { username: settings.username } : {}),
    ...(settings.password !== undefined ? { password: settings.password } : {}),
    ...(settings.tls ? { tls: { ...settings.tls } } : {}),
  };
  const client = new Redis(options);
  // Without a listener an 'error' event would crash the process; the breaker and readiness say it instead.
  client.on('error', onError);
  const lookup: BatchLookup = async (requests) => {
    const pipeline = client.pipeline();
    for (const request of requests) pipeline.hmget(request.key, ...request.fields);
    let timer: NodeJS.Timeout | undefined;
    const abort = new AbortController();
    const timeout = new Promise<never>((_, rejectTimeout) => {
      timer = setTimeout(() => rejectTimeout(new FeatureStoreUnavailableError(`feature store ${settings.host}:${settings.port} did not answer ${requests.length} key(s) within FEATURE_STORE_TIMEOUT_MS=${settings.timeoutMs}`, 'timeout')), settings.timeoutMs);
    });
    let results: [Error | null, unknown][] | null;
    try {
      // Connecting (the first lookup) or reconnecting: wait for the connection within the batch's
      // time-out rather than fail at once, as commands do without the offline queue.
      if (client.status !== 'ready') {
        const ready = once(client, 'ready', { signal: abort.signal });
        // Settled (aborted, or an 'error' event) after the race may be decided: nothing to report then.
        ready.catch(() => undefined);
        await Promise.race([ready, timeout]);
      }
      results = await Promise.race([pipeline.exec(), timeout]);
    } catch (error) {
      if (error instanceof FeatureStoreUnavailableError) throw error;
      const timedOut = /timed? ?out/i.test((error as Error).message);
      throw new FeatureStoreUnavailableError(unavailableMessage(settings, error as Error), timedOut ? 'timeout' : 'error', { cause: error });
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    if (!results) throw new FeatureStoreUnavailableError(`feature store ${settings.host}:${settings.port}: the pipeline was not executed`, 'error');
    return results.map(([error, value], i) => {
      const fields = (requests[i] as { fields: readonly string[] }).fields;
      // A key of another type holds no feature hash: for this entity, nothing is stored.
      if (error && /^WRONGTYPE/.test(error.message)) return fields.map(() => null);
      if (error) throw new FeatureStoreUnavailableError(unavailableMessage(settings, error), 'error', { cause: error });
      return (value as (string | null)[]).map((v) => (typeof v === 'string' ? v : null));
    });
  };
  return {
    lookup,
    close: async () => {
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/**
 * The service's store: Redis from the settings behind the circuit breaker. The settings (and
 * secret files) are checked now; the connection is made on the first lookup, so a service whose
 * model reads nothing from the store never connects, and a hot-swapped model that starts to does.
 */
export function createFeatureStore(config: Config, onError?: (error: Error) => void): FeatureStore {
  const settings = redisSettings(config);
  let redis: RedisLookup | undefined;
  const raw: BatchLookup = (requests) => (redis ??= createRedisLookup(settings, onError)).lookup(requests);
  return new FeatureStore(raw, { failureThreshold: config.featureStoreBreakerFailures, openMs: config.featureStoreBreakerOpenMs }, async () => {
    await redis?.close();
  });
}
