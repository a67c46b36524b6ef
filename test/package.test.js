'use strict';

// The npm package: `npm pack` into a temporary folder, then what the tarball
// holds. It must carry what a build and the demo need (runserver.js, lib/,
// the C sources, binding.gyp, scripts/, modules/, the demo pages) and the
// `node.websocket` command, the prebuilt addons (scripts/prebuild.js, run by
// npm pack), and not the tests or the benchmarks. Then `npm install <tarball>`
// into an empty project with no compiler on PATH: the prebuild is used,
// nothing is compiled, and `npx node.websocket` serves the demo (with Redis).

const { test, after, describe, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawn, spawnSync } = require('child_process');
const { freePort, startRedis, waitUntil, wsClient, wsRoundTrip, withoutPreload } = require('./helpers');

const root = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'package-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

// npm pack, fixed arguments, no shell; the tarball's entries as tar lists them.
let packed = null;
function pack() {
  if (packed) return packed;
  // prepack builds the prebuilds when they are missing or older than the sources.
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], {
    cwd: root, encoding: 'utf8', timeout: 600000, stdio: ['ignore', 'pipe', 'pipe'],
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
    /\.test\.js$/.test(p) || (/\.node$/.test(p) && !PREBUILD_ENTRY.test(p)));
  assert.deepEqual(bad, []);
});

const PREBUILD_ENTRY = /^prebuilds\/linux-(x64|arm64)\/node\.napi\.glibc\.node$/;
const HOST_PREBUILD = `prebuilds/linux-${os.arch()}/node.napi.glibc.node`;

/** readelf's answer for an ELF file: the shared libraries it needs and the newest GLIBC_ version it asks for. */
function elf(file) {
  const needed = [...execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' })
    .matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const glibc = [...execFileSync('readelf', ['-V', '-W', file], { encoding: 'utf8' }).matchAll(/Name: GLIBC_([\d.]+)/g)]
    .map((m) => m[1]).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop();
  return { needed, glibc };
}

test('npm pack: the tarball carries the Node-API prebuilds for linux-x64 and linux-arm64, needing nothing but glibc (as old as the README says)', () => {
  const { tarball, entries } = pack();
  assert.deepEqual([...entries.keys()].filter((p) => p.startsWith('prebuilds/')).filter((p) => !p.endsWith('/')).sort(),
    ['prebuilds/linux-arm64/node.napi.glibc.node', 'prebuilds/linux-x64/node.napi.glibc.node']);
  const out = fs.mkdtempSync(path.join(tmp, 'prebuilds-'));
  execFileSync('tar', ['-xzf', tarball, '-C', out, 'package/prebuilds'], { timeout: 20000 });
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const floor = readme.match(/glibc (\d+\.\d+) or newer/);
  assert.ok(floor, 'the README states the glibc floor ("glibc X.Y or newer")');
  for (const arch of ['x64', 'arm64']) {
    const file = path.join(out, 'package/prebuilds', `linux-${arch}`, 'node.napi.glibc.node');
    const { needed, glibc } = elf(file);
    assert.deepEqual(needed.filter((l) => l !== 'libc.so.6' && !/^ld-linux-[\w-]+\.so\.\d+$/.test(l)), [], `${arch}: only glibc is needed (hiredis inside)`);
    assert.equal(glibc, floor[1], `${arch}: the glibc it needs is the README's floor`);
  }
});

describe('npm install <tarball> on a machine without a compiler', () => {
  const project = path.join(tmp, 'project');
  const installed = path.join(project, 'node_modules', 'node.websocket');
  const bin = path.join(tmp, 'bin'); // PATH: node, npm, npx and a shell, nothing that compiles
  const env = { HOME: os.homedir(), PATH: bin, TMPDIR: os.tmpdir() }; // none of npm's npm_config_* from a surrounding npm run
  let install;
  let redis;

  before(async () => {
    const { tarball } = pack();
    fs.mkdirSync(bin);
    for (const name of ['node', 'npm', 'npx', 'sh', 'env']) {
      const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).stdout.trim();
      assert.ok(found, `${name} is on PATH`);
      fs.symlinkSync(found, path.join(bin, name));
    }
    fs.mkdirSync(project);
    // allowScripts: npm 11 runs a dependency's install script only when allowed; allowed, it must not compile either.
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({
      name: 'empty-project', version: '1.0.0', private: true, allowScripts: { 'node.websocket': true },
    }));
    // node-gyp-build, the one dependency, from npm's cache when it is there.
    install = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball],
      { cwd: project, env, encoding: 'utf8', timeout: 300000 });
    redis = await startRedis();
  });
  after(async () => { if (redis) await redis.close(); });

  test('no compiler is reachable on that PATH', () => {
    for (const tool of ['cc', 'gcc', 'clang', 'g++', 'make', 'python3']) {
      const r = spawnSync(path.join(bin, 'sh'), ['-c', 'command -v "$1"', 'sh', tool], { env, encoding: 'utf8' });
      assert.notEqual(r.status, 0, `${tool} is not found (${r.stdout})`);
    }
  });

  test('the install succeeds, its script takes the prebuild, and nothing is compiled', () => {
    assert.equal(install.status, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
    assert.match(install.stdout, new RegExp(`node\\.websocket: using the prebuilt addon ${HOST_PREBUILD.replace(/\./g, '\\.')}; nothing compiled\\.`));
    assert.ok(fs.existsSync(path.join(installed, HOST_PREBUILD)));
    assert.ok(!fs.existsSync(path.join(installed, 'build')), 'no build/ in the installed package');
    assert.ok(fs.existsSync(path.join(project, 'node_modules', 'node-gyp-build', 'package.json')), 'node-gyp-build, the runtime dependency, is installed');
  });

  test('npx node.websocket --version prints the version', () => {
    const r = spawnSync('npx', ['--no-install', 'node.websocket', '--version'], { cwd: project, env, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, `node.websocket ${pkg.version}\n`);
  });

  test('npx node.websocket --port=<free> serves the demo page and the echo, with Redis, from the prebuild', async () => {
    const port = await freePort();
    const child = spawn('npx', ['--no-install', 'node.websocket', `--port=${port}`, '--host=127.0.0.1', `--redis=${redis.url}`],
      { cwd: project, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const closed = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    try {
      await waitUntil(() => stdout.includes(`listening on ws://127.0.0.1:${port}/`), 30000, `the server to listen (${stderr})`);
      const page = await fetch(`http://127.0.0.1:${port}/test.html`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /ws:\/\/|WebSocket/);
      const ws = await wsClient(`ws://127.0.0.1:${port}/echo`);
      const { data } = await wsRoundTrip(ws, 'from the prebuild');
      assert.equal(String(data), 'from the prebuild');
      ws.close();
      // Redis works from the prebuild (hiredis is inside): the log reaches its list.
      const key = `node.websocket.127.0.0.1.${port}`;
      await waitUntil(() => redis.command('LRANGE', key, '0', '-1').includes('Redis (commands): connected to'), 10000, 'the log in Redis');
      // The process that serves has the prebuild mapped, no libhiredis and nothing from a build/.
      const prebuild = path.join(installed, HOST_PREBUILD);
      const servers = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((pid) => {
        try { return fs.readFileSync(`/proc/${pid}/maps`, 'utf8'); } catch (_) { return ''; }
      }).filter((maps) => maps.includes(prebuild));
      assert.equal(servers.length, 1, 'one process has the prebuild loaded');
      assert.doesNotMatch(servers[0], /libhiredis/);
      assert.ok(!servers[0].includes(path.join(installed, 'build')), 'nothing loaded from a build/');
      assert.equal(stderr, '', 'nothing on stderr (no build attempted)');
    } finally {
      process.kill(-child.pid, 'SIGTERM'); // npx and the server it runs
      await closed;
    }
  });

  test('without allowScripts (npm 11\'s default: the install script is skipped) the prebuild still loads', () => {
    const plain = path.join(tmp, 'plain');
    fs.mkdirSync(plain);
    fs.writeFileSync(path.join(plain, 'package.json'), JSON.stringify({ name: 'plain', version: '1.0.0', private: true }));
    const r = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', pack().tarball], { cwd: plain, env, encoding: 'utf8', timeout: 300000 });
    assert.equal(r.status, 0, r.stderr);
    const load = spawnSync('node', ['-e', 'process.stdout.write(String(require("node.websocket/lib/native").redisAvailable))'],
      { cwd: plain, env, encoding: 'utf8', timeout: 30000 });
    assert.equal(load.stdout, 'true', load.stderr);
    assert.ok(!fs.existsSync(path.join(plain, 'node_modules', 'node.websocket', 'build')));
  });

  test('where no prebuild fits, the install script builds from source with node-gyp (compiler back on PATH)', () => {
    fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
    const r = spawnSync('npm', ['rebuild', 'node.websocket', '--foreground-scripts'],
      { cwd: project, env: { ...withoutPreload(), PATH: process.env.PATH }, encoding: 'utf8', timeout: 600000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /no prebuilt addon in prebuilds\/ fits this machine/);
    assert.ok(fs.existsSync(path.join(installed, 'build', 'Release', 'websocket.node')));
    const load = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(require("node.websocket/lib/native").redisAvailable))'],
      { cwd: project, encoding: 'utf8', timeout: 30000 });
    assert.equal(load.stdout, 'true', load.stderr);
  });
});

test('npx node.websocket runs runserver.js through the bin entry', () => {
  // --no-install: the command of this package itself, never one from the registry.
  const out = execFileSync('npx', ['--no-install', 'node.websocket', '--version'], {
    cwd: root, encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.equal(out, `node.websocket ${pkg.version}\n`);
});
