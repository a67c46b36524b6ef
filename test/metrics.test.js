'use strict';

// Metrics as a Prometheus server sees them: GET /metrics on a listener of
// its own, numbers that move as clients connect, send, get multicasts and
// close, refused upgrades counted by status, and text that promtool accepts.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const WebSocket = require('ws');
const { startServer, wsClient, waitUntil, withTimeout, delay } = require('./helpers');

const PROMTOOL = '/usr/bin/promtool'; // Debian package "prometheus"; CI installs it
const root = path.join(__dirname, '..');
const runserver = path.join(root, 'runserver.js');

/** GET (or another method) on 127.0.0.1:port; resolves { status, headers, body }. */
function request(port, urlPath = '/metrics', method = 'GET') {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  }), 5000, `${method} ${urlPath} on port ${port}`);
}

/** The samples of an exposition text: 'name{labels}' (labels as written) -> value. */
function parse(text) {
  const samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    samples.set(m[1], Number(m[2]));
  }
  return samples;
}

async function scrape(port) {
  const r = await request(port);
  assert.equal(r.status, 200);
  return parse(r.body);
}

/** Runs promtool check metrics on text; resolves { status, output }. */
function promtoolCheck(text) {
  assert.ok(fs.existsSync(PROMTOOL), `${PROMTOOL} is needed: install the Debian package "prometheus"`);
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

async function startWithMetrics(options = {}) {
  const started = await startServer({ metrics: 0, ...options });
  const metrics = started.server.metricsAddress();
  assert.ok(metrics && metrics.port > 0, 'the metrics listener is bound once the server is listening');
  return { ...started, metricsPort: metrics.port };
}

function closeCode(ws) {
  return ws.closed.then((r) => r.code);
}

/** A client whose upgrade is refused: resolves the HTTP status it got. */
function refusedStatus(url, options) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode);
      req.destroy();
    });
    ws.once('open', () => reject(new Error(`${url} was accepted`)));
    ws.on('error', () => {});
  }), 4000, `the answer to ${url}`);
}

describe('metrics of one server', () => {
  test('the numbers move as clients connect, send, receive a multicast and close with codes', async () => {
    const { server, url, close, metricsPort } = await startWithMetrics();
    try {
      server.on('connection', (c) => c.subscribe('news'));
      let m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_connections_open'), 0);
      assert.equal(m.get('nodewebsocket_connections_accepted_total'), 0);
      assert.equal(m.get('nodewebsocket_upgrades_total{status="101"}'), 0);

      const a = await wsClient(`${url}/echo`);
      const b = await wsClient(`${url}/echo`);
      m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_connections_open'), 2);
      assert.equal(m.get('nodewebsocket_connections_accepted_total'), 2);
      assert.equal(m.get('nodewebsocket_upgrades_total{status="101"}'), 2);
      assert.equal(m.get('nodewebsocket_resource_connections_open{resource="echo"}'), 2);
      assert.equal(m.get('nodewebsocket_sockets{state="open"}'), 2);
      assert.equal(m.get('nodewebsocket_sockets_accepted_total'), 2);
      assert.equal(m.get('nodewebsocket_subscriptions'), 1);
      const readBefore = m.get('nodewebsocket_network_bytes_total{direction="in"}');

      // Three echoes of 10 bytes each from a, both ways.
      for (let i = 0; i < 3; i++) a.send('0123456789');
      await waitUntil(() => a.received.length === 3, 3000, 'three echoes');
      m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_messages_total{direction="in"}'), 3);
      assert.equal(m.get('nodewebsocket_messages_total{direction="out"}'), 3);
      assert.equal(m.get('nodewebsocket_message_bytes_total{direction="in"}'), 30);
      assert.equal(m.get('nodewebsocket_message_bytes_total{direction="out"}'), 30);
      // Masked client frames of 10 bytes are 16 bytes on the wire.
      assert.equal(m.get('nodewebsocket_network_bytes_total{direction="in"}') - readBefore, 3 * 16);

      // One multicast to both subscribers but a: one delivery.
      const conns = server.clients;
      const excluded = conns.find((c) => c.remotePort === a._socket.localPort);
      assert.equal(server.multicast('news', 'hello', { exclude: excluded }), 1);
      await waitUntil(() => b.received.length === 1, 3000, 'the multicast');
      m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_multicasts_total'), 1);
      assert.equal(m.get('nodewebsocket_multicast_fanouts_total'), 1);
      assert.equal(m.get('nodewebsocket_multicast_deliveries_total'), 1);
      assert.equal(m.get('nodewebsocket_messages_total{direction="out"}'), 4);
      assert.equal(m.get('nodewebsocket_multicast_drops_total{policy="drop"}'), 0);

      a.close(4001, 'bye');
      b.close(1000);
      assert.equal(await closeCode(a), 4001);
      assert.equal(await closeCode(b), 1000);
      await waitUntil(async () => (await scrape(metricsPort)).get('nodewebsocket_connections_open') === 0, 3000,
        'connections_open to fall to 0');
      m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_closes_total{code="4001"}'), 1);
      assert.equal(m.get('nodewebsocket_closes_total{code="1000"}'), 1);
      assert.equal(m.get('nodewebsocket_resource_connections_open{resource="echo"}'), 0);
      assert.equal(m.get('nodewebsocket_connections_accepted_total'), 2, 'a counter does not go down');
      assert.ok(m.get('nodewebsocket_resident_memory_bytes') > 1e6);
      assert.ok(m.get('nodewebsocket_heap_used_bytes') > 0);
      assert.equal(m.has('nodewebsocket_redis_connected'), false, 'no Redis: no Redis state');
      assert.equal(m.get('nodewebsocket_log_queue_lines'), 0);
    } finally {
      await close();
    }
  });

  test('refused upgrades are counted by HTTP status: 404 for an unknown resource, 403 for a foreign origin', async () => {
    const { url, close, metricsPort } = await startWithMetrics({ origins: ['http://good.example'] });
    try {
      assert.equal(await refusedStatus(`${url}/no-such-module`, { origin: 'http://good.example' }), 404);
      assert.equal(await refusedStatus(`${url}/no-such-module`, { origin: 'http://good.example' }), 404);
      assert.equal(await refusedStatus(`${url}/echo`, { origin: 'http://evil.example' }), 403);
      const ok = await wsClient(`${url}/echo`, undefined, { origin: 'http://good.example' });
      const m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_upgrades_total{status="404"}'), 2);
      assert.equal(m.get('nodewebsocket_upgrades_total{status="403"}'), 1);
      assert.equal(m.get('nodewebsocket_upgrades_total{status="101"}'), 1);
      assert.equal(m.get('nodewebsocket_connections_open'), 1);
      assert.equal(m.get('nodewebsocket_sockets_accepted_total'), 4);
      ok.close();
      await ok.closed;
    } finally {
      await close();
    }
  });

  test("a subscriber too slow for the 'drop' policy is counted as a drop", async () => {
    const { server, port, close, metricsPort } = await startWithMetrics({ maxBackpressure: 64 * 1024 });
    let socket;
    try {
      const subscribed = new Promise((resolve) => server.once('connection', (c) => { c.subscribe('firehose'); resolve(); }));
      socket = await stalledReader(port);
      await subscribed;
      const chunk = Buffer.alloc(64 * 1024, 7);
      let m;
      for (let i = 0; i < 200; i++) { // at most 12.8 MB: the kernel buffers fill long before
        server.multicast('firehose', chunk);
        await delay(1);
        if (i % 20 === 19) {
          m = await scrape(metricsPort);
          if (m.get('nodewebsocket_multicast_drops_total{policy="drop"}') > 0) break;
        }
      }
      assert.ok(m.get('nodewebsocket_multicast_drops_total{policy="drop"}') > 0, 'some multicasts were dropped');
      assert.equal(m.get('nodewebsocket_multicast_drops_total{policy="close"}'), 0);
      assert.ok(m.get('nodewebsocket_queued_bytes') >= 64 * 1024, `bytes queued: ${m.get('nodewebsocket_queued_bytes')}`);
      assert.equal(m.get('nodewebsocket_multicast_deliveries_total') + m.get('nodewebsocket_multicast_drops_total{policy="drop"}'),
        m.get('nodewebsocket_multicasts_total'), 'every multicast either reached the one subscriber or was dropped for it');
    } finally {
      if (socket) socket.destroy();
      await close();
    }
  });

  test('close codes chosen by clients make at most 32 series: the rest count as code="other"', async () => {
    const { url, close, metricsPort } = await startWithMetrics();
    try {
      const clients = [];
      for (let i = 0; i < 40; i++) clients.push(await wsClient(`${url}/echo`));
      for (let i = 0; i < clients.length; i++) clients[i].close(4100 + i);
      for (const ws of clients) await ws.closed;
      let m;
      await waitUntil(async () => (m = await scrape(metricsPort)).get('nodewebsocket_connections_open') === 0, 5000, 'every close');
      const codes = [...m.keys()].filter((k) => k.startsWith('nodewebsocket_closes_total{'));
      assert.equal(codes.length, 33);
      assert.equal(m.get('nodewebsocket_closes_total{code="other"}'), 8);
      assert.equal(codes.reduce((n, k) => n + m.get(k), 0), 40);
    } finally {
      await close();
    }
  });

  test('a blocked event loop shows in the event-loop delay', async () => {
    const { close, metricsPort } = await startWithMetrics();
    try {
      await scrape(metricsPort); // the quantiles cover the time since the previous scrape
      await delay(50);
      const until = Date.now() + 150;
      while (Date.now() < until) { /* the loop is blocked */ }
      await delay(30);
      const m = await scrape(metricsPort);
      assert.ok(m.get('nodewebsocket_eventloop_delay_max_seconds') >= 0.1,
        `max delay ${m.get('nodewebsocket_eventloop_delay_max_seconds')} s after a 150 ms block`);
      assert.ok(m.get('nodewebsocket_eventloop_delay_p50_seconds') < 0.1);
    } finally {
      await close();
    }
  });

  test('promtool check metrics accepts the output, with every kind of label in it', async () => {
    const { server, url, close, metricsPort } = await startWithMetrics({ origins: ['http://good.example'] });
    try {
      server.on('connection', (c) => c.subscribe('news'));
      await refusedStatus(`${url}/nope`, { origin: 'http://good.example' });
      const a = await wsClient(`${url}/echo`, undefined, { origin: 'http://good.example' });
      const b = await wsClient(`${url}/test`, undefined, { origin: 'http://good.example' });
      a.send('x');
      server.multicast('news', 'y');
      await waitUntil(() => a.received.length >= 2, 3000, 'the echo and the multicast');
      b.close(4000);
      await b.closed;
      await waitUntil(async () => (await scrape(metricsPort)).get('nodewebsocket_connections_open') === 1, 3000, 'one client left');
      const r = await request(metricsPort);
      assert.match(r.body, /^# HELP nodewebsocket_connections_open /m);
      assert.match(r.body, /^# TYPE nodewebsocket_closes_total counter$/m);
      assert.match(r.body, /^nodewebsocket_closes_total\{code="4000"\} 1$/m);
      const check = promtoolCheck(r.body);
      assert.equal(check.status, 0, `promtool check metrics:\n${check.output}\non:\n${r.body}`);
      assert.equal(check.output.trim(), '', `promtool has no complaint: ${check.output}`);
      a.close();
      await a.closed;
    } finally {
      await close();
    }
  });

  test('the metrics listener is its own port: /metrics only, GET and HEAD only, never on the public port', async () => {
    const { port, close, metricsPort } = await startWithMetrics();
    try {
      assert.notEqual(metricsPort, port);
      const r = await request(metricsPort);
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
      assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
      const withQuery = await request(metricsPort, '/metrics?x=1');
      assert.equal(withQuery.status, 200);
      const head = await request(metricsPort, '/metrics', 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      const elsewhere = await request(metricsPort, '/');
      assert.equal(elsewhere.status, 404);
      const post = await request(metricsPort, '/metrics', 'POST');
      assert.equal(post.status, 405);
      assert.equal(post.headers.allow, 'GET, HEAD');
      const publicPort = await request(port, '/metrics');
      assert.notEqual(publicPort.status, 200);
      assert.doesNotMatch(publicPort.body, /nodewebsocket_/);
    } finally {
      await close();
    }
  });

  test('without the metrics option nothing listens for metrics', async () => {
    const { server, close } = await startServer();
    try {
      assert.equal(server.metricsAddress(), null);
    } finally {
      await close();
    }
  });

  test('a metrics port already taken fails listen() with an error naming the option', async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { Server } = require('../lib');
      const server = new Server({ port: 0, host: '127.0.0.1', log: false, metrics: blocker.address().port });
      const [err] = await new Promise((resolve) => {
        server.once('error', (...args) => resolve(args));
        server.listen();
      });
      assert.equal(err.code, 'WS_ERR_LISTEN');
      assert.equal(err.option, 'metrics');
      assert.match(err.message, /option metrics: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });
});

// The redis option and test/helpers.js's startRedis come with the Redis work
// (issue 10, R1); until that is merged here this part has nothing to run.
const helpers = require('./helpers');

describe('metrics of a server with Redis', () => {
  test('redis_connected goes to 0 while Redis is away and back to 1; the log queue grows, then empties', async () => {
    const redis = await helpers.startRedis();
    const { server, close, metricsPort } = await startWithMetrics({ redis: redis.url, statusInterval: 0, log: true });
    try {
      const gauge = async (name) => (await scrape(metricsPort)).get(name);
      await waitUntil(async () => (await gauge('nodewebsocket_redis_connected')) === 1, 5000, 'Redis to be up');
      await redis.stop();
      await waitUntil(async () => (await gauge('nodewebsocket_redis_connected')) === 0, 10000, 'Redis to be seen away');
      for (let i = 0; i < 5; i++) server.log.info(`line ${i} while Redis is away`);
      const r = await request(metricsPort);
      assert.ok(parse(r.body).get('nodewebsocket_log_queue_lines') >= 5, r.body);
      const check = promtoolCheck(r.body);
      assert.equal(check.status, 0, `promtool check metrics:\n${check.output}`);
      await redis.start();
      await waitUntil(async () => (await gauge('nodewebsocket_redis_connected')) === 1, 10000, 'Redis to be up again');
      await waitUntil(async () => (await gauge('nodewebsocket_log_queue_lines')) === 0, 5000, 'the queued lines to be written');
    } finally {
      await close();
      await redis.close();
    }
  });
});

describe('the exposition text of several workers', () => {
  const metrics = require('../lib/metrics');

  /** A snapshot as a worker sends it, with some figures set. */
  function workerSnapshot(index, { open, redis }) {
    const engine = Object.fromEntries(require('../lib/native').statsLayout.names.map((n) => [n, 0]));
    Object.assign(engine, { messagesIn: 10 * (index + 1), messagesOut: 20, open, socketsAccepted: open, multicasts: 2 });
    return {
      engine,
      published: 1,
      status: { 101: open, 404: index },
      open,
      resources: { chat: open, 'odd "name"\\x': 1 },
      closes: { 1000: index + 1 },
      redis,
      logQueued: 3,
      logDropped: 0,
      loop: { p50: 0.001 * (index + 1), p90: 0.002, p99: 0.003, max: 0.01 * (index + 1), mean: 0.001 },
      memory: { rss: 1000, heapUsed: 100, heapTotal: 200, external: 10 },
    };
  }

  test('workers are labelled worker="N", their sum has no label, and promtool accepts it', () => {
    const results = [
      { index: 0, pid: 1, data: workerSnapshot(0, { open: 2, redis: 1 }) },
      { index: 1, pid: 2, data: workerSnapshot(1, { open: 3, redis: 0 }) },
    ];
    const text = metrics.renderWorkers(results, 3);
    const m = parse(text);
    assert.equal(m.get('nodewebsocket_connections_open'), 5);
    assert.equal(m.get('nodewebsocket_connections_open{worker="0"}'), 2);
    assert.equal(m.get('nodewebsocket_connections_open{worker="1"}'), 3);
    assert.equal(m.get('nodewebsocket_messages_total{direction="in"}'), 30);
    assert.equal(m.get('nodewebsocket_messages_total{direction="in",worker="1"}'), 20);
    assert.equal(m.get('nodewebsocket_upgrades_total{status="404"}'), 1);
    assert.equal(m.get('nodewebsocket_closes_total{code="1000"}'), 3);
    assert.equal(m.get('nodewebsocket_multicasts_total'), 2);
    assert.equal(m.get('nodewebsocket_multicast_fanouts_total'), 4);
    assert.equal(m.get('nodewebsocket_resource_connections_open{resource="chat"}'), 5);
    assert.equal(m.get('nodewebsocket_resource_connections_open{resource="odd \\"name\\"\\\\x"}'), 2, 'label values are escaped');
    assert.equal(m.get('nodewebsocket_redis_connected'), 0, 'Redis counts as up only when every worker has it');
    assert.equal(m.get('nodewebsocket_log_queue_lines'), 6);
    assert.equal(m.get('nodewebsocket_eventloop_delay_max_seconds{worker="1"}'), 0.02);
    assert.ok(m.get('nodewebsocket_eventloop_delay_max_seconds') >= 0.02, 'the sum takes the worst delay');
    assert.ok(m.get('nodewebsocket_resident_memory_bytes') > 2000, 'memory adds up the workers and the primary');
    assert.ok(m.get('nodewebsocket_resident_memory_bytes{worker="primary"}') > 1e6);
    assert.equal(m.has('nodewebsocket_connections_open{worker="primary"}'), false, 'the primary holds no connection');
    assert.equal(m.get('nodewebsocket_worker_up{worker="0"}'), 1);
    assert.equal(m.get('nodewebsocket_worker_up{worker="2"}'), 0, 'a worker that did not answer is down');
    const check = promtoolCheck(text);
    assert.equal(check.status, 0, `promtool check metrics:\n${check.output}\non:\n${text}`);
    assert.equal(check.output.trim(), '', `promtool has no complaint: ${check.output}`);
  });

  test('each family is written once, HELP and TYPE before its samples', () => {
    const text = metrics.renderWorkers([{ index: 0, pid: 1, data: workerSnapshot(0, { open: 1, redis: null }) }], 1);
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => x[1]);
    assert.equal(new Set(families).size, families.length);
    for (const f of families) {
      const at = text.indexOf(`# TYPE ${f} `);
      assert.ok(text.indexOf(`# HELP ${f} `) < at);
      const first = text.search(new RegExp(`^${f}[{ ]`, 'm'));
      assert.ok(first > at, `${f}: samples after TYPE`);
    }
    assert.doesNotMatch(text, /redis_connected/, 'no worker has Redis: no Redis state');
  });
});

describe('the metrics option in the config file', () => {
  test('"metrics": "HOST:PORT" in the config file is read like --metrics', () => {
    const { parseArgv } = require('../lib/options');
    const file = path.join(require('os').tmpdir(), `metrics-config-${process.pid}.json`);
    fs.writeFileSync(file, JSON.stringify({ server: { port: 8090, metrics: '127.0.0.1:9191' } }));
    try {
      assert.deepEqual(parseArgv([`--config=${file}`]).options.metrics, { host: '127.0.0.1', port: 9191 });
      fs.writeFileSync(file, JSON.stringify({ server: { port: 8090, metrics: 8090 } }));
      assert.throws(() => parseArgv([`--config=${file}`]), /metrics must listen on a port of its own/);
      fs.writeFileSync(file, JSON.stringify({ server: { metrics: { port: 9100, hots: 'x' } } }));
      assert.throws(() => parseArgv([`--config=${file}`]), /metrics: has no key "hots"/);
    } finally {
      fs.unlinkSync(file);
    }
  });
});

// ---- runserver.js -----------------------------------------------------------

const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

function spawnServer(args, env) {
  const child = spawn(process.execPath, [runserver, ...args], { cwd: root, env: { ...process.env, ...env } });
  children.add(child);
  child.out = '';
  child.err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { child.out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { child.err += d; });
  child.exited = new Promise((resolve) => child.on('close', (code, signal) => { // 'close': all output is in
    children.delete(child);
    resolve({ code, signal, stdout: child.out, stderr: child.err });
  }));
  return child;
}

async function run(args) {
  const child = spawnServer(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  const r = await child.exited;
  clearTimeout(timer);
  return r;
}

async function waitOutput(child, re, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(child.out);
    if (m) return m;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const r = await child.exited;
      throw new Error(`runserver did not print ${re} (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    await delay(20);
  }
}

/** A port free right now on 127.0.0.1. */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

describe('runserver.js --metrics', () => {
  test('bad --metrics values exit 2 naming the option', async () => {
    for (const [value, why] of [
      ['abc', /--metrics must be a port \(9100\), 'HOST:PORT'/],
      ['99999', /--metrics: port must be a number from 0 to 65535/],
      ['a b:9100', /--metrics: host must be a host name or an IP address/],
      ['8080', /--metrics must listen on a port of its own, not the --port 8080/],
    ]) {
      const r = await run([`--metrics=${value}`]);
      assert.equal(r.code, 2, `--metrics=${value}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, why);
    }
    const r = await run(['--port=0', '--metrics']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--metrics needs a value/);
  });

  test("--metrics=HOST:PORT serves the server's metrics there and says where", async () => {
    const metricsPort = await freePort();
    const child = spawnServer(['--port=0', '--host=127.0.0.1', `--metrics=127.0.0.1:${metricsPort}`, '--no-log']);
    try {
      const [, wsPort] = await waitOutput(child, /^node\.websocket listening on ws:\/\/127\.0\.0\.1:(\d+)\//m);
      const [, printed] = await waitOutput(child, /^ {2}metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics$/m);
      assert.equal(Number(printed), metricsPort);
      const ws = await wsClient(`ws://127.0.0.1:${wsPort}/echo`);
      ws.send('ping');
      await waitUntil(() => ws.received.length === 1, 3000, 'the echo');
      const m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_connections_open'), 1);
      assert.equal(m.get('nodewebsocket_messages_total{direction="in"}'), 1);
      ws.close();
      await ws.closed;
    } finally {
      child.kill('SIGTERM');
      await child.exited;
    }
  });
});

describe('runserver.js --workers=2 --metrics', () => {
  test('the primary serves every worker labelled worker="N" and their sum, and promtool accepts it', async () => {
    const metricsPort = await freePort();
    const child = spawnServer(['--workers=2', '--port=0', '--host=127.0.0.1', `--metrics=127.0.0.1:${metricsPort}`, '--no-log']);
    try {
      const [, printed] = await waitOutput(child, /^ {2}metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/m);
      assert.equal(Number(printed), metricsPort);
      const [, wsPort] = await waitOutput(child, /^node\.websocket listening on ws:\/\/127\.0\.0\.1:(\d+)\//m);
      let m;
      await waitUntil(async () => {
        m = await scrape(metricsPort);
        return m.get('nodewebsocket_worker_up{worker="0"}') === 1 && m.get('nodewebsocket_worker_up{worker="1"}') === 1;
      }, 20000, 'both workers to answer');
      assert.notEqual(Number(wsPort), metricsPort);

      // Clients spread over the workers by the kernel: the sum is exact whatever the spread.
      const clients = [];
      for (let i = 0; i < 6; i++) clients.push(await wsClient(`ws://127.0.0.1:${wsPort}/echo`));
      for (const ws of clients) ws.send('hi');
      await waitUntil(() => clients.every((ws) => ws.received.length === 1), 5000, 'every echo');
      m = await scrape(metricsPort);
      assert.equal(m.get('nodewebsocket_connections_open'), 6);
      assert.equal(m.get('nodewebsocket_connections_open{worker="0"}') + m.get('nodewebsocket_connections_open{worker="1"}'), 6);
      assert.equal(m.get('nodewebsocket_messages_total{direction="in"}'), 6);
      assert.equal(m.get('nodewebsocket_messages_total{direction="in",worker="0"}') +
        m.get('nodewebsocket_messages_total{direction="in",worker="1"}'), 6);
      assert.equal(m.get('nodewebsocket_upgrades_total{status="101"}'), 6);
      assert.ok(m.get('nodewebsocket_resident_memory_bytes{worker="primary"}') > 1e6);
      assert.ok(m.get('nodewebsocket_resident_memory_bytes') > m.get('nodewebsocket_resident_memory_bytes{worker="0"}'));

      for (const ws of clients) ws.close(4002);
      for (const ws of clients) await ws.closed;
      await waitUntil(async () => (m = await scrape(metricsPort)).get('nodewebsocket_connections_open') === 0, 5000,
        'every close to be counted');
      assert.equal(m.get('nodewebsocket_closes_total{code="4002"}'), 6);
      const r = await request(metricsPort);
      const check = promtoolCheck(r.body);
      assert.equal(check.status, 0, `promtool check metrics:\n${check.output}\non:\n${r.body}`);
      assert.equal(check.output.trim(), '', `promtool has no complaint: ${check.output}`);
    } finally {
      child.kill('SIGTERM');
      await child.exited;
    }
  });
  test('a metrics port already taken stops the primary at once, exit 1 naming the option, before any worker starts', async () => {
    const taken = net.createServer();
    await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const r = await run(['--workers=2', '--port=0', '--host=127.0.0.1', `--metrics=127.0.0.1:${taken.address().port}`]);
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /runserver: option metrics: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
      assert.doesNotMatch(r.stdout, /worker|listening/, 'no worker was started');
    } finally {
      taken.close();
    }
  });
});

/**
 * A client that completes the opening handshake and then never reads: the
 * server's writes fill the kernel buffers and then its own queue.
 */
function stalledReader(port, urlPath = '/echo') {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let head = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      if (head.indexOf('\r\n\r\n') === -1) return;
      socket.removeListener('data', onData);
      if (!/^HTTP\/1\.1 101 /.test(head.toString('latin1'))) {
        reject(new Error(`no upgrade: ${head.toString('latin1').split('\r\n')[0]}`));
        return;
      }
      socket.pause();
      socket.on('error', () => {});
      resolve(socket);
    };
    socket.on('data', onData);
  }), 4000, 'a stalled reader');
}
