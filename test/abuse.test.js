'use strict';

// Abuse: slowloris and silent connections, header floods, connection churn,
// running out of file descriptors, readers that never read, senders that
// never stop, a compression bomb, ping and empty-fragment floods. Each server
// is runserver.js in a child process (its RSS is its own, read from /proc),
// with a population of well-behaved npm `ws` clients echoing beside the
// abusers: they must keep getting correct answers, and the server's memory
// and its own counters (the metrics listener) must stay bounded.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const tls = require('tls');
const zlib = require('zlib');
const WebSocket = require('ws');
const { waitUntil, withTimeout, delay } = require('./helpers');

const root = path.join(__dirname, '..');
const MiB = 1024 * 1024;

/**
 * Starts runserver.js under `sh -c 'ulimit -n N; exec ...'` (fixed
 * arguments, no user input) with a metrics listener. Resolves { child, pid,
 * port, url, out(), rss(), cpu(), metrics(), stop() }.
 */
async function startServer(args, { nofile = 4096 } = {}) {
  const child = spawn('sh', ['-c', 'ulimit -n "$1" || exit 97; shift; exec "$@"', 'sh', String(nofile), process.execPath,
    path.join(root, 'runserver.js'), '--host=127.0.0.1', '--port=0', '--metrics=127.0.0.1:0', '--status-interval=0', ...args],
  { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const closed = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const listening = /listening on (wss?):\/\/[^\s]+:(\d+)\//;
  const metricsLine = /metrics: http:\/\/[^\s]+:(\d+)\/metrics/;
  try {
    await waitUntil(() => (listening.test(out) && metricsLine.test(out)) || child.exitCode !== null, 20000, 'runserver.js to listen');
    if (child.exitCode !== null) throw new Error(`runserver.js exited ${child.exitCode}${child.exitCode === 97 ? ` (ulimit -n ${nofile} refused: raise the hard limit)` : ''}: ${out}`);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const [, scheme, portText] = listening.exec(out);
  const port = Number(portText);
  const metricsPort = Number(metricsLine.exec(out)[1]);
  const pid = child.pid; // sh exec'd node: the same process
  return {
    child,
    pid,
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    out: () => out,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024,
    cpu: () => { // utime + stime, clock ticks
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);
    },
    metrics: () => scrape(metricsPort),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return withTimeout(closed, 10000, 'runserver.js to exit');
    },
  };
}

/** GET /metrics; resolves { sockets: {handshake, open, closing}, queued, accepted, shed }. */
function scrape(port) {
  return withTimeout(new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const value = (re) => { const m = re.exec(body); return m ? Number(m[1]) : NaN; };
        resolve({
          sockets: {
            handshake: value(/_sockets\{state="handshake"\} (\S+)/),
            open: value(/_sockets\{state="open"\} (\S+)/),
            closing: value(/_sockets\{state="closing"\} (\S+)/),
          },
          queued: value(/^\w+_queued_bytes (\S+)$/m),
          shed: value(/^\w+_sockets_shed_total (\S+)$/m),
          text: body,
        });
      });
    }).on('error', reject);
  }), 5000, 'GET /metrics');
}

/** Total sockets the engine holds, from the metrics. */
async function engineSockets(srv) {
  const m = await srv.metrics();
  return m.sockets.handshake + m.sockets.open + m.sockets.closing;
}

/** Samples srv.rss() every 100 ms until stop(); stop() resolves the peak. */
function sampleRss(srv) {
  let peak = srv.rss();
  const timer = setInterval(() => { try { peak = Math.max(peak, srv.rss()); } catch { /* exited */ } }, 100);
  return { stop: () => { clearInterval(timer); try { peak = Math.max(peak, srv.rss()); } catch { /* exited */ } return peak; } };
}

/**
 * n npm `ws` clients on url + '/echo', each sending a numbered text message
 * every `every` ms and checking that exactly it comes back. stop() resolves
 * { sent, wrong, failures, p99 }.
 */
async function population(url, n, { every = 100, options = {} } = {}) {
  const clients = [];
  for (let i = 0; i < n; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 50); j++) {
      const ws = new WebSocket(`${url}/echo`, options);
      clients.push(ws);
      batch.push(withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 10000, `client ${j} to open`));
    }
    await Promise.all(batch);
  }
  let running = true;
  const latencies = [];
  let wrong = 0;
  const failures = [];
  const loops = clients.map(async (ws, i) => {
    let seq = 0;
    while (running) {
      const msg = `client ${i} message ${seq++}`;
      const t0 = process.hrtime.bigint();
      try {
        const [data] = await withTimeout(new Promise((resolve, reject) => {
          ws.once('message', (...a) => resolve(a));
          ws.once('close', (code) => reject(new Error(`closed with ${code}`)));
          ws.send(msg);
        }), 5000, `client ${i}'s echo`);
        ws.removeAllListeners('close');
        if (data.toString() !== msg) wrong++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (e) {
        failures.push(e.message);
        return;
      }
      await delay(every);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const ws of clients) ws.terminate();
      latencies.sort((a, b) => a - b);
      return { sent: latencies.length, wrong, failures, p99: latencies[Math.floor(latencies.length * 0.99)] || 0 };
    },
  };
}

/** Asserts a population's report: answers came, all right, none failed, p99 < 1 s. */
function assertServed(report, what) {
  assert.deepEqual(report.failures, [], `${what}: well-behaved clients failed`);
  assert.equal(report.wrong, 0, `${what}: wrong echoes`);
  assert.ok(report.sent > 0, `${what}: no echo came back`);
  assert.ok(report.p99 < 1000, `${what}: p99 echo latency ${report.p99.toFixed(1)} ms, not under 1 s`);
}

/** Opens a raw TCP connection; resolves the socket once connected. */
function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Opens n raw connections, `batch` at a time; errors are the abuser's business. */
async function openMany(port, n, batch = 500) {
  const socks = [];
  for (let i = 0; i < n; i += batch) {
    const made = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => connect(port)));
    for (const s of made) {
      s.on('error', () => {});
      s.closedAt = 0;
      s.answer = '';
      s.on('data', (d) => { if (s.answer.length < 256) s.answer += d.toString('latin1'); });
      s.on('close', () => { s.closedAt = Date.now(); });
      socks.push(s);
    }
  }
  return socks;
}

function upgradeRequest(resource = '/echo', extra = '') {
  return `GET ${resource} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** A masked client frame. */
function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv1 = false } = {}) {
  payload = Buffer.from(payload);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0, 0x80 | len]) : len < 65536
    ? Buffer.from([0, 0x80 | 126, len >> 8, len & 255])
    : Buffer.concat([Buffer.from([0, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  head[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const mask = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/**
 * A raw WebSocket connection past its handshake: resolves { socket, frames }
 * where frames collects the server's frames ({ opcode, payload }) while the
 * socket is read, and closeCode() resolves the code of its close frame.
 */
async function rawWs(port, resource = '/echo', extra = '') {
  const socket = await connect(port);
  socket.on('error', () => {});
  socket.write(upgradeRequest(resource, extra));
  let buf = Buffer.alloc(0);
  await withTimeout(new Promise((resolve, reject) => {
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      if (!buf.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) reject(new Error(`not upgraded: ${buf.subarray(0, end)}`));
      buf = buf.subarray(end + 4);
      resolve();
    };
    socket.on('data', onData);
  }), 5000, 'the upgrade');
  const frames = [];
  let closeResolve;
  const closed = new Promise((resolve) => { closeResolve = resolve; });
  const parse = () => {
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 127;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf.length < off + len) return;
      const f = { opcode: buf[0] & 15, payload: buf.subarray(off, off + len) };
      buf = buf.subarray(off + len);
      if (f.opcode === 8) closeResolve(f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005);
      else if (frames.length < 100000) frames.push(f);
    }
  };
  socket.on('data', (d) => { buf = buf.length ? Buffer.concat([buf, d]) : d; parse(); });
  socket.on('close', () => closeResolve(-1));
  parse();
  return { socket, frames, closeCode: (ms = 5000) => withTimeout(closed, ms, 'a close frame') };
}

function softNofile() {
  return Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
}

test('5,000 slowloris and 5,000 silent connections are reaped by the handshake timeout while 200 clients echo', { timeout: 60000 }, async (t) => {
  const have = softNofile();
  assert.ok(have >= 12000, `this test holds 10,200 sockets: ulimit -n is ${have}, raise it to 12000 or more`);
  const srv = await startServer(['--handshake-timeout=2000', '--backlog=4096', '--no-log'], { nofile: 12000 });
  const socks = [];
  let slow = null;
  let pop = null;
  try {
    pop = await population(srv.url, 200);
    await delay(300);
    const base = srv.rss();
    const rss = sampleRss(srv);
    const request = upgradeRequest();
    const silent = await openMany(srv.port, 5000);
    const loris = await openMany(srv.port, 5000);
    socks.push(...silent, ...loris);
    const opened = Date.now();
    let at = 0;
    slow = setInterval(() => { // one header byte each second
      for (const s of loris) if (!s.closedAt && !s.destroyed) s.write(request[at % request.length]);
      at++;
    }, 1000);
    for (const s of loris) s.write(request[0]);
    await waitUntil(() => socks.every((s) => s.closedAt), 15000, 'the handshake timeout to reap all 10,000');
    const took = Math.max(...socks.map((s) => s.closedAt)) - opened;
    clearInterval(slow);
    const report = await pop.stop();
    pop = null;
    const peak = rss.stop();
    t.diagnostic(`reaped in ${took} ms; RSS +${((peak - base) / MiB).toFixed(1)} MiB at the peak; echo p99 ${report.p99.toFixed(1)} ms over ${report.sent}`);
    assertServed(report, 'beside 10,000 slow connections');
    assert.ok(took < 8000, `the last abuser went ${took} ms after they were all open`);
    assert.ok(loris.every((s) => s.answer.startsWith('HTTP/1.1 408')), 'a slowloris that said something gets 408');
    assert.ok(silent.every((s) => s.answer === ''), 'a silent connection is closed without an answer');
    await waitUntil(async () => (await engineSockets(srv)) === 0, 5000, 'the engine to hold no socket');
    assert.ok(peak - base < 128 * MiB, `RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB for 10,000 slow connections`);
  } finally {
    clearInterval(slow);
    if (pop) await pop.stop();
    for (const s of socks) s.destroy();
    await srv.stop();
  }
});

test('10,000 headers, a 1 MiB header line, a head that never ends: 431 with its reason, RSS bounded', { timeout: 30000 }, async (t) => {
  const srv = await startServer(['--no-log']);
  const socks = [];
  let pop = null;
  try {
    pop = await population(srv.url, 20);
    await delay(300);
    const base = srv.rss();
    const rss = sampleRss(srv);
    const many = `GET /echo HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(10000)}\r\n`;
    const long = `GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(MiB)}\r\n\r\n`;
    const kinds = [];
    for (let round = 0; round < 20; round++) {
      for (const kind of ['many', 'long', 'endless', 'malformed']) {
        const [s] = await openMany(srv.port, 1);
        socks.push(s);
        kinds.push(kind);
        if (kind === 'many') s.write(many);
        else if (kind === 'long') s.write(long);
        else if (kind === 'malformed') s.write('GET /echo HTTP/1.1\r\nHost x\r\n\r\n');
        else {
          s.write('GET /echo HTTP/1.1\r\nHost: x\r\n');
          let n = 0;
          const t = setInterval(() => { if (s.closedAt || s.destroyed) clearInterval(t); else s.write(`X-Endless-${n++}: ${'v'.repeat(100)}\r\n`); }, 5);
        }
      }
    }
    await waitUntil(() => socks.every((s) => s.closedAt), 10000, 'every abuser to be answered and closed');
    const peak = rss.stop();
    const report = await pop.stop();
    pop = null;
    socks.forEach((s, i) => {
      if (kinds[i] === 'malformed') {
        assert.match(s.answer, /^HTTP\/1\.1 400 [^]*Malformed HTTP request/, `${kinds[i]}: ${s.answer.slice(0, 80)}`);
      } else {
        assert.match(s.answer, /^HTTP\/1\.1 431 [^]*Request header fields too large/, `${kinds[i]}: ${s.answer.slice(0, 80)}`);
      }
    });
    t.diagnostic(`RSS +${((peak - base) / MiB).toFixed(1)} MiB at the peak; echo p99 ${report.p99.toFixed(1)} ms`);
    assertServed(report, 'beside header floods');
    assert.ok(peak - base < 24 * MiB, `RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB for 80 oversized heads`);
    await waitUntil(async () => (await engineSockets(srv)) === 0, 5000, 'the engine to hold no abuser');
  } finally {
    if (pop) await pop.stop();
    for (const s of socks) s.destroy();
    await srv.stop();
  }
});

/** One churned connection of the given kind: it goes away at the worst moment. */
async function churnOne(port, kind) {
  const s = await connect(port).catch(() => null);
  if (!s) return;
  s.on('error', () => {});
  const upgraded = () => new Promise((resolve) => {
    let got = '';
    const onData = (d) => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) { s.removeListener('data', onData); resolve(); } };
    s.on('data', onData);
    s.on('close', resolve);
  });
  switch (kind) {
    case 0: break; // connect and go
    case 1: s.write(upgradeRequest().slice(0, 40)); break; // mid-handshake
    case 2: // mid-frame
      s.write(upgradeRequest());
      await upgraded();
      s.write(frame(1, 'x'.repeat(1000)).subarray(0, 300));
      break;
    case 3: // mid-close: our close frame, then gone before the answer
      s.write(upgradeRequest());
      await upgraded();
      s.write(frame(8, Buffer.from([3, 232])));
      break;
    case 4: // a large send queued: a 1 MiB echo, unread
      s.write(upgradeRequest());
      await upgraded();
      s.pause();
      s.write(frame(2, Buffer.alloc(MiB, 7)));
      await delay(50);
      break;
    default: break;
  }
  s.destroy();
}

test('20,000 connections churned, vanishing mid-handshake, mid-frame, mid-close, mid-TLS and with a large send queued: back to 0 and near the baseline', { timeout: 90000 }, async (t) => {
  const srv = await startServer(['--no-log', '--backlog=4096']);
  const certs = require('./certs').makeCerts();
  const tlsSrv = await startServer(['--no-log', `--tls-cert=${certs.cert}`, `--tls-key=${certs.key}`]);
  let pop = null;
  let tlsPop = null;
  try {
    pop = await population(srv.url, 20);
    tlsPop = await population(tlsSrv.url, 5, { options: { ca: certs.caPem } });
    await delay(300);
    const base = srv.rss();
    const tlsBase = tlsSrv.rss();
    const rss = sampleRss(srv);
    const tlsRss = sampleRss(tlsSrv);
    // Kinds 0-3 make up most of it; the large sends are 1 in 50 (400 MiB echoed in all).
    // Two halves: the allocator keeps what the first one took, a leak would take more again in the second.
    let n = 0;
    const total = 20000;
    const half = async (end) => Promise.all(Array.from({ length: 200 }, async () => {
      while (n < end) {
        const i = n++;
        await churnOne(srv.port, i % 50 === 0 ? 4 : i % 4);
      }
    }));
    await half(total / 2);
    await waitUntil(async () => (await engineSockets(srv)) === 20, 10000, 'the first half to be gone');
    const middle = srv.rss();
    await half(total);
    // Over TLS: gone after a partial ClientHello, or at a random point of the TLS handshake.
    let tn = 0;
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (tn < 1000) {
        const i = tn++;
        if (i % 2) {
          const s = await connect(tlsSrv.port).catch(() => null);
          if (!s) continue;
          s.on('error', () => {});
          s.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), crypto.randomBytes(100)]));
          await delay(2);
          s.destroy();
        } else {
          await new Promise((resolve) => {
            const s = tls.connect({ host: '127.0.0.1', port: tlsSrv.port, ca: certs.caPem, servername: 'localhost' });
            s.on('error', resolve);
            s.on('close', resolve);
            setTimeout(() => s.destroy(), i % 20);
          });
        }
      }
    }));
    assertServed(await pop.stop(), 'beside the churn');
    pop = null;
    assertServed(await tlsPop.stop(), 'beside the TLS churn');
    tlsPop = null;
    await waitUntil(async () => (await engineSockets(srv)) === 0 && (await engineSockets(tlsSrv)) === 0, 10000, 'both engines to hold no socket');
    const m = await srv.metrics();
    assert.equal(m.queued, 0, 'bytes still queued');
    const peak = rss.stop();
    tlsRss.stop();
    await delay(500);
    const after = srv.rss();
    const tlsAfter = tlsSrv.rss();
    t.diagnostic(`RSS +${((peak - base) / MiB).toFixed(1)} MiB at the peak, +${((middle - base) / MiB).toFixed(1)} after 10,000, +${((after - base) / MiB).toFixed(1)} after 20,000; TLS server +${((tlsAfter - tlsBase) / MiB).toFixed(1)} after`);
    assert.equal(srv.child.exitCode, null, 'the server is still running');
    assert.ok(after - middle < 24 * MiB, `the second 10,000 took ${((after - middle) / MiB).toFixed(1)} MiB more RSS than the first left`);
    assert.ok(after - base < 96 * MiB, `RSS after the churn is ${((after - base) / MiB).toFixed(1)} MiB above the baseline (peak +${((peak - base) / MiB).toFixed(1)})`);
    assert.ok(tlsAfter - tlsBase < 64 * MiB, `TLS server RSS after is ${((tlsAfter - tlsBase) / MiB).toFixed(1)} MiB above the baseline`);
    assert.match(m.text, /sockets_accepted_total (\d+)/);
    assert.ok(Number(/sockets_accepted_total (\d+)/.exec(m.text)[1]) >= total, 'every churned connection was accepted');
  } finally {
    if (pop) await pop.stop();
    if (tlsPop) await tlsPop.stop();
    await srv.stop();
    await tlsSrv.stop();
  }
});

test('out of file descriptors: new connections are shed with one log line, the open ones served, accepting again after', { timeout: 30000 }, async (t) => {
  const srv = await startServer(['--handshake-timeout=60000'], { nofile: 64 });
  let pop = null;
  let flood = [];
  try {
    pop = await population(srv.url, 10);
    // Hold descriptors until none are left, then keep knocking.
    flood = await openMany(srv.port, 100, 10);
    await waitUntil(() => /out of file descriptors/.test(srv.out()), 5000, 'the shedding to be logged');
    const more = await openMany(srv.port, 200, 50);
    flood.push(...more);
    await waitUntil(() => more.every((s) => s.closedAt), 5000, 'the connections beyond to be shed');
    // Knocking goes on; the listener must not spin.
    let knocking = true;
    const knocker = (async () => {
      while (knocking) {
        const s = await connect(srv.port).catch(() => null);
        if (s) { s.on('error', () => {}); s.on('close', () => {}); await delay(5); s.destroy(); }
      }
    })();
    const c0 = srv.cpu();
    await delay(2000);
    const ticks = srv.cpu() - c0;
    knocking = false;
    await knocker;
    const report = await pop.stop();
    pop = null;
    assertServed(report, 'while out of descriptors');
    t.diagnostic(`${ticks} clock ticks of CPU in 2 s while flooded; echo p99 ${report.p99.toFixed(1)} ms`);
    assert.ok(ticks < 100, `the server used ${ticks} clock ticks of CPU in 2 s while flooded`);
    assert.equal(srv.out().match(/out of file descriptors/g).length, 1, 'logged once for the episode');
    assert.match(srv.out(), /\[error\] out of file descriptors \(EMFILE\): new connections are closed at once/);
    for (const s of flood) s.destroy();
    flood = [];
    await waitUntil(async () => (await engineSockets(srv)) === 0, 5000, 'the flood to be gone');
    const ws = new WebSocket(`${srv.url}/echo`);
    const [data] = await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', () => ws.send('again'));
      ws.once('message', (...a) => resolve(a));
      ws.once('error', reject);
    }), 5000, 'an echo after the descriptors freed up');
    ws.terminate();
    assert.equal(data.toString(), 'again');
    assert.ok((await srv.metrics()).shed >= 200, 'the shed connections are counted');
    assert.match(srv.out(), /accepting connections again after shedding \d+ for want of file descriptors/);
  } finally {
    if (pop) await pop.stop();
    for (const s of flood) s.destroy();
    await srv.stop();
  }
});

/** Samples the engine's queued bytes every 100 ms until stop(); stop() resolves the peak. */
function sampleQueued(srv) {
  let peak = 0;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try { peak = Math.max(peak, (await srv.metrics()).queued); } catch { /* between scrapes */ }
    busy = false;
  }, 100);
  return { stop: () => { clearInterval(timer); return peak; } };
}

test('readers that never read, a sender that never stops, a compression bomb, ping and empty-fragment floods: the others are served', { timeout: 60000 }, async (t) => {
  const srv = await startServer(['--no-log', '--deflate', '--max-payload=1048576', '--max-buffered-amount=1048576', '--close-timeout=1000']);
  let pop = null;
  const raws = [];
  const others = [];
  try {
    pop = await population(srv.url, 20);
    await delay(300);
    const base = srv.rss();
    const rss = sampleRss(srv);
    const queued = sampleQueued(srv);

    // A reader that never reads its echoes: closed once past maxBufferedAmount, the queue bounded.
    const stuck = await rawWs(srv.port, '/echo');
    raws.push(stuck);
    stuck.socket.pause();
    for (let i = 0; i < 40; i++) stuck.socket.write(frame(2, Buffer.alloc(256 * 1024, i)));
    // Paused, it sees no EOF: the engine's count says it is gone.
    await waitUntil(async () => (await engineSockets(srv)) === 20, 10000, 'the reader that never reads to be dropped');

    // Multicast: /chat with one member that never reads; the readers get every message, in order.
    const readers = await Promise.all(Array.from({ length: 3 }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${srv.url}/chat`);
      others.push(ws);
      ws.got = [];
      ws.on('message', (d) => { const m = /chat-(\d+)-/.exec(d.toString()); if (m) ws.got.push(Number(m[1])); });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })));
    const deaf = await rawWs(srv.port, '/chat');
    raws.push(deaf);
    deaf.socket.pause();
    const sender = new WebSocket(`${srv.url}/chat`);
    others.push(sender);
    await withTimeout(new Promise((resolve, reject) => { sender.once('open', resolve); sender.once('error', reject); }), 5000, 'the chat sender');
    const N = 300;
    // Paced by what the readers have got (they must not fall past maxBackpressure themselves); the deaf one falls behind.
    for (let i = 0; i < N; i += 10) {
      for (let j = i; j < i + 10; j++) sender.send(`chat-${j}-${'x'.repeat(32 * 1024)}`);
      await waitUntil(() => readers.every((r) => r.got.length >= i + 10), 10000, `the readers to get multicast ${i + 9} (they have ${readers.map((r) => r.got.length)})`);
    }
    await waitUntil(() => readers.every((r) => r.got.length === N), 15000, 'every reader to get every multicast');
    for (const r of readers) assert.deepEqual(r.got, Array.from({ length: N }, (_, i) => i), 'a reader got the multicasts in order');

    // A sender that never stops (it reads its echoes): the population is still served (asserted below).
    const fast = await rawWs(srv.port, '/echo');
    raws.push(fast);
    const chunk = frame(2, Buffer.alloc(64 * 1024, 1));
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      if (fast.socket.writableLength < 4 * MiB) fast.socket.write(chunk);
      await (fast.socket.writableLength < 4 * MiB ? new Promise(setImmediate) : delay(1)); // the test's own loop must turn too
    }
    await waitUntil(() => fast.frames.length > 0, 5000, 'the fast sender to get echoes');

    // A compression bomb: 16 MiB of zeros in a frame of about 16 KiB, past maxPayload (1 MiB) once inflated.
    const bomb = await rawWs(srv.port, '/echo', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
    raws.push(bomb);
    const z = zlib.deflateRawSync(Buffer.alloc(16 * MiB), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.ok(z.length < 64 * 1024);
    bomb.socket.write(frame(2, z.subarray(0, z.length - 4), { rsv1: true }));
    assert.equal(await bomb.closeCode(), 1009, 'the compression bomb is closed with 1009');

    // A ping flood, 100,000 pings of 125 bytes, read then not read.
    const pinger = await rawWs(srv.port, '/echo');
    raws.push(pinger);
    const ping = frame(9, Buffer.alloc(125, 2));
    const pings = Buffer.concat(Array.from({ length: 1000 }, () => ping));
    for (let i = 0; i < 50; i++) pinger.socket.write(pings);
    pinger.socket.pause(); // 12 MiB of pongs would wait for it: only 1 MiB (maxBufferedAmount) may
    for (let i = 0; i < 100; i++) pinger.socket.write(pings);
    await delay(1500);

    // 100,000 empty fragments inside one message: it arrives whole.
    const frag = await rawWs(srv.port, '/echo');
    raws.push(frag);
    const empty = frame(0, Buffer.alloc(0), { fin: false });
    frag.socket.write(frame(1, 'a', { fin: false }));
    for (let i = 0; i < 100; i++) frag.socket.write(Buffer.concat(Array.from({ length: 1000 }, () => empty)));
    frag.socket.write(frame(0, 'b'));
    await waitUntil(() => frag.frames.length > 0, 10000, 'the fragmented message to be echoed');
    assert.equal(frag.frames[0].payload.toString(), 'ab');

    const report = await pop.stop();
    pop = null;
    const peak = rss.stop();
    const peakQueued = queued.stop();
    t.diagnostic(`queued at most ${(peakQueued / MiB).toFixed(1)} MiB; RSS +${((peak - base) / MiB).toFixed(1)} MiB; echo p99 ${report.p99.toFixed(1)} ms`);
    assertServed(report, 'beside readers that do not read and senders that do not stop');
    assert.ok(peakQueued < 6 * MiB, `the engine queued ${(peakQueued / MiB).toFixed(1)} MiB at most`);
    assert.ok(peak - base < 128 * MiB, `RSS grew by ${((peak - base) / MiB).toFixed(1)} MiB`);
    for (const r of raws) r.socket.destroy();
    for (const ws of others) ws.terminate();
    await waitUntil(async () => (await engineSockets(srv)) === 0, 5000, 'the engine to hold no socket');
    assert.equal((await srv.metrics()).queued, 0);
  } finally {
    if (pop) await pop.stop();
    for (const r of raws) r.socket.destroy();
    for (const ws of others) ws.terminate();
    await srv.stop();
  }
});
