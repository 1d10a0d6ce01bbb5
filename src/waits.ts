/**
 * Batches waiting for a dependency (the schema registry, the feature store), counted per
 * partition. With several partitions handled at once each waiting batch has its own attempt
 * number and backoff; one shared counter climbed once per partition per round, so the backoff
 * grew three times as fast and the attempt numbers in the log read oddly. The dependency counts
 * as waited for while any partition's batch waits, and as back once none does.
 */
export class PartitionWaits {
  private readonly attempts = new Map<string, number>();
  private total = 0;

  /** One more failed attempt of this partition's batch: its attempt number (1, 2, …). */
  failed(topic: string, partition: number): number {
    const key = `${topic}\u0000${partition}`;
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    this.total += 1;
    return attempt;
  }

  /**
   * This partition's batch got through. `recovered` with the attempts made meanwhile (over all
   * partitions) when it was the last one waiting; undefined while others still wait, or when none did.
   */
  succeeded(topic: string, partition: number): { readonly attempts: number } | undefined {
    if (this.attempts.size === 0 || !this.attempts.delete(`${topic}\u0000${partition}`)) return undefined;
    if (this.attempts.size > 0) return undefined;
    const attempts = this.total;
    this.total = 0;
    return { attempts };
  }

  /**
   * After a rebalance: a partition no longer ours waits no more (it was revoked while its batch
   * waited; its new owner counts its own waits). Recovered as `succeeded` when none is left waiting.
   */
  retain(assignment: ReadonlyMap<string, readonly number[]>): { readonly attempts: number } | undefined {
    if (this.attempts.size === 0) return undefined;
    for (const key of [...this.attempts.keys()]) {
      const [topic, partition] = key.split('\u0000') as [string, string];
      if (!(assignment.get(topic) ?? []).includes(Number(partition))) this.attempts.delete(key);
    }
    if (this.attempts.size > 0) return undefined;
    const attempts = this.total;
    this.total = 0;
    return { attempts };
  }

  get waiting(): boolean {
    return this.attempts.size > 0;
  }
}

/** Backoff of a batch's n-th wait: exponential from 200 ms, capped, with jitter (half to full). */
export function waitBackoffMs(attempt: number, maxMs: number, random: () => number = Math.random): number {
  return Math.min(maxMs, 200 * 2 ** Math.min(attempt, 16)) * (0.5 + random() / 2);
}
