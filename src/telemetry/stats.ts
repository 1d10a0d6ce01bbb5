import type { Rejection } from '../errors';

/** Running totals for the live summary and the tests; cheap enough to update per batch. */
export class ServiceStats {
  consumed = 0;
  predictions = 0;
  deadLetters = 0;
  batches = 0;
  /** Write attempts that failed transiently and were retried. */
  retries = 0;
  readonly byReason = new Map<string, number>();

  record(consumed: number, predictions: number, rejections: readonly Rejection[]): void {
    this.batches += 1;
    this.consumed += consumed;
    this.predictions += predictions;
    this.deadLetters += rejections.length;
    for (const rejection of rejections) this.byReason.set(rejection.code, (this.byReason.get(rejection.code) ?? 0) + 1);
  }

  snapshot(): { consumed: number; predictions: number; deadLetters: number; batches: number; retries: number; byReason: Record<string, number> } {
    return { consumed: this.consumed, predictions: this.predictions, deadLetters: this.deadLetters, batches: this.batches, retries: this.retries, byReason: Object.fromEntries(this.byReason) };
  }
}
