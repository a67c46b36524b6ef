'use strict';
// permessage-deflate (RFC 7692) against the echo resource "/": negotiation
// with the npm `ws` client in every parameter combination on either side,
// messages of 0 B to 16 MiB, RSV1 as a raw client sees it (threshold,
// compressed echoes, RSV1 without the extension), inflate bombs, malformed
// offers, Autobahn section 12 and 13 style runs, and multicast to
// subscribers with different parameters.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const WebSocket = require('ws');
const {
  startServer, RawClient, rawExchange, buildUpgradeRequest, frame, OP, deflateMessage, parseExtensions,
  withTimeout, waitUntil, delay,
} = require('./helpers');

const KIB = 1024;
const MIB = 1024 * 1024;

// ---- payloads -----------------------------------------------------------

/** Deterministic bytes: compressible (word-like) or not (random). */
function payload(n, kind, seed = 1) {
  if (kind === 'random') {
    const b = Buffer.allocUnsafe(n);
    let x = seed * 2654435761 >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      b[i] = x & 0xff;
    }
    return b;
  }
  // Text that compresses like real text: words from a small vocabulary in a
  // pseudo-random order, with some multi-byte characters, cut to n bytes on
  // an ASCII boundary. Large sizes are made of 1 MiB blocks of other seeds.
  if (n > MIB) {
    const blocks = [];
    for (let k = 0; k * MIB < n; k++) blocks.push(payload(Math.min(MIB, n - k * MIB), 'text', seed * 31 + k));
    return Buffer.concat(blocks);
  }
  const words = ['the', 'socket', 'frame', 'κόσμε', 'deflate', 'window', 'message', 'server', '€', 'client', 'context', '𝄞', 'json', '{"a":1}', 'lorem', 'ipsum'];
  const parts = [];
  let len = 0;
  let x = seed * 40503 + 7;
  while (len < n + 16) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[(x >>> 16) % words.length];
    parts.push(w, ' ');
    len += Buffer.byteLength(w) + 1;
  }
  const b = Buffer.from(parts.join(''), 'utf8');
  const out = Buffer.alloc(n, 0x20);
  b.copy(out, 0, 0, n);
  // Never end inside a multi-byte character: pad the tail with spaces.
  let end = n;
  while (end > 0 && (out[end - 1] & 0x80)) end--;
  out.fill(0x20, end);
  return out;
}

const text = (n, seed) => payload(n, 'text', seed).toString('utf8');

// ---- the ws client ------------------------------------------------------

/**
 * Opens a ws client offering permessage-deflate with `pmd` (ws's client
 * options) and resolves { ws, header, params, conn }: the
 * Sec-WebSocket-Extensions header of the 101, the agreed parameters, and
 * the server's Connection.
 */
async function openWs(srv, pmd, path = '/') {
  const tag = crypto.randomBytes(6).toString('hex');
  const connP = new Promise((resolve) => {
    const on = (conn) => {
      if (conn.query && conn.query.tag === tag) {
        srv.server.removeListener('connection', on);
        resolve(conn);
      }
    };
    srv.server.on('connection', on);
  });
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}${path}?tag=${tag}`, { perMessageDeflate: pmd, handshakeTimeout: 3000, maxPayload: 0 });
  ws.binaryType = 'nodebuffer';
  let header;
  ws.once('upgrade', (res) => { header = res.headers['sec-websocket-extensions']; });
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  }), 4000, 'the ws client to open');
  ws.on('error', () => {});
  const conn = await withTimeout(connP, 2000, 'the server\'s connection event');
  const offers = header === undefined ? [] : parseExtensions(header);
  return { ws, header, params: offers.length ? offers[0].params : null, conn };
}

/** Sends every message, then collects as many echoes; checks each, in order. */
async function echoAll(ws, messages, ms = 20000) {
  const got = [];
  const done = new Promise((resolve, reject) => {
    const onMessage = (data, isBinary) => {
      got.push({ data, isBinary });
      if (got.length === messages.length) { ws.off('message', onMessage); resolve(); }
    };
    ws.on('message', onMessage);
    ws.once('close', (code) => reject(new Error(`closed with ${code} after ${got.length} of ${messages.length} echoes`)));
  });
  for (const m of messages) ws.send(m, { binary: Buffer.isBuffer(m) });
  await withTimeout(done, ms, `${messages.length} echoes (${got.length} came)`);
  messages.forEach((m, i) => {
    const { data, isBinary } = got[i];
    const what = `echo #${i + 1} (${Buffer.isBuffer(m) ? 'binary' : 'text'} of ${Buffer.byteLength(m)} bytes)`;
    assert.equal(isBinary, Buffer.isBuffer(m), `${what}: wrong type`);
    const expected = Buffer.isBuffer(m) ? m : Buffer.from(m, 'utf8');
    if (!data.equals(expected)) {
      let at = 0;
      while (at < Math.min(data.length, expected.length) && data[at] === expected[at]) at++;
      assert.fail(`${what}: ${data.length} bytes came back, first difference at byte ${at}`);
    }
  });
}

async function closeWs(ws) {
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  const r = await withTimeout(ws.closed, 4000, 'the ws client to close');
  return r;
}

// ---- what the answer must say ----------------------------------------------

/**
 * Checks an agreed permessage-deflate answer against the server's settings
 * (normalized perMessageDeflate) and the client's offer (ws client options),
 * per RFC 7692 section 7.1.
 */
function checkAnswer(params, server, offer, where) {
  assert.ok(params, `${where}: permessage-deflate was not agreed`);
  const keys = Object.keys(params);
  for (const k of keys) {
    assert.ok(['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'].includes(k),
      `${where}: unknown parameter ${k} in the answer`);
  }
  // server_no_context_takeover: when the server is configured so, or the client asked.
  assert.equal(params.server_no_context_takeover === true, server.serverNoContextTakeover || offer.serverNoContextTakeover === true,
    `${where}: server_no_context_takeover ${params.server_no_context_takeover ? 'present' : 'absent'}`);
  if (params.server_no_context_takeover !== undefined) assert.equal(params.server_no_context_takeover, true, `${where}: server_no_context_takeover takes no value`);
  // client_no_context_takeover: present whenever the server is configured so.
  if (server.clientNoContextTakeover) assert.equal(params.client_no_context_takeover, true, `${where}: client_no_context_takeover missing`);
  if (params.client_no_context_takeover !== undefined) assert.equal(params.client_no_context_takeover, true, `${where}: client_no_context_takeover takes no value`);
  // server_max_window_bits: never above what the client offered or the server allows;
  // present when the client offered it or the server's is below 15.
  const smwbLimit = Math.min(server.serverMaxWindowBits, typeof offer.serverMaxWindowBits === 'number' ? offer.serverMaxWindowBits : 15);
  if (typeof offer.serverMaxWindowBits === 'number' || server.serverMaxWindowBits < 15) {
    assert.ok(params.server_max_window_bits !== undefined, `${where}: server_max_window_bits missing (expected ${smwbLimit})`);
  }
  if (params.server_max_window_bits !== undefined) {
    assert.match(String(params.server_max_window_bits), /^(8|9|1[0-5])$/, `${where}: server_max_window_bits=${params.server_max_window_bits}`);
    assert.ok(Number(params.server_max_window_bits) <= smwbLimit, `${where}: server_max_window_bits=${params.server_max_window_bits} above ${smwbLimit}`);
  }
  // client_max_window_bits: only when offered; never above the offer or the server's setting.
  const offered = offer.clientMaxWindowBits !== false;
  if (!offered) {
    assert.equal(params.client_max_window_bits, undefined, `${where}: client_max_window_bits answered without an offer`);
  } else {
    const limit = Math.min(server.clientMaxWindowBits, typeof offer.clientMaxWindowBits === 'number' ? offer.clientMaxWindowBits : 15);
    if (server.clientMaxWindowBits < (typeof offer.clientMaxWindowBits === 'number' ? offer.clientMaxWindowBits : 15)) {
      assert.ok(params.client_max_window_bits !== undefined, `${where}: client_max_window_bits missing (expected ${limit})`);
    }
    if (params.client_max_window_bits !== undefined) {
      assert.match(String(params.client_max_window_bits), /^(8|9|1[0-5])$/, `${where}: client_max_window_bits=${params.client_max_window_bits}`);
      assert.ok(Number(params.client_max_window_bits) <= limit, `${where}: client_max_window_bits=${params.client_max_window_bits} above ${limit}`);
    }
  }
}

const FULL = (o) => ({
  threshold: 1024, serverNoContextTakeover: false, clientNoContextTakeover: false,
  serverMaxWindowBits: 15, clientMaxWindowBits: 15, memLevel: 8, level: 6, ...o,
});

// Server configurations and client offers (ws's client options).
const SERVER_CONFIGS = [
  { name: 'defaults', pmd: {} },
  { name: 'no context takeover either way', pmd: { serverNoContextTakeover: true, clientNoContextTakeover: true } },
  { name: 'windows of 10 bits', pmd: { serverMaxWindowBits: 10, clientMaxWindowBits: 10 } },
  { name: 'threshold 0, server window 9, client window 12, level 1, memLevel 1', pmd: { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 12, level: 1, memLevel: 1, serverNoContextTakeover: true } },
];
const CLIENT_OFFERS = [
  { name: 'a bare offer', pmd: {} },
  { name: 'server_no_context_takeover', pmd: { serverNoContextTakeover: true } },
  { name: 'client_no_context_takeover', pmd: { clientNoContextTakeover: true } },
  { name: 'server_max_window_bits=11', pmd: { serverMaxWindowBits: 11 } },
  { name: 'server_max_window_bits=9', pmd: { serverMaxWindowBits: 9 } },
  { name: 'client_max_window_bits=9', pmd: { clientMaxWindowBits: 9 } },
  { name: 'client_max_window_bits=15', pmd: { clientMaxWindowBits: 15 } },
  { name: 'no client_max_window_bits', pmd: { clientMaxWindowBits: false } },
  { name: 'every parameter', pmd: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 } },
];

// A mix that exercises context takeover: similar messages one after another.
function mixedMessages(seed) {
  return [
    '', 'a', text(1023, seed), text(1024, seed), text(1024, seed), text(4 * KIB, seed + 1),
    Buffer.alloc(0), Buffer.from([7]), payload(1023, 'random', seed), payload(1024, 'text', seed), payload(1024, 'text', seed),
    text(64 * KIB, seed + 2), payload(64 * KIB, 'random', seed + 3), text(64 * KIB, seed + 2),
  ];
}

describe('negotiation with the ws client, every parameter combination', () => {
  for (const sc of SERVER_CONFIGS) {
    describe(`server: ${sc.name}`, () => {
      let srv;
      before(async () => { srv = await startServer({ perMessageDeflate: sc.pmd }); });
      after(() => srv && srv.close());
      for (const co of CLIENT_OFFERS) {
        test(`client offers ${co.name}: the answer is right and messages of 0 B to 64 KiB echo exactly`, { timeout: 30000 }, async () => {
          const offer = { threshold: 0, ...co.pmd }; // the client compresses everything it may
          const { ws, header, params, conn } = await openWs(srv, offer);
          try {
            checkAnswer(params, FULL(sc.pmd), co.pmd, `server ${sc.name}, offer ${co.name}: "${header}"`);
            assert.equal(conn.extensions, header, 'connection.extensions is the answer as sent');
            await echoAll(ws, mixedMessages(3));
            await echoAll(ws, mixedMessages(4)); // again, with whatever context both sides kept
          } finally {
            const closed = await closeWs(ws);
            assert.equal(closed.code, 1000);
          }
        });
      }
    });
  }

  test('a server window of 8 bits is agreed as 8 (or the offer declined), and messages still echo', { timeout: 20000 }, async () => {
    const srv = await startServer({ perMessageDeflate: true });
    try {
      const { ws, params } = await openWs(srv, { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 8 });
      try {
        if (params !== null) {
          assert.equal(String(params.server_max_window_bits), '8');
          assert.ok(params.client_max_window_bits === undefined || String(params.client_max_window_bits) === '8');
        }
        // Repeats 300 bytes apart: back references beyond a 256-byte window would break a real 8-bit inflater.
        const block = payload(300, 'random', 9);
        await echoAll(ws, [Buffer.concat([block, block, block, block]), text(5000, 2), text(5000, 2)]);
      } finally {
        await closeWs(ws);
      }
    } finally {
      await srv.close();
    }
  });

  test('with deflate off, an offer is ignored: no Sec-WebSocket-Extensions, no compression', async () => {
    const srv = await startServer();
    try {
      const { ws, header, conn } = await openWs(srv, { threshold: 0 });
      try {
        assert.equal(header, undefined);
        assert.equal(conn.extensions, '');
        await echoAll(ws, [text(4096, 1), payload(4096, 'text', 2)]);
      } finally {
        await closeWs(ws);
      }
    } finally {
      await srv.close();
    }
  });

  test('a client that offers nothing gets no extension and plain frames', async () => {
    const srv = await startServer({ perMessageDeflate: true });
    try {
      const { ws, header, conn } = await openWs(srv, false);
      try {
        assert.equal(header, undefined);
        assert.equal(conn.extensions, '');
        await echoAll(ws, [text(4096, 1)]);
      } finally {
        await closeWs(ws);
      }
    } finally {
      await srv.close();
    }
  });
});

describe('message sizes from 0 B to 16 MiB, text and binary', () => {
  const SIZES = [0, 1, KIB - 1, KIB, 64 * KIB, MIB, 16 * MIB];
  const CONFIGS = [
    { name: 'defaults, context takeover', server: {}, client: {} },
    { name: 'no context takeover, small windows', server: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9 },
      client: { clientMaxWindowBits: 10 } },
  ];
  for (const cfg of CONFIGS) {
    describe(cfg.name, () => {
      let srv;
      let client;
      before(async () => {
        // A 16 MiB random message does not shrink: its echo needs room past the default 16 MiB maxBufferedAmount.
        srv = await startServer({ perMessageDeflate: cfg.server, maxPayload: 64 * MIB, maxBufferedAmount: 64 * MIB });
        client = await openWs(srv, { threshold: 0, ...cfg.client });
        assert.ok(client.params, 'permessage-deflate agreed');
      });
      after(async () => {
        if (client) await closeWs(client.ws);
        if (srv) await srv.close();
      });
      for (const size of SIZES) {
        test(`${size} bytes of text and of binary (compressible and random) echo exactly`, { timeout: 60000 }, async () => {
          await echoAll(client.ws, [text(size, size + 1)], 30000);
          await echoAll(client.ws, [payload(size, 'text', size + 2)], 30000);
          await echoAll(client.ws, [payload(size, 'random', size + 3)], 30000);
        });
      }
    });
  }
});

describe('RSV1 on the wire (a raw client)', () => {
  let srv;
  before(async () => { srv = await startServer({ perMessageDeflate: true }); });
  after(() => srv && srv.close());

  async function rawDeflate(offer = true, server = srv) {
    const c = await RawClient.connect(`ws://127.0.0.1:${server.port}/`, { deflate: offer });
    assert.ok(c.deflate, `permessage-deflate agreed (answer: ${c.response.headers['sec-websocket-extensions']})`);
    return c;
  }

  async function finish(c) {
    await c.close(1000);
    await c.waitCloseFrame(3000);
    assert.equal(c.closeFrame.code, 1000);
    await c.waitTcpClose(3000);
    assert.deepEqual(c.violations, []);
  }

  test('echoes below the threshold (1 KiB by default) come back uncompressed, from it on compressed', async () => {
    const c = await rawDeflate();
    try {
      const small = text(KIB - 1, 5);
      const big = text(KIB, 5);
      await c.sendCompressed(OP.TEXT, small);
      await c.sendCompressed(OP.TEXT, big);
      await c.text(small); // uncompressed from the client is fine too
      await c.binary(payload(4 * KIB, 'text', 1));
      await c.waitEvents(4, 3000);
      const [a, b, d, e] = c.messages;
      assert.equal(a.compressed, false, 'a 1023-byte echo must not carry RSV1');
      assert.equal(a.data.toString(), small);
      assert.equal(b.compressed, true, 'a 1024-byte echo must be compressed');
      assert.equal(b.data.toString(), big);
      assert.ok(b.wireLength < big.length, `compressed size ${b.wireLength} of ${big.length}`);
      assert.equal(d.compressed, false);
      assert.equal(e.compressed, true);
      assert.deepEqual(e.data, payload(4 * KIB, 'text', 1));
      await finish(c);
    } finally {
      c.destroy();
    }
  });

  test('with threshold 0 even a 1-byte message is compressed; with a high threshold nothing is', async () => {
    const low = await startServer({ perMessageDeflate: { threshold: 0 } });
    const high = await startServer({ perMessageDeflate: { threshold: 1 << 20 } });
    try {
      const c = await rawDeflate(true, low);
      await c.text('x');
      await c.waitEvents(1, 3000);
      assert.equal(c.messages[0].compressed, true);
      assert.equal(c.messages[0].data.toString(), 'x');
      await finish(c);
      const d = await rawDeflate(true, high);
      await d.text(text(64 * KIB, 1));
      await d.waitEvents(1, 3000);
      assert.equal(d.messages[0].compressed, false);
      await finish(d);
    } finally {
      await low.close();
      await high.close();
    }
  });

  test('RSV1 only on the first frame: a compressed message sent in fragments is inflated whole and echoed', async () => {
    const c = await rawDeflate();
    try {
      const m = text(20 * KIB, 8);
      await c.sendCompressed(OP.TEXT, m, { fragments: 4 });
      await c.sendCompressed(OP.BINARY, payload(20 * KIB, 'text', 8), { fragments: 3 });
      await c.waitEvents(2, 3000);
      assert.equal(c.messages[0].data.toString(), m);
      assert.deepEqual(c.messages[1].data, payload(20 * KIB, 'text', 8));
      await finish(c);
    } finally {
      c.destroy();
    }
  });

  test('context takeover on both sides over many messages (the raw client keeps its own window)', async () => {
    const c = await rawDeflate('permessage-deflate; client_max_window_bits');
    try {
      assert.equal(c.deflate.serverNoContextTakeover, false);
      const sent = [];
      for (let i = 0; i < 30; i++) {
        const m = text(2 * KIB + i, 11 + (i % 3));
        sent.push(m);
        await c.sendCompressed(OP.TEXT, m);
      }
      await c.waitEvents(30, 5000);
      c.messages.forEach((m, i) => assert.equal(m.data.toString(), sent[i], `message ${i + 1}`));
      // With context kept, repeats compress to almost nothing on the way back.
      assert.ok(c.messages[29].wireLength < sent[29].length / 4, `the 30th echo took ${c.messages[29].wireLength} bytes`);
      await finish(c);
    } finally {
      c.destroy();
    }
  });

  async function expectFailure(c, code, what) {
    await c.waitCloseFrame(3000);
    assert.equal(c.closeFrame.code, code, `${what}: expected ${code}, got ${c.closeFrame.code} "${c.closeFrame.reason}"`);
    await c.waitTcpClose(3000);
  }

  test('RSV1 when deflate was not agreed is a protocol error (1002), whether or not the server has it on', async () => {
    const off = await startServer();
    try {
      for (const [server, offer] of [[off, undefined], [srv, undefined], [off, true]]) {
        const c = await RawClient.connect(`ws://127.0.0.1:${server.port}/`, { deflate: offer });
        try {
          assert.equal(c.deflate, null);
          await c.send(OP.TEXT, deflateMessage('hello'), { rsv: 4 });
          await expectFailure(c, 1002, 'RSV1 without permessage-deflate');
        } finally {
          c.destroy();
        }
      }
    } finally {
      await off.close();
    }
  });

  test('RSV1 on a continuation or a control frame, and RSV2/RSV3, are protocol errors (1002) even with deflate agreed', async () => {
    const cases = [
      ['RSV1 on a continuation', [frame(OP.TEXT, 'ab', { fin: false }), frame(OP.CONTINUATION, 'cd', { rsv: 4 })]],
      ['RSV1 on a ping', [frame(OP.PING, 'x', { rsv: 4 })]],
      ['RSV1 on a close', [frame(OP.CLOSE, Buffer.from([3, 232]), { rsv: 4 })]],
      ['RSV2 on a text frame', [frame(OP.TEXT, 'x', { rsv: 2 })]],
      ['RSV3 on a binary frame', [frame(OP.BINARY, 'x', { rsv: 1 })]],
      ['RSV1 and RSV2', [frame(OP.TEXT, deflateMessage('x'), { rsv: 6 })]],
    ];
    for (const [what, frames] of cases) {
      const c = await rawDeflate();
      try {
        await c.write(Buffer.concat(frames));
        await expectFailure(c, 1002, what);
      } finally {
        c.destroy();
      }
    }
  });

  test('compressed data that does not inflate closes the connection (1002 or 1007), and the server carries on', async () => {
    const c = await rawDeflate();
    try {
      await c.send(OP.BINARY, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12]), { rsv: 4 });
      await c.waitCloseFrame(3000);
      assert.ok([1002, 1007].includes(c.closeFrame.code), `got ${c.closeFrame.code}`);
      await c.waitTcpClose(3000);
    } finally {
      c.destroy();
    }
    const d = await rawDeflate();
    try {
      await d.sendCompressed(OP.TEXT, 'still here');
      await d.waitEvents(1, 3000);
      assert.equal(d.messages[0].data.toString(), 'still here');
      await finish(d);
    } finally {
      d.destroy();
    }
  });

  test('compressed text that inflates to invalid UTF-8 is closed with 1007', async () => {
    const c = await rawDeflate();
    try {
      await c.sendCompressed(OP.TEXT, Buffer.from([0x61, 0xc3, 0x28, 0x62]));
      await expectFailure(c, 1007, 'invalid UTF-8 inside a compressed text message');
    } finally {
      c.destroy();
    }
  });
});

describe('inflate bombs: maxPayload applies to the inflated size', () => {
  let srv;
  before(async () => { srv = await startServer({ perMessageDeflate: true, maxPayload: 64 * KIB }); });
  after(() => srv && srv.close());

  // About 1 KiB of deflate that inflates to 1 MiB of zeros.
  const bomb = deflateMessage(Buffer.alloc(MIB), { level: 9 });

  test('the bomb is small: about 1 KiB on the wire', () => {
    assert.ok(bomb.length <= 1100, `${bomb.length} bytes`);
  });

  for (const [opcode, name] of [[OP.BINARY, 'binary'], [OP.TEXT, 'text']]) {
    test(`a 1 KiB compressed ${name} message that inflates past maxPayload is refused with 1009`, { timeout: 10000 }, async () => {
      const c = await RawClient.connect(`ws://127.0.0.1:${srv.port}/`, { deflate: true });
      try {
        assert.ok(c.deflate, 'deflate agreed');
        await c.write(frame(opcode, bomb, { rsv: 4 }));
        await c.waitCloseFrame(3000);
        assert.equal(c.closeFrame.code, 1009, `got ${c.closeFrame.code} "${c.closeFrame.reason}"`);
        assert.equal(c.messages.length, 0, 'nothing was echoed');
        await c.waitTcpClose(3000);
      } finally {
        c.destroy();
      }
    });
  }

  test('the bomb in fragments is refused with 1009 too; a message inflating to exactly maxPayload is echoed', { timeout: 10000 }, async () => {
    const c = await RawClient.connect(`ws://127.0.0.1:${srv.port}/`, { deflate: true });
    try {
      const third = Math.ceil(bomb.length / 3);
      await c.write(Buffer.concat([
        frame(OP.BINARY, bomb.subarray(0, third), { rsv: 4, fin: false }),
        frame(OP.CONTINUATION, bomb.subarray(third, 2 * third), { fin: false }),
        frame(OP.CONTINUATION, bomb.subarray(2 * third), { fin: true }),
      ]));
      await c.waitCloseFrame(3000);
      assert.equal(c.closeFrame.code, 1009);
    } finally {
      c.destroy();
    }
    const d = await RawClient.connect(`ws://127.0.0.1:${srv.port}/`, { deflate: 'permessage-deflate; server_no_context_takeover' });
    try {
      await d.sendCompressed(OP.BINARY, Buffer.alloc(64 * KIB, 1));
      await d.waitEvents(1, 3000);
      assert.deepEqual(d.messages[0].data, Buffer.alloc(64 * KIB, 1));
      await d.sendCompressed(OP.BINARY, Buffer.alloc(64 * KIB + 1, 1));
      await d.waitCloseFrame(3000);
      assert.equal(d.closeFrame.code, 1009);
    } finally {
      d.destroy();
    }
  });

  test('the ws client: a message over maxPayload (after inflating) closes with 1009; other clients carry on', { timeout: 10000 }, async () => {
    const other = await openWs(srv, { threshold: 0 });
    const { ws } = await openWs(srv, { threshold: 0 });
    ws.send(Buffer.alloc(MIB)); // compresses to about 1 KiB
    const closed = await withTimeout(ws.closed, 4000, 'the close');
    assert.equal(closed.code, 1009);
    await echoAll(other.ws, [text(8 * KIB, 1)]);
    await closeWs(other.ws);
  });
});

describe('malformed or unusual Sec-WebSocket-Extensions offers', () => {
  let srv;
  before(async () => { srv = await startServer({ perMessageDeflate: true }); });
  after(() => srv && srv.close());

  async function offer(value) {
    const headers = value === null ? {} : { 'Sec-WebSocket-Extensions': value };
    const req = buildUpgradeRequest({ host: '127.0.0.1', port: srv.port, path: '/', key: 'dGhlIHNhbXBsZSBub25jZQ==', headers });
    return rawExchange(srv.port, req, { timeout: 2000 });
  }

  // RFC 7692 section 5: an offer with an unknown parameter, an invalid value
  // or a parameter twice is declined; the handshake goes on without it.
  const DECLINED = [
    'permessage-deflate; foo=1',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; server_max_window_bits=010',
    'permessage-deflate; client_max_window_bits=16',
    'permessage-deflate; client_max_window_bits=abc',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
    'permessage-deflate; server_max_window_bits=10; server_max_window_bits=11',
    'x-webkit-deflate-frame',
    'permessage-foo',
  ];
  for (const value of DECLINED) {
    test(`declined: ${value}`, async () => {
      const res = await offer(value);
      assert.equal(res.status, 101, res.raw.toString('latin1'));
      const agreed = res.headers['sec-websocket-extensions'];
      assert.ok(agreed === undefined || !/permessage-deflate/.test(agreed), `agreed to ${agreed}`);
    });
  }

  const ACCEPTED = [
    ['permessage-deflate', {}],
    ['PERMESSAGE-DEFLATE', null], // extension names are tokens compared case-insensitively? accepted or declined, never an error
    ['permessage-deflate; server_max_window_bits="10"', { server_max_window_bits: '10' }],
    ['permessage-deflate ; client_max_window_bits ; server_no_context_takeover', { server_no_context_takeover: true }],
    ['permessage-deflate; foo, permessage-deflate; server_max_window_bits=12', { server_max_window_bits: '12' }],
    ['permessage-deflate; server_max_window_bits=7, permessage-deflate', {}],
    ['x-unknown; a=1, permessage-deflate; client_no_context_takeover', {}],
  ];
  for (const [value, expected] of ACCEPTED) {
    test(`the first acceptable offer is taken: ${value}`, async () => {
      const res = await offer(value);
      assert.equal(res.status, 101, res.raw.toString('latin1'));
      const agreed = res.headers['sec-websocket-extensions'];
      if (expected === null) return;
      assert.ok(agreed !== undefined, 'no Sec-WebSocket-Extensions in the 101');
      const list = parseExtensions(agreed);
      assert.equal(list.length, 1, agreed);
      assert.equal(list[0].name, 'permessage-deflate');
      for (const [k, v] of Object.entries(expected)) assert.equal(String(list[0].params[k]), String(v), `${k} in "${agreed}"`);
      if (!/server_max_window_bits/.test(value)) {
        assert.ok([undefined, '15'].includes(list[0].params.server_max_window_bits), `server_max_window_bits unasked for: ${agreed}`);
      }
    });
  }

  // Headers that break the grammar: declining the extension and failing the
  // handshake with 400 are both allowed; anything else is not.
  for (const value of ['permessage-deflate;;', ';', 'permessage-deflate; =10', 'permessage-deflate; server_max_window_bits="10', ',,,', 'permessage-deflate; server_max_window_bits=1 0']) {
    test(`malformed: ${JSON.stringify(value)} is declined or answered 400`, async () => {
      const res = await offer(value);
      assert.ok(res.status === 101 || res.status === 400, `status ${res.status}: ${res.raw.toString('latin1').slice(0, 200)}`);
      if (res.status === 101) {
        const agreed = res.headers['sec-websocket-extensions'];
        if (agreed !== undefined) {
          // Only a well-formed answer to an offer it could read.
          assert.doesNotThrow(() => parseExtensions(agreed), agreed);
        }
      } else {
        assert.ok(res.closed);
      }
    });
  }

  test('the server keeps serving after all of these', async () => {
    const { ws } = await openWs(srv, {});
    await echoAll(ws, [text(2048, 1)]);
    await closeWs(ws);
  });
});

describe('Autobahn section 12 and 13 style: many compressed messages, echoed exactly', () => {
  const SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536];
  const PER_SIZE = 12;
  const KINDS = [
    ['12.1', 'JSON-like text', (n, i) => JSON.stringify({ i, items: Array.from({ length: 8 }, (_, k) => ({ k, name: `item-${k}`, ok: k % 2 === 0 })) }).repeat(Math.ceil(n / 200) + 1).slice(0, n)],
    ['12.3', 'lorem-style text', (n, i) => text(n, i + 100)],
    ['12.4', 'compressible binary', (n, i) => payload(n, 'text', i + 200)],
    ['12.5', 'random binary', (n, i) => payload(n, 'random', i + 300)],
  ];
  const messagesOf = (make) => {
    const out = [];
    for (const size of SIZES) {
      for (let i = 0; i < PER_SIZE; i++) {
        const m = make(size, i);
        out.push(m);
      }
    }
    return out;
  };

  describe('section 12: the server with defaults and threshold 0', () => {
    let srv;
    before(async () => { srv = await startServer({ perMessageDeflate: { threshold: 0 } }); });
    after(() => srv && srv.close());
    for (const [id, name, make] of KINDS) {
      test(`${id} ${name}: ${SIZES.length} sizes from 16 B to 64 KiB, ${PER_SIZE} messages each`, { timeout: 20000 }, async () => {
        const { ws } = await openWs(srv, { threshold: 0 });
        try {
          await echoAll(ws, messagesOf(make));
        } finally {
          await closeWs(ws);
        }
      });
    }
  });

  // Section 13: the same traffic under each parameter combination.
  const COMBOS = [
    ['13.1', 'the client offers defaults', {}, {}],
    ['13.2', 'client_no_context_takeover', {}, { clientNoContextTakeover: true }],
    ['13.3', 'client_max_window_bits=9', {}, { clientMaxWindowBits: 9 }],
    ['13.4', 'client_max_window_bits=15', {}, { clientMaxWindowBits: 15 }],
    ['13.5', 'no context takeover either way, windows of 9', {}, { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 }],
    ['13.6', 'no context takeover either way, windows of 15', {}, { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
    ['13.7', 'the server asks for no context takeover and small windows', { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 10 }, {}],
    ['13.8', 'the server at level 9, memLevel 9; the client at window 10', { level: 9, memLevel: 9 }, { serverMaxWindowBits: 10 }],
  ];
  for (const [id, name, serverPmd, clientPmd] of COMBOS) {
    test(`${id} ${name}: mixed text and binary of 16 B to 64 KiB echo exactly`, { timeout: 20000 }, async () => {
      const srv = await startServer({ perMessageDeflate: { threshold: 0, ...serverPmd } });
      try {
        const { ws, params, header } = await openWs(srv, { threshold: 0, ...clientPmd });
        try {
          checkAnswer(params, FULL({ threshold: 0, ...serverPmd }), clientPmd, `${id}: "${header}"`);
          const messages = [];
          KINDS.forEach(([, , make], k) => SIZES.forEach((size, s) => {
            for (let i = 0; i < 4; i++) messages.push(make(size, i + k * 7 + s));
          }));
          await echoAll(ws, messages);
        } finally {
          await closeWs(ws);
        }
      } finally {
        await srv.close();
      }
    });
  }
});

describe('multicast to subscribers with different parameters', () => {
  test('each subscriber inflates every multicast and every direct message exactly, in order', { timeout: 20000 }, async () => {
    const srv = await startServer({ perMessageDeflate: { threshold: 0 } });
    const clients = [];
    try {
      srv.server.on('connection', (conn) => conn.subscribe('news'));
      for (const pmd of [{}, { serverNoContextTakeover: true }, { serverNoContextTakeover: true, serverMaxWindowBits: 10 },
        { serverMaxWindowBits: 9 }, false]) {
        const c = await openWs(srv, pmd);
        c.got = [];
        c.ws.on('message', (data) => c.got.push(data.toString()));
        clients.push(c);
      }
      await waitUntil(() => srv.server.subscribers('news') === clients.length, 2000, 'every client subscribed');
      // Direct messages (each connection's own context) interleaved with
      // multicasts (shared where the parameters allow): a compressed frame
      // shared with a connection whose context differs would corrupt the
      // messages that follow it.
      const expected = [];
      for (let round = 0; round < 6; round++) {
        const direct = text(3000 + round, round);
        for (const c of clients) c.conn.send(direct);
        expected.push(direct);
        const shared = text(5000 + round, round + 50);
        assert.equal(srv.server.multicast('news', shared), clients.length);
        expected.push(shared);
      }
      await waitUntil(() => clients.every((c) => c.got.length >= expected.length), 10000, 'every message at every client');
      clients.forEach((c, i) => {
        c.got.forEach((m, j) => assert.equal(m, expected[j], `client ${i + 1}, message ${j + 1}`));
      });
    } finally {
      for (const c of clients) await closeWs(c.ws);
      await srv.close();
    }
  });
});

describe('multicast compressed once', () => {
  test('subscribers without server context takeover get one compressed frame; the others the plain one', { timeout: 10000 }, async () => {
    const srv = await startServer({ perMessageDeflate: true });
    const clients = [];
    try {
      srv.server.on('connection', (conn) => conn.subscribe('news'));
      const offers = [
        'permessage-deflate; server_no_context_takeover',
        'permessage-deflate; server_no_context_takeover; server_max_window_bits=10',
        'permessage-deflate; client_max_window_bits',
        undefined,
      ];
      for (const deflate of offers) clients.push(await RawClient.connect(`ws://127.0.0.1:${srv.port}/`, { deflate }));
      await waitUntil(() => srv.server.subscribers('news') === clients.length, 2000, 'every client subscribed');
      const big = text(8 * KIB, 77);
      const small = text(100, 78);
      assert.equal(srv.server.multicast('news', big), clients.length);
      assert.equal(srv.server.multicast('news', small), clients.length);
      for (const c of clients) await c.waitEvents(2, 3000);
      const [a, b, d, e] = clients;
      assert.equal(a.messages[0].compressed, true, 'no context takeover: compressed');
      assert.equal(b.messages[0].compressed, true, 'no context takeover, window 10: compressed');
      assert.equal(a.messages[0].wireLength, b.messages[0].wireLength, 'one compressed frame, shared (made at the smallest window)');
      assert.equal(d.messages[0].compressed, false, 'context takeover: the plain frame');
      assert.equal(e.messages[0].compressed, false, 'no deflate: the plain frame');
      for (const c of clients) {
        assert.equal(c.messages[0].data.toString(), big);
        assert.equal(c.messages[1].compressed, false, 'below the threshold: never compressed');
        assert.equal(c.messages[1].data.toString(), small);
        assert.deepEqual(c.violations, []);
      }
      // The context-takeover connection's own compressor is still in step.
      await d.sendCompressed(OP.TEXT, big);
      await d.waitEvents(3, 3000);
      assert.equal(d.messages[2].compressed, true);
      assert.equal(d.messages[2].data.toString(), big);
    } finally {
      for (const c of clients) c.destroy();
      await srv.close();
    }
  });
});

describe('from runserver.js', () => {
  test('--deflate turns it on, --deflate-* flags set the parameters; without them nothing is agreed', { timeout: 30000 }, async () => {
    const { spawn } = require('child_process');
    const path = require('path');
    const runserver = async (args) => {
      const child = spawn(process.execPath, [path.join(__dirname, '..', 'runserver.js'), '--port=0', '--host=127.0.0.1', '--no-log', ...args]);
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      try {
        await waitUntil(() => /listening on ws:\/\/127\.0\.0\.1:\d+\//.test(out) || child.exitCode !== null, 20000, 'runserver to listen');
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
      const port = Number(/listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out)[1]);
      const stop = () => withTimeout(new Promise((resolve) => { child.on('exit', resolve); child.kill('SIGTERM'); }), 10000, 'runserver to exit');
      return { port, out: () => out, stop };
    };
    const answer = async (port) => {
      const res = await rawExchange(port, buildUpgradeRequest({ host: '127.0.0.1', port, path: '/', key: 'dGhlIHNhbXBsZSBub25jZQ==',
        headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' } }), { timeout: 3000 });
      assert.equal(res.status, 101);
      return res.headers['sec-websocket-extensions'];
    };
    const on = await runserver(['--deflate']);
    try {
      assert.match(await answer(on.port), /^permessage-deflate/);
      assert.match(on.out(), /permessage-deflate: on \(threshold 1024 bytes\)/);
    } finally {
      await on.stop();
    }
    const tuned = await runserver(['--deflate-server-no-context-takeover', '--deflate-server-max-window-bits=10', '--deflate-threshold=0']);
    try {
      const agreed = await answer(tuned.port);
      assert.match(agreed, /server_no_context_takeover/);
      assert.match(agreed, /server_max_window_bits=10/);
    } finally {
      await tuned.stop();
    }
    const off = await runserver([]);
    try {
      assert.equal(await answer(off.port), undefined);
    } finally {
      await off.stop();
    }
  });
});

// Let the event loop drain sockets between suites on slow machines.
after(() => delay(10));
