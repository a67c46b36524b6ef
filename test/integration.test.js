'use strict';
// Sharing a port with Node's HTTP servers, and deciding on upgrades:
// new Server({ server }) on a real http.createServer() that also serves
// plain HTTP; noServer + handleUpgrade() from the 'upgrade' event with a
// path-based dispatch; the same with https.createServer() (TLS terminated by
// Node: the stream-adapter path); the conformance cases through both paths;
// the authorize option and the 'upgrade-request' event, now and later, and
// clients that leave while a decision is pending; connection.secure and
// connection.extensions.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const https = require('https');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');
const {
  RawClient, OP, frame, buildUpgradeRequest, rawExchange, withTimeout, waitUntil, waitEvent, delay, wsRoundTrip,
} = require('./helpers');
const { conformanceSuite } = require('./conformance/suite');
const { makeCerts } = require('./certs');

const { Server, Connection } = require('../lib');

const certs = makeCerts();
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

// A modules folder for these tests: "/" and "/ws" echo; "/ws/info" reports.
const modulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-integration-modules-'));
after(() => fs.rmSync(modulesDir, { recursive: true, force: true }));
const ECHO = `'use strict';
exports.Module = class { onData(data, connection) { connection.send(data); } };
`;
fs.writeFileSync(path.join(modulesDir, '_default.js'), ECHO);
fs.writeFileSync(path.join(modulesDir, 'ws.js'), ECHO);
fs.mkdirSync(path.join(modulesDir, 'ws'));
fs.writeFileSync(path.join(modulesDir, 'ws', 'info.js'), `'use strict';
exports.Module = class {
  onConnect(c) {
    c.send(JSON.stringify({ secure: c.secure, extensions: c.extensions, remoteAddress: c.remoteAddress, path: c.path, resource: c.resource }));
  }
};
`);

/** Listens on 127.0.0.1:0; resolves the port. */
function listen(server) {
  return withTimeout(new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  }), 3000, 'the HTTP server to listen');
}

function closeHttp(server) {
  if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
  return withTimeout(new Promise((resolve) => server.close(() => resolve())), 5000, 'the HTTP server to close');
}

function closeWss(wss) {
  return withTimeout(new Promise((resolve) => wss.close(() => resolve())), 10000, 'the node.websocket server to close');
}

/** A GET over plain HTTP or HTTPS; resolves { status, body }. */
function get(url, options = {}) {
  const mod = url.startsWith('https:') ? https : http;
  return withTimeout(new Promise((resolve, reject) => {
    const req = mod.get(url, { ca: certs.caPem, agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  }), 4000, `GET ${url}`);
}

/** A ws client; resolves when open; rejects with err.status on an HTTP refusal. */
async function client(url, options = {}) {
  const ws = new WebSocket(url, { ca: certs.caPem, handshakeTimeout: 4000, ...options });
  ws.binaryType = 'nodebuffer';
  // Messages the server sends at once (onConnect) may come with the 101: keep them.
  ws.queue = [];
  ws.on('message', (m) => ws.queue.push(m.toString()));
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`unexpected response ${res.statusCode}: ${body.trim()}`), { status: res.statusCode, body })));
    });
  }), 5000, `a connection to ${url}`);
  ws.on('error', () => {});
  return ws;
}

const roundTrip = (ws, data, ms = 8000) => wsRoundTrip(ws, data, undefined, ms);

/** The oldest message not yet taken (sent by the server unasked). */
async function nextMessage(ws, ms = 3000) {
  await waitUntil(() => ws.queue.length > 0, ms, 'a message');
  return ws.queue.shift();
}

async function closeWs(ws, code = 1000, reason) {
  if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
  return withTimeout(ws.closed, 5000, 'the client to close');
}

function bigBuffer(n, seed = 1) {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

/** The echo, large-message and close-code checks, for any way of getting connections. */
async function exerciseEcho(wss, url, { secure }) {
  const connected = waitEvent(wss, 'connection', 3000);
  const ws = await client(url);
  const [conn] = await connected;
  assert.ok(conn instanceof Connection);
  assert.equal(conn.secure, secure, 'connection.secure');
  assert.equal(conn.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1');
  assert.equal((await roundTrip(ws, 'hello')).data.toString(), 'hello');
  const bin = await roundTrip(ws, Buffer.from([1, 2, 3]));
  assert.equal(bin.isBinary, true);
  assert.deepEqual(bin.data, Buffer.from([1, 2, 3]));
  const big = bigBuffer(5 * 1024 * 1024, 3);
  assert.ok((await roundTrip(ws, big, 15000)).data.equals(big), 'a 5 MiB message came back exactly');
  const bigText = 'κόσμε '.repeat(200000);
  assert.equal((await roundTrip(ws, bigText)).data.toString(), bigText);
  // The client closes with a code of its own: the server sees it, and answers it.
  const serverSaw = waitEvent(conn, 'close', 5000);
  const closed = await closeWs(ws, 4000, 'client bye');
  assert.equal(closed.code, 4000);
  const [code, reason] = await serverSaw;
  assert.equal(code, 4000);
  assert.equal(reason, 'client bye');
  // The server closes: the client sees the server's code and reason.
  const connected2 = waitEvent(wss, 'connection', 3000);
  const ws2 = await client(url);
  const [conn2] = await connected2;
  conn2.close(4001, 'server bye');
  const closed2 = await withTimeout(ws2.closed, 5000, 'the server-initiated close');
  assert.equal(closed2.code, 4001);
  assert.equal(closed2.reason, 'server bye');
  await waitUntil(() => wss.clients.length === 0, 3000, 'no open connections left');
}

describe('new Server({ server: http.createServer() })', () => {
  let httpServer;
  let wss;
  let port;
  before(async () => {
    httpServer = http.createServer((req, res) => res.end(`plain http ${req.url}\n`));
    wss = new Server({ server: httpServer, modules: modulesDir, log: false });
    port = await listen(httpServer);
  });
  after(async () => {
    if (wss) await closeWss(wss);
    if (httpServer) await closeHttp(httpServer);
  });

  test('plain HTTP requests are still the HTTP server\'s', async () => {
    assert.deepEqual(await get(`http://127.0.0.1:${port}/page`), { status: 200, body: 'plain http /page\n' });
  });

  test('WebSockets on the same port: echo, large messages, close codes; not secure; no extensions', { timeout: 30000 }, async () => {
    await exerciseEcho(wss, `ws://127.0.0.1:${port}/`, { secure: false });
    const ws = await client(`ws://127.0.0.1:${port}/ws/info`);
    const info = JSON.parse(await nextMessage(ws));
    assert.deepEqual(info, { secure: false, extensions: '', remoteAddress: info.remoteAddress, path: '/ws/info', resource: 'ws/info' });
    await closeWs(ws);
  });

  test('HTTP and WebSocket traffic interleave on the same port', async () => {
    const ws = await client(`ws://127.0.0.1:${port}/`);
    const [a, b] = await Promise.all([get(`http://127.0.0.1:${port}/x`), roundTrip(ws, 'y')]);
    assert.equal(a.body, 'plain http /x\n');
    assert.equal(b.data.toString(), 'y');
    assert.equal((await get(`http://127.0.0.1:${port}/z`)).status, 200);
    await closeWs(ws);
  });

  test('an unknown resource is answered 404 on the HTTP server\'s port', async () => {
    await assert.rejects(client(`ws://127.0.0.1:${port}/nope`), (err) => err.status === 404);
  });

  test('a frame in the same packet as the upgrade request (the upgrade\'s head) is echoed', async () => {
    const net = require('net');
    const socket = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    socket.on('data', (d) => { got = Buffer.concat([got, d]); });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(Buffer.concat([buildUpgradeRequest({ host: '127.0.0.1', port, path: '/', key: KEY }), frame(OP.TEXT, 'early bird')]));
    const echo = Buffer.concat([Buffer.from([0x81, 10]), Buffer.from('early bird')]);
    await waitUntil(() => got.includes(echo), 3000, 'the echo of the frame that came with the request');
    socket.destroy();
  });

  test('listen() is not needed, and close() leaves the HTTP server serving', async () => {
    const other = http.createServer((req, res) => res.end('still here\n'));
    const w = new Server({ server: other, modules: modulesDir, log: false });
    const p = await listen(other);
    try {
      const ws = await client(`ws://127.0.0.1:${p}/`);
      assert.equal((await roundTrip(ws, 'up')).data.toString(), 'up');
      const closed = ws.closed;
      await closeWss(w);
      assert.equal((await withTimeout(closed, 5000, 'the client to be closed')).code, 1001);
      assert.equal((await get(`http://127.0.0.1:${p}/`)).body, 'still here\n');
      await assert.rejects(client(`ws://127.0.0.1:${p}/`), 'no more upgrades after close()');
    } finally {
      await closeHttp(other);
    }
  });
});

describe('noServer: true, handleUpgrade() from the \'upgrade\' event, dispatch by path', () => {
  let httpServer;
  let wss;
  let port;
  const handedOver = [];
  before(async () => {
    wss = new Server({ noServer: true, modules: modulesDir, log: false });
    httpServer = http.createServer((req, res) => res.end('app\n'));
    httpServer.on('upgrade', (req, socket, head) => {
      const { pathname } = new URL(req.url, 'http://localhost');
      if (pathname === '/ws' || pathname.startsWith('/ws/')) {
        wss.handleUpgrade(req, socket, head, (conn) => handedOver.push(conn));
      } else {
        socket.destroy();
      }
    });
    port = await listen(httpServer);
  });
  after(async () => {
    if (wss) await closeWss(wss);
    if (httpServer) await closeHttp(httpServer);
  });

  test('/ws goes to us: echo, large messages, close codes; the callback gets the Connection', { timeout: 30000 }, async () => {
    const before = handedOver.length;
    await exerciseEcho(wss, `ws://127.0.0.1:${port}/ws`, { secure: false });
    assert.equal(handedOver.length, before + 2);
    assert.ok(handedOver.every((c) => c instanceof Connection && c.path === '/ws'));
  });

  test('other paths are destroyed by the app; we keep working', async () => {
    await assert.rejects(client(`ws://127.0.0.1:${port}/chat`), /socket hang up|ECONNRESET|closed/i);
    const ws = await client(`ws://127.0.0.1:${port}/ws`);
    assert.equal((await roundTrip(ws, 'ok')).data.toString(), 'ok');
    await closeWs(ws);
  });

  test('a refused upgrade (unknown module) is answered on the socket, without the callback', async () => {
    const before = handedOver.length;
    await assert.rejects(client(`ws://127.0.0.1:${port}/ws/missing`), (err) => err.status === 404);
    assert.equal(handedOver.length, before);
  });

  test('a bad upgrade request handed over is answered 400', async () => {
    const res = await rawExchange(port, buildUpgradeRequest({ host: '127.0.0.1', port, path: '/ws', key: 'short', headers: {} }), { timeout: 3000 });
    assert.equal(res.status, 400);
  });

  test('permessage-deflate works through handleUpgrade', async () => {
    const w = new Server({ noServer: true, modules: modulesDir, log: false, perMessageDeflate: true });
    const s = http.createServer();
    s.on('upgrade', (req, socket, head) => w.handleUpgrade(req, socket, head));
    const p = await listen(s);
    try {
      const ws = await client(`ws://127.0.0.1:${p}/ws/info`, { perMessageDeflate: { threshold: 0 } });
      const info = JSON.parse(await nextMessage(ws));
      assert.match(info.extensions, /^permessage-deflate/);
      await closeWs(ws);
      const echo = await client(`ws://127.0.0.1:${p}/ws`, { perMessageDeflate: { threshold: 0 } });
      const text = 'compress me '.repeat(5000);
      assert.equal((await roundTrip(echo, text)).data.toString(), text);
      await closeWs(echo);
    } finally {
      await closeWss(w);
      await closeHttp(s);
    }
  });
});

describe('https.createServer(): TLS terminated by Node, through the stream adapter', () => {
  let httpsServer;
  let wss;
  let port;
  before(async () => {
    httpsServer = https.createServer({ cert: fs.readFileSync(certs.cert), key: fs.readFileSync(certs.key) },
      (req, res) => res.end('secure http\n'));
    wss = new Server({ server: httpsServer, modules: modulesDir, log: false });
    port = await listen(httpsServer);
  });
  after(async () => {
    if (wss) await closeWss(wss);
    if (httpsServer) await closeHttp(httpsServer);
  });

  test('HTTPS requests still work', async () => {
    assert.deepEqual(await get(`https://127.0.0.1:${port}/`), { status: 200, body: 'secure http\n' });
  });

  test('wss:// on the https port: echo, large messages, close codes; connection.secure is true', { timeout: 30000 }, async () => {
    await exerciseEcho(wss, `wss://127.0.0.1:${port}/`, { secure: true });
    const ws = await client(`wss://127.0.0.1:${port}/ws/info`);
    const info = JSON.parse(await nextMessage(ws));
    assert.equal(info.secure, true);
    assert.equal(info.extensions, '');
    assert.equal(info.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1');
    await closeWs(ws);
  });

  test('noServer + handleUpgrade on an https server, with deflate', { timeout: 20000 }, async () => {
    const w = new Server({ noServer: true, modules: modulesDir, log: false, perMessageDeflate: { threshold: 0 } });
    const s = https.createServer({ cert: fs.readFileSync(certs.cert), key: fs.readFileSync(certs.key) });
    const handed = [];
    s.on('upgrade', (req, socket, head) => w.handleUpgrade(req, socket, head, (c) => handed.push(c)));
    const p = await listen(s);
    try {
      const ws = await client(`wss://127.0.0.1:${p}/ws/info`, { perMessageDeflate: {} });
      const info = JSON.parse(await nextMessage(ws));
      assert.equal(info.secure, true);
      assert.match(info.extensions, /^permessage-deflate/);
      await closeWs(ws);
      const echo = await client(`wss://127.0.0.1:${p}/ws`, { perMessageDeflate: {} });
      const big = 'abc'.repeat(1 << 20);
      assert.equal((await roundTrip(echo, big)).data.toString(), big);
      await closeWs(echo);
      assert.equal(handed.length, 2);
      assert.ok(handed.every((c) => c.secure === true));
    } finally {
      await closeWss(w);
      await closeHttp(s);
    }
  });

  test('a client that drops the TLS connection mid-message leaves nothing behind', async () => {
    const c = await RawClient.connect(`wss://127.0.0.1:${port}/`, { tls: { ca: certs.caPem } });
    await waitUntil(() => wss.clients.length === 1, 2000, 'the connection');
    await c.write(frame(OP.BINARY, Buffer.alloc(100000)).subarray(0, 5000));
    c.destroy();
    await waitUntil(() => wss.clients.length === 0, 3000, 'the connection to be gone');
    const ws = await client(`wss://127.0.0.1:${port}/`);
    assert.equal((await roundTrip(ws, 'next')).data.toString(), 'next');
    await closeWs(ws);
  });
});

describe('authorize and upgrade-request', () => {
  /** A server on its own port with the given options; resolves { wss, port, close }. */
  async function serve(options) {
    const wss = new Server({ port: 0, host: '127.0.0.1', modules: modulesDir, log: false, ...options });
    await withTimeout(new Promise((resolve, reject) => { wss.once('error', reject); wss.listen(resolve); }), 3000, 'listen');
    return { wss, port: wss.address().port, close: () => closeWss(wss) };
  }

  test('authorize gets the request\'s info; true accepts', async () => {
    const seen = [];
    const s = await serve({ authorize: (info) => { seen.push(info); return true; } });
    try {
      const ws = await client(`ws://127.0.0.1:${s.port}/ws?user=ann`, { headers: { Cookie: 'sid=42; theme=dark', 'X-Thing': 'yes' } });
      assert.equal((await roundTrip(ws, 'in')).data.toString(), 'in');
      await closeWs(ws);
      assert.equal(seen.length, 1);
      const info = seen[0];
      assert.equal(info.path, '/ws');
      assert.deepEqual({ ...info.query }, { user: 'ann' });
      assert.equal(info.headers['x-thing'], 'yes');
      assert.deepEqual({ ...info.cookies }, { sid: '42', theme: 'dark' });
      assert.equal(info.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1');
      assert.ok(info.context && typeof info.context.multicast === 'function');
    } finally {
      await s.close();
    }
  });

  test('a promise rejected with { status: 401, reason } refuses with 401 and the reason', async () => {
    const s = await serve({ authorize: async () => { await delay(20); throw { status: 401, reason: 'Log in first' }; } }); // eslint-disable-line no-throw-literal
    try {
      const err = await client(`ws://127.0.0.1:${s.port}/ws`).then(() => null, (e) => e);
      assert.ok(err, 'the upgrade was accepted');
      assert.equal(err.status, 401, `expected 401 "Log in first", got ${err.message}`);
      assert.match(err.body, /Log in first/);
    } finally {
      await s.close();
    }
  });

  test('a promise resolved with { status: 401, reason } refuses with 401; false with 403; a throw with 500', async () => {
    const verdicts = {
      '/ws?v=401': async () => ({ status: 401, reason: 'Who are you' }),
      '/ws?v=false': () => false,
      '/ws?v=throw': () => { throw new Error('broken hook'); },
      '/ws?v=reject': () => Promise.reject(new Error('broken promise')),
      '/ws?v=teapot': () => ({ status: 418, reason: 'Teapot' }),
    };
    const s = await serve({ authorize: (info) => verdicts[`${info.path}?v=${info.query.v}`]() });
    try {
      await assert.rejects(client(`ws://127.0.0.1:${s.port}/ws?v=401`), (err) => err.status === 401 && /Who are you/.test(err.body));
      await assert.rejects(client(`ws://127.0.0.1:${s.port}/ws?v=false`), (err) => err.status === 403);
      await assert.rejects(client(`ws://127.0.0.1:${s.port}/ws?v=throw`), (err) => err.status === 500);
      await assert.rejects(client(`ws://127.0.0.1:${s.port}/ws?v=reject`), (err) => err.status === 500);
      await assert.rejects(client(`ws://127.0.0.1:${s.port}/ws?v=teapot`), (err) => err.status === 418 && /Teapot/.test(err.body));
    } finally {
      await s.close();
    }
  });

  test('an async authorize that resolves true later accepts', async () => {
    const s = await serve({ authorize: () => delay(150).then(() => true) });
    try {
      const ws = await client(`ws://127.0.0.1:${s.port}/ws`);
      assert.equal((await roundTrip(ws, 'late yes')).data.toString(), 'late yes');
      await closeWs(ws);
    } finally {
      await s.close();
    }
  });

  test('a decision that never comes is answered 503 after handshakeTimeout; the server carries on', async () => {
    const s = await serve({ handshakeTimeout: 400, authorize: (info) => (info.query.hang ? new Promise(() => {}) : true) });
    try {
      const started = Date.now();
      const err = await client(`ws://127.0.0.1:${s.port}/ws?hang=1`).then(() => null, (e) => e);
      assert.ok(err && err.status === 503, `expected 503, got ${err && err.message}`);
      assert.match(err.body, /timed out/i);
      assert.ok(Date.now() - started < 2500, `answered after ${Date.now() - started} ms`);
      const ws = await client(`ws://127.0.0.1:${s.port}/ws`);
      await closeWs(ws);
    } finally {
      await s.close();
    }
  });

  test('\'upgrade-request\': accept() later works; reject(403, reason) refuses', async () => {
    const s = await serve();
    s.wss.on('upgrade-request', (info, accept, reject) => {
      if (info.query.token === 'good') setTimeout(accept, 100);
      else setTimeout(() => reject(403, 'Bad token'), 50);
    });
    try {
      const ws = await client(`ws://127.0.0.1:${s.port}/ws?token=good`);
      assert.equal((await roundTrip(ws, 'accepted')).data.toString(), 'accepted');
      await closeWs(ws);
      await assert.rejects(client(`ws://127.0.0.1:${s.port}/ws?token=bad`), (err) => err.status === 403 && /Bad token/.test(err.body));
    } finally {
      await s.close();
    }
  });

  test('\'upgrade-request\' with accept() at once, and the order: authorize option, then the event', async () => {
    const order = [];
    const s = await serve({ authorize: () => { order.push('option'); return true; } });
    s.wss.on('upgrade-request', (info, accept) => { order.push('event'); accept(); });
    try {
      const ws = await client(`ws://127.0.0.1:${s.port}/ws`);
      await closeWs(ws);
      assert.deepEqual(order, ['option', 'event']);
    } finally {
      await s.close();
    }
  });

  test('a refusal by the authorize option means the event is never asked', async () => {
    let asked = false;
    const s = await serve({ authorize: () => ({ status: 401, reason: 'no' }) });
    s.wss.on('upgrade-request', (info, accept) => { asked = true; accept(); });
    try {
      await assert.rejects(client(`ws://127.0.0.1:${s.port}/ws`), (err) => err.status === 401);
      assert.equal(asked, false);
    } finally {
      await s.close();
    }
  });

  test('the hooks work for connections from handleUpgrade too', async () => {
    const wss = new Server({ noServer: true, modules: modulesDir, log: false, authorize: async (info) => info.query.ok === '1' || { status: 401, reason: 'Nope' } });
    const s = http.createServer();
    s.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
    const port = await listen(s);
    try {
      const ws = await client(`ws://127.0.0.1:${port}/ws?ok=1`);
      await closeWs(ws);
      await assert.rejects(client(`ws://127.0.0.1:${port}/ws?ok=0`), (err) => err.status === 401 && /Nope/.test(err.body));
    } finally {
      await closeWss(wss);
      await closeHttp(s);
    }
  });

  // A client that leaves while the decision is pending: no error, nothing left behind.
  async function leaveWhilePending(port, { secure = false } = {}) {
    const net = require('net');
    const tls = require('tls');
    const socket = secure
      ? tls.connect({ host: '127.0.0.1', port, ca: certs.caPem })
      : net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once(secure ? 'secureConnect' : 'connect', resolve));
    socket.write(buildUpgradeRequest({ host: '127.0.0.1', port, path: '/ws', key: KEY }));
    await delay(60);
    socket.destroy();
  }

  test('a client that disconnects while authorize is pending is cleaned up without error', async () => {
    let calls = 0;
    let settled = 0;
    const s = await serve({ authorize: () => { calls++; return delay(300).then(() => { settled++; return true; }); } });
    const errors = [];
    s.wss.on('error', (e) => errors.push(e));
    const opened = [];
    s.wss.on('connection', (c) => opened.push(c));
    try {
      await Promise.all([leaveWhilePending(s.port), leaveWhilePending(s.port), leaveWhilePending(s.port)]);
      await waitUntil(() => settled === 3, 3000, 'the pending decisions to settle');
      await delay(100);
      assert.equal(calls, 3);
      assert.deepEqual(errors, []);
      assert.equal(opened.length, 0, 'no connection was opened for clients that left');
      assert.equal(s.wss.clients.length, 0);
      const ws = await client(`ws://127.0.0.1:${s.port}/ws`);
      assert.equal((await roundTrip(ws, 'after')).data.toString(), 'after');
      assert.equal(s.wss.clients.length, 1);
      await closeWs(ws);
    } finally {
      await s.close();
    }
  });

  test('a client that disconnects while an \'upgrade-request\' listener is pending: a late accept() or reject() is harmless', async () => {
    const s = await serve();
    const late = [];
    s.wss.on('upgrade-request', (info, accept, reject) => {
      setTimeout(() => {
        try {
          if (info.query.r) reject(401, 'late'); else accept();
          late.push('ok');
        } catch (e) {
          late.push(e);
        }
      }, 250);
    });
    try {
      await leaveWhilePending(s.port);
      await waitUntil(() => late.length === 1, 2000, 'the late accept()');
      assert.deepEqual(late, ['ok']);
      await delay(50);
      assert.equal(s.wss.clients.length, 0);
      const ws = await client(`ws://127.0.0.1:${s.port}/ws`);
      await closeWs(ws);
    } finally {
      await s.close();
    }
  });

  test('the same through handleUpgrade, over plain http and over https (the stream adapter)', async () => {
    for (const secure of [false, true]) {
      let settled = 0;
      const wss = new Server({ noServer: true, modules: modulesDir, log: false, authorize: () => delay(250).then(() => { settled++; return true; }) });
      const s = secure
        ? https.createServer({ cert: fs.readFileSync(certs.cert), key: fs.readFileSync(certs.key) })
        : http.createServer();
      s.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head));
      const port = await listen(s);
      const opened = [];
      wss.on('connection', (c) => opened.push(c));
      try {
        await leaveWhilePending(port, { secure });
        await waitUntil(() => settled === 1, 2000, 'the pending decision');
        await delay(100);
        assert.equal(opened.length, 0, `${secure ? 'https' : 'http'}: a connection was opened for a client that left`);
        assert.equal(wss.clients.length, 0);
        const ws = await client(`${secure ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`);
        assert.equal((await roundTrip(ws, 'fine')).data.toString(), 'fine');
        await closeWs(ws);
      } finally {
        await closeWss(wss);
        await closeHttp(s);
      }
    }
  });
});

describe('option errors for port sharing', () => {
  test('noServer and server together are refused', () => {
    assert.throws(() => new Server({ noServer: true, server: http.createServer(), log: false }), (err) => err.code === 'WS_ERR_INVALID_OPTION');
  });
  test('an Express-style app instead of its server is refused with a hint', () => {
    const app = (req, res) => res.end();
    app.listen = () => {};
    assert.throws(() => new Server({ server: app, log: false }), /pass what app\.listen\(\)/);
  });
});

// The conformance cases through both ways of taking over an upgrade.
conformanceSuite('conformance through new Server({ server: http.createServer() }) (the socket taken over)', {
  label: 'conformance through an http server',
  start: async () => {
    const httpServer = http.createServer();
    const wss = new Server({ server: httpServer, log: false });
    const port = await listen(httpServer);
    return { url: `ws://127.0.0.1:${port}`, close: async () => { await closeWss(wss); await closeHttp(httpServer); } };
  },
});

conformanceSuite('conformance through new Server({ server: https.createServer() }) (the stream adapter)', {
  label: 'conformance through an https server',
  connect: { tls: { ca: certs.caPem } },
  start: async () => {
    const httpsServer = https.createServer({ cert: fs.readFileSync(certs.cert), key: fs.readFileSync(certs.key) });
    const wss = new Server({ server: httpsServer, log: false });
    const port = await listen(httpsServer);
    return { url: `wss://127.0.0.1:${port}`, close: async () => { await closeWss(wss); await closeHttp(httpsServer); } };
  },
});
