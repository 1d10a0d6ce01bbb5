import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SUPPORTED_NODE_MAJOR, runtimeWarning } from '../../src/runtime';

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
