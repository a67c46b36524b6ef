'use strict';
// Protocol tests over real sockets: the opening handshake and its refusals,
// limits and timeouts, the closing handshake, the Flash policy answer, the
// static documents, and the happy paths with the npm `ws` client as an
// independent peer; module loading and the Connection API as modules see them.

const { describe, test, before, after } = require('node:test');
const assert = require('assert/strict');
const path = require('path');
const net = require('net');
const {
  startServer, wsClient, wsRoundTrip, RawClient, rawExchange, frame, OP, closePayload,
  buildUpgradeRequest, acceptKey, parseResponseHead, withTimeout, waitEvent, waitUntil, delay, canListen,
  FIXTURE_MODULES,
} = require('./helpers');

const FIXTURE_DOCROOT = path.join(__dirname, 'fixtures', 'docroot');
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** An upgrade request as a string, with headers replaced or dropped (null). */
function upgrade(port, { method = 'GET', target = '/', version = '1.1', headers = {} } = {}) {
  const req = buildUpgradeRequest({ host: '127.0.0.1', port, path: target, key: KEY, headers }).toString('latin1');
  return req.replace(/^GET \S+ HTTP\/1\.1/, `${method} ${target} HTTP/${version}`);
}

/** Asserts an HTTP refusal: status, one-line reason body, Content-Length, TCP closed. */
function assertRefusal(res, status, what) {
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status}: ${res.raw.toString('latin1').slice(0, 300)}`);
  const body = res.body.toString('utf8');
  assert.match(body, /^[^\r\n]+\r?\n?$/, `${what}: the body should be a one-line reason, got ${JSON.stringify(body)}`);
  assert.ok(body.trim().length > 3, `${what}: empty reason`);
  if (res.headers['content-length'] !== undefined) {
    assert.equal(Number(res.headers['content-length']), res.body.length, `${what}: Content-Length does not match the body`);
  }
  assert.equal(res.headers['sec-websocket-accept'], undefined, `${what}: a refusal must not carry Sec-WebSocket-Accept`);
  assert.ok(res.closed, `${what}: the server should close the connection after a refusal`);
}

/** Waits for the next 'connection' on the server. */
function nextConnection(server, ms = 3000) {
  return waitEvent(server, 'connection', ms).then(([conn]) => conn);
}

describe('the opening handshake', () => {
  let srv;
  before(async () => {
    srv = await startServer({ modules: FIXTURE_MODULES, origins: ['http://allowed.example', 'https://*.example.com'], maxHeaderSize: 1024, docroot: false });
  });
  after(() => srv && srv.close());

  test('a valid request is answered with 101 and the right Sec-WebSocket-Accept', async () => {
    const res = await rawExchange(srv.port, upgrade(srv.port), { timeout: 500 });
    assert.equal(res.status, 101, res.raw.toString('latin1'));
    assert.equal(res.headers['sec-websocket-accept'], acceptKey(KEY));
    assert.equal(res.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.match(res.headers.upgrade, /^websocket$/i);
    assert.match(res.headers.connection, /upgrade/i);
    assert.equal(res.headers['sec-websocket-protocol'], undefined);
  });

  test('header names and tokens are case-insensitive and Connection may be a list', async () => {
    const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { Upgrade: null, Connection: null, upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' } }), { timeout: 500 });
    assert.equal(res.status, 101, res.raw.toString('latin1'));
  });

  test('a POST is refused with 405', async () => {
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { method: 'POST' })), 405, 'POST');
  });

  test('a PUT is refused with 405', async () => {
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { method: 'PUT' })), 405, 'PUT');
  });

  test('a bad Upgrade header is refused with 400', async () => {
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { headers: { Upgrade: 'h2c' } })), 400, 'Upgrade: h2c');
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { headers: { Upgrade: 'websockets' } })), 400, 'Upgrade: websockets');
  });

  test('a request without Upgrade is not upgraded (with no docroot it gets 426)', async () => {
    const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { Upgrade: null } }));
    assertRefusal(res, 426, 'no Upgrade header');
  });

  test('a missing Connection: Upgrade is refused with 400', async () => {
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { headers: { Connection: null } })), 400, 'no Connection header');
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { headers: { Connection: 'keep-alive' } })), 400, 'Connection: keep-alive');
  });

  test('a bad Sec-WebSocket-Key is refused with 400', async () => {
    const bad = {
      missing: null,
      empty: '',
      'base64 of 15 bytes': Buffer.alloc(15, 7).toString('base64'),
      'base64 of 17 bytes': Buffer.alloc(17, 7).toString('base64'),
      'not base64': '!!!!!!!!!!!!!!!!!!!!!!==',
      'wrong length': 'dGhlIHNhbXBsZSBub25jZQ',
      'too long': `${KEY}AAAA`,
    };
    for (const [what, key] of Object.entries(bad)) {
      assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { headers: { 'Sec-WebSocket-Key': key } })), 400, `key ${what}`);
    }
  });

  test('a repeated Sec-WebSocket-Key is refused with 400', async () => {
    const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { 'Sec-WebSocket-Key': [KEY, 'AQIDBAUGBwgJCgsMDQ4PEA=='] } }));
    assertRefusal(res, 400, 'two keys');
  });

  test('version 8 is refused with 426 and Sec-WebSocket-Version: 13', async () => {
    for (const v of ['8', '14', '0']) {
      const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { 'Sec-WebSocket-Version': v } }));
      assertRefusal(res, 426, `version ${v}`);
      assert.equal(res.headers['sec-websocket-version'], '13');
    }
  });

  test('a missing version is refused with 426 and Sec-WebSocket-Version: 13', async () => {
    const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { 'Sec-WebSocket-Version': null } }));
    assertRefusal(res, 426, 'no version');
    assert.equal(res.headers['sec-websocket-version'], '13');
  });

  test('an HTTP/1.0 upgrade request is refused with 400', async () => {
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { version: '1.0' })), 400, 'HTTP/1.0');
  });

  test('a request head over maxHeaderSize is refused with 431', async () => {
    const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { 'X-Padding': 'x'.repeat(2000) } }));
    assertRefusal(res, 431, 'big header');
  });

  test('a request head just under maxHeaderSize is accepted', async () => {
    const base = upgrade(srv.port, { headers: { 'X-Padding': '' } }).length;
    const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { 'X-Padding': 'x'.repeat(1024 - base - 10) } }), { timeout: 500 });
    assert.equal(res.status, 101, res.raw.toString('latin1').slice(0, 200));
  });

  test('an unknown resource is refused with 404 before any upgrade', async () => {
    assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { target: '/no-such-module' })), 404, '/no-such-module');
  });

  test('an Origin that is not allowed is refused with 403', async () => {
    for (const origin of ['http://evil.example', 'http://allowed.example:8080', 'https://allowed.example', 'https://example.com', 'http://sub.example.com']) {
      assertRefusal(await rawExchange(srv.port, upgrade(srv.port, { headers: { Origin: origin } })), 403, `Origin ${origin}`);
    }
  });

  test('allowed Origins, exact or by *.example.com pattern, are accepted', async () => {
    for (const origin of ['http://allowed.example', 'https://sub.example.com', 'https://a.b.example.com', 'HTTP://ALLOWED.EXAMPLE']) {
      const res = await rawExchange(srv.port, upgrade(srv.port, { headers: { Origin: origin } }), { timeout: 400 });
      assert.equal(res.status, 101, `Origin ${origin}: ${res.raw.toString('latin1').slice(0, 200)}`);
    }
  });

  test('a request sent one byte at a time is upgraded and works', async () => {
    const c = await RawClient.connect(srv.url, { chop: 1, gap: 1, timeout: 5000 });
    try {
      await c.text('after a slow handshake');
      await c.waitEvents(1);
      assert.equal(c.events[0].data.toString(), 'after a slow handshake');
    } finally {
      c.destroy();
    }
  });

  test('a request split into two writes at every byte is upgraded', async () => {
    const length = buildUpgradeRequest({ host: '127.0.0.1', port: srv.port, path: '/', key: KEY }).length;
    const failures = [];
    for (let cut = 1; cut < length; cut++) {
      try {
        const c = await RawClient.connect(srv.url, { splitAt: [cut], gap: 2, key: KEY });
        c.destroy();
      } catch (e) {
        failures.push(`${cut}: ${e.message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('frames sent in the same write as the request are processed after the upgrade', async () => {
    const res = await new Promise((resolve, reject) => {
      const s = net.connect(srv.port, '127.0.0.1', () => {
        s.write(Buffer.concat([Buffer.from(upgrade(srv.port), 'latin1'), frame(OP.TEXT, 'early bird')]));
      });
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`no echo: ${buf.toString('latin1')}`)); }, 2000);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        const head = parseResponseHead(buf);
        if (head && buf.length >= head.headLength + 12) {
          clearTimeout(timer);
          s.destroy();
          resolve({ head, rest: buf.subarray(head.headLength) });
        }
      });
      s.on('error', reject);
    });
    assert.equal(res.head.status, 101);
    assert.deepEqual(res.rest, Buffer.concat([Buffer.from([0x81, 10]), Buffer.from('early bird')]));
  });
});

describe('limits and timeouts', () => {
  test('a silent client is dropped after handshakeTimeout', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, handshakeTimeout: 300 });
    t.after(() => srv.close());
    const started = Date.now();
    const res = await rawExchange(srv.port, [], { timeout: 3000 });
    const elapsed = Date.now() - started;
    assert.ok(res.closed, 'the connection was not closed within 3 s');
    assert.ok(elapsed >= 250, `dropped after ${elapsed} ms, before the 300 ms timeout`);
    assert.ok(elapsed < 2000, `dropped only after ${elapsed} ms`);
    assert.notEqual(res.status, 101);
  });

  test('a client that stalls in the middle of its request is dropped after handshakeTimeout', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, handshakeTimeout: 300 });
    t.after(() => srv.close());
    const started = Date.now();
    const res = await rawExchange(srv.port, upgrade(srv.port).slice(0, 40), { timeout: 3000 });
    const elapsed = Date.now() - started;
    assert.ok(res.closed && elapsed >= 250 && elapsed < 2000, `closed=${res.closed} after ${elapsed} ms`);
  });

  test('a client trickling its request slower than handshakeTimeout allows is dropped', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, handshakeTimeout: 300 });
    t.after(() => srv.close());
    const req = upgrade(srv.port);
    const parts = [];
    for (let i = 0; i < req.length; i += 8) parts.push(req.slice(i, i + 8));
    const started = Date.now();
    const res = await rawExchange(srv.port, parts, { gap: 50, timeout: 4000 });
    const elapsed = Date.now() - started;
    assert.ok(res.closed, 'not dropped');
    assert.notEqual(res.status, 101, 'a handshake that took longer than handshakeTimeout was accepted');
    assert.ok(elapsed < 2000, `dropped only after ${elapsed} ms`);
  });

  test('connections past maxConnections are answered 503, and a freed slot is reused', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, maxConnections: 2 });
    t.after(() => srv.close());
    const a = await wsClient(srv.url);
    const b = await wsClient(srv.url);
    const res = await rawExchange(srv.port, upgrade(srv.port));
    assertRefusal(res, 503, 'third connection');
    a.close(1000);
    await withTimeout(a.closed, 3000, 'the first client to close');
    await waitUntil(async () => {
      const r = await rawExchange(srv.port, upgrade(srv.port), { timeout: 300 });
      return r.status === 101;
    }, 3000, 'a free slot after a client left');
    b.terminate();
  });

  test('a message over maxPayload in one frame is refused with 1009; one at the limit is echoed', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, maxPayload: 1000 });
    t.after(() => srv.close());
    const c = await RawClient.connect(srv.url);
    t.after(() => c.destroy());
    await c.binary(Buffer.alloc(1000, 1));
    await c.waitEvents(1);
    assert.equal(c.events[0].data.length, 1000);
    await c.binary(Buffer.alloc(1001, 2));
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1009);
    assert.equal(c.events.length, 1);
    await c.waitTcpClose();
  });

  test('a message over maxPayload summed over fragments is refused with 1009', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, maxPayload: 1000 });
    t.after(() => srv.close());
    const c = await RawClient.connect(srv.url);
    t.after(() => c.destroy());
    await c.write(frame(OP.TEXT, 'a'.repeat(600), { fin: false }));
    await c.write(frame(OP.CONTINUATION, 'b'.repeat(600)));
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1009);
    assert.deepEqual(c.events, []);
    await c.waitTcpClose();
  });

  test('a frame header announcing more than maxPayload is refused before its payload arrives', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, maxPayload: 1000 });
    t.after(() => srv.close());
    const c = await RawClient.connect(srv.url);
    t.after(() => c.destroy());
    const f = frame(OP.BINARY, Buffer.alloc(1 << 20));
    await c.write(f.subarray(0, 14)); // header and mask only
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1009);
  });

  test('a ws client sending over maxPayload sees close code 1009; at the limit it gets its echo', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, maxPayload: 1 << 20 });
    t.after(() => srv.close());
    const ws = await wsClient(srv.url);
    const big = Buffer.alloc(1 << 20, 9);
    const echo = await wsRoundTrip(ws, big);
    assert.ok(echo.isBinary);
    assert.ok(Buffer.from(echo.data).equals(big));
    ws.send(Buffer.alloc((1 << 20) + 1));
    const closed = await ws.closed;
    assert.equal(closed.code, 1009);
  });

  test('a client that never reads is closed with 1008 once more than maxBufferedAmount is queued', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, maxBufferedAmount: 256 * 1024, closeTimeout: 300 });
    t.after(() => srv.close());
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(`${srv.url}/silent`);
    t.after(() => c.destroy());
    c.pause();
    const conn = await connP;
    const closedP = waitEvent(conn, 'close', 10000);
    const chunk = Buffer.alloc(64 * 1024, 3);
    let sent = 0;
    while (conn.readyState === 1 && sent < 64 * 1024 * 1024) {
      conn.send(chunk);
      sent += chunk.length;
      if (sent % (1024 * 1024) === 0) await delay(1);
    }
    const [code] = await closedP;
    assert.equal(code, 1008, `closed with ${code} after ${sent} bytes were sent`);
    assert.ok(sent > 256 * 1024, `closed after only ${sent} bytes`);
    c.resume();
    await c.waitTcpClose(5000);
  });

  test('server pings arrive every pingInterval, and a peer that answers stays connected past idleTimeout', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, pingInterval: 100, idleTimeout: 400 });
    t.after(() => srv.close());
    const c = await RawClient.connect(srv.url, { autoPong: true });
    t.after(() => c.destroy());
    await delay(1000);
    assert.ok(c.pings.length >= 3, `only ${c.pings.length} pings in 1 s`);
    assert.equal(c.closeFrame, null, `closed although it answered every ping: ${c.describe()}`);
    assert.equal(c.tcpClosed, false);
  });

  test('a peer that sends nothing, not even pongs, is closed with 1001 after idleTimeout', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, pingInterval: 100, idleTimeout: 500 });
    t.after(() => srv.close());
    const started = Date.now();
    const c = await RawClient.connect(srv.url, { autoPong: false });
    t.after(() => c.destroy());
    await c.waitCloseFrame(3000);
    const elapsed = c.closeFrame.at - started;
    assert.equal(c.closeFrame.code, 1001);
    assert.ok(c.pings.length >= 1, 'no ping arrived before the idle close');
    assert.ok(elapsed >= 400, `closed after ${elapsed} ms, before idleTimeout`);
    assert.ok(elapsed < 2500, `closed only after ${elapsed} ms`);
    await c.waitTcpClose();
  });

  test('without pingInterval a quiet peer is still closed with 1001 after idleTimeout', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, pingInterval: 0, idleTimeout: 400 });
    t.after(() => srv.close());
    const c = await RawClient.connect(srv.url);
    t.after(() => c.destroy());
    await c.waitCloseFrame(3000);
    assert.equal(c.closeFrame.code, 1001);
    assert.equal(c.pings.length, 0, 'pings were sent although pingInterval is 0');
  });

  test('a peer that never answers our close frame is dropped after closeTimeout', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, closeTimeout: 300 });
    t.after(() => srv.close());
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(srv.url, { autoCloseReply: false });
    t.after(() => c.destroy());
    const conn = await connP;
    conn.close(1000, 'bye');
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1000);
    assert.equal(c.closeFrame.reason, 'bye');
    await c.waitTcpClose(3000);
    const waited = c.tcpClosedAt - c.closeFrame.at;
    assert.ok(waited >= 200, `TCP dropped ${waited} ms after the close frame, before closeTimeout`);
    assert.ok(waited < 2000, `TCP dropped only ${waited} ms after the close frame`);
  });

  test('a peer that answers our close frame is disconnected at once, well before closeTimeout', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, closeTimeout: 4000 });
    t.after(() => srv.close());
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(srv.url);
    t.after(() => c.destroy());
    const conn = await connP;
    const closeP = waitEvent(conn, 'close', 3000);
    conn.close(3001, 'done here');
    await c.waitCloseFrame();
    await c.waitTcpClose(1500);
    const [code, reason] = await closeP;
    assert.equal(code, 3001);
    assert.equal(reason, 'done here');
  });
});

describe('closing', () => {
  let srv;
  before(async () => { srv = await startServer({ modules: FIXTURE_MODULES }); });
  after(() => srv && srv.close());

  test('a close from JS with a code and a reason reaches the ws client', async () => {
    const connP = nextConnection(srv.server);
    const ws = await wsClient(srv.url);
    const conn = await connP;
    conn.close(4001, 'custom reason ✓');
    const closed = await ws.closed;
    assert.equal(closed.code, 4001);
    assert.equal(closed.reason, 'custom reason ✓');
    assert.equal(conn.readyState === 2 || conn.readyState === 3, true);
  });

  test('close() without arguments sends 1000', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(srv.url);
    const conn = await connP;
    conn.close();
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1000);
    await c.waitTcpClose();
    c.destroy();
  });

  test('close() with an invalid code or a reason over 123 bytes throws a WebSocketError', async () => {
    const connP = nextConnection(srv.server);
    const ws = await wsClient(srv.url);
    const conn = await connP;
    for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000]) {
      assert.throws(() => conn.close(code), (e) => e.name === 'WebSocketError' && typeof e.code === 'string', `code ${code}`);
    }
    assert.throws(() => conn.close(1000, 'x'.repeat(124)), (e) => e.name === 'WebSocketError');
    assert.equal(conn.readyState, 1, 'a refused close() must leave the connection open');
    const echo = await wsRoundTrip(ws, 'still open');
    assert.equal(echo.data.toString(), 'still open');
    ws.close();
    await ws.closed;
  });

  test('codes and reasons the ws client closes with reach the server', async () => {
    for (const [code, reason] of [[1000, ''], [1001, 'going'], [4000, 'bye now'], [3999, 'κόσμε']]) {
      const connP = nextConnection(srv.server);
      const ws = await wsClient(srv.url);
      const conn = await connP;
      const closeP = waitEvent(conn, 'close', 3000);
      ws.close(code, reason);
      const [got, gotReason] = await closeP;
      assert.equal(got, code);
      assert.equal(gotReason, reason);
      const closed = await ws.closed;
      assert.ok([code, 1000].includes(closed.code), `the ws client saw ${closed.code} after closing with ${code}`);
    }
  });

  test('a client that drops TCP without a close frame is reported as 1006', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(srv.url);
    const conn = await connP;
    const closeP = waitEvent(conn, 'close', 3000);
    c.destroy();
    const [code] = await closeP;
    assert.equal(code, 1006);
  });

  test('a protocol violation is reported to the server side with its close code', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(srv.url);
    const conn = await connP;
    const closeP = waitEvent(conn, 'close', 3000);
    await c.send(3, 'reserved opcode');
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1002);
    const [code] = await closeP;
    assert.equal(code, 1002);
    c.destroy();
  });

  test('server.close() sends 1001 to every client, calls back, and releases the port', async () => {
    const own = await startServer({ modules: FIXTURE_MODULES, closeTimeout: 1000 });
    const clients = await Promise.all([wsClient(own.url), wsClient(own.url), wsClient(own.url)]);
    const raw = await RawClient.connect(own.url);
    const closeEvent = waitEvent(own.server, 'close', 5000);
    const started = Date.now();
    await own.close();
    await closeEvent;
    const results = await Promise.all(clients.map((ws) => ws.closed));
    for (const r of results) assert.equal(r.code, 1001);
    assert.equal(raw.closeFrame && raw.closeFrame.code, 1001, raw.describe());
    assert.ok(Date.now() - started < 3000, 'server.close() took too long although every client answered');
    assert.equal(await canListen(own.port), true, `port ${own.port} is still in use after server.close()`);
    const refused = await new Promise((resolve) => {
      const s = net.connect(own.port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(false); });
      s.on('error', () => resolve(true));
    });
    assert.equal(refused, true, 'the server still accepts connections after close()');
    raw.destroy();
  });

  test('server.close() drops a client that does not answer within closeTimeout', async () => {
    const own = await startServer({ modules: FIXTURE_MODULES, closeTimeout: 300 });
    const c = await RawClient.connect(own.url, { autoCloseReply: false });
    const started = Date.now();
    await own.close();
    assert.ok(Date.now() - started < 2500, `close() took ${Date.now() - started} ms`);
    await c.waitTcpClose(2000);
    assert.equal(c.closeFrame && c.closeFrame.code, 1001);
    assert.equal(await canListen(own.port), true);
    c.destroy();
  });
});

describe('the Flash socket-policy answer', () => {
  function checkPolicy(res, domains, port) {
    const raw = res.raw.toString('utf8');
    assert.ok(res.raw.length > 0, 'no answer');
    assert.equal(res.raw[res.raw.length - 1], 0, 'the document must end with a NUL byte');
    const doc = raw.slice(0, -1);
    assert.equal(doc.indexOf('\0'), -1, 'only one NUL, at the end');
    assert.match(doc, /<\?xml version="1\.0"\?>/);
    assert.match(doc, /<cross-domain-policy>[\s\S]*<\/cross-domain-policy>\s*$/);
    const found = [...doc.matchAll(/<allow-access-from domain="([^"]*)" to-ports="([^"]*)"\s*\/>/g)];
    assert.deepEqual(found.map((m) => m[1]).sort(), [...domains].sort(), doc);
    for (const m of found) assert.equal(m[2], String(port));
    assert.ok(res.closed, 'the server should close the connection after the policy');
  }

  test('a policy request is answered with domain "*" and the port when origins are not restricted', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES });
    t.after(() => srv.close());
    checkPolicy(await rawExchange(srv.port, '<policy-file-request/>\0'), ['*'], srv.port);
  });

  test('a policy request split across writes is answered too', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES });
    t.after(() => srv.close());
    checkPolicy(await rawExchange(srv.port, ['<policy-', 'file-request/>', '\0'], { gap: 20 }), ['*'], srv.port);
  });

  test('the policy lists the hosts of the allowed origins', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES, origins: ['http://allowed.example:8080', 'https://other.example'] });
    t.after(() => srv.close());
    checkPolicy(await rawExchange(srv.port, '<policy-file-request/>\0'), ['allowed.example', 'other.example'], srv.port);
  });

  test('a separate policyPort answers policy requests naming the WebSocket port', async (t) => {
    const policyPort = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    const srv = await startServer({ modules: FIXTURE_MODULES, policyPort });
    t.after(() => srv.close());
    checkPolicy(await rawExchange(policyPort, '<policy-file-request/>\0'), ['*'], srv.port);
  });

  test('something that is not a policy request on the WebSocket port gets an HTTP answer, not a policy', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES });
    t.after(() => srv.close());
    const res = await rawExchange(srv.port, '<policy-file-request/>X\r\n\r\n');
    assert.doesNotMatch(res.raw.toString('latin1'), /cross-domain-policy/);
  });
});

describe('static documents for plain HTTP GETs', () => {
  let srv;
  before(async () => { srv = await startServer({ modules: FIXTURE_MODULES }); });
  after(() => srv && srv.close());

  const get = (port, target, extra = '') => rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`, { timeout: 2000 });

  test('GET /test.html serves the demo page as text/html', async () => {
    const res = await get(srv.port, '/test.html');
    assert.equal(res.status, 200, res.raw.toString('latin1').slice(0, 200));
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.match(res.body.toString(), /<html/i);
    if (res.headers['content-length'] !== undefined) assert.equal(Number(res.headers['content-length']), res.body.length);
  });

  test('a missing document is 404', async () => {
    const res = await get(srv.port, '/no-such-page.html');
    assert.equal(res.status, 404);
  });

  test('path traversal attempts never leave the docroot', async () => {
    for (const target of ['/../package.json', '/%2e%2e/package.json', '/%2E%2E/package.json', '/assets/../../package.json', '/..%2fpackage.json', '/%2e%2e%2fpackage.json', '/./../package.json', '/..\\package.json']) {
      const res = await get(srv.port, target);
      assert.ok([400, 404].includes(res.status), `${target}: got ${res.status}`);
      assert.doesNotMatch(res.body.toString(), /"devDependencies"/, `${target} leaked package.json`);
    }
  });

  test('a custom docroot is served with content types by extension', async (t) => {
    const own = await startServer({ modules: FIXTURE_MODULES, docroot: FIXTURE_DOCROOT });
    t.after(() => own.close());
    const index = await get(own.port, '/');
    assert.equal(index.status, 200);
    assert.match(index.headers['content-type'], /^text\/html/);
    assert.match(index.body.toString(), /fixture index/);
    const txt = await get(own.port, '/notes.txt');
    assert.equal(txt.status, 200);
    assert.match(txt.headers['content-type'], /^text\/plain/);
    assert.equal(txt.body.toString(), 'plain text fixture\n');
    const css = await get(own.port, '/sub/style.css');
    assert.equal(css.status, 200);
    assert.match(css.headers['content-type'], /^text\/css/);
    assert.equal((await get(own.port, '/test.html')).status, 404, 'the default docroot leaked into a custom one');
  });

  test('with docroot false a plain GET is answered 426', async (t) => {
    const own = await startServer({ modules: FIXTURE_MODULES, docroot: false });
    t.after(() => own.close());
    const res = await get(own.port, '/test.html');
    assertRefusal(res, 426, 'docroot false');
  });

  test('the WebSocket echo works on the same port that serves documents', async () => {
    const ws = await wsClient(srv.url);
    const echo = await wsRoundTrip(ws, 'same port');
    assert.equal(echo.data.toString(), 'same port');
    ws.close();
    await ws.closed;
  });
});

describe('the ws client as an independent peer', () => {
  let srv;
  before(async () => { srv = await startServer({ modules: FIXTURE_MODULES, maxPayload: 8 * 1024 * 1024 }); });
  after(() => srv && srv.close());

  test('text is echoed as text', async () => {
    const ws = await wsClient(srv.url);
    const echo = await wsRoundTrip(ws, 'Hello, κόσμε 𝄞');
    assert.equal(echo.isBinary, false);
    assert.equal(echo.data.toString(), 'Hello, κόσμε 𝄞');
    ws.close(1000, 'done');
    const closed = await ws.closed;
    assert.equal(closed.code, 1000);
  });

  test('binary is echoed as binary', async () => {
    const ws = await wsClient(srv.url);
    const data = Buffer.from([0, 1, 2, 253, 254, 255]);
    const echo = await wsRoundTrip(ws, data);
    assert.equal(echo.isBinary, true);
    assert.deepEqual(Buffer.from(echo.data), data);
    ws.close();
    await ws.closed;
  });

  test('a message sent in fragments is echoed whole', async () => {
    const ws = await wsClient(srv.url);
    const got = withTimeout(new Promise((resolve) => ws.once('message', (d, isBinary) => resolve({ d, isBinary }))), 3000, 'the echo');
    ws.send('frag-1 ', { fin: false });
    ws.send('frag-2 ', { fin: false });
    ws.send('frag-3');
    const { d, isBinary } = await got;
    assert.equal(isBinary, false);
    assert.equal(d.toString(), 'frag-1 frag-2 frag-3');
    ws.close();
    await ws.closed;
  });

  test('large messages up to maxPayload are echoed exactly, in order', async () => {
    const ws = await wsClient(srv.url);
    const sizes = [1, 1000, 65536, 1 << 20, 8 * 1024 * 1024];
    const payloads = sizes.map((n, i) => Buffer.alloc(n, i + 1).fill(Buffer.from([i, 7, 13, 200]), 0));
    const got = [];
    const all = withTimeout(new Promise((resolve) => ws.on('message', (d) => {
      got.push(Buffer.from(d));
      if (got.length === payloads.length) resolve();
    })), 15000, 'every echo');
    for (const p of payloads) ws.send(p);
    await all;
    payloads.forEach((p, i) => assert.ok(got[i].equals(p), `message ${i} (${p.length} bytes) differs`));
    ws.close();
    await ws.closed;
  });

  test('many clients at once each get their own echoes', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => wsClient(srv.url)));
    const echoes = await Promise.all(clients.map((ws, i) => wsRoundTrip(ws, `client ${i}`)));
    echoes.forEach((e, i) => assert.equal(e.data.toString(), `client ${i}`));
    for (const ws of clients) ws.close();
    await Promise.all(clients.map((ws) => ws.closed));
  });
});

// From 16 KiB on, a message reaches JS in its own (pooled) buffer, the rest
// of a large frame is read straight into it, and a large send is written
// from the caller's memory when the socket takes it: these check the
// seams of those paths.
describe('large messages', () => {
  let srv;
  before(async () => { srv = await startServer({ modules: FIXTURE_MODULES, maxPayload: 8 * 1024 * 1024 }); });
  after(() => srv && srv.close());

  /** n bytes of a pattern that differs per seed, so a stale or reused buffer shows. */
  const pattern = (n, seed) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
    return b;
  };

  test('messages JS keeps stay intact while more large messages arrive, mixed with small ones', async () => {
    const kept = [];
    const connP = nextConnection(srv.server);
    const ws = await wsClient(srv.url);
    const conn = await connP;
    conn.on('message', (data, isBinary) => kept.push({ data, isBinary }));
    const sizes = [16384, 20000, 65536, 100, 70000, 1 << 20, 5, 16383, 65535, 3 << 20];
    const sent = sizes.map((n, i) => (i % 3 === 1 ? 'ĉ€'.repeat(Math.ceil(n / 5)).slice(0, Math.ceil(n / 5)) + `#${i}` : pattern(n, i)));
    const got = [];
    const total = sent.length + 20;
    const all = withTimeout(new Promise((resolve) => ws.on('message', (d, isBinary) => {
      got.push({ d: Buffer.from(d), isBinary });
      if (got.length === total) resolve();
    })), 20000, 'every echo');
    for (const m of sent) ws.send(m);
    for (let i = 0; i < 20; i++) ws.send(pattern(65536, 100 + i)); // churn the pool after the kept ones
    await all;
    sent.forEach((m, i) => {
      const isText = typeof m === 'string';
      assert.equal(got[i].isBinary, !isText, `echo ${i}: type`);
      assert.ok(got[i].d.equals(Buffer.from(m)), `echo ${i} (${got[i].d.length} bytes) differs`);
      assert.equal(kept[i].isBinary, !isText, `kept ${i}: type`);
      if (isText) assert.equal(kept[i].data, m, `kept text ${i} differs`);
      else assert.ok(Buffer.from(kept[i].data).equals(m), `kept message ${i} (${m.length} bytes) changed after later messages`);
    });
    for (let i = 0; i < 20; i++) assert.ok(got[sent.length + i].d.equals(pattern(65536, 100 + i)), `churn echo ${i}`);
    ws.close();
    await ws.closed;
  });

  test('large frames split anywhere, fragmented, and sharing writes with small frames come back exactly, in order', async () => {
    const text = 'κόσμε-𝄞-'.repeat(5000); // multi-byte UTF-8 split at arbitrary points
    const frag1 = pattern(30000, 1);
    const frag2 = pattern(40000, 2);
    const stream = Buffer.concat([
      frame(OP.BINARY, pattern(20000, 3)), // 16-bit length
      frame(OP.TEXT, text), // 64-bit length
      frame(OP.BINARY, frag1, { fin: false }),
      frame(OP.PING, 'between fragments'),
      frame(OP.CONTINUATION, frag2),
      frame(OP.TEXT, 'small'),
      frame(OP.BINARY, pattern(65536, 4)),
      frame(OP.BINARY, Buffer.alloc(0)),
      frame(OP.BINARY, pattern(16384, 5)),
      frame(OP.BINARY, frag2, { fin: false }), // the next header lands in the same buffer as this payload
      frame(OP.CONTINUATION, frag1),
    ]);
    for (const [chop, gap] of [[[7000], 1], [[65536 + 14, 9, 14, 1], 1], [[1, 13, 4096, 16384 + 3], 0], [[stream.length], 0]]) {
      const c = await RawClient.connect(srv.url);
      await c.writeChopped(stream, chop, gap);
      await c.waitEvents(9, 10000);
      const ev = c.events;
      const what = `chop ${chop.join('/')}`;
      assert.deepEqual(c.violations, [], what);
      assert.ok(ev[0].data.equals(pattern(20000, 3)), `${what}: 20000-byte message`);
      assert.equal(ev[1].opcode, OP.TEXT);
      assert.equal(ev[1].data.toString('utf8'), text, `${what}: large text`);
      assert.equal(ev[2].type, 'pong', `${what}: the pong comes after the messages before the ping`);
      assert.ok(ev[3].data.equals(Buffer.concat([frag1, frag2])), `${what}: fragmented message`);
      assert.equal(ev[4].data.toString(), 'small', what);
      assert.ok(ev[5].data.equals(pattern(65536, 4)), `${what}: 65536-byte message`);
      assert.equal(ev[6].data.length, 0, what);
      assert.ok(ev[7].data.equals(pattern(16384, 5)), `${what}: 16384-byte message`);
      assert.ok(ev[8].data.equals(Buffer.concat([frag2, frag1])), `${what}: second fragmented message`);
      c.destroy();
    }
  });

  test('a large invalid UTF-8 text read straight into its buffer is still refused with 1007', async () => {
    const bad = Buffer.concat([Buffer.from('a'.repeat(40000)), Buffer.from([0xc3, 0x28]), Buffer.from('b'.repeat(40000))]);
    const c = await RawClient.connect(srv.url);
    await c.writeChopped(Buffer.concat([frame(OP.BINARY, pattern(70000, 6)), frame(OP.TEXT, bad)]), [14, 30000], 1);
    await c.waitCloseFrame(5000);
    assert.equal(c.closeFrame.code, 1007);
    assert.ok(c.events[0].data.equals(pattern(70000, 6)), 'the message before it was echoed');
    c.destroy();
  });

  test('large sends to a reader that stalls are queued and arrive whole, in order with small sends, then drain', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(srv.url);
    const conn = await connP;
    c.pause();
    const big = pattern(4 << 20, 7);
    const mid = pattern(65536, 8);
    conn.send('first');
    const accepted = conn.send(big);
    conn.send('between');
    conn.send(mid);
    conn.send('last');
    assert.equal(accepted, false, 'send() reports backpressure past highWaterMark');
    const drained = waitEvent(conn, 'drain', 10000);
    await delay(50);
    c.resume();
    await c.waitEvents(5, 10000);
    await drained;
    assert.deepEqual(c.violations, []);
    assert.equal(c.events[0].data.toString(), 'first');
    assert.ok(c.events[1].data.equals(big), 'the 4 MiB message arrived intact');
    assert.equal(c.events[2].data.toString(), 'between');
    assert.ok(c.events[3].data.equals(mid), 'the 64 KiB message arrived intact');
    assert.equal(c.events[4].data.toString(), 'last');
    c.destroy();
  });
});

describe('subprotocols', () => {
  let srv;
  before(async () => { srv = await startServer({ modules: FIXTURE_MODULES }); });
  after(() => srv && srv.close());

  test('the first protocol in the client\'s list that the resource speaks is chosen and echoed', async () => {
    const connP = nextConnection(srv.server);
    const ws = await wsClient(`${srv.url}/proto`, ['a', 'b']);
    const conn = await connP;
    assert.equal(ws.protocol, 'a');
    assert.equal(conn.protocol, 'a');
    const echo = await wsRoundTrip(ws, 'which');
    assert.equal(echo.data.toString(), 'protocol:a');
    ws.close();
    await ws.closed;
  });

  test('protocols the resource does not speak are skipped', async () => {
    const ws = await wsClient(`${srv.url}/proto`, ['c', 'b', 'a']);
    assert.equal(ws.protocol, 'b');
    ws.close();
    await ws.closed;
  });

  test('protocols declared as exports.protocols work too', async () => {
    const ws = await wsClient(`${srv.url}/proto-exports`, ['chat.v1']);
    assert.equal(ws.protocol, 'chat.v1');
    ws.close();
    await ws.closed;
  });

  test('no Sec-WebSocket-Protocol header when none matches', async () => {
    const c = await RawClient.connect(`${srv.url}/proto`, { headers: { 'Sec-WebSocket-Protocol': 'x, y' } });
    assert.equal(c.response.headers['sec-websocket-protocol'], undefined);
    await c.text('which');
    await c.waitEvents(1);
    assert.equal(c.events[0].data.toString(), 'protocol:');
    c.destroy();
  });

  test('no Sec-WebSocket-Protocol header when the resource declares none', async () => {
    const c = await RawClient.connect(`${srv.url}/noproto`, { headers: { 'Sec-WebSocket-Protocol': 'a, b' } });
    assert.equal(c.response.headers['sec-websocket-protocol'], undefined);
    c.destroy();
  });

  test('offers spread over several Sec-WebSocket-Protocol headers are all considered', async () => {
    const c = await RawClient.connect(`${srv.url}/proto`, { headers: { 'Sec-WebSocket-Protocol': ['x', 'b'] } });
    assert.equal(c.response.headers['sec-websocket-protocol'], 'b');
    c.destroy();
  });
});

describe('module loading', () => {
  let srv;
  before(async () => { srv = await startServer({ modules: FIXTURE_MODULES }); });
  after(() => srv && srv.close());

  test('a module in the old prototype style (this.Module = function) works unchanged', async () => {
    const ws = await wsClient(`${srv.url}/legacy`);
    assert.equal((await wsRoundTrip(ws, 'hi')).data.toString(), 'legacy:hi');
    ws.close();
    await ws.closed;
  });

  test('a module exporting a class (exports.Module = class) works', async () => {
    const ws = await wsClient(`${srv.url}/modern?x=1`);
    assert.equal((await wsRoundTrip(ws, 'hi')).data.toString(), 'modern:hi');
    ws.close();
    await ws.closed;
  });

  test('/a/b loads modules/a/b.js', async () => {
    const connP = nextConnection(srv.server);
    const ws = await wsClient(`${srv.url}/a/b`);
    const conn = await connP;
    assert.equal(conn.resource, 'a/b');
    assert.equal((await wsRoundTrip(ws, 'hi')).data.toString(), 'a/b:hi');
    ws.close();
    await ws.closed;
  });

  test('a segment starting with a dot other than "." and ".." is allowed (/.hidden)', async () => {
    const ws = await wsClient(`${srv.url}/.hidden`);
    assert.equal((await wsRoundTrip(ws, 'hi')).data.toString(), 'hidden:hi');
    ws.close();
    await ws.closed;
  });

  test('bad resource names are refused with 404 before the upgrade', async () => {
    const names = ['/%2e%2e/x', '/a/../b', '/a%2Fb', '/a%2fb', '/a/./b', '/..', '/.', '/a/b/..', '/a//b', '/a/', '/a%20b',
      '/a/b.js', '/../../package', '/%61', '/legacy%00', '/a;b', '/a:b', '/~a'];
    for (const target of names) {
      const res = await rawExchange(srv.port, upgrade(srv.port, { target }));
      assertRefusal(res, 404, `resource ${JSON.stringify(target)}`);
    }
    // Bytes an HTTP parser may already refuse: 400 or 404, never an upgrade.
    for (const target of ['/\xe4', '/a\\b']) {
      const res = await rawExchange(srv.port, upgrade(srv.port, { target }));
      assert.ok([400, 404].includes(res.status), `resource ${JSON.stringify(target)}: ${res.status}`);
    }
  });

  test('a module that throws in onData gets its connection closed with 1011; others keep working', async () => {
    const bystander = await wsClient(`${srv.url}/throws`);
    const victim = await wsClient(`${srv.url}/throws`);
    assert.equal((await wsRoundTrip(victim, 'fine')).data.toString(), 'fine');
    victim.send('throw');
    const closed = await victim.closed;
    assert.equal(closed.code, 1011);
    assert.equal((await wsRoundTrip(bystander, 'still here')).data.toString(), 'still here');
    const late = await wsClient(`${srv.url}/throws`);
    assert.equal((await wsRoundTrip(late, 'new one')).data.toString(), 'new one');
    for (const ws of [bystander, late]) ws.close();
    await Promise.all([bystander.closed, late.closed]);
  });

  test('onConnect is called, each connection has its own instance, and onDisconnect is called exactly once', async () => {
    srv.server.lifecycle = [];
    const a = await wsClient(`${srv.url}/lifecycle`);
    const welcomeA = withTimeout(new Promise((resolve) => {
      if (a.received.length) resolve(a.received[0].data.toString());
      else a.once('message', (d) => resolve(d.toString()));
    }), 2000, 'the welcome');
    assert.match(await welcomeA, /^welcome \d+$/);
    const b = await wsClient(`${srv.url}/lifecycle`);
    await waitUntil(() => b.received.length >= 1, 2000, 'the second welcome');
    assert.equal((await wsRoundTrip(a, 'x')).data.toString(), 'ack x');
    assert.equal((await wsRoundTrip(b, 'y')).data.toString(), 'ack y');
    a.close();
    await a.closed;
    b.terminate();
    await b.closed;
    await waitUntil(() => srv.server.lifecycle.filter((e) => e.what === 'disconnect').length >= 2, 3000, 'two onDisconnect calls');
    await delay(100);
    const log = srv.server.lifecycle;
    const ids = [...new Set(log.map((e) => e.id))];
    assert.equal(ids.length, 2);
    for (const id of ids) {
      const mine = log.filter((e) => e.id === id).map((e) => e.what);
      assert.equal(mine[0], 'connect');
      assert.equal(mine.filter((w) => w === 'connect').length, 1);
      assert.equal(mine.filter((w) => w === 'disconnect').length, 1, `onDisconnect calls for ${id}: ${mine.join(', ')}`);
      assert.equal(mine[mine.length - 1], 'disconnect');
    }
  });

  test('onDisconnect is called once when the server closes the connection for a protocol error', async () => {
    srv.server.lifecycle = [];
    const c = await RawClient.connect(`${srv.url}/lifecycle`);
    await c.waitEvents(1);
    await c.send(OP.TEXT, Buffer.from([0xff]));
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1007);
    await c.waitTcpClose();
    await waitUntil(() => srv.server.lifecycle.some((e) => e.what === 'disconnect'), 2000, 'onDisconnect');
    await delay(100);
    assert.equal(srv.server.lifecycle.filter((e) => e.what === 'disconnect').length, 1);
    assert.equal(srv.server.lifecycle.filter((e) => e.what.startsWith('data')).length, 0, 'invalid UTF-8 reached onData');
    c.destroy();
  });
});

describe('the Connection API', () => {
  let srv;
  before(async () => { srv = await startServer({ modules: FIXTURE_MODULES, highWaterMark: 64 * 1024 }); });
  after(() => srv && srv.close());

  test('path, query, headers, cookies, origin, protocol and the remote address are what the client sent', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(srv.url, {
      path: '/props?x=1&y=two%20words&empty=',
      headers: { Cookie: 'a=1; b=hello%20world; c="quoted"', Origin: 'http://example.com', 'X-Custom': 'value', 'User-Agent': 'raw-client/1' },
    });
    const conn = await connP;
    assert.equal(conn.path, '/props');
    assert.equal(conn.resource, 'props');
    assert.deepEqual({ ...conn.query }, { x: '1', y: 'two words', empty: '' });
    assert.equal(conn.headers['x-custom'], 'value');
    assert.equal(conn.headers.host, `127.0.0.1:${srv.port}`);
    assert.equal(conn.headers['sec-websocket-key'], c.key);
    assert.deepEqual({ ...conn.cookies }, { a: '1', b: 'hello world', c: 'quoted' });
    assert.equal(conn.origin, 'http://example.com');
    assert.equal(conn.protocol, '');
    assert.equal(conn.remoteAddress, '127.0.0.1');
    assert.equal(conn.remotePort, c.socket.localPort);
    assert.equal(conn.readyState, 1);
    assert.equal(conn.server, srv.server);
    assert.equal(typeof conn.id, 'number');
    assert.ok(srv.server.clients.includes(conn), 'server.clients lacks the connection');
    await c.text('props');
    await c.waitEvents(1);
    const seen = JSON.parse(c.events[0].data.toString());
    assert.equal(seen.path, '/props');
    assert.equal(seen.remotePort, c.socket.localPort);
    assert.equal(seen.userAgent, 'raw-client/1');
    assert.deepEqual(seen.cookies, { a: '1', b: 'hello world', c: 'quoted' });
    c.destroy();
  });

  test('headers holds every request header by its lower-case name, repeated ones joined', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(`${srv.url}/props`, {
      headers: { 'USER-AGENT': 'raw-client/1', 'Accept-Language': ['en', 'fr'], Cookie: ['a=1', 'b=2'], 'X-Thing': ['x', 'y'], 'sec-fetch-MODE': 'websocket' },
    });
    const conn = await connP;
    assert.deepEqual({ ...conn.headers }, {
      host: `127.0.0.1:${srv.port}`,
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': c.key,
      'sec-websocket-version': '13',
      'user-agent': 'raw-client/1',
      'accept-language': 'en, fr',
      cookie: 'a=1; b=2',
      'x-thing': 'x, y',
      'sec-fetch-mode': 'websocket',
    });
    c.destroy();
  });

  test('a connection without Origin or Cookie has no origin and empty cookies', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(`${srv.url}/props`);
    const conn = await connP;
    assert.equal(conn.origin, undefined);
    assert.deepEqual({ ...conn.cookies }, {});
    assert.deepEqual({ ...conn.query }, {});
    c.destroy();
  });

  test('connection ids are distinct', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const connP = nextConnection(srv.server);
      const c = await RawClient.connect(`${srv.url}/silent`);
      ids.push((await connP).id);
      c.destroy();
    }
    assert.equal(new Set(ids).size, 5);
  });

  test('the message event carries the data and whether it is binary', async () => {
    const connP = nextConnection(srv.server);
    const ws = await wsClient(`${srv.url}/silent`);
    const conn = await connP;
    const got = [];
    conn.on('message', (data, isBinary) => got.push([data, isBinary]));
    ws.send('text');
    ws.send(Buffer.from([1, 2]));
    await waitUntil(() => got.length === 2, 2000, 'two message events');
    assert.equal(got[0][0], 'text');
    assert.equal(got[0][1], false);
    assert.ok(Buffer.isBuffer(got[1][0]));
    assert.deepEqual([...got[1][0]], [1, 2]);
    assert.equal(got[1][1], true);
    ws.close();
    await ws.closed;
  });

  test('send() returns true while the queue is short, false past highWaterMark, then drain follows', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(`${srv.url}/silent`);
    const conn = await connP;
    assert.equal(conn.bufferedAmount, 0);
    assert.equal(conn.send('small'), true);
    await c.waitEvents(1);
    c.pause();
    const chunk = Buffer.alloc(32 * 1024, 5);
    let sends = 0;
    let result = true;
    while (result && sends < 2000) {
      result = conn.send(chunk);
      sends++;
    }
    assert.equal(result, false, 'send() never returned false');
    assert.ok(conn.bufferedAmount >= 64 * 1024, `bufferedAmount ${conn.bufferedAmount} below highWaterMark when send() returned false`);
    const drained = waitEvent(conn, 'drain', 10000);
    c.resume();
    await drained;
    assert.equal(conn.bufferedAmount, 0);
    await c.waitFor(() => c.messages.length >= sends + 1, 10000, 'every queued message');
    assert.equal(c.messages.length, sends + 1);
    assert.ok(c.messages.slice(1).every((m) => m.data.equals(chunk)), 'a queued message was damaged');
    c.destroy();
  });

  test('with a client that stops reading, bytes stay queued (bufferedAmount) until it reads again, then drain', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(`${srv.url}/silent`);
    const conn = await connP;
    c.pause();
    const chunk = Buffer.alloc(64 * 1024, 6);
    let sends = 0;
    let stuck = false;
    // Send until the kernel's buffers are full: a 'drain' that does not come
    // within 100 ms means the bytes are really waiting for the client.
    while (sends < 2000 && !stuck) {
      const ok = conn.send(chunk);
      sends++;
      if (!ok) {
        const drained = await waitEvent(conn, 'drain', 100).then(() => true, () => false);
        stuck = !drained;
      }
    }
    assert.ok(stuck, `the queue always drained although the client read nothing (${sends} sends)`);
    const queued = conn.bufferedAmount;
    assert.ok(queued > 0, 'bufferedAmount is 0 while the client is not reading');
    await delay(50);
    assert.ok(conn.bufferedAmount >= queued, 'the queue shrank while the client was not reading');
    const drained = waitEvent(conn, 'drain', 10000);
    c.resume();
    await drained;
    assert.equal(conn.bufferedAmount, 0);
    await c.waitFor(() => c.messages.length >= sends, 10000, 'every queued message');
    assert.equal(c.messages.length, sends);
    assert.ok(c.messages.every((m) => m.data.equals(chunk)), 'a queued message was damaged');
    c.destroy();
  });

  test('ping() from the server reaches the client, with or without data', async () => {
    const connP = nextConnection(srv.server);
    const ws = await wsClient(`${srv.url}/silent`);
    const conn = await connP;
    const pings = [];
    ws.on('ping', (d) => pings.push(d.toString()));
    conn.ping('hello');
    conn.ping();
    conn.ping(Buffer.from('buf'));
    await waitUntil(() => pings.length === 3, 2000, 'three pings');
    assert.deepEqual(pings, ['hello', '', 'buf']);
    assert.throws(() => conn.ping('x'.repeat(126)), (e) => e.name === 'WebSocketError');
    ws.close();
    await ws.closed;
  });

  test('send() after close returns false and sends nothing', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(`${srv.url}/silent`);
    const conn = await connP;
    conn.close(1000);
    assert.equal(conn.send('too late'), false);
    await c.waitCloseFrame();
    await c.waitTcpClose();
    assert.equal(c.messages.length, 0);
    c.destroy();
  });

  test('typed arrays and ArrayBuffers are sent as binary, strings as text', async () => {
    const connP = nextConnection(srv.server);
    const c = await RawClient.connect(`${srv.url}/silent`);
    const conn = await connP;
    conn.send(new Uint8Array([1, 2, 3]));
    conn.send(new Uint16Array([0x0201]).buffer);
    conn.send('é');
    await c.waitEvents(3);
    assert.deepEqual(c.events.map((e) => [e.opcode, [...e.data]]), [[OP.BINARY, [1, 2, 3]], [OP.BINARY, [1, 2]], [OP.TEXT, [0xc3, 0xa9]]]);
    c.destroy();
  });
});

describe('a raw violation does not disturb other clients', () => {
  test('garbage on one connection closes it and leaves another one working', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES });
    t.after(() => srv.close());
    const good = await wsClient(srv.url);
    const bad = await RawClient.connect(srv.url);
    await bad.write(Buffer.from('this is not a websocket frame at all'));
    await bad.waitCloseFrame();
    assert.equal(bad.closeFrame.code, 1002);
    await bad.waitTcpClose();
    assert.equal((await wsRoundTrip(good, 'ok')).data.toString(), 'ok');
    good.close();
    await good.closed;
    bad.destroy();
  });

  test('a close payload the client sends is validated: 1-byte payload → 1002', async (t) => {
    const srv = await startServer({ modules: FIXTURE_MODULES });
    t.after(() => srv.close());
    const c = await RawClient.connect(srv.url);
    await c.send(OP.CLOSE, closePayload(1000).subarray(0, 1));
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 1002);
    c.destroy();
  });
});
