import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Admin, Consumer, Kafka, Producer, SASLOptions } from 'kafkajs';
import type { Config } from '../config/schema';
import { ServiceError } from '../errors';

/** The settings this module reads; pass the whole Config. */
export type KafkaSecuritySettings = Pick<
  Config,
  'kafkaSecurityProtocol' | 'kafkaSaslMechanism' | 'kafkaSaslUsernameFile' | 'kafkaSaslPasswordFile' | 'kafkaTlsCaFile' | 'kafkaTlsCertFile' | 'kafkaTlsKeyFile'
>;

/** Validated kafkajs `ssl` / `sasl` options, plus what may be said about them in messages (never the password). */
export interface KafkaSecurity {
  readonly protocol: Config['kafkaSecurityProtocol'];
  readonly ssl?: ConnectionOptions | true;
  readonly sasl?: SASLOptions;
  /** e.g. `SASL_SSL, SCRAM-SHA-512 as "stream-scorer"`: safe to log. */
  readonly summary: string;
  /** The settings behind it, to name them when the broker refuses the connection. */
  readonly settings: KafkaSecuritySettings;
}

type FileReader = (path: string) => Buffer;

const TLS_PROTOCOLS = new Set(['SSL', 'SASL_SSL']);
const SASL_PROTOCOLS = new Set(['SASL_PLAINTEXT', 'SASL_SSL']);

/**
 * Checks the Kafka security settings as a whole and reads the files they name. Every problem is
 * reported at once, each naming its setting; a secret's content never appears in a message.
 */
export function resolveKafkaSecurity(settings: KafkaSecuritySettings, read: FileReader = (path) => readFileSync(path)): KafkaSecurity {
  const protocol = settings.kafkaSecurityProtocol;
  const tls = TLS_PROTOCOLS.has(protocol);
  const sasl = SASL_PROTOCOLS.has(protocol);
  const problems: string[] = [];
  const at = `KAFKA_SECURITY_PROTOCOL=${protocol}`;

  const readSetting = (env: string, path: string | undefined, what: string): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      const content = read(path);
      if (content.length === 0) {
        problems.push(`${env}=${path}: the file is empty; it must hold ${what}`);
        return undefined;
      }
      return content;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      problems.push(`${env}=${path}: cannot read it (${e.code ?? e.message}); it must hold ${what}`);
      return undefined;
    }
  };

  // Settings that only make sense with TLS, or with SASL, are refused otherwise: they usually
  // mean KAFKA_SECURITY_PROTOCOL was forgotten, and the client would silently connect without them.
  if (!tls) {
    for (const [env, value] of [['KAFKA_TLS_CA_FILE', settings.kafkaTlsCaFile], ['KAFKA_TLS_CERT_FILE', settings.kafkaTlsCertFile], ['KAFKA_TLS_KEY_FILE', settings.kafkaTlsKeyFile]] as const) {
      if (value !== undefined) problems.push(`${env} is set, but ${at} does not use TLS (use SSL or SASL_SSL, or remove ${env})`);
    }
  }
  if (!sasl) {
    for (const [env, value] of [['KAFKA_SASL_MECHANISM', settings.kafkaSaslMechanism], ['KAFKA_SASL_USERNAME_FILE', settings.kafkaSaslUsernameFile], ['KAFKA_SASL_PASSWORD_FILE', settings.kafkaSaslPasswordFile]] as const) {
      if (value !== undefined) problems.push(`${env} is set, but ${at} does not use SASL (use SASL_SSL, or remove ${env})`);
    }
  }

  let ssl: ConnectionOptions | true | undefined;
  if (tls) {
    const options: { ca?: string; cert?: string; key?: string; rejectUnauthorized: true } = { rejectUnauthorized: true };
    const ca = readSetting('KAFKA_TLS_CA_FILE', settings.kafkaTlsCaFile, 'PEM CA certificate(s)');
    if (ca) {
      try {
        new X509Certificate(ca);
        options.ca = ca.toString('utf8');
      } catch (error) {
        problems.push(`KAFKA_TLS_CA_FILE=${settings.kafkaTlsCaFile}: not a PEM certificate (${(error as Error).message})`);
      }
    }
    if ((settings.kafkaTlsCertFile === undefined) !== (settings.kafkaTlsKeyFile === undefined)) {
      problems.push('KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together (mutual TLS): set both or neither');
    } else {
      const cert = readSetting('KAFKA_TLS_CERT_FILE', settings.kafkaTlsCertFile, 'a PEM client certificate');
      const key = readSetting('KAFKA_TLS_KEY_FILE', settings.kafkaTlsKeyFile, 'an unencrypted PEM private key');
      if (cert) {
        try {
          new X509Certificate(cert);
          options.cert = cert.toString('utf8');
        } catch (error) {
          problems.push(`KAFKA_TLS_CERT_FILE=${settings.kafkaTlsCertFile}: not a PEM certificate (${(error as Error).message})`);
        }
      }
      if (key) {
        try {
          createPrivateKey(key);
          options.key = key.toString('utf8');
        } catch {
          // The parser's message may quote the key: do not repeat it.
          problems.push(`KAFKA_TLS_KEY_FILE=${settings.kafkaTlsKeyFile}: not an unencrypted PEM private key`);
        }
      }
    }
    ssl = options.ca || options.cert ? options : true;
  }

  let saslOptions: SASLOptions | undefined;
  let user: string | undefined;
  if (sasl) {
    const mechanism = settings.kafkaSaslMechanism;
    if (mechanism === undefined) problems.push(`KAFKA_SASL_MECHANISM must be set with ${at} (one of plain, scram-sha-256, scram-sha-512)`);
    if (mechanism === 'plain' && !tls) {
      problems.push(`KAFKA_SASL_MECHANISM=plain sends the password in clear text: refused with ${at}; use KAFKA_SECURITY_PROTOCOL=SASL_SSL (or a SCRAM mechanism)`);
    }
    if (settings.kafkaSaslUsernameFile === undefined) problems.push(`KAFKA_SASL_USERNAME_FILE must name the file with the SASL username when ${at}`);
    if (settings.kafkaSaslPasswordFile === undefined) problems.push(`KAFKA_SASL_PASSWORD_FILE must name the file with the SASL password when ${at}`);
    const username = readSetting('KAFKA_SASL_USERNAME_FILE', settings.kafkaSaslUsernameFile, 'the SASL username');
    const password = readSetting('KAFKA_SASL_PASSWORD_FILE', settings.kafkaSaslPasswordFile, 'the SASL password');
    // `kubectl create secret --from-file` and editors leave a final newline: it is not part of the secret.
    user = username?.toString('utf8').replace(/\r?\n$/, '');
    const pass = password?.toString('utf8').replace(/\r?\n$/, '');
    if (user === '') problems.push(`KAFKA_SASL_USERNAME_FILE=${settings.kafkaSaslUsernameFile}: holds only a line break; it must hold the SASL username`);
    if (pass === '') problems.push(`KAFKA_SASL_PASSWORD_FILE=${settings.kafkaSaslPasswordFile}: holds only a line break; it must hold the SASL password`);
    if (mechanism !== undefined && user && pass) saslOptions = { mechanism, username: user, password: pass } as SASLOptions;
  }

  if (problems.length > 0) throw new ServiceError('CONFIG_INVALID', `invalid Kafka security settings:\n  ${problems.join('\n  ')}`);

  const parts: string[] = [protocol];
  if (saslOptions) parts.push(`${saslOptions.mechanism.toUpperCase()} as "${user}"`);
  if (tls) parts.push(settings.kafkaTlsCaFile ? `CA from ${settings.kafkaTlsCaFile}` : 'system CAs');
  if (tls && settings.kafkaTlsCertFile) parts.push(`client certificate ${settings.kafkaTlsCertFile}`);
  return { protocol, ...(ssl ? { ssl } : {}), ...(saslOptions ? { sasl: saslOptions } : {}), summary: parts.join(', '), settings };
}

const TLS_ERROR_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

function chain(error: unknown): { name?: string; message?: string; code?: string; type?: string }[] {
  const out: { name?: string; message?: string; code?: string; type?: string }[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as { name?: string; message?: string; code?: string; type?: string; cause?: unknown; originalError?: unknown; retriableError?: unknown };
    out.push(e);
    current = e.cause ?? e.originalError ?? e.retriableError;
  }
  return out;
}

/**
 * Turns a kafkajs connection failure caused by security (credentials refused, certificate not
 * trusted) into a ServiceError that names the mechanism, the user and the settings to check.
 * Other errors are returned unchanged.
 */
export function explainConnectError(error: unknown, security: KafkaSecurity): unknown {
  if (error instanceof ServiceError) return error;
  const links = chain(error);
  const s = security.settings;
  const auth = links.find((e) => e.name === 'KafkaJSSASLAuthenticationError' || e.type === 'SASL_AUTHENTICATION_FAILED' || e.type === 'UNSUPPORTED_SASL_MECHANISM' || e.type === 'ILLEGAL_SASL_STATE');
  if (auth && security.sasl) {
    const user = 'username' in security.sasl ? security.sasl.username : '?';
    return new ServiceError(
      'KAFKA_AUTH_FAILED',
      `the brokers refused SASL ${security.sasl.mechanism.toUpperCase()} authentication as user "${user}" (${security.protocol}; credentials from KAFKA_SASL_USERNAME_FILE=${s.kafkaSaslUsernameFile}, KAFKA_SASL_PASSWORD_FILE=${s.kafkaSaslPasswordFile}): ${auth.message ?? 'authentication failed'}`,
      { cause: error },
    );
  }
  const tlsError = links.find((e) => (e.code !== undefined && TLS_ERROR_CODES.has(e.code)) || /certificate|SSL routines|wrong version number/i.test(e.message ?? ''));
  if (tlsError && security.ssl) {
    return new ServiceError(
      'KAFKA_AUTH_FAILED',
      `TLS with the brokers failed (${security.protocol}; trusted CAs from ${s.kafkaTlsCaFile ? `KAFKA_TLS_CA_FILE=${s.kafkaTlsCaFile}` : 'the system, KAFKA_TLS_CA_FILE is unset'}): ${tlsError.message ?? tlsError.code}`,
      { cause: error },
    );
  }
  return error;
}

type Connectable = Admin | Producer | Consumer;

function guard<T extends Connectable>(client: T, security: KafkaSecurity): T {
  const connect = client.connect.bind(client);
  client.connect = async () => {
    try {
      await connect();
    } catch (error) {
      throw explainConnectError(error, security);
    }
  };
  return client;
}

/** Every admin, producer and consumer of this client reports security failures on connect() clearly. */
export function withSecurityErrors(kafka: Kafka, security: KafkaSecurity): Kafka {
  const admin = kafka.admin.bind(kafka);
  const producer = kafka.producer.bind(kafka);
  const consumer = kafka.consumer.bind(kafka);
  kafka.admin = (config) => guard(admin(config), security);
  kafka.producer = (config) => guard(producer(config), security);
  kafka.consumer = (config) => guard(consumer(config), security);
  return kafka;
}
