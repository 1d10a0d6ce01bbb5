import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readTopic } from '../../src/kafka/reader';
import { H } from '../../src/output/headers';
import type { SourceMessage } from '../../src/records';
import { type RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { type Monitoring } from '../../src/telemetry/monitoring';
import { type VerifyReport, formatReport, verifyTopics } from '../../src/verify/verify';
import { type TestTopics, brokers, createTestTopics, testKafka, topicEnv } from '../support/kafka';
import { MODEL_PATH, PREDICTION_SCHEMA, ROOT } from '../support/model';
import { spawnScorer } from '../support/processes';
import { waitFor, startMonitoredScorer } from '../support/scorer';
import { metricMatching } from '../support/prometheus';
import { sendTraffic } from '../support/traffic';

/**
 * Issue 13, hot swap, on a real broker under steady traffic: a new model in a watched folder
 * (a Kubernetes ConfigMap's atomic ..data symlink swap) is swapped in between batches with
 * nothing lost or duplicated, and per partition every output before the swap point carries the
 * old version and every one after it the new one; a broken new model is refused while the old
 * one keeps scoring.
 */
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const V1 = 'name: card-fraud\nversion: "1.0.0"\n';
const V2 = 'name: card-fraud\nversion: "2.0.0"\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A ConfigMap-like volume: model.onnx -> ..data/model.onnx, manifest.yaml -> ..data/manifest.yaml, ..data -> ..vN. */
function configMapVolume(): { dir: string; modelPath: string; swap: (manifest: string, withProfile?: boolean) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'scorer-hot-swap-'));
  let n = 0;
  const version = (manifest: string, withProfile: boolean): string => {
    n += 1;
    const name = `..v${n}`;
    mkdirSync(join(dir, name));
    copyFileSync(MODEL_PATH, join(dir, name, 'model.onnx'));
    writeFileSync(join(dir, name, 'manifest.yaml'), manifest);
    if (withProfile) copyFileSync(join(ROOT, 'models/card-fraud/profile.json'), join(dir, name, 'profile.json'));
    return name;
  };
  symlinkSync(version(V1, false), join(dir, '..data'));
  for (const file of ['model.onnx', 'manifest.yaml', 'profile.json']) symlinkSync(`..data/${file}`, join(dir, file));
  return {
    dir,
    modelPath: join(dir, 'model.onnx'),
    swap: (manifest, withProfile = false) => {
      const name = version(manifest, withProfile);
      symlinkSync(name, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    },
  };
}

interface Output {
  readonly partition: number;
  readonly offset: bigint;
  readonly version: string;
  readonly kind: 'prediction' | 'dead letter';
}

function header(message: SourceMessage, name: string): string | undefined {
  const value = message.headers[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined || last === null ? undefined : last.toString();
}

/** Every output with the input position it answers and the model version that produced it. */
async function outputs(topics: TestTopics): Promise<Output[]> {
  const kafka = testKafka();
  const all: Output[] = [];
  for (const m of (await readTopic(kafka, topics.output, { readCommitted: false })).messages) {
    const p = predictionType.fromBuffer(m.value as Buffer) as { model_version: string; source: { partition: number; offset: number } };
    assert.equal(header(m, H.modelVersion), p.model_version, 'header and field name the same version');
    all.push({ partition: p.source.partition, offset: BigInt(p.source.offset), version: p.model_version, kind: 'prediction' });
  }
  for (const m of (await readTopic(kafka, topics.deadLetter, { readCommitted: false })).messages) {
    all.push({ partition: Number(header(m, H.sourcePartition)), offset: BigInt(header(m, H.sourceOffset) ?? '-1'), version: header(m, H.modelVersion) ?? '?', kind: 'dead letter' });
  }
  return all;
}

/** Per input partition, in offset order: the versions seen, with run lengths (e.g. 1.0.0×312 2.0.0×688). */
function versionRuns(all: readonly Output[]): Map<number, { version: string; count: number; from: bigint }[]> {
  const runs = new Map<number, { version: string; count: number; from: bigint }[]>();
  for (const o of [...all].sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))) {
    const list = runs.get(o.partition) ?? [];
    const last = list[list.length - 1];
    if (last?.version === o.version) last.count += 1;
    else list.push({ version: o.version, count: 1, from: o.offset });
    runs.set(o.partition, list);
  }
  return runs;
}

async function settle(topics: TestTopics, expected: number, timeoutMs = 60_000): Promise<VerifyReport> {
  const kafka = testKafka();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, false);
    if ((report.lost === 0 && report.eventsIn >= expected) || Date.now() > deadline) return report;
    await sleep(1_000);
  }
}

function metricValue(monitoring: Monitoring, pattern: RegExp): Promise<number | undefined> {
  return metricMatching(`${monitoring.server.url}/metrics`, pattern);
}

describe('integration: model hot swap', () => {
  const started: { service: RunningService; monitoring: Monitoring }[] = [];
  after(async () => {
    for (const { service, monitoring } of started) {
      await service.stop().catch(() => undefined);
      await monitoring.close().catch(() => undefined);
    }
  });

  async function start(topics: TestTopics, env: Record<string, string>): Promise<{ service: RunningService; monitoring: Monitoring }> {
    const { service, monitoring } = await startMonitoredScorer(topics, { HEALTH_PORT: '0', CONSUMER_MAX_BYTES_PER_PARTITION: '16384', ...env });
    monitoring.setReloader(() => service.reload('admin'));
    started.push({ service, monitoring });
    return { service, monitoring };
  }

  it('swaps a new model in from a watched ConfigMap folder under steady traffic: 0 lost, 0 duplicated, old version strictly before new per partition', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'hot-swap', 3);
    const volume = configMapVolume();
    const { service, monitoring } = await start(topics, { MODEL_PATH: volume.modelPath, MODEL_RELOAD_POLL_MS: '500', MODEL_RELOAD_DEBOUNCE_MS: '200' });
    assert.equal(service.modelVersion, '1.0.0');
    const total = 3_000;
    const traffic = sendTraffic(brokers(), topics.input, total, 200);
    await sleep(5_000);
    const swapAt = Date.now();
    volume.swap(V2, true);
    await waitFor(() => service.modelVersion === '2.0.0', 15_000, 'the new model to be swapped in');
    t.diagnostic(`swapped in ${Date.now() - swapAt} ms after the ..data swap`);
    assert.equal(await traffic, total);

    const report = await settle(topics, total);
    t.diagnostic(formatReport(report));
    assert.equal(report.eventsIn, total);
    assert.equal(report.lost, 0, `lost: ${report.lostSample.join(' ')}`);
    assert.equal(report.duplicated, 0);

    const all = await outputs(topics);
    assert.equal(all.length, total);
    const runs = versionRuns(all);
    t.diagnostic(`per partition: ${[...runs].map(([p, r]) => `${p}: ${r.map((x) => `${x.version}×${x.count} from ${x.from}`).join(', ')}`).join('; ')}`);
    let before = 0;
    let afterSwap = 0;
    for (const [partition, list] of runs) {
      const versions = list.map((r) => r.version);
      assert.ok(versions.length <= 2 && versions.every((v, i) => v === ['1.0.0', '2.0.0'][i + (versions[0] === '2.0.0' ? 1 : 0)]), `partition ${partition}: old version before new, never back: ${versions.join(' -> ')}`);
      for (const r of list) if (r.version === '1.0.0') before += r.count;
      else afterSwap += r.count;
    }
    assert.ok(before > 0 && afterSwap > 0, `traffic on both sides of the swap (${before} old, ${afterSwap} new)`);

    assert.equal(await metricValue(monitoring, /^stream_scorer_model_reloads_total\{.*result="ok"/), 1);
    assert.equal(await metricValue(monitoring, /^stream_scorer_model_reloads_total\{.*result="refused"/), 0);
    assert.equal(await metricValue(monitoring, /^stream_scorer_model_info\{.*model_version="2\.0\.0"/), 1);
    const ready = (await (await fetch(`${monitoring.server.url}/readyz`)).json()) as { status: string; model_reload?: { last: string; model_version: string } };
    assert.equal(ready.model_reload?.last, 'ok');
    assert.equal(ready.model_reload?.model_version, '2.0.0');
    assert.equal(monitoring.drift?.profile.source, join(volume.dir, 'profile.json'), 'drift follows the new model\'s profile');
  });

  it('refuses a broken new model (truncated file, then inputs the schema cannot feed) while the old one keeps scoring', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'hot-swap-refused', 3);
    const dir = mkdtempSync(join(tmpdir(), 'scorer-hot-swap-refused-'));
    const modelPath = join(dir, 'model.onnx');
    copyFileSync(MODEL_PATH, modelPath);
    writeFileSync(join(dir, 'manifest.yaml'), V1);
    const { service, monitoring } = await start(topics, { MODEL_PATH: modelPath, MODEL_RELOAD_WATCH: 'false', MODEL_RELOAD_POLL_MS: '0' });
    const total = 1_500;
    const traffic = sendTraffic(brokers(), topics.input, total, 150);
    await sleep(3_000);

    // A copy cut short (the admin endpoint).
    const bytes = readFileSync(MODEL_PATH);
    writeFileSync(modelPath, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const answer = await fetch(`${monitoring.server.url}/admin/reload`, { method: 'POST' });
    const refused = (await answer.json()) as { result: string; check: string; file: string; model: { version: string } };
    t.diagnostic(`POST /admin/reload -> ${answer.status} ${JSON.stringify(refused)}`);
    assert.equal(answer.status, 409);
    assert.equal(refused.result, 'refused');
    assert.equal(refused.check, 'contract');
    assert.equal(refused.file, modelPath);
    assert.equal(refused.model.version, '1.0.0');

    // A model reading another schema (what SIGHUP runs).
    copyFileSync(join(ROOT, 'models/zoo/lightgbm/model.onnx'), modelPath);
    copyFileSync(join(ROOT, 'models/zoo/lightgbm/manifest.yaml'), join(dir, 'manifest.yaml'));
    const second = await service.reload('SIGHUP');
    assert.equal(second.result, 'refused');
    assert.equal(second.check, 'schema fit');
    assert.equal(service.modelVersion, '1.0.0');

    const ready = (await (await fetch(`${monitoring.server.url}/readyz`)).json()) as { status: string; model_reload?: { last: string; check: string; reason: string } };
    t.diagnostic(`/readyz model_reload: ${JSON.stringify(ready.model_reload)}`);
    assert.equal(ready.model_reload?.last, 'refused');
    assert.equal(ready.model_reload?.check, 'schema fit');
    assert.equal(await metricValue(monitoring, /^stream_scorer_model_reloads_total\{.*result="refused"/), 2);
    assert.equal(await metricValue(monitoring, /^stream_scorer_model_reloads_total\{.*result="ok"/), 0);
    assert.equal(await metricValue(monitoring, /^stream_scorer_model_info\{.*model_version="1\.0\.0"/), 1);

    assert.equal(await traffic, total);
    const report = await settle(topics, total);
    t.diagnostic(formatReport(report));
    assert.equal(report.lost, 0);
    assert.equal(report.duplicated, 0);
    const all = await outputs(topics);
    assert.equal(all.length, total);
    assert.deepEqual([...new Set(all.map((o) => o.version))], ['1.0.0'], 'every output carries the old version');
    const ready2 = (await (await fetch(`${monitoring.server.url}/readyz`)).json()) as { status: string };
    assert.equal(ready2.status, 'ready', 'the old model serves: still ready');
  });

  it('stream-scorer run: SIGHUP swaps the model in and does not stop the process', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'hot-swap-sighup', 2);
    const dir = mkdtempSync(join(tmpdir(), 'scorer-hot-swap-sighup-'));
    const modelPath = join(dir, 'model.onnx');
    copyFileSync(MODEL_PATH, modelPath);
    writeFileSync(join(dir, 'manifest.yaml'), V1);
    const scorer = spawnScorer({ ...topicEnv(topics), MODEL_PATH: modelPath, MODEL_RELOAD_WATCH: 'false', MODEL_RELOAD_POLL_MS: '0' });
    try {
      await waitFor(() => scorer.joins() > 0, 60_000, 'the scorer to join its group');
      assert.equal(await sendTraffic(brokers(), topics.input, 200, 200), 200);
      const first = await settle(topics, 200, 30_000);
      assert.equal(first.lost, 0, 'the first 200 events are scored before the swap');
      writeFileSync(join(dir, 'manifest.yaml'), V2);
      scorer.child.kill('SIGHUP');
      await waitFor(() => /"event":"model_reload","result":"ok"/.test(scorer.output()), 30_000, 'the swap log line');
      assert.equal(scorer.child.exitCode, null, 'still running');
      assert.equal(await sendTraffic(brokers(), topics.input, 200, 200), 200);
      const report = await settle(topics, 400);
      t.diagnostic(formatReport(report));
      assert.equal(report.lost, 0);
      assert.equal(report.duplicated, 0);
      const versions = new Map<string, number>();
      for (const o of await outputs(topics)) versions.set(o.version, (versions.get(o.version) ?? 0) + 1);
      t.diagnostic(`versions: ${JSON.stringify(Object.fromEntries(versions))}`);
      assert.deepEqual(Object.fromEntries(versions), { '1.0.0': 200, '2.0.0': 200 });
    } finally {
      scorer.child.kill('SIGTERM');
      await scorer.exit;
    }
  });
});
