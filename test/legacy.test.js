'use strict';

// The legacy drafts hixie-76 and hixie-75 (--legacy-drafts), over raw TCP
// on 127.0.0.1: the drafts' example handshakes byte for byte, 0x00..0xFF
// text messages (split anyhow), multicast to a legacy and an RFC 6455
// subscriber at once, the 0xFF 0x00 close both ways, oversized and
// malformed frames closed cleanly; and off by default (426).

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const { startServer, startRunserver, wsClient, waitUntil, withTimeout } = require('./helpers');

// Draft 76 section 1.3 (the client's example), and the answer of section 1.3 / 5.2.
const REQUEST_76 = 'GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sample\r\nUpgrade: WebSocket\r\n' +
  'Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U';
const RESPONSE_76 = 'HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Location: ws://example.com/demo\r\n' +
  'Sec-WebSocket-Protocol: sample\r\n\r\n8jKS\'y:G*Co,Wxa-';
// Draft 75 section 1.2.
const REQUEST_75 = 'GET /demo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\n' +
  'Origin: http://example.com\r\nWebSocket-Protocol: sample\r\n\r\n';
const RESPONSE_75 = 'HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n' +
  'WebSocket-Origin: http://example.com\r\nWebSocket-Location: ws://example.com/demo\r\n' +
  'WebSocket-Protocol: sample\r\n\r\n';

const bin = (s) => Buffer.from(s, 'latin1');
const text = (s) => Buffer.concat([Buffer.from([0]), Buffer.from(s, 'utf8'), Buffer.from([0xff])]);
const CLOSE = Buffer.from([0xff, 0x00]);

/** A TCP client that keeps everything the server sends and knows when it ended. */
function rawClient(port) {
  const socket = net.connect(port, '127.0.0.1');
  const client = { socket, data: Buffer.alloc(0), ended: false };
  socket.on('data', (d) => { client.data = Buffer.concat([client.data, d]); });
  socket.on('end', () => { client.ended = true; socket.end(); });
  socket.on('close', () => { client.ended = true; });
  socket.on('error', () => {});
  client.waitFor = (bytes, what) => waitUntil(() => client.data.length >= bytes.length, 3000, what)
    .then(() => client.data);
  client.waitEnd = (what) => waitUntil(() => client.ended, 3000, what);
  return client;
}

async function handshake(port, request, response, { chop } = {}) {
  const c = rawClient(port);
  const bytes = bin(request);
  if (chop) {
    for (let i = 0; i < bytes.length; i += chop) {
      c.socket.write(bytes.subarray(i, i + chop));
      await new Promise((r) => setTimeout(r, 1));
    }
  } else {
    c.socket.write(bytes);
  }
  await c.waitFor(bin(response), 'the 101 answer');
  assert.equal(c.data.subarray(0, response.length).toString('latin1'), response);
  c.data = c.data.subarray(response.length);
  return c;
}

let modules;
before(() => {
  modules = fs.mkdtempSync(path.join(os.tmpdir(), 'legacy-modules-'));
  fs.writeFileSync(path.join(modules, 'demo.js'), `'use strict';
class Module {
  onConnect(connection) { connection.subscribe('room'); }
  onData(data, connection) {
    if (data === 'close me') connection.close();
    else if (data === 'ping me') { connection.ping(); connection.send('pinged ' + connection.bufferedAmount); }
    else connection.send(data);
  }
}
Module.protocols = ['sample'];
exports.Module = Module;
`);
});
after(() => {
  fs.rmSync(modules, { recursive: true, force: true });
  fs.rmSync(`${modules}.json`, { force: true });
});

describe('with legacyDrafts', () => {
  let srv;
  const clients = [];
  before(async () => { srv = await startServer({ legacyDrafts: true, modules, maxPayload: 64 }); });
  after(async () => {
    for (const c of clients) c.socket.destroy();
    await srv.close();
  });
  const open = async (...args) => { const c = await handshake(srv.port, ...args); clients.push(c); return c; };

  test('the hixie-76 example handshake, byte for byte, then echo of text messages', async () => {
    const c = await open(REQUEST_76, RESPONSE_76);
    c.socket.write(Buffer.concat([text('hello'), text(''), text('héllo ✓ 𝄞')]));
    const want = Buffer.concat([text('hello'), text(''), text('héllo ✓ 𝄞')]);
    assert.deepEqual(await c.waitFor(want, 'the echoes'), want);
  });

  test('the 76 request written a byte at a time, and a message split at every byte', async () => {
    const c = await open(REQUEST_76, RESPONSE_76, { chop: 1 });
    const msg = text('split é');
    for (const b of msg) {
      c.socket.write(Buffer.from([b]));
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.deepEqual(await c.waitFor(msg, 'the echo'), msg);
  });

  test('the hixie-75 example handshake, byte for byte, and echo', async () => {
    const c = await open(REQUEST_75, RESPONSE_75);
    c.socket.write(text('seventy-five'));
    assert.deepEqual(await c.waitFor(text('seventy-five'), 'the echo'), text('seventy-five'));
  });

  test('a multicast reaches a legacy and an RFC 6455 subscriber, each in its framing', async () => {
    const legacy = await open(REQUEST_76, RESPONSE_76);
    const modern = await wsClient(`${srv.url}/demo`, ['sample']);
    try {
      await waitUntil(() => srv.server.subscribers('room') >= 2, 3000, 'both subscribed');
      legacy.data = Buffer.alloc(0);
      const got = new Promise((resolve) => modern.once('message', (d, isBinary) => resolve([String(d), isBinary])));
      const n = srv.server.multicast('room', 'news ✓');
      assert.ok(n >= 2, `queued for ${n}`);
      assert.deepEqual(await withTimeout(got, 3000, 'the ws message'), ['news ✓', false]);
      assert.deepEqual(await legacy.waitFor(text('news ✓'), 'the legacy frame'), text('news ✓'));
      // Binary: 76's length-prefixed frame (0x80, base-128 length), which clients read and skip.
      legacy.data = Buffer.alloc(0);
      const payload = Buffer.alloc(200, 7);
      const gotBin = new Promise((resolve) => modern.once('message', (d) => resolve(d)));
      srv.server.multicast('room', payload);
      assert.deepEqual(await withTimeout(gotBin, 3000, 'the ws binary'), payload);
      const want = Buffer.concat([Buffer.from([0x80, 0x81, 0x48]), payload]);
      assert.deepEqual(await legacy.waitFor(want, 'the legacy binary frame'), want);
    } finally {
      modern.terminate();
    }
  });

  /** The next server-side connection's close event, as [code, reason]. */
  const nextClose = () => new Promise((resolve) => srv.server.once('connection', (conn) => {
    conn.once('close', (code, reason) => resolve([code, String(reason)]));
  }));

  test('the client closes: 0xFF 0x00 is answered with 0xFF 0x00, the connection ends, the module hears it', async () => {
    const closed = nextClose();
    const c = await open(REQUEST_76, RESPONSE_76);
    c.socket.write(Buffer.concat([text('last'), CLOSE]));
    await c.waitEnd('the server to end the connection');
    assert.deepEqual(c.data, Buffer.concat([text('last'), CLOSE]));
    assert.deepEqual(await withTimeout(closed, 3000, 'the close event'), [1005, '']);
  });

  test('the server closes: 0xFF 0x00, then it ends once the client has closed too', async () => {
    const closed = nextClose();
    const c = await open(REQUEST_76, RESPONSE_76);
    c.socket.write(text('close me'));
    await c.waitFor(CLOSE, 'the close');
    assert.deepEqual(c.data, CLOSE);
    c.socket.write(CLOSE);
    await c.waitEnd('the end');
    assert.equal((await withTimeout(closed, 3000, 'the close event'))[0], 1000);
  });

  test('ping() sends nothing on a legacy connection; bufferedAmount works', async () => {
    const c = await open(REQUEST_76, RESPONSE_76);
    c.socket.write(text('ping me'));
    const want = text('pinged 0');
    assert.deepEqual(await c.waitFor(want, 'the answer'), want);
  });

  for (const [name, bytes] of [
    ['a text frame longer than maxPayload', text('x'.repeat(65))],
    ['an unterminated text frame past maxPayload', Buffer.concat([Buffer.from([0]), Buffer.alloc(100, 0x61)])],
    ['a length-prefixed frame announcing more than maxPayload', Buffer.from([0x80, 0x81, 0x00])],
    ['a length with endless continuation bytes', Buffer.concat([Buffer.from([0x80]), Buffer.alloc(20, 0xff)])],
    ['a text frame of invalid UTF-8', Buffer.from([0x00, 0xc3, 0x28, 0xff])],
  ]) {
    test(`${name} is closed cleanly with 0xFF 0x00`, async () => {
      const c = await open(REQUEST_76, RESPONSE_76);
      c.socket.write(Buffer.concat([text('before'), bytes]));
      await c.waitEnd('the server to end the connection');
      assert.deepEqual(c.data, Buffer.concat([text('before'), CLOSE]));
    });
  }

  test('a skipped binary frame and an unknown text type deliver nothing; the next message arrives', async () => {
    const c = await open(REQUEST_76, RESPONSE_76);
    c.socket.write(Buffer.concat([Buffer.from([0x80, 0x03, 1, 2, 0xff]), Buffer.from([0x7f, 0x61, 0xff]), text('after')]));
    assert.deepEqual(await c.waitFor(text('after'), 'the echo'), text('after'));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(c.data, text('after'));
  });

  for (const [name, from, to] of [
    ['a key without spaces', 'Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5', 'Sec-WebSocket-Key1: 4@146546xW%0l15'],
    ['a key whose number is not a multiple of its spaces', 'Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5', 'Sec-WebSocket-Key1: 1 2 3'],
    ['a missing Key2', 'Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n', ''],
  ]) {
    test(`${name} gets 400`, async () => {
      const c = rawClient(srv.port);
      clients.push(c);
      c.socket.write(bin(REQUEST_76.replace(from, to)));
      await c.waitEnd('the answer');
      assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 400 /);
    });
  }

  test('RFC 6455 clients are unaffected', async () => {
    const ws = await wsClient(`${srv.url}/demo`);
    try {
      const got = new Promise((resolve) => ws.once('message', (d) => resolve(String(d))));
      ws.send('modern');
      assert.equal(await withTimeout(got, 3000, 'the echo'), 'modern');
    } finally {
      ws.terminate();
    }
  });
});

describe('without legacyDrafts (the default)', () => {
  let srv;
  before(async () => { srv = await startServer({ modules }); });
  after(() => srv.close());

  for (const [name, request] of [['hixie-76', REQUEST_76], ['hixie-75', REQUEST_75]]) {
    test(`a ${name} request gets 426 with Sec-WebSocket-Version: 13`, async () => {
      const c = rawClient(srv.port);
      c.socket.write(bin(request));
      await c.waitEnd('the answer');
      const head = c.data.toString('latin1');
      assert.match(head, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
      assert.match(head, /\r\nSec-WebSocket-Version: 13\r\n/);
    });
  }
});

describe('runserver.js', () => {
  for (const [name, args] of [
    ['--legacy-drafts', () => ['--legacy-drafts', `--modules=${modules}`, '--no-log']],
    ['a config file with legacyDrafts: true', () => {
      const file = `${modules}.json`; // removed with the modules folder, below
      fs.writeFileSync(file, JSON.stringify({ server: { legacyDrafts: true, modules, log: false } }));
      return [`--config=${file}`];
    }],
  ]) {
    test(`${name}: the hixie-76 example handshake and an echo`, async () => {
      const run = await startRunserver(args());
      let c;
      try {
        c = await handshake(run.port, REQUEST_76, RESPONSE_76);
        c.socket.write(text('from the command line'));
        assert.deepEqual(await c.waitFor(text('from the command line'), 'the echo'), text('from the command line'));
      } finally {
        if (c) c.socket.destroy();
        await run.stop();
      }
    });
  }
});

test('a legacy request for a gateway service gets 426: services speak RFC 6455 frames', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lg-'));
  const empty = path.join(dir, 'modules');
  fs.mkdirSync(empty);
  const services = path.join(dir, 's');
  fs.mkdirSync(services);
  const svc = net.createServer((s) => s.pipe(s));
  await new Promise((resolve) => svc.listen(path.join(services, 'demo'), resolve));
  const srv = await startServer({ legacyDrafts: true, modules: empty, gateway: { services, framing: 'line' } });
  try {
    const ws = await wsClient(`${srv.url}/demo`); // the service itself is reachable
    ws.terminate();
    const c = rawClient(srv.port);
    c.socket.write(bin(REQUEST_76));
    await c.waitEnd('the answer');
    assert.match(c.data.toString('latin1'), /^HTTP\/1\.1 426 [^\r]*\r\n(.*\r\n)*Sec-WebSocket-Version: 13\r\n/);
    assert.match(c.data.toString('latin1'), /the gateway needs RFC 6455/);
  } finally {
    await srv.close();
    svc.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('over wss:// the 76 location says wss://, and messages go both ways', async () => {
  const tls = require('tls');
  const { startTlsServer } = require('./helpers');
  const srv = await startTlsServer({ legacyDrafts: true, modules });
  const socket = tls.connect({ port: srv.port, host: '127.0.0.1', ca: srv.ca });
  try {
    let data = Buffer.alloc(0);
    socket.on('data', (d) => { data = Buffer.concat([data, d]); });
    socket.on('error', () => {});
    socket.write(bin(REQUEST_76));
    const want = RESPONSE_76.replace('ws://example.com/demo', 'wss://example.com/demo');
    await waitUntil(() => data.length >= want.length, 3000, 'the 101');
    assert.equal(data.toString('latin1'), want);
    socket.write(text('secure'));
    await waitUntil(() => data.length >= want.length + 8, 3000, 'the echo');
    assert.deepEqual(data.subarray(want.length), text('secure'));
  } finally {
    socket.destroy();
    await srv.close();
  }
});

test("through a Node http.Server's upgrade event (the server option) as well", async () => {
  const http = require('http');
  const { Server } = require('../lib');
  const httpServer = http.createServer();
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const server = new Server({ server: httpServer, legacyDrafts: true, modules, log: false });
  let c;
  try {
    c = await handshake(httpServer.address().port, REQUEST_76, RESPONSE_76);
    c.socket.write(text('via http'));
    assert.deepEqual(await c.waitFor(text('via http'), 'the echo'), text('via http'));
  } finally {
    if (c) c.socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    await new Promise((resolve) => httpServer.close(resolve));
  }
});

test('a 1 MiB text message spanning many reads is echoed whole', async () => {
  const srv = await startServer({ legacyDrafts: true, modules });
  let c;
  try {
    c = await handshake(srv.port, REQUEST_76, RESPONSE_76);
    const big = 'é'.repeat(512 * 1024) + '✓';
    c.socket.write(text(big));
    const want = text(big);
    const got = await c.waitFor(want, 'the echo');
    assert.equal(got.length, want.length);
    assert.ok(got.equals(want));
  } finally {
    if (c) c.socket.destroy();
    await srv.close();
  }
});
