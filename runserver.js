#!/usr/bin/env node
'use strict';

// node runserver.js [--option=value ...] [--config=server.json]
// e.g. node runserver.js --port='8080' --host='some_other_host' --origins=['http://some_allowed_host']
// Options are described by `node runserver.js --help` (generated from lib/options.js).

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { parseArgv, helpText } = require('./lib/options');

const EXIT_USAGE = 2;

function usageError(message) {
  process.stderr.write(`runserver: ${message}\nTry 'node runserver.js --help' for the list of options.\n`);
  process.exit(EXIT_USAGE);
}

function fatal(message) {
  process.stderr.write(`runserver: ${message}\n`);
  process.exit(1);
}

// Options first: a typo should be reported at once, not after a build.
let parsed;
try {
  parsed = parseArgv(process.argv.slice(2));
} catch (err) {
  if (err && err.code === 'WS_ERR_INVALID_OPTION') usageError(err.message);
  throw err;
}
if (parsed.help) {
  process.stdout.write(helpText());
  process.exit(0);
}
if (parsed.version) {
  process.stdout.write(`node.websocket ${require('./package.json').version}\n`);
  process.exit(0);
}

// A fresh clone has no addon yet: build it (fixed arguments, no shell). An
// installed package (no .git) whose prebuild loads here needs no build
// (lib/native.js takes it); a checkout's prebuilds/ may be older than its sources.
const addon = path.join(__dirname, 'build', 'Release', 'websocket.node');
function prebuildLoads() {
  if (fs.existsSync(path.join(__dirname, '.git'))) return false;
  try {
    require('node-gyp-build')(__dirname);
    return true;
  } catch (_) {
    return false;
  }
}
if (!fs.existsSync(addon) && !prebuildLoads()) {
  process.stderr.write('runserver: the C addon is not built yet; building it now...\n');
  const r = spawnSync(process.execPath, [path.join(__dirname, 'scripts', 'build.js')], { stdio: 'inherit' });
  if (r.error) fatal(`could not run the build: ${r.error.message}`);
  if (r.status !== 0 || !fs.existsSync(addon)) fatal('building the addon failed; see the messages above.');
}

// A closed stdout (runserver | head) must not crash the server through the logger.
process.stdout.on('error', () => {});

// --workers: this process becomes the primary and each worker is this
// script again, told by the environment which worker it is (lib/workers.js).
const workers = require('./lib/workers');
const worker = workers.workerInfo();
if (worker === null && parsed.options.workers !== undefined && parsed.options.workers !== null) {
  let options;
  try { // once here, not once per worker
    options = require('./lib/options').normalizeOptions(parsed.options);
  } catch (err) {
    if (err && err.code === 'WS_ERR_INVALID_OPTION') usageError(err.message);
    throw err;
  }
  const count = parsed.options.workers === 'auto' ? workers.autoCount() : parsed.options.workers;
  const start = () => workers.runPrimary({
    count,
    script: __filename,
    args: process.argv.slice(2),
    port: parsed.options.port !== undefined ? parsed.options.port : 8080,
    closeTimeout: parsed.options.closeTimeout || 5000,
    log: parsed.options.log,
    sharedStore: !options.redis, // with Redis, the workers share Redis's store
  });
  if (options.metrics) servePrimaryMetrics(options.metrics, count, start);
  else start();
  return;
}
if (worker !== null && worker.port !== null) parsed.options.port = worker.port; // the port the first worker bound

const { Server } = require('./lib');

let server;
try {
  server = new Server(parsed.options);
} catch (err) {
  if (err && err.code === 'WS_ERR_INVALID_OPTION') usageError(err.message);
  fatal(err && err.message ? err.message : String(err));
}

// --metrics with --workers: the primary owns the metrics port and asks every
// worker for its snapshot at each scrape (lib/metrics.js). The port is bound
// before any worker starts, so a taken one stops everything at once.
function servePrimaryMetrics(where, count, start) {
  let primary = null;
  const collector = { count, collect: (kind, done, ms) => (primary === null ? done([]) : primary.collect(kind, done, ms)) };
  const listener = require('./lib/metrics').attachPrimary(where, collector, (err) => {
    if (err) fatal(err.message);
    const a = listener.address();
    process.stdout.write(`  metrics: http://${urlHost(a.address)}:${a.port}/metrics (${count} workers, and their sum)\n`);
    primary = start();
  });
}

function urlHost(host) {
  return host.includes(':') ? `[${host}]` : host; // IPv6 literals are bracketed in URLs
}

server.on('listening', () => {
  const o = server.options;
  const address = server.address();
  const port = address ? address.port : o.port; // the real port when --port=0
  const scheme = o.tls ? 'wss' : 'ws';
  process.stdout.write(`node.websocket listening on ${scheme}://${urlHost(o.host)}:${port}/ ` +
    `(modules: ${o.modules}, docroot: ${o.docroot === false ? 'off' : o.docroot})\n`);
  if (parsed.config) process.stdout.write(`  config: ${parsed.config}\n`);
  if (o.tls) {
    const files = [o.tls.certFile, ...Object.values(o.tls.sni).map((e) => e.certFile)].filter(Boolean);
    process.stdout.write(`  tls: ${o.tls.minVersion}+, certificates ${files.length ? files.join(', ') : 'given as contents'}; ` +
      `kill -HUP ${process.pid} reloads them\n`);
  }
  if (o.redis) {
    const { parseRedisUrl } = require('./lib/redis');
    process.stdout.write(`  redis: ${parseRedisUrl(o.redis).url} (log list ${o.logKey || `node.websocket.${o.host}.${port}`}, ` +
      `channels and store under ${o.redisPrefix})\n`);
  }
  const metrics = server.metricsAddress();
  if (metrics) process.stdout.write(`  metrics: http://${urlHost(metrics.address)}:${metrics.port}/metrics\n`);
  if (o.perMessageDeflate) process.stdout.write(`  permessage-deflate: on (threshold ${o.perMessageDeflate.threshold} bytes)\n`);
  for (const [name, app] of Object.entries(o.apps || {})) {
    process.stdout.write(`  app ${name} (${app.module}.js): ${app.urls.map((u) => `${scheme}://${urlHost(o.host)}:${port}${u}`).join(', ')}\n`);
  }
});

server.on('error', (err) => {
  fatal(err && err.message ? err.message : String(err));
});

// First signal: close gracefully (clients get 1001, the port is released).
// A second signal, or a close that hangs, ends the process at once.
let closing = false;
function shutdown(signal, fromPrimary, status = 0) {
  if (closing && fromPrimary) return; // the same request twice (Ctrl-C reaches the primary and its workers)
  if (closing && status !== 0) return; // a fault while closing: the close (or its bound) ends the process
  if (closing) {
    process.stderr.write(`runserver: ${signal} again, exiting now\n`);
    process.exit(1);
  }
  closing = true;
  if (worker !== null) process.stderr.write(`runserver: worker ${worker.index} (pid ${process.pid}): ${signal}, closing\n`);
  else process.stderr.write(`runserver: ${signal} received, closing (press Ctrl-C again to exit at once)\n`);
  const bound = (server.options && server.options.closeTimeout) || 5000;
  setTimeout(() => {
    process.stderr.write('runserver: close did not finish in time, exiting\n');
    process.exit(1);
  }, bound + 2000).unref();
  server.close((err) => {
    if (err) process.stderr.write(`runserver: while closing: ${err.message}\n`);
    process.exit(status);
  });
}
// A module's own timer that throws, or a promise nobody catches, reaches the
// process, not a handler of the server (a handler's throw or rejection only
// closes its connection with 1011). --on-uncaught=log (the default): log it
// with its stack and keep serving everyone else, since one module's bug
// should not drop every client; =exit: close gracefully and exit 1, for a
// supervisor (systemd, or --workers' primary) to restart a clean process.
function uncaught(kind, err) {
  const exit = server.options.onUncaught === 'exit';
  const text = `${kind} (--on-uncaught=${exit ? 'exit: closing' : 'log: still serving'}): ` +
    `${err && err.stack ? err.stack : require('util').inspect(err)}`;
  if (server.log && server.log.enabled) server.log.error(text);
  else process.stderr.write(`runserver: ${text}\n`);
  if (exit) shutdown(kind, false, 1);
}
process.on('uncaughtException', (err) => uncaught('uncaught exception', err));
process.on('unhandledRejection', (reason) => uncaught('unhandled rejection', reason));

process.on('SIGINT', () => shutdown('SIGINT', worker !== null));
process.on('SIGTERM', () => shutdown('SIGTERM', worker !== null));
workers.attachWorker(server, (why) => shutdown(`asked by ${why}`, true));

// SIGHUP: read the TLS certificates again from their files (after a renewal).
// New connections get the new ones; open connections carry on. When a file
// is missing or wrong, the error is logged and the old certificates stay.
process.on('SIGHUP', () => {
  if (closing) return;
  if (!server.options.tls) {
    process.stderr.write('runserver: SIGHUP received; no TLS certificates to reload\n');
    return;
  }
  const failed = (err) => process.stderr.write('runserver: SIGHUP received; TLS certificates NOT reloaded, ' +
    `still serving the old ones: ${err && err.message ? err.message : err}\n`);
  const done = () => process.stderr.write('runserver: SIGHUP received; TLS certificates reloaded\n');
  try {
    const result = server.reloadTls();
    if (result && typeof result.then === 'function') result.then(done, failed);
    else done();
  } catch (err) {
    failed(err);
  }
});

server.listen();
