import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load';
import { SETTINGS } from '../../src/config/schema';
import { ServiceError } from '../../src/errors';

function errorOf(fn: () => unknown): ServiceError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ServiceError, `expected ServiceError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected an error');
}

describe('configuration', () => {
  it('has working defaults for the demo', () => {
    const config = loadConfig({});
    assert.deepEqual(config.kafkaBrokers, ['127.0.0.1:9092']);
    assert.equal(config.outputTopic, 'payments.scored');
    assert.equal(config.intraOpThreads, 1);
    assert.equal(config.modelName, undefined);
    assert.ok(Object.isFrozen(config));
  });

  it('reads and types environment values', () => {
    const config = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', SCORE_BATCH_MAX_EVENTS: '64', START_FROM: 'latest', MODEL_VERSION: '2.0.0' });
    assert.deepEqual(config.kafkaBrokers, ['a:1', 'b:2']);
    assert.equal(config.maxScoreBatch, 64);
    assert.equal(config.startFrom, 'latest');
    assert.equal(config.modelVersion, '2.0.0');
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ['non-integer', { SCORE_BATCH_MAX_EVENTS: 'lots' }, /SCORE_BATCH_MAX_EVENTS="lots".*not an integer/],
    ['out of range', { ORT_INTRA_OP_THREADS: '0' }, /ORT_INTRA_OP_THREADS="0".*between 1 and 64/],
    ['bad broker', { KAFKA_BROKERS: 'localhost' }, /KAFKA_BROKERS="localhost"/],
    ['bad enum', { START_FROM: 'middle' }, /START_FROM="middle".*one of earliest, latest/],
    ['bad topic', { OUTPUT_TOPIC: 'has space' }, /OUTPUT_TOPIC="has space"/],
  ];
  for (const [name, env, pattern] of bad) {
    it(`names the bad key: ${name}`, () => {
      const error = errorOf(() => loadConfig(env));
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.match(error.message, pattern);
    });
  }

  it('reports every bad key at once', () => {
    const error = errorOf(() => loadConfig({ SCORE_BATCH_MAX_EVENTS: 'x', CONSUMER_MAX_WAIT_MS: '-1' }));
    assert.match(error.message, /SCORE_BATCH_MAX_EVENTS/);
    assert.match(error.message, /CONSUMER_MAX_WAIT_MS/);
  });

  it('reads a JSON file; the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scorer-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ OUTPUT_TOPIC: 'from-file', KAFKA_GROUP_ID: 'file-group', KAFKA_BROKERS: ['x:1', 'y:2'] }));
    const config = loadConfig({ STREAM_SCORER_CONFIG: file, KAFKA_GROUP_ID: 'env-group' });
    assert.equal(config.outputTopic, 'from-file');
    assert.equal(config.groupId, 'env-group');
    assert.deepEqual(config.kafkaBrokers, ['x:1', 'y:2']);
  });

  it('refuses unknown keys in a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scorer-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ OUTPUT_TOPICS: 'typo' }));
    assert.match(errorOf(() => loadConfig({ STREAM_SCORER_CONFIG: file })).message, /unknown setting\(s\) OUTPUT_TOPICS/);
  });

  it('EVENT_ID_FIELD= and EVENT_TIME_FIELD= (empty, in the environment or the file) mean "no such field", not the default', () => {
    const fromEnv = loadConfig({ EVENT_ID_FIELD: '', EVENT_TIME_FIELD: '  ' });
    assert.equal(fromEnv.eventIdField, '');
    assert.equal(fromEnv.eventTimeField, '');
    const dir = mkdtempSync(join(tmpdir(), 'scorer-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ EVENT_ID_FIELD: '', EVENT_TIME_FIELD: 'ts' }));
    const fromFile = loadConfig({ STREAM_SCORER_CONFIG: file });
    assert.equal(fromFile.eventIdField, '');
    assert.equal(fromFile.eventTimeField, 'ts');
    assert.equal(loadConfig({ STREAM_SCORER_CONFIG: file, EVENT_TIME_FIELD: '' }).eventTimeField, '', 'an empty variable wins over the file');
    // Everywhere else an empty value still means "not set".
    const others = loadConfig({ KAFKA_CLIENT_ID: '', OUTPUT_TOPIC: '' });
    assert.equal(others.kafkaClientId, 'stream-scorer');
    assert.equal(others.outputTopic, 'payments.scored');
    assert.equal(loadConfig({}).eventIdField, 'event_id');
  });

  it('EVENT_ID_FIELD must be a top-level Avro field name', () => {
    const error = errorOf(() => loadConfig({ EVENT_ID_FIELD: 'meta.id' }));
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.match(error.message, /EVENT_ID_FIELD="meta\.id" \(environment\): is not an Avro field name .*no dotted paths.*expected Avro field name, or empty for none/);
  });

  it('documents every setting', () => {
    for (const [key, setting] of Object.entries(SETTINGS)) {
      assert.ok(setting.doc.length > 10, `${key} needs a description`);
      assert.match(setting.env, /^[A-Z][A-Z0-9_]+$/);
    }
  });
});

describe('docs/configuration.md', () => {
  it('is the one generated from the schema (run `npm run docs:config` after changing a setting)', async () => {
    const { readFileSync } = await import('node:fs');
    const { configurationMarkdown } = await import('../../src/config/doc');
    assert.equal(readFileSync(join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8'), configurationMarkdown());
  });
});
