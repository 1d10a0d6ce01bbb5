import { protocolErrorTypes } from './errors';

/**
 * The coordinator's answers that mean this consumer may no longer own its partitions: it was
 * removed from the group (session expired), the group moved to a generation without it, or the
 * group is rebalancing. Another member may already be writing the same partitions.
 */
export const LOST_MEMBERSHIP = ['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID'] as const;
export type LostMembershipReason = (typeof LOST_MEMBERSHIP)[number];

const LOST: ReadonlySet<string> = new Set(LOST_MEMBERSHIP);

/** The reason an error says the membership is lost, or undefined for any other error. */
export function lostMembershipReason(error: unknown): LostMembershipReason | undefined {
  return protocolErrorTypes(error).find((type): type is LostMembershipReason => LOST.has(type));
}

export interface MembershipLoss {
  readonly generation: number;
  readonly reason: LostMembershipReason;
  readonly error: Error;
}

/**
 * Whether this consumer may still write for the partitions of its current generation (one
 * generation per join, counted here; kafkajs does not expose the group's).
 *
 * Lost: a commit or heartbeat of the generation was refused with a LOST_MEMBERSHIP answer. An
 * answer about an older generation (a commit sent before a rejoin, answered after it) does not
 * count against the new one.
 *
 * Confirmed: the coordinator accepted a commit of the generation sent at that time (monotonic
 * ms). The broker times a session out only `sessionTimeoutMs` after the last request it got from
 * the member, so a member confirmed less than that long ago is still in the group (a rebalance
 * may be starting, during which its commits are still accepted). A process frozen (SIGSTOP, a
 * long GC pause, a VM migration) for longer has no such certainty: `confirmedWithin` says so
 * and the consumer asks the coordinator before writing.
 */
export class Membership {
  private current = 0;
  private loss: MembershipLoss | undefined;
  private confirmedAt = Number.NEGATIVE_INFINITY;

  get generation(): number {
    return this.current;
  }

  /** A new generation: joined (again), the join request sent at `sentAt` (monotonic ms), if known. */
  joined(sentAt = Number.NEGATIVE_INFINITY): number {
    this.current += 1;
    this.loss = undefined;
    this.confirmedAt = sentAt;
    return this.current;
  }

  /** The loss of the current generation, if any. */
  lost(): MembershipLoss | undefined {
    return this.loss;
  }

  /**
   * Records `error` against `generation` if it is a lost-membership answer. Returns the loss when
   * it is news (the first for the current generation), so it is reported once.
   */
  failed(generation: number, error: Error): MembershipLoss | undefined {
    const reason = lostMembershipReason(error);
    if (reason === undefined || generation !== this.current || this.loss) return undefined;
    this.loss = { generation, reason, error };
    return this.loss;
  }

  /** A request of `generation` sent at `sentAt` was accepted. */
  confirmed(generation: number, sentAt: number): void {
    if (generation === this.current) this.confirmedAt = Math.max(this.confirmedAt, sentAt);
  }

  /** True when the coordinator accepted a request of this generation sent less than `ms` before `now`. */
  confirmedWithin(now: number, ms: number): boolean {
    return now - this.confirmedAt < ms;
  }
}
