import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { createDecoder, decodeBatch, loadSchema } from '../../src/stages/decode';
import { INPUT_SCHEMA, referenceCases } from '../support/model';

const reader = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
const decoder = createDecoder(reader);
const event = referenceCases()[0]?.event as Record<string, unknown>;
const valid = reader.toBuffer(event);

describe('decode stage', () => {
  const cases: [string, Buffer | null, string | undefined, RegExp?][] = [
    ['valid event', valid, undefined],
    ['null value (tombstone)', null, 'EMPTY_VALUE'],
    ['empty value', Buffer.alloc(0), 'EMPTY_VALUE'],
    ['truncated bytes', valid.subarray(0, 10), 'UNDECODABLE_AVRO', /truncated/],
    ['trailing bytes', Buffer.concat([valid, Buffer.from([1, 2, 3])]), 'UNDECODABLE_AVRO', /trailing data: 3 bytes/],
    ['Confluent framing', Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), valid]), 'UNDECODABLE_AVRO'],
    ['random bytes', Buffer.from('this is not avro at all, just text'), 'UNDECODABLE_AVRO'],
  ];
  for (const [name, value, code, message] of cases) {
    it(name, () => {
      const result = decodeBatch(decoder, [value]);
      if (code === undefined) {
        assert.equal(result.rejections[0], undefined);
        assert.deepEqual({ ...result.events[0] }, event);
      } else {
        assert.equal(result.events[0], undefined);
        assert.equal(result.rejections[0]?.code, code);
        assert.equal(result.rejections[0]?.stage, 'decode');
        if (message) assert.match(result.rejections[0]?.message ?? '', message);
      }
    });
  }

  it('keeps positions in a mixed batch', () => {
    const result = decodeBatch(decoder, [valid, null, valid]);
    assert.ok(result.events[0] && result.events[2]);
    assert.equal(result.rejections[1]?.code, 'EMPTY_VALUE');
  });

  it('reads events written with an older writer schema (schema evolution)', () => {
    const schema = JSON.parse(JSON.stringify(reader.schema())) as { fields: { name: string }[] };
    // The old producer did not send user_agent_hash; the reader's default (null) fills it in.
    schema.fields = schema.fields.filter((f) => f.name !== 'user_agent_hash');
    const writer = avro.Type.forSchema(schema as avro.Schema);
    const { user_agent_hash: _dropped, ...old } = event;
    const result = decodeBatch(createDecoder(reader, writer), [writer.toBuffer(old)]);
    assert.equal(result.rejections[0], undefined);
    assert.equal(result.events[0]?.user_agent_hash, null);
    assert.equal(result.events[0]?.event_id, event.event_id);
  });

  it('refuses a writer schema the reader cannot resolve', () => {
    const writer = avro.Type.forSchema({ type: 'record', name: 'Other', fields: [{ name: 'x', type: 'int' }] });
    assert.throws(() => createDecoder(reader, writer), /SCHEMA_INVALID/);
  });
});
