'use strict';
// Builds the C addon with node-gyp, offline when Node's headers are
// installed beside the running node. Usage:
//   node scripts/build.js            build if build/Release/websocket.node is missing or stale
//   node scripts/build.js --force    always rebuild
//   node scripts/build.js --sanitize build an ASan+UBSan variant into build-sanitize/
//   node scripts/build.js --no-hiredis  build the variant without Redis support (HAVE_HIREDIS off, as on a
//                                    machine without libhiredis-dev) into build-nohiredis/, if missing or stale
//   node scripts/build.js --prefer-prebuild  the package's install script: nothing is compiled when a prebuilt
//                                    addon in prebuilds/ (scripts/prebuild.js) loads here; else as with no argument
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { root, findNodeGyp, localNodeDir, newestSourceTime } = require('./node-gyp');
const args = process.argv.slice(2);
const force = args.includes('--force');
const sanitize = args.includes('--sanitize');
const noHiredis = args.includes('--no-hiredis');
const preferPrebuild = args.includes('--prefer-prebuild');

function fail(message) {
  process.stderr.write(`node.websocket build: ${message}\n`);
  process.exit(1);
}

function checkCompiler() {
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['--version'], { stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    fail(`no C compiler found (tried "${cc}"). Install one, e.g. "apt-get install build-essential".`);
  }
}

function build(cwd, extraArgs) {
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) fail('node-gyp was not found; it ships with npm: reinstall npm or "npm install -g node-gyp".');
  checkCompiler();
  const nodedir = localNodeDir();
  const gypArgs = ['rebuild', '--release', ...extraArgs];
  if (nodedir) {
    gypArgs.push(`--nodedir=${nodedir}`);
    if (!fs.existsSync(path.join(nodedir, 'include/node/node_api.h'))) {
      fail(`Node's headers under ${nodedir}/include/node lack node_api.h; reinstall Node with its headers.`);
    }
  }
  const r = spawnSync(process.execPath, [nodeGyp, ...gypArgs], { cwd, stdio: 'inherit' });
  if (r.status !== 0) fail('compiling the addon failed (see the compiler output above).');
}

// The example services of the gateway (backends/: libwsservice,
// websocket_echo, websocket_chat, websocket_jsonrpc) into build/backends/.
// make is incremental; a missing library names its Debian package (see
// backends/jsonrpc.mk) and fails the build rather than skip a service.
// In an installed package (no .git) the services are optional: a user who
// only wants the server is warned, not refused; the project's own checkout
// (and so CI) fails.
function buildBackends() {
  const r = spawnSync('make', ['-s', '-C', path.join(root, 'backends')], { stdio: 'inherit' });
  let problem = null;
  if (r.error) problem = `running make for backends/ failed: ${r.error.message} (install make, e.g. "apt-get install build-essential").`;
  else if (r.status !== 0) problem = 'building the services in backends/ failed (see the output above).';
  if (problem === null) return;
  if (fs.existsSync(path.join(root, '.git'))) fail(problem);
  process.stderr.write(`node.websocket: ${problem}\nThe server is built; only the gateway's example services (websocket_echo, websocket_chat, websocket_jsonrpc) are missing.\n`);
}

// The prebuilt addon node-gyp-build would pick for this machine (lib/native.js
// loads through it), if there is one and it loads here (an older glibc than it
// needs does not); null otherwise.
function fittingPrebuild() {
  process.env.PREBUILDS_ONLY = '1'; // read by node-gyp-build when required: a build/ of a former compile is not a prebuild
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch (err) {
    process.stderr.write(`node.websocket: no prebuilt addon in prebuilds/ fits this machine (${err.message.split('\n')[0]}); building from source.\n`);
    return null;
  }
  try {
    require(file);
  } catch (err) {
    process.stderr.write(`node.websocket: the prebuilt addon ${path.relative(root, file)} does not load here (${err.message}); building from source.\n`);
    return null;
  }
  return file;
}

// A copy of the sources (and binding.gyp, as edited) in dir, so a variant never replaces the normal build.
function variantSources(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true });
  return JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8'));
}

if (sanitize) {
  const dir = path.join(root, 'build-sanitize');
  const gyp = variantSources(dir);
  const flags = ['-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', '-g', '-O1'];
  for (const t of gyp.targets) {
    t.cflags = t.cflags.filter((f) => f !== '-O2').concat(flags);
    t.ldflags = (t.ldflags || []).concat(['-fsanitize=address,undefined']);
  }
  fs.writeFileSync(path.join(dir, 'binding.gyp'), JSON.stringify(gyp, null, 2));
  build(dir, []);
  const lib = execFileSync(process.env.CC || 'cc', ['-print-file-name=libasan.so']).toString().trim();
  process.stdout.write(`${path.join(dir, 'build/Release/websocket.node')}\n${lib}\n`);
} else if (noHiredis) {
  // What a machine without libhiredis-dev builds: no Redis functions in the addon, --redis refused.
  const dir = path.join(root, 'build-nohiredis');
  const addon = path.join(dir, 'build/Release/websocket.node');
  if (force || !fs.existsSync(addon) || fs.statSync(addon).mtimeMs < newestSourceTime()) {
    // Built aside and moved in whole: a test run that uses build-nohiredis/ meanwhile never sees half a build.
    const tmp = `${dir}.tmp-${process.pid}`;
    const gyp = variantSources(tmp);
    gyp.variables['have_hiredis%'] = '0';
    fs.writeFileSync(path.join(tmp, 'binding.gyp'), JSON.stringify(gyp, null, 2));
    build(tmp, []);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  }
  process.stdout.write(`${addon}\n`);
} else {
  const prebuilt = preferPrebuild ? fittingPrebuild() : null;
  if (prebuilt) {
    // No compile, and so no gateway example services (backends/ needs make and a compiler; they are optional).
    process.stdout.write(`node.websocket: using the prebuilt addon ${path.relative(root, prebuilt)}; nothing compiled.\n`);
  } else {
    const addon = path.join(root, 'build/Release/websocket.node');
    if (force || !fs.existsSync(addon) || fs.statSync(addon).mtimeMs < newestSourceTime()) {
      build(root, []);
    }
    buildBackends();
  }
}
