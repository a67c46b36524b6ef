'use strict';

// Redis: the log, multicast across processes, shared chatroom state, and
// what happens when Redis goes away. A real redis-server on a free port,
// started here (never the system one); real runserver.js processes; the
// npm ws client as the peer.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const path = require('path');
const {
  startRedis, startRunserver, startServer, wsClient, wsRoundTrip, waitUntil, withTimeout, delay, withoutPreload,
} = require('./helpers');
const { twoTabsInOneRoom } = require('./rooms-browser');
const { parseRedisUrl } = require('../lib/redis');
const { encodeEnvelope, decodeEnvelope } = require('../lib/fanout/redis');

const root = path.join(__dirname, '..');

let redis;
const running = new Set();
before(async () => { redis = await startRedis(); });
after(async () => {
  for (const s of running) await s.stop('SIGKILL').catch(() => {});
  if (redis) await redis.close();
});

async function runserver(args, options) {
  const s = await startRunserver(['--status-interval=0', ...args], options);
  running.add(s);
  const stop = s.stop;
  s.stop = (signal) => { running.delete(s); return stop(signal); };
  return s;
}

const lrange = (key) => {
  const text = redis.command('LRANGE', key, '0', '-1');
  return text === '' ? [] : text.split('\n');
};

/** Opens and closes n echo clients one after the other: 2 log lines each. */
async function churn(url, n) {
  for (let i = 0; i < n; i++) {
    const ws = await wsClient(`${url}/echo`);
    ws.close();
    await ws.closed;
  }
}

/** Messages a ws client has received, as strings. */
const texts = (ws) => ws.received.map((m) => String(m.data));

describe('redis URLs', () => {
  test('redis://[:password@]host[:port][/db] and redis+unix:///path are read, the password left out of messages', () => {
    assert.deepEqual(parseRedisUrl('redis://127.0.0.1'), { url: 'redis://127.0.0.1', host: '127.0.0.1', port: 6379, password: undefined, db: 0 });
    assert.deepEqual(parseRedisUrl('redis://:s3cret@cache.local:7000/3'),
      { url: 'redis://cache.local:7000/3', host: 'cache.local', port: 7000, password: 's3cret', db: 3 });
    assert.deepEqual(parseRedisUrl('redis://[::1]:6380'), { url: 'redis://[::1]:6380', host: '::1', port: 6380, password: undefined, db: 0 });
    assert.deepEqual(parseRedisUrl('redis+unix:///run/redis/redis.sock'),
      { url: 'redis+unix:///run/redis/redis.sock', path: '/run/redis/redis.sock', password: undefined, db: 0 });
  });

  test('a bad --redis URL stops runserver.js with exit status 2 and a message naming the option', () => {
    for (const bad of ['http://127.0.0.1:6379', 'redis://127.0.0.1:70000', 'redis://127.0.0.1/db', 'redis+unix://relative.sock']) {
      const r = spawnSync(process.execPath, [path.join(root, 'runserver.js'), `--redis=${bad}`], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--redis /, bad);
    }
  });

  test('a multicast envelope survives the trip and a truncated one is refused', () => {
    const origin = Buffer.from('01234567');
    const e = decodeEnvelope(encodeEnvelope(origin, 'héllo', false, [7, 'w2-9']));
    assert.deepEqual([e.origin.toString(), e.binary, e.excludeIds, e.message.toString()], ['01234567', false, ['7', 'w2-9'], 'héllo']);
    const b = encodeEnvelope(origin, Buffer.from([0, 255, 1]), true, []);
    assert.deepEqual([...decodeEnvelope(b).message], [0, 255, 1]);
    assert.equal(decodeEnvelope(b.subarray(0, 11)), null);
    assert.equal(decodeEnvelope(encodeEnvelope(origin, 'x', false, ['abc']).subarray(0, 14)), null);
    assert.equal(decodeEnvelope(Buffer.from('just some text published by someone')), null);
  });
});

describe('the Redis log', () => {
  test('every log line reaches the list node.websocket.<host>.<port>, in the order of stdout', async () => {
    const s = await runserver([`--redis=${redis.url}`]);
    const key = `node.websocket.127.0.0.1.${s.port}`;
    await churn(s.url, 20);
    await waitUntil(() => lrange(key).length === s.logLines().length && s.logLines().length >= 40, 5000, 'the lines in Redis');
    assert.deepEqual(lrange(key), s.logLines());
    assert.match(lrange(key)[0], /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \[info\] Redis \(commands\): connected to redis:\/\/127\.0\.0\.1:\d+$/);
    await s.stop();
  });

  test('redis+unix:///path reaches Redis over its UNIX socket', async () => {
    const s = await runserver([`--redis=redis+unix://${redis.socket}`, '--log-key=test.unix']);
    await churn(s.url, 2);
    await waitUntil(() => lrange('test.unix').length === s.logLines().length, 5000, 'the lines in Redis');
    assert.deepEqual(lrange('test.unix'), s.logLines());
    assert.match(s.logLines()[0], /Redis \(commands\): connected to redis\+unix:\/\/\/.*redis\.sock$/);
    await s.stop();
  });

  test('--log-max keeps the list at its last N lines; --log-key names it', async () => {
    const s = await runserver([`--redis=${redis.url}`, '--log-max=5', '--log-key=test.trimmed']);
    await churn(s.url, 10);
    await waitUntil(() => {
      const lines = s.logLines();
      return lines.length >= 20 && lrange('test.trimmed').join('\n') === lines.slice(-5).join('\n');
    }, 5000, 'the last 5 lines in Redis');
    assert.equal(Number(redis.command('LLEN', 'test.trimmed')), 5);
    await s.stop();
  });

  test('the periodic "N clients connected" line comes every --status-interval ms', async () => {
    const s = await startRunserver([`--redis=${redis.url}`, '--status-interval=100', '--log-key=test.status']);
    running.add(s);
    const ws = await wsClient(`${s.url}/echo`);
    await waitUntil(() => lrange('test.status').filter((l) => /\[info\] 1 clients connected$/.test(l)).length >= 3, 5000,
      'three status lines');
    ws.close();
    running.delete(s);
    await s.stop();
  });

  test('Redis stopped mid-run, then back: no line lost up to --log-queue, and no client disturbed', async () => {
    const s = await runserver([`--redis=${redis.url}`, '--log-queue=100', '--log-key=test.outage']);
    const steady = await wsClient(`${s.url}/echo`);
    await churn(s.url, 3);
    await waitUntil(() => lrange('test.outage').length === s.logLines().length, 5000, 'the first lines in Redis');
    const before = s.logLines().length;
    await redis.stop(); // and its data with it: what Redis holds afterwards came from the queue
    await churn(s.url, 20); // 40 lines while Redis is away, plus the line saying it went
    assert.equal(String((await wsRoundTrip(steady, 'still here')).data), 'still here');
    await redis.start();
    await waitUntil(() => lrange('test.outage').length > 0 && lrange('test.outage').length === s.logLines().length - before,
      10000, 'the queued lines in Redis');
    const queued = s.logLines().slice(before);
    assert.deepEqual(lrange('test.outage'), queued);
    assert.ok(queued.some((l) => /\[error\] Redis \(commands\): connection to redis:\/\/127\.0\.0\.1:\d+ lost/.test(l)));
    assert.equal(queued.filter((l) => /Redis \(commands\): connection .* lost/.test(l)).length, 1, 'the loss is logged once');
    assert.equal(String((await wsRoundTrip(steady, 'and after')).data), 'and after');
    steady.close();
    await s.stop();
  });

  test('past --log-queue the oldest lines are dropped, and one line says exactly how many', async () => {
    const s = await runserver([`--redis=${redis.url}`, '--log-queue=10', '--log-key=test.dropped']);
    await waitUntil(() => lrange('test.dropped').length === s.logLines().length && s.logLines().length > 0, 5000, 'the first line');
    const before = s.logLines().length;
    await redis.stop();
    await churn(s.url, 15); // 30 lines and the one saying Redis went: 21 too many
    await redis.start();
    await waitUntil(() => lrange('test.dropped').length >= 11, 10000, 'the queued lines in Redis');
    await delay(200);
    const list = lrange('test.dropped');
    const m = /^\[[^\]]+\] \[error\] (\d+) log lines dropped while Redis was away \(log queue bound 10\)$/.exec(list[0]);
    assert.ok(m, `the first line says how many were dropped: ${list[0]}`);
    const dropped = Number(m[1]);
    const after = s.logLines().slice(before);
    assert.ok(dropped >= 21, `at least the 21 lines past the bound (${dropped})`);
    // Exactly `dropped` lines are missing, the oldest ones: the rest follow in order.
    assert.deepEqual(list.slice(1), after.slice(dropped));
    assert.equal(list.length - 1, after.length - dropped);
    await s.stop();
  });

  test('a graceful shutdown writes the queued lines before exiting', async () => {
    const s = await runserver([`--redis=${redis.url}`, '--log-key=test.shutdown']);
    await churn(s.url, 5);
    const { code } = await s.stop('SIGTERM');
    assert.equal(code, 0);
    assert.deepEqual(lrange('test.shutdown'), s.logLines());
    assert.ok(lrange('test.shutdown').some((l) => /disconnected from \/echo/.test(l)));
  });

  test('a server started while Redis is down serves clients, says so once, and writes its lines when Redis comes', async () => {
    await redis.stop();
    const s = await runserver([`--redis=${redis.url}`, '--log-key=test.late']);
    let ws;
    try {
      ws = await wsClient(`${s.url}/echo`);
      assert.equal(String((await wsRoundTrip(ws, 'served')).data), 'served');
      await delay(1500); // several retries
      const said = s.logLines().filter((l) => /cannot connect/.test(l));
      assert.equal(said.length, 2, 'once per connection (commands, pub/sub)');
      assert.match(said[0], /\[error\] Redis \((commands|pub\/sub)\): cannot connect to redis:\/\/127\.0\.0\.1:\d+ \(Connection refused\); retrying with backoff$/);
    } finally {
      await redis.start();
    }
    await waitUntil(() => lrange('test.late').length === s.logLines().length, 10000, 'the lines in Redis');
    assert.deepEqual(lrange('test.late'), s.logLines());
    ws.close();
    await s.stop();
  });
});

describe('a Redis with a password', () => {
  let locked;
  before(async () => { locked = await startRedis({ password: 's3cret' }); });
  after(() => locked.close());

  test('the password (AUTH) and the database (SELECT) in the URL are used', async () => {
    const s = await runserver([`--redis=redis://:s3cret@127.0.0.1:${locked.port}/2`, '--log-key=test.auth']);
    await churn(s.url, 2);
    await waitUntil(() => locked.command('-n', '2', 'LLEN', 'test.auth') === String(s.logLines().length), 5000, 'the lines in db 2');
    assert.deepEqual(locked.command('-n', '2', 'LRANGE', 'test.auth', '0', '-1').split('\n'), s.logLines());
    assert.equal(locked.command('EXISTS', 'test.auth'), '0', 'not in db 0');
    assert.ok(!s.stdout.includes('s3cret'), 'the password is never logged');
    await s.stop();
  });

  test('a wrong password is said once, and clients are served meanwhile', async () => {
    const s = await runserver([`--redis=redis://:n0t-1t@127.0.0.1:${locked.port}`, '--log-key=test.wrong', '--close-timeout=500']);
    const ws = await wsClient(`${s.url}/echo`);
    assert.equal(String((await wsRoundTrip(ws, 'served')).data), 'served');
    await delay(1500);
    const said = s.logLines().filter((l) => /refused the password/.test(l));
    assert.equal(said.length, 2, `once per connection: ${said.join('\n')}`);
    assert.match(said[0], /\[error\] Redis \((commands|pub\/sub)\): cannot connect to redis:\/\/127\.0\.0\.1:\d+ \(it refused the password: .*\); retrying with backoff$/);
    assert.ok(!s.stdout.includes('n0t-1t'), 'the password is never logged');
    assert.equal(locked.command('EXISTS', 'test.wrong'), '0');
    ws.close();
    await s.stop();
  });
});

test('a peer that accepts the connection but never answers AUTH is given up on and retried, and clients are served', async () => {
  const net = require('net');
  const sockets = new Set();
  const silent = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => {}); });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const s = await runserver([`--redis=redis://:pw@127.0.0.1:${silent.address().port}`, '--close-timeout=500']);
    const ws = await wsClient(`${s.url}/echo`);
    assert.equal(String((await wsRoundTrip(ws, 'served')).data), 'served');
    await waitUntil(() => s.logLines().filter((l) => /no answer to AUTH within 2000 ms/.test(l)).length === 2, 8000, 'the give-up');
    await waitUntil(() => sockets.size >= 4, 8000, 'the retries');
    ws.close();
    assert.equal((await s.stop()).code, 0);
  } finally {
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});

describe('multicast across processes through Redis', () => {
  let a;
  let b;
  before(async () => {
    a = await runserver([`--redis=${redis.url}`, '--no-log']);
    b = await runserver([`--redis=${redis.url}`, '--no-log']);
  });
  after(async () => {
    await a.stop();
    await b.stop();
  });

  /** Sends probes from one chat client until another (on the other server) hears one. */
  async function linked(from, to, ms = 10000) {
    let i = 0;
    await waitUntil(() => {
      from.send(`probe ${i++}`);
      return to.received.some((m) => String(m.data).includes('probe'));
    }, ms, 'a message to cross between the servers');
    await delay(100);
    for (const ws of [from, to]) ws.received.length = 0;
  }

  test('chat: every message reaches every member on both servers exactly once, in order, never its sender', async () => {
    const a1 = await wsClient(`${a.url}/chat`);
    const a2 = await wsClient(`${a.url}/chat`);
    const b1 = await wsClient(`${b.url}/chat`);
    const b2 = await wsClient(`${b.url}/chat`);
    await linked(a1, b1);
    await linked(b1, a1);
    for (const ws of [a1, a2, b1, b2]) ws.received.length = 0;
    const N = 200;
    for (let i = 0; i < N; i++) {
      a1.send(`a1 ${i}`);
      b2.send(`b2 ${i}`);
    }
    // A chat line reads '<address>: <text>'.
    const from = (ws, who) => texts(ws).map((t) => /: (\S+) (\d+)$/.exec(t)).filter((m) => m && m[1] === who).map((m) => Number(m[2]));
    const seq = [...Array(N).keys()];
    await waitUntil(() => [a2, b1, b2].every((ws) => from(ws, 'a1').length >= N) && [a1, a2, b1].every((ws) => from(ws, 'b2').length >= N),
      10000, 'every message everywhere');
    await delay(200); // nothing more comes: exactly once
    for (const ws of [a2, b1, b2]) assert.deepEqual(from(ws, 'a1'), seq, 'a1 in order, once');
    for (const ws of [a1, a2, b1]) assert.deepEqual(from(ws, 'b2'), seq, 'b2 in order, once');
    assert.deepEqual(from(a1, 'a1'), [], 'never back to its sender');
    assert.deepEqual(from(b2, 'b2'), [], 'never back to its sender');
    for (const ws of [a1, a2, b1, b2]) ws.close();
  });

  test('chatroom: clients on two servers share one room (nicknames, topic, history)', async () => {
    const open = async (url, nick) => {
      const ws = await wsClient(url);
      ws.send(`NICK ${nick}`);
      await waitUntil(() => texts(ws).some((t) => /RPL_WELCOME|ERROR/.test(t)), 5000, `${nick} to join`);
      return ws;
    };
    const json = (ws) => texts(ws).map((t) => JSON.parse(t));
    const alice = await open(`${a.url}/chatroom`, 'alice');
    const bob = await open(`${b.url}/chatroom`, 'bob');
    assert.deepEqual(json(bob).find((m) => m.type === 'RPL_WELCOME'), { type: 'RPL_WELCOME', nick: 'bob', users: 2 });
    await waitUntil(() => json(alice).some((m) => m.type === 'JOIN' && m.nick === 'bob'), 5000, 'alice to see bob join');

    const taken = await open(`${b.url}/chatroom`, 'Alice');
    assert.equal(json(taken).find((m) => m.type === 'ERROR').code, 'ERR_NICKNAMEINUSE', 'a nickname is taken on every server');
    taken.close();

    alice.send('TOPIC across machines');
    await waitUntil(() => json(bob).some((m) => m.type === 'TOPIC' && m.topic === 'across machines'), 5000, 'bob to see the topic');
    alice.send('MSG hello from a');
    await waitUntil(() => json(bob).some((m) => m.type === 'MSG' && m.text === 'hello from a'), 5000, 'bob to hear alice');
    bob.send('MSG hello from b'); // after alice's, so the history has one order
    await waitUntil(() => json(alice).some((m) => m.type === 'MSG' && m.text === 'hello from b'), 5000, 'alice to hear bob');
    bob.send('USERS');
    await waitUntil(() => json(bob).some((m) => m.type === 'RPL_USERS'), 5000, 'the user list');
    assert.deepEqual(json(bob).find((m) => m.type === 'RPL_USERS').nicks.sort(), ['alice', 'bob']);

    const carol = await open(`${b.url}/chatroom`, 'carol');
    const seen = json(carol);
    assert.deepEqual(seen.filter((m) => m.history).map((m) => m.text), ['hello from a', 'hello from b'], 'history from both servers');
    assert.equal(seen.find((m) => m.type === 'TOPIC').topic, 'across machines');
    assert.equal(seen.find((m) => m.type === 'RPL_WELCOME').users, 3);

    carol.close();
    await waitUntil(() => json(alice).some((m) => m.type === 'PART' && m.nick === 'carol'), 5000, 'alice to see carol leave');
    alice.close();
    bob.close();
  });

  test('chatroom and chat pages: two Chromium tabs on two servers are in one room', { timeout: 90000 }, async () => {
    await twoTabsInOneRoom(a.port, b.port, 'one room, two servers');
  });

  test("chatroom: a nickname held on a process that was killed is free again once that process's heartbeat has expired", async () => {
    const c = await runserver([`--redis=${redis.url}`, '--no-log']);
    const ws = await wsClient(`${c.url}/chatroom`);
    ws.send('NICK dave');
    await waitUntil(() => texts(ws).some((t) => t.includes('RPL_WELCOME')), 5000, 'dave to join');
    await c.stop('SIGKILL');
    const held = JSON.parse(redis.command('HGET', 'node.websocket:store:/chatroom:members', 'dave'));
    assert.equal(held.nick, 'dave');
    const tryNick = async () => {
      const w = await wsClient(`${a.url}/chatroom`);
      w.send('NICK dave');
      await waitUntil(() => texts(w).some((t) => /RPL_WELCOME|ERROR/.test(t)), 5000, 'an answer');
      const answer = texts(w).map((t) => JSON.parse(t)).find((m) => m.type === 'RPL_WELCOME' || m.type === 'ERROR');
      w.close();
      return answer;
    };
    assert.equal((await tryNick()).code, 'ERR_NICKNAMEINUSE', 'still taken while its heartbeat lasts');
    assert.equal(redis.command('DEL', `node.websocket:store:alive:${held.owner}`), '1', 'the heartbeat key, as if it had expired');
    assert.equal((await tryNick()).type, 'RPL_WELCOME', 'free once it has');
    await waitUntil(() => redis.command('HGET', 'node.websocket:store:/chatroom:members', 'dave') === '', 5000, 'dave gone again');
  });

  test('after a Redis restart the subscriptions are re-established by themselves', async () => {
    const a1 = await wsClient(`${a.url}/chat`);
    const b1 = await wsClient(`${b.url}/chat`);
    await linked(a1, b1);
    await redis.stop();
    await delay(300);
    await redis.start();
    await linked(a1, b1, 15000);
    await linked(b1, a1, 15000);
    a1.send('after the restart');
    await waitUntil(() => texts(b1).some((t) => t.endsWith(': after the restart')), 5000, 'the message after the restart');
    a1.close();
    b1.close();
  });
});

describe('multicast between two Server objects through Redis', () => {
  test('binary and text reach the other server; the excluded connection and the publisher get nothing twice', async () => {
    const a = await startServer({ redis: redis.url });
    const b = await startServer({ redis: redis.url });
    try {
      await waitUntil(() => a.server._redis.connected && b.server._redis.connected, 5000, 'Redis');
      const ca = await wsClient(`${a.url}/echo`);
      const cb = await wsClient(`${b.url}/echo`);
      const cb2 = await wsClient(`${b.url}/echo`);
      const [sa] = a.server.clients;
      const [sb, sb2] = b.server.clients;
      for (const c of [sa, sb, sb2]) c.subscribe('news');
      await waitUntil(() => {
        a.server.multicast('news', 'ping');
        return texts(cb).includes('ping');
      }, 5000, 'the subscription on both');
      await delay(100);
      for (const ws of [ca, cb, cb2]) ws.received.length = 0;
      assert.equal(a.server.subscribers('news'), 1, "subscribers() counts this process's");
      assert.equal(await a.server.subscribersEverywhere('news'), 3, 'subscribersEverywhere() counts both');
      assert.equal(await b.server.subscribersEverywhere('news'), 3);
      assert.equal(await b.server.subscribersEverywhere('nobody'), 0);
      assert.equal(a.server.multicast('news', Buffer.from([1, 2, 3])), 1, 'queued for the local subscriber (a Buffer goes as binary, here and there)');
      b.server.multicast('news', 'not for cb', { exclude: sb });
      await waitUntil(() => ca.received.length === 2 && cb2.received.length === 2, 5000, 'the messages');
      await delay(100);
      assert.deepEqual(ca.received.map((m) => [m.isBinary, [...m.data]]), [[true, [1, 2, 3]], [false, [...Buffer.from('not for cb')]]]);
      assert.deepEqual(cb.received.map((m) => m.isBinary), [true], 'the excluded one gets only the first');
      a.server.multicast('news', 'only here', { local: true });
      await waitUntil(() => ca.received.length === 3, 5000, 'the local one');
      await delay(100);
      assert.equal(cb2.received.length, 2, 'local: true stays in its process');
      assert.equal(a.server.log.queued, 0);
      assert.equal(a.server.log.dropped, 0);
      for (const ws of [ca, cb, cb2]) ws.close();
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a process subscribes to a channel only while it has a local subscriber', async () => {
    const a = await startServer({ redis: redis.url, redisPrefix: 'unsub.test:' });
    try {
      // Its subscriptions' channels, without its own reply channel (unsub.test:\0count:<id>).
      const channels = () => redis.command('PUBSUB', 'CHANNELS', 'unsub.test:*').split('\n').filter((c) => c !== '' && !c.includes('count:')).join('\n');
      const ws = await wsClient(`${a.url}/echo`);
      const [c] = a.server.clients;
      c.subscribe('topic');
      await waitUntil(() => channels() === 'unsub.test:topic', 5000, 'the channel');
      c.unsubscribe('topic');
      await waitUntil(() => channels() === '', 5000, 'no channel');
      c.subscribe('topic');
      await waitUntil(() => channels() === 'unsub.test:topic', 5000, 'the channel again');
      ws.close();
      await waitUntil(() => channels() === '', 5000, 'no channel once the subscriber left');
    } finally {
      await a.close();
    }
  });

  test('the store keeps strings, hashes and capped lists in Redis, and says when Redis is away', async () => {
    const a = await startServer({ redis: redis.url, redisPrefix: 'store.test:' });
    try {
      await waitUntil(() => a.server._redis.connected, 5000, 'Redis');
      const st = a.server.store.scope('room:');
      await st.set('topic', 'hi');
      assert.equal(await st.get('topic'), 'hi');
      assert.equal(await st.hsetnx('members', 'bob', 'Bob'), true);
      assert.equal(await st.hsetnx('members', 'bob', 'Bobby'), false);
      assert.deepEqual(await st.hgetall('members'), { bob: 'Bob' });
      assert.equal(await st.hlen('members'), 1);
      for (let i = 0; i < 5; i++) await st.pushCapped('history', String(i), 3);
      assert.deepEqual(await st.list('history'), ['2', '3', '4']);
      assert.equal(redis.command('GET', 'store.test:store:room:topic'), 'hi');
      assert.equal(await st.hdel('members', 'bob'), true);
      await redis.stop();
      await waitUntil(() => !a.server._redis.connected, 5000, 'the loss');
      await assert.rejects(st.get('topic'), { code: 'WS_ERR_REDIS_DOWN' });
      await redis.start();
      await waitUntil(() => a.server._redis.connected, 10000, 'Redis again');
    } finally {
      await a.close();
    }
  });
});

test('a server closes within its bound when Redis never answers', async () => {
  const a = await startServer({ redis: 'redis://127.0.0.1:1', closeTimeout: 500 });
  const started = Date.now();
  await withTimeout(a.close(), 3000, 'close');
  assert.ok(Date.now() - started < 2000);
});

describe('the addon built without hiredis', () => {
  let addon;
  const withAddon = { ...process.env };
  before(async () => {
    // node scripts/build.js --no-hiredis: its own copy of the sources in build-nohiredis/, rebuilt only when stale.
    const r = await new Promise((resolve, reject) => {
      const { spawn } = require('child_process');
      const child = spawn(process.execPath, [path.join(root, 'scripts', 'build.js'), '--no-hiredis'],
        { cwd: root, env: withoutPreload(), stdio: ['ignore', 'pipe', 'pipe'] }); // the compiler needs no sanitizer preload
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 180000);
      child.on('error', reject);
      child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    });
    assert.equal(r.code, 0, `the build without hiredis failed (${r.signal || r.code}):\n${r.stderr.slice(-4000)}`);
    addon = r.stdout.trim().split('\n').pop();
    assert.equal(addon, path.join(root, 'build-nohiredis', 'build', 'Release', 'websocket.node'));
    withAddon.NODE_WEBSOCKET_ADDON = addon;
  });

  test('it loads without Redis support and is not linked to libhiredis; the normal build has both', () => {
    const ask = (file) => spawnSync(process.execPath, ['-e', 'process.stdout.write(String(require(process.argv[1]).redisAvailable))', file],
      { encoding: 'utf8', timeout: 10000 }).stdout;
    assert.equal(ask(addon), 'false');
    assert.equal(ask(path.join(root, 'build', 'Release', 'websocket.node')), 'true');
    const ldd = spawnSync('ldd', [addon], { encoding: 'utf8', timeout: 10000 });
    assert.equal(ldd.status, 0, ldd.stderr);
    assert.doesNotMatch(ldd.stdout, /hiredis/);
  });

  test('runserver.js on it serves an echo', async () => {
    const s = await runserver(['--no-log'], { env: { NODE_WEBSOCKET_ADDON: addon } });
    try {
      const ws = await wsClient(`${s.url}/echo`);
      const { data } = await wsRoundTrip(ws, 'no hiredis, still an echo');
      assert.equal(String(data), 'no hiredis, still an echo');
      ws.close();
    } finally {
      const r = await s.stop();
      assert.equal(r.code, 0, s.stderr);
    }
  });

  test('--redis on it exits 2 with a message naming --redis and the package libhiredis-dev, with or without workers', () => {
    for (const extra of [[], ['--workers=2']]) {
      const r = spawnSync(process.execPath, [path.join(root, 'runserver.js'), '--port=0', '--host=127.0.0.1', `--redis=${redis.url}`, ...extra],
        { encoding: 'utf8', timeout: 10000, env: withAddon });
      assert.equal(r.status, 2, `${extra}: ${r.stderr}`);
      assert.match(r.stderr, /--redis/);
      assert.match(r.stderr, /libhiredis-dev/);
      assert.doesNotMatch(r.stdout, /listening/, 'no worker was started');
    }
  });
});
