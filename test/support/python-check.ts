import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { brokers } from './kafka';
import { ROOT } from './model';
import { registryUrl } from './registry';

/**
 * confluent-kafka (librdkafka) with its own Avro serde (fastavro) and registry client: code the
 * scorer shares nothing with, to write its input and read its output (test/support/python).
 */
let python: string | undefined;

function venvPython(): string {
  if (python) return python;
  const env = spawnSync(join(ROOT, 'scripts/python-check-env.sh'), [], { encoding: 'utf8' });
  if (env.status !== 0) throw new Error(`scripts/python-check-env.sh failed: ${env.stderr}`);
  python = env.stdout.trim().split('\n').pop() as string;
  return python;
}

function run(args: string[], input?: string): string {
  const result = spawnSync(venvPython(), [join(ROOT, 'test/support/python/confluent_check.py'), ...args, '--brokers', brokers().join(','), '--registry', registryUrl()], {
    encoding: 'utf8',
    input,
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`confluent_check.py ${args[0]} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** Produces events framed by confluent-kafka's AvroSerializer; returns the schema id it used. */
export function pythonProduce(topic: string, schemaPath: string, subject: string, records: readonly { key: string; value: unknown }[]): number {
  const out = run(['produce', '--topic', topic, '--schema', schemaPath, '--subject', subject], records.map((r) => JSON.stringify(r)).join('\n'));
  return (JSON.parse(out) as { schema_id: number }).schema_id;
}

export interface PythonRecord {
  readonly key: string | null;
  readonly schema_id: number | null;
  readonly value: Record<string, unknown>;
}

/** Reads `count` records with confluent-kafka: framed (AvroDeserializer, schema by id) or plain (fastavro, `schemaPath`). */
export function pythonConsume(topic: string, count: number, framing: 'confluent' | 'plain', schemaPath?: string): PythonRecord[] {
  const args = ['consume', '--topic', topic, '--count', String(count), '--framing', framing, ...(schemaPath ? ['--schema', schemaPath] : [])];
  return run(args)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as PythonRecord);
}
