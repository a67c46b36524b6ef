'use strict';

// Faults: signals under load, modules that throw or reject, Redis and a
// gateway backend killed under load. Each runs real runserver.js processes
// with a population of echo clients beside, which must keep getting correct
// answers (or, on a signal, everything queued for them and then 1001).

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { startRunserver, startRedis, wsClient, withTimeout, waitUntil, delay } = require('./helpers');

const root = path.join(__dirname, '..');
const FAULTS = path.join(__dirname, 'fixtures', 'faults');

const running = new Set();
after(async () => {
  for (const s of running) await s.stop('SIGKILL').catch(() => {});
});

/**
 * runserver.js on the fault fixtures; `done` resolves on 'close' (all output
 * read) with { code, signal, stdout, stderr }.
 */
async function serve(args = []) {
  const s = await startRunserver([`--modules=${FAULTS}`, '--no-docroot', '--status-interval=0', ...args]);
  running.add(s);
  s.done = new Promise((resolve) => s.child.once('close', (code, signal) => {
    running.delete(s);
    resolve({ code, signal, stdout: s.stdout, stderr: s.stderr });
  }));
  return s;
}

/** Sends msg and resolves with the next message as a string; rejects if the client closes first. */
function roundTrip(ws, msg, ms = 5000) {
  return withTimeout(new Promise((resolve, reject) => {
    const onMessage = (data) => { ws.off('close', onClose); resolve(String(data)); };
    const onClose = (code) => { ws.off('message', onMessage); reject(new Error(`closed with ${code}`)); };
    ws.once('message', onMessage);
    ws.once('close', onClose);
    ws.send(msg);
  }), ms, `the echo of ${msg}`);
}

/** Resolves with the close code and reason the client sees. */
const closeOf = (ws) => ws.closed.then((c) => (c.error ? { code: 'timeout' } : c));

/**
 * n clients of url/resource round-tripping numbered messages back to back
 * until stop(). stop() resolves with { rounds, wrong, closed }: wrong lists
 * any echo that was not its message, closed the clients that were closed.
 */
async function echoLoad(url, n, resource = 'echo') {
  const clients = await Promise.all(Array.from({ length: n }, () => wsClient(`${url}/${resource}`)));
  const state = { rounds: 0, wrong: [], closed: [] };
  let on = true;
  const loops = clients.map(async (ws, i) => {
    for (let k = 0; on; k++) {
      const msg = `${resource} ${i}:${k}`;
      try {
        const got = await roundTrip(ws, msg);
        if (got !== msg) state.wrong.push(`${msg} -> ${got}`);
        state.rounds++;
      } catch (err) {
        state.closed.push(`${msg}: ${err.message}`);
        return;
      }
    }
  });
  return {
    clients,
    state,
    async stop() {
      on = false;
      await Promise.all(loops);
      return state;
    },
  };
}

/**
 * A client of /burst that asks for n messages of size bytes and records
 * what it receives: { ws, started, got: [numbers], closedAfter }.
 */
async function burstClient(url, n, size) {
  const ws = await wsClient(`${url}/burst`);
  const b = { ws, got: [], bad: 0 };
  b.started = new Promise((resolve) => {
    ws.on('message', (data) => {
      const text = String(data);
      if (text === 'start') { resolve(); return; }
      const num = Number(text.slice(0, 7));
      if (text.length !== size || num !== b.got.length) b.bad++;
      b.got.push(num);
    });
  });
  b.closed = closeOf(ws).then((c) => ({ ...c, received: b.got.length }));
  ws.send(`go ${n} ${size}`);
  return b;
}

describe('SIGTERM and SIGINT under load (one process)', () => {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    test(`${signal}: every reading client gets all 1,000 messages queued for it and then 1001, slow readers too; the exit status is 0`, { timeout: 30000 }, async () => {
      const s = await serve(['--close-timeout=4000', '--no-log']);
      const load = await echoLoad(s.url, 20);
      const bursts = await Promise.all(Array.from({ length: 20 }, () => burstClient(s.url, 1000, 1024)));
      const slow = bursts.slice(0, 4); // stop reading before the signal, read again after it
      for (const b of slow) b.ws._socket.pause();
      await Promise.all(bursts.slice(4).map((b) => b.started));
      await waitUntil(() => load.state.rounds >= 100, 5000, 'the echo load to run');
      s.child.kill(signal);
      await delay(500);
      for (const b of slow) b.ws._socket.resume();
      const results = await Promise.all(bursts.map((b) => b.closed));
      const { code, stderr } = await withTimeout(s.done, 10000, 'runserver.js to exit');
      const state = await load.stop();
      assert.equal(code, 0, stderr);
      assert.match(stderr, new RegExp(`runserver: ${signal} received, closing`));
      for (const [i, r] of results.entries()) {
        assert.deepEqual({ code: r.code, received: r.received }, { code: 1001, received: 1000 }, `burst client ${i}`);
        assert.equal(bursts[i].bad, 0, `burst client ${i}: every message whole and in order`);
      }
      assert.deepEqual(state.wrong, []);
      assert.equal(state.closed.length, 20, 'every echo client was closed by the shutdown');
      for (const ws of load.clients) assert.equal((await closeOf(ws)).code, 1001);
    });
  }

  test('a client that does not read holds the close back only until closeTimeout: the readers get everything, the exit status is 0', { timeout: 30000 }, async () => {
    const s = await serve(['--close-timeout=1500', '--no-log', `--max-buffered-amount=${64 * 1024 * 1024}`]);
    const readers = await Promise.all(Array.from({ length: 5 }, () => burstClient(s.url, 1000, 1024)));
    const stuck = await burstClient(s.url, 1000, 16 * 1024); // 16 MB: more than the socket buffers hold
    stuck.ws._socket.pause();
    await Promise.all(readers.map((b) => b.started));
    await delay(200); // the stuck client's burst is queued
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    const results = await Promise.all(readers.map((b) => b.closed));
    const { code, stderr } = await withTimeout(s.done, 10000, 'runserver.js to exit');
    const ms = Date.now() - t0;
    assert.equal(code, 0, stderr);
    for (const r of results) assert.deepEqual({ code: r.code, received: r.received }, { code: 1001, received: 1000 });
    assert.ok(ms >= 1000 && ms < 1500 + 3000, `the close waited for the stuck client about closeTimeout (${ms} ms)`);
    stuck.ws.terminate();
  });

  test('a second signal while closing exits at once, with status 1 and a message', { timeout: 30000 }, async () => {
    const s = await serve(['--close-timeout=20000', '--no-log', `--max-buffered-amount=${64 * 1024 * 1024}`]);
    const stuck = await burstClient(s.url, 1000, 16 * 1024);
    stuck.ws._socket.pause(); // its close cannot finish: the first signal alone would wait 20 s
    await delay(200);
    s.child.kill('SIGTERM');
    await waitUntil(() => /SIGTERM received, closing/.test(s.stderr), 5000, 'the first signal to be seen');
    const t0 = Date.now();
    s.child.kill('SIGINT');
    const { code, stderr } = await withTimeout(s.done, 5000, 'runserver.js to exit');
    assert.equal(code, 1);
    assert.match(stderr, /runserver: SIGINT again, exiting now/);
    assert.ok(Date.now() - t0 < 3000, 'at once, not after closeTimeout');
    stuck.ws.terminate();
  });
});

/** Log records (stdout lines starting with '[') matching re. */
const records = (s, re) => s.logLines().filter((l) => re.test(l));

describe('a module that throws or rejects', () => {
  let s;
  let load;
  before(async () => {
    s = await serve();
    load = await echoLoad(s.url, 10); // beside every fault below, never disturbed
  });
  after(async () => {
    if (!s) return;
    const state = await load.stop();
    s.child.kill('SIGTERM');
    const { code, stderr } = await withTimeout(s.done, 10000, 'runserver.js to exit');
    assert.equal(code, 0, stderr);
    assert.deepEqual(state.wrong, []);
    assert.deepEqual(state.closed, [], 'no echo client was closed by the faults');
    assert.ok(state.rounds > 0, `the echo clients were served (${state.rounds} round trips)`);
  });

  for (const [resource, where, how] of [['connect-throws', 'onConnect', 'threw'], ['connect-rejects', 'onConnect', 'rejected']]) {
    test(`${where} that ${how === 'threw' ? 'throws' : 'rejects'}: that client gets 1011, the log names '${resource}', the client address and the stack`, async () => {
      const ws = await wsClient(`${s.url}/${resource}`);
      assert.deepEqual(await closeOf(ws), { code: 1011, reason: 'Internal server error' });
      await waitUntil(() => records(s, new RegExp(`module '${resource}' ${where} ${how}`)).length > 0, 3000, 'the log line');
      const [line] = records(s, new RegExp(`module '${resource}' ${where} ${how}`));
      assert.match(line, new RegExp(`\\[error\\] \\[client (::ffff:)?127\\.0\\.0\\.1\\] module '${resource}' ${where} ${how}: Error: ${resource}: `));
      assert.match(s.stdout, new RegExp(`${resource}: .* on purpose\\n\\s+at `), 'with its stack');
    });
  }

  for (const [resource, how] of [['data-throws', 'threw'], ['data-rejects', 'rejected']]) {
    test(`onData that ${how === 'threw' ? 'throws' : 'rejects (async)'}: that client gets 1011, other clients of '${resource}' carry on`, async () => {
      const same = await echoLoad(s.url, 3, resource);
      const victim = await wsClient(`${s.url}/${resource}`);
      assert.equal(await roundTrip(victim, 'fine'), 'fine');
      victim.send('boom');
      assert.deepEqual(await closeOf(victim), { code: 1011, reason: 'Internal server error' });
      await delay(100);
      const state = await same.stop();
      assert.deepEqual({ wrong: state.wrong, closed: state.closed }, { wrong: [], closed: [] });
      assert.ok(state.rounds > 3);
      const lines = records(s, new RegExp(`module '${resource}' onData ${how}`));
      assert.equal(lines.length, 1);
      assert.match(lines[0], /\[client (::ffff:)?127\.0\.0\.1\]/);
      for (const ws of same.clients) ws.close();
    });
  }

  for (const [mode, how] of [['sync', 'threw'], ['async', 'rejected']]) {
    test(`onDisconnect that ${how === 'threw' ? 'throws' : 'rejects'}: logged with the resource and address, the server carries on`, async () => {
      const ws = await wsClient(`${s.url}/disconnect-throws`);
      assert.equal(await roundTrip(ws, mode), mode);
      ws.close(1000);
      assert.equal((await closeOf(ws)).code, 1000);
      const re = new RegExp(`\\[client (::ffff:)?127\\.0\\.0\\.1\\] module 'disconnect-throws' onDisconnect ${how}: Error: disconnect-throws`);
      await waitUntil(() => records(s, re).length === 1, 3000, 'the log line');
      const again = await wsClient(`${s.url}/disconnect-throws`);
      assert.equal(await roundTrip(again, 'still'), 'still');
      again.terminate();
    });
  }

  for (const [what, kind] of [['throw', 'uncaught exception'], ['reject', 'unhandled rejection']]) {
    test(`${kind.startsWith('u') ? 'an' : 'a'} ${kind} outside any handler (the module's own timer): logged with its stack, and by default everyone keeps being served`, async () => {
      const ws = await wsClient(`${s.url}/own-timer`);
      assert.equal(await roundTrip(ws, what), what);
      const re = new RegExp(`\\[error\\] ${kind} \\(--on-uncaught=log: still serving\\): Error: own-timer`);
      await waitUntil(() => records(s, re).length === 1, 3000, 'the log line');
      assert.match(s.stdout, new RegExp(`${re.source}.*\\n\\s+at `), 'with its stack');
      assert.equal(await roundTrip(ws, 'after'), 'after', 'the connection itself is not closed');
      ws.close();
    });
  }
});

describe('--on-uncaught=exit', () => {
  for (const [what, kind] of [['throw', 'uncaught exception'], ['reject', 'unhandled rejection']]) {
    test(`${kind.startsWith('u') ? 'an' : 'a'} ${kind}: logged, every client gets 1001 (a graceful close), and the exit status is 1 for a supervisor to restart`, { timeout: 20000 }, async () => {
      const s = await serve(['--on-uncaught=exit']);
      const load = await echoLoad(s.url, 5);
      const ws = await wsClient(`${s.url}/own-timer`);
      ws.send(what);
      const { code, stdout, stderr } = await withTimeout(s.done, 10000, 'runserver.js to exit');
      await load.stop();
      assert.equal(code, 1, stderr);
      assert.match(stdout, new RegExp(`\\[error\\] ${kind} \\(--on-uncaught=exit: closing\\): Error: own-timer`));
      assert.equal((await closeOf(ws)).code, 1001);
      for (const c of load.clients) assert.equal((await closeOf(c)).code, 1001);
    });
  }

  test('--on-uncaught with another value exits 2 naming the option and its choices', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'runserver.js'), '--on-uncaught=ignore'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--on-uncaught must be one of 'log', 'exit' \(received 'ignore'\)/);
  });

  test('--help lists --on-uncaught=log|exit with its default', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'runserver.js'), '--help'], { encoding: 'utf8', timeout: 10000 });
    assert.match(r.stdout, /--on-uncaught=log\|exit/);
    const block = r.stdout.slice(r.stdout.indexOf('--on-uncaught'));
    assert.match(block.slice(0, block.indexOf('\n  --', 1)), /Default: 'log'\./);
  });
});

describe('Redis killed and restarted under load', () => {
  let redis;
  before(async () => { redis = await startRedis(); });
  after(async () => { if (redis) await redis.close(); });

  test('the echo clients are served throughout, nobody is closed, and multicast through Redis works again once it is back', { timeout: 40000 }, async () => {
    const s = await serve([`--redis=${redis.url}`, '--log-key=faults.redis']);
    const load = await echoLoad(s.url, 10);
    const [a, b] = await Promise.all([wsClient(`${s.url}/room`), wsClient(`${s.url}/room`)]);
    const reaches = async (tag) => { // sends until b receives it (Redis may still be resubscribing)
      for (let i = 0; i < 100; i++) {
        a.send(`${tag} ${i}`);
        await delay(50);
        if (b.received.some((m) => String(m.data).startsWith(`${tag} `))) return true;
      }
      return false;
    };
    assert.ok(await reaches('before'), 'multicast works before the outage');
    await waitUntil(() => load.state.rounds >= 100, 5000, 'the echo load to run');
    await redis.stop(); // SIGKILL
    const during = load.state.rounds;
    await delay(1500);
    assert.ok(load.state.rounds > during + 50, `echoes go on while Redis is away (${load.state.rounds - during})`);
    await redis.start();
    assert.ok(await reaches('after'), 'multicast works again after the restart');
    const state = await load.stop();
    assert.deepEqual({ wrong: state.wrong, closed: state.closed }, { wrong: [], closed: [] });
    assert.equal(a.readyState, a.OPEN);
    assert.equal(b.readyState, b.OPEN);
    assert.ok(records(s, /\[error\] Redis \(commands\): connection to redis:\/\/127\.0\.0\.1:\d+ lost/).length >= 1, 'the loss is logged');
    s.child.kill('SIGTERM');
    const { code, stderr } = await withTimeout(s.done, 10000, 'runserver.js to exit');
    assert.equal(code, 0, stderr);
    assert.equal((await closeOf(a)).code, 1001);
  });
});

describe('a gateway backend killed under load', () => {
  let work;
  let backendBin;
  const backends = new Set();
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'gwf-')); // short: socket paths must fit sun_path
    backendBin = path.join(work, 'backend');
    const n = path.join(root, 'native');
    const r = spawnSync(process.env.CC || 'cc', ['-std=c11', '-D_GNU_SOURCE', '-O1', '-g', '-Wall', '-Wextra', '-Werror',
      `-I${n}`, '-o', backendBin, path.join(__dirname, 'gateway', 'backend.c'),
      path.join(n, 'frame.c'), path.join(n, 'utf8.c'), path.join(n, 'gwproto.c')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `building test/gateway/backend.c failed:\n${r.stderr}`);
    fs.mkdirSync(path.join(work, 'services'));
  });
  after(() => {
    for (const b of backends) kill(b);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  async function backend(name) {
    const child = spawn(backendBin, ['stream', path.join(work, 'services', name), 'echo'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    backends.add(child);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await waitUntil(() => /^ready$/m.test(out), 5000, `backend ${name} to listen`);
    return child;
  }
  // The backend forks per connection: its whole process group goes.
  function kill(child) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone already */ }
    backends.delete(child);
  }

  test("its clients get 1011 with a reason; the other service's clients and the module's clients see nothing", { timeout: 40000 }, async () => {
    await backend('steady');
    let victim = await backend('victim');
    const s = await serve([`--gateway=${path.join(work, 'services')}`]);
    const echo = await echoLoad(s.url, 8);
    const steady = await echoLoad(s.url, 5, 'steady');
    const doomed = await echoLoad(s.url, 5, 'victim');
    await waitUntil(() => doomed.state.rounds >= 50 && steady.state.rounds >= 50, 5000, 'the load to run');
    kill(victim);
    const codes = await Promise.all(doomed.clients.map(closeOf));
    for (const c of codes) assert.deepEqual(c, { code: 1011, reason: 'gateway: service closed the connection' });
    const mark = echo.state.rounds + steady.state.rounds;
    await delay(500);
    assert.ok(echo.state.rounds + steady.state.rounds > mark + 50, 'the others are still served');
    const [e, st, d] = await Promise.all([echo.stop(), steady.stop(), doomed.stop()]);
    assert.deepEqual({ wrong: e.wrong, closed: e.closed }, { wrong: [], closed: [] });
    assert.deepEqual({ wrong: st.wrong, closed: st.closed }, { wrong: [], closed: [] });
    assert.deepEqual(d.wrong, []);
    victim = await backend('victim');
    const again = await wsClient(`${s.url}/victim`);
    assert.equal(await roundTrip(again, 'back'), 'back');
    s.child.kill('SIGTERM');
    const { code, stderr } = await withTimeout(s.done, 10000, 'runserver.js to exit');
    assert.equal(code, 0, stderr);
    assert.equal((await closeOf(again)).code, 1001);
  });
});
