import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';

export const ROOT = join(__dirname, '..', '..');
export const MODEL_PATH = join(ROOT, 'models/card-fraud/model.onnx');
export const INPUT_SCHEMA = join(ROOT, 'schemas/payment-event.avsc');
export const PREDICTION_SCHEMA = join(ROOT, 'schemas/prediction.avsc');

export interface ReferenceCase {
  readonly event: Record<string, string | number | boolean | null>;
  readonly probabilities: [number, number];
  readonly label: number;
}

export function referenceCases(): ReferenceCase[] {
  const file = JSON.parse(readFileSync(join(ROOT, 'models/card-fraud/reference.json'), 'utf8')) as { events: ReferenceCase[] };
  return file.events;
}

/** The demo defaults with absolute paths, so tests run from any directory. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ MODEL_PATH, INPUT_SCHEMA, PREDICTION_SCHEMA, LOG_LEVEL: 'warn', ...env });
}
