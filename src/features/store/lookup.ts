import { type BreakerState, CircuitBreaker } from './breaker';

/** One key of a batch and the hash fields wanted from it (HMGET key field…). */
export interface KeyRequest {
  readonly key: string;
  readonly fields: readonly string[];
}

/**
 * One round trip for a whole batch: for each request, in order, the values of its fields in
 * order (null: the key or field does not exist). Throws FeatureStoreUnavailableError when the
 * store cannot answer; an injected function in unit tests, Redis in the service.
 */
export type BatchLookup = (requests: readonly KeyRequest[]) => Promise<readonly (readonly (string | null)[])[]>;

export type UnavailableReason = 'error' | 'timeout' | 'breaker-open';

/** The store could not be asked (down, refused, timed out, breaker open): never the event's fault. */
export class FeatureStoreUnavailableError extends Error {
  readonly code = 'FEATURE_STORE_UNAVAILABLE';
  constructor(
    message: string,
    readonly reason: UnavailableReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FeatureStoreUnavailableError';
  }
}

export function isFeatureStoreUnavailable(error: unknown): error is FeatureStoreUnavailableError {
  return error instanceof FeatureStoreUnavailableError;
}

/** What one batch's lookup found, per (key, hash field) of a feature value. */
export interface LookupStats {
  readonly keys: number;
  readonly hits: number;
  readonly misses: number;
}

/** Told about every lookup (metrics); never throws into the lookup. */
export interface FeatureStoreListener {
  lookup?(outcome: { readonly keys: number; readonly seconds: number; readonly error?: UnavailableReason }): void;
  found?(stats: LookupStats): void;
  breaker?(state: BreakerState): void;
}

export interface FeatureStoreStatus {
  readonly breaker: BreakerState;
  /** The last failure, until a lookup succeeds again. */
  readonly error?: string;
}

/**
 * The store as the pipeline uses it: a raw batch lookup behind the circuit breaker, with the
 * counts and latency told to a listener.
 */
export class FeatureStore {
  private lastError: string | undefined;
  private readonly listeners: FeatureStoreListener[] = [];
  readonly breaker: CircuitBreaker;

  constructor(
    private readonly raw: BatchLookup,
    options: { readonly failureThreshold: number; readonly openMs: number; readonly now?: () => number },
    private readonly closeClient: () => Promise<void> = async () => undefined,
  ) {
    this.breaker = new CircuitBreaker({
      ...options,
      onChange: (state) => {
        for (const l of this.listeners) l.breaker?.(state);
      },
    });
  }

  listen(listener: FeatureStoreListener): void {
    this.listeners.push(listener);
    listener.breaker?.(this.breaker.state);
  }

  status(): FeatureStoreStatus {
    return { breaker: this.breaker.state, ...(this.lastError !== undefined ? { error: this.lastError } : {}) };
  }

  readonly lookup: BatchLookup = async (requests) => {
    if (requests.length === 0) return [];
    if (!this.breaker.allow()) {
      this.tell({ keys: requests.length, seconds: 0, error: 'breaker-open' });
      throw new FeatureStoreUnavailableError(`feature store circuit breaker is open after repeated failures (next probe in ${this.breaker.retryInMs()} ms; last error: ${this.lastError ?? 'unknown'})`, 'breaker-open');
    }
    const start = performance.now();
    try {
      const values = await this.raw(requests);
      this.breaker.success();
      this.lastError = undefined;
      this.tell({ keys: requests.length, seconds: (performance.now() - start) / 1000 });
      return values;
    } catch (error) {
      const unavailable = isFeatureStoreUnavailable(error) ? error : new FeatureStoreUnavailableError(`feature store lookup failed: ${(error as Error).message}`, 'error', { cause: error });
      this.breaker.failure();
      this.lastError = unavailable.message;
      this.tell({ keys: requests.length, seconds: (performance.now() - start) / 1000, error: unavailable.reason });
      throw unavailable;
    }
  };

  /** The enrich stage's counts of one batch (hits and misses per key and field). */
  found(stats: LookupStats): void {
    for (const l of this.listeners) {
      try {
        l.found?.(stats);
      } catch {
        // metrics never fail a batch
      }
    }
  }

  close(): Promise<void> {
    return this.closeClient();
  }

  private tell(outcome: Parameters<NonNullable<FeatureStoreListener['lookup']>>[0]): void {
    for (const l of this.listeners) {
      try {
        l.lookup?.(outcome);
      } catch {
        // metrics never fail a batch
      }
    }
  }
}
