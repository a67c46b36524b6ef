'use strict';
// Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer
// (node scripts/build.js --sanitize) and runs the engine's suites against that build in a child `node --test`. Any sanitizer report
// fails the test. NODE_WEBSOCKET_SKIP_SANITIZE=1 skips it (quick local runs).

const { test } = require('node:test');
const assert = require('assert/strict');
const path = require('path');
const fs = require('fs');
const { spawn } = require('child_process');

const root = path.join(__dirname, '..');
const BUILD_MS = 10 * 60 * 1000;
const RUN_MS = 15 * 60 * 1000;

/** Runs a command; resolves { code, signal, stdout, stderr }; kills it after ms. */
function run(cmd, args, { env, ms }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(cmd)} ${args.join(' ')} did not finish within ${ms / 1000} s\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`));
    }, ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const skip = process.env.NODE_WEBSOCKET_SKIP_SANITIZE === '1' && 'NODE_WEBSOCKET_SKIP_SANITIZE=1';

test('the protocol, conformance, pub/sub, deflate, TLS, integration, proxy, Redis, gateway, gateway-services and legacy-draft suites pass against an ASan+UBSan build with no sanitizer report', { skip, timeout: BUILD_MS + RUN_MS + 60000 }, async (t) => {
  const build = await run(process.execPath, [path.join(root, 'scripts', 'build.js'), '--sanitize'], { env: process.env, ms: BUILD_MS });
  assert.equal(build.code, 0, `the sanitizer build failed:\n${build.stderr.slice(-4000)}`);
  const [addon, libasan] = build.stdout.trim().split('\n').slice(-2).map((s) => s.trim());
  assert.ok(addon && fs.existsSync(addon), `the sanitizer build printed no addon path: ${JSON.stringify(build.stdout.slice(-500))}`);
  assert.ok(libasan && path.isAbsolute(libasan) && fs.existsSync(libasan), `libasan not found: ${JSON.stringify(libasan)}`);
  t.diagnostic(`addon ${addon}, preloading ${libasan}`);

  const env = {
    ...process.env,
    NODE_WEBSOCKET_ADDON: addon,
    LD_PRELOAD: libasan,
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  };
  delete env.NODE_WEBSOCKET_TEST_URL;
  delete env.NODE_WEBSOCKET_CONFORMANCE;
  delete env.NODE_TEST_CONTEXT; // let the child be a test runner of its own
  const files = ['protocol.test.js', 'conformance.test.js', 'pubsub.test.js', 'deflate.test.js', 'tls.test.js',
    'integration.test.js', 'proxy.test.js', 'redis.test.js', 'gateway.test.js', 'gateway-services.test.js', 'legacy.test.js'].map((f) => path.join(__dirname, f));
  const res = await run(process.execPath, ['--test', '--test-reporter=tap', ...files], { env, ms: RUN_MS });
  const summary = res.stdout.split('\n').filter((l) => /^# (tests|pass|fail|cancelled|duration_ms) /.test(l) || /conformance: /.test(l));
  for (const line of summary) t.diagnostic(line.replace(/^# /, ''));
  const failures = res.stdout.split('\n').filter((l) => /^\s*not ok /.test(l)).slice(0, 30);
  const output = `${res.stderr}\n${res.stdout}`;
  const asan = /.*ERROR: AddressSanitizer(.*\n){0,40}/.exec(output);
  assert.ok(!asan, `AddressSanitizer report:\n${asan && asan[0]}`);
  const ubsan = /.*runtime error:(.*\n){0,20}/.exec(output);
  assert.ok(!ubsan, `UndefinedBehaviorSanitizer report:\n${ubsan && ubsan[0]}`);
  assert.equal(res.code, 0, `the suites failed under the sanitizers (exit ${res.code}, signal ${res.signal}):\n${failures.join('\n')}\n${res.stderr.slice(-4000)}`);
});
