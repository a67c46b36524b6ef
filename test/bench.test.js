'use strict';
// Smoke tests of the benchmark tooling (bench/): every loadgen mode for a few
// hundred milliseconds against each server, the validation failing loudly on
// a misbehaving server, and a --quick comparison. No timing thresholds: the
// timed runs are `npm run bench`, never part of the tests.

const { test, before } = require('node:test');
const assert = require('node:assert');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { runChild } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const BENCH = path.join(ROOT, 'bench');
const LOADGEN = path.join(BENCH, 'build', 'loadgen');

// Ours is part of the run once the engine exists (lib/index.js); ws and
// uWebSockets.js are dev dependencies and always there.
const SERVERS = ['ws', 'uws'];
if (fs.existsSync(path.join(ROOT, 'lib', 'index.js'))) SERVERS.unshift('ours');

before(() => {
  const r = spawnSync('make', ['-s', '-C', BENCH], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, `make -C bench failed:\n${r.stdout}${r.stderr}`);
});

function startServer(name, args = []) {
  const child = spawn(process.execPath, [path.join(BENCH, 'servers', `${name}.js`), '0', ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name}: not ready in 20 s\n${err}`)); }, 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^ready (\d+)$/m.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]), pid: child.pid }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${name}: exited ${code}\n${err}`)); });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGKILL');
  });
}

const loadgen = (args, timeoutMs = 30000) => runChild(LOADGEN, args, timeoutMs);

function kv(stdout) {
  const line = stdout.split('\n').find((l) => l.startsWith('mode='));
  assert.ok(line, `no key=value line in:\n${stdout}`);
  const r = {};
  for (const part of line.trim().split(/\s+/)) {
    const i = part.indexOf('=');
    assert.ok(i > 0, `not key=value: ${part}`);
    const v = part.slice(i + 1);
    r[part.slice(0, i)] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  assert.ok(stdout.split('\n').some((l) => l.startsWith('# ')), 'no human-readable line');
  return r;
}

const SHORT = ['--duration', '0.3', '--warmup', '0.1'];

/** Runs loadgen against a started server; asserts it exited 0 and returns its key=value line. */
function runAgainst(srv) {
  const base = ['--port', String(srv.port), '--server-pid', String(srv.pid)];
  return async (args) => {
    const r = await loadgen([...args, ...base]);
    assert.strictEqual(r.code, 0, `loadgen ${args.join(' ')} exited ${r.code} ${r.signal || ''}\n${r.stderr}`);
    return kv(r.stdout);
  };
}

for (const name of SERVERS) {
  test(`loadgen smoke against ${name}: every mode`, { timeout: 120000 }, async (t) => {
    const srv = await startServer(name);
    t.after(() => stop(srv.child));
    const run = runAgainst(srv);

    await t.test('echo text 16 B, K=4', async () => {
      const r = await run(['--mode', 'echo', '--conns', '4', '--inflight', '4', '--size', '16', ...SHORT]);
      assert.strictEqual(r.mode, 'echo');
      assert.strictEqual(r.binary, 0);
      assert.ok(r.msgs > 0 && r.rate > 0, `msgs=${r.msgs}`);
      assert.ok(r.p50_us > 0 && r.p99_us >= r.p50_us && r.p999_us >= r.p99_us, 'latency percentiles in order');
      assert.ok(r.gen_cpu >= 0 && r.server_cpu_s >= 0);
    });
    await t.test('echo binary 64 KiB, K=1', async () => {
      const r = await run(['--mode', 'echo', '--conns', '2', '--inflight', '1', '--size', '65536', '--binary', ...SHORT]);
      assert.strictEqual(r.binary, 1);
      assert.strictEqual(r.size, 65536);
      assert.ok(r.msgs > 0 && r.mbytes_per_s > 0);
    });
    await t.test('echo 3-byte text payloads (shorter than the sequence digits)', async () => {
      const r = await run(['--mode', 'echo', '--conns', '2', '--inflight', '2', '--size', '3', ...SHORT]);
      assert.ok(r.msgs > 0);
    });
    await t.test('broadcast to 20 subscribers', async () => {
      const r = await run(['--mode', 'broadcast', '--conns', '20', '--inflight', '4', '--size', '16', '--binary', ...SHORT]);
      assert.strictEqual(r.mode, 'broadcast');
      assert.ok(r.published > 0 && r.msgs > 0, `published=${r.published} msgs=${r.msgs}`);
      // each published message reaches 20 subscribers (give or take the window edges)
      assert.ok(r.msgs >= (r.published - 8) * 20 && r.msgs <= (r.published + 8) * 20, `msgs=${r.msgs} published=${r.published}`);
    });
    await t.test('connect, 4 concurrent', async () => {
      const r = await run(['--mode', 'connect', '--conns', '4', ...SHORT]);
      assert.strictEqual(r.mode, 'connect');
      assert.ok(r.msgs > 0 && r.handshakes >= r.msgs);
    });
    await t.test('idle, 200 connections', async () => {
      const r = await run(['--mode', 'idle', '--conns', '200', '--duration', '0.2']);
      assert.strictEqual(r.mode, 'idle');
      assert.strictEqual(r.conns, 200);
      assert.ok(r.rss_before > 0 && r.rss_after > 0);
      assert.strictEqual(typeof r.bytes_per_conn, 'number');
    });
  });

  test(`loadgen --deflate against ${name} --deflate: every reply comes back compressed and checks out`, { timeout: 60000 }, async (t) => {
    const srv = await startServer(name, ['--deflate']);
    t.after(() => stop(srv.child));
    const run = runAgainst(srv);

    await t.test('echo 4 KiB JSON-like text, K=4 (the echo-deflate scenario, small)', async () => {
      const r = await run(['--mode', 'echo', '--conns', '4', '--inflight', '4', '--size', '4096', '--text', '--deflate', ...SHORT]);
      assert.strictEqual(r.deflate, 1);
      assert.ok(r.msgs > 0, `msgs=${r.msgs}`);
      // 4 KiB is above every server's threshold: all replies compressed, and smaller than sent
      assert.strictEqual(r.compressed_msgs, r.msgs, `compressed_msgs=${r.compressed_msgs} msgs=${r.msgs}`);
      assert.strictEqual(r.compressed_pct, 100);
      assert.ok(r.sent_wire_bytes > 0 && r.sent_wire_bytes < 4096, `sent_wire_bytes=${r.sent_wire_bytes}`);
      assert.ok(r.recv_wire_bytes > 0 && r.recv_wire_bytes < 4096, `recv_wire_bytes=${r.recv_wire_bytes}`);
    });
    await t.test('broadcast 4 KiB to 10 subscribers', async () => {
      const r = await run(['--mode', 'broadcast', '--conns', '10', '--inflight', '2', '--size', '4096', '--deflate', ...SHORT]);
      assert.ok(r.published > 0 && r.msgs > 0, `published=${r.published} msgs=${r.msgs}`);
      assert.ok(r.compressed_pct >= 0 && r.compressed_pct <= 100);
    });
    await t.test('connect, 2 concurrent, each handshake accepting the extension', async () => {
      const r = await run(['--mode', 'connect', '--conns', '2', '--deflate', ...SHORT]);
      assert.ok(r.msgs > 0);
    });
  });
}

// ---- a misbehaving server: the generator must fail loudly -------------------

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const acceptOf = (key) => crypto.createHash('sha1').update(key + GUID).digest('base64');

// A tiny WebSocket "server" over net: answers the upgrade (or not, per
// `behave.handshake`), then hands every client frame to `behave.frame`
// along with the list of upgraded sockets (in connection order).
function fakeServer(behave) {
  const clients = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let upgraded = false;
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        const key = /sec-websocket-key:\s*(\S+)/i.exec(head)[1];
        const answer = behave.handshake ? behave.handshake(key)
          : `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n\r\n`;
        if (behave.split) {
          sock.setNoDelay(true);
          trickle(sock, Buffer.from(answer));
        } else {
          sock.write(answer);
        }
        upgraded = true;
        clients.push(sock);
        sock.on('close', () => clients.splice(clients.indexOf(sock), 1));
      }
      for (;;) { // client frames: masked, payload < 64 KiB here
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        if (buf.length < off + 4 + len) return;
        const mask = buf.subarray(off, off + 4);
        const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len));
        for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
        const opcode = buf[0] & 0x0f;
        buf = buf.subarray(off + 4 + len);
        if (opcode === 8) { sock.end(frame(8, payload)); return; }
        behave.frame(sock, opcode, payload, clients);
      }
    });
  });
  server.clients = clients;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Writes buf one byte per write, so the reader sees it in pieces.
function trickle(sock, buf) {
  for (let i = 0; i < buf.length; i++) sock.write(buf.subarray(i, i + 1));
}

function frame(opcode, payload, masked) {
  const head = [0x80 | opcode];
  if (payload.length < 126) head.push((masked ? 0x80 : 0) | payload.length);
  else head.push((masked ? 0x80 : 0) | 126, payload.length >> 8, payload.length & 0xff);
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const mask = crypto.randomBytes(4);
  const p = Buffer.from(payload);
  for (let i = 0; i < p.length; i++) p[i] ^= mask[i & 3];
  return Buffer.concat([Buffer.from(head), mask, p]);
}

async function expectFailure(behave, pattern, args = ['--mode', 'echo', '--conns', '2', '--inflight', '2', '--size', '16']) {
  const server = await fakeServer(behave);
  try {
    const r = await loadgen([...args, ...SHORT, '--port', String(server.address().port)]);
    assert.strictEqual(r.code, 1, `loadgen should exit 1, exited ${r.code} ${r.signal || ''}\n${r.stdout}`);
    assert.match(r.stderr, /^loadgen: error: /m);
    assert.match(r.stderr, pattern);
    assert.ok(!r.stdout.split('\n').some((l) => l.startsWith('mode=')), 'no result line on failure');
  } finally {
    server.close();
  }
}

const echo = (sock, opcode, payload) => sock.write(frame(opcode, payload));

test('the fake server is a valid echo server (control for the negative tests)', async () => {
  const server = await fakeServer({ frame: echo });
  try {
    const r = await loadgen(['--mode', 'echo', '--conns', '2', '--inflight', '2', '--size', '16', ...SHORT,
      '--port', String(server.address().port)]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.ok(kv(r.stdout).msgs > 0);
  } finally {
    server.close();
  }
});

test('loadgen copes with a handshake and frames that arrive a byte at a time', async () => {
  const server = await fakeServer({ split: true, frame: (sock, opcode, payload) => trickle(sock, frame(opcode, payload)) });
  try {
    for (const size of ['16', '300']) { // 7-bit and 16-bit lengths
      const r = await loadgen(['--mode', 'echo', '--conns', '2', '--inflight', '2', '--size', size, ...SHORT,
        '--port', String(server.address().port)]);
      assert.strictEqual(r.code, 0, r.stderr);
      assert.ok(kv(r.stdout).msgs > 0);
    }
  } finally {
    server.close();
  }
});

test('loadgen --threads 2 drives one port per thread, half the connections each, and sums what both measured', async () => {
  const seen = [0, 0];
  const servers = [];
  for (const i of [0, 1]) {
    servers.push(await fakeServer({ frame: (sock, opcode, payload) => { seen[i]++; echo(sock, opcode, payload); } }));
  }
  try {
    const r = await loadgen(['--mode', 'echo', '--conns', '6', '--inflight', '2', '--size', '16', '--threads', '2', ...SHORT,
      '--port', servers.map((x) => x.address().port).join(',')]);
    assert.strictEqual(r.code, 0, r.stderr);
    const k = kv(r.stdout);
    assert.strictEqual(k.threads, 2);
    assert.ok(k.msgs > 0 && seen[0] > 0 && seen[1] > 0, `both ports served: ${seen}`);
    assert.ok(k.msgs <= seen[0] + seen[1], 'the measured echoes are at most what both servers answered');
    assert.ok(k.gen_cpu_sum >= k.gen_cpu, 'gen_cpu is the busiest thread, gen_cpu_sum both');
  } finally {
    for (const x of servers) x.close();
  }
});

test('loadgen --threads 2 fails when the server of one thread misbehaves', async () => {
  const good = await fakeServer({ frame: echo });
  const bad = await fakeServer({ frame: (sock, opcode, payload) => { const p = Buffer.from(payload); p[p.length - 1] ^= 1; echo(sock, opcode, p); } });
  try {
    const r = await loadgen(['--mode', 'echo', '--conns', '4', '--inflight', '2', '--size', '16', '--threads', '2', ...SHORT,
      '--port', `${good.address().port},${bad.address().port}`]);
    assert.strictEqual(r.code, 1, r.stdout);
    assert.match(r.stderr, /payload mismatch/);
    const single = await loadgen(['--mode', 'broadcast', '--conns', '4', '--threads', '2', ...SHORT, '--port', String(good.address().port)]);
    assert.strictEqual(single.code, 1);
    assert.match(single.stderr, /--threads applies to --mode echo only/);
  } finally {
    good.close();
    bad.close();
  }
});

test('loadgen --mode broadcast --port A,B spreads the subscribers over both servers, the publisher on A', async () => {
  const servers = [];
  const hosts = [];
  const everyone = () => [...servers[0].clients, ...servers[1].clients];
  const fanout = (sock, opcode, payload) => { for (const c of everyone()) c.write(frame(opcode, payload)); };
  for (let i = 0; i < 2; i++) {
    servers.push(await fakeServer({
      frame: (sock, opcode, payload) => { hosts[i] = (hosts[i] || 0) + 1; fanout(sock, opcode, payload); },
    }));
  }
  const counts = [];
  const sample = setInterval(() => { counts[0] = servers[0].clients.length; counts[1] = servers[1].clients.length; }, 20);
  try {
    const r = await loadgen(['--mode', 'broadcast', '--conns', '6', '--inflight', '2', '--size', '16', '--binary', ...SHORT,
      '--port', servers.map((x) => x.address().port).join(',')]);
    assert.strictEqual(r.code, 0, r.stderr);
    const k = kv(r.stdout);
    assert.ok(k.published > 0 && k.msgs > 0, `published=${k.published} msgs=${k.msgs}`);
    assert.deepStrictEqual(counts, [4, 3], 'subscribers 0, 2, 4 and the publisher on A; 1, 3, 5 on B');
    assert.ok(hosts[0] > 0 && !hosts[1], 'only the publisher sends, to A');
  } finally {
    clearInterval(sample);
    for (const x of servers) x.close();
  }
});

test('loadgen --server-tree counts the server\'s descendants; server_cpu_parts splits the CPU by process', async () => {
  // The "server" process (this one) answers slowly and stays nearly idle; its child `yes` is busy.
  const server = await fakeServer({ frame: (sock, opcode, payload) => setTimeout(() => echo(sock, opcode, payload), 5) });
  const busy = spawn('yes', [], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    const args = ['--mode', 'echo', '--conns', '1', '--inflight', '1', '--size', '16', '--duration', '1.5', '--warmup', '0.1',
      '--port', String(server.address().port), '--server-pid', `${process.pid},${busy.pid}`];
    const plain = await loadgen(args);
    assert.strictEqual(plain.code, 0, plain.stderr);
    const p = kv(plain.stdout).server_cpu_parts.split(',').map(Number);
    assert.strictEqual(p.length, 2);
    assert.ok(p[1] > 0.02 && p[0] < p[1], `alone, this process is idle beside its busy child: ${p}`);
    const tree = await loadgen([...args, '--server-tree']);
    assert.strictEqual(tree.code, 0, tree.stderr);
    const t = kv(tree.stdout).server_cpu_parts.split(',').map(Number);
    assert.ok(t[1] > 0.02 && t[0] >= t[1] - 0.011, `with its descendants, this process counts its child's CPU: ${t}`);
  } finally {
    busy.kill('SIGKILL');
    server.close();
  }
});

test('loadgen fails on a wrong Sec-WebSocket-Accept', () => expectFailure({
  handshake: (key) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key + 'x')}\r\n\r\n`,
  frame: echo,
}, /wrong Sec-WebSocket-Accept/));

test('loadgen fails on a refused upgrade', () => expectFailure({
  handshake: () => 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
  frame: echo,
}, /HTTP\/1\.1 404 Not Found/));

test('loadgen fails on an echoed payload that differs from what was sent', () => expectFailure({
  frame: (sock, opcode, payload) => {
    const p = Buffer.from(payload);
    p[p.length - 1] ^= 1;
    sock.write(frame(opcode, p));
  },
}, /payload mismatch/));

test('loadgen fails on a lost or reordered message', () => expectFailure({
  frame: (sock, opcode, payload) => {
    const p = Buffer.from(payload);
    p[15] = p[15] === 0x30 ? 0x31 : 0x30; // change the sequence digits
    sock.write(frame(opcode, p));
  },
}, /payload mismatch.*sequence/));

test('loadgen fails on a masked server frame', () => expectFailure({
  frame: (sock, opcode, payload) => sock.write(frame(opcode, payload, true)),
}, /masked frame/));

test('loadgen fails when text comes back as binary', () => expectFailure({
  frame: (sock, opcode, payload) => sock.write(frame(opcode === 1 ? 2 : opcode, payload)),
}, /came back as binary, was sent as text/));

test('loadgen fails on a message the client never sent', () => expectFailure({
  frame: (sock, opcode, payload) => { sock.write(frame(opcode, payload)); sock.write(frame(opcode, payload)); },
}, /unexpected message|payload mismatch/));

test('loadgen fails on a truncated echo', () => expectFailure({
  frame: (sock, opcode, payload) => sock.write(frame(opcode, payload.subarray(0, 10))),
}, /has 10 bytes, 16 were sent/));

test('loadgen fails when the server closes the connection', () => expectFailure({
  frame: (sock) => sock.end(frame(8, Buffer.from([0x03, 0xf3, 0x62, 0x79, 0x65]))),
}, /server closed the connection: code 1011, reason "bye"/));

test('loadgen fails on a broadcast that skips a subscriber', () => expectFailure({
  // sends every message to every client, except message #2 to the first subscriber
  frame: (sock, opcode, payload, clients) => {
    const seq = parseInt(payload.toString('latin1'), 16);
    for (const c of clients) if (!(c === clients[0] && seq === 2)) c.write(frame(opcode, payload));
  },
}, /connection 0: payload mismatch in message #2 .*sequence digits/,
['--mode', 'broadcast', '--conns', '3', '--inflight', '2', '--size', '16']));

// ---- permessage-deflate: a misbehaving server must fail the generator too --

const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const DEFLATE_ARGS = ['--mode', 'echo', '--conns', '2', '--inflight', '2', '--size', '2000', '--deflate'];
const answer101 = (key, extensions) => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Accept: ${acceptOf(key)}\r\n${extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`}\r\n`;
const acceptDeflate = (key) => answer101(key, 'permessage-deflate; client_no_context_takeover');
// The client's messages are compressed (RSV1): the message as it was sent.
const inflateMsg = (payload) => zlib.inflateRawSync(Buffer.concat([payload, SYNC_TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
// Raw deflate of one message, flushed with its 00 00 ff ff removed (RFC 7692 7.2.1).
const deflateMsg = (data) => zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
function zframe(opcode, compressed) {
  const f = frame(opcode, compressed);
  f[0] |= 0x40; // RSV1: compressed
  return f;
}

test('a fake permessage-deflate server replying compressed, final-block compressed and plain is valid (control)', async () => {
  let n = 0;
  const server = await fakeServer({
    handshake: acceptDeflate,
    frame: (sock, opcode, payload) => {
      const data = inflateMsg(payload);
      const kind = n++ % 3;
      if (kind === 0) sock.write(zframe(opcode, deflateMsg(data)));
      else if (kind === 1) sock.write(zframe(opcode, zlib.deflateRawSync(data))); // BFINAL block, no tail to strip
      else sock.write(frame(opcode, data)); // below a threshold: sent as it is
    },
  });
  try {
    const r = await loadgen([...DEFLATE_ARGS, ...SHORT, '--port', String(server.address().port)]);
    assert.strictEqual(r.code, 0, r.stderr);
    const v = kv(r.stdout);
    assert.ok(v.msgs > 0);
    assert.ok(v.compressed_pct > 50 && v.compressed_pct < 80, `compressed_pct=${v.compressed_pct}`);
  } finally {
    server.close();
  }
});

test('loadgen --deflate inflates compressed replies that arrive a byte at a time', async () => {
  const server = await fakeServer({
    handshake: acceptDeflate,
    split: true,
    frame: (sock, opcode, payload) => trickle(sock, zframe(opcode, deflateMsg(inflateMsg(payload)))),
  });
  try {
    const r = await loadgen([...DEFLATE_ARGS, ...SHORT, '--port', String(server.address().port)]);
    assert.strictEqual(r.code, 0, r.stderr);
    const v = kv(r.stdout);
    assert.ok(v.msgs > 0 && v.compressed_pct === 100, `msgs=${v.msgs} compressed_pct=${v.compressed_pct}`);
  } finally {
    server.close();
  }
});

test('loadgen --deflate fails when the server declines permessage-deflate', () => expectFailure({
  frame: echo,
}, /did not accept permessage-deflate/, DEFLATE_ARGS));

test('loadgen --deflate fails when the server answers a parameter the client did not offer', () => expectFailure({
  handshake: (key) => answer101(key, 'permessage-deflate; client_no_context_takeover; client_max_window_bits=10'),
  frame: echo,
}, /parameter "client_max_window_bits", which the client did not allow/, DEFLATE_ARGS));

test('loadgen --deflate fails when the server answers another extension', () => expectFailure({
  handshake: (key) => answer101(key, 'x-webkit-deflate-frame'),
  frame: echo,
}, /answered extension "x-webkit-deflate-frame", not permessage-deflate/, DEFLATE_ARGS));

test('loadgen fails on a compressed reply when permessage-deflate was not negotiated', () => expectFailure({
  frame: (sock, opcode, payload) => sock.write(zframe(opcode, deflateMsg(payload))),
}, /RSV bits 0x40 set, no extension negotiated/));

test('loadgen --deflate fails on a compressed reply that does not inflate', () => expectFailure({
  handshake: acceptDeflate,
  frame: (sock, opcode, payload) => {
    const z = Buffer.from(deflateMsg(inflateMsg(payload)));
    z[0] = 0xff; // BTYPE 11: an invalid block type
    sock.write(zframe(opcode, z));
  },
}, /compressed payload does not inflate: invalid block type/, DEFLATE_ARGS));

test('loadgen --deflate fails on a compressed reply that inflates to a wrong byte', () => expectFailure({
  handshake: acceptDeflate,
  frame: (sock, opcode, payload) => {
    const data = Buffer.from(inflateMsg(payload));
    data[1500] ^= 1;
    sock.write(zframe(opcode, deflateMsg(data)));
  },
}, /payload mismatch in message #\d+ at byte 1500: .*the payload body/, DEFLATE_ARGS));

test('loadgen --deflate fails on a compressed reply that inflates short', () => expectFailure({
  handshake: acceptDeflate,
  frame: (sock, opcode, payload) => sock.write(zframe(opcode, deflateMsg(inflateMsg(payload).subarray(0, 1999)))),
}, /has 1999 bytes, 2000 were sent/, DEFLATE_ARGS));

test('compare.js --quick runs end to end and writes its report', { timeout: 180000 }, async () => {
  const out = path.join(os.tmpdir(), `bench-results-${process.pid}.md`);
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(BENCH, 'compare.js'), '--quick', '--servers', SERVERS.join(','),
      '--scenarios', `echo16-k16,bcast1k,idle10k,echo-deflate,echo16-k16-workers2${SERVERS.includes('ours') ? ',gateway-echo16,bcast1k-redis2' : ''}`, '--duration', '0.3', '--warmup', '0.1', '--out', out],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  try {
    assert.strictEqual(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const md = fs.readFileSync(out, 'utf8');
    assert.match(md, /^# Benchmark results/m);
    assert.match(md, /\| cores \(nproc\) \| \d+ \|/);
    assert.match(md, /\| Node \| v\d+/);
    for (const label of ['ws', 'uWS.js']) assert.match(md, new RegExp(`\\| echo 100 conns × 16 B, K=16 \\| ${label.replace('.', '\\.')} \\| [\\d.]+[kM]? msg/s`));
    assert.match(md, /\| idle memory, 10,000 connections \| ws \| -?[\d,]+ B\/conn/);
    for (const label of ['ws', 'uWS.js', ...(SERVERS.includes('ours') ? ['node.websocket'] : [])]) assert.match(md, new RegExp(`\\| echo 100 conns × 4 KiB JSON-like text, K=16, permessage-deflate \\| ${label.replace('.', '\\.')} \\| 100\\.0% \\|`));
    assert.match(md, /Generated by `node .*compare\.js --quick/);
    // Two cores of server: uWS.js in two threads, and ours with --workers=2 against ours in one process.
    const workerLabels = ['uWS\\.js 2 worker threads', ...(SERVERS.includes('ours') ? ['node\\.websocket --workers=2', 'node\\.websocket'] : [])];
    for (const label of workerLabels) assert.match(md, new RegExp(`\\| echo 100 conns × 16 B, K=16, two cores of server \\| ${label} \\| [\\d.]+[kM]? msg/s`));
    assert.match(md, /## Two cores of server: workers/);
    if (SERVERS.includes('ours')) {
      // The gateway: websocket_echo through the relay (both socket types) and direct mode, the JS echo module, websocketd.
      for (const label of ['JS echo module', 'gateway relay, seqpacket', 'gateway relay, stream \\(length framing\\)', 'gateway direct', 'websocketd \\+ cat']) {
        assert.match(md, new RegExp(`\\| gateway: echo 100 conns × 16 B text, K=16 \\| ${label} \\| [\\d.]+[kM]? msg/s \\| [\\d.]+ \\|`));
      }
      assert.match(md, /\| gateway relay, seqpacket \| [^|]+ \| [\d.]+ \| [\d.]+ \/ [\d.]+ \| [\d.]+× \| [\d.]+× \|/, 'relay: the split server / service and the ratios');
      // Two servers through Redis: loadgen checks that every subscriber, on either server, got every message.
      for (const label of ['1 process', '1 process, --redis', '2 processes, --redis']) {
        assert.match(md, new RegExp(`\\| broadcast to 1,000 subscribers × 16 B, two servers through Redis \\| node\\.websocket, ${label} \\| [\\d.]+[kM]? deliveries/s`));
      }
      assert.match(md, /\| node\.websocket, 2 processes, --redis \| [^|]+ \| [\d.]+× \| [\d.]+× \| [\d.]+ \| [\d.]+ \/ [\d.]+ \/ [\d.]+ \|/, 'two servers and redis in the split');
    }
  } finally {
    fs.rmSync(out, { force: true });
  }
});
