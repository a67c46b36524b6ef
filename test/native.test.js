'use strict';

// The pure C parts of native/ on their own: the unit tests under
// AddressSanitizer and UBSan (test/c), then a short run of each fuzzer
// (test/fuzz). Longer fuzzing: `make -C test/fuzz smoke FUZZ_SECONDS=600`.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

function run(args, timeout) {
  return spawnSync('make', args, { cwd: root, encoding: 'utf8', timeout });
}

function has(command) {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

test('the C unit tests of the codec, HTTP parser, handshake, policy and docroot pass under ASan and UBSan', () => {
  const r = run(['-s', '-C', 'test/c', 'check'], 300000);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  const reports = out.match(/^\d+ passed, 0 failed$/gm) || [];
  assert.equal(reports.length, 6, `each of the six test programs reports its count:\n${out}`);
  assert.doesNotMatch(out, /runtime error:|AddressSanitizer/);
});

test('each parser survives a short fuzzing run', { skip: !has('clang') && 'clang is not installed' }, () => {
  const seconds = process.env.FUZZ_SECONDS || '5';
  const r = run(['-s', '-C', 'test/fuzz', 'smoke', `FUZZ_SECONDS=${seconds}`], 600000);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  const runs = out.match(/^Done \d+ runs/gm) || [];
  assert.equal(runs.length, 4, `four fuzzers ran to the end:\n${out}`);
});
