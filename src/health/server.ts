import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReadinessReport } from './readiness';

export interface HealthHandlers {
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  readiness(): Promise<ReadinessReport>;
  /** The live drift report (JSON); undefined when drift is not monitored. `attribution`: re-score the latest drifting score window (/drift?attribution=1). */
  drift?(options: { attribution: boolean }): unknown;
  /**
   * POST /admin/reload (admin endpoint; absent: 404): reload the model from MODEL_PATH. Resolves
   * with the outcome; ok false answers 409 (refused, the old model keeps serving) or 503 (no model yet).
   */
  reload?(): Promise<{ readonly status: 200 | 409 | 503; readonly body: unknown }>;
}

export interface HealthServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(body);
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * /healthz (the process is alive and its event loop turns), /readyz (see Readiness),
 * /metrics (Prometheus) and /drift (the live drift report, JSON); and, when `reload` is given,
 * the admin endpoint POST /admin/reload. Nothing else.
 */
export async function startHealthServer(host: string, port: number, handlers: HealthHandlers, onError?: (error: Error) => void): Promise<HealthServer> {
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if ((request.url ?? '/').split('?')[0] === '/admin/reload' && handlers.reload) {
      if (request.method !== 'POST') {
        response.setHeader('allow', 'POST');
        send(response, 405, JSON_TYPE, '{"error":"method not allowed"}\n');
        return;
      }
      request.resume();
      const { status, body } = await handlers.reload();
      send(response, status, JSON_TYPE, `${JSON.stringify(body)}\n`);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      send(response, 405, JSON_TYPE, '{"error":"method not allowed"}\n');
      return;
    }
    const path = (request.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        send(response, 200, JSON_TYPE, '{"status":"ok"}\n');
        return;
      case '/readyz': {
        const report = await handlers.readiness();
        const body = { status: report.ready ? 'ready' : 'not ready', ...report.checks, ...(report.feature_store_breaker !== undefined ? { feature_store_breaker: report.feature_store_breaker } : {}), ...(report.feature_store_error !== undefined ? { feature_store_error: report.feature_store_error } : {}), ...(report.stalled.length > 0 ? { stalled: report.stalled } : {}), ...(report.model_reload ? { model_reload: report.model_reload } : {}) };
        send(response, report.ready ? 200 : 503, JSON_TYPE, `${JSON.stringify(body)}\n`);
        return;
      }
      case '/metrics':
        send(response, 200, 'text/plain; version=0.0.4; charset=utf-8', await handlers.metrics());
        return;
      case '/drift': {
        const attribution = /[?&]attribution=(1|true)(&|$)/.test(request.url ?? '');
        const report = await handlers.drift?.({ attribution });
        if (report === undefined) send(response, 404, JSON_TYPE, '{"error":"drift is not monitored (no training profile)"}\n');
        else send(response, 200, JSON_TYPE, `${JSON.stringify(report)}\n`);
        return;
      }
      default:
        send(response, 404, JSON_TYPE, '{"error":"not found","paths":["/healthz","/readyz","/metrics","/drift"]}\n');
    }
  };
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      onError?.(error as Error);
      if (!response.headersSent) send(response, 500, JSON_TYPE, `${JSON.stringify({ error: (error as Error).message })}\n`);
      else response.end();
    });
  });
  // Probes and scrapes are short: do not let an idle keep-alive connection hold a stop.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    port: address.port,
    url: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
