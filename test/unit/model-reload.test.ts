import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type CandidateInputs, type CandidateResult, ModelHolder, ModelReloader, type ReloadOutcome, type ServingModel, loadCandidate } from '../../src/model/reload';
import { sha256File } from '../../src/model/integrity';
import { watchModel } from '../../src/model/watch';
import { inputDecoder } from '../../src/formats/input';
import { type Prepared, prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { MODEL_PATH, ROOT, testConfig } from '../support/model';

const ZOO_LIGHTGBM = join(ROOT, 'models/zoo/lightgbm');

/** A model folder: model.onnx (a copy of `from`), and optionally a manifest and reference.json. */
function modelFolder(from: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'scorer-reload-'));
  copyFileSync(from, join(dir, 'model.onnx'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return join(dir, 'model.onnx');
}

const V1 = 'name: card-fraud\nversion: "1.0.0"\n';
const V2 = 'name: card-fraud\nversion: "2.0.0"\n';

async function serving(modelPath: string): Promise<{ prepared: Prepared; current: ServingModel }> {
  const config = testConfig({ MODEL_PATH: modelPath });
  const prepared = await prepare(config, createLogger('silent'));
  const current: ServingModel = { model: prepared.model, prediction: prepared.prediction, deadLetter: prepared.deadLetter, decoder: prepared.decoder, sha256: prepared.modelSha256, profile: undefined };
  return { prepared, current };
}

function inputsFor(prepared: Prepared, current: ServingModel, env: Record<string, string>): CandidateInputs {
  const config = testConfig(env);
  return { config, reader: prepared.reader, eventFields: prepared.eventFields, current, decoderFor: (required) => inputDecoder(config, { required }) };
}

function refusal(result: CandidateResult): { check: string; file: string; reason: string } {
  assert.equal(result.ok, false, 'the candidate is refused');
  if (result.ok) throw new Error('unreachable');
  return result;
}

describe('model hot swap: the reload decision', () => {
  it('accepts a model reading the same schema, with the new version in the prediction and dead-letter contexts', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    assert.equal(current.prediction.modelVersion, '1.0.0');
    writeFileSync(join(path, '..', 'manifest.yaml'), V2);
    const result = await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path }));
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.serving.prediction.modelName, 'card-fraud');
    assert.equal(result.serving.prediction.modelVersion, '2.0.0');
    assert.equal(result.serving.deadLetter.modelVersion, '2.0.0');
    assert.equal(result.serving.deadLetter.consumerGroup, current.deadLetter.consumerGroup);
    assert.equal(result.serving.decoder, current.decoder, 'same required inputs: the decoder is kept');
    assert.notEqual(result.serving.model.session, current.model.session, 'a session of its own, beside the old one');
    assert.equal(result.serving.profile, undefined, 'no profile.json next to it');
    await result.serving.model.session.release();
  });

  it('picks up profile.json and reference.json next to the new model', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    copyFileSync(join(ROOT, 'models/card-fraud/profile.json'), join(path, '..', 'profile.json'));
    copyFileSync(join(ROOT, 'models/card-fraud/reference.json'), join(path, '..', 'reference.json'));
    const result = await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path }));
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.serving.profile?.path, join(path, '..', 'profile.json'));
    await result.serving.model.session.release();
  });

  it('refuses a truncated file (contract check), naming the file', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 3)));
    const r = refusal(await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path })));
    assert.equal(r.check, 'contract');
    assert.equal(r.file, path);
    assert.match(r.reason, /not a readable ONNX model/);
  });

  it('refuses a model whose inputs the input schema cannot feed (schema fit)', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    copyFileSync(join(ZOO_LIGHTGBM, 'model.onnx'), path);
    copyFileSync(join(ZOO_LIGHTGBM, 'manifest.yaml'), join(path, '..', 'manifest.yaml'));
    const r = refusal(await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path })));
    assert.equal(r.check, 'schema fit');
    assert.equal(r.file, join(path, '..', 'manifest.yaml'));
    assert.match(r.reason, /INPUT_SCHEMA=/);
  });

  it('refuses a file that does not match MODEL_SHA256, and accepts the pinned one', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const pin = sha256File(path);
    const { prepared, current } = await serving(path);
    copyFileSync(join(ZOO_LIGHTGBM, 'model.onnx'), path);
    const r = refusal(await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path, MODEL_SHA256: pin })));
    assert.equal(r.check, 'integrity');
    assert.match(r.reason, new RegExp(`MODEL_SHA256=${pin}`));
    copyFileSync(MODEL_PATH, path);
    const ok = await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path, MODEL_SHA256: pin }));
    assert.ok(ok.ok, JSON.stringify(ok));
    await ok.serving.model.session.release();
  });

  it('refuses an invalid manifest (contract), naming the manifest', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    writeFileSync(join(path, '..', 'manifest.yaml'), 'name: card-fraud\nversion: "2.0.0"\ninputs: 7\n');
    const r = refusal(await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path })));
    assert.equal(r.check, 'contract');
    assert.equal(r.file, join(path, '..', 'manifest.yaml'));
  });

  it('refuses a missing file (read check)', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    const r = refusal(await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: join(path, '..', 'gone.onnx') })));
    assert.equal(r.check, 'read');
  });

  it('refuses a model whose reference events do not pass its checks (reference)', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    const reference = JSON.parse(readFileSync(join(ROOT, 'models/card-fraud/reference.json'), 'utf8')) as { events: { event: Record<string, unknown> }[] };
    (reference.events[3] as { event: Record<string, unknown> }).event.merchant_category = 'no-such-category';
    writeFileSync(join(path, '..', 'reference.json'), JSON.stringify(reference));
    const r = refusal(await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path })));
    assert.equal(r.check, 'reference');
    assert.match(r.reason, /reference event 3/);
  });

  it('refuses a broken profile.json (profile)', async () => {
    const path = modelFolder(MODEL_PATH, { 'manifest.yaml': V1 });
    const { prepared, current } = await serving(path);
    writeFileSync(join(path, '..', 'profile.json'), '{"not": "a profile"}');
    const r = refusal(await loadCandidate(inputsFor(prepared, current, { MODEL_PATH: path })));
    assert.equal(r.check, 'profile');
    assert.equal(r.file, join(path, '..', 'profile.json'));
  });
});

/** A ServingModel whose session only counts releases. */
function fakeServing(version: string, released: string[]): ServingModel {
  const session = { release: async () => void released.push(version) };
  return {
    model: { session } as unknown as ServingModel['model'],
    prediction: { modelName: 'm', modelVersion: version } as ServingModel['prediction'],
    deadLetter: { consumerGroup: 'g', modelName: 'm', modelVersion: version },
    decoder: {} as ServingModel['decoder'],
    sha256: version,
    profile: undefined,
  };
}

describe('model hot swap: holder and reloader', () => {
  it('a batch keeps the model it leased; the old session is released when its last batch is done', async () => {
    const released: string[] = [];
    const holder = new ModelHolder(fakeServing('1', released));
    const inFlight = holder.acquire();
    let swapped = false;
    const swap = holder.swap(fakeServing('2', released)).then(() => {
      swapped = true;
    });
    assert.equal(inFlight.serving.prediction.modelVersion, '1');
    assert.equal(holder.acquire().serving.prediction.modelVersion, '2', 'batches after the swap get the new model');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(released, [], 'not released while a batch uses it');
    assert.equal(swapped, false);
    inFlight.release();
    inFlight.release();
    await swap;
    assert.deepEqual(released, ['1'], 'released once');
  });

  it('refused: the serving model stays, the outcome names the check; ok: swapped, previous named', async () => {
    const released: string[] = [];
    const holder = new ModelHolder(fakeServing('1', released));
    const outcomes: ReloadOutcome[] = [];
    let next: CandidateResult = { ok: false, check: 'schema fit', file: '/m/manifest.yaml', reason: 'cannot feed input' };
    const reloader = new ModelReloader(holder, async () => next, (o) => outcomes.push(o));
    const refused = await reloader.reload('admin');
    assert.equal(refused.result, 'refused');
    assert.equal(refused.check, 'schema fit');
    assert.equal(refused.model.version, '1');
    assert.equal(holder.current.prediction.modelVersion, '1');
    next = { ok: true, serving: fakeServing('2', released) };
    const ok = await reloader.reload('SIGHUP');
    assert.equal(ok.result, 'ok');
    assert.equal(ok.model.version, '2');
    assert.equal(ok.previous?.version, '1');
    assert.equal(holder.current.prediction.modelVersion, '2');
    assert.deepEqual(released, ['1']);
    assert.deepEqual(
      outcomes.map((o) => o.result),
      ['refused', 'ok'],
    );
  });

  it('reloads run one at a time', async () => {
    const holder = new ModelHolder(fakeServing('1', []));
    let running = 0;
    let most = 0;
    let n = 1;
    const reloader = new ModelReloader(
      holder,
      async () => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 10));
        running -= 1;
        n += 1;
        return { ok: true, serving: fakeServing(String(n), []) };
      },
      () => undefined,
    );
    await Promise.all([reloader.reload('watch'), reloader.reload('poll'), reloader.reload('admin')]);
    assert.equal(most, 1);
    assert.equal(holder.current.prediction.modelVersion, '4');
  });
});

describe('model hot swap: the folder watcher', () => {
  /** A Kubernetes ConfigMap volume: model.onnx -> ..data/model.onnx, ..data -> ..<version>. */
  function configMapVolume(): { dir: string; swap: (manifest: string) => void } {
    const dir = mkdtempSync(join(tmpdir(), 'scorer-cm-'));
    let n = 0;
    const version = (manifest: string): string => {
      n += 1;
      const name = `..v${n}`;
      mkdirSync(join(dir, name));
      copyFileSync(MODEL_PATH, join(dir, name, 'model.onnx'));
      writeFileSync(join(dir, name, 'manifest.yaml'), manifest);
      return name;
    };
    symlinkSync(version(V1), join(dir, '..data'));
    symlinkSync('..data/model.onnx', join(dir, 'model.onnx'));
    symlinkSync('..data/manifest.yaml', join(dir, 'manifest.yaml'));
    return {
      dir,
      swap: (manifest) => {
        const name = version(manifest);
        symlinkSync(name, join(dir, '..data_tmp'));
        renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      },
    };
  }

  for (const how of ['watch', 'poll'] as const) {
    it(`sees an atomic ..data symlink swap (${how}) once, and not a swap to the same content`, async () => {
      const volume = configMapVolume();
      const seen: string[] = [];
      const watcher = watchModel({
        modelPath: join(volume.dir, 'model.onnx'),
        companions: [join(volume.dir, 'manifest.yaml')],
        watch: how === 'watch',
        pollMs: how === 'poll' ? 50 : 0,
        debounceMs: 50,
        onChange: (h) => seen.push(h),
      });
      try {
        volume.swap(V2);
        const deadline = Date.now() + 5_000;
        while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        assert.deepEqual(seen, [how]);
        volume.swap(V2);
        await new Promise((r) => setTimeout(r, 400));
        assert.deepEqual(seen, [how], 'the same content again is no change');
      } finally {
        watcher.close();
      }
    });
  }
});
