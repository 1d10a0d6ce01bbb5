/**
 * SASL_SSL against a real broker: this file starts its own second broker (scripts/kafka.sh with
 * KAFKA_SASL_SSL_PORT: a SCRAM-SHA-512/256 user created at format time, a test CA and a broker
 * certificate made with openssl) in its own instance dir, and removes it at the end. It does not
 * need the main broker of `npm run test:integration`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { loadConfig } from '../../src/config/load';
import { createKafka } from '../../src/kafka/client';
import { loadSchema } from '../../src/stages/decode';
import { createLogger } from '../../src/telemetry/logger';
import { INPUT_SCHEMA, ROOT, referenceCases } from '../support/model';
import { type CliProcess, runCli } from '../support/processes';

const PORT = Number(process.env.KAFKA_SECURITY_TEST_PORT ?? 19192);
const SASL_SSL_PORT = PORT + 2; // PORT + 1 is the broker's controller port
const BROKER_ENV = {
  ...process.env,
  KAFKA_PORT: String(PORT),
  KAFKA_CONTROLLER_PORT: String(PORT + 1),
  KAFKA_SASL_SSL_PORT: String(SASL_SSL_PORT),
  KAFKA_DATA_DIR: join(ROOT, '.cache/kafka-run/sasl-ssl-test'),
  KAFKA_SCRAM_USER: 'stream-scorer',
  KAFKA_HEAP_OPTS: '-Xms128m -Xmx512m',
};
const TLS = join(BROKER_ENV.KAFKA_DATA_DIR, 'tls');
const BROKERS = `127.0.0.1:${SASL_SSL_PORT}`;

function broker(command: 'start' | 'reset'): void {
  execFileSync(join(ROOT, 'scripts/kafka.sh'), [command], { env: BROKER_ENV, stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
}

/** The settings a pod gets: SASL_SSL, SCRAM-SHA-512, credentials and CA as files. */
function secureEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    KAFKA_BROKERS: BROKERS,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME_FILE: join(TLS, 'client/username'),
    KAFKA_SASL_PASSWORD_FILE: join(TLS, 'client/password'),
    KAFKA_TLS_CA_FILE: join(TLS, 'ca.crt'),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function runScorer(env: Record<string, string>): CliProcess {
  return runCli(['run'], { LOG_LEVEL: 'info', ...env });
}

const secrets = mkdtempSync(join(tmpdir(), 'scorer-sasl-'));

describe('integration: Kafka SASL_SSL (SCRAM-SHA-512, custom CA) against a real broker', { timeout: 300_000 }, () => {
  before(() => {
    broker('reset'); // a fresh instance dir: the SCRAM user is created when the storage is formatted
    broker('start');
  });
  after(() => broker('reset'));

  it('the correct secret connects: admin lists topics, creates them and a producer writes over SASL_SSL', async () => {
    const config = loadConfig(secureEnv());
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'security-test', security: config }, createLogger('warn'));
    const admin = kafka.admin();
    await admin.connect();
    const topic = `secure-${randomUUID().slice(0, 8)}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    assert.ok((await admin.listTopics()).includes(topic));
    await admin.disconnect();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const [result] = await producer.send({ topic, messages: [{ value: 'x' }], acks: -1 });
    assert.equal(result?.errorCode, 0);
    await producer.disconnect();
  });

  it('the service scores over SASL_SSL and stops cleanly on SIGTERM', async () => {
    const config = loadConfig(secureEnv());
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'security-test', security: config }, createLogger('warn'));
    const id = `secure-run-${randomUUID().slice(0, 8)}`;
    const topics = { input: `${id}.in`, output: `${id}.scored`, deadLetter: `${id}.dlq`, group: `${id}.group` };
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [topics.input, topics.output, topics.deadLetter].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
    });
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const events = referenceCases()
      .slice(0, 20)
      .map((c) => c.event);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: topics.input, acks: -1, messages: events.map((e) => ({ key: String(e.card_id), value: eventType.toBuffer(e) })) });
    await producer.disconnect();

    const run = runScorer(secureEnv({ INPUT_TOPICS: topics.input, OUTPUT_TOPIC: topics.output, DEAD_LETTER_TOPIC: topics.deadLetter, KAFKA_GROUP_ID: topics.group }));
    try {
      let scored = 0;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && run.child.exitCode === null) {
        const offsets = await admin.fetchTopicOffsets(topics.output);
        scored = offsets.reduce((sum, p) => sum + Number(p.high), 0);
        if (scored >= events.length) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(scored, events.length, run.output().slice(-3000));
      assert.match(run.output(), /"kafka_security":"SASL_SSL, SCRAM-SHA-512 as \\"stream-scorer\\", CA from /);
      run.child.kill('SIGTERM');
      assert.equal(await run.exit, 0, run.output().slice(-3000));
      assert.ok(!run.output().includes(readFileSync(join(TLS, 'client/password'), 'utf8')), 'the password never appears in the logs');
    } finally {
      run.child.kill('SIGKILL');
      await admin.disconnect();
    }
  });

  it('a wrong password fails at start-up with a clear message naming the mechanism and user, not a stack trace', async () => {
    const wrong = join(secrets, 'wrong-password');
    writeFileSync(wrong, 'not-the-password\n');
    const started = Date.now();
    const run = runScorer(secureEnv({ KAFKA_SASL_PASSWORD_FILE: wrong }));
    assert.equal(await run.exit, 1, run.output().slice(-3000));
    assert.ok(Date.now() - started < 30_000, 'an authentication failure is not retried for long');
    const output = run.output();
    assert.match(output, /stream-scorer: KAFKA_AUTH_FAILED: the brokers refused SASL SCRAM-SHA-512 authentication as user "stream-scorer" \(SASL_SSL; credentials from KAFKA_SASL_USERNAME_FILE=.*, KAFKA_SASL_PASSWORD_FILE=.*wrong-password\)/);
    assert.doesNotMatch(output, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
    assert.doesNotMatch(output, /not-the-password/);
  });

  it('an untrusted broker certificate (no KAFKA_TLS_CA_FILE) fails with a message naming the CA setting', async () => {
    const run = runScorer(secureEnv({ KAFKA_TLS_CA_FILE: undefined }));
    assert.equal(await run.exit, 1, run.output().slice(-3000));
    assert.match(run.output(), /KAFKA_AUTH_FAILED: TLS with the brokers failed \(SASL_SSL; trusted CAs from the system, KAFKA_TLS_CA_FILE is unset\): .*self-signed certificate/);
    assert.doesNotMatch(run.output(), /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
  });

  it('PLAIN without TLS is refused before any connection is tried', async () => {
    const run = runScorer(secureEnv({ KAFKA_BROKERS: `127.0.0.1:${PORT}`, KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'plain', KAFKA_TLS_CA_FILE: undefined }));
    assert.equal(await run.exit, 1);
    assert.match(run.output(), /CONFIG_INVALID: invalid Kafka security settings:\n {2}KAFKA_SASL_MECHANISM=plain sends the password in clear text/);
  });
});
