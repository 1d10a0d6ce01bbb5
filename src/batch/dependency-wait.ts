import type { Config } from '../config/schema';
import { ServiceError } from '../errors';
import { isFeatureStoreUnavailable } from '../features/store/lookup';
import { isRegistryUnavailable } from '../formats/registry';
import type { Logger } from '../telemetry/logger';
import { waitBackoffMs } from '../waits';

/**
 * How a batch job (score-file, backfill, redrive) waits when the schema registry or the feature
 * store (a feature with `unavailable: wait`) cannot be asked: as the service does, the batch is
 * tried again after a backoff, nothing of it written meanwhile; unlike the service, not forever:
 * a job run by a scheduler must end, so after `maxMs` it fails with the outage's code.
 */
export interface DependencyWait {
  /** Longest one batch waits in all (BATCH_DEPENDENCY_WAIT_MS); 0: fail at once. */
  readonly maxMs: number;
  /** Longest single backoff (RETRY_BACKOFF_MAX_MS). */
  readonly backoffMaxMs: number;
  readonly onWait?: (info: { readonly attempt: number; readonly waitMs: number; readonly waitedMs: number; readonly error: Error }) => void;
  /** Injected by tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export function dependencyWaitFrom(config: Pick<Config, 'batchDependencyWaitMs' | 'retryBackoffMaxMs'>, logger: Logger): DependencyWait {
  return {
    maxMs: config.batchDependencyWaitMs,
    backoffMaxMs: config.retryBackoffMaxMs,
    onWait: ({ attempt, waitMs, waitedMs, error }) =>
      logger.warn({ attempt, wait_ms: Math.round(waitMs), waited_ms: waitedMs, max_wait_ms: config.batchDependencyWaitMs, error: error.message }, 'a dependency is unavailable: the batch waits and is tried again (nothing of it written meanwhile)'),
  };
}

/** A consumer's session must not expire while its batch waits: kafkajs' heartbeat is throttled, so calling it often is cheap. */
const HEARTBEAT_EVERY_MS = 1_000;

/**
 * `run` (one batch's processing), tried again while it fails because the registry or the store is
 * unavailable, up to `wait.maxMs`; any other error is thrown at once. `heartbeat` keeps a Kafka
 * source's group membership while the batch waits.
 */
export async function withDependencyWait<T>(run: () => Promise<T>, wait: DependencyWait | undefined, heartbeat?: () => Promise<void>): Promise<T> {
  const now = wait?.now ?? Date.now;
  const sleep = wait?.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const started = now();
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      if (!(isRegistryUnavailable(error) || isFeatureStoreUnavailable(error))) throw error;
      const waitedMs = now() - started;
      if (!wait || waitedMs >= wait.maxMs) {
        const code = isRegistryUnavailable(error) ? 'REGISTRY_UNAVAILABLE' : 'FEATURE_STORE_UNAVAILABLE';
        throw new ServiceError(code, `${error.message}; the batch waited ${Math.round(waitedMs / 1000)} s (BATCH_DEPENDENCY_WAIT_MS=${wait?.maxMs ?? 0}) and nothing of it was written: run the job again once it is back, or raise BATCH_DEPENDENCY_WAIT_MS`, { cause: error });
      }
      const waitMs = Math.min(waitBackoffMs(attempt, wait.backoffMaxMs), Math.max(0, wait.maxMs - waitedMs));
      wait.onWait?.({ attempt, waitMs, waitedMs, error });
      for (let left = waitMs; left > 0; left -= HEARTBEAT_EVERY_MS) {
        await sleep(Math.min(left, HEARTBEAT_EVERY_MS));
        await heartbeat?.();
      }
    }
  }
}
