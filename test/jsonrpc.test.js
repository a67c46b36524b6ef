'use strict';
// websocket_jsonrpc (backends/) and its auth library, as real processes on
// real UNIX sockets, driven the way the gateway's relay does: net.connect
// to <dir>/<name>, each message written as is (the default "ouistiti"
// framing) or behind the gwproto "length" header (-f length: 1 byte type,
// 4 bytes big-endian length), with several messages in flight. The auth
// library keeps its users in a real SQLite file in a temp dir. Everything
// runs against the normal build and the ASan+UBSan build (make SANITIZE=1).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { withTimeout, waitUntil, wsClient } = require('./helpers');

const root = path.join(__dirname, '..');
const CC = process.env.CC || 'cc';
const ADMIN_PASSWORD = 'correct horse battery staple';
// The gateway stand-in of test/services (relay connections bound to the
// gwproto name of a client address; direct mode with the socket handed off).
const DRIVER = path.join(root, 'build', 'services-test', 'driver');

const VARIANTS = [
  { name: 'websocket_jsonrpc', out: path.join(root, 'build', 'backends'), make: [] },
  { name: 'websocket_jsonrpc built with ASan and UBSan', out: path.join(root, 'build', 'backends-sanitize'), make: ['SANITIZE=1'] },
];

const SANITIZER_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};

/** A client of the service's socket; messages are strings. */
class RpcClient {
  constructor(sock, framing) {
    this.sock = sock;
    this.framing = framing;
    this.buf = Buffer.alloc(0);
    this.messages = [];
    this.waiters = [];
    this.closed = false;
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  /** Connects to the socket at path (retrying while the service starts). */
  static async connect(socketPath, framing = 'length') {
    for (let attempt = 0; ; attempt++) {
      try {
        const sock = await new Promise((resolve, reject) => {
          const s = net.connect(socketPath);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        return new RpcClient(sock, framing);
      } catch (err) {
        if (attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  onData(chunk) {
    if (this.framing !== 'length') {
      this.messages.push(chunk.toString('utf8'));
      this.wake();
      return;
    }
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      assert.equal(this.buf[0], 1, 'replies are text messages');
      this.messages.push(this.buf.subarray(5, 5 + len).toString('utf8'));
      this.buf = this.buf.subarray(5 + len);
    }
    this.wake();
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sends one message: an object or array is sent as JSON, a string or Buffer as is. */
  send(msg, type = 1) {
    const payload = Buffer.isBuffer(msg) ? msg : Buffer.from(typeof msg === 'string' ? msg : JSON.stringify(msg));
    if (this.framing === 'length') {
      const header = Buffer.alloc(5);
      header[0] = type;
      header.writeUInt32BE(payload.length, 1);
      this.sock.write(Buffer.concat([header, payload]));
    } else {
      this.sock.write(payload);
    }
  }

  /** The next message, as a string. */
  async next(ms = 5000) {
    await withTimeout(new Promise((resolve) => {
      const check = () => {
        if (this.messages.length || this.closed) resolve();
        else this.waiters.push(check);
      };
      check();
    }), ms, 'a reply from websocket_jsonrpc');
    if (!this.messages.length) throw new Error('the service closed the connection');
    return this.messages.shift();
  }

  /** Sends msg and resolves the parsed reply. */
  async ask(msg) {
    this.send(msg);
    return JSON.parse(await this.next());
  }

  /** Calls method and resolves the reply object. */
  call(method, params, id = 1) {
    return this.ask({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), id });
  }

  close() {
    this.sock.destroy();
  }
}

let tmpRoot;
let serial = 0;

/** Starts the service; resolves { path, stderr(), connect(framing), stop() }. */
async function startService(variant, { lib, config, env = {}, args = [], framing = 'length' }) {
  const name = `rpc${++serial}`;
  const argv = ['-R', tmpRoot, '-n', name, '-L', lib];
  if (config !== undefined) argv.push('-C', config);
  if (framing !== 'ouistiti') argv.push('-f', framing);
  argv.push(...args);
  const child = spawn(path.join(variant.out, 'websocket_jsonrpc'), argv, {
    env: { ...process.env, ...SANITIZER_ENV, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = null;
  exited.then((r) => { gone = r; });
  const socketPath = path.join(tmpRoot, name);
  await waitUntil(() => gone || (fs.existsSync(socketPath) && fs.statSync(socketPath).isSocket()), 10000, `the socket ${socketPath}`);
  if (gone) throw new Error(`websocket_jsonrpc exited at start (${JSON.stringify(gone)}): ${stderr}`);
  return {
    path: socketPath,
    stderr: () => stderr,
    connect: (f = framing) => RpcClient.connect(socketPath, f),
    /** SIGTERM; asserts a clean exit with no sanitizer report. */
    async stop() {
      if (!gone) child.kill('SIGTERM');
      const r = await withTimeout(exited, 10000, 'websocket_jsonrpc to exit');
      assert.deepEqual(r, { code: 0, signal: null }, `websocket_jsonrpc exits 0 on SIGTERM: ${stderr}`);
      assert.doesNotMatch(stderr, /runtime error|AddressSanitizer|LeakSanitizer/, stderr);
    },
  };
}

/** Starts the gateway stand-in with args; resolves { port, stop() }. */
async function startDriver(args) {
  const proc = spawn(DRIVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  proc.stderr.on('data', (c) => { stderr += c; });
  const port = await withTimeout(new Promise((resolve, reject) => {
    proc.stdout.on('data', (c) => {
      out += c;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', () => reject(new Error(`the driver exited: ${stderr}`)));
  }), 5000, 'the driver to listen');
  return { port, stop: () => proc.kill('SIGTERM') };
}

/** Runs the service expecting it to exit by itself; resolves { code, stderr }. */
// Lets every user through dir and its parents (search and read), for a child run as nobody.
function reachableByAll(dir) {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const mode = fs.statSync(d).mode & 0o7777;
    if ((mode & 0o005) !== 0o005) fs.chmodSync(d, mode | 0o005);
    if (path.dirname(d) === d) break;
  }
}

function runToExit(variant, argv, spawnOptions = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const child = spawn(path.join(variant.out, 'websocket_jsonrpc'), argv, {
      env: { ...process.env, ...SANITIZER_ENV }, stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions,
    });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  }), 10000, 'websocket_jsonrpc to exit');
}

const err = (code, message, id = 1) => ({ jsonrpc: '2.0', error: { code, message }, id });
const ok = (result, id = 1) => ({ jsonrpc: '2.0', result, id });

before(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-jsonrpc-'));
  fs.chmodSync(tmpRoot, 0o755); // the unwritable-database test runs a child as nobody when we are root
  for (const v of VARIANTS) {
    const r = spawnSync('make', ['-s', '-C', path.join(root, 'backends'), ...v.make], { encoding: 'utf8', timeout: 600000 });
    assert.equal(r.status, 0, `make -C backends ${v.make.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
    v.auth = path.join(v.out, 'libauth.so');
    assert.ok(fs.existsSync(v.auth), `${v.auth} was built`);
  }
  const d = spawnSync('make', ['-s', '-C', path.join(root, 'test', 'services')], { encoding: 'utf8', timeout: 300000 });
  assert.equal(d.status, 0, `make -C test/services failed:\n${d.stdout}\n${d.stderr}`);
  // A library made from the header's documentation only, as a user would.
  const testlib = (out, extra = []) => {
    const r = spawnSync(CC, ['-std=c11', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-I', path.join(root, 'backends'),
      ...extra, '-o', out, path.join(__dirname, 'fixtures', 'jsonrpc', 'testlib.c'), '-ljansson'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `building testlib.c failed:\n${r.stderr}`);
    return out;
  };
  VARIANTS.testlib = testlib(path.join(tmpRoot, 'testlib.so'));
  VARIANTS.testlibV2 = testlib(path.join(tmpRoot, 'testlib-v2.so'), ['-DTESTLIB_VERSION=2']);
});

after(() => {
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
});

for (const v of VARIANTS) {
  describe(v.name, () => {
    describe('with a method library', () => {
      let svc;
      before(async () => {
        svc = await startService(v, { lib: VARIANTS.testlib, config: 'the config', args: ['-B', '6'] });
      });
      after(async () => { await svc.stop(); });

      test('a call gets its result and its id back, with the default framing (one write, one message)', async () => {
        const plain = await startService(v, { lib: VARIANTS.testlib, framing: 'ouistiti' });
        const c = await plain.connect();
        try {
          assert.deepEqual(await c.call('sum', [1, 2, 39], 'abc'), ok(42, 'abc'));
          assert.deepEqual(await c.call('echo', { a: [1, { b: null }], s: 'é€😀' }, 7.5), ok({ a: [1, { b: null }], s: 'é€😀' }, 7.5));
        } finally {
          c.close();
          await plain.stop();
        }
      });

      test('the library gets the -C argument and the client; each client has its own state', async () => {
        const a = await svc.connect();
        const b = await svc.connect();
        try {
          assert.deepEqual(await a.call('hello'), ok({ address: 'unknown', config: 'the config' }));
          assert.deepEqual((await a.call('count')).result, 1);
          assert.deepEqual((await a.call('count')).result, 2);
          assert.deepEqual((await b.call('count')).result, 1);
        } finally {
          a.close();
          b.close();
        }
      });

      test('calls in flight are answered in order, binary messages as well, always as text', async () => {
        const c = await svc.connect();
        try {
          for (let i = 0; i < 50; i++) c.send({ jsonrpc: '2.0', method: 'sum', params: [i, 1], id: i }, i % 2 ? 2 : 1);
          for (let i = 0; i < 50; i++) assert.deepEqual(JSON.parse(await c.next()), ok(i + 1, i));
        } finally {
          c.close();
        }
      });

      test('a notification gets no reply, and neither does a batch of notifications only', async () => {
        const c = await svc.connect();
        try {
          c.send({ jsonrpc: '2.0', method: 'count' });
          c.send({ jsonrpc: '2.0', method: 'nope' });
          c.send([{ jsonrpc: '2.0', method: 'count' }, { jsonrpc: '2.0', method: 'fail' }]);
          // The next reply is the call's: nothing came before it, and the notifications ran.
          assert.deepEqual(await c.call('count', undefined, 'after'), ok(3, 'after'));
        } finally {
          c.close();
        }
      });

      test('a batch gets one reply per request, in order, notifications left out', async () => {
        const c = await svc.connect();
        try {
          const reply = await c.ask([
            { jsonrpc: '2.0', method: 'sum', params: [1, 2], id: '1' },
            { jsonrpc: '2.0', method: 'sum', params: [7] },
            { jsonrpc: '2.0', method: 'sum', params: [1, 'x'], id: '2' },
            { foo: 'boo' },
            { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
            1,
          ]);
          assert.deepEqual(reply, [
            ok(3, '1'),
            err(-32602, 'params[1] must be an integer', '2'),
            err(-32600, 'invalid request: jsonrpc must be "2.0"', null),
            err(-32601, 'method not found', '5'),
            err(-32600, 'invalid request: not an object', null),
          ]);
        } finally {
          c.close();
        }
      });

      test('an empty batch gets one -32600 error, and a batch past -B is refused whole', async () => {
        const c = await svc.connect();
        try {
          assert.deepEqual(await c.ask('[]'), err(-32600, 'invalid request: empty batch', null));
          const seven = Array.from({ length: 7 }, (_, i) => ({ jsonrpc: '2.0', method: 'count', id: i }));
          assert.deepEqual(await c.ask(seven), err(-32600, 'invalid request: batch of 7 entries (at most 6)', null));
          assert.equal((await c.ask(seven.slice(0, 6))).length, 6);
          assert.deepEqual(await c.call('count'), ok(7), 'the refused batch ran nothing, the six-entry one ran');
        } finally {
          c.close();
        }
      });

      test('every error code: -32700, -32600, -32601, -32602, -32603 and the method\'s own', async () => {
        const c = await svc.connect();
        try {
          const parse = await c.ask('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
          assert.equal(parse.error.code, -32700);
          assert.match(parse.error.message, /^parse error: /);
          assert.equal(parse.id, null);
          assert.equal((await c.ask(Buffer.from([0x7b, 0xff, 0x7d]))).error.code, -32700, 'bytes that are not UTF-8');
          assert.equal((await c.ask('{"jsonrpc":"2.0","method":"sum","id":1} {}')).error.code, -32700, 'two values in one message');
          assert.deepEqual(await c.ask('"hello"'), err(-32600, 'invalid request: not an object', null));
          assert.deepEqual(await c.ask({ jsonrpc: '1.0', method: 'sum', id: 3 }), err(-32600, 'invalid request: jsonrpc must be "2.0"', 3));
          assert.deepEqual(await c.ask({ jsonrpc: '2.0', method: 5, id: 3 }), err(-32600, 'invalid request: method must be a string', 3));
          assert.deepEqual(await c.ask({ jsonrpc: '2.0', method: 'sum', id: { a: 1 } }),
            err(-32600, 'invalid request: id must be a string, a number or null', null));
          assert.deepEqual(await c.ask({ jsonrpc: '2.0', method: 'sum', params: 'x', id: 3 }),
            err(-32600, 'invalid request: params must be an array or an object', 3));
          assert.deepEqual(await c.call('nope'), err(-32601, 'method not found'));
          assert.deepEqual(await c.call('sum', { a: 1 }), err(-32602, 'params must be an array of integers'));
          assert.deepEqual(await c.call('crash'), err(-32603, 'internal error'));
          assert.deepEqual(await c.call('fail'), err(4711, 'failed on purpose'));
        } finally {
          c.close();
        }
      });

      test('nesting past jansson\'s depth limit is a parse error, and the service goes on', async () => {
        const c = await svc.connect();
        try {
          const deep = `{"jsonrpc":"2.0","method":"echo","id":1,"params":${'['.repeat(100000)}${']'.repeat(100000)}}`;
          assert.equal((await c.ask(deep)).error.code, -32700);
          const ok100 = await c.call('echo', JSON.parse('['.repeat(100) + ']'.repeat(100)));
          assert.equal(JSON.stringify(ok100.result), '['.repeat(100) + ']'.repeat(100));
        } finally {
          c.close();
        }
      });

      test('a message past -M closes that client, and the others go on', async () => {
        const small = await startService(v, { lib: VARIANTS.testlib, args: ['-M', '200'] });
        const a = await small.connect();
        const b = await small.connect();
        try {
          const fits = { jsonrpc: '2.0', method: 'echo', params: ['x'.repeat(120)], id: 1 };
          assert.deepEqual(await a.ask(fits), ok(fits.params));
          a.send({ jsonrpc: '2.0', method: 'echo', params: ['x'.repeat(200)], id: 2 });
          await waitUntil(() => a.closed, 5000, 'the client sending 250 bytes to be closed');
          assert.deepEqual(await b.call('sum', [1]), ok(1));
        } finally {
          a.close();
          b.close();
          await small.stop();
        }
      });

      test('random bytes never take the service down', async () => {
        const c = await svc.connect();
        try {
          let seed = 12345;
          const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
          const alphabet = '{}[]",:0123456789.eE+-truefalsnul \\u"jsonrpc""2.0""method""id""params"';
          for (let i = 0; i < 200; i++) {
            const len = rnd() % 80;
            let s = '';
            for (let j = 0; j < len; j++) s += alphabet[rnd() % alphabet.length];
            c.send(s);
          }
          c.send({ jsonrpc: '2.0', method: 'sum', params: [2], id: 'last' });
          for (;;) {
            const m = JSON.parse(await c.next());
            if (m.id === 'last') {
              assert.deepEqual(m, ok(2, 'last'));
              break;
            }
          }
        } finally {
          c.close();
        }
      });
    });

    describe('behind the gateway stand-in', () => {
      let svc;
      before(async () => {
        svc = await startService(v, { lib: VARIANTS.testlib, framing: 'ouistiti' });
      });
      after(async () => { await svc.stop(); });

      test('in direct mode a ws client calls methods over its own socket, and the library sees its address', async () => {
        const drv = await startDriver(['direct', svc.path, 'stream', '203.0.113.7', '4711', '-', '1']);
        const ws = await wsClient(`ws://127.0.0.1:${drv.port}/rpc`);
        try {
          const next = async () => {
            await waitUntil(() => ws.received.length > 0, 5000, 'a reply over WebSocket');
            const m = ws.received.shift();
            assert.equal(m.isBinary, false, 'replies are text frames');
            return JSON.parse(m.data.toString());
          };
          ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'hello', id: 1 }));
          assert.deepEqual(await next(), ok({ address: '203.0.113.7', config: null }));
          ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'count' }));
          ws.send(JSON.stringify([{ jsonrpc: '2.0', method: 'count', id: 'a' }, { jsonrpc: '2.0', method: 'sum', params: [1, 2], id: 'b' }]));
          assert.deepEqual(await next(), [ok(2, 'a'), ok(3, 'b')]);
          ws.send('not json');
          assert.equal((await next()).error.code, -32700);
          ws.close(1000, 'done');
          assert.equal((await ws.closed).code, 1000);
        } finally {
          ws.terminate();
          drv.stop();
        }
      });

      test('a relay connection bound to a client address hands that address to the library', async () => {
        const drv = await startDriver(['relay', svc.path, 'stream', '198.51.100.2', '5555']);
        const sock = net.connect(drv.port, '127.0.0.1');
        try {
          const reply = await withTimeout(new Promise((resolve, reject) => {
            sock.once('error', reject);
            sock.once('connect', () => sock.write(JSON.stringify({ jsonrpc: '2.0', method: 'hello', id: 9 })));
            sock.once('data', (d) => resolve(JSON.parse(d.toString())));
          }), 5000, 'the relayed reply');
          assert.deepEqual(reply, ok({ address: '198.51.100.2', config: null }, 9));
        } finally {
          sock.destroy();
          drv.stop();
        }
      });
    });

    describe('starting', () => {
      test('-L is required, a missing library or one without the table is refused, and so is another version', async () => {
        let r = await runToExit(v, ['-R', tmpRoot, '-n', 'x1']);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /-L <library> is required/);
        r = await runToExit(v, ['-R', tmpRoot, '-n', 'x1', '-L', path.join(tmpRoot, 'nonexistent.so')]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /-L .*nonexistent\.so: .*No such file/);
        r = await runToExit(v, ['-R', tmpRoot, '-n', 'x1', '-L', 'libjansson.so.4']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /no jsonrpc_library symbol/);
        r = await runToExit(v, ['-R', tmpRoot, '-n', 'x1', '-L', VARIANTS.testlibV2]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /library version 2, this program loads version 1/);
      });

      test('a library whose init fails stops the service at start with its message', async () => {
        const r = await runToExit(v, ['-R', tmpRoot, '-n', 'x2', '-L', VARIANTS.testlib, '-C', '!bad']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /testlib: refusing config !bad/);
        assert.equal(fs.existsSync(path.join(tmpRoot, 'x2')), false, 'no socket was made');
      });

      test('a bad -B or -M is refused naming the option', async () => {
        for (const b of ['0', '100001', 'x', '-1', '5x']) {
          const r = await runToExit(v, ['-R', tmpRoot, '-n', 'x3', '-L', VARIANTS.testlib, '-B', b]);
          assert.equal(r.code, 2, `-B ${b}`);
          assert.match(r.stderr, /-B .*batch bound must be an integer from 1 to 100000/);
        }
        for (const m of ['63', '16777217', 'lots']) {
          const r = await runToExit(v, ['-R', tmpRoot, '-n', 'x3', '-L', VARIANTS.testlib, '-M', m]);
          assert.equal(r.code, 2, `-M ${m}`);
          assert.match(r.stderr, /-M .*message bound must be an integer from 64 to 16777216/);
        }
      });
    });

    describe('with the auth library', () => {
      let dir;
      let db;
      let svc;
      before(async () => {
        dir = fs.mkdtempSync(path.join(tmpRoot, 'auth-'));
        db = path.join(dir, 'users.db');
        svc = await startService(v, { lib: v.auth, config: db, env: { AUTH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
      });
      after(async () => { await svc.stop(); });

      test('the database is created with its schema, holding the admin from AUTH_ADMIN_PASSWORD', async () => {
        assert.ok(fs.statSync(db).size > 0);
        const c = await svc.connect();
        try {
          assert.deepEqual(await c.call('whoami'), ok(null));
          assert.deepEqual(await c.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
          assert.deepEqual(await c.call('whoami'), ok({ user: 'admin', admin: true }));
        } finally {
          c.close();
        }
      });

      test('auth with a wrong password or an unknown user fails the same way and logs out', async () => {
        const c = await svc.connect();
        try {
          assert.deepEqual(await c.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
          const wrong = await c.call('auth', { user: 'admin', password: 'guess' });
          assert.deepEqual(wrong, err(-32001, 'authentication failed: wrong user or password'));
          assert.deepEqual(await c.call('auth', { user: 'nobody', password: 'guess' }), wrong);
          assert.deepEqual(await c.call('whoami'), ok(null));
        } finally {
          c.close();
        }
      });

      test('three failed password checks in a row make that connection wait, doubling, and a success resets it', async () => {
        const c = await svc.connect();
        const other = await svc.connect();
        const wrong = err(-32001, 'authentication failed: wrong user or password');
        try {
          for (let i = 0; i < 3; i++) assert.deepEqual(await c.call('auth', { user: 'admin', password: `guess ${i}` }), wrong);
          const good = { user: 'admin', password: ADMIN_PASSWORD };
          assert.deepEqual(await c.call('auth', good), err(-32007, 'too many failed attempts: retry in 1 s'));
          assert.deepEqual(await c.call('passwd', { user: 'admin', old: ADMIN_PASSWORD, new: 'x' }), err(-32007, 'too many failed attempts: retry in 1 s'));
          // A batch of guesses runs no hashing past the bound.
          const guesses = Array.from({ length: 200 }, (_, i) => ({ jsonrpc: '2.0', method: 'auth', params: { user: 'admin', password: `g${i}` }, id: i }));
          const t0 = Date.now();
          const replies = await c.ask(guesses);
          assert.ok(replies.every((r) => r.error.code === -32007), 'every guess of the batch is refused');
          assert.ok(Date.now() - t0 < 1000, `200 refused guesses took ${Date.now() - t0} ms`);
          assert.deepEqual(await other.call('auth', good), ok(true), 'another connection is not held back');
          await new Promise((r) => setTimeout(r, 1100));
          assert.deepEqual(await c.call('auth', { user: 'admin', password: 'guess 3' }), wrong);
          assert.deepEqual(await c.call('auth', good), err(-32007, 'too many failed attempts: retry in 2 s'));
          await new Promise((r) => setTimeout(r, 2100));
          assert.deepEqual(await c.call('auth', good), ok(true));
          assert.deepEqual(await c.call('auth', { user: 'admin', password: 'again' }), wrong);
          assert.deepEqual(await c.call('auth', good), ok(true), 'one failure after a success is not throttled');
        } finally {
          c.close();
          other.close();
        }
      });

      test('wrong params are -32602 naming the parameter', async () => {
        const c = await svc.connect();
        try {
          assert.deepEqual(await c.call('auth', ['admin', 'x']), err(-32602, 'params must be an object {user, password}'));
          assert.deepEqual(await c.call('auth', { password: 'x' }), err(-32602, 'params.user is missing'));
          assert.deepEqual(await c.call('auth', { user: 1, password: 'x' }), err(-32602, 'params.user must be a string'));
          assert.deepEqual(await c.call('auth', { user: 'admin' }), err(-32602, 'params.password is missing'));
          assert.deepEqual(await c.call('auth', { user: 'x'.repeat(65), password: 'x' }), err(-32602, 'params.user must be 1 to 64 bytes long'));
          assert.deepEqual(await c.call('auth', { user: '', password: 'x' }), err(-32602, 'params.user must be 1 to 64 bytes long'));
          assert.deepEqual(await c.call('passwd', { old: 'x' }), err(-32602, 'params.new is missing'));
          assert.deepEqual(await c.call('adduser', { user: 'u', password: 'p', admin: 'yes' }), err(-32602, 'params.admin must be true or false'));
          assert.deepEqual(await c.call('rmuser', {}), err(-32602, 'params.user is missing'));
        } finally {
          c.close();
        }
      });

      test('adduser and rmuser need a logged-in admin; an admin adds, removes, but never itself', async () => {
        const admin = await svc.connect();
        const bob = await svc.connect();
        try {
          assert.deepEqual(await admin.call('adduser', { user: 'bob', password: 'b0b' }), err(-32002, 'not authenticated: call auth first'));
          assert.deepEqual(await admin.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
          assert.deepEqual(await admin.call('adduser', { user: 'bob', password: 'b0b' }), ok(true));
          assert.deepEqual(await admin.call('adduser', { user: 'bob', password: 'other' }), err(-32004, 'user exists'));
          assert.deepEqual(await bob.call('auth', { user: 'bob', password: 'b0b' }), ok(true));
          assert.deepEqual(await bob.call('whoami'), ok({ user: 'bob', admin: false }));
          assert.deepEqual(await bob.call('adduser', { user: 'eve', password: 'e' }), err(-32003, 'permission denied: adduser is for admins'));
          assert.deepEqual(await bob.call('rmuser', { user: 'admin' }), err(-32003, 'permission denied: rmuser is for admins'));
          assert.deepEqual(await admin.call('rmuser', { user: 'admin' }), err(-32006, 'an admin cannot remove themself'));
          assert.deepEqual(await admin.call('rmuser', { user: 'carol' }), err(-32005, 'no such user'));
          assert.deepEqual(await admin.call('adduser', { user: 'root2', password: 'r', admin: true }), ok(true));
          assert.deepEqual(await admin.call('rmuser', { user: 'bob' }), ok(true));
          // bob's open session loses its rights at once.
          assert.deepEqual(await bob.call('whoami'), ok(null));
          assert.deepEqual(await bob.call('auth', { user: 'bob', password: 'b0b' }), err(-32001, 'authentication failed: wrong user or password'));
          // A second admin can do what the first does.
          assert.deepEqual(await bob.call('auth', { user: 'root2', password: 'r' }), ok(true));
          assert.deepEqual(await bob.call('adduser', { user: 'dave', password: 'd' }), ok(true));
          assert.deepEqual(await bob.call('rmuser', { user: 'root2' }), err(-32006, 'an admin cannot remove themself'));
          assert.deepEqual(await admin.call('rmuser', { user: 'root2' }), ok(true));
          assert.deepEqual(await bob.call('adduser', { user: 'x', password: 'x' }), err(-32002, 'not authenticated: the user was removed'));
        } finally {
          admin.close();
          bob.close();
        }
      });

      test('passwd changes the logged-in user\'s password after checking the old one', async () => {
        const admin = await svc.connect();
        const c = await svc.connect();
        try {
          assert.deepEqual(await admin.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
          assert.deepEqual(await admin.call('adduser', { user: 'erin', password: 'first' }), ok(true));
          assert.deepEqual(await c.call('passwd', { old: 'first', new: 'second' }), err(-32002, 'not authenticated: give params.user or call auth first'));
          assert.deepEqual(await c.call('auth', { user: 'erin', password: 'first' }), ok(true));
          assert.deepEqual(await c.call('passwd', { old: 'wrong', new: 'second' }), err(-32001, 'authentication failed: wrong user or password'));
          assert.deepEqual(await c.call('passwd', { old: 'first', new: 'second' }), ok(true));
          assert.deepEqual(await c.call('auth', { user: 'erin', password: 'first' }), err(-32001, 'authentication failed: wrong user or password'));
          assert.deepEqual(await c.call('auth', { user: 'erin', password: 'second' }), ok(true));
          // With params.user, the old password is what authorizes the change (no session needed).
          const d = await svc.connect();
          assert.deepEqual(await d.call('passwd', { user: 'erin', old: 'second', new: 'third' }), ok(true));
          assert.deepEqual(await d.call('passwd', { user: 'admin', old: 'guess', new: 'mine' }), err(-32001, 'authentication failed: wrong user or password'));
          d.close();
          assert.deepEqual(await c.call('auth', { user: 'erin', password: 'third' }), ok(true));
        } finally {
          admin.close();
          c.close();
        }
      });

      test('user names that look like SQL injection are stored and matched literally', async () => {
        const admin = await svc.connect();
        const c = await svc.connect();
        const names = ["x' OR '1'='1", "robert'); DROP TABLE users;--", '"; DELETE FROM users; --', '%', '_', 'admin\' --'];
        try {
          assert.deepEqual(await admin.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
          for (const user of names) assert.deepEqual(await admin.call('adduser', { user, password: `pw ${user}` }), ok(true), user);
          for (const user of names) {
            assert.deepEqual(await c.call('auth', { user, password: `pw ${user}` }), ok(true), user);
            assert.deepEqual(await c.call('whoami'), ok({ user, admin: false }));
          }
          assert.deepEqual(await c.call('auth', { user: "x' OR '1'='1", password: "x' OR '1'='1" }), err(-32001, 'authentication failed: wrong user or password'));
          assert.deepEqual(await c.call('auth', { user: 'x', password: `pw x' OR '1'='1` }), err(-32001, 'authentication failed: wrong user or password'));
          // The table and the admin are still there; the "%" user is not a pattern.
          assert.deepEqual(await admin.call('rmuser', { user: '%' }), ok(true));
          assert.deepEqual(await c.call('auth', { user: '_', password: 'pw _' }), ok(true));
          assert.deepEqual(await c.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
        } finally {
          admin.close();
          c.close();
        }
      });

      test('users and passwords survive a restart, and AUTH_ADMIN_PASSWORD does not replace an existing admin', async () => {
        await svc.stop();
        svc = await startService(v, { lib: v.auth, config: db, env: { AUTH_ADMIN_PASSWORD: 'another one' } });
        const c = await svc.connect();
        try {
          assert.deepEqual(await c.call('auth', { user: 'admin', password: 'another one' }), err(-32001, 'authentication failed: wrong user or password'));
          assert.deepEqual(await c.call('auth', { user: 'erin', password: 'third' }), ok(true));
          assert.deepEqual(await c.call('auth', { user: 'admin', password: ADMIN_PASSWORD }), ok(true));
        } finally {
          c.close();
        }
      });

      test('the passwords are stored as salted PBKDF2 hashes, never in clear', () => {
        const bytes = fs.readFileSync(db);
        assert.equal(bytes.includes(Buffer.from(ADMIN_PASSWORD)), false);
        assert.equal(bytes.includes(Buffer.from('third')), false);
      });
    });

    describe('the auth library at start', () => {
      test('no -C is refused with a message naming it', async () => {
        const r = await runToExit(v, ['-R', tmpRoot, '-n', 'a1', '-L', v.auth]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /auth: -C <database file> is required/);
      });

      test('a database that cannot be opened, or a file that is not a database, is a clear error at start', async () => {
        let r = await runToExit(v, ['-R', tmpRoot, '-n', 'a2', '-L', v.auth, '-C', path.join(tmpRoot, 'no', 'such', 'dir', 'x.db')]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /auth: cannot open the database .*x\.db: unable to open database file/);
        const junk = path.join(tmpRoot, 'junk.db');
        fs.writeFileSync(junk, 'this is not SQLite\n'.repeat(100));
        r = await runToExit(v, ['-R', tmpRoot, '-n', 'a2', '-L', v.auth, '-C', junk]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /junk\.db: file is not a database/);
      });

      test('a database file that is not writable is a clear error at start', async () => {
        const dir = fs.mkdtempSync(path.join(tmpRoot, 'ro-'));
        const file = path.join(dir, 'users.db');
        // A valid database first, made by the service itself.
        const made = await startService(v, { lib: v.auth, config: file });
        await made.stop();
        fs.chmodSync(dir, 0o755);
        // root writes through any mode: then run the service as nobody, for whom the file is read-only.
        const asRoot = process.getuid && process.getuid() === 0;
        if (asRoot) reachableByAll(v.out); // nobody must reach the program (a checkout may sit in a 0700 directory)
        fs.chmodSync(file, asRoot ? 0o644 : 0o444);
        const r = await runToExit(v, ['-R', tmpRoot, '-n', 'a3', '-L', v.auth, '-C', file], asRoot ? { uid: 65534, gid: 65534 } : {});
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /auth: the database .*users\.db is not writable/);
        // A writable file in a directory where the journal cannot be made.
        fs.chmodSync(file, 0o666);
        fs.chmodSync(dir, 0o555);
        const r2 = await runToExit(v, ['-R', tmpRoot, '-n', 'a3', '-L', v.auth, '-C', file], asRoot ? { uid: 65534, gid: 65534 } : {});
        assert.equal(r2.code, 1, r2.stderr);
        assert.match(r2.stderr, /users\.db: .*\(the database and its directory must be writable\)/);
        fs.chmodSync(dir, 0o755);
      });

      test('without an admin and without AUTH_ADMIN_PASSWORD it starts and says how to make one', async () => {
        const dir = fs.mkdtempSync(path.join(tmpRoot, 'noadmin-'));
        const svc = await startService(v, { lib: v.auth, config: path.join(dir, 'u.db') });
        try {
          await waitUntil(() => /holds no admin/.test(svc.stderr()), 5000, 'the no-admin notice');
          assert.match(svc.stderr(), /AUTH_ADMIN_PASSWORD/);
          const c = await svc.connect();
          assert.deepEqual(await c.call('auth', { user: 'admin', password: 'admin' }), err(-32001, 'authentication failed: wrong user or password'));
          c.close();
        } finally {
          await svc.stop();
        }
      });
    });
  });
}
