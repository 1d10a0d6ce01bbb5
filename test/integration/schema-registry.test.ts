import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { H } from '../../src/output/headers';
import type { RunningService } from '../../src/service';
import { collect, createTestTopics, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, MODEL_PATH, PREDICTION_SCHEMA, ROOT, referenceCases } from '../support/model';
import { pythonConsume, pythonProduce } from '../support/python-check';
import { projectRegistryPid, registerSchema, registryCall, registryUrl, schemaJson, setCompatibility } from '../support/registry';
import { contractReport } from '../../src/model/report';
import { scorerConfig, startScorer, waitFor } from '../support/scorer';

/**
 * Confluent-framed Avro against a real registry (Apicurio, Confluent API) and the real broker.
 * Producers' bytes are made by @kafkajs/confluent-schema-registry's serializer, not by the
 * scorer's own framing code.
 */
const v1 = schemaJson('schemas/payment-event.avsc');
// v2: a field with a default added.
const v2 = { ...v1, fields: [...v1.fields, { name: 'loyalty_tier', type: 'string', default: 'none' }] };
// v3: a field the model does not use removed, an int promoted to long, and a field the model
// reads renamed through an alias (readers of v3 find it in v1 and v2 data by its old name).
const v3 = {
  ...v2,
  fields: v2.fields
    .filter((f) => f.name !== 'user_agent_hash')
    .map((f) => (f.name === 'account_age_days' ? { ...f, type: 'long' } : f.name === 'merchant_category' ? { ...f, name: 'mcc_category', aliases: ['merchant_category'] } : f)),
};
// Drops a field the model reads.
const dropsAmount = { ...v3, fields: v3.fields.filter((f) => f.name !== 'amount') };

type Event = Record<string, unknown>;
const asV2 = (e: Event): Event => ({ ...e, loyalty_tier: 'gold' });
function asV3(e: Event): Event {
  const { merchant_category, user_agent_hash: _dropped, ...rest } = asV2(e);
  return { ...rest, mcc_category: merchant_category };
}

/** The example model, with a manifest for the renamed field (the reader schema is v3). */
function modelForV3(): { MODEL_PATH: string; INPUT_SCHEMA: string } {
  const dir = mkdtempSync(join(tmpdir(), 'registry-model-'));
  copyFileSync(MODEL_PATH, join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'manifest.yaml'), 'name: card-fraud\nversion: "1.0.0"\ninputs:\n  - name: merchant_category\n    field: mcc_category\n');
  writeFileSync(join(dir, 'payment-event-v3.avsc'), JSON.stringify(v3));
  return { MODEL_PATH: join(dir, 'model.onnx'), INPUT_SCHEMA: join(dir, 'payment-event-v3.avsc') };
}

function serializer(): SchemaRegistry {
  return new SchemaRegistry({ host: registryUrl() });
}

describe('integration: Confluent wire format with a real schema registry', () => {
  const kafka = testKafka();
  const scorers: RunningService[] = [];
  after(async () => {
    for (const scorer of scorers) await scorer.stop();
  });

  it('events of three schema versions interleaved score exactly as the same events written with v1; predictions go out framed', async () => {
    const topics = await createTestTopics(kafka, 'registry-evolution');
    const subject = `${topics.input}-value`;
    const ids = [await registerSchema(subject, v1)];
    await setCompatibility(subject, 'BACKWARD');
    ids.push(await registerSchema(subject, v2), await registerSchema(subject, v3));
    assert.equal(new Set(ids).size, 3);

    const cases = referenceCases();
    const registry = serializer();
    const messages = [];
    for (let i = 0; i < cases.length; i += 1) {
      const event = (cases[i] as { event: Event }).event;
      const version = i % 3;
      const value = await registry.encode(ids[version] as number, version === 0 ? event : version === 1 ? asV2(event) : asV3(event));
      messages.push({ key: String(event.card_id), value });
    }
    await produce(kafka, topics.input, messages);

    const scorer = await startScorer(topics, { ...modelForV3(), INPUT_FORMAT: 'confluent', OUTPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: registryUrl() });
    scorers.push(scorer);
    await waitFor(() => scorer.stats.consumed >= cases.length, 60_000, 'every framed event');
    const outputs = await collect(kafka, topics.output, cases.length);
    const deadLetters = await collect(kafka, topics.deadLetter, 0, 1_000);
    assert.deepEqual(deadLetters.map((d) => `${d.message.headers?.[H.reasonCode]}: ${d.message.headers?.[H.reasonMessage]}`), []);
    assert.equal(outputs.length, cases.length);

    const byId = new Map(cases.map((c) => [c.event.event_id, c]));
    let worst = 0;
    const outputIds = new Set<number>();
    for (const { message } of outputs) {
      // The registry's client decodes the framed prediction with the schema registered under the output subject.
      const prediction = (await registry.decode(message.value as Buffer)) as { event_id: string; score: number; label: string };
      outputIds.add((message.value as Buffer).readInt32BE(1));
      const expected = byId.get(prediction.event_id);
      assert.ok(expected, prediction.event_id);
      worst = Math.max(worst, Math.abs(prediction.score - (expected.probabilities[1] as number)));
      assert.equal(prediction.label, String(expected.label));
    }
    assert.ok(worst <= 1e-5, `max |score - python reference| over v1, v2 and v3 events = ${worst}`);
    assert.equal(outputIds.size, 1, 'one prediction schema id');
    const registered = await registryCall('GET', `/subjects/${topics.output}-value/versions/latest`);
    assert.equal((registered.body as { id: number }).id, [...outputIds][0], 'registered under the output subject');
  });

  it('unknown ids, a writer without a model field, unframed and hostile bytes are dead-lettered with their reasons; good events flow', async () => {
    const topics = await createTestTopics(kafka, 'registry-bad', 1);
    const subject = `${topics.input}-value`;
    const good = await registerSchema(subject, v1);
    // Dropping a field is BACKWARD-compatible in Avro (a new reader ignores it); FULL refuses it.
    await setCompatibility(subject, 'FULL');
    const refused = await registryCall('POST', `/subjects/${subject}/versions`, { schema: JSON.stringify(dropsAmount) });
    assert.equal(refused.status, 409, 'FULL compatibility refuses a version without amount');
    await setCompatibility(subject, 'NONE');
    const dropped = await registerSchema(subject, dropsAmount);

    const registry = serializer();
    const event = (referenceCases()[0] as { event: Event }).event;
    const { amount: _amount, ...withoutAmount } = asV3(event);
    const goodValue = await registry.encode(good, event);
    const plain = avro.Type.forSchema(v1 as avro.Schema).toBuffer(event);
    const cases: [string, Buffer, string | undefined][] = [
      ['good', goodValue, undefined],
      ['unknown id', Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0x00]), goodValue.subarray(5)]), 'SCHEMA_NOT_FOUND'],
      ['writer without amount', await registry.encode(dropped, withoutAmount), 'SCHEMA_INCOMPATIBLE'],
      ['plain Avro', plain, 'UNDECODABLE_AVRO'],
      ['header only', goodValue.subarray(0, 5), 'UNDECODABLE_AVRO'],
      ['short header', Buffer.from([0, 0, 0]), 'UNDECODABLE_AVRO'],
      ['garbage body', Buffer.concat([goodValue.subarray(0, 5), Buffer.from('not avro at all, just text')]), 'UNDECODABLE_AVRO'],
      ['huge string length', Buffer.concat([goodValue.subarray(0, 5), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f])]), 'UNDECODABLE_AVRO'],
      ['good again', goodValue, undefined],
    ];
    await produce(kafka, topics.input, cases.map(([name, value]) => ({ key: name, value })));
    const scorer = await startScorer(topics, { INPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: registryUrl() });
    scorers.push(scorer);
    await waitFor(() => scorer.stats.consumed >= cases.length, 60_000, 'every record');
    const outputs = await collect(kafka, topics.output, 2);
    const deadLetters = await collect(kafka, topics.deadLetter, cases.length - 2);
    assert.deepEqual(outputs.map((o) => o.message.key?.toString()).sort(), ['good', 'good again']);
    const byKey = new Map(deadLetters.map((d) => [d.message.key?.toString(), d.message]));
    for (const [name, value, code] of cases) {
      if (code === undefined) continue;
      const dead = byKey.get(name);
      assert.ok(dead, `dead letter for ${name}`);
      assert.equal(dead.headers?.[H.reasonCode]?.toString(), code, name);
      assert.ok((dead.value as Buffer).equals(value), `${name}: original bytes kept`);
    }
    assert.equal(byKey.get('writer without amount')?.headers?.[H.reasonField]?.toString(), 'amount');
    assert.match(byKey.get('unknown id')?.headers?.[H.reasonMessage]?.toString() ?? '', /schema id 2147483392 is not in the schema registry/);
  });

  it('a registry that stops answering: the batch waits (nothing dead-lettered), cached ids keep flowing, then everything flows', async (t) => {
    const pid = projectRegistryPid();
    if (pid === undefined) {
      t.skip('the registry at SCHEMA_REGISTRY_URL was not started by scripts/schema-registry.sh, so this test cannot pause it');
      return;
    }
    const topics = await createTestTopics(kafka, 'registry-outage', 2);
    const subject = `${topics.input}-value`;
    const id1 = await registerSchema(subject, v1);
    await setCompatibility(subject, 'BACKWARD');
    const registry = serializer();
    const events = referenceCases().map((c) => (c as { event: Event }).event);

    const scorer = await startScorer(topics, { INPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: registryUrl(), SCHEMA_REGISTRY_TIMEOUT_MS: '500', RETRY_BACKOFF_MAX_MS: '1000' });
    scorers.push(scorer);
    // Registered after the scorer started: an id it has never seen (start-up only read v1 as the latest).
    const id2 = await registerSchema(subject, v2);
    // v1 reaches the scorer first, so id1 is cached on both partitions' behalf.
    await produce(kafka, topics.input, [{ key: 'warm', value: await registry.encode(id1, events[0] as Event), partition: 1 }]);
    await waitFor(() => scorer.stats.consumed >= 1, 30_000, 'the first v1 event');

    // Serialized before the registry stops: the producer's serializer needs it too.
    const v2Events = await Promise.all(events.slice(1, 21).map(async (e) => ({ key: String(e.event_id), value: await registry.encode(id2, asV2(e)), partition: 0 })));
    const v1Events = await Promise.all(events.slice(21, 41).map(async (e) => ({ key: String(e.event_id), value: await registry.encode(id1, e), partition: 1 })));
    // Whatever ends this process, the shared registry must not stay frozen.
    const resume = (): void => {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    };
    process.once('exit', resume);
    process.kill(pid, 'SIGSTOP');
    let resumed = false;
    try {
      await produce(kafka, topics.input, [...v2Events, ...v1Events]);
      // Partition 1 (a cached id) flows while partition 0 (id2, never seen) waits for the registry.
      await waitFor(() => scorer.stats.consumed >= 21, 30_000, 'the cached-id events while the registry is stopped');
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(scorer.stats.consumed, 21, 'the v2 events wait');
      assert.ok(scorer.stats.retries >= 2, `the waiting batch was retried (${scorer.stats.retries})`);
      process.kill(pid, 'SIGCONT');
      resumed = true;
      await waitFor(() => scorer.stats.consumed >= 41, 60_000, 'the v2 events once the registry answers');
    } finally {
      if (!resumed) resume();
      process.removeListener('exit', resume);
    }
    const outputs = await collect(kafka, topics.output, 41);
    const deadLetters = await collect(kafka, topics.deadLetter, 0, 1_000);
    assert.equal(outputs.length, 41, 'every event predicted');
    assert.equal(deadLetters.length, 0, 'nothing dead-lettered for the outage');
  });

  it('independent clients: confluent-kafka\'s serializer writes the input, its deserializer and fastavro read framed and plain output', async () => {
    const framedOut = await createTestTopics(kafka, 'registry-python');
    const plainOut = await createTestTopics(kafka, 'registry-python-plain');
    const cases = referenceCases().slice(0, 60);
    const schemaId = pythonProduce(framedOut.input, INPUT_SCHEMA, `${framedOut.input}-value`, cases.map((c) => ({ key: String(c.event.card_id), value: c.event })));
    assert.ok(Number.isInteger(schemaId));

    const framed = await startScorer(framedOut, { INPUT_FORMAT: 'confluent', OUTPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: registryUrl() });
    scorers.push(framed);
    // The same input read by a second group, publishing plain Avro.
    const plain = await startScorer({ ...plainOut, input: framedOut.input }, { INPUT_FORMAT: 'confluent', OUTPUT_FORMAT: 'avro', SCHEMA_REGISTRY_URL: registryUrl() });
    scorers.push(plain);
    await waitFor(() => framed.stats.consumed >= cases.length && plain.stats.consumed >= cases.length, 60_000, 'both scorers to consume the python-framed events');

    const byId = new Map(cases.map((c) => [c.event.event_id, c]));
    for (const [records, what] of [
      [pythonConsume(framedOut.output, cases.length, 'confluent'), 'framed output, AvroDeserializer'],
      [pythonConsume(plainOut.output, cases.length, 'plain', PREDICTION_SCHEMA), 'plain output, fastavro'],
    ] as const) {
      assert.equal(records.length, cases.length, what);
      let worst = 0;
      for (const record of records) {
        const prediction = record.value as { event_id: string; score: number; label: string; classes: string[]; model_name: string };
        const expected = byId.get(prediction.event_id);
        assert.ok(expected, `${what}: ${prediction.event_id}`);
        assert.equal(record.key, String(expected.event.card_id), `${what}: same key`);
        worst = Math.max(worst, Math.abs(prediction.score - (expected.probabilities[1] as number)));
        assert.equal(prediction.label, String(expected.label));
        assert.deepEqual(prediction.classes, ['0', '1']);
        assert.equal(prediction.model_name, 'card-fraud');
      }
      assert.ok(worst <= 1e-5, `${what}: max |score - python reference| = ${worst}`);
    }
  });

  it('a registry stopped mid-stream and started again (refused connections, then the same store): events wait, then flow, none lost or dead-lettered', async () => {
    // A registry of this test's own, with a file store so that a restart keeps its schemas and ids.
    const env = { ...process.env, SCHEMA_REGISTRY_PORT: '18091', SCHEMA_REGISTRY_JVM_OPTS: `-Dquarkus.datasource.jdbc.url=jdbc:h2:file:${join(mkdtempSync(join(tmpdir(), 'registry-store-')), 'registry')}` };
    const script = join(ROOT, 'scripts/schema-registry.sh');
    const control = (command: 'start' | 'stop'): string => {
      const result = spawnSync(script, [command], { env, encoding: 'utf8', timeout: 180_000 });
      if (result.status !== 0) throw new Error(`schema-registry.sh ${command}: ${result.stderr}`);
      return result.stdout.trim().split('\n').pop() as string;
    };
    const url = control('start');
    try {
      const own = new SchemaRegistry({ host: url });
      const topics = await createTestTopics(kafka, 'registry-restart', 2);
      const subject = `${topics.input}-value`;
      const id1 = (await own.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject })).id;
      const events = referenceCases().map((c) => (c as { event: Event }).event);
      const scorer = await startScorer(topics, { INPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: url, SCHEMA_REGISTRY_TIMEOUT_MS: '500', RETRY_BACKOFF_MAX_MS: '1000' });
      scorers.push(scorer);
      await produce(kafka, topics.input, [{ key: 'warm', value: await own.encode(id1, events[0] as Event), partition: 1 }]);
      await waitFor(() => scorer.stats.consumed >= 1, 30_000, 'the first v1 event');
      const id2 = (await own.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject })).id;
      const v2Events = await Promise.all(events.slice(1, 21).map(async (e) => ({ key: String(e.event_id), value: await own.encode(id2, asV2(e)), partition: 0 })));
      const v1Events = await Promise.all(events.slice(21, 41).map(async (e) => ({ key: String(e.event_id), value: await own.encode(id1, e), partition: 1 })));

      control('stop');
      await produce(kafka, topics.input, [...v2Events, ...v1Events]);
      await waitFor(() => scorer.stats.consumed >= 21, 30_000, 'the cached-id events while the registry is down');
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(scorer.stats.consumed, 21, 'the v2 events wait for the registry');
      assert.ok(scorer.stats.retries >= 2, `the waiting batch was retried (${scorer.stats.retries})`);

      assert.equal(control('start'), url);
      await waitFor(() => scorer.stats.consumed >= 41, 60_000, 'the v2 events once the registry is back');
      const outputs = await collect(kafka, topics.output, 41);
      const deadLetters = await collect(kafka, topics.deadLetter, 0, 1_000);
      assert.equal(outputs.length, 41, 'every event predicted');
      assert.equal(deadLetters.length, 0, 'nothing dead-lettered for the outage');
    } finally {
      control('stop');
    }
  });

  it('start-up: contract reports a latest input version the model cannot use; a registry refusing the prediction schema stops the start with its answer', async () => {
    const topics = await createTestTopics(kafka, 'registry-startup', 1);
    const subject = `${topics.input}-value`;
    await registerSchema(subject, v1);
    await setCompatibility(subject, 'NONE');
    await registerSchema(subject, dropsAmount);
    const report = await contractReport(scorerConfig(topics, { INPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: registryUrl() }));
    const check = report.checks.find((c) => c.name === `input subject ${subject}`);
    assert.equal(check?.ok, false);
    assert.match(check?.detail ?? '', /INPUT_SCHEMA cannot read the latest version of .*\(id \d+\): at field amount: /);

    // The output subject holds a prediction schema with a required field ours lacks; FULL refuses ours.
    const outputSubject = `${topics.output}-value`;
    const prediction = schemaJson('schemas/prediction.avsc');
    await registerSchema(outputSubject, { ...prediction, fields: [...prediction.fields, { name: 'region', type: 'string' }] });
    await setCompatibility(outputSubject, 'FULL');
    await assert.rejects(
      startScorer(topics, { OUTPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: registryUrl() }),
      /SCHEMA_INVALID: the schema registry refused PREDICTION_SCHEMA=.* under subject .*\.scored-value: .*Incompatible/,
    );
    // Without auto-registration, an unregistered prediction schema is refused too.
    await assert.rejects(startScorer(topics, { OUTPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: registryUrl(), SCHEMA_REGISTRY_AUTO_REGISTER: 'false' }), /is not registered under subject .* SCHEMA_REGISTRY_AUTO_REGISTER=false/);
  });
});
