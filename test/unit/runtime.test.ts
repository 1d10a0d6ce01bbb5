import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SERVICE_NODE_FLAGS, SUPPORTED_NODE_MAJOR, missingNodeFlags, runtimeWarning } from '../../src/runtime';

describe('runtimeWarning', () => {
  it('is silent on the supported line', () => {
    assert.equal(runtimeWarning(`${SUPPORTED_NODE_MAJOR}.22.3`), undefined);
  });
  it('names an end-of-life runtime and says how to get the supported one', () => {
    const warning = runtimeWarning('20.20.2');
    assert.match(warning ?? '', /Node\.js 20\.20\.2 is older than the supported line and past its end of life/);
    assert.match(warning ?? '', /node_modules\/\.bin/);
  });
  it('flags a newer, untested line without calling it end of life', () => {
    const warning = runtimeWarning('26.0.0');
    assert.match(warning ?? '', /newer than the line stream-scorer is tested on/);
    assert.doesNotMatch(warning ?? '', /end of life/);
  });
});

describe("the service's Node flags", () => {
  const root = join(__dirname, '..', '..');
  const text = (path: string): string => readFileSync(join(root, path), 'utf8');
  it('are passed wherever the service is started: npm start, npm run demo, the image, the Deployments', () => {
    const scripts = (JSON.parse(text('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'demo']) {
      const args = (scripts[name] ?? '').split(/\s+/);
      for (const flag of SERVICE_NODE_FLAGS) assert.ok(args.includes(flag), `npm run ${name} passes ${flag}: ${scripts[name]}`);
    }
    const dockerOptions = /NODE_OPTIONS="([^"]*)"/.exec(text('Dockerfile'))?.[1] ?? '';
    const deployments = ['k8s/base/deployment.yaml', 'k8s/overlays/prod/kustomization.yaml'].map((path) => ({ path, options: /NODE_OPTIONS\n\s*value: ([^\n]*)/.exec(text(path))?.[1] ?? '' }));
    for (const { path, options } of [{ path: 'Dockerfile', options: dockerOptions }, ...deployments]) {
      assert.deepEqual(missingNodeFlags([], options), [], `${path} NODE_OPTIONS (${options}) carries ${SERVICE_NODE_FLAGS.join(' ')}`);
    }
  });
  it('are reported missing when neither the command line nor NODE_OPTIONS has them', () => {
    assert.deepEqual(missingNodeFlags([], ''), [...SERVICE_NODE_FLAGS]);
    assert.deepEqual(missingNodeFlags([...SERVICE_NODE_FLAGS], ''), []);
    assert.deepEqual(missingNodeFlags([], `--max-old-space-size=256 ${SERVICE_NODE_FLAGS.join(' ')}`), []);
  });
});

describe('tuneHeap', () => {
  // V8 prints each allocation site's pretenuring decision with these flags.
  const decisions = (mode: 'on' | 'off'): { tenured: number; output: string } => {
    const script = join(__dirname, '..', 'support', 'pretenuring-workload.ts');
    const run = spawnSync(process.execPath, ['--trace-pretenuring', '--trace-pretenuring-statistics', '--max-semi-space-size=8', '--import', 'tsx', script, mode], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /kept \d+/);
    // Any decision about a site counts: "maybe tenure" comes first, and whether V8 gets to "tenure"
    // depends on the young generation reaching its maximum size, which a busy machine can delay.
    return { tenured: (run.stdout.match(/AllocationSite\(.*=> (maybe tenure|tenure)/g) ?? []).length, output: run.stdout.slice(0, 2000) };
  };
  it('turns allocation-site pretenuring off unless HEAP_PRETENURING asks for it', () => {
    // The same allocations: pretenured with the setting on (so the workload does trigger it), never with it off.
    const on = decisions('on');
    assert.ok(on.tenured > 0, `with HEAP_PRETENURING=true V8 weighs pretenuring the workload's site:\n${on.output}`);
    const off = decisions('off');
    assert.equal(off.tenured, 0, `no site is even considered for pretenuring by default:\n${off.output}`);
  });
});
