import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DriftReport } from '../../src/monitor/drift';
import { loadSchema } from '../../src/stages/decode';
import { defaultScenario } from '../support/drift-scenario';
import { jointScenarioEvents } from '../support/drift-changes';
import { brokers, createTestTopics, endOffsets, produce, testKafka } from '../support/kafka';
import { INPUT_SCHEMA, MODEL_PATH, PREDICTION_SCHEMA, ROOT } from '../support/model';
import { type ScorerProcess, spawnScorer } from '../support/processes';

/**
 * "What made the scores worse, since when?" end to end: events that follow the training
 * profile, with a new category in one column from a known moment and a numeric column that
 * moves from another, go through the real scorer; then `stream-scorer drift` reads the topics
 * (and asks the running scorer) and must name exactly those columns, with their onsets.
 */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', MODEL_PATH, INPUT_SCHEMA, PREDICTION_SCHEMA, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const FEATURE_KINDS = new Set(['numeric', 'categorical']);

function namedFeatureColumns(report: DriftReport): string[] {
  return report.columns.filter((c) => FEATURE_KINDS.has(c.kind) && c.measures.some((m) => m.episodes.length > 0)).map((c) => c.column).sort();
}

describe('integration: stream-scorer drift names what changed and since when', () => {
  const kafka = testKafka();
  let scorer: ScorerProcess | undefined;
  after(async () => {
    if (scorer && scorer.child.exitCode === null) {
      scorer.child.kill('SIGKILL');
      await scorer.exit;
    }
  });

  it('from the topics and from the running scorer: the new category and the moved column, onsets within one window, nothing else', async () => {
    const scenario = defaultScenario(600_000, 400);
    const topics = await createTestTopics(kafka, 'drift', 1);
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    // Whole held-out events (sample.json): the model scores them as it scored the test split.
    const events = jointScenarioEvents(scenario);
    for (let from = 0; from < events.length; from += 1_000) {
      await produce(
        kafka,
        topics.input,
        events.slice(from, from + 1_000).map((e) => ({ key: String(e.card_id), value: eventType.toBuffer(e) })),
      );
    }
    // Episodes kept across a restart: a compacted state topic (DRIFT_STATE_TOPIC).
    const stateTopic = `${topics.output}.drift-state`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: stateTopic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await admin.disconnect();
    const env = {
      DRIFT_STATE_TOPIC: stateTopic,
      KAFKA_BROKERS: brokers().join(','),
      INPUT_TOPICS: topics.input,
      OUTPUT_TOPIC: topics.output,
      DEAD_LETTER_TOPIC: topics.deadLetter,
      KAFKA_GROUP_ID: topics.group,
      DRIFT_WINDOW_SECONDS: String(scenario.windowMs / 1000),
      DRIFT_MIN_WINDOW_EVENTS: '200',
      // A full 1 MB fetch of these events makes more than 1 MB of predictions, more than the
      // broker takes in one produce request (the output writer does not split it yet).
      CONSUMER_MAX_BYTES_PER_PARTITION: String(256 * 1024),
    };
    scorer = spawnScorer(env);
    const running = scorer;
    const total = events.length;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const outputs = [...(await endOffsets(kafka, topics.output)).values(), ...(await endOffsets(kafka, topics.deadLetter)).values()].reduce((a, b) => a + Number(b), 0);
      if (outputs >= total) break;
      assert.ok(Date.now() < deadline && running.child.exitCode === null, `scored ${outputs} of ${total}:\n${running.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    const within = (actual: number | undefined, truth: number): boolean => actual !== undefined && Math.abs(actual - truth) <= scenario.windowMs;
    const check = (report: DriftReport, source: string): void => {
      assert.deepEqual(namedFeatureColumns(report), ['amount', 'channel'], `${source}: only the changed columns`);
      const channel = report.columns.find((c) => c.column === 'channel');
      const unknownRate = channel?.measures.find((m) => m.measure === 'unknown_rate');
      assert.ok(unknownRate?.drifting, `${source}: channel drifting`);
      assert.ok(within(unknownRate.since, scenario.unknown.from), `${source}: channel onset ${unknownRate.since} vs ${scenario.unknown.from}`);
      assert.equal(channel?.topUnknownValues[0]?.value, scenario.unknown.value);
      const amount = report.columns.find((c) => c.column === 'amount')?.measures.find((m) => m.measure === 'psi');
      assert.ok(amount?.drifting, `${source}: amount drifting`);
      assert.ok(within(amount.since, scenario.shift.from), `${source}: amount onset ${amount.since} vs ${scenario.shift.from}`);
    };

    // The running scorer's own state: its /drift, and one structured log line per onset.
    const healthUrl = /"msg":"health and metrics server listening".*?"url":"(http:\/\/127\.0\.0\.1:\d+)"|"url":"(http:\/\/127\.0\.0\.1:\d+)".*?"msg":"health and metrics server listening"/.exec(running.output());
    const url = healthUrl?.[1] ?? healthUrl?.[2];
    assert.ok(url, 'the scorer logs its health server url');
    const live = await runCli(['drift', '--json', '--service', url], env);
    assert.equal(live.code, 0, live.stderr);
    const liveReport = JSON.parse(live.stdout) as DriftReport;
    check(liveReport, 'live');
    // The running scorer re-scored its latest drifting score window with its own model.
    assert.equal(liveReport.attribution?.columns[0]?.column, 'amount', `live attribution: ${JSON.stringify(liveReport.attribution?.columns.slice(0, 3))}`);
    const onsets = running
      .output()
      .split('\n')
      .filter((line) => line.includes('"event":"drift_onset"'))
      .map((line) => JSON.parse(line) as { column: string; measure: string; onset: string; window_start: string });
    assert.deepEqual(
      onsets.filter((o) => o.column !== 'prediction').map((o) => `${o.column}/${o.measure}`).sort(),
      ['amount/psi', 'channel/unknown_rate'],
      'one structured event per onset, for the changed columns only',
    );
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /stream_scorer_drift_active\{column="channel",measure="unknown_rate"\} 1/);
    assert.match(metrics, /stream_scorer_drift_active\{column="country",measure="unknown_rate"\} 0/);

    running.child.kill('SIGTERM');
    assert.equal(await running.exit, 0, running.output().slice(-2000));

    // A restart: the new process has no events left to read, only the state the old one saved.
    const restarted = spawnScorer(env);
    scorer = restarted;
    let restartedUrl: string | undefined;
    const restartDeadline = Date.now() + 60_000;
    while (!restartedUrl) {
      const found = /"msg":"health and metrics server listening".*?"url":"(http:\/\/127\.0\.0\.1:\d+)"|"url":"(http:\/\/127\.0\.0\.1:\d+)".*?"msg":"health and metrics server listening"/.exec(restarted.output());
      restartedUrl = found?.[1] ?? found?.[2];
      assert.ok(Date.now() < restartDeadline && restarted.child.exitCode === null, `restarted scorer:\n${restarted.output().slice(-2000)}`);
      if (!restartedUrl) await new Promise((r) => setTimeout(r, 100));
    }
    const restoredLine = restarted.output().split('\n').find((line) => line.includes('drift episodes and onsets restored'));
    assert.ok(restoredLine, `the restarted scorer restored its drift state:\n${restarted.output().slice(-2000)}`);
    const restoredLog = JSON.parse(restoredLine) as { ms: number; records: number };
    process.stdout.write(`# drift state read back at start-up in ${restoredLog.ms} ms (${restoredLog.records} record(s) on the state topic)\n`);
    const kept = await runCli(['drift', '--json', '--service', restartedUrl], env);
    assert.equal(kept.code, 0, kept.stderr);
    const keptReport = JSON.parse(kept.stdout) as DriftReport;
    assert.ok(keptReport.restoredFrom !== undefined, 'the live report says its episodes come from a saved state');
    check(keptReport, 'after a restart');
    const before = (JSON.parse(live.stdout) as DriftReport).columns.find((c) => c.column === 'channel')?.measures.find((m) => m.measure === 'unknown_rate')?.since;
    assert.equal(keptReport.columns.find((c) => c.column === 'channel')?.measures.find((m) => m.measure === 'unknown_rate')?.since, before, 'the same onset as before the restart');
    restarted.child.kill('SIGTERM');
    assert.equal(await restarted.exit, 0, restarted.output().slice(-2000));

    // From the topics, after the fact: the same answer.
    const fromTopics = await runCli(['drift', '--json'], env);
    assert.equal(fromTopics.code, 0, fromTopics.stderr);
    const report = JSON.parse(fromTopics.stdout) as DriftReport & { inputRecords: number; predictionRecords: number; complete: boolean };
    assert.equal(report.inputRecords, total);
    assert.ok(report.complete);
    check(report, 'topics');
    const text = await runCli(['drift'], env);
    assert.equal(text.code, 0, text.stderr);
    process.stdout.write(`# stream-scorer drift:\n${text.stdout.replace(/^/gm, '#   ')}\n`);
    assert.match(text.stdout, /drifting now: .*channel/);
    assert.match(text.stdout, /channel\s+unknown_rate\s.*DRIFTING since 2026-03-01T00:(40|50):00Z; unknown values since 2026-03-01T00:45:\d\d(\.\d+)?Z/);
    assert.match(text.stdout, /amount\s+psi\s.*DRIFTING since 2026-03-01T01:(10|20):00Z/);
    // A range that begins after the changes: their onsets are "since before" it, not cut at it,
    // and the predictions of earlier events (windowed by their event_time) make no window of their own.
    const ranged = await runCli(['drift', '--json', '--since', '2026-03-01T01:30:00Z'], env);
    assert.equal(ranged.code, 0, ranged.stderr);
    const rangedReport = JSON.parse(ranged.stdout) as DriftReport;
    assert.equal(rangedReport.windowsSkipped, 0, 'no window of predictions without events');
    assert.equal(rangedReport.firstWindowStart, Date.parse('2026-03-01T01:30:00Z'));
    const rangedAmount = rangedReport.columns.find((c) => c.column === 'amount')?.measures.find((m) => m.measure === 'psi');
    assert.equal(rangedAmount?.sinceBefore, true);
    const rangedText = await runCli(['drift', '--since', '2026-03-01T01:30:00Z'], env);
    assert.match(rangedText.stdout, /amount\s+psi\s.*DRIFTING since before 2026-03-01T01:30:00Z/);
    assert.match(rangedText.stdout, /channel\s+unknown_rate\s.*DRIFTING since before 2026-03-01T01:30:00Z/);
    // The scores move with amount (the model reacts to it), not with the unknown channel (never scored).
    const scores = report.columns.find((c) => c.column === 'prediction')?.measures[0];
    assert.ok(scores?.drifting, 'the scores moved with amount');
    assert.ok(within(scores.since, scenario.shift.from), `scores drift from the amount shift on, not before: ${scores.since}`);
    assert.match(text.stdout, /SCORES (up|down) since 2026-03-01T01:(10|20):00Z/);
    // Attribution: the drifting window re-scored with one column at a time put back.
    assert.ok(report.attribution, 'the score shift is attributed');
    assert.equal(report.attribution.columns[0]?.column, 'amount', `amount explains the score shift first: ${JSON.stringify(report.attribution.columns.slice(0, 3))}`);
    assert.match(text.stdout, /amount \([+−]\d+(\.\d+)?, [+−]\d\.\d sd\) explains \d+ %/);
  });
});
