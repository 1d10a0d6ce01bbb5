/**
 * Child of test/unit/runtime.test.ts: applies tuneHeap with pretenuring on or off (argv[2]), then
 * allocates objects from one site that mostly outlive young-generation GCs, the pattern under
 * which V8 decides to pretenure. Run with --trace-pretenuring(-statistics): V8 prints its decisions.
 */
import { tuneHeap } from '../../src/runtime';

tuneHeap({ heapGrowingPercent: 0, heapPretenuring: process.argv[2] === 'on' });
const make = (i: number): { a: number; b: number[] } => ({ a: i, b: [i, i + 1] });
let kept: object[] = [];
for (let round = 0; round < 200; round += 1) {
  for (let i = 0; i < 20_000; i += 1) kept.push(make(i));
  if (kept.length > 200_000) kept = [];
}
process.stdout.write(`kept ${kept.length}\n`);
