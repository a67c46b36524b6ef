'use strict';

// log-view: a live "tail -f" of configured log files, after the log-view
// application of NaviServer's websocket module. Logs reveal internals, so
// it is off unless the config file turns it on:
//
//   "apps": { "log-view": { "urls": ["/admin/websocket/log-view"],
//     "refresh": 1000,                                   // ms between checks (default 1000)
//     "files": { "access.log": "/var/log/app/access.log", "error.log": "/var/log/app/error.log" },
//     "token": "a long random secret",                   // ?token=... or a "token" cookie
//     "allow": ["127.0.0.1", "::1"] } }                  // or these client addresses, no token needed
//
// Reached as a plain modules/log-view.js (ws://host/log-view without a config
// section) it is refused with 404 (requiresConfig). A client without the
// token or an allowed address is refused with 403 before the upgrade; one
// asking for a log the config does not name (?log=) with 404. The client
// names a log by its name only: no path from the client reaches the file
// system.
//
// Protocol. Server -> client, JSON text:
//   {"type":"files","files":["access.log","error.log"],"log":"access.log"}   first, the names and the log shown
//   {"type":"data","log":"access.log","text":"...new lines..."}               bytes appended since the last check
//   {"type":"reset","log":"access.log","reason":"truncated"|"rotated"|"created"|"missing"}
//   {"type":"paused"} / {"type":"resumed"} / {"type":"error","error":"..."}
// Client -> server, text:
//   select <name>   show another configured log
//   pause / resume  stop and restart receiving (while paused, nothing is sent)
//
// Watching: one subscription per file ("log:<name>") and one interval timer
// per application instance, running only while someone is subscribed. A
// file's watcher exists only while it has subscribers; it starts at the END
// of the file (what was written before is never sent), reads only new
// bytes, at most 1 MiB per file per check, and follows truncation (size
// below the position: read again from the start) and rotation (another file
// at the path: finish the old one, then read the new one from its start).
// Text frames must be valid UTF-8: a character split across two checks is
// kept for the next one, invalid bytes become U+FFFD.
//
// For tests and monitoring, context.state holds: timer (null when idle),
// reads (read calls made), checks (file checks made), watchers (Map).

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { StringDecoder } = require('string_decoder');

const DEFAULT_REFRESH_MS = 1000;
const MAX_READ = 1024 * 1024;        // bytes per file per check
const MAX_DRAIN = 4 * 1024 * 1024;   // bytes read from a rotated-away file before switching
const PREFIX = 'log:';

const sub = (name) => PREFIX + name;

/** The configured logs as a Map name -> absolute path (a Map: a name like "__proto__" is just a name). */
function logsOf(config) {
  const files = config && config.files;
  const out = new Map();
  if (files && typeof files === 'object') {
    for (const [name, file] of Object.entries(files)) {
      if (typeof file === 'string' && file !== '') out.set(name, path.resolve(file));
    }
  }
  return out;
}

/** SHA-256 both sides, so timingSafeEqual compares equal lengths and the token's length does not leak. */
function sameSecret(given, expected) {
  const a = crypto.createHash('sha256').update(String(given), 'utf8').digest();
  const b = crypto.createHash('sha256').update(String(expected), 'utf8').digest();
  return crypto.timingSafeEqual(a, b);
}

/** '::ffff:127.0.0.1' and '127.0.0.1' are the same client. */
function plainAddress(address) {
  const a = String(address || '').toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Whether the request carries the token or comes from an allowed address. */
function authorized(config, { query = {}, cookies = {}, remoteAddress }) {
  const token = config.token;
  if (typeof token === 'string' && token !== '') {
    for (const given of [query.token, cookies.token]) {
      // Both are checked whatever the first gives, so timing says nothing either.
      if (typeof given === 'string' && sameSecret(given, token)) return true;
    }
  }
  const allow = Array.isArray(config.allow) ? config.allow : [];
  const from = plainAddress(remoteAddress);
  return allow.some((a) => plainAddress(a) === from);
}

// ---------------------------------------------------------------------------
// Watchers: all state lives in context.state, one per application instance.

function stateOf(context) {
  const s = context.state;
  if (s.watchers === undefined) {
    s.watchers = new Map(); // name -> watcher
    s.timer = null;
    s.busy = false;         // a check is running (they are async, and must not overlap)
    s.closing = [];         // watchers dropped during a check, closed when it ends
    s.reads = 0;
    s.checks = 0;
  }
  return s;
}

/** A watcher positioned at the end of the file (or waiting for it to exist). */
function openAtEnd(name, file) {
  const w = { name, file, fd: null, dev: 0, ino: 0, position: 0, decoder: new StringDecoder('utf8'), missing: false };
  try {
    w.fd = fs.openSync(file, 'r');
    const st = fs.fstatSync(w.fd);
    w.dev = st.dev;
    w.ino = st.ino;
    w.position = st.size;
  } catch (_) {
    // Not there yet: it will be read from its start once it appears.
    if (w.fd !== null) fs.closeSync(w.fd);
    w.fd = null;
    w.missing = true;
  }
  return w;
}

function closeFd(w) {
  if (w.fd !== null) {
    const fd = w.fd;
    w.fd = null;
    fs.close(fd, () => {});
  }
}

/** Subscribes connection to a log and makes sure it is watched. */
function watch(context, connection, name) {
  const s = stateOf(context);
  context.subscribe(connection, sub(name));
  if (!s.watchers.has(name)) s.watchers.set(name, openAtEnd(name, logsOf(context.config).get(name)));
  if (s.timer === null) {
    const refresh = typeof context.config.refresh === 'number' ? context.config.refresh : DEFAULT_REFRESH_MS;
    s.timer = setInterval(() => { check(context); }, refresh);
  }
}

/** Unsubscribes; drops the watcher when the file has no subscriber left, the timer when no file has. */
function unwatch(context, connection, name) {
  const s = stateOf(context);
  context.unsubscribe(connection, sub(name));
  const w = s.watchers.get(name);
  if (w && context.subscribers(sub(name)) === 0) drop(s, w);
  stopIfIdle(s);
}

function drop(s, w) {
  s.watchers.delete(w.name);
  if (s.busy) s.closing.push(w); // a check may be using its fd right now
  else closeFd(w);
}

function stopIfIdle(s) {
  if (s.watchers.size === 0 && s.timer !== null) {
    clearInterval(s.timer);
    s.timer = null;
  }
}

/** One round: every watched file with subscribers is checked once. */
async function check(context) {
  const s = stateOf(context);
  if (s.busy) return; // the previous round is still reading (a slow disk): skip this one
  s.busy = true;
  try {
    for (const w of [...s.watchers.values()]) {
      if (context.subscribers(sub(w.name)) === 0) {
        drop(s, w); // its subscribers left without unwatch (e.g. closed by the engine)
        continue;
      }
      s.checks++;
      try {
        await poll(context, s, w);
      } catch (err) {
        // An unreadable file must not stop the others; say it once per kind of failure.
        if (w.lastError !== err.code) {
          w.lastError = err.code;
          context.multicast(sub(w.name), JSON.stringify({ type: 'error', log: w.name, error: `cannot read: ${err.code || err.message}` }), { local: true });
        }
      }
    }
  } finally {
    s.busy = false;
    for (const w of s.closing.splice(0)) closeFd(w);
    stopIfIdle(s);
  }
}

function statPath(file) {
  return fs.promises.stat(file).catch(() => null);
}

function send(context, w, message) {
  // A watcher dropped (and maybe replaced) during this check says nothing more.
  if (stateOf(context).watchers.get(w.name) !== w) return;
  // local: every process tails its own files for its own watchers.
  context.multicast(sub(w.name), JSON.stringify(Object.assign({ type: message.type, log: w.name }, message)), { local: true });
}

/** Reads up to `limit` new bytes of w's open file; returns how many it read. */
async function readNew(context, s, w, size, limit) {
  const length = Math.min(size - w.position, limit);
  if (length <= 0) return 0;
  const buffer = Buffer.allocUnsafe(length);
  const fd = w.fd;
  const { bytesRead } = await new Promise((resolve, reject) => {
    fs.read(fd, buffer, 0, length, w.position, (err, n) => (err ? reject(err) : resolve({ bytesRead: n })));
  });
  s.reads++;
  if (bytesRead === 0) return 0;
  w.position += bytesRead;
  // The decoder keeps an incomplete trailing character for the next read.
  const text = w.decoder.write(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
  if (text !== '') send(context, w, { type: 'data', text });
  return bytesRead;
}

function fstat(fd) {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
}

function openFromStart(w) {
  return new Promise((resolve) => {
    fs.open(w.file, 'r', (err, fd) => {
      if (err) { resolve(false); return; }
      fs.fstat(fd, (err2, st) => {
        if (err2) { fs.close(fd, () => {}); resolve(false); return; }
        w.fd = fd;
        w.dev = st.dev;
        w.ino = st.ino;
        w.position = 0;
        w.decoder = new StringDecoder('utf8');
        w.missing = false;
        resolve(true);
      });
    });
  });
}

async function poll(context, s, w) {
  const atPath = await statPath(w.file);
  if (w.fd === null) {
    // Waiting for the file: a new one is read from its start.
    if (atPath === null || !(await openFromStart(w))) return;
    send(context, w, { type: 'reset', reason: 'created' });
  } else if (atPath === null || atPath.ino !== w.ino || atPath.dev !== w.dev) {
    // Rotated (renamed away, or deleted): first what was appended to the old
    // file before it moved, then the new file from its start.
    const old = await fstat(w.fd);
    let drained = 0;
    while (drained < MAX_DRAIN) {
      const n = await readNew(context, s, w, old.size, Math.min(MAX_READ, MAX_DRAIN - drained));
      if (n === 0) break;
      drained += n;
    }
    closeFd(w);
    w.decoder = new StringDecoder('utf8'); // a character cut by the rotation is dropped
    if (atPath === null || !(await openFromStart(w))) {
      w.missing = true;
      send(context, w, { type: 'reset', reason: 'missing' });
      return;
    }
    send(context, w, { type: 'reset', reason: 'rotated' });
  }
  const st = await fstat(w.fd);
  if (st.size < w.position) {
    // Truncated in place (e.g. "> file" or copytruncate): read it again from the start.
    w.position = 0;
    w.decoder = new StringDecoder('utf8');
    send(context, w, { type: 'reset', reason: 'truncated' });
  }
  await readNew(context, s, w, st.size, MAX_READ);
}

// ---------------------------------------------------------------------------

class Module {
  /**
   * @param {import('..').Connection} connection
   * @param {import('..').AppContext} context
   */
  constructor(connection, context) {
    this.context = context || connection.context;
    this.log = null;      // the log this client is shown
    this.paused = false;
  }

  /**
   * Decides on the upgrade: 403 without the token or an allowed address,
   * 404 for a log name the config does not list.
   * @param {import('..').UpgradeInfo} info
   */
  static authorize(info) {
    const config = (info.context && info.context.config) || {};
    if (!authorized(config, info)) return { status: 403, reason: 'Forbidden: log-view needs its token or an allowed address' };
    const logs = logsOf(config);
    const asked = info.query && info.query.log;
    if (logs.size === 0) return { status: 404, reason: 'No log files are configured' };
    if (asked !== undefined && !logs.has(asked)) return { status: 404, reason: 'No such log' };
    return true;
  }

  /**
   * Deeper checks of the config section than configKeys can say.
   * @returns {string|undefined} what is wrong, completing "apps.<name>."
   */
  static validateConfig(config) {
    if (config.refresh !== undefined && !(config.refresh >= 10 && config.refresh <= 86400000)) {
      return `refresh must be from 10 to 86400000 milliseconds (received ${config.refresh})`;
    }
    for (const [name, file] of Object.entries(config.files || {})) {
      if (typeof file !== 'string' || file === '') return `files[${JSON.stringify(name)}] must be the path of a file`;
    }
    if (config.urls.length === 0) return undefined; // off: nothing more is needed
    if (Object.keys(config.files || {}).length === 0) return 'files must name at least one log file, like { "error.log": "/var/log/app/error.log" }';
    if (!(typeof config.token === 'string' && config.token !== '') && !(config.allow && config.allow.length)) {
      return 'token is needed (or an allow list of client addresses): logs reveal internals';
    }
    return undefined;
  }

  onConnect(connection) {
    const logs = logsOf(this.context.config);
    const asked = connection.query.log;
    const name = asked === undefined ? logs.keys().next().value : asked;
    if (!logs.has(name)) {
      // authorize() refuses these; this guards a server that did not call it.
      connection.close(1008, 'No such log');
      return;
    }
    this.log = name;
    connection.send(JSON.stringify({ type: 'files', files: [...logs.keys()], log: name }));
    watch(this.context, connection, name);
  }

  onData(data, connection) {
    const text = typeof data === 'string' ? data.trim() : '';
    if (this.log === null) return;
    if (text === 'pause') {
      if (!this.paused) {
        this.paused = true;
        unwatch(this.context, connection, this.log);
      }
      connection.send(JSON.stringify({ type: 'paused', log: this.log }));
    } else if (text === 'resume') {
      if (this.paused) {
        this.paused = false;
        watch(this.context, connection, this.log);
      }
      connection.send(JSON.stringify({ type: 'resumed', log: this.log }));
    } else if (text.startsWith('select ')) {
      const name = text.slice(7).trim();
      if (!logsOf(this.context.config).has(name)) {
        connection.send(JSON.stringify({ type: 'error', error: 'No such log' }));
        return;
      }
      if (!this.paused) unwatch(this.context, connection, this.log);
      this.log = name;
      if (!this.paused) watch(this.context, connection, name);
      connection.send(JSON.stringify({ type: 'files', files: [...logsOf(this.context.config).keys()], log: name }));
    } else {
      connection.send(JSON.stringify({ type: 'error', error: 'send "select <name>", "pause" or "resume"' }));
    }
  }

  onDisconnect(connection) {
    if (this.log !== null && !this.paused) unwatch(this.context, connection, this.log);
  }
}

Module.requiresConfig = true;
Module.configKeys = { refresh: 'number', files: 'object', token: 'string', allow: 'string[]' };

exports.Module = Module;
