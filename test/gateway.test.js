'use strict';
// The gateway to UNIX-socket services: real services (Node's net servers
// for SOCK_STREAM, test/gateway/backend.c for every socket type, built here
// with cc), the npm `ws` client as the peer, real processes killed and
// restarted.

const { test, before, after } = require('node:test');
const assert = require('assert/strict');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const WebSocket = require('ws');
const { startServer: startAnyServer, startTlsServer, wsClient, echoAll, withTimeout, waitUntil, FIXTURE_MODULES } = require('./helpers');
const { Server } = require('../lib');

const root = path.join(__dirname, '..');
let work;      // a short directory: socket paths must fit sun_path
let backendBin;
let noModules; // an empty modules folder: the project's own modules (echo, chat) would serve those names
const children = new Set();

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-'));
  backendBin = path.join(work, 'backend');
  noModules = path.join(work, 'modules');
  fs.mkdirSync(noModules);
  const n = path.join(root, 'native');
  const r = spawnSync(process.env.CC || 'cc', ['-std=c11', '-D_GNU_SOURCE', '-O1', '-g', '-Wall', '-Wextra', '-Werror',
    `-I${n}`, '-o', backendBin, path.join(__dirname, 'gateway', 'backend.c'),
    path.join(n, 'frame.c'), path.join(n, 'utf8.c'), path.join(n, 'gwproto.c')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `building test/gateway/backend.c failed:\n${r.stderr}`);
});

after(() => {
  for (const c of children) killBackend(c);
  fs.rmSync(work, { recursive: true, force: true });
});

/** A server with no modules of its own (unless options name some). */
function startServer(options) {
  return startAnyServer({ modules: noModules, ...options });
}

/** A fresh services directory. */
function servicesDir() {
  return fs.mkdtempSync(path.join(work, 's'));
}

/** Starts the C backend and waits for its "ready"; lines collects what it prints. */
async function startBackend(type, socketPath, mode = 'echo') {
  const child = spawn(backendBin, [type, socketPath, mode], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  children.add(child);
  child.lines = [];
  let buffered = '';
  child.stdout.on('data', (d) => {
    buffered += d;
    const parts = buffered.split('\n');
    buffered = parts.pop();
    child.lines.push(...parts);
  });
  await waitUntil(() => child.lines.includes('ready'), 5000, `backend ${type} ${mode} to listen`);
  return child;
}

/** Kills a backend and the children it forked for its connections. */
function killBackend(child) {
  try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone already */ }
  children.delete(child);
}

/** A SOCK_STREAM echo service made with Node's net module. */
function netEcho(socketPath) {
  const srv = net.createServer((s) => {
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  return new Promise((resolve) => srv.listen(socketPath, () => resolve(srv)));
}

/** The answer to an upgrade that must be refused: { status, body }. */
function refused(url, protocols) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`${url} was upgraded; a refusal was expected`));
    });
    ws.on('error', () => {});
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: body.trim() }));
    });
  }), 5000, `the refusal of ${url}`);
}

function assertEchoes(got, messages) {
  assert.equal(got.length, messages.length);
  for (let i = 0; i < messages.length; i++) {
    const want = messages[i];
    assert.equal(got[i].isBinary, want.binary, `message ${i} (${want.data.length} B) keeps its type`);
    assert.equal(got[i].data.length, Buffer.byteLength(want.data), `message ${i} keeps its length`);
    assert.ok(Buffer.from(got[i].data).equals(Buffer.from(want.data)), `message ${i} (${want.data.length} B) comes back intact`);
  }
}

const KiB = 1024;
const MiB = 1024 * 1024;

function textOf(n, seed = 0) {
  let s = '';
  const alphabet = 'abcdefghijklmnopqrstuvwxyzé€';
  while (s.length < n) s += alphabet[(s.length + seed) % alphabet.length];
  return Buffer.from(s).subarray(0, n).toString('latin1').replace(/[^a-z]/g, 'x');
}

function binaryOf(n, seed = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const STREAM_SIZES = [0, 1, 125, 126, 65535, 65536, 200 * KiB, MiB, 16 * MiB];

test('length framing over SOCK_STREAM echoes text and binary messages of 0 B to 16 MiB with their boundaries intact', { timeout: 60000 }, async () => {
  const dir = servicesDir();
  const svc = await netEcho(path.join(dir, 'echo'));
  const { url, close } = await startServer({ gateway: { services: dir, framing: 'length' } });
  try {
    const ws = await wsClient(`${url}/echo`);
    const messages = [];
    for (const n of STREAM_SIZES) {
      messages.push({ data: textOf(n, n), binary: false });
      messages.push({ data: binaryOf(n, n), binary: true });
    }
    assertEchoes(await echoAll(ws, messages), messages);
    ws.close();
  } finally {
    await close();
    svc.close();
  }
});

for (const framing of ['line', 'nul']) {
  test(`${framing} framing over SOCK_STREAM echoes text messages of 0 B to 16 MiB, one message per ${framing === 'line' ? 'line' : 'NUL-terminated string'}`, { timeout: 60000 }, async () => {
    const dir = servicesDir();
    const svc = await netEcho(path.join(dir, 'echo'));
    const { url, close } = await startServer({ gateway: { services: dir, framing } });
    try {
      const ws = await wsClient(`${url}/echo`);
      const messages = STREAM_SIZES.map((n) => ({ data: textOf(n, n), binary: false }));
      assertEchoes(await echoAll(ws, messages), messages);
      ws.close();
    } finally {
      await close();
      svc.close();
    }
  });
}

test('line framing turns each backend line into one text message and drops a trailing CR', async () => {
  const dir = servicesDir();
  const svc = net.createServer((s) => s.end('first\r\nsecond\nthird line\n')).listen(path.join(dir, 'lines'));
  const { url, close } = await startServer({ gateway: { services: dir, framing: 'line' } });
  try {
    const ws = await wsClient(`${url}/lines`);
    const { code, reason } = await ws.closed;
    assert.deepEqual(ws.received.map((m) => [m.data.toString(), m.isBinary]), [['first', false], ['second', false], ['third line', false]]);
    assert.equal(code, 1011);
    assert.equal(reason, 'gateway: service closed the connection');
  } finally {
    await close();
    svc.close();
  }
});

test('line framing closes a client that sends a newline or binary with 1003 and a reason, since boundaries could not be kept', async () => {
  const dir = servicesDir();
  const svc = await netEcho(path.join(dir, 'echo'));
  const { url, close } = await startServer({ gateway: { services: dir, framing: 'line' } });
  try {
    const a = await wsClient(`${url}/echo`);
    a.send('two\nlines');
    const ca = await a.closed;
    assert.equal(ca.code, 1003);
    assert.match(ca.reason, /without newlines \(line framing\)/);
    const b = await wsClient(`${url}/echo`);
    b.send(Buffer.from([1, 2, 3]));
    assert.equal((await b.closed).code, 1003);
  } finally {
    await close();
    svc.close();
  }
});

test('ouistiti framing writes client payloads as they are and makes each backend read one message, text when UTF-8, else binary', async () => {
  const dir = servicesDir();
  const svc = await netEcho(path.join(dir, 'echo'));
  const { url, close } = await startServer({ gateway: { services: dir } });
  try {
    const ws = await wsClient(`${url}/echo`);
    for (const [data, binary] of [['hello', false], [Buffer.from([0xff, 0xfe, 0]), true], ['été', false]]) {
      const [got] = await echoAll(ws, [{ data, binary }]);
      assert.equal(got.isBinary, binary);
      assert.ok(Buffer.from(got.data).equals(Buffer.from(data)));
    }
    ws.close();
  } finally {
    await close();
    svc.close();
  }
});

const PACKET_SIZES = [1, 125, 126, 65535, 65536, 150 * KiB];

for (const type of ['seqpacket', 'dgram']) {
  test(`a SOCK_${type.toUpperCase()} service gets one packet per message and answers one message per packet (up to ${PACKET_SIZES.at(-1) / KiB} KiB)`, { timeout: 30000 }, async () => {
    const dir = servicesDir();
    const svc = await startBackend(type, path.join(dir, 'echo'));
    const { url, close } = await startServer({ gateway: { services: dir } });
    try {
      const ws = await wsClient(`${url}/echo`);
      const sizes = type === 'dgram' ? [0, ...PACKET_SIZES] : PACKET_SIZES;
      const messages = [];
      for (const n of sizes) messages.push({ data: textOf(n, n), binary: false }, { data: binaryOf(n, n), binary: true });
      // Packets carry no type: a binary packet that happens to be UTF-8 comes back as text.
      const got = await echoAll(ws, messages);
      assert.equal(got.length, messages.length);
      for (let i = 0; i < messages.length; i++) {
        assert.ok(Buffer.from(got[i].data).equals(Buffer.from(messages[i].data)), `packet ${i} (${messages[i].data.length} B) comes back whole`);
      }
      ws.close();
    } finally {
      await close();
      killBackend(svc);
    }
  });
}

// The relay gathers the messages of one client read into one write (stream)
// or one sendmmsg (packets); a message over the gather size goes on its own.
for (const type of ['seqpacket', 'stream']) {
  test(`a burst of small messages with large ones among them reaches a SOCK_${type.toUpperCase()} service in order, each one whole`, { timeout: 30000 }, async () => {
    const dir = servicesDir();
    const svc = await startBackend(type, path.join(dir, 'echo'));
    const { url, close } = await startServer({ gateway: { services: dir, ...(type === 'stream' ? { framing: 'length' } : {}) } });
    try {
      const ws = await wsClient(`${url}/echo`);
      const messages = [];
      for (let i = 0; i < 600; i++) {
        const n = i % 150 === 75 ? 100 * KiB + i : 1 + (i % 40); // a large one now and then: over the gather bound
        messages.push({ data: textOf(n, i), binary: false });
      }
      const got = await echoAll(ws, messages); // sent in one go: many messages per server read
      assert.equal(got.length, messages.length);
      for (let i = 0; i < messages.length; i++) {
        assert.ok(Buffer.from(got[i].data).equals(Buffer.from(messages[i].data)), `message ${i} (${messages[i].data.length} B) comes back whole and in its place`);
      }
      ws.close();
    } finally {
      await close();
      killBackend(svc);
    }
  });
}

test('a message larger than a packet socket takes closes the client with 1009 and a reason', { timeout: 20000 }, async () => {
  const dir = servicesDir();
  const svc = await startBackend('seqpacket', path.join(dir, 'echo'));
  const { url, close } = await startServer({ gateway: { services: dir } });
  try {
    const ws = await wsClient(`${url}/echo`);
    ws.send(binaryOf(8 * MiB));
    const { code, reason } = await ws.closed;
    assert.equal(code, 1009);
    assert.equal(reason, "gateway: message too large for the service's socket");
  } finally {
    await close();
    killBackend(svc);
  }
});

test('the service learns the client address and port from the name the relay socket is bound to', async () => {
  const dir = servicesDir();
  const stream = await startBackend('stream', path.join(dir, 'peer'), 'peer');
  const dgram = await startBackend('dgram', path.join(dir, 'dpeer'), 'peer');
  const { url, close } = await startServer({ gateway: { services: dir } });
  try {
    const a = await wsClient(`${url}/peer`);
    const [m] = await withTimeout(new Promise((resolve) => a.once('message', (...args) => resolve(args))), 3000, 'the peer line');
    assert.equal(m.toString(), `127.0.0.1 ${a._socket.localPort}`);
    const b = await wsClient(`${url}/dpeer`);
    const [got] = await echoAll(b, [{ data: 'who am I', binary: false }]);
    assert.equal(got.data.toString(), `127.0.0.1 ${b._socket.localPort}`);
    a.close();
    b.close();
  } finally {
    await close();
    killBackend(stream);
    killBackend(dgram);
  }
});

test('allow and deny globs decide which names are reached (deny wins), refused with 403 and a one-line reason', async () => {
  const dir = servicesDir();
  const svcs = await Promise.all(['echo', 'secret-db', 'other'].map((n) => netEcho(path.join(dir, n))));
  const { url, close } = await startServer({ gateway: { services: dir, allow: ['echo', 'secret*'], deny: ['secret-*'] } });
  try {
    (await wsClient(`${url}/echo`)).close();
    assert.deepEqual(await refused(`${url}/secret-db`), { status: 403, body: "gateway: service 'secret-db' is not allowed" });
    assert.deepEqual(await refused(`${url}/other`), { status: 403, body: "gateway: service 'other' is not allowed" });
  } finally {
    await close();
    for (const s of svcs) s.close();
  }
});

test('no request reaches outside the services directory: dot segments, encoded dots, slashes, backslashes and NULs, and links that leave it are refused', async () => {
  const base = servicesDir();
  const dir = path.join(base, 'services');
  fs.mkdirSync(dir);
  const outside = await netEcho(path.join(base, 'outside'));
  const inside = await netEcho(path.join(dir, 'echo'));
  fs.symlinkSync(path.join(base, 'outside'), path.join(dir, 'escape'));
  fs.symlinkSync('../outside', path.join(dir, 'escape2'));
  fs.symlinkSync(path.join(dir, 'echo'), path.join(dir, 'alias'));
  fs.writeFileSync(path.join(dir, 'file'), 'not a socket');
  const { url, port, close } = await startServer({ gateway: { services: dir } });
  try {
    for (const p of ['/..', '/%2e%2e', '/%2E%2E/outside', '/..%2foutside', '/%2e%2e%2foutside', '/a%2fb', '/echo%00',
      '/echo%5c', '/.echo', '/%2eecho', '/ech%6f%00']) {
      const r = await rawStatus(port, p);
      assert.ok(r.status === 404 || r.status === 403 || r.status === 400, `${p} is refused (got ${r.status})`);
      assert.notEqual(r.status, 101);
    }
    assert.deepEqual(await refused(`${url}/escape`), { status: 403, body: "gateway: service 'escape' links outside the services directory" });
    assert.equal((await refused(`${url}/escape2`)).status, 403);
    assert.deepEqual(await refused(`${url}/file`), { status: 404, body: "gateway: 'file' is not a service socket" });
    assert.deepEqual(await refused(`${url}/missing`), { status: 404, body: "gateway: no service 'missing'" });
    const ws = await wsClient(`${url}/alias`);
    const [got] = await echoAll(ws, [{ data: 'through a link inside', binary: false }]);
    assert.equal(got.data.toString(), 'through a link inside');
    ws.close();
  } finally {
    await close();
    outside.close();
    inside.close();
  }
});

/** Sends a raw upgrade for path (unencoded by any client) and returns the status line's code. */
function rawStatus(port, p) {
  return withTimeout(new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
    let data = '';
    s.on('data', (d) => {
      data += d;
      const m = /^HTTP\/1\.1 (\d+)/.exec(data);
      if (m) {
        s.destroy();
        resolve({ status: Number(m[1]), data });
      }
    });
    s.on('error', reject);
  }), 3000, `the answer for ${p}`);
}

test('a service that refuses or is absent is answered 502 before any upgrade, and 503 when its backlog is full', { timeout: 20000 }, async () => {
  const dir = servicesDir();
  const dead = await startBackend('stream', path.join(dir, 'dead'));
  killBackend(dead); // the socket file stays, nobody listens
  await waitUntil(() => dead.exitCode !== null || dead.signalCode !== null, 3000, 'the backend to die');
  const stuck = await startBackend('stream', path.join(dir, 'stuck'), 'stuck');
  const { url, close } = await startServer({ gateway: { services: dir } });
  const open = [];
  try {
    assert.deepEqual(await refused(`${url}/dead`), { status: 502, body: "gateway: service 'dead' refused the connection" });
    let busy = null;
    for (let i = 0; i < 8 && busy === null; i++) {
      try {
        open.push(await wsClient(`${url}/stuck`));
      } catch (_) {
        busy = await refused(`${url}/stuck`);
      }
    }
    assert.deepEqual(busy, { status: 503, body: "gateway: service 'stuck' is busy (its backlog is full)" });
  } finally {
    for (const ws of open) ws.terminate();
    await close();
    killBackend(stuck);
  }
});

test('a service killed mid-stream closes its clients with 1011 and a reason; once restarted, new clients work', { timeout: 20000 }, async () => {
  const dir = servicesDir();
  const sock = path.join(dir, 'echo');
  let svc = await startBackend('stream', sock);
  const { url, close } = await startServer({ gateway: { services: dir } });
  try {
    const ws = await wsClient(`${url}/echo`);
    await echoAll(ws, [{ data: 'before', binary: false }]);
    killBackend(svc);
    const { code, reason } = await ws.closed;
    assert.equal(code, 1011);
    assert.equal(reason, 'gateway: service closed the connection');
    svc = await startBackend('stream', sock);
    const again = await wsClient(`${url}/echo`);
    const [got] = await echoAll(again, [{ data: 'after', binary: false }]);
    assert.equal(got.data.toString(), 'after');
    again.close();
  } finally {
    await close();
    killBackend(svc);
  }
});

test('a client that closes closes its backend connection (the service sees EOF)', async () => {
  const dir = servicesDir();
  const svc = await startBackend('seqpacket', path.join(dir, 'echo'));
  const { url, close } = await startServer({ gateway: { services: dir } });
  try {
    const ws = await wsClient(`${url}/echo`);
    await echoAll(ws, [{ data: 'x', binary: false }]);
    ws.close(1000);
    await ws.closed;
    await waitUntil(() => svc.lines.includes('eof'), 3000, 'the service to see EOF');
  } finally {
    await close();
    killBackend(svc);
  }
});

test('a slow service gets every message, in order', { timeout: 20000 }, async () => {
  const dir = servicesDir();
  const svc = await startBackend('stream', path.join(dir, 'slow'), 'slow');
  const { url, close } = await startServer({ gateway: { services: dir, framing: 'line' } });
  try {
    const ws = await wsClient(`${url}/slow`);
    const messages = Array.from({ length: 40 }, (_, i) => ({ data: `message ${i}`, binary: false }));
    assertEchoes(await echoAll(ws, messages), messages);
    ws.close();
  } finally {
    await close();
    killBackend(svc);
  }
});

test('a flooding service and a client that does not read: the server stops reading the service, its memory stays bounded', { timeout: 30000 }, async () => {
  const dir = servicesDir();
  const svc = await startBackend('stream', path.join(dir, 'flood'), 'flood');
  const { server, port, close } = await startServer({ gateway: { services: dir, framing: 'length' } });
  let socket;
  try {
    const rss0 = process.memoryUsage().rss;
    socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /flood HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause(); // reads nothing more
    await new Promise((r) => setTimeout(r, 2500));
    const conn = [...server.clients][0];
    assert.ok(conn, 'the gateway connection is among server.clients');
    const buffered = conn.bufferedAmount;
    const grown = process.memoryUsage().rss - rss0;
    assert.ok(buffered <= 2 * MiB, `the client's queue stays bounded (${buffered} B)`);
    assert.ok(grown < 64 * MiB, `the server's RSS grew by ${(grown / MiB).toFixed(1)} MiB only`);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(conn.bufferedAmount <= 2 * MiB, 'and does not grow while the client still does not read');
  } finally {
    if (socket) socket.destroy();
    await close();
    killBackend(svc);
  }
});

test('a client that floods a service that does not read is not read either: nothing grows without bound', { timeout: 30000 }, async () => {
  const dir = servicesDir();
  const held = [];
  const sink = net.createServer((s) => { s.pause(); held.push(s); }).listen(path.join(dir, 'sink'));
  await new Promise((r) => sink.once('listening', r));
  const { url, close } = await startServer({ gateway: { services: dir, framing: 'length' } });
  try {
    const rss0 = process.memoryUsage().rss;
    const ws = await wsClient(`${url}/sink`);
    const chunk = binaryOf(64 * KiB);
    for (let i = 0; i < 400; i++) ws.send(chunk); // 25 MiB
    await new Promise((r) => setTimeout(r, 2500));
    // The client keeps most of it: the server stopped reading once about 1 MiB was queued to the service.
    assert.ok(ws.bufferedAmount > 10 * MiB, `the client still holds ${(ws.bufferedAmount / MiB).toFixed(1)} MiB`);
    const grown = process.memoryUsage().rss - rss0;
    assert.ok(grown < 64 * MiB, `the process RSS grew by ${(grown / MiB).toFixed(1)} MiB only`);
    assert.equal(ws.readyState, WebSocket.OPEN, 'and the client is not dropped for it');
    for (const s of held) s.resume(); // the service reads again: everything flows
    await waitUntil(() => ws.bufferedAmount === 0, 10000, 'the client to send everything');
    ws.terminate();
  } finally {
    await close();
    for (const s of held) s.destroy();
    sink.close();
  }
});

test('a directory of sockets is reached through the first Sec-WebSocket-Protocol value naming one of them, echoed in the 101', async () => {
  const dir = servicesDir();
  fs.mkdirSync(path.join(dir, 'chat'));
  const v1 = await netEcho(path.join(dir, 'chat', 'v1'));
  const v2 = net.createServer((s) => s.end('this is v2')).listen(path.join(dir, 'chat', 'v2'));
  const { url, close } = await startServer({ gateway: { services: dir } });
  try {
    const ws = await wsClient(`${url}/chat`, ['nope', 'v2', 'v1']);
    assert.equal(ws.protocol, 'v2');
    const [m] = await withTimeout(new Promise((resolve) => ws.once('message', (...a) => resolve(a))), 3000, 'v2');
    assert.equal(m.toString(), 'this is v2');
    const r = await refused(`${url}/chat`, ['v3']);
    assert.equal(r.status, 404);
    assert.equal(r.body, "gateway: service 'chat' has no socket for any protocol the client offered");
    assert.equal((await refused(`${url}/chat`)).status, 404);
  } finally {
    await close();
    v1.close();
    v2.close();
  }
});

test('a name a JS module serves stays the module\'s, and the start-up log names it as shadowed', async () => {
  const dir = servicesDir();
  const svc = net.createServer((s) => s.end('from the service')).listen(path.join(dir, 'props'));
  const svc2 = await netEcho(path.join(dir, 'echo'));
  const lines = [];
  const write = process.stdout.write;
  process.stdout.write = function (chunk, ...rest) { lines.push(String(chunk)); return write.call(this, chunk, ...rest); };
  let started;
  try {
    started = await startServer({ modules: FIXTURE_MODULES, log: true, gateway: { services: dir } });
  } finally {
    process.stdout.write = write;
  }
  const { server, url, close } = started;
  try {
    assert.ok(lines.some((l) => /gateway: served by JS modules.*: props/.test(l)), `the log names 'props': ${lines.join('')}`);
    const seen = new Promise((resolve) => server.once('connection', resolve));
    const ws = await wsClient(`${url}/props`);
    const conn = await seen;
    assert.equal(conn.resource, 'props');
    assert.notEqual(conn._module, null, 'the module serves it');
    ws.close();
    const g = new Promise((resolve) => server.once('connection', resolve));
    const ws2 = await wsClient(`${url}/echo`);
    assert.equal((await g).resource, 'echo');
    ws2.close();
  } finally {
    await close();
    svc.close();
    svc2.close();
  }
});

test('authorize and upgrade-request listeners see the gateway name and may refuse before the backend is reached', async () => {
  const dir = servicesDir();
  const svc = await startBackend('stream', path.join(dir, 'echo'));
  const seen = [];
  const { server, url, close } = await startServer({
    gateway: { services: dir },
    authorize: (info) => { seen.push(info.gateway); return info.query.token === 'ok' ? true : { status: 401, reason: 'token needed' }; },
  });
  server.on('upgrade-request', (info, accept) => { seen.push(`listener ${info.gateway}`); accept(); });
  try {
    assert.deepEqual(await refused(`${url}/echo`), { status: 401, body: 'token needed' });
    const ws = await wsClient(`${url}/echo?token=ok`);
    await echoAll(ws, [{ data: 'authorized', binary: false }]);
    ws.close();
    assert.deepEqual(seen, ['echo', 'echo', 'listener echo']);
  } finally {
    await close();
    killBackend(svc);
  }
});

test('a backend message over maxPayload closes the client with 1009 and a reason', async () => {
  const dir = servicesDir();
  const svc = net.createServer((s) => s.write(`${'x'.repeat(5000)}\n`)).listen(path.join(dir, 'big'));
  const { url, close } = await startServer({ maxPayload: 1000, gateway: { services: dir, framing: 'line' } });
  try {
    const ws = await wsClient(`${url}/big`);
    const { code, reason } = await ws.closed;
    assert.equal(code, 1009);
    assert.equal(reason, 'gateway: a message from the service exceeds maxPayload');
  } finally {
    await close();
    svc.close();
  }
});

test('server.clients lists gateway connections and their close event fires with the code the client saw', async () => {
  const dir = servicesDir();
  const svc = await netEcho(path.join(dir, 'echo'));
  const { server, url, close } = await startServer({ gateway: { services: dir } });
  try {
    const opened = new Promise((resolve) => server.once('connection', resolve));
    const ws = await wsClient(`${url}/echo`);
    const conn = await opened;
    assert.equal(conn.resource, 'echo');
    assert.equal(conn.path, '/echo');
    assert.ok([...server.clients].includes(conn));
    const closed = new Promise((resolve) => conn.once('close', (code) => resolve(code)));
    ws.close(4001);
    assert.equal(await closed, 4001);
  } finally {
    await close();
    svc.close();
  }
});

test('direct mode hands the client socket to the service with the hand-off record; the service speaks WebSocket on it', { timeout: 20000 }, async () => {
  const dir = servicesDir();
  const svc = await startBackend('stream', path.join(dir, 'echo'), 'direct');
  const { server, url, close } = await startServer({ perMessageDeflate: {}, gateway: { services: dir, direct: true } });
  try {
    const closed = new Promise((resolve) => server.once('connection',
      (conn) => conn.once('close', (code, reason) => resolve({ code, reason }))));
    const ws = await wsClient(`${url}/echo`);
    const localPort = ws._socket.localPort;
    assert.equal(ws.extensions, '', 'no extension is offered for a direct connection');
    assert.deepEqual(await closed, { code: 1000, reason: 'handed to the service' });
    const messages = [{ data: 'direct', binary: false }, { data: binaryOf(100 * KiB), binary: true }, { data: textOf(MiB), binary: false }];
    assertEchoes(await echoAll(ws, messages), messages);
    ws.close(1000);
    assert.equal((await ws.closed).code, 1000);
    assert.ok(svc.lines.some((l) => l.startsWith(`direct 127.0.0.1 ${localPort} echo pending`)), svc.lines.join('\n'));
  } finally {
    await close();
    killBackend(svc);
  }
});

test('direct mode is refused with TLS, with an error naming gateway.direct that says why', () => {
  const certs = require('./certs').makeCerts();
  const dir = servicesDir();
  assert.throws(() => new Server({ port: 0, log: false, tls: { cert: certs.cert, key: certs.key }, gateway: { services: dir, direct: true } }),
    (err) => err.code === 'WS_ERR_INVALID_OPTION' && err.key === 'gateway.direct' && /gateway\.direct cannot be used with option tls/.test(err.message) && /TLS session/.test(err.message));
  void startTlsServer;
});

test('the gateway option is checked key by key: an unknown key, a wrong type or a missing directory is an error naming gateway.<key>', () => {
  const dir = servicesDir();
  const cases = [
    [{ services: dir, allwo: [] }, 'gateway.allwo'],
    [{ services: dir, allow: 'a/b' }, 'gateway.allow'],
    [{ services: dir, deny: [1] }, 'gateway.deny'],
    [{ services: dir, framing: 'xml' }, 'gateway.framing'],
    [{ services: dir, direct: 'yes' }, 'gateway.direct'],
    [{ services: dir, prefix: 'gw' }, 'gateway.prefix'],
    [{ services: path.join(dir, 'nope') }, 'gateway.services'],
    [{}, 'gateway.services'],
    [42, 'gateway'],
  ];
  for (const [value, name] of cases) {
    assert.throws(() => new Server({ port: 0, log: false, gateway: value }),
      (err) => err.code === 'WS_ERR_INVALID_OPTION' && err.option === 'gateway' && (err.key || 'gateway') === name &&
        err.message.startsWith(`option ${name}`), `${JSON.stringify(value)} names ${name}`);
  }
});

test('a prefix puts the services under a path of their own', async () => {
  const dir = servicesDir();
  const svc = await netEcho(path.join(dir, 'echo'));
  const { url, close } = await startServer({ gateway: { services: dir, prefix: '/gw/' } });
  try {
    const ws = await wsClient(`${url}/gw/echo`);
    const [got] = await echoAll(ws, [{ data: 'prefixed', binary: false }]);
    assert.equal(got.data.toString(), 'prefixed');
    ws.close();
    assert.equal((await refused(`${url}/echo`)).status, 404);
  } finally {
    await close();
    svc.close();
  }
});

// ---- runserver.js: --gateway=DIR and the config file's "gateway" section ----

/** Runs runserver.js with args; resolves { child, port } once it listens, or { code, stderr } when it exits. */
function runServer(args) {
  const child = spawn(process.execPath, [path.join(root, 'runserver.js'), ...args], { cwd: root });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return withTimeout(new Promise((resolve) => {
    const timer = setInterval(() => {
      const m = /listening on \S+?:(\d+)/i.exec(out);
      if (m) {
        clearInterval(timer);
        resolve({ child, port: Number(m[1]), out: () => out });
      }
    }, 20);
    child.on('close', (code) => {
      clearInterval(timer);
      children.delete(child);
      resolve({ code, stderr: err, stdout: out });
    });
  }), 30000, 'runserver.js');
}

test('runserver.js --gateway=DIR relays to the services in DIR', { timeout: 40000 }, async () => {
  const dir = servicesDir();
  const svc = await netEcho(path.join(dir, 'gwecho'));
  const r = await runServer(['--port=0', '--host=127.0.0.1', `--gateway=${dir}`]);
  try {
    assert.ok(r.port, `runserver started: ${r.stderr || ''}`);
    const ws = await wsClient(`ws://127.0.0.1:${r.port}/gwecho`);
    const [got] = await echoAll(ws, [{ data: 'from runserver', binary: false }]);
    assert.equal(got.data.toString(), 'from runserver');
    ws.close();
  } finally {
    if (r.child) r.child.kill('SIGKILL');
    svc.close();
  }
});

test('a config file\'s "gateway" section is checked key by key: an unknown key exits with status 2 naming gateway.<key>', { timeout: 40000 }, async () => {
  const dir = servicesDir();
  const file = path.join(dir, 'server.json');
  fs.writeFileSync(file, JSON.stringify({ gateway: { services: '.', framing: 'line', derect: true } }));
  const bad = await runServer(['--port=0', `--config=${file}`]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /gateway\.derect is not a gateway key.*did you mean direct/);
  fs.writeFileSync(file, JSON.stringify({ gateway: { services: 'nope' } }));
  const missing = await runServer(['--port=0', `--config=${file}`]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /gateway\.services must be an existing directory/);
});
