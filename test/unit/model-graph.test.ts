import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { readContract } from '../../src/model/contract';
import { readGraph, unwrapZipMaps } from '../../src/model/graph';
import { ZOO } from '../support/zoo';

const T = onnx.TensorProto.DataType;

function value(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

function strings(name: string, list: string[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.STRINGS, strings: list.map((s) => Buffer.from(s)) };
}

function indices(name: string, list: number[]): onnx.ITensorProto {
  return { name, dataType: T.INT64, dims: [list.length], int64Data: list };
}

describe('reading the graph: categories per input column', () => {
  it('traces encoders through column selections and concatenations to the input column they read', () => {
    const model: onnx.IModelProto = {
      graph: {
        input: [value('X', T.STRING, ['N', 3]), value('a', T.STRING, ['N', 1]), value('b', T.STRING, ['N', 1])],
        initializer: [indices('i2', [2]), indices('i0', [0]), indices('i1', [1])],
        node: [
          { opType: 'ArrayFeatureExtractor', input: ['X', 'i2'], output: ['x2'] },
          { opType: 'OneHotEncoder', input: ['x2'], output: ['x2_hot'], attribute: [strings('cats_strings', ['red', 'blue'])] },
          { opType: 'ArrayFeatureExtractor', input: ['X', 'i0'], output: ['x0'] },
          { opType: 'Reshape', input: ['x0', 'shape'], output: ['x0r'] },
          { opType: 'LabelEncoder', input: ['x0r'], output: ['x0_code'], attribute: [strings('keys_strings', ['s', 'm', 'l'])] },
          { opType: 'Concat', input: ['a', 'b'], output: ['ab'], attribute: [{ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT }] },
          { opType: 'ArrayFeatureExtractor', input: ['ab', 'i1'], output: ['b_again'] },
          { opType: 'OneHotEncoder', input: ['b_again'], output: ['b_hot'], attribute: [strings('cats_strings', ['yes', 'no'])] },
        ],
        output: [value('y', T.FLOAT, ['N', 1])],
      },
    };
    const facts = readGraph(model);
    const byName = new Map(facts.inputs.map((i) => [i.name, i]));
    assert.deepEqual([...(byName.get('X')?.categories.get(2)?.categories ?? [])], ['red', 'blue']);
    assert.deepEqual([...(byName.get('X')?.categories.get(0)?.categories ?? [])], ['s', 'm', 'l']);
    assert.equal(byName.get('X')?.categories.get(0)?.from, 'LabelEncoder');
    assert.equal(byName.get('X')?.categories.has(1), false, 'no encoder reads column 1');
    assert.deepEqual([...(byName.get('b')?.categories.get(0)?.categories ?? [])], ['yes', 'no']);
    assert.equal(byName.get('a')?.categories.size, 0);
    assert.equal(byName.get('X')?.width, 3);
  });

  it('two encoders on one column: only the categories both know count as known', () => {
    const model: onnx.IModelProto = {
      graph: {
        input: [value('c', T.STRING, ['N', 1])],
        node: [
          { opType: 'OneHotEncoder', input: ['c'], output: ['h'], attribute: [strings('cats_strings', ['a', 'b', 'c'])] },
          { opType: 'LabelEncoder', input: ['c'], output: ['l'], attribute: [strings('keys_strings', ['b', 'c', 'd'])] },
        ],
        output: [value('y', T.FLOAT, ['N', 1])],
      },
    };
    const known = readGraph(model).inputs[0]?.categories.get(0);
    assert.deepEqual([...(known?.categories ?? [])], ['b', 'c']);
    assert.equal(known?.from, 'OneHotEncoder+LabelEncoder');
  });
});

describe('ZipMap unwrapping', () => {
  it('turns the ZipMap output into the probabilities tensor under it, keeps its labels, and the result runs in onnxruntime', async () => {
    const path = join(ZOO, 'sklearn-multiclass', 'model.onnx');
    const model = onnx.ModelProto.decode(readFileSync(path));
    const facts = readGraph(model);
    const zipped = facts.outputs.find((o) => o.zipMap);
    assert.ok(zipped, 'the export has a ZipMap output');
    assert.deepEqual(zipped.zipMap?.classes, ['high', 'low', 'medium']);
    assert.equal(zipped.tensor, false);
    const replaced = unwrapZipMaps(model, facts);
    assert.deepEqual([...replaced], [[zipped.name, zipped.zipMap?.tensor]]);
    assert.ok(!(model.graph?.node ?? []).some((n) => n.opType === 'ZipMap'));
    // The rewritten graph loads, with the tensor as an output onnxruntime-node can return.
    const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish());
    assert.ok(session.outputNames.includes(zipped.zipMap?.tensor as string));
    await session.release();
    const contract = readContract(path);
    assert.ok(contract.session.bytes, 'the contract carries the rewritten graph');
    assert.equal(contract.session.zipMapOutputs.get(zipped.name), zipped.zipMap?.tensor);
  });

  it('leaves a model without ZipMap as the file', () => {
    const contract = readContract(join(ZOO, 'xgboost', 'model.onnx'));
    assert.equal(contract.session.bytes, undefined);
  });
});

describe('model identity', () => {
  it('never a random name or version: manifest, metadata, folder name, file hash', () => {
    const lightgbm = readContract(join(ZOO, 'lightgbm', 'model.onnx'));
    assert.deepEqual([lightgbm.name, lightgbm.version, lightgbm.versionFrom], ['zoo-lightgbm', '1.0.0', 'manifest']);
    const catboost = readContract(join(ZOO, 'catboost', 'model.onnx'));
    assert.equal(catboost.name, 'catboost', 'the folder of model.onnx');
    assert.match(catboost.version, /^sha256-[0-9a-f]{12}$/);
    assert.equal(catboost.versionFrom, 'file hash');
    assert.equal(readContract(join(ZOO, 'catboost', 'model.onnx'), { name: 'x', version: '7' }).version, '7');
  });
});
