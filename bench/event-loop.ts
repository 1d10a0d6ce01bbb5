import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Node's default sampling interval for monitorEventLoopDelay. */
export const EVENT_LOOP_RESOLUTION_MS = 10;

export interface EventLoopDelay {
  enable(): void;
  disable(): void;
  /** How late the sampling timer fired at this percentile, in ms (0: on time). */
  percentileMs(p: number): number;
  maxMs(): number;
}

/**
 * Event-loop delay as how late a timer fires. monitorEventLoopDelay records the whole interval
 * between two firings of its timer, so an idle loop reads `resolution` (10 ms), not 0: the
 * lateness is that interval minus the resolution (as @fastify/under-pressure computes it).
 */
export function eventLoopDelay(resolutionMs = EVENT_LOOP_RESOLUTION_MS): EventLoopDelay {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  const late = (ns: number): number => (Number.isFinite(ns) && histogram.count > 0 ? Math.max(0, ns / 1e6 - resolutionMs) : Number.NaN);
  return {
    enable: () => histogram.enable(),
    disable: () => histogram.disable(),
    percentileMs: (p) => late(histogram.percentile(p)),
    maxMs: () => late(histogram.max),
  };
}
