import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { reject } from '../../src/errors';
import { deadLetterRecord } from '../../src/output/dead-letter';
import { H } from '../../src/output/headers';
import type { SourceMessage } from '../../src/records';
import { encodePredictions } from '../../src/stages/encode';
import { loadSchema } from '../../src/stages/decode';
import { PREDICTION_SCHEMA } from '../support/model';

const source: SourceMessage = {
  topic: 'payments',
  partition: 1,
  offset: '42',
  key: Buffer.from([0x01, 0x02]),
  value: Buffer.from([0xff, 0x00, 0x7f]),
  headers: { 'x-bin': Buffer.from([0x00, 0xfe]), traceparent: Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01') },
  timestamp: '1767225600000',
};
const ctx = { consumerGroup: 'g', modelName: 'card-fraud', modelVersion: '1.0.0' };

describe('dead-letter record', () => {
  it('keeps key, value, timestamp and headers as received and adds the reason', () => {
    const record = deadLetterRecord(source, reject('UNKNOWN_CATEGORY', 'not known', 'channel', 'crypto'), ctx, { traceparent: '00-abc-def-01' }, Date.UTC(2026, 10, 27));
    assert.equal(record.key, source.key);
    assert.equal(record.value, source.value);
    assert.equal(record.timestamp, source.timestamp);
    assert.equal(record.headers['x-bin'], source.headers['x-bin']);
    assert.equal(record.headers.traceparent, source.headers.traceparent, 'original traceparent untouched');
    assert.equal(record.headers['scorer.traceparent'], '00-abc-def-01');
    assert.deepEqual(
      Object.fromEntries(Object.entries(record.headers).filter(([k]) => k.startsWith('scorer.reason') || k.startsWith('scorer.source'))),
      {
        [H.reasonCode]: 'UNKNOWN_CATEGORY',
        [H.reasonStage]: 'check',
        [H.reasonField]: 'channel',
        [H.reasonValue]: 'crypto',
        [H.reasonMessage]: 'not known',
        [H.sourceTopic]: 'payments',
        [H.sourcePartition]: '1',
        [H.sourceOffset]: '42',
        [H.sourceTimestamp]: '1767225600000',
      },
    );
    assert.equal(record.headers[H.failedAt], '2026-11-27T00:00:00.000Z');
    assert.equal(source.headers[H.reasonCode], undefined, 'the input message is not modified');
  });

  it('keeps the history when a re-driven record is rejected again', () => {
    const first = deadLetterRecord(source, reject('MISSING_FIELD', 'null', 'amount', null), ctx, {}, 0);
    const again = deadLetterRecord({ ...source, headers: first.headers }, reject('UNKNOWN_CATEGORY', 'x', 'country', 'ZZ'), ctx, {}, 0);
    assert.deepEqual(again.headers[H.reasonCode], ['MISSING_FIELD', 'UNKNOWN_CATEGORY']);
    assert.deepEqual(again.headers[H.reasonField], ['amount', 'country']);
  });

  it('renders offending values readably and bounded', () => {
    assert.equal(reject('NON_FINITE_NUMBER', 'm', 'amount', Number.NaN).value, 'NaN');
    assert.equal(reject('UNDECODABLE_AVRO', 'm', 'value', Buffer.from([0xde, 0xad])).value, '0xdead');
    assert.equal(reject('UNKNOWN_CATEGORY', 'm', 'channel', 'x'.repeat(500)).value?.length, 201);
    assert.equal(reject('EMPTY_VALUE', 'm').value, undefined);
  });
});

describe('encode stage', () => {
  const type = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
  const events = [{ event_id: 'e-1', event_time: 1767225600000 }, { event_id: 'e-2', event_time: null }];
  const messages = [source, { ...source, offset: '43' }];
  const scored = { scores: new Float64Array([0.1, 0.75]), probabilities: new Float64Array([0.9, 0.1, 0.25, 0.75]), classCount: 2, labels: ['0', '1'], rejections: [undefined, undefined] };
  const base = { type, modelName: 'card-fraud', modelVersion: '1.0.0', eventIdField: 'event_id', eventTimeField: 'event_time', classes: ['0', '1'] };

  it('encodes one prediction per scored row', () => {
    const encoded = encodePredictions(base, Int32Array.from([0, 1]), events, messages, scored, 1767225601000);
    const decoded = encoded.values.map((v) => type.fromBuffer(v as Buffer) as Record<string, unknown>);
    assert.equal(decoded[0]?.event_id, 'e-1');
    assert.ok(Math.abs((decoded[0]?.score as number) - 0.1) < 1e-7);
    assert.equal(decoded[1]?.label, '1');
    assert.deepEqual(decoded[1]?.classes, ['0', '1']);
    assert.deepEqual(decoded[1]?.flags, []);
    assert.equal(decoded[1]?.event_time, null);
    assert.deepEqual({ ...(decoded[1]?.source as object) }, { topic: 'payments', partition: 1, offset: 43 });
    assert.equal(decoded[0]?.scored_at, 1767225601000);
  });

  it('rejects a row whose prediction does not fit the schema, keeps the others', () => {
    const strict = avro.Type.forSchema({ ...(type.schema() as object), fields: [...(type.schema() as { fields: object[] }).fields.slice(0, 2), { name: 'score', type: 'int' }] } as avro.Schema);
    const encoded = encodePredictions({ ...base, type: strict }, Int32Array.from([0, 1]), events, messages, scored, 0);
    assert.equal(encoded.rejections[0]?.code, 'ENCODE_FAILED');
    assert.equal(encoded.values[0], undefined);
  });

  it('leaves rows the score stage rejected alone', () => {
    const failed = { ...scored, rejections: [reject('MODEL_ERROR', 'boom'), undefined] };
    const encoded = encodePredictions(base, Int32Array.from([0, 1]), events, messages, failed, 0);
    assert.equal(encoded.rejections[0]?.code, 'MODEL_ERROR');
    assert.ok(encoded.values[1]);
  });
});
