import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventLoopDelay } from '../../bench/event-loop';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: the loop cannot run the sampling timer meanwhile
  }
}

test('an idle event loop reads a delay near 0 ms, not the 10 ms sampling interval', async () => {
  const eld = eventLoopDelay();
  eld.enable();
  await sleep(400);
  eld.disable();
  // The median, not a tail: test files run side by side and a busy machine delays some samples.
  // Read as the raw interval it would be at least 10 ms.
  assert.ok(eld.percentileMs(50) < 5, `idle median ${eld.percentileMs(50)} ms`);
});

test('a loop blocked for 60 ms reads about 60 ms at its maximum', async () => {
  const eld = eventLoopDelay();
  eld.enable();
  await sleep(50);
  block(60);
  await sleep(50);
  eld.disable();
  const max = eld.maxMs();
  assert.ok(max >= 45 && max < 75, `max ${max} ms`);
});

test('nothing sampled reads NaN, not 0', () => {
  const eld = eventLoopDelay();
  assert.ok(Number.isNaN(eld.percentileMs(99)));
});
