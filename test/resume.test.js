'use strict';

// Resume without loss (README, Resume): a subscription with a history
// numbers its multicasts; a client that asks for resume on the handshake gets
// them in the envelope "m<seq> <name>\n<payload>", and when it reconnects
// naming the last seq it saw, exactly the ones it missed, in order, before
// anything new; past any bound the notice "g<seq> <name>\n". Plain clients
// keep today's payloads. Bad tokens get 400 with the reason. The npm ws
// client speaks the documented envelope here.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const WebSocket = require('ws');
const { startServer, waitUntil, withTimeout, delay } = require('./helpers');

const PARAM = 'node.websocket.resume';

const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-modules-'));
// Subscribes to ?sub= (default "feed"), through its app context when it has one.
fs.writeFileSync(path.join(modules, 'feed.js'), `
exports.Module = class {
  constructor(conn, context) { this.context = context; }
  onConnect(c) {
    const name = c.query.sub || 'feed';
    if (this.context && this.context.name !== 'feed') this.context.subscribe(c, name); else c.subscribe(name);
    if (c.query.hello) c.send(c.query.hello);
  }
  onData(data, c) { c.send(data); }
};
`);

/** A ws client recording every message from the first frame on; generous bounds for a loaded machine. */
async function wsClient(url) {
  const ws = new WebSocket(url, { handshakeTimeout: 20000 });
  ws.received = [];
  ws.on('message', (data, isBinary) => ws.received.push({ data, isBinary }));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  }), 25000, `a ws connection to ${url}`);
  ws.on('error', () => { /* a terminated client */ });
  return ws;
}

/** Splits one received message per the envelope. */
function parse(data, isBinary) {
  const buf = Buffer.from(data);
  const kind = String.fromCharCode(buf[0]);
  if (kind === 'd') return { kind, payload: isBinary ? buf.subarray(1) : buf.subarray(1).toString() };
  const nl = buf.indexOf(10);
  const head = buf.subarray(1, nl).toString();
  const sp = head.indexOf(' ');
  const out = { kind, seq: Number(head.slice(0, sp)), name: decodeURIComponent(head.slice(sp + 1)) };
  const rest = buf.subarray(nl + 1);
  out.payload = isBinary ? rest : rest.toString();
  out.isBinary = isBinary;
  return out;
}

function tokenOf(entries) {
  return encodeURIComponent(Object.entries(entries).map(([n, s]) => `${encodeURIComponent(n)}:${s}`).join(','));
}

async function resumable(url, entries = {}, extra = '') {
  const ws = await wsClient(`${url}${url.includes('?') ? '&' : '?'}${PARAM}=${tokenOf(entries)}${extra}`);
  // wsClient records from the first frame on (one may come with the handshake's answer)
  Object.defineProperty(ws, 'parsed', { get: () => ws.received.map((m) => parse(m.data, m.isBinary)) });
  return ws;
}

/** The status and body a refused handshake gets. */
function refusal(url) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => { ws.terminate(); reject(new Error('the handshake was accepted')); });
    ws.on('error', () => {});
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
  }), 25000, 'the refusal');
}

const payloadOf = (i) => (i % 10 === 9 ? Buffer.from([0, 255, i & 255, i >> 8]) : `message ${i} é`);

describe('resume', () => {
  let s;
  before(async () => {
    s = await startServer({ modules, maxHeaderSize: 65536 }); // room for a token past its own bound
  });
  after(() => s.close());

  test('a client killed mid-stream of 1,000 multicasts gets each exactly once, in order, after it reconnects', async () => {
    s.server.setHistory('stream', { messages: 1000, bytes: 1 << 20, seconds: 600 });
    const plain = await wsClient(`${s.url}/feed?sub=stream`);
    let a = await resumable(`${s.url}/feed?sub=stream`);
    await waitUntil(() => s.server.subscribers('stream') === 2, 20000, 'two subscribers');
    const seen = [];
    let killed = false;
    a.on('message', () => {
      // killed once it has a third of the stream; what it did not read yet is lost with the socket
      if (!killed && a.received.length >= 300) { killed = true; a.terminate(); }
    });
    let first = 0; // the seq of the first multicast: numbering starts at a random point
    const reconnect = async () => {
      seen.push(...a.parsed);
      first = seen[0].seq;
      const last = seen[seen.length - 1].seq;
      assert.ok(last < first + 999, 'the kill happened mid-stream');
      a = await resumable(`${s.url}/feed?sub=stream`, { stream: last });
    };
    for (let i = 0; i < 1000; i++) {
      s.server.multicast('stream', payloadOf(i));
      if (i % 50 === 49) await delay(5); // a stream, not one burst: the kill lands in its middle
      if (killed && a.readyState === WebSocket.CLOSED && seen.length === 0) await reconnect();
    }
    if (seen.length === 0) { // a loaded machine: the kill came after the last multicast
      await waitUntil(() => killed && a.readyState === WebSocket.CLOSED, 20000, 'the kill');
      await reconnect();
    }
    await waitUntil(() => a.received.length && a.parsed[a.parsed.length - 1].seq === first + 999, 20000, 'the resumed client to reach the last');
    await delay(100); // nothing (a duplicate) may follow
    const all = seen.concat(a.parsed);
    assert.deepEqual(all.map((m) => m.seq), Array.from({ length: 1000 }, (_, i) => first + i));
    all.forEach((m, i) => {
      assert.equal(m.kind, 'm');
      assert.equal(m.name, 'stream');
      assert.deepEqual(m.payload, payloadOf(i));
      assert.equal(m.isBinary, Buffer.isBuffer(payloadOf(i)));
    });
    // the plain client, connected throughout, got today's payloads
    await waitUntil(() => plain.received.length === 1000, 20000, 'the plain client to get 1,000');
    plain.received.forEach((m, i) => {
      const p = payloadOf(i);
      assert.equal(m.isBinary, Buffer.isBuffer(p));
      assert.deepEqual(m.isBinary ? m.data : m.data.toString(), p);
    });
    plain.close();
    a.close();
  });

  test('direct sends reach a resumable client as "d<payload>", a plain one as sent', async () => {
    const r = await resumable(`${s.url}/feed`, {}, '&hello=hi');
    const p = await wsClient(`${s.url}/feed?hello=hi`);
    await waitUntil(() => r.parsed.length === 1 && p.received.length === 1, 20000);
    assert.deepEqual(r.parsed[0], { kind: 'd', payload: 'hi' });
    assert.equal(p.received[0].data.toString(), 'hi');
    r.send(Buffer.from([1, 2]));
    await waitUntil(() => r.parsed.length === 2, 20000);
    assert.deepEqual(r.parsed[1], { kind: 'd', payload: Buffer.from([1, 2]) });
    r.close();
    p.close();
  });

  test('a subscription without history reaches resumable clients with seq 0', async () => {
    const r = await resumable(`${s.url}/feed?sub=nohist`);
    await waitUntil(() => s.server.subscribers('nohist') === 1, 20000);
    s.server.multicast('nohist', 'x');
    await waitUntil(() => r.parsed.length === 1, 20000);
    assert.deepEqual(r.parsed[0], { kind: 'm', seq: 0, name: 'nohist', payload: 'x', isBinary: false });
    r.close();
  });

  /**
   * Publishes to a new subscription with history while an observer watches,
   * then resumes from last (counted from the subscription's first seq - 1).
   * Resolves the resumed client and the base to add to expected seqs.
   */
  async function missed(name, limits, publish, last) {
    s.server.setHistory(name, limits);
    const observer = await resumable(`${s.url}/feed?sub=${encodeURIComponent(name)}`);
    await waitUntil(() => s.server.subscribers(name) === 1, 20000);
    for (const p of publish) s.server.multicast(name, p);
    await waitUntil(() => observer.received.length === publish.length, 20000);
    const base = observer.parsed[0].seq - 1;
    observer.close();
    return { r: await resumable(`${s.url}/feed?sub=${encodeURIComponent(name)}`, { [name]: base + last }), base };
  }

  test('past the messages bound: the notice with the latest seq, then new messages', async () => {
    const { r, base } = await missed('bound-m', { messages: 5 }, Array.from({ length: 10 }, (_, i) => `${i}`), 2);
    await waitUntil(() => r.parsed.length === 1, 20000);
    assert.deepEqual(r.parsed[0], { kind: 'g', seq: base + 10, name: 'bound-m', payload: '', isBinary: false });
    s.server.multicast('bound-m', 'new');
    await waitUntil(() => r.parsed.length === 2, 20000);
    assert.equal(r.parsed[1].seq, base + 11);
    assert.equal(r.parsed[1].payload, 'new');
    r.close();
    // within the bound: exactly the missed ones
    const w = await resumable(`${s.url}/feed?sub=bound-m`, { 'bound-m': base + 8 });
    await waitUntil(() => w.parsed.length === 3, 20000);
    assert.deepEqual(w.parsed.map((m) => m.payload), ['8', '9', 'new']);
    w.close();
  });

  test('past the bytes bound: the notice', async () => {
    const { r, base } = await missed('bound-b', { messages: 100, bytes: 10 }, ['aaaa', 'bbbb', 'cccc', 'dddd'], 0);
    await waitUntil(() => r.parsed.length === 1, 20000);
    assert.equal(r.parsed[0].kind, 'g');
    assert.equal(r.parsed[0].seq, base + 4);
    r.close();
    const w = await resumable(`${s.url}/feed?sub=bound-b`, { 'bound-b': base + 2 }); // cccc dddd: 8 bytes, held
    await waitUntil(() => w.parsed.length === 2, 20000);
    assert.deepEqual(w.parsed.map((m) => m.payload), ['cccc', 'dddd']);
    w.close();
  });

  test('past the seconds bound: the notice', async () => {
    const { r: within, base } = await missed('bound-s', { messages: 100, seconds: 1 }, ['old'], 0);
    await waitUntil(() => within.parsed.length === 1, 20000);
    assert.deepEqual(within.parsed[0], { kind: 'm', seq: base + 1, name: 'bound-s', payload: 'old', isBinary: false });
    within.close();
    await delay(2500); // older than the bound by more than a second
    const r = await resumable(`${s.url}/feed?sub=bound-s`, { 'bound-s': base });
    await waitUntil(() => r.parsed.length === 1, 20000);
    assert.deepEqual(r.parsed[0], { kind: 'g', seq: base + 1, name: 'bound-s', payload: '', isBinary: false });
    r.close();
  });

  test('a seq from the future (a restarted server) gets the notice; an up-to-date one nothing', async () => {
    const { r, base } = await missed('future', { messages: 10 }, ['a'], 7);
    await waitUntil(() => r.parsed.length === 1, 20000);
    assert.deepEqual(r.parsed[0], { kind: 'g', seq: base + 1, name: 'future', payload: '', isBinary: false });
    const u = await resumable(`${s.url}/feed?sub=future`, { future: base + 1 });
    await waitUntil(() => s.server.subscribers('future') === 2, 20000);
    s.server.multicast('future', 'b');
    await waitUntil(() => u.parsed.length === 1, 20000);
    assert.equal(u.parsed[0].seq, base + 2);
    // a seq from another run or process (numbering starts at a random point): the notice, not its messages
    const other = await resumable(`${s.url}/feed?sub=future`, { future: 5 });
    await waitUntil(() => other.parsed.length === 1, 20000);
    assert.equal(other.parsed[0].kind, 'g');
    other.close();
    r.close();
    u.close();
  });

  test('bad resume tokens get 400 with the reason', async () => {
    s.server.setHistory('feed', { messages: 10 });
    const cases = [
      ['garbage', /entries are <name>:<seq>/],
      ['feed', /entries are <name>:<seq>/],
      ['feed:-1', /entries are <name>:<seq>/],
      ['feed:1.5', /entries are <name>:<seq>/],
      ['feed:99999999999999999999', /entries are <name>:<seq>/],
      ['feed:9007199254740993', /entries are <name>:<seq>/],
      [':3', /entries are <name>:<seq>/],
      ['%E0%A4%A:3', /badly encoded/],
      ['nope:3', /"nope", which keeps no history/],
      ['feed:1,feed:2', /names "feed" twice/],
      [Array.from({ length: 65 }, () => 'feed:1').join(','), /more than 64 subscriptions/],
      ['feed:1,' + 'x'.repeat(9000), /longer than 8192/],
    ];
    for (const [token, reason] of cases) {
      const r = await refusal(`${s.url}/feed?${PARAM}=${encodeURIComponent(token)}`);
      assert.equal(r.status, 400, token.slice(0, 40));
      assert.match(r.body, reason, token.slice(0, 40));
    }
    // the server is unharmed
    const ws = await wsClient(`${s.url}/feed`);
    ws.close();
  });

  test('setHistory checks its arguments', () => {
    assert.throws(() => s.server.setHistory('x', { messages: 0 }), /messages must be at least 1/);
    assert.throws(() => s.server.setHistory('x', { messages: 5, ttl: 1 }), /messages, bytes and seconds/);
    assert.throws(() => s.server.setHistory('x', { messages: -1 }), /integer from 0/);
    assert.throws(() => s.server.setHistory('x', 5), /null/);
    assert.throws(() => s.server.setHistory('', { messages: 1 }), /subscription name/);
    s.server.setHistory('x', null);
  });
});

test('an app configured with history resumes on each of its URLs, each its own sequence', async () => {
  const s = await startServer({
    modules,
    apps: { room: { urls: ['/a', '/b'], module: 'feed', history: { feed: { messages: 10 } } } },
  });
  try {
    const a = await resumable(`${s.url}/a`);
    const b = await resumable(`${s.url}/b`);
    // app contexts scope names: multicast through the server to each URL's own
    await waitUntil(() => s.server.subscribers('/a\0feed') === 1 && s.server.subscribers('/b\0feed') === 1, 20000).catch(() => {});
    const ctx = (url) => s.server._loader.resolve(url).context;
    ctx('/a').multicast('feed', 'a1');
    ctx('/a').multicast('feed', 'a2');
    ctx('/b').multicast('feed', 'b1');
    await waitUntil(() => a.parsed.length === 2 && b.parsed.length === 1, 20000);
    const first = a.parsed[0].seq;
    assert.deepEqual(a.parsed.map((m) => [m.seq, m.name, m.payload]), [[first, 'feed', 'a1'], [first + 1, 'feed', 'a2']]);
    assert.deepEqual(b.parsed.map((m) => [m.name, m.payload]), [['feed', 'b1']]);
    assert.notEqual(b.parsed[0].seq, first, 'each URL numbers on its own');
    a.terminate();
    ctx('/a').multicast('feed', 'a3');
    const again = await resumable(`${s.url}/a`, { feed: first });
    await waitUntil(() => again.parsed.length === 2, 20000);
    assert.deepEqual(again.parsed.map((m) => m.payload), ['a2', 'a3']);
    again.close();
    b.close();
  } finally {
    await s.close();
  }
});

test('over SockJS xhr-polling: a session abandoned mid-stream, a new one resumes exactly the rest', async () => {
  const s = await startServer({ modules, sockjsDisconnectDelay: 100 });
  const post = (p) => withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, path: p, method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  }), 20000, `POST ${p}`);
  // one poll: the SockJS frame's messages, each parsed per the envelope
  const poll = async (session, query = '') => {
    const body = await post(`/sockjs/feed/000/${session}/xhr${query}`);
    if (body.startsWith('o') || body.startsWith('h')) return [];
    assert.match(body, /^a\[/, body);
    return JSON.parse(body.slice(1)).map((m) => parse(m, false));
  };
  try {
    s.server.setHistory('feed', { messages: 500 });
    assert.deepEqual(await poll('first', `?${PARAM}=`), []); // the open frame
    const got = [];
    for (let i = 0; i < 100; i++) s.server.multicast('feed', `m${i}`);
    while (got.length < 100) got.push(...(await poll('first')).filter((m) => m.kind === 'm'));
    for (let i = 100; i < 200; i++) s.server.multicast('feed', `m${i}`); // queued for "first", which never polls again
    await waitUntil(() => s.server.subscribers('feed') === 0, 10000, 'the abandoned session to time out');
    const last = got[got.length - 1].seq;
    assert.deepEqual(await poll('second', `?${PARAM}=${tokenOf({ feed: last })}`), []);
    for (let i = 200; i < 300; i++) s.server.multicast('feed', `m${i}`);
    while (got.length < 300) got.push(...(await poll('second')).filter((m) => m.kind === 'm'));
    const first = got[0].seq;
    assert.deepEqual(got.map((m) => [m.seq, m.payload]), Array.from({ length: 300 }, (_, i) => [first + i, `m${i}`]));
  } finally {
    await s.close();
  }
});
