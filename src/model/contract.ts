import { readFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import { ServiceError } from '../errors';

/** What the model needs from an event, read from the ONNX graph, not from a hand-written list. */
export interface ModelContract {
  readonly name: string;
  readonly version: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly inputs: readonly ContractInput[];
  readonly outputs: readonly ContractOutput[];
}

export type TensorElement = 'string' | 'float' | 'double' | 'int64' | 'int32' | 'bool' | 'other';

export interface ContractInput {
  /** Graph input name; the event field of the same name feeds it. */
  readonly name: string;
  readonly element: TensorElement;
  readonly kind: 'categorical' | 'numeric';
  /** Known categories when an encoder node in the graph lists them; undefined when the graph does not say. */
  readonly categories?: ReadonlySet<string>;
  /** Op type of the node the categories were read from, e.g. "OneHotEncoder". */
  readonly categoriesFrom?: string;
}

export interface ContractOutput {
  readonly name: string;
  readonly element: TensorElement;
}

// Ops that pass a column through unchanged in meaning; converters put them between input and encoder.
const PASS_THROUGH = new Set(['Cast', 'Reshape', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten', 'ArrayFeatureExtractor', 'Gather']);

const ELEMENT: Record<number, TensorElement> = {
  [onnx.TensorProto.DataType.STRING]: 'string',
  [onnx.TensorProto.DataType.FLOAT]: 'float',
  [onnx.TensorProto.DataType.DOUBLE]: 'double',
  [onnx.TensorProto.DataType.INT64]: 'int64',
  [onnx.TensorProto.DataType.INT32]: 'int32',
  [onnx.TensorProto.DataType.BOOL]: 'bool',
};

function elementOf(value: onnx.IValueInfoProto): TensorElement {
  const elemType = value.type?.tensorType?.elemType;
  return (elemType !== undefined && elemType !== null && ELEMENT[elemType]) || 'other';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function categoriesOf(node: onnx.INodeProto): string[] | undefined {
  const wanted = node.opType === 'OneHotEncoder' ? ['cats_strings', 'cats_int64s'] : node.opType === 'LabelEncoder' ? ['keys_strings', 'keys_int64s'] : [];
  for (const attribute of node.attribute ?? []) {
    if (!attribute.name || !wanted.includes(attribute.name)) continue;
    if (attribute.strings && attribute.strings.length > 0) return attribute.strings.map((bytes) => utf8.decode(bytes));
    if (attribute.ints && attribute.ints.length > 0) return attribute.ints.map((n) => String(n));
  }
  return undefined;
}

/** Follows an encoder's input back through pass-through ops to the graph input it reads. */
function traceToGraphInput(start: string, producerOf: ReadonlyMap<string, onnx.INodeProto>, graphInputs: ReadonlySet<string>): string | undefined {
  let name = start;
  for (let hops = 0; hops < 64; hops += 1) {
    if (graphInputs.has(name)) return name;
    const producer = producerOf.get(name);
    if (!producer || !PASS_THROUGH.has(producer.opType ?? '') || !producer.input?.[0]) return undefined;
    name = producer.input[0];
  }
  return undefined;
}

export function readContract(modelPath: string, overrides: { name?: string; version?: string } = {}): ModelContract {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(readFileSync(modelPath));
  } catch (error) {
    throw new ServiceError('MODEL_INVALID', `MODEL_PATH=${modelPath}: not a readable ONNX model (${(error as Error).message})`, { cause: error });
  }
  const graph = model.graph;
  if (!graph) throw new ServiceError('MODEL_INVALID', `MODEL_PATH=${modelPath}: the model has no graph`);

  const metadata: Record<string, string> = {};
  for (const entry of model.metadataProps ?? []) if (entry.key) metadata[entry.key] = entry.value ?? '';

  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const realInputs = (graph.input ?? []).filter((input) => input.name && !initializers.has(input.name));
  const graphInputNames = new Set(realInputs.map((input) => input.name as string));

  const producerOf = new Map<string, onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producerOf.set(output, node);

  const categoriesByInput = new Map<string, { categories: Set<string>; op: string }>();
  for (const node of graph.node ?? []) {
    const categories = categoriesOf(node);
    if (!categories || !node.input?.[0]) continue;
    const input = traceToGraphInput(node.input[0], producerOf, graphInputNames);
    if (!input) continue;
    const known = categoriesByInput.get(input);
    if (known) {
      // Two encoders reading one input (a multi-column tensor): the per-column mapping is lost.
      throw new ServiceError('CONTRACT_MISMATCH', `model input "${input}" feeds several encoders; stream-scorer needs one graph input per categorical column`);
    }
    categoriesByInput.set(input, { categories: new Set(categories), op: node.opType ?? '' });
  }

  const inputs: ContractInput[] = realInputs.map((value) => {
    const name = value.name as string;
    const element = elementOf(value);
    const dims = value.type?.tensorType?.shape?.dim ?? [];
    const width = dims[1]?.dimValue;
    if (dims.length !== 2 || Number(width) !== 1) {
      throw new ServiceError('CONTRACT_MISMATCH', `model input "${name}" must have shape [N, 1] (one graph input per column); it has ${dims.length} dims`);
    }
    if (element === 'string') {
      const found = categoriesByInput.get(name);
      return found ? { name, element, kind: 'categorical', categories: found.categories, categoriesFrom: found.op } : { name, element, kind: 'categorical' };
    }
    if (element === 'float' || element === 'double') return { name, element, kind: 'numeric' };
    throw new ServiceError('CONTRACT_MISMATCH', `model input "${name}" has tensor type ${element}; supported: string (categorical), float, double (numeric)`);
  });

  const outputs: ContractOutput[] = (graph.output ?? []).map((value) => ({ name: value.name ?? '', element: elementOf(value) }));

  return {
    name: overrides.name ?? metadata.model_name ?? graph.name ?? 'model',
    version: overrides.version ?? metadata.model_version ?? String(model.modelVersion ?? '0'),
    metadata,
    inputs,
    outputs,
  };
}
