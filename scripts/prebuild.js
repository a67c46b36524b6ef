'use strict';
// Builds the prebuilt addons the npm package carries, with prebuildify, into
// prebuilds/<platform>-<arch>/node.napi.glibc.node, where node-gyp-build (and
// so lib/native.js and the install script) finds them:
// - a Node-API build (NAPI_VERSION is pinned in native/addon.c), so one
//   binary serves every Node from 20 on;
// - hiredis linked in statically (NODE_WEBSOCKET_HIREDIS=static, see
//   binding.gyp), so the user's machine needs no libhiredis;
// - on linux-x64 also linux-arm64, cross-built (Debian packages
//   gcc-aarch64-linux-gnu and libhiredis-dev:arm64).
// Each one is checked: it needs no shared library but glibc's (libc, the loader), the one for
// this machine loads and has Redis, and a cross-built one imports nothing the native one does
// not (the same Node-API, libuv and libc functions; hiredis is inside). Prints each prebuild with the newest
// glibc symbol version it needs (the glibc floor the README states), on stderr.
// Built in build-prebuild-<arch>/ (a copy of the sources): build/ is left alone.
// Usage: node scripts/prebuild.js [--force]   (npm run prebuilds; npm pack runs it first)
// (--only=<arch> is the child that runs prebuildify for one target.)
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { root, findNodeGyp, localNodeDir, newestSourceTime } = require('./node-gyp');

const force = process.argv.includes('--force');
const NAME = 'node.napi.glibc.node';

function fail(message) {
  process.stderr.write(`node.websocket prebuild: ${message}\n`);
  process.exit(1);
}

if (os.platform() !== 'linux') fail(`prebuilds are made on linux (glibc); this is ${os.platform()}.`);
if (fs.existsSync('/etc/alpine-release')) fail('prebuilds are made against glibc; this is Alpine (musl).');

const native = { arch: os.arch(), cc: process.env.CC || 'cc', strip: 'strip', triplet: null };
const targets = [native];
if (native.arch === 'x64') {
  native.triplet = 'x86_64-linux-gnu';
  targets.push({ arch: 'arm64', cc: 'aarch64-linux-gnu-gcc', strip: 'aarch64-linux-gnu-strip', triplet: 'aarch64-linux-gnu',
    packages: 'gcc-aarch64-linux-gnu and libhiredis-dev:arm64 (after "dpkg --add-architecture arm64 && apt-get update")' });
}

function checkToolchain(t) {
  const cc = spawnSync(t.cc, ['--version'], { stdio: 'ignore' });
  if (cc.error || cc.status !== 0) fail(`no C compiler for linux-${t.arch} ("${t.cc}"): install ${t.packages || 'build-essential'}.`);
  if (!fs.existsSync('/usr/include/hiredis/hiredis.h')) fail('hiredis headers missing: install libhiredis-dev.');
  const lib = execFileSync(t.cc, ['-print-file-name=libhiredis.a'], { encoding: 'utf8' }).trim();
  if (!path.isAbsolute(lib)) fail(`no static libhiredis for linux-${t.arch}: install ${t.arch === 'arm64' ? 'libhiredis-dev:arm64' : 'libhiredis-dev'}.`);
}

/** The shared libraries an ELF file needs and the newest GLIBC_ symbol version among them. */
function elfNeeds(file) {
  const dynamic = execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
  const libs = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const versions = execFileSync('readelf', ['-V', '-W', file], { encoding: 'utf8' });
  const glibc = [...versions.matchAll(/Name: GLIBC_(\d+(?:\.\d+)*)/g)].map((m) => m[1])
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return { libs, glibc: glibc.length ? glibc[glibc.length - 1] : null };
}

/** The names of the dynamic symbols an ELF file imports. */
function imports(file) {
  const syms = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' });
  return new Set(syms.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[6] === 'UND' && f[7]).map((f) => f[7].replace(/@.*/, '')));
}

function prebuildify(t) {
  return new Promise((resolve, reject) => {
    const stage = path.join(root, `build-prebuild-${t.arch}`);
    fs.rmSync(stage, { recursive: true, force: true });
    fs.mkdirSync(stage, { recursive: true });
    fs.cpSync(path.join(root, 'native'), path.join(stage, 'native'), { recursive: true });
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
    // Read by node-gyp (nodedir: offline against the local headers), by the make files it writes (CC, LINK) and by binding.gyp.
    process.env.NODE_WEBSOCKET_HIREDIS = 'static';
    process.env.CC = t.cc;
    process.env.CXX = t.cc; // there is no C++; gyp still names a C++ compiler
    process.env.LINK = t.cc;
    const nodedir = localNodeDir();
    if (nodedir) process.env.npm_config_nodedir = nodedir;
    const nodeGyp = findNodeGyp();
    if (!nodeGyp) fail('node-gyp was not found; it ships with npm: reinstall npm or "npm install -g node-gyp".');
    require('prebuildify')({
      targets: [{ runtime: 'node', target: process.versions.node }],
      napi: true, tagLibc: true, name: 'node.napi', arch: t.arch, strip: true, stripBin: t.strip,
      cwd: stage, out: root, nodeGyp,
    }, (err) => {
      fs.rmSync(stage, { recursive: true, force: true });
      if (err) reject(err); else resolve();
    });
  });
}

// One target in a child process whose stdout is this one's stderr: node-gyp's
// output must not reach stdout, which is npm pack --json's answer.
function build(t, rel) {
  checkToolchain(t);
  process.stderr.write(`node.websocket prebuild: building ${rel}\n`);
  const r = spawnSync(process.execPath, [__filename, `--only=${t.arch}`], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) fail(`building ${rel} failed (see the compiler output above).`);
}

function main() {
  const newest = newestSourceTime(__filename, path.join(__dirname, 'node-gyp.js'));
  for (const t of targets) {
    const file = path.join(root, 'prebuilds', `linux-${t.arch}`, NAME);
    const rel = path.relative(root, file);
    if (force || !fs.existsSync(file) || fs.statSync(file).mtimeMs < newest) build(t, rel);
    const { libs, glibc } = elfNeeds(file);
    const extra = libs.filter((l) => l !== 'libc.so.6' && !/^ld-linux-[\w-]+\.so\.\d+$/.test(l));
    if (extra.length) fail(`${rel} needs ${extra.join(', ')} besides glibc: it must not (hiredis is linked in statically).`);
    if (t !== native) {
      const host = imports(path.join(root, 'prebuilds', `linux-${native.arch}`, NAME));
      const own = [...imports(file)].filter((s) => !host.has(s) && s !== '__stack_chk_guard'); // aarch64's stack protector is a variable
      if (own.length) fail(`${rel} imports ${own.join(', ')}, which the linux-${native.arch} one does not.`);
    } else {
      const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(require(process.argv[1]).redisAvailable))', file],
        { encoding: 'utf8', timeout: 20000 });
      if (r.stdout !== 'true') fail(`${rel} does not load here with Redis support (${r.stdout}${r.stderr}).`);
    }
    process.stderr.write(`node.websocket prebuild: ${rel}: needs ${libs.join(', ')}, glibc ${glibc}\n`);
  }
}

const only = process.argv.find((a) => a.startsWith('--only='));
if (only) {
  prebuildify(targets.find((t) => t.arch === only.slice('--only='.length))).catch((err) => fail(err.message));
} else {
  main();
}
