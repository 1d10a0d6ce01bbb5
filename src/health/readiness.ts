import { type StalledPartition, partitionName } from '../telemetry/partition-progress';

/**
 * /readyz: ready when the model is loaded, the consumer has joined its group (and is not
 * stopping), a broker answers, and no assigned partition is stalled (records waiting, no
 * progress for PARTITION_STALL_TIMEOUT_MS). The broker probe is cached, so frequent probes
 * cost one round trip per `cacheMs`.
 */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: {
    readonly model_loaded: boolean;
    readonly consumer_joined: boolean;
    readonly broker_reachable: boolean;
    /** `topic[partition]` of each stalled partition; ready only when empty. */
    readonly partitions_stalled: readonly string[];
    /** not used (no registry), available, or waiting: a batch waits for the registry (not ready). */
    readonly schema_registry: 'not used' | 'available' | 'waiting';
    /**
     * not used (the model reads no store features), available, unavailable (the last lookup failed
     * or the breaker is not closed; events are dead-lettered or defaulted per feature, still ready),
     * or waiting: a batch waits for it (a feature with unavailable: wait; not ready).
     */
    readonly feature_store: 'not used' | 'available' | 'unavailable' | 'waiting';
  };
  /** The feature store's circuit breaker and last error, when it is used. */
  readonly feature_store_breaker?: string;
  readonly feature_store_error?: string;
  /** Why the registry is waited for: its last error. */
  readonly schema_registry_error?: string;
  /** Why each partition of `partitions_stalled` is stalled. */
  readonly stalled: readonly StalledPartitionReport[];
  /** The last hot swap of the model, if any: informative only (a refused one leaves the old model serving, still ready). */
  readonly model_reload?: ModelReloadReport;
}

export interface ModelReloadReport {
  readonly last: 'ok' | 'refused';
  /** ISO time of the outcome. */
  readonly at: string;
  readonly trigger: string;
  /** The model serving after it. */
  readonly model: string;
  readonly model_version: string;
  /** refused: the check that failed, its file and message. */
  readonly check?: string;
  readonly file?: string;
  readonly reason?: string;
}

export interface StalledPartitionReport {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to process: where the partition is stuck. */
  readonly offset: string;
  readonly lag: number;
  /** ISO time since which records have waited without progress. */
  readonly since: string;
  readonly stalled_for_ms: number;
  /** Failed attempts to write its batch since the last progress (0: processing hangs instead). */
  readonly retries: number;
}

export class Readiness {
  modelLoaded = false;
  consumerJoined = false;
  /** undefined: no registry; otherwise whether a batch waits for it, and why. */
  registry: { waiting: boolean; error?: string } | undefined;
  /** undefined: no store; otherwise its status now, and whether a batch waits for it. */
  featureStore: { status: () => { breaker: string; error?: string }; used: () => boolean; waiting: boolean; error?: string } | undefined;
  /** The last hot swap (ok or refused), shown in /readyz; never makes it unready. */
  modelReload: ModelReloadReport | undefined;
  /** The stalled partitions right now (PartitionProgress.stalled). */
  stalledPartitions: () => readonly StalledPartition[] = () => [];
  private last: { at: number; ok: boolean } | undefined;
  private pending: Promise<boolean> | undefined;

  constructor(
    private readonly probe: (() => Promise<boolean>) | undefined,
    private readonly cacheMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  private async broker(): Promise<boolean> {
    if (!this.probe) return false;
    if (this.last && this.now() - this.last.at < this.cacheMs) return this.last.ok;
    this.pending ??= this.probe()
      .catch(() => false)
      .then((ok) => {
        this.last = { at: this.now(), ok };
        this.pending = undefined;
        return ok;
      });
    return this.pending;
  }

  async check(): Promise<ReadinessReport> {
    const broker = await this.broker();
    const stalled = this.stalledPartitions();
    const checks = {
      model_loaded: this.modelLoaded,
      consumer_joined: this.consumerJoined,
      broker_reachable: broker,
      partitions_stalled: stalled.map((s) => partitionName(s.topic, s.partition)),
      schema_registry: this.registry === undefined ? ('not used' as const) : this.registry.waiting ? ('waiting' as const) : ('available' as const),
      feature_store: this.storeState(),
    };
    const store = this.featureStore?.used() ? this.featureStore.status() : undefined;
    return {
      ready: checks.model_loaded && checks.consumer_joined && checks.broker_reachable && stalled.length === 0 && checks.schema_registry !== 'waiting' && checks.feature_store !== 'waiting',
      checks,
      ...(this.registry?.waiting && this.registry.error ? { schema_registry_error: this.registry.error } : {}),
      ...(store ? { feature_store_breaker: store.breaker } : {}),
      ...(store && (this.featureStore?.error ?? store.error) !== undefined ? { feature_store_error: this.featureStore?.error ?? store.error } : {}),
      ...(this.modelReload ? { model_reload: this.modelReload } : {}),
      stalled: stalled.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.offset, lag: s.lag, since: new Date(s.since).toISOString(), stalled_for_ms: s.stalledForMs, retries: s.retries })),
    };
  }

  private storeState(): ReadinessReport['checks']['feature_store'] {
    const store = this.featureStore;
    if (!store?.used()) return 'not used';
    if (store.waiting) return 'waiting';
    const status = store.status();
    return status.breaker !== 'closed' || status.error !== undefined ? 'unavailable' : 'available';
  }
}
