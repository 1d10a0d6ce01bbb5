import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load';
import { ServiceError } from '../../src/errors';
import { type KafkaSecuritySettings, explainConnectError, resolveKafkaSecurity } from '../../src/kafka/security';

const dir = mkdtempSync(join(tmpdir(), 'scorer-kafka-security-'));
const file = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

let caFile = '';
let certFile = '';
let keyFile = '';

function settings(env: Record<string, string>): KafkaSecuritySettings {
  return loadConfig(env);
}

function problemOf(env: Record<string, string>): string {
  try {
    resolveKafkaSecurity(settings(env));
  } catch (error) {
    assert.ok(error instanceof ServiceError, `expected a ServiceError, got ${String(error)}`);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.message;
  }
  assert.fail(`expected ${JSON.stringify(env)} to be refused`);
}

describe('Kafka security settings', () => {
  before(() => {
    // A throw-away CA and client certificate, made here so no key material lives in the repository.
    const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca']);
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.crt', '-days', '2', '-subj', '/CN=client']);
    caFile = join(dir, 'ca.crt');
    certFile = join(dir, 'client.crt');
    keyFile = join(dir, 'client.key');
  });

  it('defaults to PLAINTEXT: no ssl, no sasl', () => {
    const security = resolveKafkaSecurity(settings({}));
    assert.equal(security.protocol, 'PLAINTEXT');
    assert.equal(security.ssl, undefined);
    assert.equal(security.sasl, undefined);
  });

  it('SASL_SSL with SCRAM-SHA-512: credentials from files (final newline dropped), custom CA, rejectUnauthorized', () => {
    const security = resolveKafkaSecurity(
      settings({
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME_FILE: file('user', 'scorer\n'),
        KAFKA_SASL_PASSWORD_FILE: file('pass', 'pa ss\n'),
        KAFKA_TLS_CA_FILE: caFile,
      }),
    );
    assert.deepEqual(security.sasl, { mechanism: 'scram-sha-512', username: 'scorer', password: 'pa ss' });
    assert.ok(security.ssl && security.ssl !== true);
    assert.equal(security.ssl.rejectUnauthorized, true);
    assert.match(String(security.ssl.ca), /BEGIN CERTIFICATE/);
    assert.equal(security.summary, `SASL_SSL, SCRAM-SHA-512 as "scorer", CA from ${caFile}`);
    assert.doesNotMatch(security.summary, /pa ss/);
  });

  it('SSL without a CA file trusts the system CAs; mutual TLS with cert and key', () => {
    assert.equal(resolveKafkaSecurity(settings({ KAFKA_SECURITY_PROTOCOL: 'SSL' })).ssl, true);
    const mtls = resolveKafkaSecurity(settings({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CERT_FILE: certFile, KAFKA_TLS_KEY_FILE: keyFile }));
    assert.ok(mtls.ssl && mtls.ssl !== true);
    assert.match(String(mtls.ssl.cert), /BEGIN CERTIFICATE/);
    assert.match(String(mtls.ssl.key), /PRIVATE KEY/);
  });

  it('SCRAM over SASL_PLAINTEXT is allowed (the password never crosses the wire)', () => {
    const security = resolveKafkaSecurity(
      settings({ KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME_FILE: file('u2', 'a'), KAFKA_SASL_PASSWORD_FILE: file('p2', 'b') }),
    );
    assert.equal(security.sasl?.mechanism, 'scram-sha-256');
    assert.equal(security.ssl, undefined);
  });

  const refused: [string, () => Record<string, string>, RegExp][] = [
    [
      'PLAIN without TLS',
      () => ({ KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME_FILE: file('u3', 'a'), KAFKA_SASL_PASSWORD_FILE: file('p3', 'b') }),
      /KAFKA_SASL_MECHANISM=plain sends the password in clear text: refused with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT/,
    ],
    ['SASL without a mechanism', () => ({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME_FILE: file('u4', 'a'), KAFKA_SASL_PASSWORD_FILE: file('p4', 'b') }), /KAFKA_SASL_MECHANISM must be set with KAFKA_SECURITY_PROTOCOL=SASL_SSL/],
    ['SASL without a username file', () => ({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_PASSWORD_FILE: file('p5', 'b') }), /KAFKA_SASL_USERNAME_FILE must name the file/],
    ['SASL without a password file', () => ({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME_FILE: file('u6', 'a') }), /KAFKA_SASL_PASSWORD_FILE must name the file/],
    [
      'an unreadable password file, named',
      () => ({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME_FILE: file('u7', 'a'), KAFKA_SASL_PASSWORD_FILE: join(dir, 'no-such-file') }),
      /KAFKA_SASL_PASSWORD_FILE=.*no-such-file: cannot read it \(ENOENT\)/,
    ],
    ['an empty username file', () => ({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME_FILE: file('u8', ''), KAFKA_SASL_PASSWORD_FILE: file('p8', 'b') }), /KAFKA_SASL_USERNAME_FILE=.*u8: the file is empty/],
    ['a CA file that is not PEM', () => ({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CA_FILE: file('ca-bad', 'hello') }), /KAFKA_TLS_CA_FILE=.*ca-bad: not a PEM certificate/],
    ['a certificate without its key', () => ({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CERT_FILE: certFile }), /KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together/],
    ['a key file that is not a key', () => ({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_CERT_FILE: certFile, KAFKA_TLS_KEY_FILE: file('k-bad', 'secret-ish') }), /KAFKA_TLS_KEY_FILE=.*k-bad: not an unencrypted PEM private key/],
    ['TLS files without TLS (protocol forgotten)', () => ({ KAFKA_TLS_CA_FILE: caFile }), /KAFKA_TLS_CA_FILE is set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS/],
    ['SASL settings without SASL (protocol forgotten)', () => ({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512' }), /KAFKA_SASL_MECHANISM is set, but KAFKA_SECURITY_PROTOCOL=SSL does not use SASL/],
  ];
  for (const [name, env, pattern] of refused) {
    it(`refuses ${name}, naming the setting`, () => {
      const message = problemOf(env());
      assert.match(message, pattern);
      assert.doesNotMatch(message, /\n\s+at /, 'a message, not a stack trace');
    });
  }

  it('never echoes secret file contents in its messages', () => {
    const message = problemOf({
      KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME_FILE: file('u9', 'someone'),
      KAFKA_SASL_PASSWORD_FILE: file('p9', 'hunter2-very-secret'),
      KAFKA_TLS_KEY_FILE: file('k9', 'hunter3-key'),
    });
    assert.doesNotMatch(message, /hunter2|hunter3/);
  });

  it('reports every problem at once', () => {
    const message = problemOf({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_TLS_CA_FILE: join(dir, 'missing-ca') });
    assert.match(message, /KAFKA_SASL_MECHANISM must be set/);
    assert.match(message, /KAFKA_SASL_USERNAME_FILE must name/);
    assert.match(message, /KAFKA_SASL_PASSWORD_FILE must name/);
    assert.match(message, /KAFKA_TLS_CA_FILE=.*missing-ca: cannot read it/);
  });

  it('a path that is a directory (e.g. a Secret mounted at the wrong level) is named', () => {
    // A permission test would pass vacuously here: CI runs as root, which reads any file.
    assert.match(
      problemOf({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME_FILE: file('u10', 'a'), KAFKA_SASL_PASSWORD_FILE: dir }),
      /KAFKA_SASL_PASSWORD_FILE=.*: cannot read it \(EISDIR\)/,
    );
  });

  it('explains a refused SASL login with mechanism, user and the settings to check', () => {
    const security = resolveKafkaSecurity(
      settings({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME_FILE: file('u11', 'scorer'), KAFKA_SASL_PASSWORD_FILE: file('p11', 'wrong') }),
    );
    const kafkaError = Object.assign(new Error('SASL SCRAM SHA512 authentication failed: Invalid username or password'), { name: 'KafkaJSSASLAuthenticationError' });
    const explained = explainConnectError(kafkaError, security);
    assert.ok(explained instanceof ServiceError);
    assert.equal(explained.code, 'KAFKA_AUTH_FAILED');
    assert.match(explained.message, /SASL SCRAM-SHA-512 authentication as user "scorer"/);
    assert.match(explained.message, /KAFKA_SASL_PASSWORD_FILE=.*p11/);
    assert.doesNotMatch(explained.message, /wrong/);
    // Anything else passes through untouched.
    const other = new Error('Connection timeout');
    assert.equal(explainConnectError(other, security), other);
  });

  it('explains an untrusted broker certificate, naming KAFKA_TLS_CA_FILE', () => {
    const security = resolveKafkaSecurity(settings({ KAFKA_SECURITY_PROTOCOL: 'SSL' }));
    const retries = Object.assign(new Error('Connection error: self-signed certificate in certificate chain'), { name: 'KafkaJSNumberOfRetriesExceeded' });
    const cause = Object.assign(new Error('Connection error: self-signed certificate in certificate chain'), { name: 'KafkaJSConnectionError', code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    (retries as { cause?: unknown }).cause = cause;
    const explained = explainConnectError(retries, security);
    assert.ok(explained instanceof ServiceError);
    assert.match(explained.message, /TLS with the brokers failed .*KAFKA_TLS_CA_FILE is unset.*self-signed certificate/);
  });
});
