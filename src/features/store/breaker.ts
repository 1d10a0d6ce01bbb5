/**
 * A circuit breaker in front of the feature store: after `failureThreshold` failed lookups in a
 * row it opens and lookups fail at once (no connection attempt, no time-out to sit through) for
 * `openMs`; then one probe is let through (half-open). The probe's success closes it, its failure
 * opens it again for another `openMs`. Plain state, no timers: time is read when asked.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  readonly failureThreshold: number;
  readonly openMs: number;
  readonly now?: () => number;
  readonly onChange?: (state: BreakerState, previous: BreakerState) => void;
}

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly options: BreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.current;
  }

  /** Whether a lookup may go to the store now; in half-open, only one (the probe) at a time. */
  allow(): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open') {
      if (this.now() - this.openedAt < this.options.openMs) return false;
      this.set('half-open');
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    if (this.current !== 'closed') this.set('closed');
  }

  failure(): void {
    this.probing = false;
    this.failures += 1;
    if (this.current === 'half-open' || (this.current === 'closed' && this.failures >= this.options.failureThreshold)) {
      this.openedAt = this.now();
      this.set('open');
    }
  }

  /** Milliseconds until an open breaker lets a probe through (0 when it would now). */
  retryInMs(): number {
    return this.current === 'open' ? Math.max(0, this.options.openMs - (this.now() - this.openedAt)) : 0;
  }

  private set(state: BreakerState): void {
    const previous = this.current;
    this.current = state;
    this.options.onChange?.(state, previous);
  }
}
