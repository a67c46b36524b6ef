'use strict';

const fs = require('fs');
// Shared test utilities: starting a node.websocket server on a free port,
// an independent echo server built on the npm `ws` package (to check the
// suites themselves), bounded waits, and the raw client.

const path = require('path');
const net = require('net');
const raw = require('./raw-client');

const FIXTURE_MODULES = path.join(__dirname, 'fixtures', 'modules');

/** Rejects with a clear message when `promise` does not settle within ms. */
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Resolves with the arguments of the next `event` on emitter; rejects after ms. */
function waitEvent(emitter, event, ms = 2000) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), ms, `event "${event}"`);
}

/** Polls pred() every 10 ms until it is true; rejects after ms. */
async function waitUntil(pred, ms = 2000, what = 'a condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await raw.delay(10);
  }
}

/**
 * Starts a node.websocket Server on 127.0.0.1 and a free port.
 * Resolves { server, port, url, close }.
 */
async function startServer(options = {}) {
  const { Server } = require('../lib');
  const server = new Server({ port: 0, host: '127.0.0.1', log: false, ...options });
  await withTimeout(new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(() => {
      server.removeListener('error', reject);
      resolve();
    });
  }), 5000, 'the server to listen');
  const { port } = server.address();
  let closing = null;
  const close = () => {
    if (!closing) {
      const bound = (server.options && server.options.closeTimeout ? server.options.closeTimeout : 5000) + 3000;
      closing = withTimeout(new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
      }), bound, 'server.close()');
    }
    return closing;
  };
  return { server, port, url: `ws://127.0.0.1:${port}`, close };
}

/**
 * Starts a node.websocket Server over TLS (certificates from test/certs.js,
 * made with the openssl command) on 127.0.0.1 and a free port.
 * Resolves { server, port, url: 'wss://127.0.0.1:PORT', close, certs, ca }:
 * give `ca` to clients (`{ ca }` for ws, `{ tls: { ca } }` for RawClient).
 */
async function startTlsServer(options = {}) {
  const certs = require('./certs').makeCerts();
  const started = await startServer({ tls: { cert: certs.cert, key: certs.key }, ...options });
  return { ...started, url: `wss://127.0.0.1:${started.port}`, certs, ca: certs.caPem };
}

/**
 * An independent echo server made with the npm `ws` package: echoes text
 * as text and binary as binary on every path. Used to check that the
 * conformance suite and the raw client are right before trusting them
 * against node.websocket.
 */
async function startWsEchoServer(options = {}) {
  const { WebSocketServer } = require('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 100 * 1024 * 1024, maxFragments: 0, ...options });
  wss.on('connection', (ws) => {
    ws.on('error', () => { /* protocol errors: ws closes with the right code itself */ });
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await withTimeout(new Promise((resolve) => wss.once('listening', resolve)), 5000, 'the ws server to listen');
  const { port } = wss.address();
  const close = () => withTimeout(new Promise((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  }), 5000, 'the ws server to close');
  return { server: wss, port, url: `ws://127.0.0.1:${port}`, close };
}

/**
 * The target of a suite: the server named by env NODE_WEBSOCKET_TEST_URL
 * (e.g. the ws self-check), or a fresh node.websocket server.
 * Resolves { url, port, close }.
 */
async function startTarget(options = {}) {
  const external = process.env.NODE_WEBSOCKET_TEST_URL;
  if (external) {
    const u = new URL(external);
    return { url: external.replace(/\/$/, ''), port: Number(u.port), close: async () => {}, external: true };
  }
  return startServer(options);
}

/** Opens a `ws` client and waits for 'open' (bounded). */
async function wsClient(url, protocols, options = {}) {
  const WebSocket = require('ws');
  const ws = new WebSocket(url, protocols, { handshakeTimeout: 3000, ...options });
  ws.received = [];
  ws.on('message', (data, isBinary) => ws.received.push({ data, isBinary }));
  ws.closed = withTimeout(new Promise((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  }), 30000, 'the ws client to close').catch((e) => ({ error: e }));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  }), 4000, `a ws connection to ${url}`);
  ws.on('error', () => { /* surfaced through close codes */ });
  return ws;
}

/** Sends over a ws client and resolves with the next message (bounded). */
function wsRoundTrip(ws, data, options, ms = 5000) {
  return withTimeout(new Promise((resolve) => {
    ws.once('message', (msg, isBinary) => resolve({ data: msg, isBinary }));
    ws.send(data, options || {});
  }), ms, 'an echo');
}

/**
 * Opens TCP, writes `bytes` (in pieces of `chop` bytes when given), and
 * resolves { closed, data, ms } when the server closes, answers 101, or `ms` pass.
 */
async function tcpExchange(port, bytes, { ms = 3000, chop } = {}) {
  const parts = [];
  for (let i = 0; bytes && i < bytes.length; i += chop || bytes.length) parts.push(bytes.subarray(i, i + (chop || bytes.length)));
  const started = Date.now();
  const r = await raw.rawExchange(port, parts, { gap: chop ? 2 : 0, timeout: ms });
  return { closed: r.closed, data: r.raw, ms: Date.now() - started };
}

/**
 * Sends each { data, binary } on a ws client and resolves with as many
 * messages back ({ data, isBinary }), in the order received.
 */
async function echoAll(ws, messages, ms = 20000) {
  const got = [];
  const done = withTimeout(new Promise((resolve) => {
    const on = (data, isBinary) => {
      got.push({ data, isBinary });
      if (got.length === messages.length) {
        ws.off('message', on);
        resolve();
      }
    };
    ws.on('message', on);
  }), ms, `${messages.length} echoes`);
  for (const m of messages) ws.send(m.data, { binary: m.binary });
  await done;
  return got;
}

// Debian's Chromium, driven by playwright-core, with the flags this machine needs.
const CHROMIUM = '/usr/bin/chromium';

function launchChromium(extra = {}) {
  // Never a skip: .ci/run installs it, and a missing browser must fail the run.
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed (Debian package "chromium")`);
  const { chromium } = require('playwright-core');
  return chromium.launch({
    ...extra,
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Resolves true when a new TCP listen on port succeeds (the port was released). */
function canListen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}


/** The environment without the sanitizer preload (for programs that are not the addon: redis-server, Chromium). */
function withoutPreload() {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  delete env.ASAN_OPTIONS;
  delete env.UBSAN_OPTIONS;
  return env;
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real redis-server (Debian package "redis-server") on a free
 * port in a temp dir, with nothing saved to disk; never the system one.
 * With { password }, clients must AUTH (requirepass) and command() does;
 * it also listens on the UNIX socket `socket` (<dir>/redis.sock).
 * Resolves { port, url, dir, stop(), start(), close(), command(...args) }:
 * stop() kills it (SIGKILL: as if the machine went away), start() starts it
 * again on the same port, close() stops it and removes the dir.
 */
async function startRedis({ password } = {}) {
  const { spawn, execFileSync } = require('child_process');
  const os = require('os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-redis-'));
  const port = await freePort();
  let child = null;
  const auth = password ? ['-a', password, '--no-auth-warning'] : [];
  const env = withoutPreload();
  const cli = (...args) => execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...auth, '--raw', ...args.map(String)],
    { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'], env }).replace(/\n$/, '');
  async function start() {
    if (child !== null) return;
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--protected-mode', 'no', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'),
      '--unixsocket', path.join(dir, 'redis.sock'), '--unixsocketperm', '700',
      ...(password ? ['--requirepass', password] : [])],
    { stdio: 'ignore', env });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.exited = exited;
    await waitUntil(() => {
      try { return cli('PING') === 'PONG'; } catch (_) { return false; }
    }, 10000, `redis-server on port ${port} to answer PING`);
  }
  async function stop() {
    if (child === null) return;
    const c = child;
    child = null;
    c.kill('SIGKILL');
    await withTimeout(c.exited, 5000, 'redis-server to exit');
  }
  await start();
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    socket: path.join(dir, 'redis.sock'),
    start,
    stop,
    command: cli,
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `node runserver.js --host=127.0.0.1 --port=0 ...args` as a real
 * process and waits for its listening line. Resolves { child, port, url,
 * logLines(), stop(signal) }: logLines() are the log records it has written
 * to stdout so far (lines starting with '['); stop() signals it (SIGTERM by
 * default) and resolves { code, signal } when it has exited.
 */
// Runs a program to its end (or SIGKILL after timeoutMs) and resolves with
// its status and whole output (collected on 'close', after the pipes drain).
function runChild(cmd, args, timeoutMs, options = {}) {
  const { spawn } = require('child_process');
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

async function startRunserver(args = [], { env } = {}) {
  const { spawn } = require('child_process');
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'runserver.js'), '--host=127.0.0.1', '--port=0', ...args],
    { cwd: path.join(__dirname, '..'), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const re = /^node\.websocket listening on ws:\/\/[^\s]+:(\d+)\//m;
  try {
    await waitUntil(() => re.test(out) || child.exitCode !== null, 20000, 'runserver.js to listen');
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  if (!re.test(out)) throw new Error(`runserver.js exited: ${err || out}`);
  const port = Number(re.exec(out)[1]);
  return {
    child,
    port,
    url: `ws://127.0.0.1:${port}`,
    get stdout() { return out; },
    get stderr() { return err; },
    logLines: () => out.split('\n').filter((l) => l.startsWith('[')),
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return withTimeout(exited, 15000, 'runserver.js to exit');
    },
  };
}

module.exports = {
  ...raw,
  FIXTURE_MODULES,
  withTimeout,
  waitEvent,
  waitUntil,
  startServer,
  startTlsServer,
  startWsEchoServer,
  startTarget,
  runChild,
  wsClient,
  wsRoundTrip,
  tcpExchange,
  launchChromium,
  echoAll,
  canListen,
  freePort,
  startRedis,
  startRunserver,
  withoutPreload,
};
