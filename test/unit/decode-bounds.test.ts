/**
 * Bounded decoding (src/formats/avro-bounds.ts through decodeBatch): every hostile length or block
 * count below makes plain avsc 5.7.9 allocate or loop in proportion to the number it declares
 * (10^8 array items: heap OOM, which kills the process; a 10^11 map count: minutes of CPU). Each
 * must be refused within milliseconds as UNDECODABLE_AVRO naming the limit and the field path.
 *
 * Each case first asserts that the bounds check alone refuses the bytes, so a regression fails that
 * assertion instead of handing 10^8 items to avsc and exhausting the test runner's heap.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import avro from 'avsc';
import fc from 'fast-check';
import type { Rejection } from '../../src/errors';
import { boundsFor } from '../../src/formats/avro-bounds';
import { type EventDecoder, createDecoder, decodeBatch } from '../../src/stages/decode';
import { avroArbitrary } from '../support/avro-arbitrary';
import { avroLong, avroString } from '../support/avro-bytes';
import { ROOT } from '../support/model';

const long = avroLong;
const str = avroString;
const bytes = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
/** Zero bytes up to `size`: a 30-byte event, say, whatever its hostile header takes. */
const padTo = (buf: Buffer, size: number): Buffer => Buffer.concat([buf, Buffer.alloc(Math.max(0, size - buf.length))]);

const type = (schema: unknown): avro.Type => avro.Type.forSchema(schema as avro.Schema);
const record = (fields: unknown[], name = 'Event'): avro.Type => type({ type: 'record', name, fields });
const arrayOf = (items: unknown): unknown => ({ type: 'array', items });
const mapOf = (values: unknown): unknown => ({ type: 'map', values });

const FIXTURE = type(JSON.parse(readFileSync(join(ROOT, 'test/fixtures/bounds-event.avsc'), 'utf8')));
const DEFAULT_MAX_ITEMS = boundsFor().maxItems;

/** Asserts the rejection, within `budgetMs`: the bounds check alone first, then through decodeBatch. */
function assertRefused(decoder: EventDecoder, value: Buffer, expect: { limit: RegExp; field?: string; declared?: string }, budgetMs = 25): Rejection {
  const alone = decoder.bounds.check(value);
  assert.ok(alone, 'the bounds check refuses the bytes by itself (otherwise avsc would get them)');
  const t0 = performance.now();
  const result = decodeBatch(decoder, [value]);
  const ms = performance.now() - t0;
  const rejection = result.rejections[0];
  assert.equal(result.events[0], undefined);
  assert.ok(rejection, 'rejected');
  assert.equal(rejection.code, 'UNDECODABLE_AVRO');
  assert.equal(rejection.stage, 'decode');
  assert.match(rejection.message, expect.limit);
  if (expect.field !== undefined) {
    assert.equal(rejection.field, expect.field);
    assert.match(rejection.message, new RegExp(` at ${expect.field.replace(/[[\]."]/g, '\\$&')}[ :,]`));
  }
  if (expect.declared !== undefined) {
    assert.equal(rejection.value, expect.declared);
    assert.ok(rejection.message.includes(expect.declared), `the message names the declared ${expect.declared}: ${rejection.message}`);
  }
  assert.ok(ms < budgetMs, `refused in ${ms.toFixed(2)} ms (budget ${budgetMs} ms)`);
  assert.deepEqual(rejection, alone);
  return rejection;
}

const REMAINING = /limit: the event's remaining bytes/;
const ITEMS_CAP = new RegExp(`over DECODE_MAX_ITEMS=${DEFAULT_MAX_ITEMS}; if such events are genuine, raise DECODE_MAX_ITEMS`);

describe('bounded decoding: hostile lengths and block counts', () => {
  const tags = record([{ name: 'id', type: 'string' }, { name: 'tags', type: arrayOf('int') }]);

  it('an array count of 10^8 in a 30-byte event (plain avsc: new Array(10^8), heap OOM)', () => {
    const r = assertRefused(createDecoder(tags), padTo(bytes(str('e1'), long(100_000_000)), 30), { limit: REMAINING, field: 'tags', declared: '100000000' });
    assert.match(r.message, /array at tags declares a block of 100000000 items, but only 23 bytes remain for it and each takes at least 1 /);
    assert.match(r.message, /check the producer's schema and framing/);
  });

  it('a negative array count of -10^9 followed by its block size (plain avsc: heap OOM)', () => {
    // A block size that fits: the count cannot fit in it.
    assertRefused(createDecoder(tags), padTo(bytes(str('e1'), long(-1_000_000_000), long(20)), 30), { limit: /declares a block of 1000000000 items, but only 20 bytes remain/, field: 'tags', declared: '1000000000' });
    // A block size beyond the event.
    assertRefused(createDecoder(tags), padTo(bytes(str('e1'), long(-1_000_000_000), long(2 ** 40)), 30), { limit: /array block at tags declares a size of 1099511627776 bytes for its 1000000000 items, but \d+ bytes remain/, field: 'tags' });
    // A negative block size: avsc's skipper would move backwards and read the same count forever.
    assertRefused(createDecoder(tags), padTo(bytes(str('e1'), long(-2), long(-3), long(1), long(2)), 30), { limit: /declares a size of -3 bytes/, field: 'tags' });
  });

  it('counts of 2^62 and -(2^62) (beyond float precision: avsc reads the sign of the rounded number)', () => {
    assertRefused(createDecoder(tags), padTo(bytes(str('e1'), long(2n ** 62n)), 30), { limit: REMAINING, field: 'tags', declared: String(2 ** 62) });
    assertRefused(createDecoder(tags), padTo(bytes(str('e1'), long(-(2n ** 62n)), long(4)), 30), { limit: REMAINING, field: 'tags' });
  });

  it('a map count of 10^11 (plain avsc: a 10^11-step loop, minutes of CPU)', () => {
    const decoder = createDecoder(record([{ name: 'attributes', type: mapOf('long') }]));
    const r = assertRefused(decoder, padTo(long(100_000_000_000), 30), { limit: REMAINING, field: 'attributes', declared: '100000000000' });
    // A map entry is a key (1 byte at least) and a long (1 byte at least).
    assert.match(r.message, /map at attributes declares a block of 100000000000 entries, but only \d+ bytes remain for it and each takes at least 2 /);
  });

  it('a count hidden in a map value: the path names the key', () => {
    const decoder = createDecoder(record([{ name: 'options', type: mapOf(arrayOf('int')) }]));
    const value = padTo(bytes(long(2), str('ok'), long(1), long(7), long(0), str('bad'), long(50_000_000)), 40);
    assertRefused(decoder, value, { limit: REMAINING, field: 'options["bad"]', declared: '50000000' });
  });

  it('nested arrays: the inner count of the second element', () => {
    const decoder = createDecoder(record([{ name: 'matrix', type: arrayOf(arrayOf(mapOf('boolean'))) }]));
    const value = padTo(bytes(long(2), long(1), long(0), long(0), long(100_000_000)), 30);
    assertRefused(decoder, value, { limit: REMAINING, field: 'matrix[1]', declared: '100000000' });
  });

  it('an array inside the fourth record of an array: items[3].tags', () => {
    const item = { type: 'record', name: 'Item', fields: [{ name: 'sku', type: 'string' }, { name: 'tags', type: arrayOf('string') }] };
    const decoder = createDecoder(record([{ name: 'items', type: arrayOf(item) }]));
    const ok = (sku: string): Buffer => bytes(str(sku), long(1), str('t'), long(0));
    const value = padTo(bytes(long(4), ok('a'), ok('b'), ok('c'), str('d'), long(100_000_000)), 40);
    const r = assertRefused(decoder, value, { limit: REMAINING, field: 'items[3].tags', declared: '100000000' });
    assert.equal(r.value, '100000000');
  });

  it('10^7 items of zero-byte types (null, empty record, record of zero-byte fields, fixed of size 0) hit DECODE_MAX_ITEMS', () => {
    const zeroByte: [string, unknown][] = [
      ['null', 'null'],
      ['empty record', { type: 'record', name: 'Marker', fields: [] }],
      ['record of zero-byte fields', { type: 'record', name: 'Blank', fields: [{ name: 'none', type: 'null' }, { name: 'zero', type: { type: 'fixed', name: 'Zero', size: 0 } }] }],
      ['fixed of size 0', { type: 'fixed', name: 'Nothing', size: 0 }],
    ];
    for (const [name, items] of zeroByte) {
      const decoder = createDecoder(record([{ name: 'gaps', type: arrayOf(items) }]));
      // The bytes cannot bound these counts: 10^7 items take no bytes at all.
      const r = assertRefused(decoder, bytes(long(10_000_000), long(0)), { limit: ITEMS_CAP, field: 'gaps', declared: '10000000' });
      assert.match(r.message, /makes 10000000 array items and map entries in this event/, name);
    }
  });

  it('more items than the event has bytes (only zero-byte types can): refused below DECODE_MAX_ITEMS too', () => {
    const decoder = createDecoder(record([{ name: 'gaps', type: arrayOf({ type: 'record', name: 'Marker', fields: [] }) }, { name: 'n', type: arrayOf('int') }]));
    // 1,000,000 empty records (plain avsc: 24 MB and ~130 ms) in a 5-byte event.
    assertRefused(decoder, bytes(long(1_000_000), long(0), long(0)), { limit: /array at gaps declares 1000000 items, which makes 1000000 array items and map entries in this 5-byte event \(limit: one item per byte of the event/, field: 'gaps', declared: '1000000' });
    // The items before count too: 4 empty records and 2 ints are 6 items in 6 bytes (fine); 5 and 2 are 7.
    assert.equal(decodeBatch(decoder, [bytes(long(4), long(0), long(2), long(1), long(2), long(0))]).rejections[0], undefined);
    assertRefused(decoder, bytes(long(5), long(0), long(2), long(1), long(2), long(0)), { limit: /array at n declares 2 items, which makes 7 array items and map entries in this 6-byte event/, field: 'n' });
  });

  it('the items cap counts arrays and maps of the whole event together', () => {
    const decoder = createDecoder(record([{ name: 'gaps', type: arrayOf('null') }, { name: 'more', type: mapOf('null') }]), undefined, { maxItems: 5 });
    const within = bytes(long(3), long(0), long(2), str('a'), str('b'), long(0));
    assert.equal(decodeBatch(decoder, [within]).rejections[0], undefined);
    const over = bytes(long(3), long(0), long(3), str('a'), str('b'), str('c'), long(0));
    assertRefused(decoder, over, { limit: /map at more declares 3 entries, which makes 6 array items and map entries in this event, over DECODE_MAX_ITEMS=5/, field: 'more', declared: '3' });
  });

  it('arrays and maps in union branches', () => {
    const decoder = createDecoder(FIXTURE);
    const item = FIXTURE.schema() as { fields: { name: string }[] };
    assert.equal(item.fields[8]?.name, 'extra');
    // Everything before `extra` valid and empty, then branch 2 (array of Item) with a hostile count.
    const head = bytes(str('id'), Buffer.alloc(8), long(0), Buffer.alloc(16), str(''), long(0), long(0), long(0));
    assertRefused(decoder, padTo(bytes(head, long(2), long(100_000_000)), 60), { limit: REMAINING, field: 'extra', declared: '100000000' });
    // Branch 3 (map of bytes): a bytes length beyond the event inside it.
    assertRefused(decoder, padTo(bytes(head, long(3), long(1), str('k'), long(1_000_000)), 60), { limit: /bytes at extra\["k"\] declares 1000000 bytes, but only \d+ remain/, field: 'extra["k"]' });
    // Inside a union in a record in an array: items[0].options["o"].
    const items = bytes(long(1), str('sku'), long(1), Buffer.alloc(4), long(0), long(1), long(1), str('o'), long(100_000_000));
    assertRefused(decoder, padTo(bytes(str('id'), Buffer.alloc(8), long(0), Buffer.alloc(16), str(''), long(0), long(0), items), 80), { limit: REMAINING, field: 'items[0].options["o"]' });
  });

  it('an invalid union index names its field (avsc\'s skipper would fail with a TypeError)', () => {
    const reader = record([{ name: 'id', type: 'string' }]);
    const writer = record([{ name: 'id', type: 'string' }, { name: 'extra', type: ['null', arrayOf('int')] }]);
    const value = bytes(str('e1'), long(7));
    assert.throws(() => reader.decode(value, 0, reader.createResolver(writer)), TypeError);
    const r = assertRefused(createDecoder(reader, writer), value, { limit: /^union at extra has no branch 7 \(it has 2\)/, field: 'extra', declared: '7' });
    assert.equal(r.code, 'UNDECODABLE_AVRO');
  });

  it('string and bytes lengths beyond the event (avsc fails fast; now the message says where)', () => {
    const r = assertRefused(createDecoder(record([{ name: 'id', type: 'string' }, { name: 'list', type: arrayOf('string') }])), bytes(str('e1'), long(1), long(1_000_000)), { limit: REMAINING, field: 'list[0]', declared: '1000000' });
    assert.match(r.message, /string at list\[0\] declares 1000000 bytes, but only 0 remain .*truncated/);
  });

  it('DECODE_MAX_BYTES caps the strings, bytes and map keys of one event', () => {
    const decoder = createDecoder(record([{ name: 'id', type: 'string' }, { name: 'list', type: arrayOf('bytes') }]), undefined, { maxBytes: 10 });
    assert.equal(decodeBatch(decoder, [bytes(str('12345'), long(1), str('67890'), long(0))]).rejections[0], undefined);
    assertRefused(decoder, bytes(str('12345'), long(2), str('67890'), str('x'), long(0)), { limit: /bytes at list\[1\] declares 1 bytes, which makes 11 bytes of strings, bytes and map keys in this event, over DECODE_MAX_BYTES=10; if such events are genuine, raise DECODE_MAX_BYTES/, field: 'list[1]', declared: '1' });
  });

  it('DECODE_MAX_BYTES also holds for schemas without arrays or maps (whose events are otherwise not walked)', () => {
    const decoder = createDecoder(record([{ name: 'a', type: 'string' }, { name: 'b', type: 'bytes' }]), undefined, { maxBytes: 8 });
    assert.equal(decoder.bounds.walkAbove, 8);
    assert.equal(decodeBatch(decoder, [bytes(str('1234'), str('123'))]).rejections[0], undefined);
    assertRefused(decoder, bytes(str('12345'), str('6789')), { limit: /over DECODE_MAX_BYTES=8/, field: 'b' });
  });

  it('a writer schema that adds an array field the reader does not have (resolver path: avsc skips it, looping over the count)', () => {
    const reader = record([{ name: 'id', type: 'string' }]);
    const writer = record([{ name: 'id', type: 'string' }, { name: 'history', type: arrayOf('null') }, { name: 'seen', type: mapOf('int') }]);
    const decoder = createDecoder(reader, writer);
    assertRefused(decoder, bytes(str('e1'), long(10_000_000), long(0), long(0)), { limit: ITEMS_CAP, field: 'history', declared: '10000000' });
    assertRefused(decoder, padTo(bytes(str('e1'), long(0), long(100_000_000_000)), 30), { limit: REMAINING, field: 'seen', declared: '100000000000' });
    const valid = writer.toBuffer({ id: 'e1', history: [null, null], seen: { a: 1 } });
    assert.deepStrictEqual(decodeBatch(decoder, [valid]).events[0], reader.decode(valid, 0, reader.createResolver(writer)).value);
  });

  it('a block size that is not what its items take: refused, because avsc skips by the size and reads by the items', () => {
    const reader = record([{ name: 'gaps', type: arrayOf('null') }]);
    const writer = record([{ name: 'numbers', type: arrayOf('long') }, { name: 'note', type: 'string' }, { name: 'gaps', type: arrayOf('null') }]);
    // What avsc reads once it has jumped over `numbers` by the declared size: the end of `numbers`,
    // an empty `note`, then 2,000,000 `gaps` that no walk over the items would ever see.
    const misread = bytes(long(0), long(0), long(2_000_000), long(0));
    // What the items say: one long, the end of `numbers`, a `note` holding the bytes above, no `gaps`.
    const declared = bytes(long(1), long(0), long(misread.length));
    const value = bytes(long(-1), long(declared.length), declared, misread, long(0));
    const plain = reader.decode(value, 0, reader.createResolver(writer)).value as { gaps: null[] } | undefined;
    assert.equal(plain?.gaps.length, 2_000_000, 'plain avsc lands inside the note and reads its bytes as a count');
    assertRefused(createDecoder(reader, writer), value, { limit: /array block at numbers declares a size of 3 bytes for its 1 items, but they take 1 \(limit: a block's size must match its items\)/, field: 'numbers', declared: '3' });
  });

  it('a negative string length inside a sized block: refused, as avsc\'s skipper jumps over it (found by fuzzing)', () => {
    const reader = record([{ name: 'gaps', type: arrayOf('null') }]);
    const writer = record([{ name: 'list', type: arrayOf('string') }, { name: 'gaps', type: arrayOf('null') }]);
    // `list`: one string in a 1-byte block, its length -1; then what avsc reads after jumping the block.
    const value = bytes(long(-1), long(1), long(-1), long(0), long(2_000_000), long(0));
    const plain = reader.decode(value, 0, reader.createResolver(writer)).value as { gaps: null[] } | undefined;
    assert.equal(plain?.gaps.length, 2_000_000, 'plain avsc never reads the negative length and reads a count behind it');
    assertRefused(createDecoder(reader, writer), value, { limit: /^string at list\[0\] declares a negative length \(-1 bytes\)/, field: 'list[0]', declared: '-1' });
  });

  it('a wiring check without the guard: 2,000,000 nulls (plain avsc: a 16 MB array) go through decodeBatch only', () => {
    const decoder = createDecoder(record([{ name: 'gaps', type: arrayOf('null') }]));
    const result = decodeBatch(decoder, [bytes(long(2_000_000), long(0))]);
    assert.equal(result.rejections[0]?.code, 'UNDECODABLE_AVRO');
    assert.match(result.rejections[0]?.message ?? '', ITEMS_CAP);
  });

  it('recursion deeper than the stack: a rejection, not a crash', () => {
    const list = type({ type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }, { name: 'tags', type: arrayOf('int') }] });
    const depth = 200_000;
    const value = Buffer.concat([Buffer.alloc(depth, 0x02), Buffer.from([0x00, 0x00]), Buffer.alloc(depth, 0x00)]);
    const result = decodeBatch(createDecoder(list), [value]);
    assert.equal(result.rejections[0]?.code, 'UNDECODABLE_AVRO');
    assert.match(result.rejections[0]?.message ?? '', /nested deeper than the decoder's stack allows/);
  });
});

describe('bounded decoding: valid events decode exactly as plain avsc decodes them', () => {
  it('2,000 generated events of the array/map test schema (fixed seed)', () => {
    const decoder = createDecoder(FIXTURE);
    const values = fc.sample(avroArbitrary(FIXTURE, { maxItems: 6 }), { seed: 7, numRuns: 2000 }).map((v) => FIXTURE.toBuffer(v));
    const decoded = decodeBatch(decoder, values);
    for (let i = 0; i < values.length; i += 1) {
      assert.equal(decoded.rejections[i], undefined, `event ${i}: ${decoded.rejections[i]?.message}`);
      assert.deepStrictEqual(decoded.events[i], FIXTURE.decode(values[i] as Buffer, 0).value);
    }
  });

  it('events of avsc\'s own random values (up to 10 items per array/map, nested)', () => {
    const decoder = createDecoder(FIXTURE);
    for (let i = 0; i < 200; i += 1) {
      const value = FIXTURE.toBuffer(FIXTURE.random());
      const decoded = decodeBatch(decoder, [value]);
      assert.equal(decoded.rejections[0], undefined, decoded.rejections[0]?.message);
      assert.deepStrictEqual(decoded.events[0], FIXTURE.decode(value, 0).value);
    }
  });

  it('blocks with negative counts and correct sizes (other Avro writers emit them), read and skipped', () => {
    const writer = record([{ name: 'numbers', type: arrayOf('long') }, { name: 'attributes', type: mapOf('string') }, { name: 'id', type: 'string' }]);
    const reader = record([{ name: 'id', type: 'string' }]);
    const numbers = bytes(long(1), long(300), long(-5));
    const entries = bytes(str('k'), str('v'));
    const value = bytes(long(-3), long(numbers.length), numbers, long(2), long(2), long(7), long(0), long(-1), long(entries.length), entries, long(0), str('e1'));
    const own = decodeBatch(createDecoder(writer), [value]);
    assert.equal(own.rejections[0], undefined, own.rejections[0]?.message);
    assert.deepStrictEqual(own.events[0], writer.decode(value, 0).value);
    assert.deepEqual({ ...own.events[0] }, { numbers: [1, 300, -5, 2, 7], attributes: { k: 'v' }, id: 'e1' });
    const skipped = decodeBatch(createDecoder(reader, writer), [value]);
    assert.equal(skipped.rejections[0], undefined, skipped.rejections[0]?.message);
    assert.equal(skipped.events[0]?.id, 'e1');
  });

  it('events at exactly the caps pass; one more is refused', () => {
    const decoder = createDecoder(record([{ name: 'gaps', type: arrayOf('null') }, { name: 's', type: 'string' }]), undefined, { maxItems: 4, maxBytes: 3 });
    assert.equal(decodeBatch(decoder, [bytes(long(4), long(0), str('abc'))]).rejections[0], undefined);
    assert.match(decodeBatch(decoder, [bytes(long(5), long(0), str('abc'))]).rejections[0]?.message ?? '', /DECODE_MAX_ITEMS=4/);
    assert.match(decodeBatch(decoder, [bytes(long(4), long(0), str('abcd'))]).rejections[0]?.message ?? '', /DECODE_MAX_BYTES=3/);
  });

  it('the bounds derive from the topic\'s largest message unless set', () => {
    assert.deepEqual(boundsFor(), { maxItems: 1024 * 1024, maxBytes: 1024 * 1024 });
    assert.deepEqual(boundsFor(8 * 1024 * 1024), { maxItems: 8 * 1024 * 1024, maxBytes: 8 * 1024 * 1024 });
    const decoder = createDecoder(record([{ name: 'gaps', type: arrayOf('null') }]), undefined, { maxMessageBytes: 100 });
    assert.match(decodeBatch(decoder, [bytes(long(101), long(0))]).rejections[0]?.message ?? '', /DECODE_MAX_ITEMS=100/);
    assert.throws(() => createDecoder(FIXTURE, undefined, { maxItems: 0 }), /CONFIG_INVALID/);
  });

  it('a writer schema without arrays or maps is not walked below DECODE_MAX_BYTES (avsc already fails fast there)', () => {
    const flat = record([{ name: 'id', type: 'string' }, { name: 'n', type: ['null', 'long'] }]);
    assert.equal(createDecoder(flat).bounds.walkAbove, 1024 * 1024);
    assert.equal(createDecoder(FIXTURE).bounds.walkAbove, -1);
    // An array only in a writer's union branch still counts.
    assert.equal(createDecoder(record([{ name: 'x', type: ['null', arrayOf('int')] }])).bounds.walkAbove, -1);
  });
});
