import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { contractReport, formatContractReport } from '../../src/model/report';
import { testConfig } from '../support/model';
import { ZOO, zooConfigEnv } from '../support/zoo';

describe('stream-scorer contract', () => {
  it('the example model: every input with its field and categories, the output meaning, all checks ok', async () => {
    const config = testConfig();
    const report = await contractReport(config);
    assert.ok(report.checks.every((c) => c.ok), JSON.stringify(report.checks));
    const text = formatContractReport(report, config);
    assert.match(text, /^model {5}card-fraud 1\.0\.0 \(version from metadata\)$/m);
    assert.match(text, /^ {2}country +=\s+categorical +string +12 \(OneHotEncoder\): BE,BR,DE/m);
    assert.match(text, /classifier: score = "probabilities"\[1\] = P\(1\); classes 0, 1; label from "label"/);
    assert.ok(text.split('\n').length <= 30, 'one screen');
  });

  it('each check runs on its own: a wrong score output fails, the schema check still answers', async () => {
    const report = await contractReport(testConfig({ MODEL_SCORE_OUTPUT: 'label' }));
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    assert.equal(byName.get('input schema')?.ok, true);
    assert.equal(byName.get('outputs')?.ok, false);
    assert.match(byName.get('outputs')?.detail ?? '', /score output "label" holds int64 values/);
  });

  it('a manifest that does not fit the graph fails with the manifest path, input and column count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'contract-'));
    copyFileSync(join(ZOO, 'lightgbm', 'model.onnx'), join(dir, 'model.onnx'));
    writeFileSync(join(dir, 'manifest.yaml'), 'inputs:\n  - name: input\n    columns:\n      - field: amount\n');
    const report = await contractReport(testConfig({ ...zooConfigEnv('lightgbm'), MODEL_PATH: join(dir, 'model.onnx') }));
    assert.equal(report.checks[0]?.ok, false);
    assert.match(report.checks[0]?.detail ?? '', /manifest\.yaml: input "input" lists 1 columns, but the graph input is \[N, 9\]/);
    assert.match(formatContractReport(report, testConfig()), /^ {2}FAIL graph and manifest: /m);
  });

  it('warns, without failing, about a model nobody gave a version', async () => {
    const report = await contractReport(testConfig(zooConfigEnv('catboost')));
    const version = report.checks.find((c) => c.name === 'version');
    assert.deepEqual([version?.ok, version?.warning], [true, true]);
    assert.match(version?.detail ?? '', /sha256-[0-9a-f]{12}/);
  });
});
