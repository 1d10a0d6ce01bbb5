import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readContract } from '../../src/model/contract';
import { checkBatch, checkEvent } from '../../src/stages/check/contract-check';
import { MODEL_PATH, referenceCases } from '../support/model';

const contract = readContract(MODEL_PATH);
const base = referenceCases()[0]?.event as Record<string, unknown>;
const withValue = (field: string, value: unknown): Record<string, unknown> => ({ ...base, [field]: value });
const without = (field: string): Record<string, unknown> => {
  const copy = { ...base };
  delete copy[field];
  return copy;
};

describe('check stage: the model contract, event by event', () => {
  const cases: [string, Record<string, unknown>, string | undefined, string | undefined, string | undefined][] = [
    ['valid reference event', base, undefined, undefined, undefined],
    ['fields the model does not read may be anything', withValue('currency', 'XXX'), undefined, undefined, undefined],
    ['unknown channel', withValue('channel', 'crypto_atm'), 'UNKNOWN_CATEGORY', 'channel', 'crypto_atm'],
    ['unknown country', withValue('country', 'ZZ'), 'UNKNOWN_CATEGORY', 'country', 'ZZ'],
    ['category differs only in case', withValue('card_type', 'Debit'), 'UNKNOWN_CATEGORY', 'card_type', 'Debit'],
    ['null categorical', withValue('merchant_category', null), 'MISSING_FIELD', 'merchant_category', 'null'],
    ['null numeric', withValue('distance_from_home_km', null), 'MISSING_FIELD', 'distance_from_home_km', 'null'],
    ['absent field', without('amount'), 'MISSING_FIELD', 'amount', 'undefined'],
    ['NaN', withValue('amount', Number.NaN), 'NON_FINITE_NUMBER', 'amount', 'NaN'],
    ['+Infinity', withValue('avg_amount_30d', Number.POSITIVE_INFINITY), 'NON_FINITE_NUMBER', 'avg_amount_30d', 'Infinity'],
    ['-Infinity', withValue('merchant_risk_score', Number.NEGATIVE_INFINITY), 'NON_FINITE_NUMBER', 'merchant_risk_score', '-Infinity'],
    ['overflows float32', withValue('amount', 1e300), 'OUT_OF_RANGE', 'amount', '1e+300'],
    ['number where a category belongs', withValue('channel', 7), 'WRONG_TYPE', 'channel', '7'],
    ['string where a number belongs', withValue('amount', '12.5'), 'WRONG_TYPE', 'amount', '12.5'],
  ];
  for (const [name, event, code, field, value] of cases) {
    it(name, () => {
      const rejection = checkEvent(event, contract.inputs);
      if (code === undefined) {
        assert.equal(rejection, undefined);
        return;
      }
      assert.equal(rejection?.code, code);
      assert.equal(rejection?.stage, 'check');
      assert.equal(rejection?.field, field);
      assert.equal(rejection?.value, value);
      assert.ok(rejection?.message.includes(field as string), 'message names the field');
    });
  }

  it('gathers model columns of valid events only, keeping batch positions', () => {
    const events = [base, withValue('channel', 'crypto_atm'), undefined, withValue('amount', 99.5)];
    const earlier = [undefined, undefined, { code: 'EMPTY_VALUE', stage: 'decode', message: 'x' } as const, undefined];
    const checked = checkBatch(contract.features, events, earlier);
    assert.deepEqual([...checked.features.rows], [0, 3]);
    assert.equal(checked.features.rowCount, 2);
    assert.equal(checked.rejections[1]?.code, 'UNKNOWN_CATEGORY');
    assert.equal(checked.rejections[2]?.code, 'EMPTY_VALUE');
    assert.equal(checked.rejections[0], undefined);
    assert.deepEqual([...(checked.features.numeric.get('amount') ?? [])], [Math.fround(base.amount as number), 99.5]);
    assert.deepEqual(checked.features.categorical.get('channel'), [base.channel, base.channel]);
  });
});
