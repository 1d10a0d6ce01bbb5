export interface PartitionOffset {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read: one past the last record whose outputs are acknowledged. */
  readonly offset: string;
}

export type CommitOffsets = (offsets: PartitionOffset[]) => Promise<void>;

/**
 * At-least-once offset commits that do not hold up the next batch.
 *
 * A commit is sent the moment a batch's outputs are acknowledged (so it is never ahead of the
 * outputs), but the consumer goes on without waiting for its answer: a broker's group
 * coordinator lingers before it writes a commit (`group.coordinator.append.linger.ms`, 5 ms by
 * default in Kafka 4), and waiting for that after every batch of every partition put ~6.5 ms
 * of idle time per batch into the end-to-end latency.
 *
 * Each commit is requested at once, in batch order, on the coordinator connection, with the
 * generation current at that moment; a later JoinGroup or LeaveGroup of this member goes out on
 * the same connection after it, so a rebalance or a graceful stop does not overtake it. A crash
 * reads again what was acknowledged but not yet committed: `uncommittedEvents()` counts it.
 */
export class OffsetCommits {
  private readonly outstanding = new Set<Promise<void>>();
  private uncommitted = 0;

  constructor(
    private readonly commit: CommitOffsets,
    private readonly onFailure: (error: Error, offset: PartitionOffset) => void,
  ) {}

  /** Requests the commit now; failures go to `onFailure` (the records are then read again). */
  send(offset: PartitionOffset, events: number): void {
    this.uncommitted += events;
    const request = this.commit([offset])
      .catch((error: unknown) => this.onFailure(error instanceof Error ? error : new Error(String(error)), offset))
      .finally(() => {
        this.uncommitted -= events;
        this.outstanding.delete(request);
      });
    this.outstanding.add(request);
  }

  /** Events whose outputs are acknowledged but whose commit is not answered yet. */
  uncommittedEvents(): number {
    return this.uncommitted;
  }

  /** Resolves once every commit requested so far has been answered (or has failed). */
  async settled(): Promise<void> {
    while (this.outstanding.size > 0) await Promise.allSettled([...this.outstanding]);
  }
}
