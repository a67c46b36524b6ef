'use strict';

// A client connection as modules and listeners see it. The bytes live in C;
// this object is the handle JS holds: small, with its derived views
// (headers, query, cookies) built only when read.

const EventEmitter = require('events');
const native = require('./native');
const { WebSocketError } = require('./errors');
const resume = require('./resume');
const { checkName, SCOPE } = require('./context');

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

const MAX_CLOSE_REASON = 123; // a close frame's payload is at most 125 bytes, 2 of them the code

/**
 * Close codes an application may send (RFC 6455 7.4): 1000-1003, 1007-1014, 3000-4999.
 * @param {number} code
 */
function isValidCloseCode(code) {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

// What a handshake agreed (subprotocol, extensions, TLS) takes few forms on
// a server: connections share one frozen object per form, bounded.
const TERMS_MAX = 1000;
const terms = new Map();

const PLAIN = [Object.freeze({ protocol: '', extensions: '', secure: false }),
  Object.freeze({ protocol: '', extensions: '', secure: true })];

function termsOf(protocol, extensions, secure) {
  if (protocol === '' && extensions === '') return PLAIN[secure ? 1 : 0]; // the usual: no key to build
  const key = `${secure ? 1 : 0}${protocol}\0${extensions}`;
  let t = terms.get(key);
  if (t === undefined) {
    t = Object.freeze({ protocol, extensions, secure });
    if (terms.size < TERMS_MAX) terms.set(key, t);
  }
  return t;
}

/**
 * Built by the server when it accepts an upgrade; not constructed by users.
 * EventEmitter's constructor is skipped on purpose: its listener table is
 * created by the first on(), so a connection nobody listens to costs nothing.
 * What all connections of one request path share (server, resource,
 * context, path) is read through _route, the loader's entry for that path,
 * and what the handshake agreed through _terms, rather than copied into
 * each: an idle connection is this object and little else.
 */
function Connection(id, slot, address, remotePort, query, rawHeaders, route, terms) {
  this.id = id;
  this._terms = terms;
  this._address = address; // text, or an IPv4 address as a number: no string per connection
  this.remotePort = remotePort;
  this.readyState = OPEN;
  this._route = route;
  this._slot = slot;
  this._rawQuery = query;
  this._headers = rawHeaders; // the string C gives until first read, then the object
  this._module = null;
}

Object.setPrototypeOf(Connection.prototype, EventEmitter.prototype);
/** Which transport carries it: 'websocket', or a SockJS one set on the connection ('xhr-streaming', ...). */
Connection.prototype.transport = 'websocket';
Object.setPrototypeOf(Connection, EventEmitter);

for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
  Object.defineProperty(Connection, name, { value, enumerable: true });
  Object.defineProperty(Connection.prototype, name, { value, enumerable: true });
}

/** A getter for a field of the shared object in this[holder]. */
function shared(holder, key) {
  return { get() { return this[holder][key]; } };
}

Object.defineProperties(Connection.prototype, {
  server: {
    get() {
      return this._route.context.server;
    },
  },
  resource: shared('_route', 'resource'),
  context: shared('_route', 'context'),
  /** Request path without the query, as sent. */
  path: shared('_route', 'path'),
  /** Negotiated subprotocol, '' when none. */
  protocol: shared('_terms', 'protocol'),
  /** Negotiated extensions as sent in the 101 response, '' when none. */
  extensions: shared('_terms', 'extensions'),
  secure: shared('_terms', 'secure'),
  remoteAddress: {
    get() {
      return addressText(this._address);
    },
  },
  /** Request headers, names lower-cased; repeated ones joined (Cookie with '; '). */
  headers: {
    get() {
      if (typeof this._headers !== 'object') this._headers = headersOf(this._headers);
      return this._headers;
    },
  },
  /** Server-wide subscription names (those made through a context are its own). */
  subscriptions: {
    get() {
      if (this.readyState === CLOSED) return [];
      return native.subscriptions(this.server._handle, this._slot).filter((n) => !n.includes(SCOPE));
    },
  },
  dropped: {
    get() {
      return this.readyState === CLOSED ? 0 : native.dropped(this.server._handle, this._slot);
    },
  },
  query: {
    get() {
      return queryOf(this._rawQuery);
    },
  },
  cookies: {
    get() {
      return parseCookies(this.headers.cookie);
    },
  },
  origin: {
    get() {
      const h = this.headers;
      return h.origin !== undefined ? h.origin : h['sec-websocket-origin'];
    },
  },
  bufferedAmount: {
    get() {
      return this.readyState === CLOSED ? 0 : native.bufferedAmount(this.server._handle, this._slot);
    },
  },
});

/**
 * Sends a message: a string as text, binary data as binary.
 * @param {string|Buffer|ArrayBufferView|ArrayBuffer|number|boolean} data
 * @returns {boolean} false when the connection is not open, or when the
 *   queue is past highWaterMark: wait for 'drain' before sending more.
 */
Connection.prototype.send = function send(data) {
  if (this.readyState !== OPEN) return false;
  if (typeof data === 'number' || typeof data === 'boolean') data = String(data);
  if (this._resume !== undefined) data = resume.wrapDirect(data);
  return native.send(this.server._handle, this._slot, data) === 1;
};

/**
 * Starts the closing handshake.
 * @param {number} [code=1000]
 * @param {string} [reason='']
 */
Connection.prototype.close = function close(code = 1000, reason = '') {
  if (!isValidCloseCode(code)) {
    throw new WebSocketError('WS_ERR_INVALID_CLOSE_CODE',
      `close code must be 1000-1003, 1007-1014 or 3000-4999 (got ${code})`);
  }
  const bytes = Buffer.from(String(reason), 'utf8');
  if (bytes.length > MAX_CLOSE_REASON) {
    throw new WebSocketError('WS_ERR_CLOSE_REASON_TOO_LONG',
      `close reason must be at most ${MAX_CLOSE_REASON} bytes of UTF-8 (got ${bytes.length})`);
  }
  if (this.readyState !== OPEN) return;
  this.readyState = CLOSING;
  native.close(this.server._handle, this._slot, code, bytes);
};

/** Drops the TCP connection at once, without a closing handshake. */
Connection.prototype.terminate = function terminate() {
  if (this.readyState === CLOSED) return;
  this.readyState = CLOSING;
  native.terminate(this.server._handle, this._slot);
};

/**
 * Sends a ping; the peer's pong needs no handling (any traffic keeps the connection alive).
 * @param {string|Buffer} [data] at most 125 bytes
 */
Connection.prototype.ping = function ping(data) {
  const bytes = data === undefined ? undefined : Buffer.isBuffer(data) ? data : Buffer.from(String(data));
  if (bytes && bytes.length > 125) {
    throw new WebSocketError('WS_ERR_CONTROL_TOO_LONG', `ping data must be at most 125 bytes (got ${bytes.length})`);
  }
  if (this.readyState !== OPEN) return;
  native.ping(this.server._handle, this._slot, bytes);
};

/**
 * Subscribes to a server-wide name; see server.multicast().
 * @param {string} name
 * @returns {boolean} true when newly subscribed
 */
Connection.prototype.subscribe = function subscribe(name) {
  return this._subscribe(checkName(name));
};

/**
 * @param {string} name
 * @returns {boolean} true when it was subscribed
 */
Connection.prototype.unsubscribe = function unsubscribe(name) {
  return this._unsubscribe(checkName(name));
};

Connection.prototype._subscribe = function _subscribe(name) {
  if (this.readyState === CLOSED) return false;
  const added = native.subscribe(this.server._handle, this._slot, name,
    this._resume === undefined ? undefined : resume.lastSeen(this, name));
  if (added && this.server._fanout !== null) this.server._watch(this, name);
  return added;
};

Connection.prototype._unsubscribe = function _unsubscribe(name) {
  if (this.readyState === CLOSED) return false;
  const removed = native.unsubscribe(this.server._handle, this._slot, name);
  if (removed && this.server._fanout !== null) this.server._unwatch(this, name);
  return removed;
};

Connection.prototype.toJSON = function toJSON() {
  return { id: this.id, resource: this.resource, path: this.path, remoteAddress: this.remoteAddress };
};

// Common header names, which C writes as one control character: the index + 1.
const HEADER_NAMES = native.headerNames;

/**
 * Where the string C gives names a header: a lower-cased name, or its code.
 * @param {string} name lower-case
 */
function headerKey(name) {
  const i = HEADER_NAMES.indexOf(name);
  return i >= 0 ? String.fromCharCode(i + 1) : name;
}

/**
 * An address as text: C gives an IPv4 address as a 32-bit integer.
 * @param {number|string} a
 */
function addressText(a) {
  return typeof a === 'number' ? `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}` : a;
}

/**
 * Request headers as an object from the string C gives,
 * "name\0value\0name\0value\0" with names lower-cased, common ones coded
 * (see headerKey); repeated headers are joined (Cookie with '; ').
 * @param {string} raw
 * @returns {Record<string, string>}
 */
function headersOf(raw) {
  const out = {};
  const parts = raw ? raw.split('\0') : [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    let name = parts[i];
    if (name.length === 1 && name.charCodeAt(0) <= HEADER_NAMES.length) name = HEADER_NAMES[name.charCodeAt(0) - 1];
    const prev = out[name];
    if (prev === undefined) out[name] = parts[i + 1];
    else out[name] = prev + (name === 'cookie' ? '; ' : ', ') + parts[i + 1];
  }
  return out;
}

/**
 * The query string as an object (the last of repeated names wins).
 * @param {string|undefined} raw the request-target after '?'
 * @returns {Record<string, string>}
 */
function queryOf(raw) {
  return Object.fromEntries(new URLSearchParams(raw || ''));
}

/**
 * Parses a Cookie header; the first of repeated names wins (RFC 6265 5.4).
 * @param {string|undefined} header
 * @returns {Record<string, string>}
 */
function parseCookies(header) {
  const out = {};
  if (!header) return out;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (!name || Object.prototype.hasOwnProperty.call(out, name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value[0] === '"' && value[value.length - 1] === '"') value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch (_) { /* not percent-encoded: keep as sent */ }
    out[name] = value;
  }
  return out;
}

module.exports = { Connection, isValidCloseCode, parseCookies, addressText, headersOf, headerKey, termsOf, queryOf, CONNECTING, OPEN, CLOSING, CLOSED };
