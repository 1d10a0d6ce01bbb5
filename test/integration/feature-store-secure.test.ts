import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import avro from 'avsc';
import { type ReadinessReport } from '../../src/health/readiness';
import { type RunningService } from '../../src/service';
import { type Monitoring } from '../../src/telemetry/monitoring';
import { type VerifyReport, formatReport } from '../../src/verify/verify';
import { type StoreCase, STORE_INPUT_SCHEMA, STORE_MODEL_PATH, seedStore, settleStoreTopics, storeCases } from '../support/feature-store';
import { type TestTopics, collect, createTestTopics, produce, testKafka } from '../support/kafka';
import { PREDICTION_SCHEMA } from '../support/model';
import { type SecureRedis, startSecureRedis } from '../support/redis-tls';
import { startMonitoredScorer, waitFor } from '../support/scorer';

/**
 * Issue 15: the feature store behind TLS with a client certificate and an ACL user, all read from
 * files as a mounted Secret provides them, against a real redis-server (TLS port only, default
 * user off) with certificates made by openssl for the run. A refusal for good (credentials,
 * certificates) holds the batches like an outage (unavailable: wait, nothing lost), and /readyz
 * names the setting to fix.
 */
const PORT = Number(process.env.REDIS_TLS_PORT ?? '16390');
const eventType = avro.Type.forSchema(JSON.parse(readFileSync(STORE_INPUT_SCHEMA, 'utf8')) as avro.Schema);
const predictionType = avro.Type.forSchema(JSON.parse(readFileSync(PREDICTION_SCHEMA, 'utf8')) as avro.Schema);

function messages(cases: readonly StoreCase[]): { key: Buffer; value: Buffer }[] {
  return cases.map((c, i) => ({ key: Buffer.from(`k${i}`), value: eventType.toBuffer(c.event) }));
}

describe('integration: the feature store over TLS with an ACL user (issue 15)', () => {
  const kafka = testKafka();
  let redis: SecureRedis;
  const running: { service: RunningService; monitoring: Monitoring }[] = [];

  before(async () => {
    redis = await startSecureRedis(PORT);
  });
  after(async () => {
    for (const { service, monitoring } of running) {
      await service.stop().catch(() => undefined);
      await monitoring.close().catch(() => undefined);
    }
    await redis?.stop();
  });

  const secureEnv = (): Record<string, string> => ({
    FEATURE_STORE_ADDRESS: `127.0.0.1:${PORT}`,
    FEATURE_STORE_TLS: 'true',
    FEATURE_STORE_TLS_CA_FILE: redis.files.ca,
    FEATURE_STORE_TLS_CERT_FILE: redis.files.clientCert,
    FEATURE_STORE_TLS_KEY_FILE: redis.files.clientKey,
    FEATURE_STORE_USERNAME_FILE: redis.files.username,
    FEATURE_STORE_PASSWORD_FILE: redis.files.password,
  });

  async function start(topics: TestTopics, env: Record<string, string>): Promise<{ service: RunningService; monitoring: Monitoring }> {
    const started = await startMonitoredScorer(topics, {
      MODEL_PATH: STORE_MODEL_PATH,
      INPUT_SCHEMA: STORE_INPUT_SCHEMA,
      HEALTH_PORT: '0',
      MODEL_RELOAD_WATCH: 'false',
      MODEL_RELOAD_POLL_MS: '0',
      RETRY_BACKOFF_MAX_MS: '500',
      FEATURE_STORE_BREAKER_OPEN_MS: '500',
      ...env,
    });
    running.push(started);
    return started;
  }

  async function stop(started: { service: RunningService; monitoring: Monitoring }): Promise<void> {
    await started.service.stop();
    await started.monitoring.close();
    running.splice(running.indexOf(started), 1);
  }

  const settle = (topics: TestTopics, expected: number): Promise<VerifyReport> => settleStoreTopics(kafka, topics, expected, predictionType);

  /** Batches held for the store, and /readyz's store error once it says `what`. */
  async function heldWith(started: { service: RunningService; monitoring: Monitoring }, what: RegExp): Promise<ReadinessReport> {
    await waitFor(() => started.service.stats.retries >= 2, 30_000, 'batches waiting for the store');
    let report = await started.monitoring.readiness.check();
    for (const deadline = Date.now() + 15_000; !what.test(report.feature_store_error ?? '') && Date.now() < deadline; report = await started.monitoring.readiness.check()) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return report;
  }

  it('mutual TLS and an ACL user from files: every event scored with the stored values', async () => {
    const topics = await createTestTopics(kafka, 'store-tls', 3);
    const cases = storeCases('tls-').slice(0, 60);
    await seedStore(redis.options, cases);
    await produce(kafka, topics.input, messages(cases));
    const { service, monitoring } = await start(topics, secureEnv());
    await waitFor(() => service.stats.consumed >= cases.length, 60_000, 'every event consumed');
    const predictions = await collect(kafka, topics.output, cases.length);
    assert.equal(predictions.length, cases.length);
    for (const p of predictions) {
      const index = Number(p.message.key?.toString().slice(1));
      const c = cases[index] as StoreCase;
      const value = predictionType.fromBuffer(p.message.value as Buffer) as { score: number; features: Record<string, number> };
      assert.deepEqual(value.features, { card_txn_count_24h: c.txnCount, merchant_risk_score: c.riskScore }, `event ${index}`);
      assert.equal(value.score, c.expectedScore, `event ${index}`);
    }
    const ready = await monitoring.readiness.check();
    assert.equal(ready.checks.feature_store, 'available');
    assert.equal(service.stats.retries, 0, 'no batch waited');
  });

  it('a wrong password: batches wait, /readyz names FEATURE_STORE_PASSWORD_FILE; with the right one all is scored, nothing lost or dead-lettered', async () => {
    const topics = await createTestTopics(kafka, 'store-tls-auth', 1);
    const cases = storeCases('auth-').slice(0, 30);
    await seedStore(redis.options, cases);
    await produce(kafka, topics.input, messages(cases));
    const wrong = await start(topics, { ...secureEnv(), FEATURE_STORE_PASSWORD_FILE: redis.files.wrongPassword });
    const held = await heldWith(wrong, /FEATURE_STORE_PASSWORD_FILE/);
    assert.match(held.feature_store_error ?? '', /WRONGPASS/, 'Redis\'s own words are kept');
    assert.match(held.feature_store_error ?? '', /check FEATURE_STORE_PASSWORD_FILE/);
    assert.doesNotMatch(held.feature_store_error ?? '', /not the password|correct horse/, 'no secret in the message');
    assert.equal(held.checks.feature_store, 'waiting');
    assert.equal(held.ready, false);
    assert.equal(wrong.service.stats.consumed, 0, 'nothing scored or dead-lettered without the store');
    await stop(wrong);

    // The Secret fixed, the pod restarted: the same group goes on from where nothing was committed.
    const fixed = await start(topics, secureEnv());
    await waitFor(() => fixed.service.stats.consumed >= cases.length, 60_000, 'every event scored');
    const report = await settle(topics, cases.length);
    assert.equal(report.lost, 0, formatReport(report));
    assert.equal(report.deadLetters, 0, formatReport(report));
    assert.equal(report.predictions, cases.length, formatReport(report));
  });

  it("a CA that did not sign Redis's certificate: batches wait, /readyz names FEATURE_STORE_TLS_CA_FILE", async () => {
    const topics = await createTestTopics(kafka, 'store-tls-ca', 1);
    const cases = storeCases('ca-').slice(0, 10);
    await produce(kafka, topics.input, messages(cases));
    const started = await start(topics, { ...secureEnv(), FEATURE_STORE_TLS_CA_FILE: redis.files.otherCa });
    const held = await heldWith(started, /FEATURE_STORE_TLS_CA_FILE/);
    assert.match(held.feature_store_error ?? '', /check FEATURE_STORE_TLS_CA_FILE/);
    assert.equal(held.checks.feature_store, 'waiting');
    assert.equal(started.service.stats.consumed, 0);
  });

  it('no client certificate where Redis wants one: batches wait, /readyz says what is missing', async () => {
    const topics = await createTestTopics(kafka, 'store-tls-mtls', 1);
    const cases = storeCases('mtls-').slice(0, 10);
    await produce(kafka, topics.input, messages(cases));
    const { FEATURE_STORE_TLS_CERT_FILE: _cert, FEATURE_STORE_TLS_KEY_FILE: _key, ...withoutClientCert } = secureEnv();
    const started = await start(topics, withoutClientCert);
    const held = await heldWith(started, /FEATURE_STORE_TLS_CERT_FILE/);
    assert.match(held.feature_store_error ?? '', /set FEATURE_STORE_TLS_CERT_FILE and FEATURE_STORE_TLS_KEY_FILE/);
    assert.equal(started.service.stats.consumed, 0);
  });
});
