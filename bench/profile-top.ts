/**
 * Top-N self time of a V8 .cpuprofile (node --cpu-prof), by function and by package/file; or,
 * for a .heapprofile (BENCH_HEAP_PROFILE_DIR, bench/row.ts), bytes allocated the same way.
 *   node --import tsx bench/profile-top.ts <file.cpuprofile|file.heapprofile> [N]
 */
import { readFileSync } from 'node:fs';

interface Node {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: number[];
}
interface HeapNode {
  readonly id: number;
  readonly callFrame: Node['callFrame'];
  readonly selfSize: number;
  readonly children: HeapNode[];
}
interface Profile {
  readonly nodes: Node[];
  readonly samples: number[];
  readonly timeDeltas: number[];
  readonly startTime: number;
  readonly endTime: number;
}

function where(url: string): string {
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1] as string;
  if (url.includes('/src/')) return `src/${url.split('/src/')[1]}`;
  if (url.includes('/bench/')) return `bench/${url.split('/bench/')[1]}`;
  if (url.startsWith('node:')) return url;
  return url === '' ? '(native/vm)' : url;
}

const [file, nArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [N]');
const n = Number(nArg ?? 25);
const heap = file.endsWith('.heapprofile');
const self = new Map<number, number>();
const nodes: Node[] = [];
if (heap) {
  // The sampling heap profiler's tree: each node's selfSize is the bytes sampled there.
  const walk = (node: HeapNode): void => {
    nodes.push({ id: node.id, callFrame: node.callFrame, children: node.children.map((child) => child.id) });
    if (node.selfSize > 0) self.set(node.id, node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk((JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode }).head);
} else {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  nodes.push(...profile.nodes);
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = profile.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
}
const byId = new Map(nodes.map((node) => [node.id, node]));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const parent = new Map<number, number>();
for (const node of nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
for (const [id, us] of self) {
  const frame = (byId.get(id) as Node).callFrame;
  const place = where(frame.url);
  const file = frame.url.includes('node_modules/') ? frame.url.slice(frame.url.lastIndexOf('node_modules/') + 'node_modules/'.length) : place;
  const key = `${frame.functionName || '(anonymous)'}  ${file}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byPlace.set(place, (byPlace.get(place) ?? 0) + us);
}
// Inclusive time: each sample counts once for every distinct function on its stack.
const inclusive = new Map<string, number>();
const keyOf = (id: number): string => {
  const frame = (byId.get(id) as Node).callFrame;
  const file = frame.url.includes('node_modules/') ? frame.url.slice(frame.url.lastIndexOf('node_modules/') + 'node_modules/'.length) : where(frame.url);
  return `${frame.functionName || '(anonymous)'}  ${file}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
};
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) seen.add(keyOf(at));
  for (const key of seen) inclusive.set(key, (inclusive.get(key) ?? 0) + us);
}
const print = (title: string, map: Map<string, number>): void => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    const amount = heap ? `${(us / 2 ** 20).toFixed(1).padStart(7)} MB` : `${(us / 1000).toFixed(0).padStart(6)} ms`;
    process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)} %  ${amount}  ${key}\n`);
  }
};
const what = heap ? 'bytes allocated' : 'self time';
process.stdout.write(`${file}: ${heap ? `${(total / 2 ** 20).toFixed(0)} MB` : `${(total / 1e6).toFixed(2)} s`} sampled\n`);
print(`top ${n} ${what} by function`, byFunction);
print(`top ${n} ${what} by package / file`, byPlace);
const filter = process.env.PROFILE_INCLUSIVE ? new RegExp(process.env.PROFILE_INCLUSIVE) : /src\/|kafkajs\/src\/(consumer|producer|protocol\/requests|network)/;
print(`top ${n} inclusive ${heap ? 'bytes' : 'time'} matching ${filter} (PROFILE_INCLUSIVE)`, new Map([...inclusive].filter(([k]) => filter.test(k))));
