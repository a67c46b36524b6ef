'use strict';

// The pure C parts of native/ on their own: the unit tests under
// AddressSanitizer and UBSan (test/c), then a short run of each fuzzer
// (test/fuzz). Longer fuzzing: `make -C test/fuzz smoke FUZZ_SECONDS=600`.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');

function run(args, timeout) {
  return spawnSync('make', args, { cwd: root, encoding: 'utf8', timeout });
}

function has(command) {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

// One test program per test/c/test_*.c, one fuzzer per test/fuzz/fuzz_*.c.
const count = (dir, re) => fs.readdirSync(path.join(root, dir)).filter((f) => re.test(f)).length;

test('the C unit tests of every pure C file of native/ pass under ASan and UBSan', () => {
  const r = run(['-s', '-C', 'test/c', 'check'], 300000);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  const reports = out.match(/^\d+ passed, 0 failed$/gm) || [];
  const programs = count('test/c', /^test_.*\.c$/);
  assert.ok(programs >= 9, `test/c holds the unit tests (found ${programs})`);
  assert.equal(reports.length, programs, `each of the ${programs} test programs reports its count:\n${out}`);
  assert.doesNotMatch(out, /runtime error:|AddressSanitizer/);
});

test('each parser survives a short fuzzing run', () => {
  assert.ok(has('clang'), 'clang is installed (Debian package "clang"; the fuzzers need libFuzzer)');
  const seconds = process.env.FUZZ_SECONDS || '5';
  const r = run(['-s', '-C', 'test/fuzz', 'smoke', `FUZZ_SECONDS=${seconds}`], 600000);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  const runs = out.match(/^Done \d+ runs/gm) || [];
  const fuzzers = count('test/fuzz', /^fuzz_.*\.c$/);
  assert.equal(runs.length, fuzzers, `all ${fuzzers} fuzzers ran to the end:\n${out}`);
});
