'use strict';

// Subscriptions and multicast, against real sockets: delivery exactly once
// to 1,000 subscribers with exclusions, unsubscribe and close, per-URL
// isolation of applications, the backpressure policies with a reader that
// never reads, memory during a long multicast to it; and the single-frame
// helpers buildMessage / decodeMessage.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const net = require('net');
const { buildMessage, decodeMessage } = require('../lib');
const { startServer, wsClient, waitUntil, withTimeout, frame: rawFrame, delay } = require('./helpers');

/** Opens n ws clients to url + '?n=<i>' in parallel batches; resolves them in order. */
async function openMany(url, n, batch = 100) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    const group = [];
    for (let j = i; j < Math.min(n, i + batch); j++) group.push(wsClient(`${url}?n=${j}`));
    out.push(...(await Promise.all(group)));
  }
  return out;
}

/** Server-side connections by the ?n= they were opened with. */
function trackConnections(server) {
  const byN = new Map();
  server.on('connection', (c) => { if (c.query.n !== undefined) byN.set(Number(c.query.n), c); });
  return byN;
}

/**
 * A client that completes the opening handshake and then never reads: the
 * server's writes fill the kernel buffers and then its own queue.
 */
function stalledReader(port, path = '/echo') {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let head = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.removeListener('data', onData);
      if (!/^HTTP\/1\.1 101 /.test(head.toString('latin1'))) {
        reject(new Error(`no upgrade: ${head.toString('latin1').split('\r\n')[0]}`));
        return;
      }
      socket.pause(); // from here on nothing is read
      socket.on('error', () => {}); // the server may reset it
      resolve(socket);
    };
    socket.on('data', onData);
  }), 5000, 'the stalled reader to connect');
}

const textOf = (m) => m.data.toString();

describe('multicast', () => {
  test('reaches each of 1,000 subscribers exactly once, in order, never the excluded ones', { timeout: 120000 }, async () => {
    const s = await startServer();
    const conns = trackConnections(s.server);
    const clients = await openMany(`${s.url}/echo`, 1000);
    try {
      await waitUntil(() => conns.size === 1000, 5000, '1,000 server-side connections');
      for (const c of conns.values()) assert.equal(c.subscribe('news'), true);
      assert.equal(conns.get(0).subscribe('news'), false, 'subscribing twice is a no-op');
      assert.equal(s.server.subscribers('news'), 1000);
      assert.deepEqual(conns.get(5).subscriptions, ['news']);

      // 10 messages to everyone, one excluding a connection, one excluding a list of ten.
      const queued = [];
      for (let i = 0; i < 10; i++) queued.push(s.server.multicast('news', `m${i}`));
      queued.push(s.server.multicast('news', 'not for 0', { exclude: conns.get(0) }));
      const ten = Array.from({ length: 10 }, (_, i) => conns.get(100 + i));
      queued.push(s.server.multicast('news', 'not for 100-109', { exclude: ten }));
      assert.deepEqual(queued, [...Array(10).fill(1000), 999, 990]);

      const expected = (i) => 12 - (i === 0 ? 1 : 0) - (i >= 100 && i < 110 ? 1 : 0);
      await waitUntil(() => clients.every((c, i) => c.received.length >= expected(i)), 30000, 'every message to arrive');
      await delay(200); // a duplicate would arrive within this
      clients.forEach((c, i) => {
        const got = c.received.map(textOf);
        const want = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9'];
        if (i !== 0) want.push('not for 0');
        if (!(i >= 100 && i < 110)) want.push('not for 100-109');
        assert.deepEqual(got, want, `client ${i}`);
        assert.ok(c.received.every((m) => m.isBinary === false), 'strings go as text');
      });

      // Unsubscribe 100, close 100: neither gets anything more.
      for (let i = 200; i < 300; i++) assert.equal(conns.get(i).unsubscribe('news'), true);
      assert.equal(conns.get(200).unsubscribe('news'), false);
      assert.deepEqual(conns.get(200).subscriptions, []);
      assert.equal(s.server.subscribers('news'), 900);
      await Promise.all(clients.slice(300, 400).map((c) => { c.close(); return c.closed; }));
      await waitUntil(() => s.server.subscribers('news') === 800, 5000, 'closed connections to be unsubscribed');
      for (const c of clients) c.received.length = 0;
      assert.equal(s.server.multicast('news', Buffer.from('last')), 800);
      await waitUntil(() => clients.every((c, i) => (i >= 200 && i < 400) || c.received.length === 1), 20000, 'the last message');
      await delay(200);
      clients.forEach((c, i) => {
        if (i >= 200 && i < 400) assert.equal(c.received.length, 0, `client ${i} left and got nothing`);
        else assert.equal(c.received[0].isBinary, true, 'a Buffer goes as binary');
      });
      const stats = s.server.stats('news');
      assert.equal(stats.subscribers, 800);
      assert.equal(stats.dropped, 0);
      assert.equal(stats.policy, 'drop');
      assert.equal(s.server.subscribers('nobody-here'), 0);
      assert.equal(s.server.multicast('nobody-here', 'x'), 0);
    } finally {
      for (const c of clients) c.terminate();
      await s.close();
    }
  });

  test('binary: true sends a string as binary; typed arrays go as binary', async () => {
    const s = await startServer();
    const conns = trackConnections(s.server);
    const [client] = await openMany(`${s.url}/echo`, 1);
    try {
      await waitUntil(() => conns.size === 1);
      conns.get(0).subscribe('b');
      s.server.multicast('b', 'as bytes', { binary: true });
      s.server.multicast('b', new Uint8Array([1, 2, 3]));
      await waitUntil(() => client.received.length === 2);
      assert.deepEqual(client.received.map((m) => [m.isBinary, [...m.data]]),
        [[true, [...Buffer.from('as bytes')]], [true, [1, 2, 3]]]);
    } finally {
      client.terminate();
      await s.close();
    }
  });

  test('names made through a context are private to it; server-wide ones are not seen by contexts', async () => {
    const s = await startServer({ apps: { chat: { urls: ['/r1'] } } });
    const conns = trackConnections(s.server);
    const [a, b] = await openMany(`${s.url}/r1`, 2);
    try {
      await waitUntil(() => conns.size === 2);
      const ctx = conns.get(0).context;
      assert.equal(ctx.subscribers('chat'), 2);
      assert.equal(s.server.subscribers('chat'), 0, 'the server-wide "chat" is another name');
      assert.deepEqual(conns.get(0).subscriptions, [], 'context names are not listed as server-wide ones');
      assert.equal(s.server.multicast('chat', 'server-wide'), 0);
      assert.equal(ctx.multicast('chat', 'in the room'), 2);
      await waitUntil(() => a.received.length === 1 && b.received.length === 1);
      assert.equal(textOf(a.received[0]), 'in the room');
    } finally {
      a.terminate();
      b.terminate();
      await s.close();
    }
  });
});

describe('applications at several URLs', () => {
  test('two URLs of one app are two rooms: a message never crosses', async () => {
    const s = await startServer({ apps: { chat: { urls: ['/websocket/chat', '/team/chat'] } } });
    const contexts = new Map();
    s.server.on('connection', (c) => contexts.set(c.path, c.context));
    const [a1, a2] = await openMany(`${s.url}/websocket/chat`, 2);
    const [b1, b2] = await openMany(`${s.url}/team/chat`, 2);
    try {
      a1.send('hello room a');
      b1.send('hello room b');
      await waitUntil(() => a2.received.length === 1 && b2.received.length === 1, 3000, 'both rooms');
      await delay(200);
      assert.deepEqual(a2.received.map(textOf), ['127.0.0.1: hello room a']);
      assert.deepEqual(b2.received.map(textOf), ['127.0.0.1: hello room b']);
      assert.equal(a1.received.length, 0, 'the sender does not get its own message');
      assert.equal(b1.received.length, 0);
      const ca = contexts.get('/websocket/chat');
      const cb = contexts.get('/team/chat');
      assert.notEqual(ca, cb);
      assert.equal(ca.name, 'chat');
      assert.equal(ca.url, '/websocket/chat');
      assert.equal(cb.url, '/team/chat');
      assert.equal(ca.subscribers('chat'), 2);
      assert.equal(cb.subscribers('chat'), 2);
      b2.close();
      await b2.closed;
      await waitUntil(() => cb.subscribers('chat') === 1, 3000, 'the closed member to leave its room');
      assert.equal(ca.subscribers('chat'), 2);
    } finally {
      for (const c of [a1, a2, b1, b2]) c.terminate();
      await s.close();
    }
  });
});

describe('backpressure', () => {
  const SIZE = 16 * 1024;
  const maxBackpressure = 256 * 1024;

  /**
   * Multicasts `total` messages of SIZE bytes in batches a reading client
   * can take (each under maxBackpressure), waiting for `reader` to get each
   * batch, so only a client that does not read falls behind.
   */
  async function paced(server, name, reader, total, { until, from = 0 } = {}) {
    const payload = Buffer.alloc(SIZE, 0x61);
    const perBatch = Math.floor(maxBackpressure / SIZE / 2);
    for (let sent = from; sent < total;) {
      for (let i = 0; i < perBatch && sent < total; i++, sent++) {
        payload.writeUInt32BE(sent, 0);
        server.multicast(name, payload);
      }
      await waitUntil(() => reader.received.length >= sent, 10000, `the reading client to get ${sent} messages`);
      if (until && until()) return sent;
    }
    return total;
  }

  test("'drop': a stalled reader loses messages (counted) and stays open; a reader gets every one", { timeout: 60000 }, async () => {
    const s = await startServer({ maxBackpressure });
    const conns = trackConnections(s.server);
    let stalledConn;
    s.server.on('connection', (c) => { if (c.query.n === undefined) stalledConn = c; });
    const [reader] = await openMany(`${s.url}/echo`, 1);
    const stalled = await stalledReader(s.port);
    try {
      await waitUntil(() => conns.size === 1 && stalledConn !== undefined);
      conns.get(0).subscribe('feed');
      stalledConn.subscribe('feed');
      // 32 MiB in all: more than the kernel buffers of loopback can hold.
      const total = 2048;
      await paced(s.server, 'feed', reader, total);
      assert.equal(reader.received.length, total);
      reader.received.forEach((m, i) => assert.equal(m.data.readUInt32BE(0), i, `message ${i} in order`));
      assert.ok(stalledConn.dropped > 0, `the stalled reader's dropped count grew (${stalledConn.dropped})`);
      assert.equal(conns.get(0).dropped, 0);
      const stats = s.server.stats('feed');
      assert.equal(stats.dropped, stalledConn.dropped, 'the subscription counts the same drops');
      assert.equal(stats.policy, 'drop');
      assert.equal(stalledConn.readyState, 1, 'still open under drop');
      assert.ok(stalledConn.bufferedAmount <= maxBackpressure + SIZE + 64,
        `its queue stays bounded (${stalledConn.bufferedAmount} bytes)`);
    } finally {
      stalled.destroy();
      reader.terminate();
      await s.close();
    }
  });

  for (const how of ['backpressurePolicy option', 'setPolicy()']) {
    test(`'close' (${how}): a stalled reader is closed with 1008; a reader gets every message`, { timeout: 60000 }, async () => {
      // The server waits closeTimeout for the close reply the stalled reader never sends.
      const options = { maxBackpressure, closeTimeout: 500 };
      const s = await startServer(how === 'setPolicy()' ? options : { ...options, backpressurePolicy: 'close' });
      const conns = trackConnections(s.server);
      let stalledConn;
      s.server.on('connection', (c) => { if (c.query.n === undefined) stalledConn = c; });
      const [reader] = await openMany(`${s.url}/echo`, 1);
      const stalled = await stalledReader(s.port);
      try {
        await waitUntil(() => conns.size === 1 && stalledConn !== undefined);
        conns.get(0).subscribe('feed');
        stalledConn.subscribe('feed');
        if (how === 'setPolicy()') s.server.setPolicy('feed', 'close');
        assert.equal(s.server.stats('feed').policy, 'close');
        const closed = new Promise((resolve) => stalledConn.once('close', (code, reason) => resolve({ code, reason })));
        let closedCode = null;
        closed.then((c) => { closedCode = c.code; });
        const sent = await paced(s.server, 'feed', reader, 4096, { until: () => closedCode !== null });
        const result = await withTimeout(closed, 10000, 'the stalled reader to be closed');
        assert.equal(result.code, 1008, `closed with 1008 (got ${result.code} ${result.reason})`);
        assert.equal(s.server.subscribers('feed'), 1, 'only the reader is left');
        // The reader carries on after the close.
        await paced(s.server, 'feed', reader, sent + 64, { from: sent });
        assert.equal(reader.received.length, sent + 64);
        reader.received.forEach((m, i) => assert.equal(m.data.readUInt32BE(0), i, `message ${i} in order`));
        assert.equal(conns.get(0).readyState, 1);
      } finally {
        stalled.destroy();
        reader.terminate();
        await s.close();
      }
    });
  }

  // AddressSanitizer keeps freed memory in quarantine, so rss grows there by design.
  const underAsan = /asan/.test(process.env.LD_PRELOAD || '') && 'AddressSanitizer quarantines freed memory';

  test('memory stays flat during a 10,000-message multicast to a stalled reader', { timeout: 60000, skip: underAsan }, async (t) => {
    const s = await startServer({ maxBackpressure });
    let stalledConn;
    s.server.on('connection', (c) => { stalledConn = c; });
    const stalled = await stalledReader(s.port);
    try {
      await waitUntil(() => stalledConn !== undefined);
      stalledConn.subscribe('flood');
      const payload = Buffer.alloc(SIZE, 0x62); // 10,000 x 16 KiB = 160 MiB if anything kept them
      global.gc?.();
      const before = process.memoryUsage();
      for (let i = 0; i < 10000; i++) {
        s.server.multicast('flood', payload);
        if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve)); // let writes and the loop run
      }
      await delay(100);
      global.gc?.();
      const after = process.memoryUsage();
      const bound = maxBackpressure + 32 * 1024 * 1024;
      const rss = after.rss - before.rss;
      const external = after.external - before.external;
      t.diagnostic(`rss +${(rss / 1048576).toFixed(1)} MiB, external +${(external / 1048576).toFixed(1)} MiB, ` +
        `dropped ${stalledConn.dropped}, queued ${stalledConn.bufferedAmount} bytes`);
      assert.ok(rss < bound, `rss grew by ${(rss / 1048576).toFixed(1)} MiB (bound ${(bound / 1048576).toFixed(1)} MiB)`);
      assert.ok(external < bound, `external grew by ${(external / 1048576).toFixed(1)} MiB`);
      assert.ok(stalledConn.dropped > 9000, `most were dropped (${stalledConn.dropped})`);
      assert.ok(stalledConn.bufferedAmount <= maxBackpressure + SIZE + 64, `queue bounded (${stalledConn.bufferedAmount})`);
    } finally {
      stalled.destroy();
      await s.close();
    }
  });
});

describe('buildMessage and decodeMessage', () => {
  const LENGTHS = [0, 125, 126, 65535, 65536, 70000];
  const HEADER = (n) => (n < 126 ? 2 : n < 65536 ? 4 : 10);
  const payloadOf = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));

  const cases = [];
  for (const n of LENGTHS) {
    cases.push({ name: 'binary', opcode: 2, fin: true, n });
    cases.push({ name: 'continuation, fin false', opcode: 0, fin: false, n });
    cases.push({ name: 'continuation, fin true', opcode: 0, fin: true, n });
    cases.push({ name: 'text', opcode: 1, fin: true, n, text: true });
    cases.push({ name: 'text, fin false', opcode: 1, fin: false, n, text: true });
  }
  // Control frames carry at most 125 bytes (RFC 6455 5.5).
  for (const n of [0, 1, 125]) {
    cases.push({ name: 'ping', opcode: 9, fin: true, n });
    cases.push({ name: 'pong', opcode: 10, fin: true, n });
    cases.push({ name: 'close', opcode: 8, fin: true, n: Math.max(n, 2) });
  }

  test('round-trip every length class and opcode, masked and unmasked', () => {
    // Every case runs; the failures are listed together.
    const problems = [];
    const check = (ok, what) => { if (!ok) problems.push(what); };
    for (const c of cases) {
      for (const mask of [false, true]) {
        const label = `${c.name}, ${c.n} bytes, ${mask ? 'masked' : 'unmasked'}`;
        const bytes = payloadOf(c.n);
        const input = c.text ? 'é'.repeat(Math.floor(c.n / 2)) + 'x'.repeat(c.n % 2) : bytes;
        const want = c.text ? Buffer.from(input, 'utf8') : bytes;
        let built;
        try {
          built = buildMessage(input, { opcode: c.opcode, fin: c.fin, mask });
        } catch (err) {
          problems.push(`${label}: buildMessage threw ${err.code}: ${err.message}`);
          continue;
        }
        check(Buffer.isBuffer(built), `${label}: a Buffer`);
        check(built.length === HEADER(c.n) + (mask ? 4 : 0) + c.n, `${label}: frame length ${built.length}`);
        check(built[0] === ((c.fin ? 0x80 : 0) | c.opcode), `${label}: first byte ${built[0]}`);
        check((built[1] & 0x80) === (mask ? 0x80 : 0), `${label}: mask bit`);
        if (!mask) {
          // An independent encoder (the raw test client) writes the same bytes.
          check(built.equals(rawFrame(c.opcode, want, { fin: c.fin, masked: false })), `${label}: bytes differ from the raw client's`);
        } else if (c.n > 8) {
          check(!built.subarray(built.length - c.n).equals(want), `${label}: the payload is not masked on the wire`);
        }
        const decoded = decodeMessage(built);
        if (decoded === null) { problems.push(`${label}: decoded as null`); continue; }
        check(decoded.fin === c.fin, `${label}: fin ${decoded.fin}`);
        check(decoded.opcode === c.opcode, `${label}: opcode ${decoded.opcode}`);
        check(decoded.bytesUsed === built.length, `${label}: bytesUsed ${decoded.bytesUsed}`);
        check(Buffer.isBuffer(decoded.payload) && decoded.payload.equals(want), `${label}: payload differs`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('default opcodes: text for strings, binary for bytes; fin true, no mask', () => {
    assert.deepEqual([...buildMessage('hi')], [0x81, 2, 0x68, 0x69]);
    assert.deepEqual([...buildMessage(Buffer.from('hi'))], [0x82, 2, 0x68, 0x69]);
    assert.deepEqual([...buildMessage(new Uint8Array([1, 2]))], [0x82, 2, 1, 2]);
  });

  test('every strict prefix of a frame is incomplete: null', () => {
    for (const n of LENGTHS) {
      for (const mask of [false, true]) {
        // (A string: the empty Buffer case belongs to the round-trip test.)
        const built = buildMessage(payloadOf(n).toString('latin1'), { mask, opcode: 2 });
        for (let k = 0; k < built.length; k++) {
          // Long payloads: every header prefix, then a stride through the payload.
          if (k > 16 && k < built.length - 16 && k % 997 !== 0) continue;
          assert.equal(decodeMessage(built.subarray(0, k)), null, `${n} bytes, ${mask ? 'masked' : 'unmasked'}, prefix ${k}`);
        }
      }
    }
    assert.equal(decodeMessage(Buffer.alloc(0)), null);
  });

  test('decodes the first of several frames and says how many bytes it used', () => {
    const a = buildMessage('first', { mask: true });
    const b = buildMessage(Buffer.from([9, 8, 7]), { opcode: 2 });
    const both = Buffer.concat([a, b]);
    const first = decodeMessage(both);
    assert.equal(first.payload.toString(), 'first');
    assert.equal(first.bytesUsed, a.length);
    const second = decodeMessage(both.subarray(first.bytesUsed));
    assert.deepEqual([...second.payload], [9, 8, 7]);
    assert.equal(second.opcode, 2);
  });

  test('decodes a masked client frame from an independent encoder, and leaves the input as it was', () => {
    const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
    const wire = rawFrame(1, 'masked hello', { masked: true, maskKey: key });
    const copy = Buffer.from(wire);
    const decoded = decodeMessage(wire);
    assert.equal(decoded.payload.toString(), 'masked hello');
    assert.ok(wire.equals(copy), 'decoding does not unmask the input in place');
  });

  test('a malformed header throws WS_ERR_INVALID_FRAME', () => {
    // A 64-bit length with the most significant bit set.
    const bad = Buffer.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1]);
    assert.throws(() => decodeMessage(bad), (err) => err.code === 'WS_ERR_INVALID_FRAME');
  });
});
