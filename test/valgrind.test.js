'use strict';

// The pure C parts under valgrind memcheck, built plain (no ASan, which
// valgrind cannot run): the C unit tests (`make -C test/c valgrind`) and every
// fuzzer's kept corpus replayed through its target without libFuzzer
// (`make -C test/fuzz valgrind`). Each program must end with no error and
// no definite leak; "possibly lost" and "still reachable" are allowed (zlib's
// and OpenSSL's caches that live to exit).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');

const list = (dir, re) =>
  fs.readdirSync(path.join(root, dir)).filter((f) => re.test(f)).map((f) => f.replace(/\.c$/, '')).sort();

function make(dir) {
  // make prints "== name" before each program, valgrind's report follows.
  // Two at a time: test_deflate alone takes minutes under memcheck.
  const r = spawnSync('make', ['-s', '-j2', '-C', dir, 'valgrind'], { cwd: root, encoding: 'utf8', timeout: 600000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}`, error: r.error };
}

// Splits make's output into one report per program.
function reports(out) {
  const byName = new Map();
  let name = null;
  for (const line of out.split('\n')) {
    const m = /^== (\S+)$/.exec(line);
    if (m) {
      name = m[1];
      byName.set(name, []);
    } else if (name) {
      byName.get(name).push(line);
    }
  }
  return new Map([...byName].map(([k, lines]) => [k, lines.join('\n')]));
}

function assertClean(name, report) {
  assert.match(report, /Memcheck, a memory error detector/, `${name} ran under memcheck:\n${report}`);
  assert.match(report, /ERROR SUMMARY: 0 errors from 0 contexts/, `${name}: no memcheck error:\n${report}`);
  assert.match(
    report,
    /All heap blocks were freed -- no leaks are possible|definitely lost: 0 bytes in 0 blocks/,
    `${name}: no definite leak:\n${report}`,
  );
}

test('valgrind is installed (Debian package "valgrind")', () => {
  const r = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, 'valgrind --version runs');
  assert.match(r.stdout, /^valgrind-\d+\.\d+/);
});

test('the C unit tests pass under valgrind memcheck with no error and no definite leak', () => {
  const r = make('test/c');
  const byName = reports(r.out);
  const programs = list('test/c', /^test_.*\.c$/);
  assert.deepEqual([...byName.keys()].sort(), programs, `every test program ran:\n${r.out.slice(-4000)}`);
  for (const name of programs) {
    const report = byName.get(name);
    assert.match(report, /^\d+ passed, 0 failed$/m, `${name} passes:\n${report}`);
    assertClean(name, report);
  }
  assert.equal(r.status, 0, r.out.slice(-4000));
});

test('every fuzzer replays its kept corpus under valgrind memcheck with no error and no definite leak', () => {
  const r = make('test/fuzz');
  const byName = reports(r.out);
  const targets = list('test/fuzz', /^fuzz_.*\.c$/);
  assert.deepEqual([...byName.keys()].sort(), targets, `every target ran:\n${r.out.slice(-4000)}`);
  for (const name of targets) {
    const report = byName.get(name);
    const files = fs.readdirSync(path.join(root, 'test/fuzz/corpus', name)).filter((f) => !f.startsWith('.'));
    assert.ok(files.length > 0, `${name} has a corpus`);
    assert.match(report, new RegExp(`^replayed ${files.length} inputs$`, 'm'), `${name} replayed its corpus:\n${report}`);
    assertClean(name, report);
  }
  assert.equal(r.status, 0, r.out.slice(-4000));
});
