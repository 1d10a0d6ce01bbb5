import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './model';

/** Integration tests with a registry need the real one scripts/with-schema-registry.sh provides. */
export function registryUrl(): string {
  const url = process.env.SCHEMA_REGISTRY_URL;
  if (!url) throw new Error('SCHEMA_REGISTRY_URL is not set: run integration tests through `npm run test:integration` (WITH_SCHEMA_REGISTRY=1 scripts/with-kafka.sh starts a local registry)');
  return url.replace(/\/+$/, '');
}

/** One call of the Confluent API, as a producer's tooling would make it. */
export async function registryCall(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${registryUrl()}${path}`, {
    method,
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : null };
}

export async function registerSchema(subject: string, schema: unknown): Promise<number> {
  const answer = await registryCall('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema: JSON.stringify(schema) });
  if (answer.status !== 200) throw new Error(`registering under ${subject}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return (answer.body as { id: number }).id;
}

export async function setCompatibility(subject: string, level: 'BACKWARD' | 'FORWARD' | 'FULL' | 'NONE'): Promise<void> {
  const answer = await registryCall('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level });
  if (answer.status !== 200) throw new Error(`setting ${level} on ${subject}: HTTP ${answer.status}`);
}

/**
 * The PID of the registry scripts/schema-registry.sh runs on the URL's port, or undefined when
 * the registry is not one the project started (then a test cannot pause it).
 */
export function projectRegistryPid(): number | undefined {
  const port = new URL(registryUrl()).port;
  const result = spawnSync(join(ROOT, 'scripts/schema-registry.sh'), ['pid'], { env: { ...process.env, SCHEMA_REGISTRY_PORT: port }, encoding: 'utf8' });
  const pid = Number(result.stdout.trim());
  return result.status === 0 && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function schemaJson(path: string): { fields: { name: string; type: unknown; default?: unknown; aliases?: string[] }[] } & Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as ReturnType<typeof schemaJson>;
}
