import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import avro from 'avsc';
import { isolateDefects } from '../../src/defects';
import { ServiceError } from '../../src/errors';
import { CircuitBreaker } from '../../src/features/store/breaker';
import { type BatchLookup, FeatureStore, FeatureStoreUnavailableError, type KeyRequest } from '../../src/features/store/lookup';
import { STORE_ROOT, type StorePlan, parseKeyTemplate, planStore, renderKey } from '../../src/features/store/plan';
import { createRedisLookup, redisFailureHint, redisSettings } from '../../src/features/store/redis';
import { validateManifest } from '../../src/model/manifest';
import { readContract } from '../../src/model/contract';
import { DriftMonitor } from '../../src/monitor/drift';
import { loadProfile } from '../../src/monitor/profile';
import { H } from '../../src/output/headers';
import { processBatch } from '../../src/pipeline';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { enrichBatch } from '../../src/stages/enrich';
import { createLogger } from '../../src/telemetry/logger';
import { startTelemetry } from '../../src/telemetry/sdk';
import { STORE_INPUT_SCHEMA, STORE_MODEL_DIR, STORE_MODEL_PATH, storeCases } from '../support/feature-store';
import { PREDICTION_SCHEMA, testConfig } from '../support/model';

/** A store in a Map: every call recorded, so tests see what one batch asked for. */
function mapLookup(hashes: Map<string, Record<string, string>>): { lookup: BatchLookup; calls: KeyRequest[][] } {
  const calls: KeyRequest[][] = [];
  return {
    calls,
    lookup: async (requests) => {
      calls.push([...requests]);
      return requests.map((r) => r.fields.map((f) => hashes.get(r.key)?.[f] ?? null));
    },
  };
}

const down: BatchLookup = async () => {
  throw new FeatureStoreUnavailableError('connect ECONNREFUSED 127.0.0.1:1', 'error');
};

function plan(features: Record<string, Record<string, unknown>>): StorePlan {
  const manifest = validateManifest({ store: { features } }, 'test manifest');
  return planStore(manifest, Object.keys(features).map((field) => ({ field, source: 'store' as const })), 'test manifest');
}

const CARD = { entity: 'card_id', key: 'card:{card_id}', field: 'txn_count_24h', type: 'long' };

describe('feature store: the plan from the manifest', () => {
  it('reads the example model: two store columns, fed from [$store, name], keys from card_id and merchant.id', () => {
    const contract = readContract(STORE_MODEL_PATH, {});
    const store = contract.features.store;
    assert.deepEqual(store.features.map((f) => [f.name, f.key.text, f.hashField, f.type, f.unavailable, f.missing]), [
      ['card_txn_count_24h', 'card:{card_id}', 'txn_count_24h', 'long', 'wait', 'dead-letter'],
      ['merchant_risk_score', 'merchant:{merchant.id}', 'risk_score', 'double', 'wait', 'default'],
    ]);
    assert.deepEqual(store.features[0]?.freshness, { updatedAtField: 'updated_at', maxAgeMs: 86_400_000 });
    const column = contract.inputs.find((c) => c.name === 'card_txn_count_24h');
    assert.equal(column?.source, 'store');
    assert.deepEqual(column?.path, [STORE_ROOT, 'card_txn_count_24h']);
    const paths = contract.features.eventPaths.map((p) => p.join('.'));
    assert.ok(paths.includes('card_id') && paths.includes('merchant.id'), 'key fields are required of the decoder');
    assert.ok(!paths.some((p) => p.startsWith(STORE_ROOT)), 'store columns are not event fields');
  });

  it('refuses, all at once, what does not fit: undeclared and unused features, missing defaults, freshness without a time field, column keys on a store column', () => {
    const manifest = validateManifest(
      {
        store: {
          features: {
            a: { entity: 'card_id', key: 'card:{card_id}', field: 'x', missing: 'default' },
            b: { entity: 'card_id', key: 'card:{card_id}', field: 'y', max_age_ms: 10 },
            unused: { entity: 'card_id', key: 'k:{card_id}', field: 'z' },
          },
        },
      },
      'm.yaml',
    );
    assert.throws(
      () => planStore(manifest, [{ field: 'a', source: 'store' }, { field: 'b', source: 'store' }, { field: 'nope', source: 'store' }], 'm.yaml'),
      (error: unknown) => {
        assert.ok(error instanceof ServiceError && error.code === 'CONTRACT_MISMATCH');
        assert.match(error.message, /store feature "nope", which store.features does not declare/);
        assert.match(error.message, /store.features.unused is declared but no column reads it/);
        assert.match(error.message, /store.features.a has missing: default but no `default`/);
        assert.match(error.message, /store.features.b has max_age_ms but no updated_at_field/);
        return true;
      },
    );
    assert.throws(() => validateManifest({ store: { features: { a: { entity: 'card_id', key: 'card:{card_id}', field: 'x', unavailable: 'retry' } } } }, 'm.yaml'), /unavailable: must be one of wait, dead-letter, default/);
  });

  it('a key template needs its entity as a placeholder', () => {
    assert.throws(() => plan({ a: { entity: 'card_id', key: 'card:{merchant_id}', field: 'x' } }), /does not contain \{card_id\}/);
    assert.throws(() => plan({ a: { entity: 'card_id', key: 'card:{card id}', field: 'x' } }), /pattern|placeholder/);
  });
});

describe('feature store: key templates', () => {
  it('renders literal text and field paths; ints as decimal text; null or absent entities and other types are named', () => {
    const template = parseKeyTemplate('m:{merchant.id}:c:{card_id}');
    const at = (event: Record<string, unknown>) => (path: readonly string[]) => path.reduce<unknown>((v, p) => (v as Record<string, unknown> | undefined)?.[p], event);
    assert.deepEqual(renderKey(template, at({ card_id: 'c1', merchant: { id: 7 } })), { key: 'm:7:c:c1' });
    assert.deepEqual(renderKey(template, at({ card_id: null, merchant: { id: 'x' } })), { field: 'card_id', value: null });
    assert.deepEqual(renderKey(template, at({ card_id: 'c', merchant: { id: 1.5 } })), { field: 'merchant.id', value: 1.5 });
    assert.throws(() => parseKeyTemplate('constant'), /no \{field\} placeholder/);
  });
});

describe('feature store: one lookup per batch', () => {
  it('asks every distinct key once, with every field wanted from it, in one call', async () => {
    const p = plan({ card_txn: { ...CARD, updated_at_field: 'updated_at', max_age_ms: 60_000 }, card_amount: { entity: 'card_id', key: 'card:{card_id}', field: 'avg_amount_30d' } });
    const now = 1_000_000;
    const { lookup, calls } = mapLookup(new Map([['card:a', { txn_count_24h: '3', avg_amount_30d: '12.5', updated_at: String(now - 1_000) }]]));
    const events = [{ card_id: 'a' }, { card_id: 'b' }, { card_id: 'a' }, { card_id: 'a' }];
    const out = await enrichBatch(p, events, [undefined, undefined, undefined, undefined], lookup, now);
    assert.equal(calls.length, 1, 'one round trip');
    assert.deepEqual(
      calls[0]?.map((r) => [r.key, [...r.fields].sort()]),
      [
        ['card:a', ['avg_amount_30d', 'txn_count_24h', 'updated_at']],
        ['card:b', ['avg_amount_30d', 'txn_count_24h', 'updated_at']],
      ],
    );
    assert.deepEqual(out.stats, { keys: 2, hits: 2, misses: 2 }, 'per distinct key and feature');
    assert.deepEqual(out.values[0], { card_txn: 3, card_amount: 12.5 });
    assert.deepEqual((out.events[3] as Record<string, unknown>)[STORE_ROOT], { card_txn: 3, card_amount: 12.5 });
    assert.equal(out.rejections[1]?.code, 'FEATURE_MISSING');
    assert.equal(out.rejections[1]?.field, 'card_txn');
    assert.equal(out.rejections[1]?.value, 'card:b');
    assert.equal(out.rejections[1]?.stage, 'enrich');
    assert.equal((events[0] as Record<string, unknown>)[STORE_ROOT], undefined, 'the decoded event is not changed');
  });

  it('does not ask the store for events already rejected, nor for an empty batch', async () => {
    const { lookup, calls } = mapLookup(new Map());
    const p = plan({ card_txn: CARD });
    const out = await enrichBatch(p, [undefined, { card_id: 'a' }], [{ code: 'UNDECODABLE_AVRO', stage: 'decode', message: 'x' }, { code: 'MISSING_FIELD', stage: 'check', message: 'y' }], lookup, 0);
    assert.equal(calls.length, 0);
    assert.deepEqual(out.stats, { keys: 0, hits: 0, misses: 0 });
  });

  it('an event that cannot name its entity is MISSING_FIELD (null) or WRONG_TYPE, and is not looked up', async () => {
    const { lookup, calls } = mapLookup(new Map());
    const out = await enrichBatch(plan({ card_txn: CARD }), [{ card_id: null }, { card_id: true }], [undefined, undefined], lookup, 0);
    assert.equal(out.rejections[0]?.code, 'MISSING_FIELD');
    assert.equal(out.rejections[0]?.field, 'card_id');
    assert.equal(out.rejections[1]?.code, 'WRONG_TYPE');
    assert.equal(calls.length, 0);
  });
});

describe('feature store: policies', () => {
  const events = [{ card_id: 'known' }, { card_id: 'unknown' }];
  const store = new Map([['card:known', { txn_count_24h: '4', updated_at: '1000' }]]);

  it('missing: dead-letter is FEATURE_MISSING; missing: default feeds the default and flags the event', async () => {
    const dead = await enrichBatch(plan({ card_txn: CARD }), events, [undefined, undefined], mapLookup(store).lookup, 0);
    assert.equal(dead.rejections[0], undefined);
    assert.equal(dead.rejections[1]?.code, 'FEATURE_MISSING');
    const defaulted = await enrichBatch(plan({ card_txn: { ...CARD, missing: 'default', default: 0 } }), events, [undefined, undefined], mapLookup(store).lookup, 0);
    assert.equal(defaulted.rejections[1], undefined);
    assert.deepEqual(defaulted.values[1], { card_txn: 0 });
    assert.deepEqual(defaulted.flags.get(1), ['FEATURE_MISSING:card_txn']);
    assert.equal(defaulted.flags.get(0), undefined, 'a found value is not flagged');
  });

  it('freshness: a value older than max_age_ms, or without its time, counts as missing', async () => {
    const p = plan({ card_txn: { ...CARD, updated_at_field: 'updated_at', max_age_ms: 500 } });
    const fresh = await enrichBatch(p, [{ card_id: 'known' }], [undefined], mapLookup(store).lookup, 1_400);
    assert.deepEqual(fresh.values[0], { card_txn: 4 });
    const stale = await enrichBatch(p, [{ card_id: 'known' }], [undefined], mapLookup(store).lookup, 1_501);
    assert.equal(stale.rejections[0]?.code, 'FEATURE_MISSING');
    assert.match(stale.rejections[0]?.message ?? '', /older than max_age_ms 500/);
    const untimed = await enrichBatch(p, [{ card_id: 'x' }], [undefined], mapLookup(new Map([['card:x', { txn_count_24h: '1' }]])).lookup, 0);
    assert.match(untimed.rejections[0]?.message ?? '', /no usable updated_at/);
  });

  it('a stored text that is not of the feature type counts as missing', async () => {
    const out = await enrichBatch(plan({ card_txn: CARD }), [{ card_id: 'x' }, { card_id: 'y' }], [undefined, undefined], mapLookup(new Map([['card:x', { txn_count_24h: '2.5' }], ['card:y', { txn_count_24h: 'NaN' }]])).lookup, 0);
    assert.match(out.rejections[0]?.message ?? '', /not a whole number/);
    assert.equal(out.rejections[1]?.code, 'FEATURE_MISSING');
  });

  it('unavailable: wait throws out of the stage (the batch waits); dead-letter is FEATURE_UNAVAILABLE; default is fed and flagged', async () => {
    await assert.rejects(enrichBatch(plan({ card_txn: CARD }), events, [undefined, undefined], down, 0), FeatureStoreUnavailableError);
    const dead = await enrichBatch(plan({ card_txn: { ...CARD, unavailable: 'dead-letter' } }), events, [undefined, undefined], down, 0);
    assert.deepEqual(dead.rejections.map((r) => r?.code), ['FEATURE_UNAVAILABLE', 'FEATURE_UNAVAILABLE']);
    assert.match(dead.rejections[0]?.message ?? '', /ECONNREFUSED/);
    const defaulted = await enrichBatch(plan({ card_txn: { ...CARD, unavailable: 'default', default: 1 } }), events, [undefined, undefined], down, 0);
    assert.deepEqual(defaulted.values, [{ card_txn: 1 }, { card_txn: 1 }]);
    assert.deepEqual(defaulted.flags.get(0), ['FEATURE_UNAVAILABLE:card_txn']);
  });

  it('wait holds the batch only when an event needs the waiting feature', async () => {
    const p = plan({ card_txn: CARD, other: { entity: 'card_id', key: 'o:{card_id}', field: 'v', unavailable: 'dead-letter' } });
    // Every event is already rejected: nothing needs the store, nothing waits.
    const out = await enrichBatch(p, [{ card_id: 'a' }], [{ code: 'MISSING_FIELD', stage: 'check', message: 'x' }], down, 0);
    assert.equal(out.rejections[0]?.code, 'MISSING_FIELD');
    await assert.rejects(enrichBatch(p, [{ card_id: 'a' }], [undefined], down, 0), FeatureStoreUnavailableError);
  });
});

describe('feature store: circuit breaker', () => {
  it('closed → open after the threshold; fails fast while open; one half-open probe; its success closes, its failure reopens', () => {
    let now = 0;
    const changes: string[] = [];
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 1_000, now: () => now, onChange: (s) => changes.push(s) });
    assert.equal(breaker.allow(), true);
    breaker.failure();
    assert.equal(breaker.state, 'closed', 'one failure is not enough');
    breaker.success();
    breaker.failure();
    assert.equal(breaker.state, 'closed', 'a success in between starts the count again');
    breaker.failure();
    assert.equal(breaker.state, 'open');
    now = 999;
    assert.equal(breaker.allow(), false, 'open: no lookup');
    assert.equal(breaker.retryInMs(), 1);
    now = 1_000;
    assert.equal(breaker.allow(), true, 'the probe');
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.allow(), false, 'one probe at a time');
    breaker.failure();
    assert.equal(breaker.state, 'open', 'a failed probe opens it again');
    now = 1_500;
    assert.equal(breaker.allow(), false, 'for another openMs');
    now = 2_000;
    assert.equal(breaker.allow(), true);
    breaker.success();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('FeatureStore: an open breaker fails lookups without calling the store, and tells its listeners', async () => {
    let now = 0;
    let calls = 0;
    const store = new FeatureStore(
      async () => {
        calls += 1;
        throw new Error('ECONNREFUSED');
      },
      { failureThreshold: 1, openMs: 100, now: () => now },
    );
    const outcomes: (string | undefined)[] = [];
    store.listen({ lookup: (o) => outcomes.push(o.error) });
    const request = [{ key: 'k', fields: ['f'] }];
    await assert.rejects(store.lookup(request), (e: unknown) => e instanceof FeatureStoreUnavailableError && e.reason === 'error');
    await assert.rejects(store.lookup(request), (e: unknown) => e instanceof FeatureStoreUnavailableError && e.reason === 'breaker-open');
    assert.equal(calls, 1);
    assert.deepEqual(store.status(), { breaker: 'open', error: 'feature store lookup failed: ECONNREFUSED' });
    now = 100;
    await assert.rejects(store.lookup(request));
    assert.equal(calls, 2, 'the half-open probe went to the store');
    assert.deepEqual(outcomes, ['error', 'breaker-open', 'error']);
  });
});

describe('feature store: the Redis client without Redis', () => {
  it('a server that accepts and never answers: the batch lookup fails as timeout within FEATURE_STORE_TIMEOUT_MS, not later', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.on('data', () => undefined); // read, never answer (a frozen Redis)
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const redis = createRedisLookup({ host: '127.0.0.1', port, db: 0, timeoutMs: 300 });
    try {
      const started = Date.now();
      await assert.rejects(redis.lookup([{ key: 'card:a', fields: ['x'] }]), (e: unknown) => e instanceof FeatureStoreUnavailableError && e.reason === 'timeout');
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 2_000, `timed out after ${took} ms`);
    } finally {
      await Promise.race([redis.close(), new Promise((r) => setTimeout(r, 500))]);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('nothing listening: the lookup fails as unavailable (error or timeout), never hangs', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const redis = createRedisLookup({ host: '127.0.0.1', port, db: 0, timeoutMs: 300 });
    try {
      await assert.rejects(redis.lookup([{ key: 'card:a', fields: ['x'] }]), FeatureStoreUnavailableError);
    } finally {
      await Promise.race([redis.close(), new Promise((r) => setTimeout(r, 500))]);
    }
  });
});

describe('feature store: what to check when Redis refuses for good', () => {
  // The errors as ioredis and Node's TLS give them (seen against redis-server 7 in test/integration/feature-store-secure.test.ts).
  const cases: [Error & { code?: string }, RegExp | undefined][] = [
    [new Error('WRONGPASS invalid username-password pair or user is disabled.'), /FEATURE_STORE_PASSWORD_FILE/],
    [new Error('NOAUTH Authentication required.'), /FEATURE_STORE_PASSWORD_FILE/],
    [new Error("NOPERM this user has no permissions to run the 'hmget' command"), /ACL/],
    [Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), /FEATURE_STORE_TLS_CA_FILE/],
    [Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), /FEATURE_STORE_TLS_CA_FILE/],
    [Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), /FEATURE_STORE_ADDRESS/],
    [Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }), /validity/],
    [new Error('403D:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:rec_layer_s3.c:918:SSL alert number 116\n'), /FEATURE_STORE_TLS_CERT_FILE and FEATURE_STORE_TLS_KEY_FILE/],
    [new Error('C0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'), /FEATURE_STORE_TLS=true/],
    // Down or slow is not a setting to fix: no hint.
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6380'), { code: 'ECONNREFUSED' }), undefined],
    [new Error('Command timed out'), undefined],
  ];
  for (const [error, hint] of cases) {
    it(`${error.message.slice(0, 60)}`, () => {
      const text = redisFailureHint(error);
      if (hint) assert.match(text ?? '', hint);
      else assert.equal(text, undefined);
    });
  }
});

describe('feature store: settings', () => {
  it('secrets from files; TLS files without FEATURE_STORE_TLS refused; a username needs a password', () => {
    const files: Record<string, string> = { '/s/user': 'scorer\n', '/s/pass': 'p4ss\n', '/s/ca': 'PEM' };
    const read = (path: string): string => {
      const content = files[path];
      if (content === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return content;
    };
    const settings = redisSettings(testConfig({ FEATURE_STORE_ADDRESS: 'redis.internal:6380', FEATURE_STORE_USERNAME_FILE: '/s/user', FEATURE_STORE_PASSWORD_FILE: '/s/pass', FEATURE_STORE_TLS: 'true', FEATURE_STORE_TLS_CA_FILE: '/s/ca' }), read);
    assert.deepEqual(settings, { host: 'redis.internal', port: 6380, db: 0, timeoutMs: 500, username: 'scorer', password: 'p4ss', tls: { ca: 'PEM' } });
    assert.throws(() => redisSettings(testConfig({ FEATURE_STORE_TLS_CA_FILE: '/s/ca', FEATURE_STORE_USERNAME_FILE: '/s/user' }), read), (e: unknown) => {
      assert.ok(e instanceof ServiceError && e.code === 'CONFIG_INVALID');
      assert.match(e.message, /FEATURE_STORE_TLS_CA_FILE is set, but FEATURE_STORE_TLS is false/);
      assert.match(e.message, /FEATURE_STORE_USERNAME_FILE needs FEATURE_STORE_PASSWORD_FILE/);
      assert.doesNotMatch(e.message, /scorer/, 'no secret in the message');
      return true;
    });
    assert.throws(() => redisSettings(testConfig({ FEATURE_STORE_PASSWORD_FILE: '/s/missing' }), read), /FEATURE_STORE_PASSWORD_FILE=\/s\/missing: cannot read it \(ENOENT\)/);
  });
});

describe('feature store: through the pipeline (example model, injected store)', () => {
  it('scores with store values exactly as Python onnxruntime did with them in the event; records them; flags a default; dead-letters a missing card', async () => {
    const prepared = await prepare(testConfig({ MODEL_PATH: STORE_MODEL_PATH, INPUT_SCHEMA: STORE_INPUT_SCHEMA, EVENT_TIME_FIELD: '', SCORE_BATCH_MAX_EVENTS: '64' }), createLogger('silent'));
    const cases = storeCases('u-').slice(0, 40);
    const hashes = new Map<string, Record<string, string>>();
    for (const c of cases) for (const [key, hash] of Object.entries(c.hashes)) hashes.set(key, { ...hash });
    hashes.delete(cases[1]?.merchantKey as string); // a new merchant: default 0.1, flagged
    hashes.delete(cases[2]?.cardKey as string); // an unknown card: FEATURE_MISSING
    const { lookup, calls } = mapLookup(hashes);
    const store = new FeatureStore(lookup, { failureThreshold: 3, openMs: 1_000 });
    const type = avro.Type.forSchema(JSON.parse((await import('node:fs')).readFileSync(STORE_INPUT_SCHEMA, 'utf8')) as avro.Schema);
    const messages: SourceMessage[] = cases.map((c, i) => ({ topic: 'in', partition: 0, offset: String(i), key: Buffer.from(`k${i}`), value: type.toBuffer(c.event), headers: {}, timestamp: '0' }));
    const processed = await processBatch({ ...prepared, store, tracer: trace.getTracer('test') }, messages);
    processed.finish();
    assert.equal(calls.length, 1, 'one lookup for the batch');
    assert.equal(processed.deadLetters.length, 1);
    assert.equal(processed.deadLetters[0]?.headers[H.reasonCode], 'FEATURE_MISSING');
    assert.equal(processed.deadLetters[0]?.headers[H.reasonField], 'card_txn_count_24h');
    const predictionType = avro.Type.forSchema(JSON.parse((await import('node:fs')).readFileSync(PREDICTION_SCHEMA, 'utf8')) as avro.Schema);
    const byKey = new Map(processed.predictions.map((p) => [p.key?.toString(), predictionType.fromBuffer(p.value as Buffer) as { score: number; flags: string[]; features: Record<string, number> }]));
    assert.equal(byKey.size, cases.length - 1);
    for (const [i, c] of cases.entries()) {
      if (i === 2) continue;
      const p = byKey.get(`k${i}`);
      assert.ok(p);
      if (i === 1) {
        assert.deepEqual(p.flags, ['FEATURE_MISSING:merchant_risk_score']);
        assert.deepEqual(p.features, { card_txn_count_24h: c.txnCount, merchant_risk_score: 0.1 });
        continue;
      }
      assert.deepEqual(p.flags, []);
      assert.deepEqual(p.features, { card_txn_count_24h: c.txnCount, merchant_risk_score: c.riskScore });
      assert.equal(p.score, c.expectedScore, `event ${i}: the score Python onnxruntime gave the same values`);
    }
  });

  it('isolating a defect never turns a store outage into INTERNAL_ERROR: the batch waits whole', async () => {
    const prepared = await prepare(testConfig({ MODEL_PATH: STORE_MODEL_PATH, INPUT_SCHEMA: STORE_INPUT_SCHEMA, EVENT_TIME_FIELD: '' }), createLogger('silent'));
    const deps = { ...prepared, tracer: trace.getTracer('test') };
    const message = (offset: number): SourceMessage => ({ topic: 'in', partition: 0, offset: String(offset), key: null, value: Buffer.from([1]), headers: {}, timestamp: '0' });
    let runs = 0;
    const processOnce = async (part: readonly SourceMessage[]) => {
      runs += 1;
      // The first half scores; then the store goes away.
      if (runs === 1) return processBatch({ ...deps, store: new FeatureStore(async (r) => r.map((x) => x.fields.map(() => null)), { failureThreshold: 3, openMs: 1 }) }, part);
      throw new FeatureStoreUnavailableError('connect ECONNREFUSED', 'error');
    };
    await assert.rejects(isolateDefects(deps, [message(0), message(1), message(2), message(3)], new TypeError('a bug'), processOnce), FeatureStoreUnavailableError);
  });

  it('a model with store features and no store wired refuses to score (never scores without the values)', async () => {
    const prepared = await prepare(testConfig({ MODEL_PATH: STORE_MODEL_PATH, INPUT_SCHEMA: STORE_INPUT_SCHEMA, EVENT_TIME_FIELD: '' }), createLogger('silent'));
    const { store: _store, ...rest } = prepared;
    const type = avro.Type.forSchema(JSON.parse((await import('node:fs')).readFileSync(STORE_INPUT_SCHEMA, 'utf8')) as avro.Schema);
    const message: SourceMessage = { topic: 'in', partition: 0, offset: '0', key: null, value: type.toBuffer(storeCases('n-')[0]?.event), headers: {}, timestamp: '0' };
    await assert.rejects(processBatch({ ...rest, tracer: trace.getTracer('test') }, [message]), /reads features from the online store/);
  });
});

describe('feature store: the enrich span', () => {
  it('one `enrich` span per batch, linked to its messages, with keys, hits and misses', async () => {
    const exporter = new InMemorySpanExporter();
    const telemetry = startTelemetry({ serviceName: 'test', serviceVersion: '0', spanProcessors: [new SimpleSpanProcessor(exporter)] });
    try {
      const prepared = await prepare(testConfig({ MODEL_PATH: STORE_MODEL_PATH, INPUT_SCHEMA: STORE_INPUT_SCHEMA, EVENT_TIME_FIELD: '', SCORE_BATCH_MAX_EVENTS: '100' }), createLogger('silent'));
      const cases = storeCases('s-').slice(0, 6);
      const hashes = new Map<string, Record<string, string>>();
      for (const c of cases) for (const [key, hash] of Object.entries(c.hashes)) hashes.set(key, { ...hash });
      hashes.delete(cases[0]?.merchantKey as string);
      const type = avro.Type.forSchema(JSON.parse((await import('node:fs')).readFileSync(STORE_INPUT_SCHEMA, 'utf8')) as avro.Schema);
      const messages: SourceMessage[] = cases.map((c, i) => ({ topic: 'in', partition: 0, offset: String(i), key: null, value: type.toBuffer(c.event), headers: {}, timestamp: '0' }));
      const processed = await processBatch({ ...prepared, store: new FeatureStore(mapLookup(hashes).lookup, { failureThreshold: 3, openMs: 1 }), tracer: trace.getTracer('test') }, messages);
      processed.finish();
      const enrich = exporter.getFinishedSpans().filter((span) => span.name === 'enrich');
      assert.equal(enrich.length, 1);
      assert.equal(enrich[0]?.attributes['feature_store.keys'], 12);
      assert.equal(enrich[0]?.attributes['feature_store.hits'], 11);
      assert.equal(enrich[0]?.attributes['feature_store.misses'], 1);
      assert.equal(enrich[0]?.links.length, 6);
    } finally {
      await telemetry.shutdown();
    }
  });
});


describe('feature store: drift covers store features like event features', () => {
  it('a store that starts serving other values (merchant risk scores all high) drifts on merchant_risk_score from that window on; the event columns and the other store feature stay quiet', async () => {
    const prepared = await prepare(testConfig({ MODEL_PATH: STORE_MODEL_PATH, INPUT_SCHEMA: STORE_INPUT_SCHEMA, EVENT_TIME_FIELD: '', SCORE_BATCH_MAX_EVENTS: '500' }), createLogger('silent'));
    const profile = loadProfile(join(STORE_MODEL_DIR, 'profile.json'));
    assert.ok(profile.features.some((f) => f.name === 'merchant_risk_score'), "the store model's profile covers its store features");
    const windowMs = 600_000;
    const start = Date.UTC(2026, 2, 1);
    const monitor = new DriftMonitor(profile, { windowMs, minWindowEvents: 200, psiThreshold: 0.2, predictionPsiThreshold: 1e9, unknownRateThreshold: 0.01, mode: 'offline', eventTimeField: '', now: () => start + 86_400_000 });
    const cases = storeCases('drift-');
    const type = avro.Type.forSchema(JSON.parse(readFileSync(STORE_INPUT_SCHEMA, 'utf8')) as avro.Schema);
    const honest = new Map<string, Record<string, string>>();
    for (const c of cases) for (const [key, hash] of Object.entries(c.hashes)) honest.set(key, { ...hash });
    // The aggregate job breaks: from the third window on every merchant reads as high risk.
    const broken = new Map(honest);
    for (const c of cases) broken.set(c.merchantKey, { risk_score: String(0.6 + (c.riskScore % 0.1)) });
    const store = { lookup: mapLookup(honest).lookup };
    const feature = new FeatureStore((requests) => store.lookup(requests), { failureThreshold: 3, openMs: 1_000 });
    for (let w = 0; w < 5; w += 1) {
      if (w === 2) store.lookup = mapLookup(broken).lookup;
      // Each window: the 200 held-out events five times, spread over the window.
      const messages: SourceMessage[] = [];
      for (let r = 0; r < 5; r += 1) {
        for (const [i, c] of cases.entries()) {
          const at = start + w * windowMs + Math.floor(((r * cases.length + i) / (5 * cases.length)) * windowMs);
          messages.push({ topic: 'in', partition: 0, offset: String(messages.length), key: null, value: type.toBuffer(c.event), headers: {}, timestamp: String(at) });
        }
      }
      const processed = await processBatch({ ...prepared, store: feature, tracer: trace.getTracer('test') }, messages);
      processed.finish();
      assert.equal(processed.deadLetters.length, 0);
      for (const chunk of processed.observation.chunks) monitor.observeChunk(chunk, messages);
    }
    monitor.finish();
    const report = monitor.report();
    const psiOf = (column: string) => report.columns.find((c) => c.column === column)?.measures.find((m) => m.measure === 'psi');
    const risk = psiOf('merchant_risk_score');
    assert.ok(risk?.drifting, `merchant_risk_score drifts: ${JSON.stringify(risk)}`);
    assert.equal(risk?.since, start + 2 * windowMs, 'since the window the store changed');
    for (const column of ['card_txn_count_24h', 'amount', 'account_age_days', 'distance_km']) assert.equal(psiOf(column)?.drifting, false, `${column} stays quiet: ${JSON.stringify(psiOf(column))}`);
  });
});
