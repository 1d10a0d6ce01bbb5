import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readContract } from '../../src/model/contract';
import { assertSchemaFitsContract } from '../../src/stages/check/schema-fit';
import { loadSchema } from '../../src/stages/decode';
import avro from 'avsc';
import { INPUT_SCHEMA, MODEL_PATH, ROOT } from '../support/model';

interface Profile {
  features: Record<string, { type: string; categories?: Record<string, { share: number }> }>;
}

describe('model contract from the ONNX graph', () => {
  const contract = readContract(MODEL_PATH);

  it('reads name and version from the model metadata, overridable', () => {
    assert.equal(contract.name, 'card-fraud');
    assert.match(contract.version, /^\d+\.\d+\.\d+$/);
    assert.equal(readContract(MODEL_PATH, { version: '9.9.9' }).version, '9.9.9');
  });

  it('finds every model input with its kind', () => {
    const kinds = Object.fromEntries(contract.inputs.map((i) => [i.name, i.kind]));
    for (const name of ['merchant_category', 'channel', 'country', 'card_type']) assert.equal(kinds[name], 'categorical', name);
    for (const name of ['amount', 'account_age_days', 'txn_count_24h', 'avg_amount_30d', 'distance_from_home_km', 'seconds_since_last_txn', 'merchant_risk_score']) {
      assert.equal(kinds[name], 'numeric', name);
    }
  });

  it('reads the known categories from the encoder nodes, matching the training profile', () => {
    // profile.json is written by the training script from the training data, independently of the graph.
    const profile = JSON.parse(readFileSync(join(ROOT, 'models/card-fraud/profile.json'), 'utf8')) as Profile;
    for (const input of contract.inputs.filter((i) => i.kind === 'categorical')) {
      assert.equal(input.categoriesFrom, 'OneHotEncoder');
      const fromProfile = profile.features[input.name];
      assert.equal(fromProfile?.type, 'categorical', `profile has ${input.name}`);
      const names = Object.keys(fromProfile?.categories ?? {}).sort();
      assert.deepEqual([...(input.categories ?? [])].sort(), names, input.name);
    }
  });

  it('refuses a file that is not an ONNX model, naming the setting', () => {
    assert.throws(() => readContract(INPUT_SCHEMA), /MODEL_INVALID: MODEL_PATH=/);
  });

  it('refuses an input schema that lacks a model column or has the wrong type', () => {
    const schema = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    assert.doesNotThrow(() => assertSchemaFitsContract(schema, contract.features, 'INPUT_SCHEMA'));
    const json = schema.schema() as { fields: { name: string; type: unknown }[] };
    const withoutChannel = avro.Type.forSchema({ ...json, fields: json.fields.filter((f) => f.name !== 'channel') } as avro.Schema);
    assert.throws(() => assertSchemaFitsContract(withoutChannel, contract.features, 'INPUT_SCHEMA'), /CONTRACT_MISMATCH: field "channel" \(feeds model input channel\): INPUT_SCHEMA: the record has no field "channel"/);
    const amountAsString = avro.Type.forSchema({ ...json, fields: json.fields.map((f) => (f.name === 'amount' ? { name: 'amount', type: 'string' } : f)) } as avro.Schema);
    assert.throws(() => assertSchemaFitsContract(amountAsString, contract.features, 'INPUT_SCHEMA'), /field "amount" \(numeric, feeds model input amount\) must be a number, but is "string"/);
  });
});
