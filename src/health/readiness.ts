/**
 * /readyz: ready when the model is loaded, the consumer has joined its group (and is not
 * stopping), and a broker answers. The broker probe is cached, so frequent probes cost one
 * round trip per `cacheMs`.
 */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: { readonly model_loaded: boolean; readonly consumer_joined: boolean; readonly broker_reachable: boolean };
}

export class Readiness {
  modelLoaded = false;
  consumerJoined = false;
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
    const checks = { model_loaded: this.modelLoaded, consumer_joined: this.consumerJoined, broker_reachable: broker };
    return { ready: checks.model_loaded && checks.consumer_joined && checks.broker_reachable, checks };
  }
}
