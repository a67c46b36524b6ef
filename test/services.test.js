'use strict';

// The example services of backends/ (websocket_echo, websocket_chat and
// libwsservice under them), driven as the gateway drives them: over their
// UNIX socket, through a small stand-in for the gateway
// (test/services/driver.c) that makes relay connections bound to the
// gwproto name (so the service learns the client's address) and hands TCP
// sockets over in direct mode after answering the WebSocket handshake.
// The services run from the ASan+UBSan build (make -C backends SANITIZE=1);
// any sanitizer report fails the test that started them.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { withTimeout, waitUntil, wsClient } = require('./helpers');
const raw = require('./raw-client');

const root = path.join(__dirname, '..');
const SAN = path.join(root, 'build', 'backends-sanitize');
const OPT = path.join(root, 'build', 'backends');
const DRIVER = path.join(root, 'build', 'services-test', 'driver');
const MiB = 1024 * 1024;

const started = [];
const tmpdirs = [];

before(() => {
  for (const args of [['-C', 'backends'], ['-C', 'backends', 'SANITIZE=1'], ['-C', 'test/services']]) {
    const r = spawnSync('nice', ['-n', '10', 'make', '-s', ...args], { cwd: root, encoding: 'utf8', timeout: 300000 });
    assert.equal(r.status, 0, `make ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  }
});

after(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of tmpdirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpdir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-services-'));
  tmpdirs.push(d);
  return d;
}

/** Runs a program to its end; resolves { code, stdout, stderr }. */
function runToEnd(bin, args, ms = 10000) {
  return withTimeout(new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  }), ms, `${path.basename(bin)} to exit`);
}

/**
 * Starts a service from the sanitizer build (or `dir`), -R <tmp> -n <name>,
 * and waits for its socket. Resolves { proc, dir, path, stderr(), stop() };
 * stop() sends SIGTERM, waits for the exit and asserts a clean one.
 */
async function startService(program, args = [], { name = 'svc', dir = tmpdir(), build = SAN } = {}) {
  const sock = path.join(dir, name);
  const proc = spawn(path.join(build, program), ['-R', dir, '-n', name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  proc.stdout.resume();
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  await waitUntil(() => fs.existsSync(sock) || proc.exitCode !== null, 10000, `${program}'s socket`);
  assert.ok(fs.existsSync(sock), `${program} did not create its socket: ${stderr}`);
  const svc = {
    proc,
    dir,
    path: sock,
    stderr: () => stderr,
    exited,
    async stop() {
      proc.kill('SIGTERM');
      const r = await withTimeout(exited, 10000, `${program} to stop on SIGTERM`);
      assert.deepEqual(r, { code: 0, signal: null }, `${program} did not exit cleanly on SIGTERM: ${stderr}`);
      assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, `sanitizer report from ${program}:\n${stderr}`);
      return r;
    },
  };
  return svc;
}

/** Starts the gateway stand-in; resolves { port, stop() }. */
async function startDriver(args) {
  const proc = spawn(DRIVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const port = await withTimeout(new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', () => reject(new Error(`driver exited: ${err}`)));
  }), 5000, 'the driver to listen');
  return { port, stderr: () => err, stop: () => proc.kill('SIGTERM') };
}

// ---- framings, as the gateway writes them ----

const TEXT = 1;
const BINARY = 2;

function encode(framing, type, payload) {
  if (framing === 'length' || framing === 'packet') {
    const h = Buffer.alloc(5);
    h[0] = type;
    h.writeUInt32BE(payload.length, 1);
    return Buffer.concat([h, payload]);
  }
  if (framing === 'line') return Buffer.concat([payload, Buffer.from('\n')]);
  if (framing === 'nul') return Buffer.concat([payload, Buffer.from([0])]);
  return payload;
}

/** A TCP connection to the driver that collects the messages coming back. */
function relayClient(port, framing) {
  const sock = net.connect(port, '127.0.0.1');
  const c = { sock, messages: [], bytes: 0, closed: false, buf: Buffer.alloc(0), chunks: [] };
  sock.on('data', (d) => {
    c.bytes += d.length;
    if (framing === 'ouistiti') {
      c.chunks.push(d);
      return;
    }
    c.chunks.push(d);
    if (c.chunks.length > 1 || c.buf.length) {
      c.buf = Buffer.concat([c.buf, ...c.chunks]);
    } else {
      c.buf = d;
    }
    c.chunks = [];
    for (;;) {
      if (framing === 'length' || framing === 'packet') {
        if (c.buf.length < 5) break;
        const n = c.buf.readUInt32BE(1);
        if (c.buf.length < 5 + n) break;
        c.messages.push({ type: c.buf[0], data: c.buf.subarray(5, 5 + n) });
        c.buf = c.buf.subarray(5 + n);
      } else {
        const i = c.buf.indexOf(framing === 'line' ? 0x0a : 0x00);
        if (i < 0) break;
        c.messages.push({ data: c.buf.subarray(0, i) });
        c.buf = c.buf.subarray(i + 1);
      }
    }
  });
  sock.on('error', () => {});
  sock.on('close', () => { c.closed = true; });
  c.connected = new Promise((resolve) => sock.once('connect', resolve));
  c.send = (type, payload) => sock.write(encode(framing, type, payload));
  c.text = (s) => c.send(TEXT, Buffer.from(s));
  c.wait = (n, ms = 20000) => waitUntil(() => c.messages.length >= n, ms, `${n} message(s) back (have ${c.messages.length})`);
  c.all = () => Buffer.concat(c.chunks);
  return c;
}

/** A message: text is UTF-8 (with 2-byte characters), binary random bytes without `avoid` (the framing's delimiter). */
function payload(type, size, avoid) {
  if (type === TEXT) {
    const b = Buffer.alloc(size, 'abcdé');
    if (size % 6 === 5) b[size - 1] = 0x41; // never end on half a character
    return b;
  }
  const b = crypto.randomBytes(size);
  if (avoid !== undefined) for (let i = 0; i < b.length; i++) if (b[i] === avoid) b[i] = avoid ^ 0x80;
  return b;
}

const SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB];

for (const framing of ['line', 'nul', 'length']) {
  test(`websocket_echo over a stream relay with -f ${framing} returns each message of 0 B to 16 MiB whole and separate, text and binary`, { timeout: 120000 }, async () => {
    const svc = await startService('websocket_echo', ['-f', framing]);
    const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.10', '40000']);
    try {
      const c = relayClient(drv.port, framing);
      await c.connected;
      const avoid = framing === 'line' ? 0x0a : framing === 'nul' ? 0x00 : undefined;
      const sent = [];
      for (const size of SIZES) {
        for (const type of [TEXT, BINARY]) {
          const p = payload(type, size, avoid);
          sent.push({ type, p });
        }
      }
      // everything in one burst: the service must keep the boundaries
      c.sock.write(Buffer.concat(sent.map((m) => encode(framing, m.type, m.p))));
      await c.wait(sent.length, 90000);
      assert.equal(c.messages.length, sent.length);
      sent.forEach((m, i) => {
        const got = c.messages[i];
        assert.equal(got.data.length, m.p.length, `message ${i}: length`);
        assert.ok(got.data.equals(m.p), `message ${i} (${m.p.length} B) came back changed`);
        if (framing === 'length') assert.equal(got.type, m.type, `message ${i} kept its type`);
      });
      c.sock.destroy();
    } finally {
      drv.stop();
      await svc.stop();
    }
  });
}

test('websocket_echo with -f ouistiti (no delimiter) returns every byte in order, up to 16 MiB', { timeout: 60000 }, async () => {
  const svc = await startService('websocket_echo', ['-f', 'ouistiti']);
  const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.10', '40000']);
  try {
    const c = relayClient(drv.port, 'ouistiti');
    await c.connected;
    const small = Buffer.from('hello');
    c.sock.write(small);
    await waitUntil(() => c.bytes >= 5, 5000, 'the echo of "hello"');
    assert.equal(c.all().toString(), 'hello');
    const big = crypto.randomBytes(16 * MiB);
    c.sock.write(big);
    await waitUntil(() => c.bytes >= 5 + big.length, 30000, 'the 16 MiB echo');
    assert.ok(c.all().subarray(5).equals(big));
    c.sock.destroy();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

for (const type of ['seqpacket', 'dgram']) {
  test(`websocket_echo -t ${type} returns each packet as one message, empty to 100 kB`, { timeout: 60000 }, async () => {
    const svc = await startService('websocket_echo', ['-t', type]);
    const drv = await startDriver(['relay', svc.path, type, '192.0.2.11', '40001']);
    try {
      const c = relayClient(drv.port, 'packet');
      await c.connected;
      const sent = [0, 1, 125, 4096, 65536, 100000].flatMap((n) => [
        { type: TEXT, p: Buffer.alloc(n, 'xyz') },
        { type: BINARY, p: Buffer.concat([Buffer.from([0xff]), crypto.randomBytes(Math.max(0, n - 1))]).subarray(0, Math.max(n, 1)) },
      ]);
      for (const m of sent) c.send(m.type, m.p);
      await c.wait(sent.length);
      sent.forEach((m, i) => {
        assert.ok(c.messages[i].data.equals(m.p), `packet ${i} (${m.p.length} B) came back changed`);
      });
      c.sock.destroy();
    } finally {
      drv.stop();
      await svc.stop();
    }
  });
}

test('the optimized build of websocket_echo serves a relay connection as the sanitized one does', async () => {
  const svc = await startService('websocket_echo', ['-f', 'length'], { build: OPT });
  const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.10', '40000']);
  try {
    const c = relayClient(drv.port, 'length');
    await c.connected;
    c.send(BINARY, Buffer.from([1, 2, 3]));
    await c.wait(1);
    assert.deepEqual([...c.messages[0].data], [1, 2, 3]);
    assert.equal(c.messages[0].type, BINARY);
    c.sock.destroy();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

// ---- chat ----

test('websocket_chat -w: three members, broadcast to the others, WSHello with a suffix for a taken name, WSPrivate, WSWhois', { timeout: 30000 }, async () => {
  const svc = await startService('websocket_chat', ['-w', '-f', 'line']);
  const d1 = await startDriver(['relay', svc.path, 'stream', '192.0.2.1', '50001']);
  const d2 = await startDriver(['relay', svc.path, 'stream', '198.51.100.2', '50002']);
  try {
    const a = relayClient(d1.port, 'line');
    const b = relayClient(d2.port, 'line');
    const c = relayClient(d1.port, 'line');
    await Promise.all([a.connected, b.connected, c.connected]);
    const last = (m) => m.messages[m.messages.length - 1].data.toString();
    a.text('WSHello alice');
    await a.wait(1);
    assert.equal(last(a), 'WSWelcome alice');
    b.text('WSHello bob');
    await b.wait(1);
    assert.equal(last(b), 'WSWelcome bob');
    c.text('WSHello alice');
    await c.wait(1);
    assert.equal(last(c), 'WSWelcome alice001', 'a taken name gets a numeric suffix');

    a.text('hello everyone');
    await b.wait(2);
    await c.wait(2);
    assert.equal(last(b), 'hello everyone');
    assert.equal(last(c), 'hello everyone');

    b.text('WSPrivate alice001 just for you');
    await c.wait(3);
    assert.equal(last(c), 'just for you');
    b.text('WSPrivate nobody are you there');
    await b.wait(3);
    assert.equal(last(b), 'WSError no member named nobody');

    a.text('WSWhois bob');
    await a.wait(2);
    assert.equal(last(a), 'WSIs bob 198.51.100.2');
    a.text('WSWhois carol');
    await a.wait(3);
    assert.equal(last(a), 'WSIs carol undefined');

    // the sender never gets its own broadcast, nor alice the private message
    c.text('marker');
    await a.wait(4);
    await b.wait(4);
    assert.deepEqual(a.messages.map((m) => m.data.toString()),
      ['WSWelcome alice', 'WSIs bob 198.51.100.2', 'WSIs carol undefined', 'marker']);
    assert.deepEqual(b.messages.map((m) => m.data.toString()),
      ['WSWelcome bob', 'hello everyone', 'WSError no member named nobody', 'marker']);

    // a member that leaves is no longer known
    b.sock.destroy();
    await waitUntil(async () => {
      a.text('WSWhois bob');
      const n = a.messages.length;
      await waitUntil(() => a.messages.length > n, 2000, 'a WSIs answer');
      return last(a) === 'WSIs bob undefined';
    }, 5000, 'bob to be gone');
    a.sock.destroy();
    c.sock.destroy();
  } finally {
    d1.stop();
    d2.stop();
    await svc.stop();
  }
});

test('websocket_chat without -w relays the command words as ordinary messages', async () => {
  const svc = await startService('websocket_chat', ['-f', 'line']);
  const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.1', '50001']);
  try {
    const a = relayClient(drv.port, 'line');
    const b = relayClient(drv.port, 'line');
    await Promise.all([a.connected, b.connected]);
    await new Promise((r) => setTimeout(r, 100));
    a.text('WSHello alice');
    await b.wait(1);
    assert.equal(b.messages[0].data.toString(), 'WSHello alice');
    assert.equal(a.messages.length, 0);
    a.sock.destroy();
    b.sock.destroy();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

test('-m 2 refuses a third relay client at once, and takes a new one after a client left', async () => {
  const svc = await startService('websocket_echo', ['-m', '2', '-f', 'line']);
  const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.1', '50001']);
  try {
    const a = relayClient(drv.port, 'line');
    const b = relayClient(drv.port, 'line');
    a.text('a');
    b.text('b');
    await a.wait(1);
    await b.wait(1);
    const c = relayClient(drv.port, 'line');
    await waitUntil(() => c.closed, 3000, 'the third client to be closed');
    a.sock.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const d = relayClient(drv.port, 'line');
    d.text('d');
    await d.wait(1);
    assert.equal(d.messages[0].data.toString(), 'd');
    b.sock.destroy();
    d.sock.destroy();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

// ---- direct mode ----

async function directSetup(args = [], driverArgs = {}) {
  const svc = await startService('websocket_echo', args);
  const type = driverArgs.type || 'stream';
  const drv = await startDriver(['direct', svc.path, type, '203.0.113.5', '61000', driverArgs.protocol || '-', `${driverArgs.split ? 1 : 0}${driverArgs.bind ? 'b' : ''}`]);
  return { svc, drv, url: `ws://127.0.0.1:${drv.port}/echo` };
}

test('direct mode: a ws client talks to websocket_echo over the handed-off socket (text, binary, 4 MiB, subprotocol)', { timeout: 30000 }, async () => {
  const { svc, drv, url } = await directSetup([], { protocol: 'echo.v1', split: true });
  try {
    const ws = await wsClient(url, ['echo.v1']);
    assert.equal(ws.protocol, 'echo.v1');
    const got = [];
    ws.on('message', (data, isBinary) => got.push({ data, isBinary }));
    const big = crypto.randomBytes(4 * MiB);
    ws.send('héllo');
    ws.send(Buffer.from([0, 1, 2]));
    ws.send(big);
    ws.send('');
    await waitUntil(() => got.length >= 4, 20000, 'four echoes');
    assert.equal(got[0].data.toString(), 'héllo');
    assert.equal(got[0].isBinary, false);
    assert.deepEqual([...got[1].data], [0, 1, 2]);
    assert.equal(got[1].isBinary, true);
    assert.ok(got[2].data.equals(big));
    assert.equal(got[3].data.length, 0);
    ws.close(1000, 'done');
    const closed = await ws.closed;
    assert.equal(closed.code, 1000);
  } finally {
    drv.stop();
    await svc.stop();
  }
});

test('direct mode: the frames that came with the request (pending bytes) are answered first', async () => {
  const { svc, drv } = await directSetup();
  try {
    const key = crypto.randomBytes(16).toString('base64');
    const req = raw.buildUpgradeRequest({ host: '127.0.0.1', port: drv.port, path: '/echo', key });
    const sock = net.connect(drv.port, '127.0.0.1');
    let data = Buffer.alloc(0);
    sock.on('data', (d) => { data = Buffer.concat([data, d]); });
    await new Promise((r) => sock.once('connect', r));
    sock.write(Buffer.concat([req, raw.frame(raw.OP.TEXT, 'early'), raw.frame(raw.OP.TEXT, 'bird')]));
    await waitUntil(() => data.includes(Buffer.from('bird')), 5000, 'the two echoes');
    const head = data.indexOf('\r\n\r\n') + 4;
    assert.match(data.subarray(0, head).toString(), /^HTTP\/1.1 101/);
    assert.deepEqual([...data.subarray(head)], [...raw.frame(raw.OP.TEXT, 'early', { masked: false }), ...raw.frame(raw.OP.TEXT, 'bird', { masked: false })]);
    sock.destroy();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

test('direct mode follows RFC 6455: fragments reassembled, a ping between fragments answered, bad UTF-8 -> 1007, bad opcode -> 1002, oversize -> 1009, close code echoed', { timeout: 30000 }, async () => {
  const { svc, drv, url } = await directSetup();
  try {
    const OP = raw.OP;
    // fragments with a ping in the middle
    let c = await raw.RawClient.connect(url);
    await c.write(Buffer.concat([
      raw.frame(OP.TEXT, 'frag', { fin: false }),
      raw.frame(OP.PING, 'are you there'),
      raw.frame(OP.CONTINUATION, 'men', { fin: false }),
      raw.frame(OP.CONTINUATION, 'ted'),
    ]));
    await c.waitEvents(2);
    assert.equal(c.events[0].type, 'pong');
    assert.equal(c.events[0].data.toString(), 'are you there');
    assert.equal(c.events[1].opcode, OP.TEXT);
    assert.equal(c.events[1].data.toString(), 'fragmented');
    // the close handshake echoes the code
    await c.write(raw.frame(OP.CLOSE, raw.closePayload(4000, 'bye')));
    await c.waitCloseFrame();
    assert.equal(c.closeFrame.code, 4000);
    await c.waitTcpClose();
    assert.deepEqual(c.violations, []);

    const expectClose = async (bytes, code, what) => {
      const k = await raw.RawClient.connect(url);
      await k.write(bytes);
      await k.waitCloseFrame(3000);
      assert.equal(k.closeFrame.code, code, `${what}: ${k.describe()}`);
      await k.waitTcpClose(4000);
      return k;
    };
    await expectClose(raw.frame(OP.TEXT, Buffer.from([0x68, 0xc3, 0x28])), 1007, 'invalid UTF-8');
    await expectClose(raw.frame(3, 'x'), 1002, 'opcode 3');
    await expectClose(raw.frame(OP.BINARY, Buffer.alloc(4), { declaredLength: 17 * MiB }), 1009, 'a 17 MiB header');
    await expectClose(raw.frame(OP.TEXT, 'x', { masked: false }), 1002, 'an unmasked frame');
    // the service is still there
    c = await wsClient(url);
    const got = await withTimeout(new Promise((r) => { c.once('message', (d) => r(d.toString())); c.send('still here'); }), 3000, 'an echo');
    assert.equal(got, 'still here');
    c.terminate();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

test('direct mode over a seqpacket service socket works the same', async () => {
  const { svc, drv, url } = await directSetup(['-t', 'seqpacket'], { type: 'seqpacket' });
  try {
    const ws = await wsClient(url);
    const got = await withTimeout(new Promise((r) => { ws.once('message', (d) => r(d.toString())); ws.send('via seqpacket'); }), 3000, 'an echo');
    assert.equal(got, 'via seqpacket');
    ws.close();
    await ws.closed;
  } finally {
    drv.stop();
    await svc.stop();
  }
});

for (const type of ['stream', 'dgram']) {
  test(`direct mode works when the hand-off comes on a ${type} socket bound to a gwproto name, as relay connections are`, async () => {
    const { svc, drv, url } = await directSetup(['-t', type, '-m', '1'], { type, bind: true, split: type === 'stream' });
    try {
      for (const text of ['first client', 'second client']) {
        const ws = await wsClient(url);
        const got = await withTimeout(new Promise((r) => { ws.once('message', (d) => r(d.toString())); ws.send(text); }), 3000, 'an echo');
        assert.equal(got, text);
        ws.close(1000);
        assert.equal((await ws.closed).code, 1000);
      }
    } finally {
      drv.stop();
      await svc.stop();
    }
  });
}

test('direct mode with -m 1: a second client gets close code 1013', async () => {
  const { svc, drv, url } = await directSetup(['-m', '1']);
  try {
    const first = await wsClient(url);
    await withTimeout(new Promise((r) => { first.once('message', r); first.send('first'); }), 3000, 'an echo');
    const second = await wsClient(url);
    const closed = await second.closed;
    assert.equal(closed.code, 1013);
    const got = await withTimeout(new Promise((r) => { first.once('message', (d) => r(d.toString())); first.send('one'); }), 3000, 'an echo');
    assert.equal(got, 'one');
    first.terminate();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

test('SIGTERM closes direct clients with 1001 and removes the socket', async () => {
  const { svc, drv, url } = await directSetup();
  try {
    const ws = await wsClient(url);
    // an echo first: the service has the socket by then
    await withTimeout(new Promise((r) => { ws.once('message', r); ws.send('ping'); }), 3000, 'an echo');
    await svc.stop();
    const closed = await ws.closed;
    assert.equal(closed.code, 1001);
    assert.equal(fs.existsSync(svc.path), false, 'the socket file is gone');
  } finally {
    drv.stop();
  }
});

// ---- options and the socket file ----

test('bad options exit with status 2 and say what is wrong; -h prints the usage and exits 0', async () => {
  const bin = path.join(SAN, 'websocket_echo');
  const dir = tmpdir();
  const cases = [
    [['-R', dir, '-x'], /unknown option -x/],
    [['-R', dir, '-t', 'pipe'], /-t wants stream, seqpacket or dgram, not "pipe"/],
    [['-R', dir, '-f', 'json'], /-f wants ouistiti, line, nul or length, not "json"/],
    [['-R', dir, '-m', 'many'], /-m wants a number/],
    [['-R'], /option -R needs a value/],
    [[], /-R <dir> \(the socket directory\) is required/],
    [['-R', path.join(dir, 'missing')], /socket directory .*missing: No such file or directory/],
    [['-R', dir, '-n', 'a/b'], /-n wants a name, not a path/],
  ];
  for (const [args, re] of cases) {
    const r = await runToEnd(bin, args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
    assert.match(r.stderr, re, `${args.join(' ')}`);
  }
  const chat = await runToEnd(path.join(SAN, 'websocket_chat'), ['-h']);
  assert.equal(chat.code, 0);
  assert.match(chat.stdout, /-R <dir>/);
  assert.match(chat.stdout, /-w +ouistiti's chat commands/);
});

test('a name bound by a live service is refused with status 2; a stale socket file is replaced; SIGTERM removes the socket', async () => {
  const dir = tmpdir();
  const first = await startService('websocket_echo', [], { dir, name: 'echo' });
  const second = await runToEnd(path.join(SAN, 'websocket_echo'), ['-R', dir, '-n', 'echo']);
  assert.equal(second.code, 2);
  assert.match(second.stderr, /in use by a running server/);
  // a service killed hard leaves its socket file behind
  first.proc.kill('SIGKILL');
  await first.exited;
  assert.ok(fs.existsSync(path.join(dir, 'echo')), 'the stale socket file is there');
  const third = await startService('websocket_echo', ['-f', 'line'], { dir, name: 'echo' });
  const drv = await startDriver(['relay', third.path, 'stream', '192.0.2.1', '1']);
  try {
    const c = relayClient(drv.port, 'line');
    c.text('fresh');
    await c.wait(1);
    assert.equal(c.messages[0].data.toString(), 'fresh');
    c.sock.destroy();
  } finally {
    drv.stop();
  }
  await third.stop();
  assert.equal(fs.existsSync(path.join(dir, 'echo')), false, 'SIGTERM removed the socket');
});

test('a file that is not a socket is never replaced', async () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'echo'), 'keep me');
  const r = await runToEnd(path.join(SAN, 'websocket_echo'), ['-R', dir, '-n', 'echo']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exists and is not a socket/);
  assert.equal(fs.readFileSync(path.join(dir, 'echo'), 'utf8'), 'keep me');
});

test('-u drops to that user once the socket is bound, and the service still serves and cleans up', { skip: process.getuid() !== 0 && 'needs root to switch users' }, async () => {
  const dir = tmpdir();
  fs.chmodSync(dir, 0o777); // the user must be able to remove its socket at the end
  const svc = await startService('websocket_echo', ['-u', 'nobody', '-f', 'line'], { dir, name: 'echo' });
  await waitUntil(() => /^Uid:\s+65534\b/m.test(fs.readFileSync(`/proc/${svc.proc.pid}/status`, 'utf8')), 3000, 'the service to run as nobody');
  assert.equal(fs.statSync(svc.path).uid, 65534, 'the socket belongs to the user');
  const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.1', '1']);
  try {
    const c = relayClient(drv.port, 'line');
    c.text('as nobody');
    await c.wait(1);
    assert.equal(c.messages[0].data.toString(), 'as nobody');
    c.sock.destroy();
  } finally {
    drv.stop();
  }
  await svc.stop();
  assert.equal(fs.existsSync(svc.path), false);
  const r = await runToEnd(path.join(SAN, 'websocket_echo'), ['-R', dir, '-n', 'x', '-u', 'no-such-user-here']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /-u: no such user "no-such-user-here"/);
  assert.equal(fs.existsSync(path.join(dir, 'x')), false, 'no socket is left behind');
});

test('-D returns at once and leaves the service running in the background', async () => {
  const dir = tmpdir();
  const r = await runToEnd(path.join(OPT, 'websocket_echo'), ['-R', dir, '-n', 'echo', '-D', '-f', 'line']);
  assert.equal(r.code, 0, r.stderr);
  const sock = path.join(dir, 'echo');
  assert.ok(fs.existsSync(sock), 'the socket is there when the command returns');
  // the daemon: the process whose command line names this directory
  const pid = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir); } catch (_) { return false; }
  });
  assert.ok(pid, 'the daemon is running');
  try {
    const drv = await startDriver(['relay', sock, 'stream', '192.0.2.1', '1']);
    const c = relayClient(drv.port, 'line');
    c.text('daemon');
    await c.wait(1);
    assert.equal(c.messages[0].data.toString(), 'daemon');
    c.sock.destroy();
    drv.stop();
  } finally {
    process.kill(Number(pid), 'SIGTERM');
  }
  await waitUntil(() => !fs.existsSync(sock), 5000, 'the daemon to remove its socket on SIGTERM');
});

test('a connection from an unbound socket is a relay client whose address is "unknown"', async () => {
  const svc = await startService('websocket_chat', ['-w', '-f', 'line']);
  const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.9', '9']);
  try {
    const anon = net.connect(svc.path);
    let got = '';
    anon.on('data', (d) => { got += d; });
    anon.write('WSHello anon\n');
    await waitUntil(() => got === 'WSWelcome anon\n', 3000, 'the welcome');
    const c = relayClient(drv.port, 'line');
    c.text('WSWhois anon');
    await c.wait(1);
    assert.equal(c.messages[0].data.toString(), 'WSIs anon unknown');
    c.text('to all');
    await waitUntil(() => got.endsWith('to all\n'), 3000, 'the broadcast');
    anon.destroy();
    c.sock.destroy();
  } finally {
    drv.stop();
    await svc.stop();
  }
});

test('a relay message over the limit closes that client only', async () => {
  const svc = await startService('websocket_echo', ['-f', 'length']);
  const drv = await startDriver(['relay', svc.path, 'stream', '192.0.2.9', '9']);
  try {
    const bad = relayClient(drv.port, 'length');
    const good = relayClient(drv.port, 'length');
    good.text('before');
    await good.wait(1);
    const h = Buffer.from([BINARY, 0, 0, 0, 0]);
    h.writeUInt32BE(17 * MiB, 1); // over the 16 MiB + 64 KiB default
    bad.sock.write(h);
    await waitUntil(() => bad.closed, 3000, 'the client to be closed');
    good.text('after');
    await good.wait(2);
    assert.equal(good.messages[1].data.toString(), 'after');
    good.sock.destroy();
  } finally {
    drv.stop();
    await svc.stop();
  }
});
