'use strict';
// node.websocket as runserver.js processes serving the bench modules, for
// the multicast-through-Redis scenario: --servers=N copies on N ports and,
// with --redis, a redis-server of their own on a free port (never the
// system's 6379), which they share (README "Multicast across processes").
// Usage: node ours-redis.js 0 [--servers=N] [--redis]
//   -> prints "pids S1,...,SN[,REDIS]" (the generator sums them) and
//      "ready P1,...,PN" once every server listens and, with --redis, holds
//      its two Redis connections (commands and pub/sub).
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const ROOT = path.join(__dirname, '..', '..');
const s = process.argv.find((a) => a.startsWith('--servers='));
const count = s ? Number(s.slice('--servers='.length)) : 1;
const withRedis = process.argv.includes('--redis');
const children = [];
let dir = null;

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGTERM', () => process.exit(0));
function fail(msg) { console.error(`ours-redis: ${msg}`); process.exit(1); }

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

// One command to Redis, in RESP; resolves the raw reply (or null when it does not answer).
function redisCommand(port, ...args) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => { c.destroy(); resolve(null); }, 1000);
    c.once('error', () => { clearTimeout(t); resolve(null); });
    c.on('connect', () => c.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    c.on('data', (d) => {
      buf += d;
      const m = /^\$(\d+)\r\n/.exec(buf);
      if ((buf[0] === '+' || buf[0] === '-') && buf.endsWith('\r\n')) done();
      else if (m && buf.length >= m[0].length + Number(m[1]) + 2) done();
    });
    function done() { clearTimeout(t); c.destroy(); resolve(buf); }
  });
}

async function until(what, fn, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) fail(`${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startRunserver(redisUrl) {
  const args = [path.join(ROOT, 'runserver.js'), '--host=127.0.0.1', '--port=0',
    `--modules=${path.join(__dirname, 'modules')}`, '--no-docroot', '--no-log', ...(redisUrl ? [`--redis=${redisUrl}`] : [])];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  return new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^node\.websocket listening on ws:\/\/[^\s]+:(\d+)\//m.exec(out);
      if (m) { child.stdout.removeAllListeners('data'); child.stdout.resume(); resolve(Number(m[1])); }
    });
    child.on('exit', (code, sig) => fail(`runserver.js exited (${sig || code})${out ? `: ${out.trim()}` : ''}`));
  });
}

(async () => {
  let redisUrl = null;
  let redis = null;
  let rport = 0;
  if (withRedis) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-bench-redis-'));
    rport = await freePort();
    redis = spawn('redis-server', ['--port', String(rport), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--protected-mode', 'no', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log')], { stdio: 'ignore' });
    children.push(redis);
    redis.on('error', (e) => fail(`redis-server: ${e.message}`));
    redis.on('exit', (code, sig) => fail(`redis-server exited (${sig || code})`));
    await until('redis-server to answer PING', async () => (await redisCommand(rport, 'PING')) === '+PONG\r\n');
    redisUrl = `redis://127.0.0.1:${rport}`;
  }
  const ports = [];
  for (let i = 0; i < count; i++) ports.push(await startRunserver(redisUrl));
  if (withRedis) {
    // Each server holds two connections (commands, pub/sub); this check is the third... client.
    await until(`${count} server(s) to connect to Redis`, async () => {
      const list = await redisCommand(rport, 'CLIENT', 'LIST');
      return list !== null && (list.match(/ id=|^id=/gm) || []).length >= 2 * count + 1;
    });
  }
  console.log(`pids ${[...children.filter((c) => c !== redis).map((c) => c.pid), ...(redis ? [redis.pid] : [])].join(',')}`);
  console.log(`ready ${ports.join(',')}`);
})();
