import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import avro from 'avsc';
import { ServiceError } from '../../src/errors';
import { processBatch } from '../../src/pipeline';
import { prepare } from '../../src/service';
import { assertPredictionSchemaFits, checkEventFields, type EventFieldSamples } from '../../src/stages/check/prediction-fit';
import { buildPrediction, type PredictionContext } from '../../src/stages/encode';
import { createLogger } from '../../src/telemetry/logger';
import { INPUT_SCHEMA, PREDICTION_SCHEMA, referenceCases, testConfig } from '../support/model';

const inputJson = JSON.parse(readFileSync(INPUT_SCHEMA, 'utf8')) as { fields: { name: string; type: unknown }[] };
const predictionJson = JSON.parse(readFileSync(PREDICTION_SCHEMA, 'utf8')) as { fields: { name: string; type: unknown }[] };
const LABEL = 'INPUT_SCHEMA=schemas/test.avsc';
const DEFAULTS = { eventIdField: 'event_id', eventTimeField: 'event_time' };

/** The input schema with some fields' types replaced (or added when new). */
function inputWith(types: Record<string, unknown>): unknown {
  const fields = inputJson.fields.map((f) => (f.name in types ? { ...f, type: types[f.name] } : f));
  for (const [name, type] of Object.entries(types)) if (!fields.some((f) => f.name === name)) fields.push({ name, type });
  return { ...inputJson, fields };
}

/** The prediction schema with some fields' types replaced (default and doc dropped), or dropped (type undefined). */
function predictionWith(types: Record<string, unknown>): avro.Type {
  const fields = predictionJson.fields.filter((f) => !(f.name in types) || types[f.name] !== undefined).map((f) => (f.name in types ? { name: f.name, type: types[f.name] } : f));
  return avro.Type.forSchema({ ...predictionJson, fields } as avro.Schema);
}

function serviceErrorOf(fn: () => unknown): ServiceError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ServiceError, `expected a ServiceError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ServiceError');
}

function context(type: avro.Type, fields: { eventIdField: string; eventTimeField: string } = DEFAULTS): PredictionContext {
  return { type, modelName: 'card-fraud', modelVersion: '1.0.0', classes: ['0', '1'], ...fields };
}

const message = { topic: 'payments', partition: 3, offset: '1042' };

describe('EVENT_ID_FIELD and EVENT_TIME_FIELD against the input schema', () => {
  it('the demo schema and defaults fit: a string id, a timestamp-millis time', () => {
    const samples = checkEventFields(inputJson, DEFAULTS, LABEL);
    assert.deepEqual(samples.id.map((s) => typeof s.value), ['string']);
    assert.deepEqual(samples.time.map((s) => typeof s.value), ['number']);
  });

  it('refuses an id field the schema lacks, naming the setting, the field, the schema and the way out', () => {
    const error = serviceErrorOf(() => checkEventFields(inputJson, { ...DEFAULTS, eventIdField: 'payment_id' }, LABEL));
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.match(error.message, /EVENT_ID_FIELD=payment_id: INPUT_SCHEMA=schemas\/test\.avsc has no top-level field "payment_id"/);
    assert.match(error.message, /fields that fit: event_id, event_time, card_id, merchant_id, .*, txn_count_24h and 3 more\. /);
    assert.match(error.message, /EVENT_ID_FIELD=\) if events have none: every prediction then gets the id topic\/partition\/offset/);
  });

  it('refuses a time field the schema lacks', () => {
    const error = serviceErrorOf(() => checkEventFields(inputJson, { ...DEFAULTS, eventTimeField: 'ts' }, LABEL));
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.match(error.message, /EVENT_TIME_FIELD=ts: INPUT_SCHEMA=schemas\/test\.avsc has no top-level field "ts"; fields that fit: event_time, seconds_since_last_txn\./);
  });

  it('reports both fields at once', () => {
    const error = serviceErrorOf(() => checkEventFields(inputJson, { eventIdField: 'nope', eventTimeField: 'nada' }, LABEL));
    assert.match(error.message, /EVENT_ID_FIELD=nope/);
    assert.match(error.message, /EVENT_TIME_FIELD=nada/);
  });

  const wrongTypes: [string, string, unknown, RegExp][] = [
    ['id: double', 'eventIdField', 'double', /EVENT_ID_FIELD=f: field "f" of INPUT_SCHEMA=schemas\/test\.avsc has type "double": an id field must be a string, an enum, an int or a long/],
    ['id: bytes in a nullable union', 'eventIdField', ['null', 'bytes'], /has type \["null","bytes"\]: an id field must be/],
    ['id: a union of two types', 'eventIdField', ['null', 'string', 'long'], /exactly one type besides null/],
    ['time: string', 'eventTimeField', 'string', /EVENT_TIME_FIELD=f: field "f" .* has type "string": a time field must be a long of epoch milliseconds/],
    ['time: double', 'eventTimeField', 'double', /has type "double": a time field must be a long/],
    ['time: int (seconds?)', 'eventTimeField', 'int', /has type "int": an int cannot hold epoch milliseconds after 1970-01-25/],
    ['time: timestamp-micros', 'eventTimeField', { type: 'long', logicalType: 'timestamp-micros' }, /has type \{"type":"long","logicalType":"timestamp-micros"\}: logicalType timestamp-micros is not epoch milliseconds/],
    ['time: nullable local-timestamp-millis', 'eventTimeField', ['null', { type: 'long', logicalType: 'local-timestamp-millis' }], /logicalType local-timestamp-millis is not epoch milliseconds/],
  ];
  for (const [name, setting, type, pattern] of wrongTypes) {
    it(`refuses a field of the wrong type (${name}), naming its actual type`, () => {
      const error = serviceErrorOf(() => checkEventFields(inputWith({ f: type }), { ...DEFAULTS, [setting]: 'f' }, LABEL));
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.match(error.message, pattern);
    });
  }

  it('accepts nullable unions, in either order, and says a null can arrive', () => {
    const samples = checkEventFields(inputWith({ event_id: ['null', 'string'], event_time: [{ type: 'long', logicalType: 'timestamp-millis' }, 'null'] }), DEFAULTS, LABEL);
    assert.deepEqual(samples.id.map((s) => s.value === null), [false, true]);
    assert.deepEqual(samples.time.map((s) => s.value === null), [false, true]);
  });

  it('accepts an enum, int or long id and a plain long time; numeric ids are published as decimal text', () => {
    for (const type of [{ type: 'enum', name: 'Kind', symbols: ['a', 'b'] }, 'int', 'long']) {
      const samples = checkEventFields(inputWith({ event_id: type, event_time: 'long' }), DEFAULTS, LABEL);
      assert.equal(samples.id.length, 1);
    }
    const ctx = context(avro.Type.forSchema(predictionJson as avro.Schema));
    assert.equal(buildPrediction(ctx, { event_id: 9007199254740990, event_time: 5 }, message, { score: 0.5, probabilities: [0.5, 0.5], label: '1', flags: [] }, 0).event_id, '9007199254740990');
    assert.equal(buildPrediction(ctx, { event_id: 'e-1', event_time: 5 }, message, { score: 0.5, probabilities: [0.5, 0.5], label: '1', flags: [] }, 0).event_id, 'e-1');
    assert.equal(buildPrediction(ctx, { event_id: null, event_time: null }, message, { score: 0.5, probabilities: [0.5, 0.5], label: '1', flags: [] }, 0).event_id, 'payments/3/1042');
  });

  it('an empty setting means "no such field": it fits any schema and yields topic/partition/offset ids and null times', () => {
    const samples = checkEventFields({ type: 'record', name: 'Bare', fields: [{ name: 'x', type: 'double' }] }, { eventIdField: '', eventTimeField: '' }, LABEL);
    assert.deepEqual(samples.id.map((s) => s.value), [undefined]);
    assert.deepEqual(samples.time.map((s) => s.value), [undefined]);
    const prediction = buildPrediction(context(avro.Type.forSchema(predictionJson as avro.Schema), { eventIdField: '', eventTimeField: '' }), { event_id: 'ignored', event_time: 5 }, message, { score: 0.5, probabilities: [0.5, 0.5], label: '1', flags: [] }, 0);
    assert.equal(prediction.event_id, 'payments/3/1042');
    assert.equal(prediction.event_time, null);
  });
});

describe('PREDICTION_SCHEMA holds what the encoder writes', () => {
  const SETTING = 'PREDICTION_SCHEMA=schemas/custom.avsc';
  const demoSamples = checkEventFields(inputJson, DEFAULTS, LABEL);
  const nullableTime = checkEventFields(inputWith({ event_time: ['null', 'long'] }), DEFAULTS, LABEL);
  const options = { topics: ['payments'] };

  it('the shipped prediction schema holds every kind of sample (incl. null times and no id field)', () => {
    const type = avro.Type.forSchema(predictionJson as avro.Schema);
    assertPredictionSchemaFits(context(type), demoSamples, options, SETTING);
    assertPredictionSchemaFits(context(type), nullableTime, options, SETTING);
    const none = { eventIdField: '', eventTimeField: '' };
    assertPredictionSchemaFits(context(type, none), checkEventFields(inputJson, none, LABEL), options, SETTING);
  });

  const bad: [string, Record<string, unknown>, EventFieldSamples, RegExp][] = [
    ['a non-nullable event_time when the time field is nullable', { event_time: 'long' }, nullableTime, /when event_id is a string and event_time is null \(event_time is then null\): event_time: null is not "long" \(avsc: invalid "long": null\)/],
    ['event_id as an int', { event_id: 'int' }, demoSamples, /event_id: sample-event-id is not "int"/],
    ['source.offset as an int (offsets outgrow it)', { source: { type: 'record', name: 'SourcePosition', fields: [{ name: 'topic', type: 'string' }, { name: 'partition', type: 'int' }, { name: 'offset', type: 'int' }] } }, demoSamples, /source\.offset: 9007199254740990 is not "int"/],
    ['an enum of topics without the input topic', { source: { type: 'record', name: 'SourcePosition', fields: [{ name: 'topic', type: { type: 'enum', name: 'T', symbols: ['other'] } }, { name: 'partition', type: 'int' }, { name: 'offset', type: 'long' }] } }, demoSamples, /source\.topic: payments is not/],
    ['probabilities as a map', { probabilities: { type: 'map', values: 'double' } }, demoSamples, /probabilities: \[0\.5,0\.5\] is not \{"type":"map","values":"double"\}/],
  ];
  for (const [name, change, samples, pattern] of bad) {
    it(`refuses ${name}, naming PREDICTION_SCHEMA, the field and avsc's reason`, () => {
      const error = serviceErrorOf(() => assertPredictionSchemaFits(context(predictionWith(change)), samples, options, SETTING));
      assert.equal(error.code, 'SCHEMA_INVALID');
      assert.match(error.message, /^SCHEMA_INVALID: PREDICTION_SCHEMA=schemas\/custom\.avsc cannot hold the prediction the scorer writes when /);
      assert.match(error.message, pattern);
    });
  }

  it('refuses a schema that would silently drop fields the scorer writes', () => {
    const error = serviceErrorOf(() => assertPredictionSchemaFits(context(predictionWith({ score: undefined, label: undefined })), demoSamples, options, SETTING));
    assert.equal(error.code, 'SCHEMA_INVALID');
    assert.match(error.message, /PREDICTION_SCHEMA=schemas\/custom\.avsc has no field for score, label: the scorer writes them/);
  });

  it('reads the class count from the model graph and refuses a positive class past it', async () => {
    const prepared = await prepare(testConfig(), createLogger('silent'));
    assert.deepEqual(prepared.model.output.classes, ['0', '1']);
    assert.equal(prepared.model.output.positive, 1);
    await assert.rejects(prepare(testConfig({ MODEL_POSITIVE_CLASS_INDEX: '2' }), createLogger('silent')), /CONFIG_INVALID: MODEL_POSITIVE_CLASS_INDEX=2: the model's score output "probabilities" has 2 columns \(0\.\.1, classes 0, 1\)/);
  });
});

describe('prepare(): start-up refuses what would fail later', () => {
  const logger = createLogger('silent');
  const dir = mkdtempSync(join(tmpdir(), 'scorer-fit-'));

  it('the demo defaults start', async () => {
    const prepared = await prepare(testConfig(), logger);
    assert.equal(prepared.prediction.eventIdField, 'event_id');
  });

  it('EVENT_ID_FIELD naming a missing field: CONFIG_INVALID with the schema path', async () => {
    await assert.rejects(prepare(testConfig({ EVENT_ID_FIELD: 'payment_id' }), logger), (error: unknown) => {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.ok(error.message.includes(`EVENT_ID_FIELD=payment_id: INPUT_SCHEMA=${INPUT_SCHEMA} has no top-level field "payment_id"`), error.message);
      return true;
    });
  });

  it('EVENT_TIME_FIELD naming a field of the wrong type: CONFIG_INVALID', async () => {
    await assert.rejects(prepare(testConfig({ EVENT_TIME_FIELD: 'account_age_days' }), logger), /CONFIG_INVALID: EVENT_TIME_FIELD=account_age_days: field "account_age_days" .* has type "int"/);
  });

  it('a PREDICTION_SCHEMA that cannot hold a prediction: SCHEMA_INVALID naming the file and the field', async () => {
    const file = join(dir, 'prediction-no-null-time.avsc');
    writeFileSync(file, JSON.stringify({ ...predictionJson, fields: predictionJson.fields.map((f) => (f.name === 'event_time' ? { name: 'event_time', type: 'long' } : f)) }));
    await assert.rejects(prepare(testConfig({ PREDICTION_SCHEMA: file, EVENT_TIME_FIELD: '' }), logger), (error: unknown) => {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.code, 'SCHEMA_INVALID');
      assert.ok(error.message.includes(`PREDICTION_SCHEMA=${file} cannot hold the prediction`), error.message);
      assert.match(error.message, /EVENT_TIME_FIELD is empty \(event_time is null\): event_time: null is not "long"/);
      return true;
    });
  });

  it('MODEL_POSITIVE_CLASS_INDEX past the model\'s classes: CONFIG_INVALID', async () => {
    await assert.rejects(prepare(testConfig({ MODEL_POSITIVE_CLASS_INDEX: '2' }), logger), /CONFIG_INVALID: MODEL_POSITIVE_CLASS_INDEX=2/);
  });

  it('EVENT_ID_FIELD= and EVENT_TIME_FIELD= (empty) start, and predictions carry topic/partition/offset ids and null times', async () => {
    const prepared = await prepare(testConfig({ EVENT_ID_FIELD: '', EVENT_TIME_FIELD: '' }), logger);
    const deps = { ...prepared, tracer: trace.getTracer('test'), recordSpans: false };
    const event = referenceCases()[0]?.event ?? assert.fail('a reference event');
    const processed = await processBatch(deps, [{ topic: 'payments', partition: 3, offset: '1042', key: null, value: deps.decoder.reader.toBuffer(event), headers: {}, timestamp: '1767225600000' }]);
    processed.finish();
    assert.equal(processed.deadLetters.length, 0);
    const prediction = deps.prediction.type.fromBuffer(processed.predictions[0]?.value as Buffer) as { event_id: string; event_time: number | null };
    assert.equal(prediction.event_id, 'payments/3/1042');
    assert.equal(prediction.event_time, null);
  });
});
