'use strict';

// The npm package: `npm pack` into a temporary folder, then what the tarball
// holds. It must carry what a build and the demo need (runserver.js, lib/,
// the C sources, binding.gyp, scripts/, modules/, the demo pages) and the
// `node.websocket` command, and not the tests or the benchmarks. (Installing
// it is the prebuild part of issue 13: that needs a compiler, or a prebuild.)

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'package-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

// npm pack, fixed arguments, no shell; the tarball's entries as tar lists them.
let packed = null;
function pack() {
  if (packed) return packed;
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], {
    cwd: root, encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [info] = JSON.parse(out);
  const tarball = path.join(tmp, info.filename);
  const listing = execFileSync('tar', ['-tvzf', tarball], { encoding: 'utf8', timeout: 20000 });
  const entries = new Map(); // path inside the package -> mode string (-rwxr-xr-x)
  for (const line of listing.split('\n').filter(Boolean)) {
    const fields = line.trim().split(/\s+/);
    entries.set(fields[fields.length - 1].replace(/^package\//, ''), fields[0]);
  }
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  packed = { tarball, entries, manifest };
  return packed;
}

test('package.json has the node.websocket command: runserver.js, a node script', () => {
  assert.deepEqual(pkg.bin, { 'node.websocket': 'runserver.js' });
  const first = fs.readFileSync(path.join(root, 'runserver.js'), 'utf8').split('\n')[0];
  assert.equal(first, '#!/usr/bin/env node');
});

test('npm pack: the tarball holds what a build and the demo need, with the bin entry', () => {
  const { entries, manifest } = pack();
  const has = (p) => entries.has(p);
  const under = (dir) => [...entries.keys()].filter((p) => p.startsWith(dir));
  for (const p of ['package.json', 'runserver.js', 'binding.gyp', 'scripts/build.js', 'lib/index.js', 'lib/options/table.js',
    'native/addon.c', 'index.d.ts', 'README.md', 'test/test.html']) {
    assert.ok(has(p), `the tarball holds ${p}`);
  }
  // Every C source and header of native/ and backends/ (the install builds both), and every module, as in the tree.
  const tree = (dir, re) => fs.readdirSync(path.join(root, dir)).filter((f) => re.test(f)).map((f) => `${dir}/${f}`);
  for (const p of [...tree('native', /\.[ch]$/), ...tree('backends', /\.[ch]$|^Makefile$|\.mk$/), ...tree('modules', /\.js$/), ...tree('lib', /\.js$/)]) {
    assert.ok(has(p), `the tarball holds ${p}`);
  }
  assert.ok(under('native/').length > 10);
  assert.deepEqual(manifest.bin, { 'node.websocket': 'runserver.js' });
  assert.match(entries.get('runserver.js'), /^-rwx/, 'runserver.js is executable');
});

test('npm pack: no tests, benchmarks, builds or node_modules in the tarball', () => {
  const { entries } = pack();
  const bad = [...entries.keys()].filter((p) =>
    /^(bench|build|build-[^/]+|node_modules|backends\/build|\.ci)\//.test(p) ||
    (p.startsWith('test/') && !/^test\/([^/]+\.html|assets\/)/.test(p)) || // the demo pages are the docroot
    /\.test\.js$/.test(p) || /\.node$/.test(p));
  assert.deepEqual(bad, []);
});

test('npx node.websocket runs runserver.js through the bin entry', () => {
  // --no-install: the command of this package itself, never one from the registry.
  const out = execFileSync('npx', ['--no-install', 'node.websocket', '--version'], {
    cwd: root, encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.equal(out, `node.websocket ${pkg.version}\n`);
});
