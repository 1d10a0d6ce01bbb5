import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ServiceError } from '../../src/errors';
import { type ModelContract, readContract } from '../../src/model/contract';
import { type DriftEvent, DriftMonitor, type DriftOptions, PREDICTION_COLUMN, driftedColumns } from '../../src/monitor/drift';
import { loadProfile, numericBin, parseProfile, predictionBin, psi } from '../../src/monitor/profile';
import { formatDriftReport } from '../../src/monitor/report';
import { parseDriftArgs, parseSince } from '../../src/monitor/cli';
import type { SourceMessage } from '../../src/records';
import { checkBatch } from '../../src/stages/check/contract-check';
import type { InputEvent } from '../../src/stages/decode';
import type { ChunkObservation } from '../../src/telemetry/observation';
import { type DriftScenario, defaultScenario, scenarioEvents } from '../support/drift-scenario';
import { MODEL_PATH } from '../support/model';
import { PROFILE_PATH, type ProfileEvent, ProfileSampler } from '../support/profile-events';

let contract: ModelContract;
before(() => {
  contract = readContract(MODEL_PATH);
});

function options(scenario: DriftScenario, mode: 'live' | 'offline'): DriftOptions {
  return {
    windowMs: scenario.windowMs,
    minWindowEvents: 200,
    psiThreshold: 0.2,
    predictionPsiThreshold: 0.2,
    unknownRateThreshold: 0.01,
    mode,
    eventTimeField: 'event_time',
    now: () => scenario.start + 365 * 86_400_000,
  };
}

/** Runs events through the real contract check into the monitor, as the service does per batch. */
function feed(monitor: DriftMonitor, events: readonly ProfileEvent[], scores: () => number, batch = 250): void {
  for (let from = 0; from < events.length; from += batch) {
    const chunk = events.slice(from, from + batch) as InputEvent[];
    const checked = checkBatch(contract.features, chunk, new Array(chunk.length));
    const rows = checked.features.rows;
    const scored = new Float64Array(rows.length);
    for (let r = 0; r < rows.length; r += 1) scored[r] = scores();
    const observation: ChunkObservation = { from: 0, events: chunk, rejections: checked.rejections, rows, features: checked.features, scores: scored, rowRejections: new Array(rows.length) };
    const messages = chunk.map((e, i): SourceMessage => ({ topic: 't', partition: 0, offset: String(from + i), key: null, value: null, headers: {}, timestamp: String(e.event_time) }));
    monitor.observeChunk(observation, messages);
  }
}

describe('drift: profile and PSI', () => {
  it('bins numeric values upper-inclusive and scores lower-inclusive, as train.py does', () => {
    const edges = Float64Array.from([0, 1, 2, 3, 4]);
    assert.deepEqual([-1, 0, 0.5, 1, 1.0001, 4, 4.5, 62].map((v) => numericBin(edges, v)), [0, 0, 1, 1, 2, 4, 5, 5]);
    const score = Float64Array.from([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
    assert.deepEqual([0, 0.05, 0.1, 0.1999, 0.2, 0.95, 1.0, 1.5, -0.1].map((v) => predictionBin(score, v)), [0, 0, 1, 1, 2, 9, 9, 9, 0]);
  });

  it('gives PSI near 0 for the profile itself and large for a moved distribution', () => {
    const shares = Float64Array.from([0.25, 0.25, 0.25, 0.25]);
    assert.ok(psi(shares, Float64Array.from([2500, 2500, 2500, 2500])) < 1e-6);
    assert.ok(psi(shares, Float64Array.from([0, 0, 5000, 5000])) > 2);
    assert.equal(psi(shares, new Float64Array(4)), 0, 'no events: no drift');
  });

  it('reads the example model profile: every model input, the scores', () => {
    const profile = loadProfile(PROFILE_PATH);
    assert.deepEqual(profile.features.map((f) => f.name).sort(), contract.inputs.map((i) => i.name).sort());
    for (const feature of profile.features) {
      const input = contract.inputs.find((i) => i.name === feature.name);
      assert.equal(feature.kind, input?.kind, feature.name);
      if (feature.kind === 'categorical') assert.deepEqual([...feature.categories].sort(), [...(input?.categories ?? [])].sort(), `${feature.name}: the profile's categories are the model's`);
    }
    assert.equal(profile.prediction?.shares.length, 10);
  });

  it('refuses a profile it cannot use, naming the file and the problem', () => {
    assert.throws(() => parseProfile({ features: { amount: { type: 'numeric', bin_edges: [2, 1], bin_shares: [0.3, 0.3, 0.4] } } }, 'p.json'), (e: unknown) => e instanceof ServiceError && /p\.json: feature "amount" bin_edges must increase/.test(e.message));
    assert.throws(() => parseProfile({ features: { x: { type: 'numeric', bin_edges: [1], bin_shares: [1] } } }, 'p.json'), /needs 2 bin_shares/);
    assert.throws(() => parseProfile({ nothing: 1 }, 'p.json'), /no "features" object/);
  });

  it('sees no drift in a stream that follows the profile', () => {
    const scenario = defaultScenario();
    const sampler = new ProfileSampler(3);
    const monitor = new DriftMonitor(loadProfile(PROFILE_PATH), options(scenario, 'offline'));
    const events: ProfileEvent[] = [];
    for (let k = 0; k < 8_000; k += 1) events.push(sampler.event(scenario.start + Math.floor((k * scenario.windowMs) / 1_000)));
    feed(monitor, events, () => sampler.score());
    monitor.finish();
    const report = monitor.report();
    assert.equal(report.windowsEvaluated, 8);
    assert.deepEqual(driftedColumns(report), []);
    for (const column of report.columns) {
      for (const measure of column.measures) assert.ok((measure.current ?? 1) < measure.threshold / 2, `${column.column} ${measure.measure} ${measure.current} is well under its threshold`);
    }
  });
});

describe('drift: an injected shift is found, with its onset', () => {
  const scenario = defaultScenario();
  const within = (actual: number | undefined, truth: number): boolean => actual !== undefined && Math.abs(actual - truth) <= scenario.windowMs;

  for (const mode of ['live', 'offline'] as const) {
    it(`${mode}: names the new category's column and the moved column, onsets within one window, nothing else`, () => {
      const sampler = new ProfileSampler(11);
      const events = scenarioEvents(scenario, sampler);
      const monitor = new DriftMonitor(loadProfile(PROFILE_PATH), options(scenario, mode));
      const seen: DriftEvent[] = [];
      monitor.onEvent((e) => seen.push(e));
      feed(monitor, events, () => sampler.score());
      if (mode === 'offline') monitor.finish();
      const report = monitor.report();

      assert.deepEqual(driftedColumns(report).sort(), ['amount', 'channel']);
      assert.ok(!driftedColumns(report).includes(PREDICTION_COLUMN));

      const channel = report.columns.find((c) => c.column === 'channel');
      const unknownRate = channel?.measures.find((m) => m.measure === 'unknown_rate');
      assert.ok(unknownRate?.drifting, 'channel is drifting on unknown_rate');
      assert.ok(within(unknownRate.since, scenario.unknown.from), `channel onset ${new Date(unknownRate.since ?? 0).toISOString()} within a window of ${new Date(scenario.unknown.from).toISOString()}`);
      assert.ok((unknownRate.firstSeen ?? 0) >= scenario.unknown.from && (unknownRate.firstSeen ?? 0) - scenario.unknown.from < 60_000, 'first unknown value right after the truth');
      assert.ok((unknownRate.current ?? 0) > 0.05 && (unknownRate.current ?? 1) < 0.15, `now ${unknownRate.current} (10 % injected)`);
      assert.equal(channel?.topUnknownValues[0]?.value, 'crypto_wallet');
      assert.equal(channel?.measures.find((m) => m.measure === 'psi')?.drifting, false, 'the known channels keep their shares');

      const amount = report.columns.find((c) => c.column === 'amount')?.measures.find((m) => m.measure === 'psi');
      assert.ok(amount?.drifting, 'amount is drifting on psi');
      assert.ok(within(amount.since, scenario.shift.from), `amount onset ${new Date(amount.since ?? 0).toISOString()} within a window of ${new Date(scenario.shift.from).toISOString()}`);
      assert.ok((amount.current ?? 0) > 0.5, `amount PSI now ${amount.current}`);

      // One structured event per onset, none for columns that did not change.
      assert.deepEqual(seen.filter((e) => e.type === 'onset').map((e) => `${e.column}/${e.measure}`).sort(), ['amount/psi', 'channel/unknown_rate']);
      assert.equal(seen.filter((e) => e.type === 'cleared').length, 0);
      const onset = seen.find((e) => e.column === 'channel');
      assert.equal(onset?.topValues?.[0]?.value, 'crypto_wallet');

      const text = formatDriftReport(report);
      assert.match(text, /drifting now: (channel, amount|amount, channel)/);
      assert.match(text, /channel\s+unknown_rate\s+0\.\d+\s+0\.0100\s+\S*\s+DRIFTING since 2026-03-01T00:(40|50):00Z; unknown values since 2026-03-01T00:45:0\dZ; "crypto_wallet" ×\d+/);
      assert.match(text, /amount\s+psi\s+\d+\.\d+\s+0\.2000\s+\S*\s+DRIFTING since 2026-03-01T01:(10|20):00Z/);
    });
  }

  it('ends an episode when the column comes back, and keeps it in the report', () => {
    const sampler = new ProfileSampler(5);
    const monitor = new DriftMonitor(loadProfile(PROFILE_PATH), options(scenario, 'offline'));
    const seen: DriftEvent[] = [];
    monitor.onEvent((e) => seen.push(e));
    const events: ProfileEvent[] = [];
    for (let k = 0; k < 6_000; k += 1) {
      const time = scenario.start + Math.floor((k * scenario.windowMs) / 1_000);
      const event = sampler.event(time);
      const window = Math.floor((time - scenario.start) / scenario.windowMs);
      if (window === 2 || window === 3) if (sampler.random() < 0.5) event.card_type = 'virtual';
      events.push(event);
    }
    feed(monitor, events, () => sampler.score());
    monitor.finish();
    const card = monitor.report().columns.find((c) => c.column === 'card_type')?.measures.find((m) => m.measure === 'unknown_rate');
    assert.equal(card?.drifting, false);
    assert.deepEqual(card?.episodes.map((e) => [e.onset - scenario.start, e.end === undefined ? undefined : e.end - scenario.start, e.windows]), [[2 * scenario.windowMs, 4 * scenario.windowMs, 2]]);
    assert.deepEqual(seen.map((e) => `${e.type} ${e.column}`), ['onset card_type', 'cleared card_type']);
    assert.match(formatDriftReport(monitor.report()), /card_type\s+unknown_rate\s+0\s+0\.0100\s+\S*\s+drifted 2026-03-01T00:20:00Z \.\. 2026-03-01T00:40:00Z/);
  });

  it('live: counts events for a window already evaluated as late instead of changing it', () => {
    const sampler = new ProfileSampler(9);
    const monitor = new DriftMonitor(loadProfile(PROFILE_PATH), { ...options(scenario, 'live'), minWindowEvents: 10 });
    const at = (w: number) => Array.from({ length: 20 }, (_, i) => sampler.event(scenario.start + w * scenario.windowMs + i));
    feed(monitor, [...at(0), ...at(1), ...at(2)], () => sampler.score());
    assert.equal(monitor.report().windowsEvaluated, 1, 'window 0 closed once the watermark was a window past its end');
    feed(monitor, at(0), () => sampler.score());
    assert.equal(monitor.lateEvents, 20);
  });

  it('live: an event from the far future does not move the windows', () => {
    const sampler = new ProfileSampler(9);
    const now = scenario.start + 3 * scenario.windowMs;
    const monitor = new DriftMonitor(loadProfile(PROFILE_PATH), { ...options(scenario, 'live'), minWindowEvents: 10, now: () => now });
    const at = (time: number, n = 20) => Array.from({ length: n }, (_, i) => sampler.event(time + i));
    feed(monitor, [...at(scenario.start), ...at(Date.UTC(2100, 0, 1), 1), ...at(scenario.start + 10)], () => sampler.score());
    assert.equal(monitor.lateEvents, 1, 'the future event is not counted');
    assert.equal(monitor.report().windowsEvaluated, 0, 'and closed no window');
  });
});

describe('drift: command-line arguments', () => {
  it('takes --since as ISO, epoch ms or a duration back from now', () => {
    const now = Date.UTC(2026, 5, 1);
    assert.equal(parseSince('2026-03-01T00:00:00Z', now), Date.UTC(2026, 2, 1));
    assert.equal(parseSince('1772323200000', now), 1772323200000);
    assert.equal(parseSince('6h', now), now - 6 * 3_600_000);
    assert.throws(() => parseSince('yesterday', now), /expected an ISO time/);
    assert.deepEqual(parseDriftArgs(['--json', '--since=2d', '--service', 'http://127.0.0.1:9464/'], now), { json: true, since: now - 2 * 86_400_000, service: 'http://127.0.0.1:9464' });
    assert.throws(() => parseDriftArgs(['--what']), /unknown option/);
  });
});

describe('drift: missing values, scores, ranges (issue 16)', () => {
  const scenario = defaultScenario();

  function stream(seed: number, windows: number, change: (event: ProfileEvent, window: number, sampler: ProfileSampler) => void): { sampler: ProfileSampler; events: ProfileEvent[] } {
    const sampler = new ProfileSampler(seed);
    const events: ProfileEvent[] = [];
    for (let k = 0; k < windows * 1_000; k += 1) {
      const time = scenario.start + Math.floor((k * scenario.windowMs) / 1_000);
      const event = sampler.event(time);
      change(event, Math.floor((time - scenario.start) / scenario.windowMs), sampler);
      events.push(event);
    }
    return { sampler, events };
  }

  it('a column going null: missing rate against the training null rate, onset and first missing value', () => {
    const from = scenario.start + 3.5 * scenario.windowMs;
    const { sampler, events } = stream(21, 8, (event, _w, s) => {
      if ((event.event_time as number) >= from && s.random() < 0.2) event.distance_from_home_km = null;
    });
    const monitor = new DriftMonitor(loadProfile(PROFILE_PATH), options(scenario, 'offline'));
    feed(monitor, events, () => sampler.score());
    monitor.finish();
    const report = monitor.report();
    const missing = report.columns.find((c) => c.column === 'distance_from_home_km')?.measures.find((m) => m.measure === 'missing_rate');
    assert.ok(missing?.drifting, 'distance_from_home_km missing_rate drifting');
    assert.equal(missing.baseline, 0, 'the training null rate');
    assert.equal(missing.since, scenario.start + 3 * scenario.windowMs);
    assert.ok((missing.firstSeen ?? 0) >= from && (missing.firstSeen ?? 0) < from + 60_000, 'first missing value right after the truth');
    assert.ok(Math.abs((missing.current ?? 0) - 0.2) < 0.04, `now ${missing.current}`);
    assert.deepEqual(driftedColumns(report), ['distance_from_home_km'], 'PSI over the values left does not move: only the missing rate says it');
    assert.equal(report.deadLetters[0]?.reason, 'MISSING_FIELD');
    assert.equal(report.deadLetters[0]?.column, 'distance_from_home_km');
    const text = formatDriftReport(report);
    assert.match(text, /distance_from_home_km\s+missing_rate\s+0\.\d+\s+0\.0100\s+\S*\s+DRIFTING since 2026-03-01T00:30:00Z; training 0\.0 %; missing values since 2026-03-01T00:35:0\d/);
    assert.match(text, /dead letters in these windows .*: MISSING_FIELD distance_from_home_km ×\d+/);
  });

  it('direction and size of a numeric shift, per window in the JSON', () => {
    const profile = loadProfile(PROFILE_PATH);
    const risk = profile.features.find((f) => f.name === 'merchant_risk_score');
    assert.ok(risk?.kind === 'numeric' && risk.std !== undefined);
    const { sampler, events } = stream(23, 6, (event, window) => {
      if (window >= 3) event.merchant_risk_score = Math.fround(Math.min(1, (event.merchant_risk_score as number) + 0.15));
    });
    const monitor = new DriftMonitor(profile, options(scenario, 'offline'));
    feed(monitor, events, () => sampler.score());
    monitor.finish();
    const report = monitor.report();
    const column = report.columns.find((c) => c.column === 'merchant_risk_score');
    const truth = 0.15 / risk.std;
    // The sampler draws uniformly inside the profile's decile bins, so its own mean sits a little
    // above the training mean (the top decile runs to the max): the move is measured from it.
    const perWindow = report.recentWindows.map((w) => w.values?.merchant_risk_score?.mean_shift_sd ?? Number.NaN);
    const stable = perWindow.slice(0, 3).reduce((a, b) => a + b, 0) / 3;
    assert.ok(Math.abs(stable) < 0.25, `stable windows ${perWindow}`);
    assert.ok(perWindow.slice(3).every((v) => Math.abs(v - stable - truth) < 0.1), `shifted windows ${perWindow}, truth +${truth} sd from ${stable}`);
    assert.ok(Math.abs((column?.direction?.meanShiftSd ?? 0) - stable - truth) < 0.1, `latest window: mean shift ${column?.direction?.meanShiftSd} sd`);
    assert.ok((column?.direction?.medianShiftSd ?? 0) > 0.5 * truth, 'median up too');
    assert.match(formatDriftReport(report), /merchant_risk_score\s+psi\s+\d+\.\d+\s+0\.2000\s+\S+\s+DRIFTING since 2026-03-01T00:30:00Z; up: mean 0\.2\d\d \(training 0\.126, \+0\.1\d+, \+1\.\d sd\)/);
  });

  it('a change that began before the range read is "since before", not cut at the range', () => {
    const { sampler, events } = stream(25, 8, (event, window) => {
      if (window >= 2) event.amount = (event.amount as number) * 4;
    });
    const rangeStart = scenario.start + 4 * scenario.windowMs;
    const monitor = new DriftMonitor(loadProfile(PROFILE_PATH), { ...options(scenario, 'offline'), rangeStart });
    // Scores are fed by the event time they carry, like predictions read back from the topic:
    // those of events before the range must not make windows of their own.
    feed(monitor, events, () => sampler.score());
    for (const event of events) monitor.observeScore(event.event_time as number, sampler.score());
    monitor.finish();
    const report = monitor.report();
    assert.equal(report.windowsEvaluated, 4);
    assert.equal(report.windowsSkipped, 0, 'no window of predictions without events');
    const amount = report.columns.find((c) => c.column === 'amount')?.measures.find((m) => m.measure === 'psi');
    assert.equal(amount?.since, rangeStart);
    assert.equal(amount?.sinceBefore, true);
    assert.match(formatDriftReport(report), /amount\s+psi\s.*DRIFTING since before 2026-03-01T00:40:00Z/);
  });

  it('reads profiles without the new fields: equal-width score bins, the labelled share at 0.5, no null rate', () => {
    const profile = parseProfile(
      {
        features: { amount: { type: 'numeric', bin_edges: [1, 2], bin_shares: [0.3, 0.3, 0.4] } },
        prediction: { bin_edges: [0, 0.5, 1], bin_shares: [0.9, 0.1], label_1_share: 0.1 },
      },
      'old.json',
    );
    assert.equal(profile.features[0]?.nullShare, 0);
    assert.equal(profile.prediction?.quantileEdges, undefined);
    assert.equal(profile.prediction?.positiveRates.get(0.5), 0.1);
    const monitor = new DriftMonitor(profile, { ...options(scenario, 'offline'), positiveThresholds: [0.5, 0.9] });
    assert.deepEqual(monitor.positiveThresholds, [0.5], 'no training rate at 0.9: not watched');
  });

  it('the example profile has training score quantile bins and positive rates', () => {
    const prediction = loadProfile(PROFILE_PATH).prediction;
    assert.ok(prediction?.quantileEdges && prediction.quantileShares);
    // Every quantile bin holds a known share: the tail (where p1 >= 0.5 lives) has bins of its own.
    assert.ok((prediction.quantileShares.at(-1) ?? 0) <= 0.011);
    assert.ok(Math.abs((prediction.positiveRates.get(0.5) ?? 0) - 0.0129) < 0.002, 'held-out share >= 0.5 (103 of 8,000)');
  });
});

describe('drift: a multi-class model, per class', () => {
  it('flags the class whose predicted share moved, not the others', () => {
    const windowMs = 600_000;
    const start = Date.UTC(2026, 2, 1);
    const profile = parseProfile(
      {
        model: 'three-class',
        features: { x: { type: 'numeric', count: 100, null_count: 0, mean: 0.5, std: 0.29, bin_edges: [0.25, 0.5, 0.75], bin_shares: [0.25, 0.25, 0.25, 0.25] } },
        prediction: { bin_edges: [0, 0.5, 1], bin_shares: [0.5, 0.5], quantile_bin_edges: [0.5], quantile_bin_shares: [0.5, 0.5], mean: 0.5, std: 0.29, class_shares: { low: 0.6, mid: 0.3, high: 0.1 } },
      },
      'three-class.json',
    );
    const monitor = new DriftMonitor(profile, { windowMs, minWindowEvents: 200, psiThreshold: 0.2, predictionPsiThreshold: 0.2, unknownRateThreshold: 0.01, positiveThresholds: [], mode: 'offline', eventTimeField: 'event_time' });
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let w = 0; w < 6; w += 1) {
      const n = 2_000;
      const high = w >= 3 ? 0.25 : 0.1;
      const events = Array.from({ length: n }, (_, i) => ({ event_time: start + w * windowMs + i * 100 }));
      const x = Float32Array.from(events, () => random());
      const scores = Float64Array.from(events, () => random());
      const labels = events.map(() => {
        const u = random();
        return u < high ? 'high' : u < high + (1 - high) / 3 ? 'mid' : 'low';
      });
      const rows = Int32Array.from(events, (_, i) => i);
      const chunk: ChunkObservation = {
        from: 0,
        events,
        rejections: new Array(n),
        rows,
        features: { rowCount: n, rows, tensors: [], numeric: new Map([['x', x]]), categorical: new Map(), flags: new Map() },
        scores,
        labels,
        rowRejections: new Array(n),
      };
      monitor.observeChunk(chunk, []);
    }
    monitor.finish();
    const report = monitor.report();
    const share = (label: string) => report.columns.find((c) => c.column === `prediction[${label}]`)?.measures.find((m) => m.measure === 'class_share');
    assert.equal(share('high')?.since, start + 3 * windowMs, 'the class that moved from 10 % to 25 %');
    assert.equal(share('high')?.baseline, 0.1);
    assert.equal(share('low')?.episodes.length, 0, 'low went from 60 % to 50 %: under the 30 % change');
    assert.equal(share('mid')?.episodes.length, 0);
    assert.match(formatDriftReport(report), /prediction\[high\]\s+class_share\s+0\.2\d+\s+0\.3000\s+\S+\s+DRIFTING since 2026-03-01T00:30:00Z; training 10\.0 % \(\+1\d\d %\)/);
  });
});
