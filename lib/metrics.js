'use strict';

// Metrics in the Prometheus text exposition format (version 0.0.4): a
// snapshot of one server (the engine's counters from C, the few JS keeps,
// the process's event-loop delay and memory), the text made from one or
// several snapshots (workers: one labelled worker="N" each, plus their sum
// without the label), and the listener that serves GET /metrics on a port
// of its own.

const http = require('http');
const { monitorEventLoopDelay } = require('perf_hooks');
const native = require('./native');

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const LOOP_RESOLUTION_MS = 10;

const { names: STAT_NAMES, statusMin: STATUS_MIN, length: STATS_LENGTH } = native.statsLayout;
const STAT = Object.fromEntries(STAT_NAMES.map((n, i) => [n, i]));

// ---- snapshots ------------------------------------------------------------

let loopDelay = null; // one histogram per process, made when metrics are first asked for

function eventLoopDelay() {
  if (loopDelay === null) {
    loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loopDelay.enable();
  }
  return loopDelay;
}

/** Starts measuring the event-loop delay now, so the first scrape has samples. */
function startLoopMonitor() {
  eventLoopDelay();
}

/**
 * The event-loop delay since the previous call, in seconds, and the
 * process's memory: what every process reports, the primary included.
 * @returns {{ loop: { p50: number, p90: number, p99: number, max: number, mean: number },
 *   memory: { rss: number, heapUsed: number, heapTotal: number, external: number } }}
 */
function processSnapshot() {
  const h = eventLoopDelay();
  // The histogram holds the intervals of a LOOP_RESOLUTION_MS timer: the delay is what exceeds it.
  const seconds = (ns) => (Number.isFinite(ns) ? Math.max(0, ns - LOOP_RESOLUTION_MS * 1e6) / 1e9 : 0);
  const loop = h.count > 0 ? {
    p50: seconds(h.percentile(50)), p90: seconds(h.percentile(90)), p99: seconds(h.percentile(99)),
    max: seconds(h.max), mean: seconds(h.mean),
  } : { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  h.reset(); // the quantiles describe the time since the previous scrape
  const m = process.memoryUsage();
  return { loop, memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external } };
}

/**
 * Everything one server reports, as plain data (it crosses the workers' IPC
 * channel as is).
 * @param {import('./server').Server} server
 */
function snapshot(server) {
  const engine = new Float64Array(STATS_LENGTH);
  if (server._handle !== null) native.readStats(server._handle, engine);
  const status = {};
  for (let i = STAT_NAMES.length; i < engine.length; i++) if (engine[i] !== 0) status[STATUS_MIN + i - STAT_NAMES.length] = engine[i];
  const fixed = {};
  for (const n of STAT_NAMES) fixed[n] = engine[STAT[n]];
  const redis = server._redis;
  const log = server.log || {};
  return {
    engine: fixed,
    status,
    published: typeof server._published === 'number' ? server._published : fixed.multicasts,
    open: server._resourceOpen ? sumValues(server._resourceOpen) : 0,
    resources: server._resourceOpen ? Object.fromEntries(server._resourceOpen) : {},
    closes: server._closeCodes ? Object.fromEntries(server._closeCodes) : {},
    redis: redis !== null && typeof redis === 'object' ? (redis.connected ? 1 : 0) : null,
    logQueued: typeof log.queued === 'number' ? log.queued : 0,
    logDropped: typeof log.dropped === 'number' ? log.dropped : 0,
    ...processSnapshot(),
  };
}

function sumValues(map) {
  let n = 0;
  for (const v of map.values()) n += v;
  return n;
}

// How several snapshots add up: counters and sizes are summed, the
// event-loop delay is the worst process's, Redis is up only if up everywhere.
function addKeyed(into, from) {
  for (const [k, v] of Object.entries(from || {})) into[k] = (into[k] || 0) + v;
}

/**
 * The sum of several snapshots (workers), with the primary's own process
 * figures (memory added, event-loop delay the worst of all).
 * @param {object[]} snaps server snapshots
 * @param {object} [own] processSnapshot() of the process doing the sum
 */
function aggregate(snaps, own) {
  const out = { engine: {}, status: {}, published: 0, open: 0, resources: {}, closes: {}, redis: null, logQueued: 0, logDropped: 0,
    loop: { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 }, memory: { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 } };
  for (const n of STAT_NAMES) out.engine[n] = 0;
  const procs = own ? snaps.concat([own]) : snaps;
  for (const s of snaps) {
    for (const n of STAT_NAMES) out.engine[n] += s.engine[n] || 0;
    addKeyed(out.status, s.status);
    addKeyed(out.resources, s.resources);
    addKeyed(out.closes, s.closes);
    out.open += s.open;
    out.published += s.published || 0;
    out.logQueued += s.logQueued;
    out.logDropped += s.logDropped;
    if (s.redis !== null) out.redis = out.redis === null ? s.redis : Math.min(out.redis, s.redis);
  }
  for (const p of procs) {
    for (const k of Object.keys(out.loop)) out.loop[k] = Math.max(out.loop[k], p.loop[k]);
    for (const k of Object.keys(out.memory)) out.memory[k] += p.memory[k];
  }
  return out;
}

// ---- the text format ------------------------------------------------------

const keyed = (obj, label) => Object.keys(obj).sort(numericFirst).map((k) => [{ [label]: k }, obj[k]]);
function numericFirst(a, b) {
  const x = Number(a);
  const y = Number(b);
  return Number.isNaN(x) || Number.isNaN(y) ? (a < b ? -1 : a > b ? 1 : 0) : x - y;
}

// name, type, help, and the samples of one snapshot: [labels, value][] (or a
// number, for one sample without labels). `perProcess`: the series is about a
// process, so the primary reports its own (worker="primary").
const FAMILIES = [
  ['connections_open', 'gauge', 'WebSocket connections open now (accepted by a module, close event not yet seen).',
    (s) => s.open],
  ['connections_accepted_total', 'counter', 'WebSocket connections accepted (upgrades answered 101).',
    (s) => s.status[101] || 0],
  ['resource_connections_open', 'gauge', 'WebSocket connections open now, by resource (module or app name).',
    (s) => keyed(s.resources, 'resource')],
  ['sockets', 'gauge', 'TCP connections held by the engine, by state: handshake (request or upgrade decision pending), open, closing.',
    (s) => [[{ state: 'handshake' }, s.engine.handshaking], [{ state: 'open' }, s.engine.open], [{ state: 'closing' }, s.engine.closing]]],
  ['sockets_accepted_total', 'counter', 'TCP connections accepted on the WebSocket port (or handed over by handleUpgrade).',
    (s) => s.engine.socketsAccepted],
  ['sockets_shed_total', 'counter', 'TCP connections closed as soon as accepted because the process was out of file descriptors.',
    (s) => s.engine.socketsShed],
  ['upgrades_total', 'counter', 'HTTP requests answered on the WebSocket port, by status: 101 upgraded; 4xx and 5xx refused; 200 documents.',
    (s) => keyed(Object.assign({ 101: 0 }, s.status), 'status')],
  ['messages_total', 'counter', 'WebSocket data messages, by direction: in from clients, out to clients (send() and multicast deliveries).',
    (s) => [[{ direction: 'in' }, s.engine.messagesIn], [{ direction: 'out' }, s.engine.messagesOut]]],
  ['message_bytes_total', 'counter', 'Payload bytes of those messages (before compression), by direction.',
    (s) => [[{ direction: 'in' }, s.engine.payloadIn], [{ direction: 'out' }, s.engine.payloadOut]]],
  ['network_bytes_total', 'counter', 'Bytes read from and written to client sockets (handshakes, framing, compression and TLS included), by direction.',
    (s) => [[{ direction: 'in' }, s.engine.bytesRead], [{ direction: 'out' }, s.engine.bytesWritten]]],
  ['multicasts_total', 'counter', 'multicast() calls made in this process (each reaches every process through the fan-out).',
    (s) => s.published],
  ['multicast_fanouts_total', 'counter', 'Local multicast runs in the engine: this process\'s multicasts and those relayed from other processes.',
    (s) => s.engine.multicasts],
  ['multicast_deliveries_total', 'counter', 'Subscribers multicast messages were queued for.',
    (s) => s.engine.deliveries],
  ['multicast_drops_total', 'counter', 'Subscribers past maxBackpressure, by policy: drop (message skipped for it), close (closed with 1008).',
    (s) => [[{ policy: 'drop' }, s.engine.dropped], [{ policy: 'close' }, s.engine.closedSlow]]],
  ['queued_bytes', 'gauge', 'Bytes waiting in the write queues of all connections.',
    (s) => s.engine.queuedBytes],
  ['subscriptions', 'gauge', 'Subscription names with at least one local subscriber (or a policy of their own).',
    (s) => s.engine.topics],
  ['closes_total', 'counter', 'WebSocket connections closed, by close code (1006: dropped without a close frame).',
    (s) => keyed(s.closes, 'code')],
  ['redis_connected', 'gauge', 'Whether the connection to Redis is up (1) or not (0); absent without --redis.',
    (s) => (s.redis === null ? [] : s.redis)],
  ['log_queue_lines', 'gauge', 'Log lines waiting for Redis to come back (0 without Redis).',
    (s) => s.logQueued],
  ['log_dropped_lines_total', 'counter', 'Log lines dropped past --log-queue while Redis was away.',
    (s) => s.logDropped],
  ['eventloop_delay_p50_seconds', 'gauge', 'Event-loop delay, median since the previous scrape.',
    (s) => s.loop.p50, true],
  ['eventloop_delay_p90_seconds', 'gauge', 'Event-loop delay, 90th percentile since the previous scrape.',
    (s) => s.loop.p90, true],
  ['eventloop_delay_p99_seconds', 'gauge', 'Event-loop delay, 99th percentile since the previous scrape.',
    (s) => s.loop.p99, true],
  ['eventloop_delay_max_seconds', 'gauge', 'Event-loop delay, longest since the previous scrape.',
    (s) => s.loop.max, true],
  ['resident_memory_bytes', 'gauge', 'Resident set size of the process.',
    (s) => s.memory.rss, true],
  ['heap_used_bytes', 'gauge', 'V8 heap in use.',
    (s) => s.memory.heapUsed, true],
  ['heap_total_bytes', 'gauge', 'V8 heap allocated.',
    (s) => s.memory.heapTotal, true],
  ['external_memory_bytes', 'gauge', 'Memory of C++ objects bound to JS objects (Buffers included).',
    (s) => s.memory.external, true],
];

const PREFIX = 'nodewebsocket_';

function escapeLabel(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v) {
  if (typeof v !== 'number' || Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function sampleLine(name, labels, value) {
  const pairs = Object.entries(labels);
  const l = pairs.length ? `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
  return `${name}${l} ${formatValue(value)}\n`;
}

/**
 * The exposition text for a list of sources: each { labels, snap }. A source
 * with `process` only (no server) contributes to the per-process families.
 * @param {{ labels: object, snap: object, processOnly?: boolean }[]} sources
 * @returns {string}
 */
function format(sources) {
  let out = '';
  for (const [short, type, help, samples, perProcess] of FAMILIES) {
    const name = PREFIX + short;
    let body = '';
    for (const { labels, snap, processOnly } of sources) {
      if (processOnly && !perProcess) continue;
      let got = samples(snap);
      if (typeof got === 'number') got = [[{}, got]];
      for (const [l, v] of got) body += sampleLine(name, { ...l, ...labels }, v);
    }
    if (body === '') continue; // e.g. redis_connected without Redis: no family at all
    out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${body}`;
  }
  return out;
}

/** The text for one server in this process. */
function render(server) {
  return format([{ labels: {}, snap: snapshot(server) }]);
}

/**
 * The text for the workers' snapshots as the primary gathered them: their
 * sum without a worker label, then each worker with worker="INDEX", and the
 * primary's own process figures with worker="primary".
 * @param {{ index: number, data: object }[]} results from Primary.collect('metrics')
 * @param {number} [count] how many workers there should be (for workers_up)
 */
function renderWorkers(results, count) {
  const answered = results.filter((r) => r.data && typeof r.data === 'object' && r.data.engine);
  const own = processSnapshot();
  const sources = [{ labels: {}, snap: aggregate(answered.map((r) => r.data), own) }];
  for (const r of answered) sources.push({ labels: { worker: String(r.index) }, snap: r.data });
  sources.push({ labels: { worker: 'primary' }, snap: own, processOnly: true });
  let text = format(sources);
  const up = new Set(answered.map((r) => r.index));
  const n = count === undefined ? up.size : count;
  let body = '';
  for (let i = 0; i < n; i++) body += sampleLine(`${PREFIX}worker_up`, { worker: String(i) }, up.has(i) ? 1 : 0);
  if (body !== '') {
    text += `# HELP ${PREFIX}worker_up Whether the worker answered this scrape in time (1) or not (0).\n` +
      `# TYPE ${PREFIX}worker_up gauge\n${body}`;
  }
  return text;
}

// ---- the listener ---------------------------------------------------------

/**
 * Serves GET /metrics (HEAD too) on host:port with the text produce() gives;
 * other paths get 404, other methods 405.
 * @param {{ host: string, port: number }} where
 * @param {(done: (err: Error | null, text?: string) => void) => void} produce
 * @returns {http.Server}
 */
function createMetricsServer(where, produce) {
  const server = http.createServer((req, res) => {
    const path = req.url.split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' });
      res.end(`Method ${req.method} not allowed: use GET\n`);
      return;
    }
    produce((err, text) => {
      if (err) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`Metrics unavailable: ${err.message}\n`);
        return;
      }
      const body = Buffer.from(text, 'utf8');
      res.writeHead(200, { 'Content-Type': CONTENT_TYPE, 'Content-Length': body.length, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 10000;
  server.listen(where.port, where.host);
  return server;
}

// In a worker started by --workers the primary owns the metrics port: the
// worker only answers its collects. lib/workers.js may be absent (older trees).
function workerSide() {
  let workers;
  try {
    workers = require('./workers');
  } catch {
    return null;
  }
  return typeof workers.workerInfo === 'function' && workers.workerInfo() !== null ? workers : null;
}

/**
 * Metrics for a Server with the metrics option: its own listener, or in a
 * worker the answer to the primary's collects. callback(err) once bound
 * (err names the option when the port cannot be had).
 * @param {import('./server').Server} server
 * @param {(err: Error | null) => void} callback
 * @returns {{ address: () => object | null, close: () => void }}
 */
function attach(server, callback) {
  startLoopMonitor();
  const workers = workerSide();
  if (workers !== null) {
    workers.onCollect('metrics', () => snapshot(server));
    process.nextTick(callback, null);
    return { address: () => null, close() {} };
  }
  const where = server.options.metrics;
  const listener = createMetricsServer(where, (done) => done(null, render(server)));
  return listenerHandle(listener, where, callback);
}

/**
 * The primary of --workers: serves the sum of its workers' snapshots.
 * @param {{ host: string, port: number }} where
 * @param {{ collect: Function, count: number }} primary lib/workers.js's Primary
 * @param {(err: Error | null) => void} callback
 */
function attachPrimary(where, primary, callback) {
  startLoopMonitor();
  const listener = createMetricsServer(where, (done) => {
    primary.collect('metrics', (results) => done(null, renderWorkers(results, primary.count)));
  });
  return listenerHandle(listener, where, callback);
}

function listenerHandle(listener, where, callback) {
  let answered = false;
  const answer = (err) => {
    if (answered) return;
    answered = true;
    callback(err);
  };
  listener.once('listening', () => answer(null));
  listener.once('error', (err) => {
    const { WebSocketError } = require('./errors');
    answer(new WebSocketError('WS_ERR_LISTEN',
      `option metrics: cannot listen on ${where.host}:${where.port}: ${err.code || err.message}`,
      { option: 'metrics', syscallCode: err.code }));
  });
  return {
    address() {
      const a = listener.address();
      return a && typeof a === 'object' ? { address: a.address, family: a.family, port: a.port } : null;
    },
    close() {
      listener.close();
      if (typeof listener.closeAllConnections === 'function') listener.closeAllConnections();
      answer(null); // closed before it was bound: the server goes on closing
    },
  };
}

module.exports = {
  attach, attachPrimary, CONTENT_TYPE, FAMILIES, PREFIX, snapshot, processSnapshot, startLoopMonitor, aggregate, format, render,
  renderWorkers, createMetricsServer,
};
