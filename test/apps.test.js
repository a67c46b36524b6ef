'use strict';

// The applications that ship in modules/, each driven by a real client
// (the npm `ws` package) through its protocol, against a real server; and
// runserver.js with --config files, good and bad.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');
const { startServer, withTimeout, waitUntil, delay } = require('./helpers');

const root = path.join(__dirname, '..');

// ---------------------------------------------------------------------------
// A client with an inbox: next() takes messages in order, each wait bounded.

function open(url, options = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 3000, ...options });
    ws.inbox = [];
    ws.waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? data : data.toString();
      if (ws.waiters.length) ws.waiters.shift()(m);
      else ws.inbox.push(m);
    });
    ws.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
      req.destroy();
    });
    ws.on('error', reject);
  }), 5000, `a connection to ${url}`);
}

/** The HTTP status a refused upgrade got. */
async function refusal(url, options) {
  try {
    const ws = await open(url, options);
    ws.terminate();
  } catch (err) {
    if (err.status) return err.status;
    throw err;
  }
  throw new Error(`${url} was accepted`);
}

function next(ws, ms = 3000) {
  if (ws.inbox.length) return Promise.resolve(ws.inbox.shift());
  let waiter;
  return withTimeout(new Promise((resolve) => { waiter = resolve; ws.waiters.push(resolve); }), ms, 'a message')
    .catch((err) => {
      ws.waiters.splice(ws.waiters.indexOf(waiter), 1);
      throw err;
    });
}

const nextJson = async (ws, ms) => JSON.parse(await next(ws, ms));

/** Waits ms and asserts that nothing arrived meanwhile. */
async function nothingFor(ws, ms, what = 'nothing') {
  await delay(ms);
  assert.deepEqual(ws.inbox, [], what);
}

async function closeAll(...clients) {
  await Promise.all(clients.map((ws) => {
    if (ws.readyState === WebSocket.CLOSED) return null;
    ws.close();
    return withTimeout(ws.closed, 3000, 'a client to close').catch(() => ws.terminate());
  }));
}

/** Server-side contexts by path, recorded as connections open. */
function contexts(server) {
  const byPath = new Map();
  server.on('connection', (c) => byPath.set(c.path, c.context));
  return byPath;
}

// ---------------------------------------------------------------------------

describe('chat (NaviServer style)', () => {
  let s;
  before(async () => { s = await startServer({ apps: { chat: { urls: ['/websocket/chat', '/team/chat'] } } }); });
  after(() => s.close());

  test('a message goes to every other member as "<address>: <message>", never back to the sender', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => open(`${s.url}/chat`)));
    try {
      a.send('hello <b>all</b>');
      assert.equal(await next(b), '127.0.0.1: hello <b>all</b>');
      assert.equal(await next(c), '127.0.0.1: hello <b>all</b>');
      b.send('hi a');
      assert.equal(await next(a), '127.0.0.1: hi a');
      assert.equal(await next(c), '127.0.0.1: hi a');
      a.send(Buffer.from('binary is ignored'));
      await nothingFor(a, 200, 'the sender got nothing back');
      assert.deepEqual(b.inbox, []);
      assert.deepEqual(c.inbox, [], 'binary frames are not relayed');
    } finally {
      await closeAll(a, b, c);
    }
  });

  test('each configured URL is its own room, and the plain /chat a third', async () => {
    const [a1, a2, b1, b2, p] = await Promise.all(['/websocket/chat', '/websocket/chat', '/team/chat', '/team/chat', '/chat']
      .map((u) => open(s.url + u)));
    try {
      a1.send('room a');
      b1.send('room b');
      p.send('plain');
      assert.equal(await next(a2), '127.0.0.1: room a');
      assert.equal(await next(b2), '127.0.0.1: room b');
      await nothingFor(p, 200, 'the plain /chat is another room');
      await nothingFor(a1, 0);
      await nothingFor(b1, 0);
      assert.deepEqual(a2.inbox, []);
      assert.deepEqual(b2.inbox, []);
    } finally {
      await closeAll(a1, a2, b1, b2, p);
    }
  });
});

describe('chatroom (node.websocket.js line protocol)', () => {
  let s;
  let ctx;
  before(async () => {
    s = await startServer({ apps: { chatroom: { urls: ['/room/one', '/room/two'] } } });
    ctx = contexts(s.server);
  });
  after(() => s.close());

  async function join(url, nick) {
    const ws = await open(url);
    ws.send(`NICK ${nick}`);
    const seen = [];
    for (;;) {
      const m = await nextJson(ws);
      seen.push(m);
      if (m.type === 'RPL_WELCOME' || m.type === 'ERROR') return { ws, seen };
    }
  }

  test('refuses commands before NICK, unknown commands and bad nicknames', async () => {
    const ws = await open(`${s.url}/room/one`);
    try {
      for (const command of ['MSG hi', 'USERS', 'TOPIC x', 'ACTION waves', 'PART']) {
        ws.send(command);
        assert.deepEqual(await nextJson(ws), { type: 'ERROR', code: 'ERR_NOTREGISTERED', text: 'send NICK <name> first' }, command);
      }
      ws.send('FLY away');
      assert.equal((await nextJson(ws)).code, 'ERR_UNKNOWNCOMMAND');
      for (const nick of ['', 'x'.repeat(25), 'bad nick', 'dröm', '<script>', 'a;b']) {
        ws.send(`NICK ${nick}`);
        assert.equal((await nextJson(ws)).code, 'ERR_ERRONEUSNICKNAME', JSON.stringify(nick));
      }
      ws.send(Buffer.from('NICK bin'));
      assert.equal((await nextJson(ws)).code, 'ERR_BINARY');
      assert.equal(ws.readyState, WebSocket.OPEN);
    } finally {
      await closeAll(ws);
    }
  });

  test('NICK: JOIN to all, the last 10 messages, TOPIC and RPL_WELCOME; MSG with isSelf; ACTION; USERS; TOPIC; PART', async () => {
    const url = `${s.url}/room/one`;
    const alice = await join(url, 'alice');
    assert.deepEqual(alice.seen.map((m) => m.type), ['JOIN', 'TOPIC', 'RPL_WELCOME']);
    assert.equal(alice.seen[0].nick, 'alice');
    assert.equal(alice.seen[1].topic, '');
    assert.deepEqual(alice.seen[2], { type: 'RPL_WELCOME', nick: 'alice', users: 1 });
    const a = alice.ws;

    for (let i = 1; i <= 12; i++) {
      a.send(`MSG message ${i}`);
      const m = await nextJson(a);
      assert.equal(m.type, 'MSG');
      assert.equal(m.text, `message ${i}`);
      assert.equal(m.nick, 'alice');
      assert.equal(m.isSelf, true);
      assert.ok(!Number.isNaN(Date.parse(m.timestamp)));
    }
    a.send('TOPIC all about <b>tests</b>');
    assert.deepEqual(pick(await nextJson(a), 'type', 'topic', 'nick'), { type: 'TOPIC', topic: 'all about <b>tests</b>', nick: 'alice' });

    const bob = await join(url, 'bob');
    const b = bob.ws;
    const types = bob.seen.map((m) => m.type);
    assert.deepEqual(types, ['JOIN', ...Array(10).fill('MSG'), 'TOPIC', 'RPL_WELCOME']);
    assert.equal(bob.seen[0].nick, 'bob');
    assert.deepEqual(bob.seen.slice(1, 11).map((m) => m.text), Array.from({ length: 10 }, (_, i) => `message ${i + 3}`));
    assert.ok(bob.seen.slice(1, 11).every((m) => m.history === true && m.isSelf === false && m.nick === 'alice'));
    assert.equal(bob.seen[11].topic, 'all about <b>tests</b>');
    assert.deepEqual(bob.seen[12], { type: 'RPL_WELCOME', nick: 'bob', users: 2 });
    assert.deepEqual(pick(await nextJson(a), 'type', 'nick'), { type: 'JOIN', nick: 'bob' });

    // A nickname is taken whatever its case; the client may pick another.
    const carol = await open(url);
    carol.send('NICK ALICE');
    assert.equal((await nextJson(carol)).code, 'ERR_NICKNAMEINUSE');
    b.send('MSG unregistered members hear nothing');
    await nextJson(b);
    await nextJson(a);
    await nothingFor(carol, 150, 'carol is not in the room yet');

    b.send('MSG hi alice');
    assert.deepEqual(pick(await nextJson(b), 'type', 'nick', 'text', 'isSelf'), { type: 'MSG', nick: 'bob', text: 'hi alice', isSelf: true });
    assert.deepEqual(pick(await nextJson(a), 'type', 'nick', 'text', 'isSelf'), { type: 'MSG', nick: 'bob', text: 'hi alice', isSelf: false });

    a.send('ACTION waves');
    assert.deepEqual(pick(await nextJson(a), 'type', 'nick', 'text', 'isSelf'), { type: 'ACTION', nick: 'alice', text: 'waves', isSelf: true });
    assert.deepEqual(pick(await nextJson(b), 'type', 'nick', 'text', 'isSelf'), { type: 'ACTION', nick: 'alice', text: 'waves', isSelf: false });

    b.send('USERS');
    assert.deepEqual(await nextJson(b), { type: 'RPL_USERS', nicks: ['alice', 'bob'] });

    b.send('TOPIC');
    assert.equal((await nextJson(b)).topic, 'all about <b>tests</b>', 'TOPIC alone asks for it');
    b.send('TOPIC new topic');
    assert.deepEqual(pick(await nextJson(b), 'type', 'topic', 'nick'), { type: 'TOPIC', topic: 'new topic', nick: 'bob' });
    assert.deepEqual(pick(await nextJson(a), 'type', 'topic', 'nick'), { type: 'TOPIC', topic: 'new topic', nick: 'bob' });

    for (const [command, code] of [['NICK again', 'ERR_ALREADYREGISTERED'], ['MSG ', 'ERR_NOTEXTTOSEND'], ['MSG   ', 'ERR_NOTEXTTOSEND'],
      [`MSG ${'x'.repeat(4097)}`, 'ERR_TOOLONG'], ['ACTION', 'ERR_NOTEXTTOSEND']]) {
      b.send(command);
      assert.equal((await nextJson(b)).code, code, command.slice(0, 20));
    }
    await nothingFor(a, 100, 'errors go only to the one who erred');

    // carol joins under another name, and sees the topic.
    carol.send('NICK carol');
    const carolSeen = [];
    do carolSeen.push(await nextJson(carol)); while (carolSeen[carolSeen.length - 1].type !== 'RPL_WELCOME');
    assert.equal(carolSeen.find((m) => m.type === 'TOPIC').topic, 'new topic');
    assert.equal(carolSeen[carolSeen.length - 1].users, 3);
    await nextJson(a); // JOIN carol
    await nextJson(b);

    // PART: everyone hears it, the one leaving too, then the server closes.
    b.send('PART');
    assert.deepEqual(pick(await nextJson(b), 'type', 'nick'), { type: 'PART', nick: 'bob' });
    assert.equal((await withTimeout(b.closed, 3000, 'the close after PART')).code, 1000);
    assert.deepEqual(pick(await nextJson(a), 'type', 'nick'), { type: 'PART', nick: 'bob' });
    assert.deepEqual(pick(await nextJson(carol), 'type', 'nick'), { type: 'PART', nick: 'bob' });

    // Leaving without PART is a PART too; the name is free again.
    carol.terminate();
    assert.deepEqual(pick(await nextJson(a), 'type', 'nick'), { type: 'PART', nick: 'carol' });
    a.send('USERS');
    assert.deepEqual(await nextJson(a), { type: 'RPL_USERS', nicks: ['alice'] });
    const room = ctx.get('/room/one');
    assert.equal(room.subscribers('room'), 1);
    assert.equal(room.state.members.size, 1);
    await closeAll(a);
    await waitUntil(() => room.state.members.size === 0 && room.subscribers('room') === 0, 3000, 'the room to empty');
  });

  test('two URLs are two rooms, with their own members, history and topic', async () => {
    const one = await join(`${s.url}/room/one`, 'dave');
    const two = await join(`${s.url}/room/two`, 'dave'); // the same name in another room is fine
    try {
      assert.equal(two.seen[two.seen.length - 1].type, 'RPL_WELCOME');
      assert.equal(two.seen.filter((m) => m.type === 'MSG').length, 0, 'no history from room one');
      one.ws.send('MSG only in one');
      await nextJson(one.ws);
      one.ws.send('TOPIC one');
      await nextJson(one.ws);
      await nothingFor(two.ws, 200, 'room two hears nothing of room one');
      two.ws.send('TOPIC');
      assert.equal((await nextJson(two.ws)).topic, '');
    } finally {
      await closeAll(one.ws, two.ws);
    }
  });
});

function pick(object, ...keys) {
  return Object.fromEntries(keys.map((k) => [k, object[k]]));
}

describe('time', () => {
  test('start: {"time": ISO} at once and every second; stop stops; the timer runs only while someone listens', { timeout: 20000 }, async () => {
    const s = await startServer();
    const ctx = contexts(s.server);
    const a = await open(`${s.url}/time`);
    try {
      a.send('hello');
      assert.ok((await nextJson(a)).error, 'an unknown command gets an error');
      a.send('start');
      const t0 = Date.now();
      const first = await nextJson(a, 1500);
      assert.deepEqual(Object.keys(first), ['time']);
      assert.match(first.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Math.abs(Date.parse(first.time) - t0) < 2000);
      const second = await nextJson(a, 2500);
      const third = await nextJson(a, 2500);
      const gap = Date.parse(third.time) - Date.parse(second.time);
      assert.ok(gap >= 900 && gap <= 1500, `a second apart (${gap} ms)`);
      const state = ctx.get('/time').state;
      assert.ok(state.timer, 'the timer runs');

      a.send('start'); // again: still one message a second
      a.send('stop');
      await delay(100);
      a.inbox.length = 0;
      await nothingFor(a, 1500, 'nothing after stop');
      assert.equal(state.timer, null, 'no one listens: no timer');

      a.send('start');
      await nextJson(a, 1500);
      assert.ok(state.timer);
      a.terminate();
      await waitUntil(() => state.timer === null, 3000, 'the timer to stop after the disconnect');
    } finally {
      a.terminate();
      await s.close();
    }
  });
});

describe('processes', () => {
  test('start: a list read from /proc that includes this process, then again every 5 seconds', { timeout: 30000 }, async () => {
    const s = await startServer();
    const ctx = contexts(s.server);
    const a = await open(`${s.url}/processes`);
    try {
      a.send('start');
      const list = await nextJson(a, 5000);
      assert.equal(list.type, 'processes');
      assert.ok(!Number.isNaN(Date.parse(list.at)));
      assert.equal(list.count, list.processes.length);
      assert.ok(list.count >= 2, `${list.count} processes`);
      const me = list.processes.find((p) => p.pid === process.pid);
      assert.ok(me, 'this process is listed');
      assert.equal(me.ppid, process.ppid);
      assert.equal(me.uid, process.getuid());
      assert.equal(typeof me.user, 'string');
      assert.match(me.state, /^[RSDZTtWXxKPI]$/);
      assert.ok(me.rss > 1024 * 1024, `rss ${me.rss}`);
      assert.ok(me.cpu >= 0);
      assert.ok(me.command.includes(path.basename(process.execPath)) || me.command.includes('node'), me.command);
      for (const p of list.processes) {
        assert.ok(Number.isInteger(p.pid) && p.pid > 0);
        assert.equal(typeof p.command, 'string');
        assert.ok(p.command.length > 0);
      }
      const t0 = Date.now();
      const again = await nextJson(a, 12000);
      assert.equal(again.type, 'processes');
      // Every 5 s by the server's clock; the bound on the wait leaves room for a loaded machine.
      const apart = Date.parse(again.at) - Date.parse(list.at);
      assert.ok(apart >= 4500, `the next list was taken ${apart} ms after the first`);
      const waited = Date.now() - t0;
      assert.ok(waited <= 10000, `the next list came ${waited} ms later`);

      a.send('stop');
      await waitUntil(() => ctx.get('/processes').state.timer === null, 2000, 'the timer to stop');
      a.send('ps aux; rm -rf /');
      assert.equal((await nextJson(a)).type, 'error', 'anything else is an error, never a command');
    } finally {
      a.terminate();
      await s.close();
    }
  });
});

describe('log-view', () => {
  const token = 'a-long-random-test-token-0123456789';
  let dir;
  let files;
  let s;
  let ctx;
  const REFRESH = 40;
  const lv = (query = '') => `${s.url}/admin/lv${query}`;
  const ticks = (n) => delay(REFRESH * n + 50);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-log-view-'));
    files = { 'a.log': path.join(dir, 'a.log'), 'b.log': path.join(dir, 'b.log'), 'later.log': path.join(dir, 'later.log') };
    fs.writeFileSync(files['a.log'], 'written before anyone connected\n');
    fs.writeFileSync(files['b.log'], '');
    s = await startServer({ apps: { 'log-view': { urls: ['/admin/lv'], refresh: REFRESH, token, files } } });
    ctx = contexts(s.server);
  });
  after(async () => {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a viewer and takes its first message, the list of files. */
  async function viewer(query = `?token=${token}`, options) {
    const ws = await open(lv(query), options);
    const first = await nextJson(ws);
    assert.equal(first.type, 'files');
    assert.deepEqual(first.files, ['a.log', 'b.log', 'later.log']);
    ws.log = first.log;
    return ws;
  }

  /** Collects the text of data messages until it holds `want` (bounded). */
  async function textUntil(ws, want, ms = 3000) {
    let text = '';
    const deadline = Date.now() + ms;
    while (!text.includes(want)) {
      const m = await nextJson(ws, Math.max(1, deadline - Date.now()));
      if (m.type === 'data') text += m.text;
    }
    return text;
  }

  test('refuses with 403 without the token, 404 for a log it does not list, 404 as a plain module', async () => {
    assert.equal(await refusal(lv()), 403);
    assert.equal(await refusal(lv('?token=wrong')), 403);
    assert.equal(await refusal(lv(`?token=${'x'.repeat(token.length)}`)), 403, 'a wrong token of the right length');
    assert.equal(await refusal(lv(`?token=${token}x`)), 403);
    assert.equal(await refusal(lv('?log=nope.log')), 403, 'no token: 403 before the name is even looked at');
    assert.equal(await refusal(lv(`?token=${token}&log=nope.log`)), 404);
    assert.equal(await refusal(lv(`?token=${token}&log=${encodeURIComponent(files['a.log'])}`)), 404, 'a path is not a name');
    assert.equal(await refusal(lv(`?token=${token}&log=../a.log`)), 404);
    assert.equal(await refusal(lv(`?token=${token}&log=__proto__`)), 404);
    assert.equal(await refusal(lv(`?token=${token}&log=`)), 404);
    assert.equal(await refusal(`${s.url}/log-view?token=${token}`), 404, 'not reachable as modules/log-view.js');
  });

  test('accepts the token as a cookie', async () => {
    const ws = await viewer('', { headers: { Cookie: `other=1; token=${encodeURIComponent(token)}` } });
    await closeAll(ws);
  });

  test('sends only what is appended after connecting, as valid text, even split characters', async () => {
    const ws = await viewer();
    try {
      assert.equal(ws.log, 'a.log', 'the first configured file by default');
      await ticks(2);
      await nothingFor(ws, 0, 'what was written before is not sent');
      fs.appendFileSync(files['a.log'], 'first line\nsecond line\n');
      const m = await nextJson(ws);
      assert.deepEqual(m, { type: 'data', log: 'a.log', text: 'first line\nsecond line\n' });
      // '€' is e2 82 ac: two bytes now, the last one later.
      fs.appendFileSync(files['a.log'], Buffer.from([0x61, 0xe2, 0x82]));
      assert.equal((await nextJson(ws)).text, 'a');
      await ticks(3);
      fs.appendFileSync(files['a.log'], Buffer.from([0xac, 0x0a]));
      assert.equal((await nextJson(ws)).text, '€\n');
      fs.appendFileSync(files['a.log'], Buffer.from([0x62, 0xff, 0x63, 0x0a]));
      assert.equal((await nextJson(ws)).text, 'b\ufffdc\n', 'invalid UTF-8 becomes U+FFFD');
    } finally {
      await closeAll(ws);
    }
  });

  test('follows truncation and rename-and-recreate rotation', async () => {
    const ws = await viewer();
    try {
      fs.appendFileSync(files['a.log'], 'before truncation\n');
      assert.equal(await textUntil(ws, 'before truncation\n'), 'before truncation\n');
      fs.truncateSync(files['a.log'], 0);
      fs.appendFileSync(files['a.log'], 'after\n');
      assert.deepEqual(await nextJson(ws), { type: 'reset', log: 'a.log', reason: 'truncated' });
      assert.equal(await textUntil(ws, 'after\n'), 'after\n');

      fs.renameSync(files['a.log'], `${files['a.log']}.1`);
      fs.writeFileSync(files['a.log'], 'in the new file\n');
      assert.deepEqual(await nextJson(ws), { type: 'reset', log: 'a.log', reason: 'rotated' });
      assert.equal(await textUntil(ws, 'in the new file\n'), 'in the new file\n');
      fs.appendFileSync(files['a.log'], 'and more\n');
      assert.equal(await textUntil(ws, 'and more\n'), 'and more\n');
      fs.appendFileSync(`${files['a.log']}.1`, 'the old file is no longer followed\n');
      await nothingFor(ws, REFRESH * 4);
    } finally {
      await closeAll(ws);
    }
  });

  test('rotation: what was appended to the old file before the switch is not lost', async () => {
    const ws = await viewer();
    try {
      // All in one turn of the loop: whenever the watcher looks, the old file
      // still has bytes it has not read, and the new file is already there.
      fs.renameSync(files['a.log'], `${files['a.log']}.2`);
      fs.appendFileSync(`${files['a.log']}.2`, 'last words of the old file\n');
      fs.writeFileSync(files['a.log'], 'first words of the new one\n');
      const seen = [];
      while (!seen.some((m) => m.type === 'data' && m.text.includes('first words'))) seen.push(await nextJson(ws));
      assert.deepEqual(seen.map((m) => m.type === 'data' ? m.text : m.reason),
        ['last words of the old file\n', 'rotated', 'first words of the new one\n']);
    } finally {
      await closeAll(ws);
    }
  });

  test('select switches files by name; pause and resume; two viewers share one read', async () => {
    const a = await viewer();
    const b = await viewer(`?token=${token}&log=b.log`);
    try {
      assert.equal(b.log, 'b.log');
      fs.appendFileSync(files['b.log'], 'to b\n');
      assert.deepEqual(await nextJson(b), { type: 'data', log: 'b.log', text: 'to b\n' });
      await nothingFor(a, REFRESH * 3, 'a watches a.log');

      a.send('select b.log');
      assert.deepEqual(await nextJson(a), { type: 'files', files: ['a.log', 'b.log', 'later.log'], log: 'b.log' });
      await ticks(2);
      const state = ctx.get('/admin/lv').state;
      const reads = state.reads;
      fs.appendFileSync(files['b.log'], 'to both\n');
      assert.equal((await nextJson(a)).text, 'to both\n');
      assert.equal((await nextJson(b)).text, 'to both\n');
      assert.equal(state.reads - reads, 1, 'one read for both viewers');
      fs.appendFileSync(files['a.log'], 'nobody watches a.log now\n');
      await ticks(3);
      assert.equal(state.watchers.has('a.log'), false, 'a.log has no watcher');
      assert.deepEqual(a.inbox, []);

      a.send('select /etc/passwd');
      assert.deepEqual(await nextJson(a), { type: 'error', error: 'No such log' });

      a.send('pause');
      assert.deepEqual(await nextJson(a), { type: 'paused', log: 'b.log' });
      fs.appendFileSync(files['b.log'], 'while a is paused\n');
      assert.equal((await nextJson(b)).text, 'while a is paused\n');
      await nothingFor(a, REFRESH * 3, 'a paused viewer gets nothing');
      a.send('resume');
      assert.deepEqual(await nextJson(a), { type: 'resumed', log: 'b.log' });
      fs.appendFileSync(files['b.log'], 'after resume\n');
      assert.equal((await nextJson(a)).text, 'after resume\n');
      assert.equal((await nextJson(b)).text, 'after resume\n');
      a.send('rm -rf /');
      assert.equal((await nextJson(a)).type, 'error');
    } finally {
      await closeAll(a, b);
    }
  });

  test('reads nothing and runs no timer while no one is subscribed', async () => {
    const a = await viewer();
    const state = ctx.get('/admin/lv').state;
    assert.ok(state.timer, 'a timer while someone watches');
    a.send('pause');
    await nextJson(a);
    assert.equal(state.timer, null, 'paused: no subscriber, no timer');
    assert.equal(state.watchers.size, 0);
    a.send('resume');
    await nextJson(a);
    assert.ok(state.timer);
    await closeAll(a);
    await waitUntil(() => state.timer === null, 2000, 'the timer to stop when the last viewer leaves');
    const { reads, checks } = state;
    fs.appendFileSync(files['a.log'], 'nobody is watching\n');
    fs.appendFileSync(files['b.log'], 'nobody is watching\n');
    await ticks(5);
    assert.equal(state.reads, reads, 'no reads');
    assert.equal(state.checks, checks, 'no checks');
    assert.equal(state.watchers.size, 0);

    // The next viewer starts at the end again: nothing written meanwhile.
    const b = await viewer();
    try {
      assert.ok(state.timer, 'the timer starts again');
      await nothingFor(b, REFRESH * 3, 'what was written while no one watched is not sent');
      fs.appendFileSync(files['a.log'], 'now someone is\n');
      assert.equal((await nextJson(b)).text, 'now someone is\n');
    } finally {
      await closeAll(b);
    }
  });

  test('a file that does not exist yet is read from its start once it appears', async () => {
    const ws = await viewer(`?token=${token}&log=later.log`);
    try {
      await nothingFor(ws, REFRESH * 3);
      fs.writeFileSync(files['later.log'], 'hello from a new file\n');
      assert.deepEqual(await nextJson(ws), { type: 'reset', log: 'later.log', reason: 'created' });
      assert.equal(await textUntil(ws, 'hello from a new file\n'), 'hello from a new file\n');
    } finally {
      await closeAll(ws);
    }
  });

  test('a large append arrives whole, in reads of at most 1 MiB', { timeout: 20000 }, async () => {
    const ws = await viewer();
    try {
      const line = 'x'.repeat(1023) + '\n';
      const big = line.repeat(3 * 1024 + 7); // about 3 MiB
      fs.appendFileSync(files['a.log'], big);
      let text = '';
      let largest = 0;
      while (text.length < big.length) {
        const m = await nextJson(ws, 5000);
        if (m.type !== 'data') continue;
        largest = Math.max(largest, Buffer.byteLength(m.text));
        text += m.text;
      }
      assert.equal(text, big);
      assert.ok(largest <= 1024 * 1024, `largest chunk ${largest} bytes`);
    } finally {
      await closeAll(ws);
    }
  });

  test('an allowed address needs no token; others still do', async () => {
    const allowed = await startServer({ apps: { 'log-view': { urls: ['/lv'], refresh: REFRESH, allow: ['127.0.0.1'], files } } });
    const elsewhere = await startServer({ apps: { 'log-view': { urls: ['/lv'], refresh: REFRESH, allow: ['10.0.0.9'], files } } });
    try {
      const ws = await open(`${allowed.url}/lv`);
      assert.equal((await nextJson(ws)).type, 'files');
      await closeAll(ws);
      assert.equal(await refusal(`${allowed.url}/lv?log=nope`), 404);
      assert.equal(await refusal(`${elsewhere.url}/lv`), 403);
      assert.equal(await refusal(`${elsewhere.url}/lv?token=${token}`), 403, 'no token is configured: none is accepted');
    } finally {
      await allowed.close();
      await elsewhere.close();
    }
  });
});

// ---------------------------------------------------------------------------

describe('runserver.js --config', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-runserver-config-'));
  const children = new Set();
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function spawnServer(args) {
    const child = spawn(process.execPath, [path.join(root, 'runserver.js'), ...args], { cwd: root });
    children.add(child);
    child.out = '';
    child.err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { child.out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { child.err += d; });
    child.exited = new Promise((resolve) => child.on('exit', (code) => { children.delete(child); resolve(code); }));
    return child;
  }

  async function run(args) {
    const child = spawnServer(args);
    const code = await withTimeout(child.exited, 20000, 'runserver to exit');
    return { code, stdout: child.out, stderr: child.err };
  }

  const write = (name, content) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };

  test('an unknown key exits 2 naming it', async () => {
    let r = await run([`--config=${write('unknown.json', { server: { prot: 1 } })}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^runserver: .*unknown\.json: unknown key "server\.prot" \(did you mean "port"\?\)$/m);
    r = await run([`--config=${write('unknown-app-key.json', { apps: { chat: { urls: ['/c'], refresh: 5 } } })}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /apps\.chat\.refresh is not a setting of this application/);
  });

  test('a wrong type exits 2 naming the key', async () => {
    let r = await run([`--config=${write('type.json', { port: 'eighty' })}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^runserver: .*type\.json: port must be an integer from 0 to 65535 \(received 'eighty'\)$/m);
    r = await run([`--config=${write('app-type.json', { apps: { 'log-view': { urls: ['/lv'], refresh: 'often', token: 't', files: { a: '/a' } } } })}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /app-type\.json: apps\.log-view\.refresh must be a number \(received 'often'\)/);
    r = await run([`--config=${write('bad.json', '{ "port": 8080,, }')}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.json: not valid JSON/);
    r = await run(['--config=/no/such/file.json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read config file \/no\/such\/file\.json: no such file/);
  });

  test('a config file serves its apps at their URLs; the command line overrides it', { timeout: 60000 }, async () => {
    const file = write('good.json', { server: { port: 1, host: '127.0.0.1', log: true }, apps: { chat: { urls: ['/websocket/chat', '/team/chat'] } } });
    const child = spawnServer([`--config=${file}`, '--port=0', '--no-log']);
    const re = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//;
    // The app lines follow the listening line, possibly in a later chunk.
    await waitUntil(() => /app chat/.test(child.out) || child.exitCode !== null, 30000, 'runserver to list its apps');
    assert.match(child.out, re, child.err);
    const port = Number(re.exec(child.out)[1]);
    assert.notEqual(port, 1, '--port overrides the file');
    assert.match(child.out, /app chat \(chat\.js\): ws:\/\/127\.0\.0\.1:\d+\/websocket\/chat, ws:\/\/127\.0\.0\.1:\d+\/team\/chat/);
    const a1 = await open(`ws://127.0.0.1:${port}/websocket/chat`);
    const a2 = await open(`ws://127.0.0.1:${port}/websocket/chat`);
    const b = await open(`ws://127.0.0.1:${port}/team/chat`);
    try {
      a1.send('across the process');
      assert.equal(await next(a2), '127.0.0.1: across the process');
      await nothingFor(b, 200, 'the other URL is another room');
      assert.doesNotMatch(child.out, /\[info\]/, '--no-log overrides "log": true');
    } finally {
      await closeAll(a1, a2, b);
      child.kill('SIGTERM');
      assert.equal(await withTimeout(child.exited, 10000, 'runserver to exit'), 0);
    }
  });
});
