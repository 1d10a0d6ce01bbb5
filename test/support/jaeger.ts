import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './model';

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly references: readonly { refType: string; traceID: string; spanID: string }[];
  readonly processID: string;
  readonly tags: readonly { key: string; type: string; value: unknown }[];
  readonly startTime: number;
  readonly duration: number;
}

export interface JaegerTrace {
  readonly traceID: string;
  readonly spans: readonly JaegerSpan[];
  readonly processes: Readonly<Record<string, { serviceName: string }>>;
}

/** A real Jaeger (scripts/jaeger.sh: built from the Go module proxy), on free loopback ports, for one test file. */
export class TestJaeger {
  private env: NodeJS.ProcessEnv = {};
  otlpUrl = '';
  queryUrl = '';

  private script(command: string): { status: number | null; output: string } {
    const result = spawnSync(join(ROOT, 'scripts/jaeger.sh'), [command], { env: this.env, encoding: 'utf8', timeout: 30 * 60_000 });
    return { status: result.status, output: `${result.stdout}${result.stderr}${result.error ? String(result.error) : ''}` };
  }

  async start(): Promise<void> {
    const [otlp, query, grpc, health] = [await freePort(), await freePort(), await freePort(), await freePort()];
    this.env = {
      ...process.env,
      JAEGER_OTLP_HTTP_PORT: String(otlp),
      JAEGER_QUERY_PORT: String(query),
      JAEGER_QUERY_GRPC_PORT: String(grpc),
      JAEGER_HEALTH_PORT: String(health),
      JAEGER_DATA_DIR: join(ROOT, '.cache', 'jaeger-run', `test-${process.pid}`),
    };
    // Builds Jaeger first if `scripts/jaeger.sh build` has not (minutes, from a cold Go cache).
    const result = this.script('start');
    if (result.status !== 0) throw new Error(`scripts/jaeger.sh start failed:\n${result.output}`);
    this.otlpUrl = `http://127.0.0.1:${otlp}`;
    this.queryUrl = `http://127.0.0.1:${query}`;
  }

  stop(): void {
    if (this.otlpUrl) this.script('stop');
  }

  async trace(traceId: string): Promise<JaegerTrace | undefined> {
    const response = await fetch(`${this.queryUrl}/api/traces/${traceId}`);
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`Jaeger /api/traces/${traceId}: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { data: JaegerTrace[] };
    return body.data[0];
  }

  /** Polls until the trace has every named span (or the timeout), and returns what it has. */
  async waitForTrace(traceId: string, names: readonly string[], timeoutMs = 30_000): Promise<JaegerTrace | undefined> {
    const deadline = Date.now() + timeoutMs;
    let trace: JaegerTrace | undefined;
    for (;;) {
      trace = await this.trace(traceId);
      const have = new Set(trace?.spans.map((s) => s.operationName));
      if (names.every((n) => have.has(n)) || Date.now() > deadline) return trace;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async search(service: string, operation: string, limit = 50): Promise<JaegerTrace[]> {
    const url = `${this.queryUrl}/api/traces?service=${encodeURIComponent(service)}&operation=${encodeURIComponent(operation)}&limit=${limit}&lookback=1h`;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`Jaeger ${url}: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { data: JaegerTrace[] }).data ?? [];
  }
}

export function tag(span: JaegerSpan | undefined, key: string): unknown {
  return span?.tags.find((t) => t.key === key)?.value;
}

export function parentOf(span: JaegerSpan | undefined): string | undefined {
  return span?.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
}
