import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSchema } from '../../src/stages/decode';
import { committedOffsets, createTestTopics, endOffsets, produce, testKafka, topicEnv } from '../support/kafka';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { runCli } from '../support/processes';

describe('integration: the stream-scorer CLI as a process', () => {
  it('refuses a bad setting at start-up, naming the key', async () => {
    const run = runCli(['run'], { SCORE_BATCH_MAX_EVENTS: 'many' });
    assert.equal(await run.exit, 1);
    assert.match(run.output(), /CONFIG_INVALID.*\n.*SCORE_BATCH_MAX_EVENTS="many".*not an integer/);
  });

  it('refuses to start when the dead-letter topic does not exist, naming the setting', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'cli-missing', 1);
    const run = runCli(['run'], { ...topicEnv(topics), DEAD_LETTER_TOPIC: `${topics.deadLetter}-nope` });
    assert.equal(await run.exit, 1);
    assert.match(run.output(), new RegExp(`OUTPUT_UNWRITABLE: topic\\(s\\) missing: DEAD_LETTER_TOPIC=${topics.deadLetter}-nope`));
  });

  it('scores, then on SIGTERM finishes, commits, leaves the group and exits 0', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'cli-sigterm', 2);
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const events = referenceCases().map((c) => c.event);
    await produce(kafka, topics.input, events.map((e) => ({ key: String(e.card_id), value: eventType.toBuffer(e) })));
    const run = runCli(['run'], { ...topicEnv(topics), LOG_LEVEL: 'info' });
    const ends = await endOffsets(kafka, topics.input);
    const total = [...ends.values()].reduce((sum, end) => sum + Number(end), 0);
    assert.equal(total, events.length);
    let outputs = 0;
    // Poll the output topic size instead of consuming it.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const out = await endOffsets(kafka, topics.output);
      outputs = [...out.values()].reduce((sum, end) => sum + Number(end), 0);
      if (outputs >= events.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(outputs, events.length);
    run.child.kill('SIGTERM');
    const code = await run.exit;
    assert.equal(code, 0, run.output().slice(-2000));
    const logs = run.output();
    assert.match(logs, /"msg":"stopping: finishing the in-flight batch/);
    assert.match(logs, /"msg":"stopped"/);
    assert.doesNotMatch(logs, /"level":"(error|fatal)"/);
    const committed = await committedOffsets(kafka, topics.group, topics.input);
    for (const [partition, end] of ends) assert.equal(committed.get(partition), end, `partition ${partition}`);
  });

  it('a second signal during the graceful stop exits at once', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'cli-second-signal', 1);
    const run = runCli(['run'], { ...topicEnv(topics), LOG_LEVEL: 'info' });
    const deadline = Date.now() + 30_000;
    while (!run.output().includes('"msg":"scoring"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 20));
    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 130);
    assert.match(run.output(), /second signal: exiting without waiting/);
  });
});
