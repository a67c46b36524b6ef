#!/usr/bin/env node
'use strict';
// The soak: `npm run soak -- --minutes N` (or --seconds N). Starts our server
// (bench/servers/ours-soak.js: ws:// and wss:// in one process, both with
// permessage-deflate on), runs the load generator in six ways at once (echo
// plain, echo over TLS, echo with --deflate, broadcast, connection churn
// plain and over TLS), samples every second the server's RSS and what its
// /metrics endpoints say (queued bytes, connections, sockets by state) into
// a CSV, plots every series (SVG), and fails (exit 1, naming the series) if
// one of the judged series trends upward after the warm-up, if a generator
// reports an error, or if the connections do not go back to 0 once the
// generators have closed theirs. Not part of `npm test` (test/soak.test.js
// runs a short one).
//
//   node bench/soak.js --minutes 30 [--warmup SECONDS] [--out DIR]
//   node bench/soak.js --seconds 20 --warmup 5 --out /tmp/soak

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const BENCH = __dirname;
const LOADGEN = path.join(BENCH, 'build', 'loadgen');
const SAMPLE_MS = 1000;
const SETTLE_MS = 15000; // after the generators: how long the connections have to reach 0
const MiB = 1024 * 1024;

// ---- the trend detector -----------------------------------------------------
//
// A series leaks if it is still growing at the end of the run, by more than
// noise and more than the allocator's own steps. Three conditions, all
// needed, over the samples after the warm-up:
//  1. the least-squares line rises by more than `tol` over the window
//     (growth = slope x duration);
//  2. the mean of the last third exceeds the mean of the second third by more
//     than tol / 3: for a linear leak of total G both read G (the thirds'
//     means are G/3 apart), while a step that happened early and then stayed
//     flat (V8 growing its old space once, glibc opening an arena) tilts the
//     line but leaves the last two thirds level;
//  3. the slope is significant: more than 3 standard errors above 0.
// tol = max(floor, rel x the window's mean level). The floors are per series
// (SERIES below): for RSS 8 MiB, because V8's young generation (semi-spaces
// of up to 16 MiB) and glibc's arenas (touched in 128 KiB+ steps, per
// thread) move a healthy Node process's RSS by megabytes with no leak; rel
// 5 % covers fragmentation at the level reached. A real leak clears that
// quickly: 100 bytes per churned connection at 500 cycles/s is 3 MiB a
// minute. Connection counts are set by the generators and wobble by the
// churn's concurrency, so their floor is that plus 2.

/** Least squares over (t, y): slope, intercept and the slope's standard error. */
function fitLine(t, y) {
  const n = t.length;
  let mt = 0;
  let my = 0;
  for (let i = 0; i < n; i++) { mt += t[i]; my += y[i]; }
  mt /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) { sxx += (t[i] - mt) ** 2; sxy += (t[i] - mt) * (y[i] - my); }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const intercept = my - slope * mt;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (y[i] - intercept - slope * t[i]) ** 2;
  const se = n > 2 && sxx > 0 ? Math.sqrt(sse / (n - 2) / sxx) : 0;
  return { slope, intercept, se, mean: my };
}

const mean = (a) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);

/**
 * Judges one series (already cut to the part after the warm-up).
 * @param {number[]} t seconds
 * @param {number[]} y values
 * @param {{ floor: number, rel: number }} limits
 * @returns {{ n, slope, se, growth, tol, second, last, rising: boolean, reason: string }}
 */
function trend(t, y, { floor, rel }) {
  const pts = [];
  for (let i = 0; i < t.length; i++) if (Number.isFinite(y[i])) pts.push([t[i], y[i]]);
  const n = pts.length;
  if (n < 6) return { n, slope: 0, se: 0, growth: 0, tol: floor, second: NaN, last: NaN, rising: false, reason: 'too few samples to judge' };
  const ts = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const fit = fitLine(ts, ys);
  const span = ts[n - 1] - ts[0];
  const growth = fit.slope * span;
  const tol = Math.max(floor, rel * Math.abs(fit.mean));
  const third = Math.floor(n / 3);
  const second = mean(ys.slice(third, 2 * third));
  const last = mean(ys.slice(2 * third));
  const steep = growth > tol;
  const still = last - second > tol / 3;
  const significant = fit.slope > 3 * fit.se;
  const rising = steep && still && significant;
  const reason = rising
    ? `rises ${fmt(growth)} over ${Math.round(span)} s (limit ${fmt(tol)}), last third ${fmt(last - second)} above the second`
    : !steep ? `growth ${fmt(growth)} within ${fmt(tol)}`
      : !still ? `rose ${fmt(growth)} but the last third is level with the second (${fmt(last - second)})`
        : `growth ${fmt(growth)} not significant (slope ${fit.slope.toPrecision(3)}/s ± ${fit.se.toPrecision(3)})`;
  return { n, slope: fit.slope, intercept: fit.intercept, se: fit.se, growth, tol, second, last, rising, reason };
}

function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= MiB) return `${(v / MiB).toFixed(1)} MiB`;
  if (a >= 10 * 1024) return `${(v / 1024).toFixed(0)} KiB`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

// ---- what runs ----------------------------------------------------------------

const CHURN_CONNS = 4;
const CHURN_TLS_CONNS = 1;
const CONN_FLOOR = CHURN_CONNS + CHURN_TLS_CONNS + 2;

// key: CSV column; judged: checked for a trend (the heap and external memory
// follow GC cycles longer than a short run and are shown, not judged: a leak
// there ends in RSS).
const SERIES = [
  { key: 'rss_bytes', title: 'server RSS (VmRSS)', bytes: true, judged: true, floor: 8 * MiB, rel: 0.05 },
  { key: 'heap_used_bytes', title: 'V8 heap used', bytes: true, judged: false },
  { key: 'external_bytes', title: 'external memory (Buffers)', bytes: true, judged: false },
  { key: 'queued_bytes', title: 'engine queued bytes', bytes: true, judged: true, floor: 1 * MiB, rel: 0.5 },
  { key: 'connections_open', title: 'WebSocket connections open', judged: true, floor: CONN_FLOOR, rel: 0.02 },
  { key: 'sockets_handshake', title: 'sockets in handshake', judged: true, floor: CONN_FLOOR, rel: 0.02 },
  { key: 'sockets_open', title: 'sockets open', judged: true, floor: CONN_FLOOR, rel: 0.02 },
  { key: 'sockets_closing', title: 'sockets closing', judged: true, floor: CONN_FLOOR, rel: 0.02 },
];

/** The generators: name and loadgen flags (port, duration and CA added at start). */
function generators() {
  return [
    { name: 'echo', port: 'plain', args: ['--mode', 'echo', '--conns', '50', '--inflight', '4', '--size', '128', '--binary'] },
    { name: 'echo-tls', port: 'tls', args: ['--mode', 'echo', '--conns', '20', '--inflight', '4', '--size', '1024', '--binary'] },
    { name: 'echo-deflate', port: 'plain', args: ['--mode', 'echo', '--conns', '20', '--inflight', '4', '--size', '4096', '--text', '--deflate'] },
    { name: 'broadcast', port: 'plain', args: ['--mode', 'broadcast', '--conns', '100', '--inflight', '4', '--size', '64', '--binary'] },
    { name: 'churn', port: 'plain', args: ['--mode', 'connect', '--conns', String(CHURN_CONNS)] },
    { name: 'churn-tls', port: 'tls', args: ['--mode', 'connect', '--conns', String(CHURN_TLS_CONNS)] },
  ];
}

// ---- the command line ---------------------------------------------------------

function usage(msg) {
  if (msg) process.stderr.write(`soak: ${msg}\n`);
  process.stderr.write('usage: node bench/soak.js (--minutes N | --seconds N) [--warmup SECONDS] [--out DIR] [--only A,B]\n' +
    '  --minutes N, --seconds N  how long the load runs (default 10 minutes)\n' +
    '  --warmup S                seconds not judged at the start (default 20% of the run, 3 to 300)\n' +
    '  --out DIR                 where soak.csv, soak.svg and summary.json go (default bench/soak-results)\n' +
    `  --only A,B                run only these generators (of ${generators().map((g) => g.name).join(', ')})\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { seconds: null, warmup: null, out: path.join(BENCH, 'soak-results'), only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      if (eq > 0) return a.slice(eq + 1);
      if (i + 1 >= argv.length) usage(`${name} needs a value`);
      return argv[++i];
    };
    const number = (lo, hi) => {
      const v = value();
      const n = Number(v);
      if (v === '' || !Number.isFinite(n) || n < lo || n > hi) usage(`${name}: bad value ${JSON.stringify(v)} (expected ${lo} to ${hi})`);
      return n;
    };
    if (name === '--minutes' || name === '--seconds') {
      if (o.seconds !== null) usage('give one of --minutes and --seconds');
      o.seconds = name === '--minutes' ? number(0.1, 7 * 24 * 60) * 60 : number(5, 7 * 86400);
    } else if (name === '--warmup') {
      o.warmup = number(0, 7 * 86400);
    } else if (name === '--out') {
      o.out = path.resolve(value());
    } else if (name === '--only') {
      const known = generators().map((g) => g.name);
      const v = value();
      o.only = v.split(',').map((x) => x.trim());
      const bad = o.only.filter((x) => !known.includes(x));
      if (bad.length || !v.trim()) usage(`--only: unknown generator ${JSON.stringify(bad.join(',') || v)} (known: ${known.join(', ')})`);
    } else if (name === '--help' || name === '-h') {
      usage();
    } else {
      usage(`unknown option ${JSON.stringify(a)}`);
    }
  }
  if (o.seconds === null) o.seconds = 600;
  if (o.warmup === null) o.warmup = Math.min(300, Math.max(3, 0.2 * o.seconds));
  if (o.warmup >= o.seconds * 0.8) usage(`--warmup ${o.warmup} leaves too little of a ${o.seconds} s run to judge (at most 80% of it)`);
  return o;
}

// ---- processes ------------------------------------------------------------------

const nice = (pid) => { try { os.setPriority(pid, 10); } catch { /* not allowed: run at normal priority */ } };

function startServer() {
  // The young generation at its full 16 MiB from the start: left to itself V8
  // grows its semi-spaces in steps minutes into a run (seen as RSS steps with
  // a flat heap), which is tuning, not a leak. Old space and native memory
  // are left as they are, so a leak in either still shows.
  const v8Flags = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
  const child = spawn(process.execPath, [...v8Flags, path.join(BENCH, 'servers', 'ours-soak.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  nice(child.pid);
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the server was not ready in 30 s\n${err}`)); }, 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^ready (\d+) (\d+) (\d+) (\d+) (\S+)$/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        child, pid: child.pid, ports: { plain: Number(m[1]), tls: Number(m[2]) }, metrics: [Number(m[3]), Number(m[4])], ca: m[5],
        stderr: () => err,
      });
    });
    child.on('close', (code, sig) => { clearTimeout(timer); reject(new Error(`the server exited (${sig || code}) before it was ready\n${err}`)); });
  });
}

/** Runs one generator; resolves when it has closed with { code, signal, stdout, stderr, result }. */
function runGenerator(g, server, seconds) {
  const args = [...g.args, '--port', String(server.ports[g.port]), '--duration', String(seconds), '--warmup', '1'];
  if (g.port === 'tls') args.push('--tls-ca', server.ca);
  const child = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  nice(child.pid);
  g.child = child;
  g.argv = args;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('mode='));
      const result = {};
      if (line) for (const kv of line.trim().split(/\s+/)) { const i = kv.indexOf('='); result[kv.slice(0, i)] = kv.slice(i + 1); }
      resolve({ code, signal, stdout, stderr, result: line ? result : null });
    });
  });
}

// ---- sampling -----------------------------------------------------------------------

function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

function scrape(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(res.statusCode === 200 ? parseMetrics(body) : null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** The series we read from the Prometheus text: name or name{state="x"} -> value. */
function parseMetrics(text) {
  const m = {};
  for (const line of text.split('\n')) {
    const r = /^nodewebsocket_([a-z_]+)(?:\{state="([a-z]+)"\})? (\S+)$/.exec(line);
    if (r) m[r[2] ? `${r[1]}_${r[2]}` : r[1]] = Number(r[3]);
  }
  return m;
}

async function sample(server, t0) {
  const t = (Date.now() - t0) / 1000;
  const [a, b] = await Promise.all(server.metrics.map(scrape));
  const row = { t_s: Math.round(t * 10) / 10, rss_bytes: rssOf(server.pid) };
  const both = a && b;
  const sum = (k) => (both ? (a[k] || 0) + (b[k] || 0) : NaN);
  row.heap_used_bytes = a ? a.heap_used_bytes : NaN; // one process: both servers report the same
  row.external_bytes = a ? a.external_memory_bytes : NaN;
  row.queued_bytes = sum('queued_bytes');
  row.connections_open = sum('connections_open');
  row.sockets_handshake = sum('sockets_handshake');
  row.sockets_open = sum('sockets_open');
  row.sockets_closing = sum('sockets_closing');
  row.scraped = both ? 1 : 0;
  return row;
}

// ---- output -----------------------------------------------------------------------

const COLUMNS = ['t_s', ...SERIES.map((s) => s.key)];

function csv(rows) {
  const cell = (v) => (Number.isFinite(v) ? String(v) : '');
  return `${COLUMNS.join(',')}\n${rows.map((r) => COLUMNS.map((c) => cell(r[c])).join(',')).join('\n')}\n`;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One panel per series over time: the warm-up shaded, the fitted line over the judged part dashed. */
function svg(rows, verdicts, { warmup, loadEnd, title }) {
  const W = 960;
  const PH = 150;
  const L = 90;
  const R = 20;
  const TOP = 40;
  const pw = W - L - R;
  const tMax = Math.max(1, ...rows.map((r) => r.t_s));
  const x = (t) => L + (t / tMax) * pw;
  const out = [];
  const H = TOP + SERIES.length * (PH + 40) + 20;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${L}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  SERIES.forEach((s, i) => {
    const y0 = TOP + i * (PH + 40) + 20;
    const pts = rows.filter((r) => Number.isFinite(r[s.key]));
    const vals = pts.map((r) => r[s.key]);
    let lo = Math.min(0, ...vals);
    let hi = Math.max(1, ...vals);
    if (hi === lo) hi = lo + 1;
    hi += (hi - lo) * 0.05;
    const y = (v) => y0 + PH - ((v - lo) / (hi - lo)) * PH;
    const v = verdicts[s.key];
    const verdict = !s.judged ? 'shown, not judged' : v.rising ? `RISING: ${v.reason}` : `flat: ${v.reason}`;
    out.push(`<text x="${L}" y="${y0 - 6}" font-weight="bold" fill="${s.judged && v.rising ? '#b00' : '#000'}">${esc(`${s.title} (${s.key}) — ${verdict}`)}</text>`);
    out.push(`<rect x="${L}" y="${y0}" width="${pw}" height="${PH}" fill="none" stroke="#999"/>`);
    out.push(`<rect x="${L}" y="${y0}" width="${Math.max(0, x(Math.min(warmup, tMax)) - L)}" height="${PH}" fill="#eee"/>`);
    if (loadEnd < tMax) out.push(`<rect x="${x(loadEnd)}" y="${y0}" width="${L + pw - x(loadEnd)}" height="${PH}" fill="#eef"/>`);
    const label = (val) => (s.bytes ? `${(val / MiB).toFixed(1)} MiB` : String(Math.round(val)));
    out.push(`<text x="${L - 6}" y="${y0 + 4}" text-anchor="end">${esc(label(hi))}</text>`);
    out.push(`<text x="${L - 6}" y="${y0 + PH}" text-anchor="end">${esc(label(lo))}</text>`);
    out.push(`<text x="${L}" y="${y0 + PH + 14}">0 s</text>`);
    out.push(`<text x="${L + pw}" y="${y0 + PH + 14}" text-anchor="end">${Math.round(tMax)} s</text>`);
    if (pts.length) {
      const d = pts.map((r) => `${x(r.t_s).toFixed(1)},${y(r[s.key]).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${d}" fill="none" stroke="#1f5fbf" stroke-width="1.2"/>`);
    }
    if (s.judged && v.n >= 6 && Number.isFinite(v.intercept)) {
      const a = warmup;
      const b = Math.min(loadEnd, tMax);
      out.push(`<line x1="${x(a)}" y1="${y(v.intercept + v.slope * a)}" x2="${x(b)}" y2="${y(v.intercept + v.slope * b)}" ` +
        `stroke="${v.rising ? '#b00' : '#888'}" stroke-dasharray="5,4" stroke-width="1.5"/>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---- the run ----------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const make = spawnSync('make', ['-s', '-C', BENCH], { encoding: 'utf8' });
  if (make.status !== 0) {
    process.stderr.write(`soak: make -C bench failed (it needs gcc, libssl-dev and zlib1g-dev):\n${make.stdout}${make.stderr}`);
    process.exit(1);
  }
  fs.mkdirSync(opts.out, { recursive: true });
  const server = await startServer();
  const log = (s) => process.stdout.write(`${s}\n`);
  log(`soak: server pid ${server.pid}, ws://127.0.0.1:${server.ports.plain} and wss://127.0.0.1:${server.ports.tls}; ` +
    `${opts.seconds} s of load, the first ${opts.warmup} s warm-up; output in ${opts.out}`);

  let serverExit = null; // the server should outlive the load
  server.child.on('close', (code, sig) => { serverExit = sig || code; });
  const gens = generators().filter((g) => !opts.only || opts.only.includes(g.name));
  const rows = [];
  const t0 = Date.now();
  let loadEnd = Infinity; // seconds: when the first generator finished
  let failed = null; // the first generator that failed
  let stopping = false;
  const runs = gens.map((g) => runGenerator(g, server, opts.seconds).then((r) => {
    g.run = r;
    loadEnd = Math.min(loadEnd, (Date.now() - t0) / 1000);
    if ((r.code !== 0 || !r.result) && !stopping && !failed) {
      failed = g;
      for (const other of gens) if (other !== g && other.child.exitCode === null) other.child.kill('SIGTERM');
    }
    return r;
  }));
  const interrupt = () => {
    stopping = true;
    for (const g of gens) if (g.child.exitCode === null) g.child.kill('SIGTERM');
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  let done = false;
  Promise.all(runs).then(() => { done = true; });
  let next = t0;
  let lastLog = t0;
  while (!done) {
    rows.push(await sample(server, t0));
    if (Date.now() - lastLog >= 60000) {
      lastLog = Date.now();
      const r = rows[rows.length - 1];
      log(`soak: ${Math.round(r.t_s)} s rss ${fmt(r.rss_bytes)} queued ${fmt(r.queued_bytes)} connections ${r.connections_open}`);
    }
    next += SAMPLE_MS;
    await new Promise((res) => setTimeout(res, Math.max(0, next - Date.now())));
  }
  await Promise.all(runs);
  if (!Number.isFinite(loadEnd)) loadEnd = (Date.now() - t0) / 1000;

  const problems0 = [];
  // After the load: every connection closed, the engine's counters back to 0.
  const settleStart = Date.now();
  let after = await sample(server, t0);
  rows.push(after);
  while (Date.now() - settleStart < SETTLE_MS && !(after.connections_open === 0 && after.sockets_open === 0 &&
         after.sockets_handshake === 0 && after.sockets_closing === 0 && after.queued_bytes === 0)) {
    await new Promise((res) => setTimeout(res, SAMPLE_MS));
    after = await sample(server, t0);
    rows.push(after);
  }
  if (serverExit !== null) problems0.push(`the server exited (${serverExit}) during the run`);
  server.child.kill('SIGTERM');
  await new Promise((res) => (server.child.exitCode !== null ? res() : server.child.once('close', res)));
  agent.destroy();

  // ---- verdicts
  const problems = problems0;
  const judged = rows.filter((r) => r.t_s >= opts.warmup && r.t_s <= loadEnd - 1);
  const verdicts = {};
  for (const s of SERIES) {
    verdicts[s.key] = trend(judged.map((r) => r.t_s), judged.map((r) => r[s.key]), s.judged ? s : { floor: 0, rel: 0 });
    if (s.judged && verdicts[s.key].rising) problems.push(`${s.key} trends upward after the warm-up: ${verdicts[s.key].reason}`);
  }
  const loadRows = rows.filter((r) => r.t_s <= loadEnd);
  const missed = loadRows.filter((r) => !r.scraped).length;
  if (missed > Math.max(2, 0.05 * loadRows.length)) problems.push(`${missed} of ${loadRows.length} metrics scrapes failed`);
  if (judged.length < 6) problems.push(`only ${judged.length} samples after the warm-up: nothing judged (run longer or shorten --warmup)`);
  for (const k of ['connections_open', 'sockets_handshake', 'sockets_open', 'sockets_closing', 'queued_bytes']) {
    if (after[k] !== 0) problems.push(`${k} is ${after[k]}, not 0, ${SETTLE_MS / 1000} s after every generator closed its connections`);
  }
  const genReport = gens.map((g) => {
    const r = g.run;
    const ok = r.code === 0 && r.result !== null;
    const error = ok ? null : (r.stderr.trim() || `exited ${r.signal || r.code} with no result line`);
    if (!ok && (g === failed || stopping || !failed)) problems.push(`generator ${g.name}: ${error}`);
    return {
      name: g.name, argv: g.argv.join(' '), ok, error,
      rate: ok ? Number(r.result.rate) : null, msgs: ok ? Number(r.result.msgs) : null,
      close_timeouts: ok && r.result.close_timeouts !== undefined ? Number(r.result.close_timeouts) : null,
      result: r.result,
    };
  });
  if (stopping) problems.push('interrupted');

  // ---- figures
  const series = (k, from = rows) => from.map((r) => r[k]).filter(Number.isFinite);
  const at = (k, t) => { const r = rows.find((x) => x.t_s >= t && Number.isFinite(x[k])); return r ? r[k] : NaN; };
  const endRows = judged.slice(-10);
  const figures = {};
  for (const s of SERIES) {
    const v = series(s.key, loadRows);
    figures[s.key] = {
      start: v[0], after_warmup: at(s.key, opts.warmup), end: mean(series(s.key, endRows)), after_load: after[s.key],
      min: Math.min(...v), max: Math.max(...v), slope_per_min: verdicts[s.key].slope * 60, growth: verdicts[s.key].growth,
      tolerance: s.judged ? verdicts[s.key].tol : null, verdict: s.judged ? (verdicts[s.key].rising ? 'rising' : 'flat') : 'not judged',
      reason: verdicts[s.key].reason,
    };
  }
  const pass = problems.length === 0;
  const title = `node.websocket soak: ${Math.round(loadEnd)} s of load (warm-up ${opts.warmup} s shaded), ${new Date(t0).toISOString()} — ${pass ? 'PASS' : 'FAIL'}`;
  fs.writeFileSync(path.join(opts.out, 'soak.csv'), csv(rows));
  fs.writeFileSync(path.join(opts.out, 'soak.svg'), svg(rows, verdicts, { warmup: opts.warmup, loadEnd, title }));
  const summary = { pass, problems, seconds: opts.seconds, warmup: opts.warmup, load_seconds: loadEnd, samples: rows.length,
    started: new Date(t0).toISOString(), server_pid: server.pid, figures, generators: genReport };
  fs.writeFileSync(path.join(opts.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);

  log('');
  log('series             start     after warm-up  end (last 10 s)  max        slope/min   verdict');
  for (const s of SERIES) {
    const f = figures[s.key];
    log(`${s.key.padEnd(18)} ${fmt(f.start).padEnd(9)} ${fmt(f.after_warmup).padEnd(14)} ${fmt(f.end).padEnd(16)} ` +
      `${fmt(f.max).padEnd(10)} ${fmt(f.slope_per_min).padEnd(11)} ${f.verdict}${s.judged ? `: ${f.reason}` : ''}`);
  }
  log(`after the load:    rss ${fmt(after.rss_bytes)}, connections ${after.connections_open}, sockets ${after.sockets_open}/${after.sockets_handshake}/${after.sockets_closing} (open/handshake/closing), queued ${after.queued_bytes}`);
  for (const g of genReport) {
    log(`generator ${g.name.padEnd(13)} ${g.ok ? `${Math.round(g.rate)} /s, ${g.msgs} in all${g.close_timeouts ? `, ${g.close_timeouts} close timeouts` : ''}` : `FAILED: ${g.error}`}`);
  }
  log(`soak: ${pass ? 'PASS' : 'FAIL'}; ${path.join(opts.out, 'soak.csv')}, soak.svg, summary.json`);
  for (const p of problems) process.stderr.write(`soak: FAIL: ${p}\n`);
  if (server.stderr().trim()) process.stderr.write(`soak: the server wrote on stderr:\n${server.stderr()}`);
  process.exitCode = pass ? 0 : 1;
}

module.exports = { trend, fitLine, parseMetrics };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`soak: ${err.stack || err.message}\n`);
    process.exit(1);
  });
}
