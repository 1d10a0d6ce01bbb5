import type { SourceProgress } from './types';

export interface ProgressCounts {
  readonly events: number;
  readonly deadLetters: number;
}

export interface ProgressOptions {
  readonly out: NodeJS.WritableStream & { readonly isTTY?: boolean };
  /** Lines on a non-TTY are this far apart; default 5 s. A TTY line is redrawn every second. */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

function human(n: number, unit: 'bytes' | 'events'): string {
  if (unit === 'bytes') {
    if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
    if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
    return `${(n / 1024).toFixed(0)} KiB`;
  }
  return String(n);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The progress line: events, dead letters, rate, how far (when the whole is known) and ETA. */
export function progressLine(counts: ProgressCounts, source: SourceProgress, elapsedSeconds: number): string {
  const rate = elapsedSeconds > 0 ? counts.events / elapsedSeconds : 0;
  let line = `${counts.events} events, ${counts.deadLetters} dead-lettered, ${Math.round(rate)} events/s, ${formatDuration(elapsedSeconds)} elapsed`;
  if (source.total !== undefined && source.total > 0) {
    const fraction = Math.min(1, source.done / source.total);
    const eta = fraction > 0 ? (elapsedSeconds * (1 - fraction)) / fraction : Number.NaN;
    line += `, ${(fraction * 100).toFixed(1)}% (${human(source.done, source.unit)} of ${human(source.total, source.unit)}), ETA ${formatDuration(eta)}`;
  }
  return line;
}

/**
 * Reports progress while a batch job runs: on a terminal one line redrawn in place, otherwise one
 * line per interval (logs stay readable). stop() clears the terminal line.
 */
export class ProgressReporter {
  private readonly started: number;
  private readonly now: () => number;
  private readonly tty: boolean;
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly options: ProgressOptions,
    private readonly counts: () => ProgressCounts,
    private readonly source: () => SourceProgress,
  ) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.tty = options.out.isTTY === true;
  }

  start(): void {
    const interval = this.tty ? 1_000 : (this.options.intervalMs ?? 5_000);
    this.timer = setInterval(() => this.report(), interval);
    this.timer.unref();
  }

  elapsedSeconds(): number {
    return (this.now() - this.started) / 1000;
  }

  report(): void {
    const line = progressLine(this.counts(), this.source(), this.elapsedSeconds());
    if (this.tty) {
      this.options.out.write(`\r\x1b[2K${line}`);
      this.drawn = true;
    } else this.options.out.write(`progress: ${line}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty && this.drawn) this.options.out.write('\r\x1b[2K');
  }
}
