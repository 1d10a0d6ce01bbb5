import { onnx } from 'onnx-proto';

/**
 * What the ONNX graph itself says about its inputs and outputs: tensor types, widths, the
 * categories its encoder nodes know per input column, and the ZipMaps converters put on top of
 * classifiers. Pure reading: nothing here decides how events feed the model.
 */
export type TensorElement = 'string' | 'float' | 'double' | 'int64' | 'int32' | 'bool' | 'other';

export interface KnownCategories {
  readonly categories: ReadonlySet<string>;
  /** Op type of the node they were read from, e.g. "OneHotEncoder". */
  readonly from: string;
}

export interface GraphInput {
  readonly name: string;
  readonly element: TensorElement;
  readonly rank: number;
  /** Columns of an [N, F] input; undefined when the graph leaves it open. */
  readonly width: number | undefined;
  /** Known categories per column index, where an encoder node reads that column. */
  readonly categories: ReadonlyMap<number, KnownCategories>;
}

export interface ZipMapInfo {
  /** The probabilities tensor under the ZipMap. */
  readonly tensor: string;
  /** The class labels the ZipMap attaches, in probability column order. */
  readonly classes: readonly string[];
}

export interface GraphOutput {
  readonly name: string;
  readonly element: TensorElement;
  /** False for sequences and maps, which onnxruntime-node cannot return. */
  readonly tensor: boolean;
  readonly rank: number;
  readonly width: number | undefined;
  /** Set when this output is a ZipMap over a probabilities tensor. */
  readonly zipMap?: ZipMapInfo;
}

export interface GraphFacts {
  readonly metadata: Readonly<Record<string, string>>;
  /** ModelProto.model_version; 0 when unset. */
  readonly modelVersion: number;
  readonly inputs: readonly GraphInput[];
  readonly outputs: readonly GraphOutput[];
}

const ELEMENT: Record<number, TensorElement> = {
  [onnx.TensorProto.DataType.STRING]: 'string',
  [onnx.TensorProto.DataType.FLOAT]: 'float',
  [onnx.TensorProto.DataType.DOUBLE]: 'double',
  [onnx.TensorProto.DataType.INT64]: 'int64',
  [onnx.TensorProto.DataType.INT32]: 'int32',
  [onnx.TensorProto.DataType.BOOL]: 'bool',
};

/** protobufjs gives int64 fields as numbers or Long objects, depending on what is installed. */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { toNumber?: unknown }).toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  return Number(value);
}

function elementOf(type: onnx.ITypeProto | null | undefined): TensorElement {
  const elemType = type?.tensorType?.elemType;
  return (elemType !== undefined && elemType !== null && ELEMENT[elemType]) || 'other';
}

function dimsOf(type: onnx.ITypeProto | null | undefined): { rank: number; width: number | undefined } {
  const dims = type?.tensorType?.shape?.dim ?? [];
  const second = dims[1];
  const width = second && second.dimValue !== undefined && second.dimValue !== null ? toNumber(second.dimValue) : undefined;
  return { rank: dims.length, width: width !== undefined && width > 0 ? width : undefined };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function attribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

function listAttribute(node: onnx.INodeProto, names: readonly string[]): string[] | undefined {
  for (const name of names) {
    const a = attribute(node, name);
    if (!a) continue;
    if (a.strings && a.strings.length > 0) return a.strings.map((bytes) => utf8.decode(bytes));
    if (a.ints && a.ints.length > 0) return a.ints.map((n) => String(toNumber(n)));
  }
  return undefined;
}

// Where each encoder keeps the categories it knows (ai.onnx.ml).
const CATEGORY_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  OneHotEncoder: ['cats_strings', 'cats_int64s'],
  LabelEncoder: ['keys_strings', 'keys_int64s'],
};

// Ops that keep a column's meaning; converters put them between an input and its encoder.
const PASS_THROUGH = new Set(['Cast', 'Reshape', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

interface GraphIndex {
  readonly producerOf: ReadonlyMap<string, onnx.INodeProto>;
  readonly constants: ReadonlyMap<string, onnx.ITensorProto>;
  readonly widthOf: (name: string) => number | undefined;
  readonly inputs: ReadonlySet<string>;
}

function int64Values(tensor: onnx.ITensorProto): number[] | undefined {
  if (tensor.int64Data && tensor.int64Data.length > 0) return tensor.int64Data.map(toNumber);
  if (tensor.int32Data && tensor.int32Data.length > 0) return [...tensor.int32Data];
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = Buffer.from(tensor.rawData);
    if (tensor.dataType === onnx.TensorProto.DataType.INT64) return Array.from({ length: raw.length / 8 }, (_, i) => Number(raw.readBigInt64LE(i * 8)));
    if (tensor.dataType === onnx.TensorProto.DataType.INT32) return Array.from({ length: raw.length / 4 }, (_, i) => raw.readInt32LE(i * 4));
  }
  return undefined;
}

/** The single column an index selection takes from its input, when the indices are constant. */
function selectedColumn(index: GraphIndex, indicesName: string | undefined | null, column: number | undefined): number | undefined {
  const tensor = indicesName ? index.constants.get(indicesName) : undefined;
  const indices = tensor ? int64Values(tensor) : undefined;
  if (!indices || indices.length === 0) return undefined;
  if (column === undefined) return indices.length === 1 ? indices[0] : undefined;
  return indices[column];
}

/**
 * Follows an encoder's input back to the graph input and column it reads, through pass-through
 * ops, column selections (ArrayFeatureExtractor, Gather on axis 1) and concatenations of inputs
 * with known widths. Undefined when the path is anything else.
 */
function traceColumn(start: string, index: GraphIndex): { input: string; column: number } | undefined {
  let name = start;
  let column: number | undefined;
  for (let hops = 0; hops < 64; hops += 1) {
    if (index.inputs.has(name)) return { input: name, column: column ?? 0 };
    const producer = index.producerOf.get(name);
    const op = producer?.opType ?? '';
    if (!producer?.input?.[0]) return undefined;
    if (PASS_THROUGH.has(op)) {
      name = producer.input[0];
    } else if (op === 'ArrayFeatureExtractor' || (op === 'Gather' && toNumber(attribute(producer, 'axis')?.i ?? 0) === 1)) {
      column = selectedColumn(index, producer.input[1], column);
      if (column === undefined) return undefined;
      name = producer.input[0];
    } else if (op === 'Concat' && [1, -1].includes(toNumber(attribute(producer, 'axis')?.i ?? 0))) {
      if (column === undefined) {
        if (producer.input.length !== 1) return undefined;
        name = producer.input[0];
        continue;
      }
      let offset = 0;
      let next: string | undefined;
      for (const part of producer.input) {
        const width = index.widthOf(part);
        if (width === undefined) return undefined;
        if (column < offset + width) {
          next = part;
          column -= offset;
          break;
        }
        offset += width;
      }
      if (next === undefined) return undefined;
      name = next;
    } else {
      return undefined;
    }
  }
  return undefined;
}

function zipMapsOf(graph: onnx.IGraphProto): Map<string, ZipMapInfo> {
  const zipMaps = new Map<string, ZipMapInfo>();
  for (const node of graph.node ?? []) {
    if (node.opType !== 'ZipMap' || !node.input?.[0] || !node.output?.[0]) continue;
    const classes = listAttribute(node, ['classlabels_strings', 'classlabels_int64s']) ?? [];
    zipMaps.set(node.output[0], { tensor: node.input[0], classes });
  }
  return zipMaps;
}

/** Reads the facts of a decoded model. Throws plain Errors; the loader names the file. */
export function readGraph(model: onnx.IModelProto): GraphFacts {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');

  const metadata: Record<string, string> = {};
  for (const entry of model.metadataProps ?? []) if (entry.key) metadata[entry.key] = entry.value ?? '';

  const constants = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) constants.set(t.name, t);
  for (const node of graph.node ?? []) {
    const value = node.opType === 'Constant' ? attribute(node, 'value')?.t : undefined;
    if (value && node.output?.[0]) constants.set(node.output[0], value);
  }
  const realInputs = (graph.input ?? []).filter((input) => input.name && !constants.has(input.name));
  const producerOf = new Map<string, onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producerOf.set(output, node);
  const shapes = new Map<string, onnx.ITypeProto | null | undefined>();
  for (const v of [...(graph.valueInfo ?? []), ...realInputs]) if (v.name) shapes.set(v.name, v.type);
  const index: GraphIndex = {
    producerOf,
    constants,
    inputs: new Set(realInputs.map((input) => input.name as string)),
    widthOf: (name) => {
      const type = shapes.get(name);
      if (!type) return undefined;
      const { rank, width } = dimsOf(type);
      return rank === 1 ? 1 : width;
    },
  };

  const categories = new Map<string, Map<number, KnownCategories>>();
  for (const node of graph.node ?? []) {
    const attributes = CATEGORY_ATTRIBUTES[node.opType ?? ''];
    const known = attributes ? listAttribute(node, attributes) : undefined;
    if (!known || !node.input?.[0]) continue;
    const source = traceColumn(node.input[0], index);
    if (!source) continue;
    let perColumn = categories.get(source.input);
    if (!perColumn) categories.set(source.input, (perColumn = new Map()));
    const earlier = perColumn.get(source.column);
    const set = new Set(known);
    if (earlier) {
      // Two encoders read one column: only values both know are safe to call known.
      const both = new Set([...earlier.categories].filter((c) => set.has(c)));
      perColumn.set(source.column, { categories: both, from: `${earlier.from}+${node.opType}` });
    } else {
      perColumn.set(source.column, { categories: set, from: node.opType ?? '' });
    }
  }

  const inputs: GraphInput[] = realInputs.map((value) => {
    const name = value.name as string;
    return { name, element: elementOf(value.type), ...dimsOf(value.type), categories: categories.get(name) ?? new Map() };
  });

  const zipMaps = zipMapsOf(graph);
  const outputs: GraphOutput[] = (graph.output ?? []).map((value) => {
    const name = value.name ?? '';
    const zipMap = zipMaps.get(name);
    const output: GraphOutput = { name, element: elementOf(value.type), tensor: Boolean(value.type?.tensorType), ...dimsOf(value.type) };
    return zipMap ? { ...output, zipMap } : output;
  });

  return { metadata, modelVersion: toNumber(model.modelVersion ?? 0), inputs, outputs };
}

/**
 * Rewrites the graph so that every ZipMap output becomes the probabilities tensor under it:
 * onnxruntime-node returns tensors only, and the tensor carries the same numbers. Returns the
 * names that replace the ZipMap outputs. Mutates `model`.
 */
export function unwrapZipMaps(model: onnx.IModelProto, facts: GraphFacts): Map<string, string> {
  const graph = model.graph as onnx.IGraphProto;
  const replaced = new Map<string, string>();
  const outputs: onnx.IValueInfoProto[] = [];
  const present = new Set((graph.output ?? []).map((o) => o.name));
  for (const value of graph.output ?? []) {
    const zipMap = facts.outputs.find((o) => o.name === value.name)?.zipMap;
    if (!zipMap) {
      outputs.push(value);
      continue;
    }
    replaced.set(value.name as string, zipMap.tensor);
    if (present.has(zipMap.tensor)) continue;
    present.add(zipMap.tensor);
    const dims: onnx.TensorShapeProto.IDimension[] = [{ dimParam: 'N' }, zipMap.classes.length > 0 ? { dimValue: zipMap.classes.length } : { dimParam: 'classes' }];
    // ZipMap takes tensor(float) only, so the tensor under it is float.
    outputs.push({ name: zipMap.tensor, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims } } } });
  }
  graph.output = outputs;
  graph.node = (graph.node ?? []).filter((node) => !(node.opType === 'ZipMap' && replaced.has(node.output?.[0] ?? '')));
  return replaced;
}
