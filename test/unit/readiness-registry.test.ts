import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readiness } from '../../src/health/readiness';

describe('/readyz and the schema registry', () => {
  const ready = (): Readiness => {
    const readiness = new Readiness(async () => true);
    readiness.modelLoaded = true;
    readiness.consumerJoined = true;
    return readiness;
  };

  it('without a registry, says it is not used', async () => {
    const report = await ready().check();
    assert.equal(report.ready, true);
    assert.equal(report.checks.schema_registry, 'not used');
  });

  it('a batch waiting for the registry makes the scorer not ready, with the registry\'s error; ready again once it answers', async () => {
    const readiness = ready();
    readiness.registry = { waiting: true, error: 'schema registry http://r unavailable (GET /schemas/ids/4): Timeout (500ms)' };
    const waiting = await readiness.check();
    assert.equal(waiting.ready, false);
    assert.equal(waiting.checks.schema_registry, 'waiting');
    assert.match(waiting.schema_registry_error ?? '', /GET \/schemas\/ids\/4/);
    readiness.registry = { waiting: false };
    const back = await readiness.check();
    assert.deepEqual([back.ready, back.checks.schema_registry, back.schema_registry_error], [true, 'available', undefined]);
  });
});
