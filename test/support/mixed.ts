import type avro from 'avsc';
import type { RejectionCode } from '../../src/errors';
import type { ReferenceCase } from './model';

export interface MixedCase {
  readonly name: string;
  readonly key: Buffer;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer>;
  /** undefined: must become a prediction. */
  readonly expected: RejectionCode | undefined;
  readonly field?: string;
}

/** One of each way an event goes wrong, between valid ones; unique keys so outputs can be matched. */
export function mixedCases(type: avro.Type, reference: readonly ReferenceCase[], tag: string): MixedCase[] {
  const ev = (i: number): Record<string, unknown> => ({ ...(reference[i]?.event as Record<string, unknown>) });
  const encode = (event: Record<string, unknown>): Buffer => type.toBuffer(event);
  const cases: Omit<MixedCase, 'key' | 'headers'>[] = [
    { name: 'valid-0', value: encode(ev(0)), expected: undefined },
    { name: 'unknown-channel', value: encode({ ...ev(1), channel: 'crypto_atm' }), expected: 'UNKNOWN_CATEGORY', field: 'channel' },
    { name: 'valid-1', value: encode(ev(2)), expected: undefined },
    { name: 'unknown-country', value: encode({ ...ev(3), country: 'ZZ' }), expected: 'UNKNOWN_CATEGORY', field: 'country' },
    { name: 'null-merchant-category', value: encode({ ...ev(4), merchant_category: null }), expected: 'MISSING_FIELD', field: 'merchant_category' },
    { name: 'null-distance', value: encode({ ...ev(5), distance_from_home_km: null }), expected: 'MISSING_FIELD', field: 'distance_from_home_km' },
    { name: 'nan-amount', value: encode({ ...ev(6), amount: Number.NaN }), expected: 'NON_FINITE_NUMBER', field: 'amount' },
    { name: 'truncated', value: encode(ev(7)).subarray(0, 12), expected: 'UNDECODABLE_AVRO' },
    { name: 'garbage', value: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff]), expected: 'UNDECODABLE_AVRO' },
    { name: 'tombstone', value: null, expected: 'EMPTY_VALUE' },
    { name: 'valid-2', value: encode(ev(8)), expected: undefined },
  ];
  return cases.map((c, i) => ({
    ...c,
    key: Buffer.from(`${tag}-${i}-${c.name}`),
    // Binary header bytes on purpose: the dead-letter copy must keep them exactly.
    headers: { 'x-origin': Buffer.from([0x00, 0xff, 0x10, i]), 'x-case': Buffer.from(c.name) },
  }));
}
