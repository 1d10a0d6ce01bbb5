import { type ProfileEvent, ProfileSampler } from './profile-events';

/**
 * A stream that follows the training profile, with two shifts injected at known moments:
 * a category the model never saw appears in one column, and a numeric column moves.
 */
export interface DriftScenario {
  readonly windowMs: number;
  /** Start of the first window (a multiple of windowMs). */
  readonly start: number;
  readonly windows: number;
  readonly eventsPerWindow: number;
  readonly unknown: { readonly column: string; readonly value: string; readonly share: number; readonly from: number };
  readonly shift: { readonly column: string; readonly factor: number; readonly from: number };
}

export function defaultScenario(windowMs = 600_000, eventsPerWindow = 1_000): DriftScenario {
  const start = Date.UTC(2026, 2, 1, 0, 0, 0);
  return {
    windowMs,
    start,
    windows: 12,
    eventsPerWindow,
    // Mid-window on purpose: the onset may be that window or the next one.
    unknown: { column: 'channel', value: 'crypto_wallet', share: 0.1, from: start + 4.5 * windowMs + 1_234 },
    shift: { column: 'amount', factor: 4, from: start + 7.3 * windowMs },
  };
}

export function scenarioEvents(scenario: DriftScenario, sampler = new ProfileSampler(11)): ProfileEvent[] {
  const events: ProfileEvent[] = [];
  const total = scenario.windows * scenario.eventsPerWindow;
  const step = scenario.windowMs / scenario.eventsPerWindow;
  for (let k = 0; k < total; k += 1) {
    const time = scenario.start + Math.floor(k * step);
    const event = sampler.event(time);
    if (time >= scenario.unknown.from && sampler.random() < scenario.unknown.share) event[scenario.unknown.column] = scenario.unknown.value;
    if (time >= scenario.shift.from) event[scenario.shift.column] = Math.round((event[scenario.shift.column] as number) * scenario.shift.factor * 100) / 100;
    events.push(event);
  }
  return events;
}
