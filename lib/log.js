'use strict';

// Logging in node.websocket.js's format:
//   [2024-05-01T12:00:00.000Z] [info] [client 127.0.0.1] connected to /test
// A logger formats each record once and hands it to its sinks: stdout, and
// with Redis the Redis sink (RPUSH to node.websocket.<host>.<port>), which
// keeps a bounded queue while Redis is away.

/**
 * @typedef {object} LogRecord
 * @property {Date} time
 * @property {'info'|'error'} level
 * @property {string} message
 * @property {string} [remoteAddress] present when the record is about a connection
 * @property {string} line the formatted line, without a trailing newline
 */

/**
 * @typedef {object} LogSink
 * @property {(record: LogRecord) => void} write
 * @property {() => void} [close]
 */

/**
 * A sink that writes each line, with a newline, to a stream.
 * @param {{ write(chunk: string): any }} [stream] default process.stdout
 * @returns {LogSink}
 */
function streamSink(stream = process.stdout) {
  return { write(record) { stream.write(record.line + '\n'); } };
}

// An Error logs as its stack so a module author sees where a handler threw;
// continuation lines are indented so each record still starts with '['.
function messageText(message) {
  let text;
  if (message instanceof Error) text = message.stack || `${message.name}: ${message.message}`;
  else text = String(message);
  return text.replace(/\r?\n(?![ \t])/g, '\n    ').replace(/\r\n/g, '\n');
}

/**
 * Formats one log line.
 * @param {Date} time
 * @param {'info'|'error'} level
 * @param {string} message
 * @param {string} [remoteAddress]
 * @returns {string}
 */
function formatLine(time, level, message, remoteAddress) {
  const client = remoteAddress === undefined ? '' : ` [client ${remoteAddress}]`;
  return `[${time.toISOString()}] [${level}]${client} ${message}`;
}

// Lines of one RPUSH: a burst is written in few round trips.
const REDIS_BATCH = 1000;

/** A ring of lines: pushing onto a full ring drops the oldest. */
class LineQueue {
  constructor(bound) {
    this._bound = bound;
    this._items = new Array(Math.min(bound + 1, 1024));
    this._head = 0;
    this.length = 0;
  }

  /** @returns {boolean} true when the oldest line was dropped to make room */
  push(line) {
    const full = this.length >= this._bound;
    if (full) this.shift(1);
    if (this.length === this._items.length) this._grow();
    this._items[(this._head + this.length) % this._items.length] = line;
    this.length++;
    return full;
  }

  // Room for one more than the bound: the dropped-lines note goes first even when full.
  _grow() {
    const items = new Array(Math.min(this._bound + 1, this._items.length * 2));
    for (let i = 0; i < this.length; i++) items[i] = this._items[(this._head + i) % this._items.length];
    this._items = items;
    this._head = 0;
  }

  /** The first n lines, oldest first. */
  peek(n) {
    const out = [];
    for (let i = 0; i < n && i < this.length; i++) out.push(this._items[(this._head + i) % this._items.length]);
    return out;
  }

  /** Puts a line before every other (the dropped-lines note), past the bound if need be. */
  unshift(line) {
    if (this.length === this._items.length) this._grow();
    this._head = (this._head - 1 + this._items.length) % this._items.length;
    this._items[this._head] = line;
    this.length++;
  }

  shift(n) {
    for (let i = 0; i < n && this.length > 0; i++) {
      this._items[this._head] = undefined;
      this._head = (this._head + 1) % this._items.length;
      this.length--;
    }
  }
}

/**
 * The Redis sink: every line RPUSHed in order to key (LTRIMmed to max when
 * max > 0). Lines wait in a queue of at most `queue` lines while Redis is
 * away or busy and are written in order when it is up; past the bound the
 * oldest are dropped, and when Redis is back one line (first) says how many.
 * A line leaves the queue when Redis has acknowledged it, so a connection
 * lost in flight writes it again: a line may then appear twice, never zero times.
 * @param {import('./redis').RedisClient} client
 * @param {{ key: string|(() => string), max?: number, queue?: number, onRefused?: (err: Error) => void }} options
 * @returns {LogSink & { readonly queued: number, readonly dropped: number, flush(ms: number, cb: () => void): void }}
 */
function redisSink(client, { key, max = 0, queue = 10000, onRefused }) {
  const lines = new LineQueue(queue);
  const keyOf = typeof key === 'function' ? key : () => key;
  let busy = false;      // an RPUSH awaits its reply
  let inFlight = 0;      // lines at the head of the queue in that RPUSH
  let dropped = 0;       // since the start
  let unreported = 0;    // dropped and not yet said in a line
  let scheduled = false;
  let waiters = [];
  let current = null;    // the RPUSH in flight, so a late answer to an earlier one changes nothing

  function settle() {
    if (lines.length !== 0 || unreported !== 0 || waiters.length === 0) return;
    const w = waiters;
    waiters = [];
    for (const cb of w) cb();
  }

  function send() {
    scheduled = false;
    if (busy || !client.connected) return;
    if (unreported !== 0) {
      const note = `${unreported} log line${unreported === 1 ? '' : 's'} dropped while Redis was away (log queue bound ${queue})`;
      lines.unshift(formatLine(new Date(), 'error', note));
      unreported = 0;
    }
    if (lines.length === 0) {
      settle();
      return;
    }
    const batch = lines.peek(REDIS_BATCH);
    busy = true;
    inFlight = batch.length;
    const token = {};
    current = token;
    const sent = client.command(['RPUSH', keyOf(), ...batch], (err) => {
      if (current !== token) return;
      current = null;
      const n = inFlight;
      busy = false;
      inFlight = 0;
      if (err && err.code !== 'WS_ERR_REDIS') return; // lost: the lines stay first for the next connection
      if (err) { // refused (a key of another type): these lines cannot go there
        dropped += n;
        if (onRefused) onRefused(err);
      }
      lines.shift(n);
      if (lines.length !== 0) send();
      else settle();
    });
    if (!sent) {
      current = null;
      busy = false;
      inFlight = 0;
      return;
    }
    if (max > 0) client.command(['LTRIM', keyOf(), String(-max), '-1']);
  }

  function schedule() {
    if (scheduled || busy) return;
    scheduled = true;
    setImmediate(send); // the lines of one loop iteration go in one RPUSH
  }

  client.on('up', schedule);

  return {
    write(record) {
      if (lines.push(record.line)) { // the oldest made room
        dropped++;
        unreported++;
        if (inFlight > 0) inFlight--; // it was in the RPUSH on its way: not shifted again
      }
      if (client.connected) schedule();
    },
    get queued() { return lines.length; },
    get dropped() { return dropped; },
    /** Calls back once every queued line is written, or after ms. */
    flush(ms, callback) {
      if (lines.length === 0 && unreported === 0) {
        process.nextTick(callback);
        return;
      }
      let done = false;
      const timer = setTimeout(() => finish(), ms);
      const finish = () => { if (!done) { done = true; clearTimeout(timer); callback(); } };
      waiters.push(finish);
      if (client.connected) schedule();
    },
  };
}

/**
 * Creates a logger. When disabled, info() and error() do nothing (and cost
 * nothing but the call), so the server can log unconditionally.
 * @param {object} [options]
 * @param {boolean} [options.enabled=true]
 * @param {LogSink[]} [options.sinks] where records go; default stdout only
 * @returns {{ enabled: boolean, info(message: string|Error, connection?: {remoteAddress?: string}): void,
 *   error(message: string|Error, connection?: {remoteAddress?: string}): void, close(): void }}
 */
function createLogger({ enabled = true, sinks = [streamSink()] } = {}) {
  sinks = sinks.slice();
  function log(level, message, connection) {
    if (!enabled) return;
    const time = new Date();
    const text = messageText(message);
    let remoteAddress;
    if (connection) remoteAddress = connection.remoteAddress ? String(connection.remoteAddress) : 'unknown';
    const record = { time, level, message: text, remoteAddress, line: formatLine(time, level, text, remoteAddress) };
    for (const sink of sinks) {
      try {
        sink.write(record);
      } catch (_) {
        // A failing sink (a closed stdout pipe) must not take the server down.
      }
    }
  }
  const sum = (field) => {
    let n = 0;
    for (const sink of sinks) if (typeof sink[field] === 'number') n += sink[field];
    return n;
  };
  return {
    enabled,
    info(message, connection) { log('info', message, connection); },
    error(message, connection) { log('error', message, connection); },
    /** Adds a sink (the Redis one, once Redis is configured). */
    addSink(sink) { sinks = sinks.concat([sink]); },
    /** Log lines waiting for Redis (0 without Redis). */
    get queued() { return sum('queued'); },
    /** Log lines dropped because the queue for Redis was full. */
    get dropped() { return sum('dropped'); },
    /** Writes what sinks still hold, for at most ms, then calls back. */
    flush(ms, callback) {
      const pending = sinks.filter((s) => typeof s.flush === 'function');
      let left = pending.length;
      if (left === 0) { process.nextTick(callback); return; }
      for (const s of pending) s.flush(ms, () => { if (--left === 0) callback(); });
    },
    close() {
      for (const sink of sinks) if (typeof sink.close === 'function') sink.close();
    },
  };
}

module.exports = { createLogger, streamSink, redisSink, formatLine, LineQueue };
