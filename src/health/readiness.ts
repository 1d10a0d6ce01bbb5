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
  };
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
    };
    return {
      ready: checks.model_loaded && checks.consumer_joined && checks.broker_reachable && stalled.length === 0 && checks.schema_registry !== 'waiting',
      checks,
      ...(this.registry?.waiting && this.registry.error ? { schema_registry_error: this.registry.error } : {}),
      ...(this.modelReload ? { model_reload: this.modelReload } : {}),
      stalled: stalled.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.offset, lag: s.lag, since: new Date(s.since).toISOString(), stalled_for_ms: s.stalledForMs, retries: s.retries })),
    };
  }
}
