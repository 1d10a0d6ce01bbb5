import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { H } from '../../src/output/headers';
import type { SourceMessage } from '../../src/records';
import { parseRedriveArgs } from '../../src/redrive/args';
import { deadLetterInfo, matches, redrivenMessage, verdict } from '../../src/redrive/select';

const deadLetter = (extra: Record<string, string | string[]> = {}): SourceMessage => ({
  topic: 'payments.dead-letter',
  partition: 0,
  offset: '41',
  key: Buffer.from('k'),
  value: Buffer.from([1, 2, 3]),
  timestamp: '1767225600000',
  headers: {
    'x-bin': Buffer.from([0, 255]),
    traceparent: Buffer.from('00-aa-bb-01'),
    [H.reasonCode]: Buffer.from('UNKNOWN_CATEGORY'),
    [H.reasonField]: Buffer.from('country'),
    [H.reasonValue]: Buffer.from('ZZ'),
    [H.sourceTopic]: Buffer.from('payments'),
    [H.sourcePartition]: Buffer.from('2'),
    [H.sourceOffset]: Buffer.from('48213'),
    [H.sourceTimestamp]: Buffer.from('1767225600000'),
    [H.modelVersion]: Buffer.from('1.0.0'),
    [H.failedAt]: Buffer.from('2026-11-27T04:11:07.038Z'),
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => Buffer.from(x)) : Buffer.from(v)])),
  },
});

describe('redrive: arguments', () => {
  it('parses filters, target, apply; refuses unknown options and bad values', () => {
    const args = parseRedriveArgs(['--reason', 'UNKNOWN_CATEGORY', '--field=country', '--value', 'ZZ', '--model-version', '1.0.0', '--since', '2026-11-27T00:00:00Z', '--until', '2026-11-28T00:00:00Z', '--to', 'output', '--yes']);
    assert.deepEqual(args.filter, { reason: 'UNKNOWN_CATEGORY', field: 'country', value: 'ZZ', modelVersion: '1.0.0', since: Date.parse('2026-11-27T00:00:00Z'), until: Date.parse('2026-11-28T00:00:00Z') });
    assert.equal(args.to, 'output');
    assert.equal(args.apply, true);
    const defaults = parseRedriveArgs([]);
    assert.deepEqual([defaults.to, defaults.apply, defaults.top, defaults.maxRedrives], ['input', false, 10, 3]);
    assert.throws(() => parseRedriveArgs(['--to', 'elsewhere']), /expected input or output/);
    assert.throws(() => parseRedriveArgs(['--reason']), /needs a value/);
    assert.throws(() => parseRedriveArgs(['--apple']), /unknown option/);
    assert.throws(() => parseRedriveArgs(['--since', '2026-11-28T00:00:00Z', '--until', '2026-11-27T00:00:00Z']), /before --until/);
  });
});

describe('redrive: selection', () => {
  it('filters on the current (last) values of the headers', () => {
    const info = deadLetterInfo(deadLetter({ [H.reasonCode]: ['MISSING_FIELD', 'UNKNOWN_CATEGORY'] }));
    assert.equal(info.reason, 'UNKNOWN_CATEGORY');
    assert.ok(matches(info, { reason: 'UNKNOWN_CATEGORY', field: 'country', value: 'ZZ', modelVersion: '1.0.0' }));
    assert.ok(!matches(info, { reason: 'MISSING_FIELD' }));
    assert.ok(!matches(info, { value: 'zz' }));
    assert.ok(matches(info, { since: Date.parse('2026-11-27T04:11:07.038Z'), until: Date.parse('2026-11-27T04:11:07.039Z') }), 'since inclusive');
    assert.ok(!matches(info, { until: Date.parse('2026-11-27T04:11:07.038Z') }), 'until exclusive');
  });

  it('skips what cannot be re-driven: value or key left out, too many re-drives, no source', () => {
    const v = (m: SourceMessage, max = 3): string => {
      const r = verdict(m, deadLetterInfo(m), {}, max);
      return r.kind === 'skip' ? r.why : r.kind;
    };
    assert.equal(v(deadLetter()), 'match');
    assert.equal(v(deadLetter({ [H.valueTruncated]: 'true' })), 'value left out');
    assert.equal(v(deadLetter({ [H.keyTruncated]: 'true' })), 'key left out');
    assert.equal(v(deadLetter({ [H.redriveCount]: '3' })), 'max re-drives');
    assert.equal(v(deadLetter({ [H.redriveCount]: '2' })), 'match');
    const { [H.sourceTopic]: _dropped, ...headers } = deadLetter().headers;
    assert.equal(v({ ...deadLetter(), headers }), 'not a dead letter');
    const filtered = verdict(deadLetter(), deadLetterInfo(deadLetter()), { reason: 'MISSING_FIELD' }, 3);
    assert.equal(filtered.kind, 'filtered');
  });

  it('sends the original back: key, value, timestamp and non-scorer headers as received, a count and the dead letter coordinates', () => {
    const dl = deadLetter({ [H.redriveCount]: '1', [H.redriveFromOffset]: '7' });
    const again = redrivenMessage(dl, deadLetterInfo(dl), Date.parse('2026-12-01T00:00:00Z'));
    assert.deepEqual([again.topic, again.partition, again.offset, again.timestamp], ['payments', 2, '48213', '1767225600000']);
    assert.equal(again.key, dl.key);
    assert.equal(again.value, dl.value);
    assert.deepEqual(again.headers['x-bin'], Buffer.from([0, 255]));
    assert.deepEqual(again.headers.traceparent, Buffer.from('00-aa-bb-01'));
    assert.equal(again.headers[H.reasonCode], undefined);
    assert.equal(again.headers[H.redriveCount], '2');
    assert.deepEqual([again.headers[H.redriveFromTopic], again.headers[H.redriveFromPartition], again.headers[H.redriveFromOffset]], ['payments.dead-letter', '0', '41']);
    assert.equal(again.headers[H.redriveAt], '2026-12-01T00:00:00.000Z');
  });
});
