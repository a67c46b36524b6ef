'use strict';

// runserver.js --workers: a primary and its worker processes on one port,
// as a user runs them (real processes, real sockets, the ws client).

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('child_process');
const path = require('path');
const WebSocket = require('ws');
const { withTimeout, waitUntil } = require('./helpers');

const root = path.join(__dirname, '..');
const runserver = path.join(root, 'runserver.js');
const modules = path.join(__dirname, 'fixtures', 'modules');
const ALL_LISTENING_RE = /all (\d+) workers listening on port (\d+)/;

const children = new Set();
const clients = new Set();
after(() => {
  for (const ws of clients) ws.terminate();
  for (const child of children) child.kill('SIGKILL');
});

function spawnServer(args) {
  const child = spawn(process.execPath, [runserver, ...args], { cwd: root });
  children.add(child);
  child.out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { child.out += d; });
  child.stderr.on('data', (d) => { child.out += d; });
  child.exited = new Promise((resolve) => {
    child.on('close', (code, signal) => { // 'close': all output is in
      children.delete(child);
      resolve({ code, signal, output: child.out });
    });
  });
  return child;
}

/** Starts a primary with n workers on a free port; resolves { child, port }. */
async function startWorkers(n, extra = []) {
  const child = spawnServer([`--workers=${n}`, '--port=0', '--host=127.0.0.1', `--modules=${modules}`, ...extra]);
  await waitUntil(() => ALL_LISTENING_RE.test(child.out) || child.exitCode !== null, 30000, 'the workers to listen');
  const m = ALL_LISTENING_RE.exec(child.out);
  if (!m) throw new Error(`the workers did not start:\n${child.out}`);
  return { child, port: Number(m[2]) };
}

async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  return withTimeout(child.exited, 15000, 'the primary to exit');
}

/** A client of the workers fixture: resolves with it and its hello { id, pid, worker }; later messages in ws.got. */
function connect(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/workers`);
  clients.add(ws);
  ws.got = [];
  ws.on('close', () => clients.delete(ws));
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('message', (data) => {
      ws.hello = JSON.parse(String(data));
      ws.on('message', (d, isBinary) => ws.got.push(isBinary ? `binary:${d.toString()}` : String(d)));
      resolve(ws);
    });
  }), 5000, 'a connection and its hello');
}

/** Opens connections until each of the n workers serves at least `each` of them (SO_REUSEPORT spreads them). */
async function connectToEvery(port, n, each, max = 200) {
  const all = [];
  const count = () => {
    const per = new Map();
    for (const ws of all) per.set(ws.hello.pid, (per.get(ws.hello.pid) || 0) + 1);
    return per;
  };
  while (all.length < max) {
    all.push(await connect(port));
    const per = count();
    if (per.size === n && [...per.values()].every((k) => k >= each)) return all;
  }
  throw new Error(`after ${max} connections the workers served ${JSON.stringify([...count()])}`);
}

function send(ws, object) {
  ws.send(typeof object === 'string' ? object : JSON.stringify(object));
}

async function subscribe(ws, name) {
  const before = ws.got.length;
  send(ws, { subscribe: name });
  await waitUntil(() => ws.got.slice(before).includes(JSON.stringify({ subscribed: name })), 5000, `${name} subscribed`);
  ws.got.length = 0;
}

test('--workers=2 serves clients on one port from both workers, with connection ids unique across them', async () => {
  const { child, port } = await startWorkers(2);
  try {
    const all = await connectToEvery(port, 2, 3);
    for (let i = all.length; i < 40; i++) all.push(await connect(port));
    const pids = new Set(all.map((ws) => ws.hello.pid));
    assert.equal(pids.size, 2, 'two worker processes served the connections');
    assert.ok(!pids.has(child.pid), 'the primary serves no client');
    const ids = all.map((ws) => ws.hello.id);
    assert.equal(new Set(ids).size, ids.length, `ids are unique: ${ids}`);
    for (const ws of all) {
      assert.ok(Number.isSafeInteger(ws.hello.id) && ws.hello.id > 0);
      assert.equal((ws.hello.id - 1) % 2, ws.hello.worker, 'worker i of 2 hands out ids i + 1, i + 3, ...');
    }
    // Each worker answers its own clients.
    for (const ws of all.slice(0, 6)) {
      send(ws, `echo ${ws.hello.id}`);
      await waitUntil(() => ws.got.includes(`echo ${ws.hello.id}`), 5000, 'the echo');
    }
    for (const ws of all) ws.close();
  } finally {
    const r = await stop(child);
    assert.equal(r.code, 0, r.output);
  }
});

test('a multicast reaches a subscriber on every worker exactly once, in publisher order, never the excluded connection', async () => {
  const { child, port } = await startWorkers(2);
  try {
    const all = await connectToEvery(port, 2, 2);
    for (const ws of all) await subscribe(ws, 'room');
    const byWorker = [0, 1].map((w) => all.filter((ws) => ws.hello.worker === w));
    const publishers = [byWorker[0][0], byWorker[1][0]];
    const N = 50;
    for (let i = 0; i < N; i++) {
      for (const p of publishers) send(p, { multicast: 'room', message: `${p.hello.worker}:${i}`, exclude: true });
    }
    send(publishers[0], { binary: 'room', message: 'bytes' });
    const expected = (ws) => publishers.filter((p) => p !== ws).length * N + 1;
    await waitUntil(() => all.every((ws) => ws.got.length >= expected(ws)), 10000, 'every subscriber to get every message');
    await new Promise((resolve) => setTimeout(resolve, 300)); // anything extra would arrive now
    for (const ws of all) {
      assert.equal(ws.got.length, expected(ws), `exactly once (worker ${ws.hello.worker}, id ${ws.hello.id})`);
      assert.ok(ws.got.includes('binary:bytes'), 'the binary multicast arrives as binary on every worker');
      for (const p of publishers) {
        const fromP = ws.got.filter((m) => m.startsWith(`${p.hello.worker}:`));
        if (ws === p) {
          assert.deepEqual(fromP, [], 'the excluded publisher never gets its own message, from any worker');
        } else {
          assert.deepEqual(fromP, Array.from({ length: N }, (_, i) => `${p.hello.worker}:${i}`), 'in publisher order');
        }
      }
    }
    // A connection not subscribed gets nothing.
    const outsider = await connect(port);
    send(publishers[1], { multicast: 'room', message: 'late', exclude: true });
    await waitUntil(() => publishers[0].got.includes('late'), 5000, 'the late message');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(outsider.got, []);
    for (const ws of [...all, outsider]) ws.close();
  } finally {
    const r = await stop(child);
    assert.equal(r.code, 0, r.output);
  }
});

test('without Redis, subscribersEverywhere() counts the subscribers of every worker and subscribers() those of its own', async () => {
  const { child, port } = await startWorkers(2);
  try {
    const all = await connectToEvery(port, 2, 2);
    const byWorker = [0, 1].map((w) => all.filter((ws) => ws.hello.worker === w));
    await subscribe(byWorker[0][0], 'news');
    await subscribe(byWorker[0][1], 'news');
    await subscribe(byWorker[1][0], 'news');
    const ask = async (ws, name) => {
      const before = ws.got.length;
      send(ws, { count: name });
      await waitUntil(() => ws.got.length > before, 5000, 'the count');
      return JSON.parse(ws.got[before]);
    };
    assert.deepEqual(await ask(byWorker[0][0], 'news'), { everywhere: 3, here: 2 });
    assert.deepEqual(await ask(byWorker[1][1], 'news'), { everywhere: 3, here: 1 });
    assert.deepEqual(await ask(byWorker[1][1], 'nobody'), { everywhere: 0, here: 0 });
    for (const ws of all) ws.close();
  } finally {
    const r = await stop(child);
    assert.equal(r.code, 0, r.output);
  }
});

test('multicasts to a worker whose loop is stuck wait within a bound: past it they are dropped, counted and logged, and it recovers', { timeout: 60000 }, async () => {
  // The engine's own bound per subscriber is set out of the way: this is about the channel's.
  const { child, port } = await startWorkers(2, ['--max-backpressure=268435456', '--max-buffered-amount=268435456']);
  try {
    const all = await connectToEvery(port, 2, 1);
    const stuck = all.find((ws) => ws.hello.worker === 0);
    const publisher = all.find((ws) => ws.hello.worker === 1);
    await subscribe(stuck, 'flood');
    const COUNT = 12000;
    const SIZE = 8192; // 12,000 × 8 KiB × 2 (a string's bytes) is about 200 MiB: past the primary's 64 MiB bound
    send(stuck, { block: 8000 });
    await waitUntil(() => stuck.got.some((t) => t.startsWith('{"blocking"')), 5000, 'the worker to block');
    stuck.got.length = 0;
    // About 80 MB/s: slow enough for the primary to take it all, done well within the 8 s the worker is stuck.
    send(publisher, { flood: 'flood', count: COUNT, size: SIZE, turn: 5, pause: 1 });
    await waitUntil(() => publisher.got.some((t) => t.startsWith('{"flooded"')), 30000, 'the flood to be published');
    await waitUntil(() => /multicasts to worker 0 \(pid \d+\): the channel drained; \d+ multicasts dropped while it was full/.test(child.out), 30000, 'the drain to be logged');
    assert.match(child.out, /multicasts to worker 0 \(pid \d+\): \d+ multicasts \(\d+ MiB\) wait on the channel; dropping until it drains/);
    const dropped = Number(/worker 0 \(pid \d+\): the channel drained; (\d+) multicasts dropped/.exec(child.out)[1]);
    assert.doesNotMatch(child.out, /multicasts to the primary: .*dropping/, 'the publisher never had to drop');
    assert.ok(dropped > 0 && dropped < COUNT, `dropped ${dropped}`);
    await waitUntil(() => stuck.got.length >= COUNT - dropped, 30000, `the ${COUNT - dropped} that were kept`).catch((err) => {
      throw new Error(`${err.message}: got ${stuck.got.length}\n${child.out.split('\n').filter((l) => /drop|drain|error/.test(l)).join('\n')}`);
    });
    const seq = stuck.got.map((t) => Number(t.slice(0, t.indexOf(' '))));
    assert.ok(seq.every((n, i) => i === 0 || n > seq[i - 1]), 'what arrives is in publisher order');
    assert.ok(stuck.got.every((t) => t.length === SIZE), 'whole messages only');
    // Afterwards the channel carries multicasts again, none lost.
    stuck.got.length = 0;
    send(publisher, { multicast: 'flood', message: 'after' });
    await waitUntil(() => stuck.got.includes('after'), 5000, 'a multicast after the drain');
    for (const ws of all) ws.close();
  } finally {
    const r = await stop(child);
    assert.equal(r.code, 0, r.output);
  }
});

test('a killed worker is restarted (and logged) while the other keeps serving its clients', async () => {
  const { child, port } = await startWorkers(2);
  try {
    const all = await connectToEvery(port, 2, 1);
    const victim = all.find((ws) => ws.hello.worker === 0);
    const survivor = all.find((ws) => ws.hello.worker === 1);
    const closed = new Promise((resolve) => victim.once('close', resolve));
    process.kill(victim.hello.pid, 'SIGKILL');
    await withTimeout(closed, 5000, 'the killed worker\'s client to see the end');
    send(survivor, 'still here');
    await waitUntil(() => survivor.got.includes('still here'), 5000, 'the other worker to answer');
    const restarted = new RegExp(`worker 0 \\(pid ${victim.hello.pid}\\) exited with signal SIGKILL; restarting it in \\d+ ms`);
    await waitUntil(() => restarted.test(child.out), 5000, 'the restart to be logged');
    const back = /worker 0 \(pid (\d+)\) listening on port (\d+)/g;
    await waitUntil(() => [...child.out.matchAll(back)].length >= 2, 10000, 'worker 0 to listen again');
    const again = [...child.out.matchAll(back)][1];
    assert.notEqual(Number(again[1]), victim.hello.pid);
    assert.equal(Number(again[2]), port, 'on the same port');
    // New clients reach the new worker 0 too.
    let fresh = null;
    for (let i = 0; i < 100 && fresh === null; i++) {
      const ws = await connect(port);
      if (ws.hello.worker === 0) fresh = ws;
      else ws.close();
    }
    assert.ok(fresh !== null, 'a new client reached the restarted worker');
    assert.equal(fresh.hello.pid, Number(again[1]));
    send(survivor, 'and still');
    await waitUntil(() => survivor.got.includes('and still'), 5000, 'the survivor to answer after the restart');
    assert.equal(survivor.readyState, WebSocket.OPEN, 'the other worker\'s client was never disturbed');
  } finally {
    const r = await stop(child);
    assert.equal(r.code, 0, r.output);
  }
});

test('SIGTERM under load closes every client with 1001 within the bound and the primary exits 0', async () => {
  const closeTimeout = 2000;
  const { child, port } = await startWorkers(2, [`--close-timeout=${closeTimeout}`]);
  const all = await connectToEvery(port, 2, 5);
  const codes = all.map((ws) => new Promise((resolve) => ws.once('close', (code) => resolve(code))));
  let sending = true;
  const load = setInterval(() => {
    if (!sending) return;
    for (const ws of all) if (ws.readyState === WebSocket.OPEN) for (let i = 0; i < 20; i++) ws.send('load');
  }, 5);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const t0 = Date.now();
  child.kill('SIGTERM');
  try {
    const got = await withTimeout(Promise.all(codes), closeTimeout + 2000, 'every client to be closed');
    assert.deepEqual(got, all.map(() => 1001), 'every client gets 1001 Going Away');
    const r = await withTimeout(child.exited, closeTimeout + 4000, 'the primary to exit');
    assert.equal(r.code, 0, r.output);
    assert.ok(Date.now() - t0 < closeTimeout + 4000, 'within the bound');
  } finally {
    sending = false;
    clearInterval(load);
  }
});

test('the primary collects a snapshot from every worker, and gives up on a worker that does not answer', async () => {
  const { Primary } = require('../lib/workers');
  const { createLogger } = require('../lib/log');
  const lines = [];
  const primary = new Primary({
    count: 2, script: runserver, port: 0, closeTimeout: 2000,
    args: ['--port=0', '--host=127.0.0.1', `--modules=${modules}`, '--no-log'],
    log: createLogger({ sinks: [{ write: (r) => lines.push(r.line) }] }),
  });
  const port = await withTimeout(new Promise((resolve) => primary.once('listening', resolve).start()), 30000, 'the workers');
  try {
    const all = await connectToEvery(port, 2, 1); // each worker has loaded the fixture module, which registers its producers
    const results = await withTimeout(new Promise((resolve) => primary.collect('test', resolve)), 3000, 'collect');
    assert.deepEqual(results.map((r) => r.index), [0, 1]);
    for (const r of results) {
      assert.equal(r.pid, primary.workers[r.index].pid);
      assert.equal(r.data.pid, r.pid);
      assert.equal(r.data.served, all.filter((ws) => ws.hello.worker === r.index).length);
    }
    const unknown = await new Promise((resolve) => primary.collect('nothing-registered', resolve));
    assert.deepEqual(unknown.map((r) => r.data), [null, null]);
    const t0 = Date.now();
    const silent = await new Promise((resolve) => primary.collect('never', resolve, 300));
    assert.deepEqual(silent, []);
    assert.ok(Date.now() - t0 >= 290, 'it waited for the timeout');
    for (const ws of all) ws.close();
  } finally {
    const ok = await withTimeout(new Promise((resolve) => primary.shutdown(resolve)), 10000, 'the shutdown');
    assert.equal(ok, true, lines.join('\n'));
  }
  assert.ok(lines.some((l) => /worker 1 \(pid \d+\) listening on port \d+/.test(l)));
});

test('workers without Redis share one store held by the primary: writes from one worker are read from the other, in order', async () => {
  const { Primary } = require('../lib/workers');
  const { serveStore } = require('../lib/workers-store');
  const { createLogger } = require('../lib/log');
  // An in-process store as the primary holds it (async methods over a Map).
  class MemoryStore {
    constructor() { this.lists = new Map(); }
    async rpush(key, value) { const l = this.lists.get(key) || []; l.push(value); this.lists.set(key, l); return l.length; }
    async lrange(key) { return [...(this.lists.get(key) || [])]; }
  }
  const primary = new Primary({
    count: 2, script: runserver, port: 0, closeTimeout: 2000,
    args: ['--port=0', '--host=127.0.0.1', `--modules=${modules}`, '--no-log'],
    log: createLogger({ enabled: false }),
  });
  serveStore(primary, new MemoryStore());
  const port = await withTimeout(new Promise((resolve) => primary.once('listening', resolve).start()), 30000, 'the workers');
  try {
    const all = await connectToEvery(port, 2, 1);
    const a = all.find((ws) => ws.hello.worker === 0);
    const b = all.find((ws) => ws.hello.worker === 1);
    const ask = async (ws, store) => {
      const before = ws.got.length;
      send(ws, { store });
      await waitUntil(() => ws.got.length > before, 5000, `the answer to ${store[0]}`);
      return JSON.parse(ws.got[before]);
    };
    for (let i = 0; i < 5; i++) send(a, { store: ['rpush', 'history', `a${i}`] }); // not awaited one by one: the channel keeps their order
    await waitUntil(() => a.got.length === 5, 5000, 'the five answers');
    assert.deepEqual(a.got.map((m) => JSON.parse(m)), [1, 2, 3, 4, 5].map((n) => ({ stored: n })), 'answered in the order made');
    a.got.length = 0;
    assert.deepEqual(await ask(b, ['rpush', 'history', 'b0']), { stored: 6 });
    assert.deepEqual(await ask(b, ['lrange', 'history']), { stored: ['a0', 'a1', 'a2', 'a3', 'a4', 'b0'] });
    assert.deepEqual(await ask(a, ['lrange', 'history']), { stored: ['a0', 'a1', 'a2', 'a3', 'a4', 'b0'] });
    assert.deepEqual(await ask(a, ['drop', 'history']), { storeError: 'the store has no operation "drop"' });
    assert.deepEqual(await ask(a, ['hasOwnProperty', 'lists']), { storeError: 'the store has no operation "hasOwnProperty"' });
    for (const ws of all) ws.close();
  } finally {
    await withTimeout(new Promise((resolve) => primary.shutdown(resolve)), 10000, 'the shutdown');
  }
});

/** The samples of GET /metrics on port: 'name{labels}' -> value. */
function scrape(port) {
  const http = require('http');
  return withTimeout(new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const m = new Map();
        for (const line of body.split('\n')) {
          const s = /^(\S+) (\S+)$/.exec(line);
          if (s && !line.startsWith('#')) m.set(s[1], Number(s[2]));
        }
        resolve(m);
      });
    }).on('error', reject);
  }), 5000, 'a scrape');
}

test('without Redis the chatroom is one room across workers: nicknames, topic, history, and a dead worker frees its nicknames', async () => {
  const child = spawnServer(['--workers=2', '--port=0', '--host=127.0.0.1', '--metrics=127.0.0.1:0', '--status-interval=0']);
  try {
    await waitUntil(() => ALL_LISTENING_RE.test(child.out) || child.exitCode !== null, 30000, 'the workers to listen');
    const port = Number(ALL_LISTENING_RE.exec(child.out)[2]);
    const metricsPort = Number(/^ {2}metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/m.exec(child.out)[1]);
    const open = (key) => scrape(metricsPort).then((m) => m.get(`nodewebsocket_resource_connections_open{resource="chatroom",worker="${key}"}`) || 0);
    // Which worker a chatroom client is on: the one whose chatroom count grows (the primary's /metrics, per worker).
    const onWorker = async (w) => {
      for (let i = 0; i < 100; i++) {
        const before = [await open(0), await open(1)];
        const ws = new WebSocket(`ws://127.0.0.1:${port}/chatroom`);
        clients.add(ws);
        ws.got = [];
        ws.on('message', (d) => ws.got.push(JSON.parse(String(d))));
        await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 5000, 'a chatroom client');
        let now;
        await waitUntil(async () => {
          now = [await open(0), await open(1)];
          return now[0] + now[1] === before[0] + before[1] + 1;
        }, 5000, 'the new connection to be counted');
        if (now[w] === before[w] + 1) return ws;
        ws.close();
        await waitUntil(async () => (await open(1 - w)) === before[1 - w], 5000, 'the extra connection to be closed');
      }
      throw new Error(`no chatroom client reached worker ${w}`);
    };
    const join = async (ws, nick) => {
      ws.send(`NICK ${nick}`);
      await waitUntil(() => ws.got.some((m) => m.type === 'RPL_WELCOME' || m.type === 'ERROR'), 5000, `${nick} to join`);
      return ws;
    };
    const alice = await join(await onWorker(0), 'alice');
    const bob = await join(await onWorker(1), 'bob');
    assert.deepEqual(bob.got.find((m) => m.type === 'RPL_WELCOME'), { type: 'RPL_WELCOME', nick: 'bob', users: 2 }, 'bob sees alice, on the other worker');
    await waitUntil(() => alice.got.some((m) => m.type === 'JOIN' && m.nick === 'bob'), 5000, 'alice to see bob join');

    const taken = await join(await onWorker(1), 'Alice');
    assert.equal(taken.got.find((m) => m.type === 'ERROR').code, 'ERR_NICKNAMEINUSE', 'a nickname is taken on every worker');
    taken.close();

    alice.send('TOPIC one room, two workers');
    await waitUntil(() => bob.got.some((m) => m.type === 'TOPIC' && m.topic === 'one room, two workers'), 5000, 'bob to see the topic');
    alice.send('MSG hello from worker 0');
    await waitUntil(() => bob.got.some((m) => m.type === 'MSG' && m.text === 'hello from worker 0'), 5000, 'bob to hear alice');
    bob.send('MSG hello from worker 1');
    await waitUntil(() => alice.got.some((m) => m.type === 'MSG' && m.text === 'hello from worker 1'), 5000, 'alice to hear bob');
    bob.send('USERS');
    await waitUntil(() => bob.got.some((m) => m.type === 'RPL_USERS'), 5000, 'the user list');
    assert.deepEqual(bob.got.find((m) => m.type === 'RPL_USERS').nicks.sort(), ['alice', 'bob']);

    const carol = await join(await onWorker(0), 'carol');
    assert.deepEqual(carol.got.filter((m) => m.history).map((m) => m.text), ['hello from worker 0', 'hello from worker 1'],
      'the history of both workers');
    assert.equal(carol.got.find((m) => m.type === 'TOPIC').topic, 'one room, two workers');
    assert.equal(carol.got.find((m) => m.type === 'RPL_WELCOME').users, 3);
    carol.close();
    await waitUntil(() => bob.got.some((m) => m.type === 'PART' && m.nick === 'carol'), 5000, 'bob to see carol leave');

    // Worker 1 killed: bob's entry stays in the primary's store, but its owner is gone, so the name is free.
    const pid1 = Number(/worker 1 \(pid (\d+)\) listening/.exec(child.out)[1]);
    const bobClosed = new Promise((resolve) => bob.once('close', resolve));
    process.kill(pid1, 'SIGKILL');
    await withTimeout(bobClosed, 5000, 'bob to be cut off');
    await waitUntil(() => /worker 1 \(pid \d+\) exited with signal SIGKILL/.test(child.out), 5000, 'the primary to see the death');
    const again = await join(await onWorker(0), 'bob');
    assert.deepEqual(again.got.find((m) => m.type === 'RPL_WELCOME'), { type: 'RPL_WELCOME', nick: 'bob', users: 2 },
      'the dead worker\'s bob is free again, and alice is still there');
    alice.send('USERS');
    await waitUntil(() => alice.got.some((m) => m.type === 'RPL_USERS' && m.nicks.length === 2), 5000, 'the user list');
    for (const ws of [alice, again]) ws.close();
  } finally {
    const r = await stop(child);
    assert.equal(r.code, 0, r.output);
  }
});

test('when no worker can listen (the port is taken), the primary says so and exits with the worker\'s code', async () => {
  const net = require('net');
  const taken = net.createServer();
  await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const child = spawnServer(['--workers=2', `--port=${taken.address().port}`, '--host=127.0.0.1', `--modules=${modules}`]);
    const r = await withTimeout(child.exited, 15000, 'the primary to exit');
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /address already in use|EADDRINUSE/i);
    assert.match(r.output, /worker [01] \(pid \d+\) exited with code 1 before listening; stopping/);
  } finally {
    taken.close();
  }
});

test('SIGTERM while the workers are still starting: each is ended and the primary exits 0 without waiting out closeTimeout', async () => {
  const child = spawnServer(['--workers=2', '--port=0', '--host=127.0.0.1', `--modules=${modules}`, '--close-timeout=10000']);
  await waitUntil(() => /primary \(pid \d+\) starting 2 workers/.test(child.out), 10000, 'the primary to start');
  child.kill('SIGTERM'); // worker 0 is loading: it does not listen to its IPC channel yet
  const t0 = Date.now();
  const r = await withTimeout(child.exited, 15000, 'the primary to exit');
  assert.equal(r.code, 0, r.output);
  assert.doesNotMatch(r.output, /did not close in time/);
  assert.ok(Date.now() - t0 < 10000, `the workers were not waited for until the kill: ${Date.now() - t0} ms`);
});

test('--workers=0 and --workers=abc exit 2 with a message naming the option', async () => {
  for (const value of ['0', 'abc', '-1']) {
    const child = spawnServer([`--workers=${value}`, '--port=0']);
    const r = await withTimeout(child.exited, 10000, 'runserver to exit');
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /--workers must be a number of worker processes from 1 to \d+, or 'auto'/);
  }
});

test('without --workers nothing changes: one process serves every client, ids 1, 2, 3', async () => {
  const child = spawnServer(['--port=0', '--host=127.0.0.1', `--modules=${modules}`, '--no-log']);
  await waitUntil(() => /listening on ws:\/\/127\.0\.0\.1:(\d+)\//.test(child.out) || child.exitCode !== null, 30000, 'listening');
  const port = Number(/listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(child.out)[1]);
  try {
    const all = [];
    for (let i = 0; i < 3; i++) all.push(await connect(port));
    assert.deepEqual(all.map((ws) => ws.hello.pid), [child.pid, child.pid, child.pid]);
    assert.deepEqual(all.map((ws) => ws.hello.worker), [null, null, null]);
    assert.deepEqual(all.map((ws) => ws.hello.id), [1, 2, 3]);
    assert.doesNotMatch(child.out, /primary|worker \d/, 'no primary, no worker');
    for (const ws of all) ws.close();
  } finally {
    const r = await stop(child);
    assert.equal(r.code, 0, r.output);
  }
});
