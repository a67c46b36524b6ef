'use strict';

// runserver.js as a user runs it: a real process, real sockets.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');
const { OPTIONS } = require('../lib/options');

const root = path.join(__dirname, '..');
const runserver = path.join(root, 'runserver.js');
const LISTENING_RE = /^node\.websocket listening on ws:\/\/(.+):(\d+)\/ \(modules: (.+), docroot: (.+)\)$/m;

const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** Spawns runserver.js (no shell unless asked) and collects its output. */
function spawnServer(args, { shell = false } = {}) {
  const child = shell
    ? spawn('/bin/sh', ['-c', `exec "${process.execPath}" "${runserver}" ${args}`], { cwd: root })
    : spawn(process.execPath, [runserver, ...args], { cwd: root });
  children.add(child);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.out = '';
  child.err = '';
  child.stdout.on('data', (d) => { child.out += d; });
  child.stderr.on('data', (d) => { child.err += d; });
  child.exited = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout: child.out, stderr: child.err });
    });
  });
  return child;
}

/** Runs runserver.js to completion. */
async function run(args, timeoutMs = 10000) {
  const child = spawnServer(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = await child.exited;
  clearTimeout(timer);
  return result;
}

/** Starts runserver.js and waits for its listening line. */
async function start(args, opts) {
  const child = spawnServer(args, opts);
  const deadline = Date.now() + 60000; // the first run may build the addon
  for (;;) {
    const m = LISTENING_RE.exec(child.out);
    if (m) {
      return { child, line: m[0], host: m[1], port: Number(m[2]), modules: m[3], docroot: m[4] };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const r = await child.exited;
      throw new Error(`runserver did not start (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stop(server) {
  if (server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.child.exited;
  }
}

/** Opens a ws client; resolves with it when open, rejects with the HTTP status when refused. */
function connect(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    // Queue messages from the start: one may arrive with the 101, before
    // the caller gets the socket.
    ws.queue = [];
    ws.waiters = [];
    ws.on('message', (data, isBinary) => {
      const message = isBinary ? data : data.toString();
      if (ws.waiters.length) ws.waiters.shift().resolve(message);
      else ws.queue.push(message);
    });
    ws.on('close', (code) => {
      for (const w of ws.waiters.splice(0)) w.reject(new Error(`closed with ${code} before a message`));
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
      req.destroy();
    });
    ws.once('error', reject);
  });
}

function nextMessage(ws) {
  if (ws.queue.length) return Promise.resolve(ws.queue.shift());
  return new Promise((resolve, reject) => ws.waiters.push({ resolve, reject }));
}

function httpGet(port, urlPath) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject);
  });
}

describe('runserver.js without starting a server', () => {
  test('--help prints usage and every option, and exits 0', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: node runserver\.js/);
    for (const o of OPTIONS) assert.ok(r.stdout.includes(o.cli), `--help lists ${o.cli}`);
    assert.equal(r.stderr, '');
  });

  test('-h is --help', async () => {
    const r = await run(['-h']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--max-payload=BYTES/);
  });

  test('an unknown option exits 2 naming it, with a hint and a pointer to --help', async () => {
    const r = await run(['--prot=8080']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^runserver: unknown option --prot \(did you mean --port\?\)$/m);
    assert.match(r.stderr, /Try 'node runserver\.js --help'/);
    assert.equal(r.stdout, '');
  });

  test('a value that is code is not run: --port=process.exit(1) exits 2 as an invalid port', async () => {
    const r = await run(['--port=process.exit(1)']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /runserver: --port must be an integer from 0 to 65535 \(received 'process\.exit\(1\)'\)/);
  });

  test('a bad value exits 2 saying which option and why', async () => {
    let r = await run(['--origins=[http://ok.example', '--port=1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /runserver: invalid value for --origins: unterminated array/);
    r = await run(['--max-header-size', '10']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--max-header-size must be an integer from 1024 to 1048576 \(received 10\)/);
    r = await run(['--modules=/no/such/modules']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--modules must be an existing directory, but \/no\/such\/modules does not exist/);
  });
});

describe('runserver.js serving', () => {
  test("the README line works with literal quotes (spawned without a shell), on the port it reports", async () => {
    // The README's line, with a free port and a host that exists here.
    const server = await start(["--port='0'", "--host='127.0.0.1'", "--origins=['http://some_allowed_host']"]);
    try {
      assert.equal(server.host, '127.0.0.1');
      assert.notEqual(server.port, 0, 'the listening line shows the real port, not 0');
      assert.equal(server.modules, path.join(root, 'modules'));
      assert.equal(server.docroot, path.join(root, 'test'));
      const ws = await connect(`ws://127.0.0.1:${server.port}/echo`, { origin: 'http://some_allowed_host' });
      ws.send('round trip');
      assert.equal(await nextMessage(ws), 'round trip');
      ws.close();
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/echo`, { origin: 'http://elsewhere.example' }),
        (err) => err.status === 403);
    } finally {
      await stop(server);
    }
  });

  test('the README line works through a shell, which strips the quotes', async () => {
    const server = await start("--port='0' --host='127.0.0.1' --origins=['http://some_allowed_host']", { shell: true });
    try {
      const ws = await connect(`ws://127.0.0.1:${server.port}/echo`, { origin: 'http://some_allowed_host' });
      ws.close();
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/echo`, { origin: 'http://other' }),
        (err) => err.status === 403);
    } finally {
      await stop(server);
    }
  });

  test('--port N with a separate value, and the demo page served from the default docroot', async () => {
    const server = await start(['--port', '0', '--host', '127.0.0.1', '--no-log']);
    try {
      const page = await httpGet(server.port, '/test.html');
      assert.equal(page.status, 200);
      assert.match(page.headers['content-type'], /^text\/html/);
      assert.match(page.body, /<title>node\.websocket/);
      const ws = await connect(`ws://127.0.0.1:${server.port}/test`);
      const welcome = JSON.parse(await nextMessage(ws));
      assert.equal(welcome.type, 'welcome');
      ws.send('hi');
      let reply;
      do reply = JSON.parse(await nextMessage(ws)); while (reply.type === 'tick');
      assert.equal(reply.type, 'echo');
      assert.equal(reply.echo, 'hi');
      ws.close();
    } finally {
      await stop(server);
    }
  });

  test('--modules and --no-docroot reach the server', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-modules-'));
    fs.writeFileSync(path.join(dir, 'hello.js'),
      "exports.Module = class { onConnect(c) { c.send('hello from ' + c.resource); } };\n");
    const server = await start([`--modules=${dir}`, '--docroot=false', '--port=0', '--host=127.0.0.1']);
    try {
      assert.equal(server.modules, dir);
      assert.equal(server.docroot, 'off');
      const ws = await connect(`ws://127.0.0.1:${server.port}/hello`);
      assert.equal(await nextMessage(ws), 'hello from hello');
      ws.close();
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/echo`), (err) => err.status === 404,
        'echo.js is not in the custom modules folder');
      assert.equal((await httpGet(server.port, '/test.html')).status, 426);
    } finally {
      await stop(server);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('logs connections to stdout in the [date] [info] [client address] format', async () => {
    const server = await start(['--port=0', '--host=127.0.0.1']);
    try {
      const ws = await connect(`ws://127.0.0.1:${server.port}/echo`);
      ws.close();
      const deadline = Date.now() + 5000;
      const re = /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \[info\] \[client (::ffff:)?127\.0\.0\.1\] /m;
      while (!re.test(server.child.out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.match(server.child.out, re);
    } finally {
      await stop(server);
    }
  });

  test('SIGTERM closes clients with 1001 and exits 0 promptly', async () => {
    const server = await start(['--port=0', '--host=127.0.0.1', '--no-log']);
    const ws = await connect(`ws://127.0.0.1:${server.port}/echo`);
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    const r = await server.child.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 < 3000, `exited in ${Date.now() - t0} ms`);
    assert.equal(await closed, 1001);
    // The port is released.
    await new Promise((resolve, reject) => {
      const probe = net.createServer().once('error', reject).listen(server.port, '127.0.0.1', () => probe.close(resolve));
    });
  });

  test('SIGINT (Ctrl-C) exits 0 too', async () => {
    const server = await start(['--port=0', '--host=127.0.0.1', '--no-log']);
    server.child.kill('SIGINT');
    const r = await server.child.exited;
    assert.equal(r.code, 0, r.stderr);
  });

  test('a port already in use exits 1 with the reason', async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const r = await run(['--host=127.0.0.1', `--port=${blocker.address().port}`], 60000);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^runserver: .*(EADDRINUSE|in use)/m);
    } finally {
      blocker.close();
    }
  });
});
