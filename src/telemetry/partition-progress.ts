/**
 * Per input partition: how far processing got, how far the log goes, and whether the partition
 * is stuck. Lag and stalls are measured from what was processed (outputs acknowledged), never
 * from what was fetched: a batch that is fetched again and again but never written (a retry
 * loop) leaves the processed position where it was, so the lag stays and the stall shows.
 *
 * No Kafka in here and no timers: the consumer reports fetches and progress, the clock is
 * injected, and stalls are (re-)evaluated whenever someone reads the state.
 */

export interface PartitionProgressOptions {
  /** A partition with records waiting and no progress for this long is stalled; 0: never. */
  readonly stallTimeoutMs: number;
  readonly now?: () => number;
  /** Called once per transition (stall onset, recovery, stalled partition unassigned). */
  readonly onEvent?: (event: StallEvent) => void;
}

export interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** high watermark − processed position; undefined until both are known. */
  readonly lag: number | undefined;
  readonly stalled: boolean;
}

export interface StalledPartition {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to process: the one the partition is stuck at. */
  readonly offset: string;
  readonly lag: number;
  /** Epoch ms since which records have waited without progress. */
  readonly since: number;
  readonly stalledForMs: number;
  /** Failed attempts to write a batch of this partition since its last progress. */
  readonly retries: number;
}

/**
 * stalled: the onset; recovered: the processed offset moved again (or nothing waits any more);
 * unassigned: a stalled partition went to another member. `since` is the stall's start.
 */
export interface StallEvent extends StalledPartition {
  readonly type: 'stalled' | 'recovered' | 'unassigned';
}

interface Entry {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to process; undefined until the partition's first fetch with records. */
  position: bigint | undefined;
  highWatermark: bigint | undefined;
  /** Since when records have waited without progress; undefined while nothing waits. */
  waitingSince: number | undefined;
  retries: number;
  stalled: boolean;
  /** waitingSince at the onset, kept for the recovery's "stalled for". */
  stalledSince: number | undefined;
}

/** `payments[2]`: how /readyz and the logs name a partition. */
export function partitionName(topic: string, partition: number): string {
  return `${topic}[${partition}]`;
}

export class PartitionProgress {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: PartitionProgressOptions) {
    this.now = options.now ?? Date.now;
  }

  private entry(topic: string, partition: number): Entry {
    const key = `${topic}\u0000${partition}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { topic, partition, position: undefined, highWatermark: undefined, waitingSince: undefined, retries: 0, stalled: false, stalledSince: undefined };
      this.entries.set(key, entry);
    }
    return entry;
  }

  /**
   * The group's assignment for this member: partitions it no longer owns are dropped (another
   * member reports them now); partitions it keeps keep their state, so a rebalance does not
   * restart the stall clock of a partition that stays stuck.
   */
  assigned(assignment: ReadonlyMap<string, readonly number[]>): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if ((assignment.get(entry.topic) ?? []).includes(entry.partition)) continue;
      this.entries.delete(key);
      if (entry.stalled) this.emit('unassigned', entry, now);
    }
    for (const [topic, partitions] of assignment) for (const partition of partitions) this.entry(topic, partition);
  }

  /**
   * A batch starting at `firstOffset` was fetched (again, on a retry). The high watermark is
   * the latest the broker reported. Before anything of the partition was processed, the
   * batch's first offset is where processing stands; a later first offset means the consumer
   * moved past records that needed no output (compacted away, or reset past retention).
   */
  fetched(topic: string, partition: number, highWatermark: string, firstOffset: string): void {
    const entry = this.entry(topic, partition);
    entry.highWatermark = BigInt(highWatermark);
    const first = BigInt(firstOffset);
    if (entry.position === undefined || first > entry.position) this.advance(entry, first, this.now());
    this.evaluate(entry, this.now());
  }

  /**
   * Every record before `nextOffset` is done: its outputs are acknowledged, or it needed none
   * (transaction markers, aborted records). A position behind the current one (records read
   * again after a rebalance) is taken as it is, but is not progress.
   */
  progressed(topic: string, partition: number, nextOffset: string, highWatermark: string): void {
    const entry = this.entry(topic, partition);
    entry.highWatermark = BigInt(highWatermark);
    const next = BigInt(nextOffset);
    if (entry.position === undefined || next > entry.position) this.advance(entry, next, this.now());
    else entry.position = next;
    this.evaluate(entry, this.now());
  }

  /** A batch of the partition was not written and will be fetched again. */
  retried(topic: string, partition: number): void {
    const entry = this.entry(topic, partition);
    entry.retries += 1;
    this.evaluate(entry, this.now());
  }

  /** Every assigned partition, stalls evaluated as of now. */
  partitions(): PartitionState[] {
    const now = this.now();
    const out: PartitionState[] = [];
    for (const entry of this.entries.values()) {
      this.evaluate(entry, now);
      out.push({ topic: entry.topic, partition: entry.partition, lag: lagOf(entry), stalled: entry.stalled });
    }
    return out;
  }

  /** The stalled partitions as of now (and logs onsets and recoveries through onEvent). */
  stalled(): StalledPartition[] {
    const now = this.now();
    const out: StalledPartition[] = [];
    for (const entry of this.entries.values()) {
      this.evaluate(entry, now);
      if (entry.stalled) out.push(describe(entry, now));
    }
    return out;
  }

  private advance(entry: Entry, position: bigint, now: number): void {
    entry.position = position;
    if (entry.stalled) {
      // Here rather than in evaluate: the event still tells how many retries the stall took.
      entry.stalled = false;
      this.emit('recovered', entry, now);
    }
    entry.retries = 0;
    // Progress restarts the clock: what waits now has waited since this moment.
    entry.waitingSince = undefined;
  }

  private evaluate(entry: Entry, now: number): void {
    const lag = lagOf(entry);
    if (lag === undefined || lag === 0) entry.waitingSince = undefined;
    else entry.waitingSince ??= now;
    const timeout = this.options.stallTimeoutMs;
    const stalled = timeout > 0 && entry.waitingSince !== undefined && now - entry.waitingSince >= timeout;
    if (stalled === entry.stalled) return;
    if (stalled) {
      entry.stalled = true;
      this.emit('stalled', entry, now);
    } else {
      entry.stalled = false;
      this.emit('recovered', entry, now);
    }
  }

  private emit(type: StallEvent['type'], entry: Entry, now: number): void {
    if (type === 'stalled') entry.stalledSince = entry.waitingSince;
    const event: StallEvent = { type, ...describe(entry, now) };
    if (type !== 'stalled') entry.stalledSince = undefined;
    this.options.onEvent?.(event);
  }
}

function lagOf(entry: Entry): number | undefined {
  if (entry.position === undefined || entry.highWatermark === undefined) return undefined;
  const lag = entry.highWatermark - entry.position;
  // Behind the position (topic recreated, records deleted): nothing waits.
  return lag > 0n ? Number(lag) : 0;
}

function describe(entry: Entry, now: number): StalledPartition {
  const since = entry.stalledSince ?? entry.waitingSince ?? now;
  return {
    topic: entry.topic,
    partition: entry.partition,
    offset: String(entry.position ?? ''),
    lag: lagOf(entry) ?? 0,
    since,
    stalledForMs: now - since,
    retries: entry.retries,
  };
}
