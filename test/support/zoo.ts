import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './model';

/** The models of models/zoo (built by models/zoo/build.py from other libraries' exports). */
export const ZOO = join(ROOT, 'models/zoo');

export interface ZooOutputs {
  readonly scores: number[];
  readonly probabilities?: number[][];
  readonly labels?: string[];
}

export interface ZooReference {
  readonly model: string;
  readonly framework_name: string;
  readonly converter: string;
  readonly kind: 'classifier' | 'regressor';
  readonly classes: string[];
  readonly positive_class_index: number;
  readonly events: Record<string, unknown>[];
  readonly onnxruntime: ZooOutputs;
  readonly framework: ZooOutputs;
}

export function zooModels(): string[] {
  return readdirSync(ZOO, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export function zooReference(model: string): ZooReference {
  return JSON.parse(readFileSync(join(ZOO, model, 'reference.json'), 'utf8')) as ZooReference;
}

export function zooConfigEnv(model: string): Record<string, string> {
  return { MODEL_PATH: join(ZOO, model, 'model.onnx'), INPUT_SCHEMA: join(ZOO, model, 'schema.avsc') };
}
