import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load';
import { ServiceError } from '../../src/errors';
import { sha256File, verifyModelFile } from '../../src/model/integrity';
import { prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { INPUT_SCHEMA, MODEL_PATH, PREDICTION_SCHEMA } from '../support/model';

const expected = createHash('sha256').update(readFileSync(MODEL_PATH)).digest('hex');

describe('model integrity (MODEL_SHA256)', () => {
  it('hashes the model file in chunks like sha256sum', () => {
    assert.equal(sha256File(MODEL_PATH), expected);
    const dir = mkdtempSync(join(tmpdir(), 'scorer-sha-'));
    const big = join(dir, 'big.bin');
    const content = Buffer.alloc(3 * (1 << 20) + 17, 7);
    writeFileSync(big, content);
    assert.equal(sha256File(big), createHash('sha256').update(content).digest('hex'));
  });

  it('accepts the pinned hash (any case) and returns the actual one when none is pinned', () => {
    assert.equal(verifyModelFile(MODEL_PATH, expected.toUpperCase()), expected);
    assert.equal(verifyModelFile(MODEL_PATH, undefined), expected);
  });

  it('refuses a different file, naming both hashes', () => {
    const pinned = 'ab'.repeat(32);
    try {
      verifyModelFile(MODEL_PATH, pinned);
      assert.fail('expected MODEL_INVALID');
    } catch (error) {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.code, 'MODEL_INVALID');
      assert.match(error.message, new RegExp(`sha256 ${expected}.*MODEL_SHA256=${pinned}`));
    }
  });

  it('the setting must look like a sha256', () => {
    assert.throws(() => loadConfig({ MODEL_SHA256: 'abc' }), /MODEL_SHA256="abc".*sha256 hex digest/);
  });

  it('prepare() refuses to start with a mismatching model before loading it', async () => {
    const config = loadConfig({ MODEL_PATH, INPUT_SCHEMA, PREDICTION_SCHEMA, MODEL_SHA256: '0'.repeat(64), LOG_LEVEL: 'silent' });
    await assert.rejects(prepare(config, createLogger('silent')), (error: unknown) => error instanceof ServiceError && error.code === 'MODEL_INVALID' && error.message.includes(expected));
    const ok = loadConfig({ MODEL_PATH, INPUT_SCHEMA, PREDICTION_SCHEMA, MODEL_SHA256: expected, LOG_LEVEL: 'silent' });
    const prepared = await prepare(ok, createLogger('silent'));
    assert.ok(prepared.model);
  });
});
