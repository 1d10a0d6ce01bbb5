import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { loadConfig } from '../../src/config/load';
import { ServiceError } from '../../src/errors';
import { ShadowScorer, compareShadow, loadShadowModel } from '../../src/model/shadow';
import { processBatch } from '../../src/pipeline';
import type { Rejection } from '../../src/errors';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import type { FeatureBatch } from '../../src/stages/check/contract-check';
import { createLogger } from '../../src/telemetry/logger';
import type { BatchObservation, ChunkObservation } from '../../src/telemetry/observation';
import { MODEL_PATH, referenceCases, testConfig } from '../support/model';

const REJECTED = { code: 'NON_FINITE_SCORE', stage: 'score', message: 'x' } as unknown as Rejection;

/** A chunk starting at batch index `from` whose scored rows are `rows` (chunk indexes). */
function chunk(from: number, rows: number[], scores: number[], labels?: (string | null)[], rejected: number[] = []): ChunkObservation {
  return {
    from,
    events: [],
    rejections: [],
    rows: Int32Array.from(rows),
    features: {} as FeatureBatch,
    scores: Float64Array.from(scores),
    ...(labels ? { labels } : {}),
    rowRejections: rows.map((_, r) => (rejected.includes(r) ? REJECTED : undefined)),
  };
}

function observation(...chunks: ChunkObservation[]): BatchObservation {
  return { chunks, stageSeconds: { decode: 0, check: 0, score: 0.001, encode: 0 }, processedAt: 0 };
}

describe('shadow scoring: agreement and score difference', () => {
  it('classifiers agree on the same label, whatever the scores; differences are |champion − challenger|', () => {
    const champion = observation(chunk(0, [0, 1, 2], [0.1, 0.6, 0.9], ['0', '1', '1']));
    const challenger = observation(chunk(0, [0, 1, 2], [0.3, 0.4, 0.9], ['0', '0', '1']));
    const c = compareShadow(champion, challenger, 0.01);
    assert.equal(c.agree, 2);
    assert.equal(c.disagree, 1);
    assert.deepEqual(
      c.differences.map((d) => Math.round(d * 1e9) / 1e9),
      [0.2, 0.2, 0],
    );
  });

  it('regressors (no labels) agree within the tolerance, inclusive', () => {
    const champion = observation(chunk(0, [0, 1, 2], [10, 20, 30], [null, null, null]));
    const challenger = observation(chunk(0, [0, 1, 2], [10.5, 21, 30], [null, null, null]));
    assert.deepEqual(compareShadow(champion, challenger, 0.5), { agree: 2, disagree: 1, differences: [0.5, 1, 0] });
    assert.deepEqual(compareShadow(champion, challenger, 0), { agree: 1, disagree: 2, differences: [0.5, 1, 0] });
  });

  it('pairs rows by batch index across chunks, and compares only events both published a prediction for', () => {
    // Champion: batch indexes 0, 2 (chunk 0) and 4, 5 (chunk 1, from 4); row 1 of chunk 1 (index 5) rejected by encode.
    const champion = observation(chunk(0, [0, 2], [0.1, 0.2], ['0', '0']), chunk(4, [0, 1], [0.7, 0.8], ['1', '1'], [1]));
    // Challenger: rejected index 2 at check (no row), scored 0, 4, 5.
    const challenger = observation(chunk(0, [0], [0.15], ['0']), chunk(4, [0, 1], [0.2, 0.8], ['0', '1']));
    const c = compareShadow(champion, challenger, 0.01);
    assert.equal(c.agree + c.disagree, 2, 'indexes 0 and 4 only');
    assert.equal(c.agree, 1);
    assert.equal(c.disagree, 1);
    assert.equal(c.differences.length, 2);
  });

  it('nothing to compare: zero counts', () => {
    assert.deepEqual(compareShadow(observation(), observation(chunk(0, [0], [0.5], ['1'])), 0.01), { agree: 0, disagree: 0, differences: [] });
  });

  it('a challenger that throws is caught, counted and gives no shadow batch; the next batch is scored', async () => {
    const champion = { ...(await prepare(testConfig(), createLogger('silent'))), tracer: trace.getTracer('test') };
    const challengerDeps = { ...champion, outputTopic: 'shadow', recordSpans: false };
    const errors: string[] = [];
    const scorer = new ShadowScorer(challengerDeps, { tolerance: 0.01, throwEvery: 2, logger: createLogger('silent'), onError: (kind) => errors.push(kind) });
    const messages: SourceMessage[] = referenceCases()
      .slice(0, 5)
      .map((c, i) => ({ topic: 'in', partition: 0, offset: String(i), key: Buffer.from(`k${i}`), value: champion.decoder.reader.toBuffer(c.event), headers: {}, timestamp: '1700000000000' }));
    const processed = await processBatch(champion, messages);
    const first = await scorer.score(messages, processed);
    assert.ok(first);
    assert.equal(first.processed.predictions.length, 5);
    assert.equal(first.comparison.agree, 5);
    assert.deepEqual(first.processed.predictions.map((p) => p.key?.toString()), processed.predictions.map((p) => p.key?.toString()));
    assert.equal(await scorer.score(messages, processed), undefined, 'the second batch throws (failpoint)');
    assert.deepEqual(errors, ['score']);
    assert.ok(await scorer.score(messages, processed), 'the third is scored again');
    scorer.disable('test');
    assert.equal(scorer.enabled, false);
    assert.equal(await scorer.score(messages, processed), undefined);
    assert.deepEqual(errors, ['score', 'write']);
    processed.finish();
    await champion.model.session.release();
  });
});

describe('shadow scoring: configuration', () => {
  const error = (env: Record<string, string>): ServiceError => {
    try {
      loadConfig(env);
    } catch (e) {
      assert.ok(e instanceof ServiceError);
      return e;
    }
    assert.fail('expected CONFIG_INVALID');
  };

  it('SHADOW_MODEL_PATH without SHADOW_TOPIC names SHADOW_TOPIC', () => {
    const e = error({ SHADOW_MODEL_PATH: '/models/challenger/model.onnx' });
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.match(e.message, /SHADOW_TOPIC is required when SHADOW_MODEL_PATH is set/);
  });

  it('SHADOW_TOPIC may not be OUTPUT_TOPIC or DEAD_LETTER_TOPIC', () => {
    assert.match(error({ SHADOW_MODEL_PATH: 'm.onnx', SHADOW_TOPIC: 'payments.scored' }).message, /SHADOW_TOPIC="payments.scored" is OUTPUT_TOPIC/);
    assert.match(error({ SHADOW_MODEL_PATH: 'm.onnx', SHADOW_TOPIC: 'x', DEAD_LETTER_TOPIC: 'x' }).message, /SHADOW_TOPIC="x" is DEAD_LETTER_TOPIC/);
  });

  it('SHADOW_MODEL_MANIFEST without SHADOW_MODEL_PATH is refused', () => {
    assert.match(error({ SHADOW_MODEL_MANIFEST: 'm.yaml' }).message, /SHADOW_MODEL_MANIFEST is set but SHADOW_MODEL_PATH is not/);
  });

  it('reads a complete shadow configuration; off by default', () => {
    const config = loadConfig({ SHADOW_MODEL_PATH: 'm.onnx', SHADOW_TOPIC: 'payments.shadow', SHADOW_AGREEMENT_TOLERANCE: '0.5' });
    assert.equal(config.shadowModelPath, 'm.onnx');
    assert.equal(config.shadowTopic, 'payments.shadow');
    assert.equal(config.shadowAgreementTolerance, 0.5);
    const off = loadConfig({});
    assert.equal(off.shadowModelPath, undefined);
    assert.equal(off.shadowAgreementTolerance, 0.01);
  });
});

describe('shadow scoring: the challenger is checked at start-up like the champion', () => {
  it('loads a challenger with its own manifest\'s version, and refuses a broken one naming SHADOW_MODEL_PATH and the check', async () => {
    const prepared = await prepare(testConfig(), createLogger('silent'));
    const current = { model: prepared.model, prediction: prepared.prediction, deadLetter: prepared.deadLetter, decoder: prepared.decoder, sha256: prepared.modelSha256, profile: undefined };
    const inputs = { reader: prepared.reader, eventFields: prepared.eventFields, current, decoderFor: () => prepared.decoder };
    const dir = mkdtempSync(join(tmpdir(), 'shadow-unit-'));
    copyFileSync(MODEL_PATH, join(dir, 'model.onnx'));
    writeFileSync(join(dir, 'manifest.yaml'), 'name: card-fraud\nversion: "2.0.0-challenger"\n');
    const serving = await loadShadowModel(testConfig({ SHADOW_MODEL_PATH: join(dir, 'model.onnx'), SHADOW_TOPIC: 'shadow', MODEL_VERSION: 'champion-only' }), inputs);
    assert.equal(serving.prediction.modelVersion, '2.0.0-challenger', 'MODEL_VERSION is the champion\'s; the challenger\'s manifest names its version');
    await serving.model.session.release();

    const broken = join(dir, 'broken.onnx');
    const bytes = readFileSync(MODEL_PATH);
    writeFileSync(broken, bytes.subarray(0, bytes.length >> 1));
    await assert.rejects(loadShadowModel(testConfig({ SHADOW_MODEL_PATH: broken, SHADOW_TOPIC: 'shadow' }), inputs), (error: unknown) => {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.code, 'MODEL_INVALID');
      assert.match(error.message, /^MODEL_INVALID: SHADOW_MODEL_PATH=.*broken\.onnx: the challenger model is refused by the contract check .*SHADOW_MODEL_PATH=.*not a readable ONNX model/);
      return true;
    });
    await prepared.model.session.release();
  });
});
