'use strict';

// A Redis client over the C one (native/redis.c: hiredis on Node's loop).
// It parses redis:// URLs, resolves the host without blocking (dns.lookup)
// before C connects to the address, sends AUTH and SELECT first on every
// connection, reconnects with backoff, and logs each state change once:
// connected, lost, cannot connect (not once per retry).

const dns = require('dns');
const net = require('net');
const EventEmitter = require('events');
const native = require('./native');
const { WebSocketError } = require('./errors');

const EV_UP = 1;
const EV_DOWN = 2;
const EV_REPLY = 3;
const EV_MESSAGE = 4;

const DEFAULT_PORT = 6379;

/**
 * @typedef {object} RedisTarget
 * @property {string} url the URL as given, without its password (for messages)
 * @property {string} [host] TCP: host name or address
 * @property {number} [port] TCP: port
 * @property {string} [path] UNIX socket path (redis+unix:)
 * @property {string} [password]
 * @property {number} db database number (SELECT), 0 by default
 */

/**
 * Parses redis://[:password@]host[:port][/db] and redis+unix://[:password@]/path[?db=N].
 * @param {string} text
 * @returns {RedisTarget}
 * @throws {Error} whose message completes "option redis ..."
 */
function parseRedisUrl(text) {
  if (typeof text !== 'string' || text === '') {
    throw new Error("must be a URL like 'redis://127.0.0.1:6379/0' or 'redis+unix:///run/redis.sock'");
  }
  let u;
  try {
    u = new URL(text);
  } catch (_) {
    throw new Error(`must be a URL like 'redis://[:password@]host[:port][/db]', but ${JSON.stringify(text)} is not a URL`);
  }
  const password = u.password !== '' ? decodeURIComponent(u.password)
    : u.username !== '' ? decodeURIComponent(u.username) : undefined; // redis://secret@host is common too
  const shown = text.replace(/\/\/[^@/]*@/, '//');
  if (u.protocol === 'redis+unix:' || u.protocol === 'unix:') {
    const path = decodeURIComponent(u.pathname);
    if (u.host !== '' || !path.startsWith('/') || path.length < 2) {
      throw new Error(`must name an absolute socket path, as in 'redis+unix:///run/redis.sock' (got ${JSON.stringify(shown)})`);
    }
    const db = dbNumber(u.searchParams.get('db') || '0', shown);
    return { url: shown, path, password, db };
  }
  if (u.protocol !== 'redis:') {
    throw new Error(`must start with redis:// or redis+unix:// (got ${JSON.stringify(shown)})`);
  }
  let host = u.hostname;
  if (host === '') throw new Error(`must name a host, as in 'redis://127.0.0.1:6379' (got ${JSON.stringify(shown)})`);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = u.port === '' ? DEFAULT_PORT : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`must have a port from 1 to 65535 (got ${JSON.stringify(shown)})`);
  }
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbNumber(dbText === '' ? '0' : dbText, shown);
  return { url: shown, host, port, password, db };
}

function dbNumber(text, shown) {
  if (!/^\d{1,5}$/.test(text)) {
    throw new Error(`must end with a database number (/0, /1, ...), not ${JSON.stringify(text)} (got ${JSON.stringify(shown)})`);
  }
  return Number(text);
}

/** @returns {string|null} why Redis cannot be used in this build, or null */
function redisMissing() {
  return native.redisAvailable ? null
    : 'this build of node.websocket has no Redis support: install hiredis (Debian/Ubuntu package libhiredis-dev) and rebuild with "node scripts/build.js --force"';
}

/**
 * One Redis connection, kept up: commands, or (subscriber: true) pub/sub.
 * Events: 'up' (connected, AUTH and SELECT sent), 'down' (lost), 'message'
 * (channel, payload Buffer) on a subscriber.
 */
class RedisClient extends EventEmitter {
  /**
   * @param {RedisTarget} target
   * @param {object} [options]
   * @param {{ info(m: string): void, error(m: string): void }} [options.log]
   * @param {string} [options.role] named in log lines ('commands', 'pub/sub')
   * @param {number} [options.connectTimeout=2000] ms for one connect attempt
   * @param {number} [options.minDelay=100] first retry delay, doubled up to maxDelay
   * @param {number} [options.maxDelay=2000]
   */
  constructor(target, { log, role = 'commands', connectTimeout = 2000, minDelay = 100, maxDelay = 2000 } = {}) {
    super();
    const missing = redisMissing();
    if (missing) throw new WebSocketError('WS_ERR_NO_REDIS', missing, { option: 'redis' });
    this.target = target;
    this.connected = false;
    this._log = log || { info() {}, error() {} };
    this._role = role;
    this._connectTimeout = connectTimeout;
    this._minDelay = minDelay;
    this._maxDelay = maxDelay;
    this._attempt = 0;
    this._timer = null;
    this._pending = new Map(); // tag -> callback(err, value)
    this._nextTag = 1;
    this._channels = new Set();
    this._closed = false;
    this._onClosed = [];
    this._reported = null;   // the state last logged: 'up', 'lost', 'failing'
    this._connecting = false;
    this._handle = native.redisCreate((kind, a, b) => this._onEvent(kind, a, b));
  }

  /** Starts connecting; reconnects by itself until close(). */
  start() {
    if (!this._closed && !this._connecting && !this.connected && this._timer === null) this._connect();
    return this;
  }

  _connect() {
    this._timer = null;
    if (this._closed) return;
    this._connecting = true;
    const t = this.target;
    if (t.path !== undefined) {
      this._dial(t.path, -1);
      return;
    }
    if (net.isIP(t.host)) {
      this._dial(t.host, t.port);
      return;
    }
    dns.lookup(t.host, (err, address) => {
      if (this._closed) return;
      if (err) this._failed(`cannot resolve ${t.host}: ${err.code || err.message}`);
      else this._dial(address, t.port);
    });
  }

  _dial(where, port) {
    try {
      native.redisConnect(this._handle, where, port);
    } catch (err) {
      this._failed(err.message);
      return;
    }
    // hiredis's async connect has no timeout of its own.
    this._timer = setTimeout(() => {
      this._timer = null;
      native.redisDisconnect(this._handle, true); // only connecting: dropped, no event
      this._failed(`no answer within ${this._connectTimeout} ms`);
    }, this._connectTimeout);
    this._timer.unref();
  }

  _failed(reason) {
    this._connecting = false;
    if (this._reported !== 'failing' && this._reported !== 'lost') {
      this._log.error(`Redis (${this._role}): cannot connect to ${this.target.url} (${reason}); retrying with backoff`);
      this._reported = 'failing';
    }
    this._retry();
  }

  _retry() {
    if (this._closed) {
      this._finishClose();
      return;
    }
    const delay = Math.min(this._maxDelay, this._minDelay * 2 ** Math.min(this._attempt, 20));
    this._attempt++;
    this._timer = setTimeout(() => this._connect(), delay);
    this._timer.unref();
  }

  _onEvent(kind, a, b) {
    switch (kind) {
      case EV_UP:
        if (this._timer !== null) { clearTimeout(this._timer); this._timer = null; }
        if (!a) { this._failed(b); return; }
        this._connecting = false;
        if (this._closed) {
          native.redisDisconnect(this._handle);
          return;
        }
        // AUTH and SELECT go first; no other command is sent before AUTH is answered.
        if (this.target.password !== undefined) {
          // A peer that accepts the connection but never answers AUTH is not a Redis to wait for.
          const authTimer = setTimeout(() => {
            if (this._closed || this.connected) return;
            this._failed(`no answer to AUTH within ${this._connectTimeout} ms`);
            native.redisDisconnect(this._handle, true); // at once: no reply is coming to wait for
            this._failPending();
          }, this._connectTimeout);
          authTimer.unref();
          this._send(['AUTH', this.target.password], (err) => {
            clearTimeout(authTimer);
            if (this._closed) return;
            if (!err) {
              this._ready();
            } else if (err.code === 'WS_ERR_REDIS') {
              this._failed(`it refused the password: ${err.message}`);
              native.redisDisconnect(this._handle); // 'down' follows; the retry is already set
            }
          });
        }
        if (this.target.db !== 0 && this._role !== 'pub/sub') this._send(['SELECT', String(this.target.db)], (err) => {
          if (err && err.code === 'WS_ERR_REDIS') this._log.error(`Redis (${this._role}): ${this.target.url} refused SELECT ${this.target.db}: ${err.message}`);
        });
        if (this.target.password === undefined) this._ready();
        break;
      case EV_DOWN: {
        const was = this.connected;
        this.connected = false;
        this._failPending();
        if (this._closed) {
          this._finishClose();
          return;
        }
        if (!was) { // never ready (AUTH refused): the retry is set already, or set it now
          if (this._timer === null) this._retry();
          return;
        }
        if (this._reported !== 'lost') {
          this._log.error(`Redis (${this._role}): connection to ${this.target.url} lost${a ? ` (${a})` : ''}; reconnecting with backoff`);
          this._reported = 'lost';
        }
        this.emit('down');
        this._retry();
        break;
      }
      case EV_REPLY: {
        const cb = this._pending.get(a);
        if (cb === undefined) return;
        this._pending.delete(a);
        if (b instanceof Error) cb(b);
        else cb(null, b);
        break;
      }
      case EV_MESSAGE:
        this.emit('message', a, b);
        break;
      default:
        break;
    }
  }

  // Connected, AUTH accepted: commands may go.
  _ready() {
    this._attempt = 0;
    this.connected = true;
    if (this._reported !== 'up') {
      this._log.info(`Redis (${this._role}): connected to ${this.target.url}`);
      this._reported = 'up';
    }
    for (const channel of this._channels) native.redisSubscribe(this._handle, channel, true);
    this.emit('up');
  }

  _failPending() {
    if (this._pending.size === 0) return;
    const pending = [...this._pending.values()];
    this._pending.clear();
    const err = new WebSocketError('WS_ERR_REDIS_LOST', 'the connection to Redis was lost before the reply');
    for (const cb of pending) cb(err);
  }

  _send(parts, callback) {
    let tag = 0;
    if (callback) {
      tag = this._nextTag;
      this._nextTag = this._nextTag >= 0xfffffff0 ? 1 : this._nextTag + 1;
      this._pending.set(tag, callback);
    }
    if (native.redisCommand(this._handle, tag, parts)) return true;
    if (callback) {
      this._pending.delete(tag);
      process.nextTick(callback, new WebSocketError('WS_ERR_REDIS_DOWN', `Redis at ${this.target.url} is not connected`));
    }
    return false;
  }

  /**
   * Sends one command (pipelined after the ones before it).
   * @param {Array<string|Buffer>} parts e.g. ['RPUSH', key, line]
   * @param {(err: Error|null, value?: any) => void} [callback] without it no reply is kept
   * @returns {boolean} false when Redis is not connected (callback gets WS_ERR_REDIS_DOWN)
   */
  command(parts, callback) {
    if (!this.connected) {
      if (callback) process.nextTick(callback, new WebSocketError('WS_ERR_REDIS_DOWN', `Redis at ${this.target.url} is not connected`));
      return false;
    }
    return this._send(parts, callback);
  }

  /** Subscribes to channel now and after every reconnect (a subscriber connection). */
  subscribe(channel) {
    if (this._channels.has(channel)) return;
    this._channels.add(channel);
    if (this.connected) native.redisSubscribe(this._handle, channel, true);
  }

  unsubscribe(channel) {
    if (!this._channels.delete(channel)) return;
    if (this.connected) native.redisSubscribe(this._handle, channel, false);
  }

  /**
   * Closes after the replies still pending (bounded by ms), then calls back.
   * @param {number} [ms=2000]
   * @param {() => void} [callback]
   */
  close(ms = 2000, callback) {
    if (callback) this._onClosed.push(callback);
    if (this._closed) return;
    this._closed = true;
    if (this._timer !== null) { clearTimeout(this._timer); this._timer = null; }
    if (!this.connected) {
      native.redisDisconnect(this._handle);
      this._finishClose();
      return;
    }
    const bound = setTimeout(() => this._finishClose(), ms);
    bound.unref();
    this._bound = bound;
    native.redisDisconnect(this._handle);
  }

  _finishClose() {
    if (this._handle === null) return;
    if (this._bound) clearTimeout(this._bound);
    this.connected = false;
    native.redisFree(this._handle);
    this._handle = null;
    this._failPending();
    const callbacks = this._onClosed.splice(0);
    for (const cb of callbacks) cb();
  }
}

module.exports = { RedisClient, parseRedisUrl, redisMissing };
