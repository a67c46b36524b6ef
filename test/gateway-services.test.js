'use strict';
// End to end: the real services of backends/ (websocket_echo,
// websocket_chat, websocket_jsonrpc with a method library and with
// libauth.so on a real SQLite file) on UNIX sockets in a temp directory,
// behind the real gateway (new Server({ gateway }) and runserver.js), with
// the npm `ws` client and the conformance runner as the peers; relay mode
// in every framing the services offer, and direct mode.
//
// Under test/sanitize.test.js (NODE_WEBSOCKET_ADDON set) the services come
// from the ASan+UBSan build too (build/backends-sanitize) and any sanitizer
// report of theirs fails the test that stops them.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, startRunserver, wsClient, echoAll, withTimeout, waitUntil, withoutPreload } = require('./helpers');
const { conformanceSuite } = require('./conformance/suite');
const { allSections } = require('./conformance');
const { deliver, assertEvents, OP } = require('./conformance/runner');
const { RawClient } = require('./raw-client');

const root = path.join(__dirname, '..');
const SANITIZED = Boolean(process.env.NODE_WEBSOCKET_ADDON);
const BUILD = path.join(root, 'build', SANITIZED ? 'backends-sanitize' : 'backends');
const ADMIN_PASSWORD = 'e2e admin secret';
const KiB = 1024;
const MiB = 1024 * 1024;

let work; // short: socket paths must fit sun_path
let noModules; // the project's own modules (echo, chat) would serve those names
let testlib;
const children = new Set();

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'gws-'));
  noModules = path.join(work, 'modules');
  fs.mkdirSync(noModules);
  const r = spawnSync('make', ['-s', '-C', path.join(root, 'backends'), ...(SANITIZED ? ['SANITIZE=1'] : [])],
    { encoding: 'utf8', timeout: 600000 });
  assert.equal(r.status, 0, `make -C backends failed:\n${r.stdout}\n${r.stderr}`);
  testlib = path.join(work, 'testlib.so');
  const cc = spawnSync(process.env.CC || 'cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC',
    '-I', path.join(root, 'backends'), '-o', testlib, path.join(__dirname, 'fixtures', 'jsonrpc', 'testlib.c'), '-ljansson'],
  { encoding: 'utf8', env: withoutPreload() });
  assert.equal(cc.status, 0, `building testlib.c failed:\n${cc.stderr}`);
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});

/** A fresh services directory. */
function servicesDir() {
  return fs.mkdtempSync(path.join(work, 's'));
}

/**
 * Starts build/backends/<program> -R dir -n name ...args and waits for its
 * socket. stop() sends SIGTERM and asserts exit 0 and no sanitizer report.
 */
async function startService(program, dir, name, args = [], env = {}) {
  const sock = path.join(dir, name);
  // Which socket is there (a new one may reuse the inode number of a removed one, not its ctime).
  const inode = (p) => {
    try {
      const st = fs.statSync(p, { bigint: true });
      return st.isSocket() ? `${st.ino} ${st.ctimeNs}` : null;
    } catch (_) {
      return null;
    }
  };
  const stale = inode(sock); // a socket left by a service that died: wait for the new one
  const base = SANITIZED ? { ...withoutPreload(), ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' } : withoutPreload();
  const proc = spawn(path.join(BUILD, program), ['-R', dir, '-n', name, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...base, ...env } });
  children.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const closed = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  await waitUntil(() => proc.exitCode !== null || (inode(sock) !== null && inode(sock) !== stale), 10000, `${program}'s socket`);
  assert.equal(proc.exitCode, null, `${program} exited at start: ${stderr}`);
  return {
    proc,
    path: sock,
    stderr: () => stderr,
    closed,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const r = await withTimeout(closed, 10000, `${program} to stop on SIGTERM`);
      children.delete(proc);
      assert.deepEqual(r, { code: 0, signal: null }, `${program} exits 0 on SIGTERM: ${stderr}`);
      assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, `sanitizer report from ${program}:\n${stderr}`);
    },
  };
}

/** The real gateway in this process: a Server with no modules and the gateway option. */
function startGateway(dir, gateway = {}, options = {}) {
  return startServer({ modules: noModules, ...options, gateway: { services: dir, ...gateway } });
}

function assertEchoes(got, messages) {
  assert.equal(got.length, messages.length, 'one message back per message sent');
  for (let i = 0; i < messages.length; i++) {
    const want = messages[i];
    const size = want.data.length;
    assert.equal(got[i].isBinary, want.binary, `message ${i} (${size} B ${want.binary ? 'binary' : 'text'}) keeps its type`);
    assert.equal(got[i].data.length, size, `message ${i} keeps its length`);
    assert.ok(Buffer.from(got[i].data).equals(want.data), `message ${i} (${size} B) comes back intact`);
  }
}

/** n bytes of UTF-8 text (2-byte characters too) with no \n and no NUL. */
function textOf(n, seed = 0) {
  const b = Buffer.alloc(n, 'é-abc' + String.fromCharCode(97 + (seed % 26)));
  if (n > 0 && (b[n - 1] & 0xc0) === 0xc0) b[n - 1] = 0x41; // never end on half a character
  return b;
}

/** n bytes that are never valid UTF-8 (0xff first): a binary message whichever way its type is decided. */
function binaryOf(n, seed = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  if (n > 0) b[0] = 0xff;
  return b;
}

function messagesOf(sizes, { text = true, binary = true } = {}) {
  const out = [];
  for (const n of sizes) {
    if (text) out.push({ data: textOf(n, n), binary: false });
    if (binary) out.push({ data: binaryOf(n, n), binary: true });
  }
  return out;
}

const SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB];

// ---- 1. websocket_echo through the relay and in direct mode ----

// How each combination carries messages (README "Gateway", "Services"):
// length framing and direct mode keep everything; line / nul carry text
// without the terminator; ouistiti keeps boundaries only for what one read
// takes, so its messages go one at a time; packets carry no empty message
// on SEQPACKET and at most a socket buffer (about 200 KB); an empty
// packet, having no bytes, is text.
const ECHO_MODES = [
  { label: 'relay, SOCK_STREAM, length framing', args: ['-f', 'length'], gateway: { framing: 'length' }, messages: messagesOf(SIZES) },
  { label: 'relay, SOCK_STREAM, line framing', args: ['-f', 'line'], gateway: { framing: 'line' }, messages: messagesOf(SIZES, { binary: false }) },
  { label: 'relay, SOCK_STREAM, nul framing', args: ['-f', 'nul'], gateway: { framing: 'nul' }, messages: messagesOf(SIZES, { binary: false }) },
  { label: 'relay, SOCK_STREAM, ouistiti framing', args: [], gateway: {}, messages: messagesOf([1, 125, 126, 4 * KiB]), oneByOne: true },
  { label: 'relay, SOCK_SEQPACKET', args: ['-t', 'seqpacket'], gateway: {}, messages: messagesOf([1, 125, 126, 65535, 65536, 150 * KiB]) },
  { label: 'relay, SOCK_DGRAM', args: ['-t', 'dgram'], gateway: {}, messages: [...messagesOf([0], { binary: false }), ...messagesOf([1, 125, 126, 65535, 65536, 150 * KiB])] },
  { label: 'direct mode, SOCK_STREAM', args: [], gateway: { direct: true }, messages: messagesOf(SIZES) },
  { label: 'direct mode, SOCK_SEQPACKET', args: ['-t', 'seqpacket'], gateway: { direct: true }, messages: messagesOf(SIZES) },
];

describe('websocket_echo behind the gateway', () => {
  for (const mode of ECHO_MODES) {
    const sizes = [...new Set(mode.messages.map((m) => m.data.length))];
    test(`${mode.label}: ${sizes.length > 1 ? `${sizes[0]} B to ${sizes.at(-1) >= MiB ? `${sizes.at(-1) / MiB} MiB` : `${sizes.at(-1)} B`}` : ''}, ` +
      `${mode.messages.some((m) => m.binary) ? 'text and binary' : 'text'}, each message back whole, separate and of its type`, { timeout: 120000 }, async () => {
      const dir = servicesDir();
      const svc = await startService('websocket_echo', dir, 'echo', mode.args);
      const gw = await startGateway(dir, mode.gateway);
      try {
        const ws = await wsClient(`${gw.url}/echo`);
        if (mode.oneByOne) {
          for (const m of mode.messages) assertEchoes(await echoAll(ws, [m], 60000), [m]);
        } else {
          assertEchoes(await echoAll(ws, mode.messages, 60000), mode.messages); // all in one burst: boundaries must hold
        }
        ws.close(1000);
        assert.equal((await ws.closed).code, 1000);
      } finally {
        await gw.close();
        await svc.stop();
      }
    });
  }

  test('relay over SOCK_SEQPACKET: a message larger than a packet closes the client with 1009 and a reason', { timeout: 30000 }, async () => {
    const dir = servicesDir();
    const svc = await startService('websocket_echo', dir, 'echo', ['-t', 'seqpacket']);
    const gw = await startGateway(dir);
    try {
      const ws = await wsClient(`${gw.url}/echo`);
      ws.send(binaryOf(MiB));
      assert.deepEqual(await ws.closed, { code: 1009, reason: "gateway: message too large for the service's socket" });
    } finally {
      await gw.close();
      await svc.stop();
    }
  });

  test('relay with line framing: a text message with a newline, or a binary one, closes the client with 1003 and a reason', async () => {
    const dir = servicesDir();
    const svc = await startService('websocket_echo', dir, 'echo', ['-f', 'line']);
    const gw = await startGateway(dir, { framing: 'line' });
    try {
      const a = await wsClient(`${gw.url}/echo`);
      assertEchoes(await echoAll(a, [{ data: Buffer.from('fine'), binary: false }]), [{ data: Buffer.from('fine'), binary: false }]);
      a.send('two\nlines');
      assert.deepEqual(await a.closed, { code: 1003, reason: 'gateway: the service takes text without newlines (line framing)' });
      const b = await wsClient(`${gw.url}/echo`);
      b.send(Buffer.from([1, 2, 3]));
      assert.equal((await b.closed).code, 1003);
    } finally {
      await gw.close();
      await svc.stop();
    }
  });
});

// ---- 2. websocket_chat -w ----

/** Resolves the next message of ws as a string (bounded). */
function nextText(ws, ms = 3000) {
  if (ws.pending && ws.pending.length) return Promise.resolve(ws.pending.shift());
  return withTimeout(new Promise((resolve) => ws.waiters.push(resolve)), ms, 'a chat message');
}

async function chatMember(url) {
  const ws = await wsClient(url);
  ws.pending = [];
  ws.waiters = [];
  ws.all = [];
  ws.on('message', (data, isBinary) => {
    const s = data.toString();
    ws.all.push(s);
    assert.equal(isBinary, false, 'chat answers are text');
    const w = ws.waiters.shift();
    if (w) w(s);
    else ws.pending.push(s);
  });
  return ws;
}

for (const [label, args, gateway] of [
  ['relay (length framing)', ['-w', '-f', 'length'], { framing: 'length' }],
  ['relay (line framing)', ['-w', '-f', 'line'], { framing: 'line' }],
  ['direct mode', ['-w'], { direct: true }],
]) {
  test(`websocket_chat -w through the gateway, ${label}: names, a suffix for a taken name, broadcast to the others once, WSPrivate, WSWhois with the real address, a member leaving`, { timeout: 30000 }, async () => {
    const dir = servicesDir();
    const svc = await startService('websocket_chat', dir, 'chat', args);
    const gw = await startGateway(dir, gateway);
    try {
      const url = `${gw.url}/chat`;
      const a = await chatMember(url);
      const b = await chatMember(url);
      const c = await chatMember(url);
      a.send('WSHello alice');
      assert.equal(await nextText(a), 'WSWelcome alice');
      b.send('WSHello bob');
      assert.equal(await nextText(b), 'WSWelcome bob');
      c.send('WSHello alice');
      assert.equal(await nextText(c), 'WSWelcome alice001', 'a taken name gets a numeric suffix');

      a.send('hello everyone');
      assert.equal(await nextText(b), 'hello everyone');
      assert.equal(await nextText(c), 'hello everyone');

      b.send('WSPrivate alice001 just for you');
      assert.equal(await nextText(c), 'just for you');
      b.send('WSPrivate nobody are you there');
      assert.equal(await nextText(b), 'WSError no member named nobody');

      a.send('WSWhois bob');
      assert.equal(await nextText(a), 'WSIs bob 127.0.0.1', 'the address is the client\'s, as the gateway saw it');
      a.send('WSWhois carol');
      assert.equal(await nextText(a), 'WSIs carol undefined');

      // A marker from c: once a and b have it, nothing else was on its way (one service thread, in order).
      c.send('marker');
      assert.equal(await nextText(a), 'marker');
      assert.equal(await nextText(b), 'marker');
      assert.deepEqual(a.all, ['WSWelcome alice', 'WSIs bob 127.0.0.1', 'WSIs carol undefined', 'marker'],
        'the sender never gets its own broadcast, nor alice the private message');
      assert.deepEqual(b.all, ['WSWelcome bob', 'hello everyone', 'WSError no member named nobody', 'marker']);
      assert.deepEqual(c.all, ['WSWelcome alice001', 'hello everyone', 'just for you']);

      // bob leaves: his name is free, and broadcasts reach the one other left.
      b.close(1000);
      assert.equal((await b.closed).code, 1000);
      await waitUntil(async () => {
        a.send('WSWhois bob');
        return (await nextText(a)) === 'WSIs bob undefined';
      }, 5000, 'bob to be gone');
      a.send('after bob');
      assert.equal(await nextText(c), 'after bob');
      c.send('WSHello bob');
      assert.equal(await nextText(c), 'WSWelcome bob', 'a name is free once its member left');
      a.close();
      c.close();
      await Promise.all([a.closed, c.closed]);
    } finally {
      await gw.close();
      await svc.stop();
    }
  });
}

// ---- 3. websocket_jsonrpc ----

/** A ws client with call(): each message one JSON reply. */
async function rpcClient(url) {
  const ws = await chatMember(url);
  ws.ask = async (msg) => {
    ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
    return JSON.parse(await nextText(ws, 5000));
  };
  ws.call = (method, params, id = 1) => ws.ask({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), id });
  return ws;
}

const ok = (result, id = 1) => ({ jsonrpc: '2.0', result, id });
const err = (code, message, id = 1) => ({ jsonrpc: '2.0', error: { code, message }, id });

for (const [label, framing, gateway] of [
  ['relay (length framing)', ['-f', 'length'], { framing: 'length' }],
  ['direct mode', [], { direct: true }],
]) {
  describe(`websocket_jsonrpc through the gateway, ${label}`, () => {
    let dir;
    let gw;
    let lib;
    let auth;
    let db;
    before(async () => {
      dir = servicesDir();
      db = path.join(dir, 'users.db');
      lib = await startService('websocket_jsonrpc', dir, 'rpc', [...framing, '-L', testlib, '-C', 'e2e']);
      auth = await startService('websocket_jsonrpc', dir, 'auth', [...framing, '-L', path.join(BUILD, 'libauth.so'), '-C', db],
        { AUTH_ADMIN_PASSWORD: ADMIN_PASSWORD });
      gw = await startGateway(dir, gateway);
    });
    after(async () => {
      if (gw) await gw.close();
      if (lib) await lib.stop();
      if (auth) await auth.stop();
    });

    test('a call, a batch, a notification (no reply); the library sees the client\'s real address', async () => {
      const c = await rpcClient(`${gw.url}/rpc`);
      try {
        assert.deepEqual(await c.call('sum', [1, 2, 39], 'abc'), ok(42, 'abc'));
        assert.deepEqual(await c.call('hello'), ok({ address: '127.0.0.1', config: 'e2e' }));
        assert.deepEqual(await c.call('echo', { s: 'é€😀', a: [1, null] }, 7), ok({ s: 'é€😀', a: [1, null] }, 7));
        c.send(JSON.stringify({ jsonrpc: '2.0', method: 'count' }));
        c.send(JSON.stringify([{ jsonrpc: '2.0', method: 'count' }, { jsonrpc: '2.0', method: 'fail' }]));
        // The next reply is this call's: the notifications got none, and ran.
        assert.deepEqual(await c.call('count', undefined, 'after'), ok(3, 'after'));
        assert.deepEqual(await c.ask([
          { jsonrpc: '2.0', method: 'sum', params: [1, 2], id: 'a' },
          { jsonrpc: '2.0', method: 'count' },
          { jsonrpc: '2.0', method: 'nope', id: 'b' },
          { jsonrpc: '2.0', method: 'sum', params: [5], id: 'c' },
        ]), [ok(3, 'a'), err(-32601, 'method not found', 'b'), ok(5, 'c')]);
        assert.deepEqual(await c.call('count'), ok(5));
        assert.equal(c.all.length, 6, 'one reply per call and per batch, none for notifications');
      } finally {
        c.close();
        await c.closed;
      }
    });

    test('each error code as the service produces it: -32700, -32600, -32601, -32602, -32603 and the method\'s own', async () => {
      const c = await rpcClient(`${gw.url}/rpc`);
      try {
        const parse = await c.ask('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
        assert.equal(parse.error.code, -32700);
        assert.match(parse.error.message, /^parse error: /);
        assert.equal(parse.id, null);
        assert.equal((await c.ask(Buffer.from([0x7b, 0xff, 0x7d]))).error.code, -32700, 'a binary message that is not UTF-8');
        assert.deepEqual(await c.ask('"hello"'), err(-32600, 'invalid request: not an object', null));
        assert.deepEqual(await c.ask({ jsonrpc: '1.0', method: 'sum', id: 3 }), err(-32600, 'invalid request: jsonrpc must be "2.0"', 3));
        assert.deepEqual(await c.ask('[]'), err(-32600, 'invalid request: empty batch', null));
        assert.deepEqual(await c.call('nope'), err(-32601, 'method not found'));
        assert.deepEqual(await c.call('sum', { a: 1 }), err(-32602, 'params must be an array of integers'));
        assert.deepEqual(await c.call('sum', [1, 'x']), err(-32602, 'params[1] must be an integer'));
        assert.deepEqual(await c.call('crash'), err(-32603, 'internal error'));
        assert.deepEqual(await c.call('fail'), err(4711, 'failed on purpose'));
        assert.deepEqual(await c.call('sum', [2], 'still'), ok(2, 'still'), 'and the connection goes on');
      } finally {
        c.close();
        await c.closed;
      }
    });

    test('libauth.so on a real SQLite file: auth fails and succeeds, whoami, the admin adds a user who can log in but not add users', async () => {
      assert.ok(fs.statSync(db).size > 0, 'the database file is there');
      const admin = await rpcClient(`${gw.url}/auth`);
      const user = await rpcClient(`${gw.url}/auth`);
      const name = `u${label.length}`;
      try {
        assert.deepEqual(await admin.call('whoami'), ok(null));
        assert.deepEqual(await admin.call('auth', { user: 'admin', password: 'wrong' }), err(-32001, 'authentication failed: wrong user or password'));
        assert.deepEqual(await admin.call('adduser', { user: name, password: 'pw' }), err(-32002, 'not authenticated: call auth first'));
        assert.deepEqual(await admin.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
        assert.deepEqual(await admin.call('whoami'), ok({ user: 'admin', admin: true }));
        assert.deepEqual(await user.call('auth', { user: name, password: 'pw' }), err(-32001, 'authentication failed: wrong user or password'));
        assert.deepEqual(await admin.call('adduser', { user: name, password: 'pw' }), ok(true));
        assert.deepEqual(await admin.call('adduser', { user: name, password: 'other' }), err(-32004, 'user exists'));
        assert.deepEqual(await user.call('auth', { user: name, password: 'pw' }), ok(true));
        assert.deepEqual(await user.call('whoami'), ok({ user: name, admin: false }));
        assert.deepEqual(await user.call('adduser', { user: 'eve', password: 'e' }), err(-32003, 'permission denied: adduser is for admins'));
        assert.deepEqual(await user.call('auth', { password: 'x' }), err(-32602, 'params.user is missing'));
      } finally {
        admin.close();
        user.close();
        await Promise.all([admin.closed, user.closed]);
      }
    });
  });
}

// ---- 5. shutting down: 1001, not 1011 ----

/** n clients of <url>/echo, each with one echo done. */
async function echoClients(url, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const ws = await wsClient(`${url}/echo`);
    assertEchoes(await echoAll(ws, [{ data: Buffer.from(`c${i}`), binary: false }]), [{ data: Buffer.from(`c${i}`), binary: false }]);
    out.push(ws);
  }
  return out;
}

describe('a relayed service and a server that stop: the clients get 1001 (going away) with a reason', () => {
  const gatewayArg = (dir) => `--gateway=${JSON.stringify({ services: dir, framing: 'length' })}`;

  test('SIGTERM to runserver.js: every relayed client gets 1001 "server shutting down", the service carries on', { timeout: 30000 }, async () => {
    const dir = servicesDir();
    const svc = await startService('websocket_echo', dir, 'echo', ['-f', 'length']);
    const rs = await startRunserver([gatewayArg(dir), `--modules=${noModules}`]);
    try {
      const clients = await echoClients(rs.url, 3);
      rs.child.kill('SIGTERM');
      for (const ws of clients) assert.deepEqual(await ws.closed, { code: 1001, reason: 'server shutting down' });
      assert.deepEqual(await withTimeout(rs.exited, 15000, 'runserver.js to exit'), { code: 0, signal: null }, `runserver.js exits 0: ${rs.stderr}`);
      assert.equal(svc.proc.exitCode, null, 'the service is still running');
    } finally {
      await rs.stop('SIGKILL');
      await svc.stop();
    }
  });

  test('SIGTERM to the service and runserver.js at once (as one signal to their process group): 1001 whichever notices first', { timeout: 30000 }, async () => {
    for (const first of ['service', 'server']) {
      const dir = servicesDir();
      const svc = await startService('websocket_echo', dir, 'echo', ['-f', 'length']);
      const rs = await startRunserver([gatewayArg(dir), `--modules=${noModules}`]);
      try {
        const clients = await echoClients(rs.url, 4);
        if (first === 'service') {
          svc.proc.kill('SIGTERM');
          rs.child.kill('SIGTERM');
        } else {
          rs.child.kill('SIGTERM');
          svc.proc.kill('SIGTERM');
        }
        for (const ws of clients) {
          const { code, reason } = await ws.closed;
          assert.equal(code, 1001, `${first} signalled first: close code ${code} "${reason}"`);
          assert.match(reason, /^(server shutting down|gateway: the service stopped)$/);
        }
        assert.deepEqual(await withTimeout(rs.exited, 15000, 'runserver.js to exit'), { code: 0, signal: null }, `runserver.js exits 0: ${rs.stderr}`);
        await svc.stop();
      } finally {
        await rs.stop('SIGKILL');
        if (svc.proc.exitCode === null) svc.proc.kill('SIGKILL');
      }
    }
  });

  test('server.close() while the service stops: 1001; a service that stops alone: 1001 "gateway: the service stopped"; one that dies: 1011', { timeout: 30000 }, async () => {
    const dir = servicesDir();
    let svc = await startService('websocket_echo', dir, 'echo', ['-f', 'length']);
    const gw = await startGateway(dir, { framing: 'length' });
    try {
      let clients = await echoClients(gw.url, 2);
      await svc.stop();
      for (const ws of clients) assert.deepEqual(await ws.closed, { code: 1001, reason: 'gateway: the service stopped' });

      svc = await startService('websocket_echo', dir, 'echo', ['-f', 'length']);
      clients = await echoClients(gw.url, 2);
      svc.proc.kill('SIGKILL'); // a crash: the socket file stays
      await svc.closed;
      for (const ws of clients) assert.deepEqual(await ws.closed, { code: 1011, reason: 'gateway: service closed the connection' });

      svc = await startService('websocket_echo', dir, 'echo', ['-f', 'length']); // replaces the stale socket
      clients = await echoClients(gw.url, 3);
      svc.proc.kill('SIGTERM');
      const closing = gw.close();
      for (const ws of clients) {
        const { code, reason } = await ws.closed;
        assert.equal(code, 1001, `close code ${code} "${reason}"`);
      }
      await closing;
    } finally {
      await gw.close();
      if (svc.proc.exitCode === null && svc.proc.signalCode === null) await svc.stop();
    }
  });
});

// ---- 4. the conformance suite against websocket_echo through the gateway ----

// Cases that expect an echo before a frame the server sends itself (a pong,
// or the close that fails the connection or answers the client's close).
// The JS echo answers in the same turn; the relay's echo makes a round trip
// through the service while the engine answers pings and closes at once, so
// there the echo may come after the pong or, once the engine closed, not at
// all. Direct mode keeps the order (the service speaks WebSocket itself).
// NODE_WEBSOCKET_CONFORMANCE=6.4,7.9 runs only those cases, as in suite.js.
const only = (process.env.NODE_WEBSOCKET_CONFORMANCE || '').split(',').map((x) => x.trim()).filter(Boolean);
const selected = (id) => only.length === 0 || only.some((p) => id === p || id.startsWith(`${p}.`) || id.startsWith(`${p}/`));

function echoBeforeOwnFrame(k) {
  const ev = k.expect.events || [];
  const first = ev.findIndex((e) => e.type === 'message');
  if (first < 0) return false;
  return k.expect.kind !== 'ok' || ev.slice(first + 1).some((e) => e.type === 'pong');
}

function startEchoTarget(args, gateway) {
  return async () => {
    const dir = servicesDir();
    const svc = await startService('websocket_echo', dir, 'echo', args);
    const gw = await startGateway(dir, gateway);
    return {
      url: gw.url,
      close: async () => {
        await gw.close();
        await svc.stop();
      },
    };
  };
}

conformanceSuite('Autobahn-style conformance of websocket_echo through the gateway, direct mode', {
  label: 'conformance of websocket_echo, direct mode',
  connect: { path: '/echo' },
  start: startEchoTarget([], { direct: true }),
});

conformanceSuite('Autobahn-style conformance of websocket_echo through the gateway, relay mode (length framing)', {
  label: 'conformance of websocket_echo, relay mode (length framing), cases that need no echo before the server\'s own frames',
  connect: { path: '/echo' },
  filter: (k) => !echoBeforeOwnFrame(k),
  start: startEchoTarget(['-f', 'length'], { framing: 'length' }),
});

/**
 * The verdict for echoBeforeOwnFrame cases through the relay: the frames the
 * JS echo sends, except that an echo may come after the server's pong, or
 * be missing once the server closed; the close code, a clean close, no
 * malformed frame and nothing after the close frame, as in runner.js.
 */
async function runRelayOrderingCase(url, k) {
  const T = k.timeout || 2000;
  const c = await RawClient.connect(url, { path: '/echo' });
  const isMessage = (e) => e.type === 'message';
  const isPong = (e) => e.type === 'pong';
  try {
    if (k.expect.kind === 'closed') c.closeSent = c.closeSent || { code: 'sent by the case' };
    if (k.frames) await deliver(c, k.frames(), k.mode);
    if (k.run) await k.run(c);
    const exp = k.expect;
    if (exp.kind === 'ok') {
      await c.waitEvents(exp.events.length, T);
      await c.close(1000);
      await c.waitCloseFrame(T);
      assertEvents(c.events.filter(isMessage), exp.events.filter(isMessage));
      assertEvents(c.events.filter(isPong), exp.events.filter(isPong));
      assert.equal(c.closeFrame.code, 1000);
    } else {
      await c.waitCloseFrame(T);
      const got = c.events.filter(isMessage);
      assertEvents(got, exp.events.filter(isMessage).slice(0, got.length));
      assertEvents(c.events.filter(isPong), exp.events.filter(isPong));
      if (exp.kind === 'fail') assert.equal(c.closeFrame.code, exp.code, `close code ${c.closeFrame.code} "${c.closeFrame.reason}"`);
      else assert.ok(exp.codes.includes(c.closeFrame.code), `close code ${c.closeFrame.code}, expected one of ${exp.codes.join(', ')}`);
    }
    await c.waitTcpClose(2000);
    assert.deepEqual(c.violations, [], 'the server sent malformed frames');
    assert.equal(c.frames.findIndex((f) => f.opcode === OP.CLOSE), c.frames.length - 1, 'frames followed the close frame');
  } finally {
    c.destroy();
  }
}

describe('conformance of websocket_echo through the relay: the cases that expect an echo before the server\'s own pong or close', () => {
  let target;
  let passed = 0;
  let run = 0;
  before(async () => {
    target = await startEchoTarget(['-f', 'length'], { framing: 'length' })();
  });
  after(async () => {
    process.stdout.write(`conformance of websocket_echo, relay mode, echo-before-own-frame cases (relay verdict): ${passed} of ${run} cases passed\n`);
    if (target) await target.close();
  });
  for (const s of allSections()) {
    for (const k of s.cases.filter((c) => echoBeforeOwnFrame(c) && selected(c.id))) {
      test(`${k.id} ${k.title} (the echo may follow the server's own frame)`, { timeout: (k.timeout || 2000) * 2 + 6000 }, async () => {
        run++;
        await runRelayOrderingCase(target.url, k);
        passed++;
      });
    }
  }
});
