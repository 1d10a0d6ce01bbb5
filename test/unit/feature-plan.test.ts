import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { planFeatures } from '../../src/features/plan';
import type { GraphInput, GraphOutput, KnownCategories } from '../../src/model/graph';
import { type Manifest, loadManifest, validateManifest } from '../../src/model/manifest';
import { chooseOutputs, planOutputs } from '../../src/model/outputs';
import { checkBatch } from '../../src/stages/check/contract-check';
import { assertSchemaFitsContract } from '../../src/stages/check/schema-fit';

function input(name: string, element: GraphInput['element'], width: number | undefined, categories: [number, string[]][] = [], rank = 2): GraphInput {
  const known = new Map<number, KnownCategories>(categories.map(([c, list]) => [c, { categories: new Set(list), from: 'OneHotEncoder' }]));
  return { name, element, rank, width, categories: known };
}

const single: Manifest = {
  inputs: [
    {
      name: 'input',
      columns: [
        { field: 'amount' },
        { field: 'merchant.country', codes: { DE: 0, FR: 1, NL: 2 } },
        { field: 'distance_km', missing: 'nan' },
        { field: 'merchant.category', kind: 'categorical', codes: { food: 0, travel: 1 }, unknown: 'score-and-flag', unknown_code: -1 },
      ],
    },
  ],
};

const schema = avro.Type.forSchema({
  type: 'record',
  name: 'E',
  fields: [
    { name: 'amount', type: 'double' },
    { name: 'count', type: 'long' },
    { name: 'flag', type: 'boolean' },
    { name: 'distance_km', type: ['null', 'double'], default: null },
    { name: 'merchant', type: ['null', { type: 'record', name: 'M', fields: [{ name: 'country', type: 'string' }, { name: 'category', type: 'string' }] }], default: null },
  ],
});

describe('model manifest', () => {
  it('accepts the documented shapes and reads YAML and JSON alike', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    const yaml = join(dir, 'manifest.yaml');
    writeFileSync(yaml, 'name: m\nversion: "2"\ninputs:\n  - name: country\n    field: merchant.country\noutput:\n  kind: regressor\n');
    assert.equal(loadManifest(yaml).manifest.inputs?.[0]?.field, 'merchant.country');
    const json = join(dir, 'manifest.json');
    writeFileSync(json, JSON.stringify(single));
    assert.equal(loadManifest(json).manifest.inputs?.[0]?.columns?.length, 4);
  });

  it('names every problem by its path in the file', () => {
    assert.throws(
      () => validateManifest({ inputs: [{ name: 'x', columns: [{ field: 'a', missing: 'zero' }, { feild: 'b' }] }], output: { kind: 'ranker' }, extra: 1 }, 'm.yaml'),
      (error: Error) => {
        assert.match(error.message, /^MANIFEST_INVALID: m\.yaml: /);
        assert.match(error.message, /inputs\[0\]\.columns\[0\]\.missing: must be one of dead-letter, nan, default/);
        assert.match(error.message, /inputs\[0\]\.columns\[1\]: unknown key "feild"/);
        assert.match(error.message, /inputs\[0\]\.columns\[1\]: "field" is required/);
        assert.match(error.message, /output\.kind: must be one of classifier, regressor, probability/);
        assert.match(error.message, /\(top level\): unknown key "extra"/);
        return true;
      },
    );
  });

  it('refuses an input that gives both columns and an inline field', () => {
    assert.throws(() => validateManifest({ inputs: [{ name: 'x', field: 'a', columns: [{ field: 'b' }] }] }, 'm.yaml'), /either `columns`.*or `field`/);
  });

  it('refuses duplicate keys (YAML would silently keep the last)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    const path = join(dir, 'manifest.yaml');
    writeFileSync(path, 'name: a\nname: b\n');
    assert.throws(() => loadManifest(path), /MANIFEST_INVALID: .*not valid YAML\/JSON/);
  });
});

describe('feature plan', () => {
  it('without a manifest: graph input name = field name, one column each', () => {
    const plan = planFeatures([input('amount', 'float', 1), input('country', 'string', 1, [[0, ['DE']]]), input('count', 'int64', undefined, [], 1)], undefined, undefined);
    assert.deepEqual(plan.columns.map((c) => [c.name, c.kind, c.element]), [['amount', 'numeric', 'float'], ['country', 'categorical', 'string'], ['count', 'numeric', 'int64']]);
    assert.equal(plan.columns[1]?.categoriesFrom, 'OneHotEncoder');
  });

  it('an [N, F] input without a manifest says to list its columns', () => {
    assert.throws(() => planFeatures([input('input', 'float', 10)], undefined, undefined), /model input "input" is \[N, 10\]: the graph does not name its columns, so the manifest must list them/);
  });

  it('a manifest with the wrong number of columns says how many the graph has', () => {
    assert.throws(() => planFeatures([input('input', 'float', 5)], single, 'm.yaml'), /m\.yaml: input "input" lists 4 columns, but the graph input is \[N, 5\]: list every column, in order/);
  });

  it('a manifest naming an input the graph lacks lists the graph inputs', () => {
    assert.throws(() => planFeatures([input('features', 'float', 4)], single, 'm.yaml'), /input "input" is not a graph input \(the graph has features\)/);
  });

  it('refuses policies the tensor cannot carry, naming column and field', () => {
    const bad: Manifest = { inputs: [{ name: 'x', columns: [{ field: 'a', missing: 'nan' }, { field: 'b', kind: 'categorical' }, { field: 'c', codes: { u: 0 }, unknown: 'score-and-flag' }] }] };
    assert.throws(
      () => planFeatures([input('x', 'int64', 3)], bad, 'm.yaml'),
      (error: Error) => {
        assert.match(error.message, /column 0 of model input "x" \(field a\) has missing: nan but the tensor is int64, which has no NaN/);
        assert.match(error.message, /column 1 of model input "x" \(field b\) is categorical but the tensor is int64: give `codes`/);
        assert.match(error.message, /column 2 of model input "x" \(field c\) has unknown: score-and-flag and codes: give `unknown_code`/);
        return true;
      },
    );
  });

  it('an unsupported tensor type is named', () => {
    assert.throws(() => planFeatures([input('x', 'other', 1)], undefined, undefined), /model input "x" has tensor type other; supported: string, float, double, int64, int32, bool/);
  });

  it('checks nested paths and types against the input schema', () => {
    const plan = planFeatures([input('input', 'float', 4)], single, 'm.yaml');
    assert.doesNotThrow(() => assertSchemaFitsContract(schema, plan, 'INPUT_SCHEMA'));
    const wrong: Manifest = { inputs: [{ name: 'input', columns: [{ field: 'merchant.city' }, { field: 'amount.value' }, { field: 'count' }, { field: 'flag' }] }] };
    assert.throws(
      () => assertSchemaFitsContract(schema, planFeatures([input('input', 'float', 4)], wrong, 'm.yaml'), 'INPUT_SCHEMA'),
      (error: Error) => {
        assert.match(error.message, /field "merchant\.city" \(feeds model input input\[0\]\): INPUT_SCHEMA: merchant has no field "city" \(it has country, category\)/);
        assert.match(error.message, /field "amount\.value" \(feeds model input input\[1\]\): INPUT_SCHEMA: amount is not a record/);
        return true;
      },
    );
    const intFromDouble = planFeatures([input('amount', 'int64', 1)], undefined, undefined);
    assert.throws(() => assertSchemaFitsContract(schema, intFromDouble, 'INPUT_SCHEMA'), /field "amount" \(numeric, feeds model input amount\) must be a whole number \(int, long or boolean\) for its int64 tensor, but is "double"/);
  });
});

describe('check stage over a feature plan', () => {
  const plan = planFeatures([input('input', 'float', 4), input('count', 'int64', 1), input('flag', 'int64', 1)], single, 'm.yaml');
  const event = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ amount: 12.5, count: 3, flag: true, distance_km: 4.25, merchant: { country: 'FR', category: 'travel' }, ...over });

  it('fills an [N, F] float tensor from nested fields and codes, in column order', () => {
    const checked = checkBatch(plan, [event(), event({ amount: 1, merchant: { country: 'NL', category: 'food' }, distance_km: null })], [undefined, undefined]);
    assert.equal(checked.features.rowCount, 2);
    const x = checked.features.tensors[0] as Float32Array;
    assert.deepEqual([...x.subarray(0, 4)], [12.5, 1, 4.25, 1]);
    assert.deepEqual([...x.subarray(4, 7)], [1, 2, Number.NaN]);
    assert.equal(x[7], 0);
    assert.deepEqual(checked.features.categorical.get('merchant.country'), ['FR', 'NL']);
    assert.equal(checked.features.flags.size, 0);
  });

  it('writes whole numbers and booleans into int64 tensors exactly, negatives and 2^53 - 1 included', () => {
    const values = [0, -1, 2 ** 31, -(2 ** 40) - 7, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const checked = checkBatch(plan, values.map((count, i) => event({ count, flag: i % 2 === 0 })), values.map(() => undefined));
    assert.deepEqual([...(checked.features.tensors[1] as BigInt64Array)], values.map((v) => BigInt(v)));
    assert.deepEqual([...(checked.features.tensors[2] as BigInt64Array)], values.map((_, i) => (i % 2 === 0 ? 1n : 0n)));
    assert.deepEqual([...(checked.features.numeric.get('count') as Float32Array)], values.map((v) => Math.fround(v)));
  });

  it('dead-letters by policy: unknown coded category, missing without a policy, fraction into an int tensor, null parent record', () => {
    const events = [
      event({ merchant: { country: 'US', category: 'food' } }),
      event({ amount: null }),
      event({ count: 1.5 }),
      event({ merchant: null }),
      event({ count: '3' }),
    ];
    const checked = checkBatch(plan, events, events.map(() => undefined));
    assert.equal(checked.features.rowCount, 0);
    assert.deepEqual(checked.rejections.map((r) => [r?.code, r?.field]), [
      ['UNKNOWN_CATEGORY', 'merchant.country'],
      ['MISSING_FIELD', 'amount'],
      ['WRONG_TYPE', 'count'],
      ['MISSING_FIELD', 'merchant.country'],
      ['WRONG_TYPE', 'count'],
    ]);
    assert.match(checked.rejections[0]?.message ?? '', /"US" is not a category the model knows for "merchant\.country" \(3 known, from manifest codes\)/);
  });

  it('score-and-flag: feeds the unknown code and flags the row instead of dead-lettering it', () => {
    const checked = checkBatch(plan, [event(), event({ merchant: { country: 'DE', category: 'casino' } })], [undefined, undefined]);
    assert.equal(checked.features.rowCount, 2);
    assert.equal((checked.features.tensors[0] as Float32Array)[7], -1);
    assert.deepEqual(checked.features.flags.get(1), ['UNKNOWN_CATEGORY:merchant.category']);
    assert.equal(checked.features.flags.get(0), undefined);
  });

  it('missing: default feeds the declared value', () => {
    const withDefault = planFeatures([input('distance_km', 'double', 1)], { inputs: [{ name: 'distance_km', field: 'distance_km', missing: 'default', default: -1 }] }, 'm.yaml');
    const checked = checkBatch(withDefault, [{ distance_km: null }, { distance_km: 0.1 }], [undefined, undefined]);
    assert.deepEqual([...(checked.features.tensors[0] as Float64Array)], [-1, 0.1]);
  });

  it('int32 tensors refuse what int32 cannot hold', () => {
    const int32 = planFeatures([input('count', 'int32', 1)], undefined, undefined);
    const checked = checkBatch(int32, [{ count: 2 ** 31 }, { count: -(2 ** 31) }], [undefined, undefined]);
    assert.equal(checked.rejections[0]?.code, 'OUT_OF_RANGE');
    assert.deepEqual([...(checked.features.tensors[0] as Int32Array)], [-(2 ** 31)]);
  });
});

describe('output plan', () => {
  const out = (o: Partial<GraphOutput> & { name: string }): GraphOutput => ({ element: 'float', tensor: true, rank: 2, width: undefined, ...o });
  const zipped = [out({ name: 'output_label', element: 'int64', rank: 1 }), out({ name: 'output_probability', tensor: false, element: 'other', rank: 0, zipMap: { tensor: 'probability_tensor', classes: ['0', '1'] } })];
  const unwrapped = new Map([['output_probability', 'probability_tensor']]);

  it('finds a ZipMap classifier and its label without being told', () => {
    const names = chooseOutputs(zipped, undefined, {}, unwrapped);
    assert.equal(names.scores, 'probability_tensor');
    assert.equal(names.label, 'output_label');
    const plan = planOutputs(names, 2, undefined, {});
    assert.deepEqual([plan.kind, plan.classes, plan.positive], ['classifier', ['0', '1'], 1]);
  });

  it('picks the positive class by label from ZipMap string classes', () => {
    const three = [out({ name: 'output_label', element: 'string', rank: 1 }), out({ name: 'p', tensor: false, element: 'other', rank: 0, zipMap: { tensor: 't', classes: ['high', 'low', 'medium'] } })];
    const names = chooseOutputs(three, undefined, {}, new Map([['p', 't']]));
    assert.equal(planOutputs(names, 3, { positive_class: 'high' }, {}).positive, 0);
    assert.throws(() => planOutputs(names, 3, { positive_class: 'urgent' }, {}), /"urgent" is not one of the model's classes \(high, low, medium\)/);
    assert.throws(() => planOutputs(names, 3, undefined, { positiveClassIndex: 3 }), /MODEL_POSITIVE_CLASS_INDEX=3: the model's score output "t" has 3 columns \(0\.\.2, classes high, low, medium\)/);
  });

  it('a single-column output needs the manifest to say what it is, and a regressor is not told about classifiers', () => {
    const names = chooseOutputs([out({ name: 'variable', width: 1 })], undefined, {}, new Map());
    assert.throws(() => planOutputs(names, 1, undefined, {}), (error: Error) => {
      assert.match(error.message, /model output "variable" has one column: say in the manifest what it is, output: \{kind: regressor\}/);
      assert.doesNotMatch(error.message, /zipmap/i);
      return true;
    });
    assert.deepEqual(planOutputs(names, 1, { kind: 'regressor' }, {}), { kind: 'regressor', scores: 'variable', label: undefined, classes: [], positive: 0, transform: 'none' });
    assert.throws(() => planOutputs(names, 1, { kind: 'regressor' }, { positiveClassIndex: 1 }), /a regressor has no classes/);
  });

  it('refuses a positive class past a one-column output instead of reading the next row', () => {
    const names = chooseOutputs([out({ name: 'probabilities', width: 1 }), out({ name: 'label', element: 'int64', rank: 1 })], { kind: 'classifier' }, {}, new Map());
    assert.throws(() => planOutputs(names, 1, { kind: 'classifier' }, {}), /has 1 column: a classifier has at least two/);
  });

  it('a logit output with transform: sigmoid is a probability of classes[1]', () => {
    const names = chooseOutputs([out({ name: 'logit', width: 1 })], { kind: 'probability', transform: 'sigmoid' }, {}, new Map());
    const plan = planOutputs(names, 1, { kind: 'probability', transform: 'sigmoid', classes: ['legit', 'fraud'] }, {});
    assert.deepEqual([plan.kind, plan.transform, plan.classes, plan.positive], ['probability', 'sigmoid', ['legit', 'fraud'], 1]);
    assert.throws(() => planOutputs(names, 2, { kind: 'probability' }, {}), /needs one value per event, but "logit" has 2 columns; it looks like class probabilities/);
  });

  it('names the outputs when it cannot tell which is the score', () => {
    assert.throws(() => chooseOutputs([out({ name: 'a' }), out({ name: 'b' })], undefined, {}, new Map()), /cannot tell which model output is the score \(outputs: a \(float \[N, \?\]\), b \(float \[N, \?\]\)\)/);
    assert.throws(() => chooseOutputs(zipped, undefined, { scoreOutput: 'nope' }, unwrapped), /MODEL_SCORE_OUTPUT=nope: the model has no output "nope" \(it has output_label \(int64 \[N\]\), output_probability \(ZipMap over probability_tensor\)\)/);
  });
});
