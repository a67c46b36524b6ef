'use strict';

// Workers and Redis together: two runserver.js primaries on two ports (as
// two machines would run them), each with --workers=2, sharing one real
// redis-server. Every worker has its own Redis fan-out, so a multicast from
// any worker reaches the subscribers of all four; the apps' state is in
// Redis. The peers are the npm ws client and headless Chromium.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');
const {
  startRedis, startRunserver, wsClient, waitUntil, withTimeout, delay,
} = require('./helpers');
const { twoTabsInOneRoom } = require('./rooms-browser');

const root = path.join(__dirname, '..');
const ALL_LISTENING_RE = /all 2 workers listening on port (\d+)/;

// One modules folder with the shipped chat and chatroom and the workers
// fixture (it says which worker serves a connection): links, so each is the real file.
const modulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-workers-redis-'));
for (const [name, from] of [['chat.js', 'modules/chat.js'], ['chatroom.js', 'modules/chatroom.js'],
  ['workers.js', 'test/fixtures/modules/workers.js']]) {
  fs.symlinkSync(path.join(root, from), path.join(modulesDir, name));
}

let redis;
const servers = [];
const clients = new Set();
let a;
let b;

before(async () => {
  redis = await startRedis();
  for (const name of ['a', 'b']) {
    const s = await startRunserver(['--workers=2', `--redis=${redis.url}`, `--modules=${modulesDir}`, '--status-interval=0',
      `--log-key=test.workers-redis.${name}`]);
    servers.push(s);
    await waitUntil(() => ALL_LISTENING_RE.test(s.stdout) || s.child.exitCode !== null, 20000, `server ${name}'s workers to listen`);
    assert.match(s.stdout, ALL_LISTENING_RE, s.stderr);
  }
  [a, b] = servers;
  assert.notEqual(a.port, b.port);
});

after(async () => {
  for (const ws of clients) ws.terminate();
  for (const s of servers) {
    const r = await s.stop().catch(() => s.stop('SIGKILL'));
    assert.equal(r.code, 0, `the primary exits 0 after closing its workers:\n${s.stderr}`);
  }
  if (redis) await redis.close();
  fs.rmSync(modulesDir, { recursive: true, force: true });
});

/** A client of the workers fixture on server s: resolves with it, its hello { id, pid, worker } and s; later messages in ws.got. */
function connect(s) {
  const ws = new WebSocket(`${s.url}/workers`);
  clients.add(ws);
  ws.got = [];
  ws.server = s;
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

/** Connections to s until each of its two workers serves `each` of them; the extra ones are closed. */
async function onEveryWorker(s, each) {
  const kept = [[], []];
  for (let i = 0; i < 200 && !kept.every((k) => k.length >= each); i++) {
    const ws = await connect(s);
    if (kept[ws.hello.worker].length < each) kept[ws.hello.worker].push(ws);
    else ws.close();
  }
  assert.ok(kept.every((k) => k.length >= each), `both workers of port ${s.port} reached`);
  return kept.flat();
}

const send = (ws, object) => ws.send(JSON.stringify(object));
const label = (ws) => `${ws.server === a ? 'a' : 'b'}${ws.hello.worker}`;

describe('multicast across two servers of two workers each', () => {
  test('a multicast from any worker reaches the subscribers of all four workers exactly once, in publisher order, never the excluded connection', async () => {
    const all = [...await onEveryWorker(a, 2), ...await onEveryWorker(b, 2)];
    for (const ws of all) {
      send(ws, { subscribe: 'room' });
      await waitUntil(() => ws.got.includes(JSON.stringify({ subscribed: 'room' })), 5000, 'subscribed');
    }
    // One publisher on each of the four workers; each excludes itself.
    const publishers = [];
    for (const ws of all) if (!publishers.some((p) => label(p) === label(ws))) publishers.push(ws);
    assert.deepEqual(publishers.map(label).sort(), ['a0', 'a1', 'b0', 'b1']);
    // The two servers number their connections alike: an excluded publisher's id names a connection of the
    // other server too, which must still get the message (ids are not applied across machines).
    const sameId = publishers.filter((p) => all.some((ws) => ws.server !== p.server && ws.hello.id === p.hello.id));
    assert.ok(sameId.length > 0, 'some publisher shares its id with a subscriber on the other server');

    // Redis SUBSCRIBE is asynchronous: probe until every publisher is heard everywhere.
    await waitUntil(() => {
      for (const p of publishers) send(p, { multicast: 'room', message: `probe ${label(p)}`, exclude: true });
      return all.every((ws) => publishers.every((p) => p === ws || ws.got.includes(`probe ${label(p)}`)));
    }, 10000, 'every worker to be subscribed in Redis');
    await delay(300);
    for (const ws of all) ws.got.length = 0;

    const N = 100;
    for (let i = 0; i < N; i++) for (const p of publishers) send(p, { multicast: 'room', message: `${label(p)}:${i}`, exclude: true });
    const from = (ws, p) => ws.got.filter((m) => m.startsWith(`${label(p)}:`));
    await waitUntil(() => all.every((ws) => publishers.every((p) => p === ws || from(ws, p).length >= N)), 15000,
      'every message on every worker');
    await delay(300); // a duplicate would arrive now
    const seq = (p) => Array.from({ length: N }, (_, i) => `${label(p)}:${i}`);
    for (const ws of all) {
      for (const p of publishers) {
        if (p === ws) assert.deepEqual(from(ws, p), [], `${label(p)} never gets its own message back`);
        else assert.deepEqual(from(ws, p), seq(p), `${label(ws)} (id ${ws.hello.id}) gets ${label(p)}'s messages once each, in order`);
      }
      assert.equal(ws.got.length, (publishers.includes(ws) ? 3 : 4) * N, `nothing else reached ${label(ws)}`);
    }
    for (const ws of all) ws.close();
  });
});

describe('the chat and chatroom apps across two servers of two workers each', () => {
  const texts = (ws) => ws.received.map((m) => String(m.data));

  test('chat: every message reaches every member on both servers exactly once, in order, never its sender', async () => {
    const members = [];
    for (const s of [a, b, a, b, a, b]) members.push(await wsClient(`${s.url}/chat`));
    const [a1, b1] = members;
    // Probes until a line from each server is heard on the other (SUBSCRIBE is asynchronous).
    for (const [x, y] of [[a1, b1], [b1, a1]]) {
      let i = 0;
      await waitUntil(() => {
        x.send(`probe ${i++}`);
        return texts(y).some((t) => t.includes('probe'));
      }, 10000, 'a chat line to cross between the servers');
    }
    await delay(300);
    for (const ws of members) ws.received.length = 0;
    const N = 100;
    for (let i = 0; i < N; i++) {
      a1.send(`a1 ${i}`);
      b1.send(`b1 ${i}`);
    }
    // A chat line reads '<address>: <text>'.
    const heard = (ws, who) => texts(ws).map((t) => /: (\S+) (\d+)$/.exec(t)).filter((m) => m && m[1] === who).map((m) => Number(m[2]));
    const seq = [...Array(N).keys()];
    await waitUntil(() => members.every((ws) => (ws === a1 || heard(ws, 'a1').length >= N) && (ws === b1 || heard(ws, 'b1').length >= N)),
      10000, 'every line everywhere');
    await delay(300);
    for (const ws of members) {
      if (ws !== a1) assert.deepEqual(heard(ws, 'a1'), seq, 'a1 in order, once');
      if (ws !== b1) assert.deepEqual(heard(ws, 'b1'), seq, 'b1 in order, once');
    }
    assert.deepEqual(heard(a1, 'a1'), [], 'never back to its sender');
    assert.deepEqual(heard(b1, 'b1'), [], 'never back to its sender');
    for (const ws of members) ws.close();
  });

  test('chatroom: clients on both servers share one room (nicknames, topic, history)', async () => {
    const json = (ws) => texts(ws).map((t) => JSON.parse(t));
    const open = async (s, nick) => {
      const ws = await wsClient(`${s.url}/chatroom`);
      ws.send(`NICK ${nick}`);
      await waitUntil(() => json(ws).some((m) => m.type === 'RPL_WELCOME' || m.type === 'ERROR'), 5000, `${nick} to join`);
      return ws;
    };
    const alice = await open(a, 'alice');
    const bob = await open(b, 'bob');
    assert.deepEqual(json(bob).find((m) => m.type === 'RPL_WELCOME'), { type: 'RPL_WELCOME', nick: 'bob', users: 2 });
    await waitUntil(() => json(alice).some((m) => m.type === 'JOIN' && m.nick === 'bob'), 5000, 'alice to see bob join');
    // Whichever worker of either server a newcomer lands on, the name is taken.
    for (const s of [a, b, a, b]) {
      const taken = await open(s, 'Alice');
      assert.equal(json(taken).find((m) => m.type === 'ERROR').code, 'ERR_NICKNAMEINUSE');
      taken.close();
    }
    alice.send('TOPIC four workers, one room');
    await waitUntil(() => json(bob).some((m) => m.type === 'TOPIC' && m.topic === 'four workers, one room'), 5000, 'bob to see the topic');
    alice.send('MSG hello from a');
    await waitUntil(() => json(bob).some((m) => m.type === 'MSG' && m.text === 'hello from a'), 5000, 'bob to hear alice');
    bob.send('MSG hello from b');
    await waitUntil(() => json(alice).some((m) => m.type === 'MSG' && m.text === 'hello from b'), 5000, 'alice to hear bob');
    const carol = await open(b, 'carol');
    const seen = json(carol);
    assert.deepEqual(seen.filter((m) => m.history).map((m) => m.text), ['hello from a', 'hello from b'], 'history from both servers');
    assert.equal(seen.find((m) => m.type === 'TOPIC').topic, 'four workers, one room');
    assert.equal(seen.find((m) => m.type === 'RPL_WELCOME').users, 3);
    carol.send('USERS');
    await waitUntil(() => json(carol).some((m) => m.type === 'RPL_USERS'), 5000, 'the user list');
    assert.deepEqual(json(carol).find((m) => m.type === 'RPL_USERS').nicks.sort(), ['alice', 'bob', 'carol']);
    carol.close();
    await waitUntil(() => json(alice).some((m) => m.type === 'PART' && m.nick === 'carol'), 5000, 'alice to see carol leave');
    alice.close();
    bob.close();
  });

  test('chatroom and chat pages: two Chromium tabs on two servers are in one room', { timeout: 90000 }, async () => {
    await twoTabsInOneRoom(a.port, b.port, 'one room, four workers');
  });
});
