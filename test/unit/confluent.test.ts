import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { FRAME_BYTES, encodeFramed, frameSchemaId, predictionReader } from '../../src/formats/confluent';
import { RegistryUnavailableError, type SchemaLookup, type SchemaSource, classifyRegistryError, registrySettings, subjectFor } from '../../src/formats/registry';
import { testConfig } from '../support/model';
import { pathsMissingInWriter } from '../../src/formats/writer-fields';
import { createFramedDecoder, decodeBatch, prepareDecoder } from '../../src/stages/decode';

const v1 = { type: 'record', name: 'Payment', namespace: 't', fields: [{ name: 'id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'tags', type: { type: 'array', items: 'string' } }, { name: 'note', type: 'string' }] };
// v2: a field with a default added; v3: note removed, amount promoted int -> long, id renamed to payment_id (the reader knows the alias).
const v2 = { ...v1, fields: [...v1.fields, { name: 'channel', type: 'string', default: 'pos' }] };
const v3 = { ...v1, fields: [{ name: 'payment_id', type: 'string' }, { name: 'amount', type: 'long' }, { name: 'tags', type: { type: 'array', items: 'string' } }, { name: 'channel', type: 'string', default: 'pos' }] };
const reader = avro.Type.forSchema({ ...v1, fields: [{ name: 'id', type: 'string', aliases: ['payment_id'] }, { name: 'amount', type: 'long' }, { name: 'tags', type: { type: 'array', items: 'string' } }, { name: 'channel', type: 'string', default: 'pos' }] } as avro.Schema);
// Drops amount, which the model reads: the registry refuses it under BACKWARD; under NONE it arrives.
const dropsAmount = { ...v1, fields: v1.fields.filter((f) => f.name !== 'amount') };
// Changes amount to a string: no Avro resolution from string to long.
const amountAsString = { ...v1, fields: v1.fields.map((f) => (f.name === 'amount' ? { name: 'amount', type: 'string' } : f)) };

class InProcessRegistry implements SchemaSource {
  readonly url = 'in-process';
  calls = 0;
  down = false;
  constructor(private readonly schemas: Map<number, object>) {}
  async schemaById(id: number): Promise<SchemaLookup> {
    this.calls += 1;
    if (this.down) throw new RegistryUnavailableError('registry down', this.url);
    const schema = this.schemas.get(id);
    return schema ? { found: true, type: avro.Type.forSchema(schema as avro.Schema) } : { found: false, status: 404, message: 'Schema not found' };
  }
}

function framed(id: number, schema: object, value: object): Buffer {
  return encodeFramed(avro.Type.forSchema(schema as avro.Schema), id, value);
}

describe('Confluent wire format', () => {
  it('reads the schema id behind the magic byte, and says why a value is not framed', () => {
    assert.equal(frameSchemaId(Buffer.from([0, 0, 0, 1, 2, 9])), 258);
    assert.match(String(frameSchemaId(Buffer.from([2, 0, 0, 0, 1]))), /not Confluent framing: the first byte is 2, not the magic byte 0/);
    assert.match(String(frameSchemaId(Buffer.from([0, 0, 1]))), /3 bytes is shorter than the 5-byte Confluent header/);
  });

  it('encodes behind the header in one buffer, growing its scratch space for big values', () => {
    const type = avro.Type.forSchema({ type: 'record', name: 'B', fields: [{ name: 's', type: 'string' }] });
    for (const size of [0, 10, 200_000]) {
      const value = { s: 'x'.repeat(size) };
      const out = encodeFramed(type, 0x01020304, value);
      assert.deepEqual([...out.subarray(0, FRAME_BYTES)], [0, 1, 2, 3, 4]);
      assert.deepEqual({ ...(type.fromBuffer(out.subarray(FRAME_BYTES)) as object) }, value);
      assert.deepEqual({ ...(predictionReader(type, 'confluent').fromBuffer(out) as object) }, value);
    }
  });
});

describe('framed decoding with writer schemas by id', () => {
  const registry = () => new InProcessRegistry(new Map([[1, v1], [2, v2], [3, v3], [4, dropsAmount], [5, amountAsString]]));
  const required = [['amount'], ['id']];

  it('events of three versions interleaved decode to what the same events written with v1 give', async () => {
    const source = registry();
    const decoder = createFramedDecoder(reader, source, required);
    const base = { id: 'p-1', amount: 1250, tags: ['a', 'b'], note: 'n' };
    const values = [framed(1, v1, base), framed(2, v2, { ...base, channel: 'pos' }), framed(3, v3, { payment_id: 'p-1', amount: 1250, tags: ['a', 'b'], channel: 'pos' }), framed(1, v1, base), framed(3, v3, { payment_id: 'p-1', amount: 1250, tags: ['a', 'b'], channel: 'pos' })];
    await prepareDecoder(decoder, values);
    assert.equal(source.calls, 3, 'each id fetched once');
    const decoded = decodeBatch(decoder, values);
    assert.deepEqual(decoded.rejections.filter(Boolean), []);
    assert.equal(decoded.events.filter(Boolean).length, values.length);
    const expected = { id: 'p-1', amount: 1250, tags: ['a', 'b'], channel: 'pos' };
    for (const event of decoded.events) assert.deepEqual({ ...(event as object) }, expected);
    await prepareDecoder(decoder, values);
    assert.equal(source.calls, 3, 'cached for the life of the process');
  });

  it('unknown ids, incompatible writers, a writer lacking a model field, and unframed bytes are dead letters with their reasons', async () => {
    const decoder = createFramedDecoder(reader, registry(), required);
    const values = [
      framed(99, v1, { id: 'x', amount: 1, tags: [], note: '' }),
      framed(5, amountAsString, { id: 'x', amount: 'ten', tags: [], note: '' }),
      framed(4, dropsAmount, { id: 'x', tags: [], note: '' }),
      avro.Type.forSchema(v1 as avro.Schema).toBuffer({ id: 'x', amount: 1, tags: [], note: '' }),
    ];
    await prepareDecoder(decoder, values);
    const { rejections } = decodeBatch(decoder, values);
    assert.equal(rejections[0]?.code, 'SCHEMA_NOT_FOUND');
    assert.match(rejections[0]?.message ?? '', /schema id 99 is not in the schema registry in-process \(HTTP 404\)/);
    assert.equal(rejections[1]?.code, 'SCHEMA_INCOMPATIBLE');
    assert.equal(rejections[1]?.field, 'amount');
    assert.match(rejections[1]?.message ?? '', /writer schema id 5 \(t\.Payment\) cannot be read as t\.Payment at field amount: cannot read "string" as "long"/);
    assert.equal(rejections[2]?.code, 'SCHEMA_INCOMPATIBLE');
    assert.equal(rejections[2]?.field, 'amount');
    assert.match(rejections[2]?.message ?? '', /writer schema id 4 \(t\.Payment\) cannot be read as t\.Payment at field amount: No matching field for default-less t\.Payment\.amount/i);
    assert.equal(rejections[3]?.code, 'UNDECODABLE_AVRO');
    assert.match(rejections[3]?.message ?? '', /not Confluent framing/);
  });

  it('a writer without a field the model reads is refused even where the reader has a default (it would be scored)', async () => {
    const decoder = createFramedDecoder(reader, registry(), [['channel']]);
    const values = [framed(1, v1, { id: 'x', amount: 1, tags: [], note: '' }), framed(2, v2, { id: 'x', amount: 1, tags: [], note: '', channel: 'atm' })];
    await prepareDecoder(decoder, values);
    const { rejections, events } = decodeBatch(decoder, values);
    assert.equal(rejections[0]?.code, 'SCHEMA_INCOMPATIBLE');
    assert.equal(rejections[0]?.field, 'channel');
    assert.match(rejections[0]?.message ?? '', /writer schema id 1 \(t\.Payment\) has no field channel, which the model reads: resolution would score the reader schema's default instead/);
    assert.equal((events[1] as { channel: string }).channel, 'atm');
  });

  it('a registry that cannot be asked fails the preparation (the batch waits), and nothing is cached for it', async () => {
    const source = registry();
    source.down = true;
    const decoder = createFramedDecoder(reader, source, required);
    const values = [framed(1, v1, { id: 'x', amount: 1, tags: [], note: '' })];
    await assert.rejects(prepareDecoder(decoder, values), RegistryUnavailableError);
    source.down = false;
    await prepareDecoder(decoder, values);
    assert.equal(decodeBatch(decoder, values).rejections[0], undefined);
  });

  it('bounds the writer schema\'s block counts: a hostile framed array is refused before avsc allocates', async () => {
    const decoder = createFramedDecoder(reader, registry(), required);
    const good = framed(1, v1, { id: 'x', amount: 1, tags: ['t'], note: '' });
    // id "x" (02 78), amount 1 (02), then an array block count of 10^9 in 4 bytes of event.
    const hostile = Buffer.concat([good.subarray(0, FRAME_BYTES), Buffer.from([0x02, 0x78, 0x02]), Buffer.from([0x80, 0xa8, 0xd6, 0xb9, 0x07]), Buffer.from([0x00])]);
    await prepareDecoder(decoder, [good, hostile]);
    const { rejections } = decodeBatch(decoder, [good, hostile]);
    assert.equal(rejections[0], undefined);
    assert.equal(rejections[1]?.code, 'UNDECODABLE_AVRO');
    assert.match(rejections[1]?.message ?? '', /tags/);
  });

  it('an id the registry did not know is asked again after a while, not on every batch', async () => {
    const source = registry();
    const decoder = createFramedDecoder(reader, source, required);
    const values = [framed(77, v1, { id: 'x', amount: 1, tags: [], note: '' })];
    await prepareDecoder(decoder, values, 1_000);
    await prepareDecoder(decoder, values, 2_000);
    assert.equal(source.calls, 1);
    await prepareDecoder(decoder, values, 1_000 + 61_000);
    assert.equal(source.calls, 2);
  });
});

describe('registry answers, classified', () => {
  it('tells the registry being away from the registry saying no', () => {
    assert.equal(classifyRegistryError({ status: 400, message: 'stream-scorer - Error, status 400: connect ECONNREFUSED 127.0.0.1:1' }), 'unavailable');
    assert.equal(classifyRegistryError({ status: 400, message: 'stream-scorer - Error, status 400: Timeout (5000ms)' }), 'unavailable');
    assert.equal(classifyRegistryError({ status: 503, message: 'x' }), 'unavailable');
    assert.equal(classifyRegistryError({ status: 401, message: 'x' }), 'auth');
    assert.equal(classifyRegistryError({ status: 404, message: 'Schema not found' }), 404);
    assert.equal(classifyRegistryError({ status: 409, message: 'incompatible' }), 409);
    assert.equal(classifyRegistryError({ status: 400, message: 'stream-scorer - Invalid schema' }), 400);
  });

  it('names subjects as Confluent\'s serializers do', () => {
    assert.equal(subjectFor('topic', 'payments', 't.Payment'), 'payments-value');
    assert.equal(subjectFor('record', 'payments', 't.Payment'), 't.Payment');
    assert.equal(subjectFor('topic-record', 'payments', 't.Payment'), 'payments-t.Payment');
  });

  it('finds model fields a writer lacks, through the reader\'s aliases and nested records', () => {
    const nestedReader = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'm', type: ['null', { type: 'record', name: 'M', fields: [{ name: 'country', type: 'string', aliases: ['ctry'] }] }] }] } as avro.Schema);
    const nestedWriter = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'm', type: ['null', { type: 'record', name: 'M', fields: [{ name: 'ctry', type: 'string' }] }] }] } as avro.Schema);
    assert.deepEqual(pathsMissingInWriter(nestedReader, nestedWriter, [['m', 'country']]), []);
    assert.deepEqual(pathsMissingInWriter(nestedReader, nestedWriter, [['m', 'city'], ['n']]), ['m.city', 'n']);
  });
});

describe('registry settings', () => {
  it('a format that needs a registry without SCHEMA_REGISTRY_URL, half a credential pair, a bad URL: CONFIG_INVALID naming the key', () => {
    assert.throws(() => registrySettings(testConfig({ INPUT_FORMAT: 'confluent' })), /CONFIG_INVALID: INPUT_FORMAT=confluent need\(s\) SCHEMA_REGISTRY_URL/);
    assert.throws(() => registrySettings(testConfig({ OUTPUT_FORMAT: 'confluent', SCHEMA_REGISTRY_URL: 'registry:8081' })), /SCHEMA_REGISTRY_URL=registry:8081: must be http:\/\/ or https:\/\//);
    assert.throws(() => registrySettings(testConfig({ SCHEMA_REGISTRY_URL: 'http://r:8081', SCHEMA_REGISTRY_USERNAME_FILE: '/nope' })), /SCHEMA_REGISTRY_USERNAME_FILE and SCHEMA_REGISTRY_PASSWORD_FILE go together/);
    assert.throws(() => registrySettings(testConfig({ SCHEMA_REGISTRY_URL: 'http://r:8081', SCHEMA_REGISTRY_USERNAME_FILE: '/nope/u', SCHEMA_REGISTRY_PASSWORD_FILE: '/nope/p' })), /SCHEMA_REGISTRY_USERNAME_FILE=\/nope\/u: cannot read it \(ENOENT\)/);
    assert.equal(registrySettings(testConfig()), undefined, 'no registry, no format that needs one');
  });

  it('reads credentials and the CA from files, trailing newline dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'registry-secrets-'));
    writeFileSync(join(dir, 'u'), 'scorer\n');
    writeFileSync(join(dir, 'p'), 's3cret\n');
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    const settings = registrySettings(
      testConfig({ SCHEMA_REGISTRY_URL: 'https://r:8081/apis/ccompat/v7/', SCHEMA_REGISTRY_USERNAME_FILE: join(dir, 'u'), SCHEMA_REGISTRY_PASSWORD_FILE: join(dir, 'p'), SCHEMA_REGISTRY_TLS_CA_FILE: join(dir, 'ca.pem') }),
    );
    assert.deepEqual(settings, { url: 'https://r:8081/apis/ccompat/v7', timeoutMs: 5000, username: 'scorer', password: 's3cret', caPem: '-----BEGIN CERTIFICATE-----' });
  });
});
