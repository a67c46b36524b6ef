'use strict';
// Resume without loss: subscriptions with a history (server.setHistory) number
// their multicasts; a client that asks for it on the handshake (query
// parameter `node.websocket.resume`) gets every multicast in the envelope
// "m<seq> <name>\n<payload>" and, on connection.subscribe(name), first the
// ones it missed since the seq it names, or "g<seq> <name>\n" when they are
// no longer all held. Its direct sends are "d<payload>". The ring and the
// envelope are C (native/history.c, native/pubsub.c).

const crypto = require('crypto');
const native = require('./native');
const { WebSocketError } = require('./errors');

const PARAM = 'node.websocket.resume';
const MAX_TOKEN = 8192;   // characters of the parameter
const MAX_ENTRIES = 64;   // subscriptions named in it
const MAX_MESSAGES = 1e6; // a ring's slots are allocated up front
const SEQ = /^(0|[1-9][0-9]{0,15})$/;

/** The part of an engine name a client sees: app contexts scope names with a NUL. */
function unscoped(name) {
  const i = name.lastIndexOf('\0');
  return i === -1 ? name : name.slice(i + 1);
}

function checkLimit(options, key, max) {
  const v = options[key];
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new WebSocketError('WS_ERR_INVALID_HISTORY', `history ${key} must be an integer from 0 to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

/**
 * Normalizes { messages, bytes, seconds }: messages is required; bytes
 * defaults to 1 MiB, seconds to no age bound. null stops keeping one.
 */
function checkHistory(options) {
  if (options === null) return null;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new WebSocketError('WS_ERR_INVALID_HISTORY', `a history is { messages, bytes, seconds } or null (got ${typeof options})`);
  }
  for (const k of Object.keys(options)) {
    if (k !== 'messages' && k !== 'bytes' && k !== 'seconds') {
      throw new WebSocketError('WS_ERR_INVALID_HISTORY', `a history has messages, bytes and seconds (got ${JSON.stringify(k)})`);
    }
  }
  const messages = checkLimit(options, 'messages', MAX_MESSAGES);
  if (messages === 0) throw new WebSocketError('WS_ERR_INVALID_HISTORY', 'history messages must be at least 1');
  const bytes = options.bytes === undefined ? 1 << 20 : checkLimit(options, 'bytes', Number.MAX_SAFE_INTEGER);
  const seconds = checkLimit(options, 'seconds', 365 * 86400);
  return { messages, bytes, seconds };
}

/** server.setHistory: the engine keeps the ring; the server remembers which names have one. */
function setHistory(server, name, options) {
  const h = checkHistory(options);
  if (server._handle === null) throw new WebSocketError('WS_ERR_NOT_LISTENING', 'setHistory() needs a listening server');
  if (server._histories === undefined) server._histories = new Map();
  if (h === null) {
    native.setHistory(server._handle, name, 0, 0, 0, 0);
    server._histories.delete(name);
  } else {
    // numbering starts at a random point below 2^47 (room for 2^53 - 2^47 messages): see ws_pubsub_set_history
    native.setHistory(server._handle, name, h.messages, h.bytes, h.seconds * 1000, crypto.randomInt(2 ** 47));
    server._histories.set(name, h);
  }
}

/** The apps option's history settings, for each URL's scoped names (at listen). */
function applyApps(server) {
  for (const app of Object.values(server.options.apps || {})) {
    if (!app.history) continue;
    for (const url of app.urls) {
      for (const [sub, h] of Object.entries(app.history)) setHistory(server, `${url}\0${sub}`, h);
    }
  }
}

function hasHistory(server, name) {
  if (server._histories === undefined) return false;
  for (const n of server._histories.keys()) if (unscoped(n) === name) return true;
  return false;
}

/**
 * The handshake's resume token: "" (resumable, nothing seen yet) or entries
 * "<encodeURIComponent(name)>:<seq>" joined by ",".
 * @returns {{ entries: Map<string, number> } | { error: string } | null} null: not asked for
 */
function parseToken(server, rawQuery) {
  if (!rawQuery || !rawQuery.includes(PARAM)) return null;
  const token = new URLSearchParams(rawQuery).get(PARAM);
  if (token === null) return null;
  if (token.length > MAX_TOKEN) return { error: `resume token longer than ${MAX_TOKEN} characters` };
  const entries = new Map();
  if (token === '') return { entries };
  const parts = token.split(',');
  if (parts.length > MAX_ENTRIES) return { error: `resume token names more than ${MAX_ENTRIES} subscriptions` };
  for (const part of parts) {
    const colon = part.lastIndexOf(':');
    const seq = part.slice(colon + 1);
    if (colon < 1 || !SEQ.test(seq) || Number(seq) > Number.MAX_SAFE_INTEGER) {
      return { error: 'resume token entries are <name>:<seq>, seq a decimal integer' };
    }
    let name;
    try { name = decodeURIComponent(part.slice(0, colon)); } catch { name = ''; }
    if (name === '' || name.includes('\0')) return { error: 'resume token has a badly encoded subscription name' };
    if (entries.has(name)) return { error: `resume token names ${JSON.stringify(name)} twice` };
    if (!hasHistory(server, name)) return { error: `resume token names ${JSON.stringify(name.slice(0, 64))}, which keeps no history` };
    entries.set(name, Number(seq));
  }
  return { entries };
}

/** Marks a new connection resumable (after accept, before its module runs). */
function attach(server, conn, entries) {
  if (!native.resumable(server._handle, conn._slot)) return;
  conn._resume = entries;
}

/** The seq to replay from for a connection subscribing to name, or undefined. */
function lastSeen(conn, name) {
  const entries = conn._resume;
  const key = unscoped(name);
  const last = entries.get(key);
  if (last !== undefined) entries.delete(key); // only the first subscription resumes
  return last;
}

const D = Buffer.from('d');
/** A direct send to a resumable connection, in the envelope's "d" form. */
function wrapDirect(data) {
  if (typeof data === 'string') return `d${data}`;
  if (Buffer.isBuffer(data)) return Buffer.concat([D, data]);
  if (ArrayBuffer.isView(data)) return Buffer.concat([D, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  if (data instanceof ArrayBuffer) return Buffer.concat([D, Buffer.from(data)]);
  return data; // native.send names what it takes
}

module.exports = { PARAM, setHistory, applyApps, checkHistory, parseToken, attach, lastSeen, wrapDirect, unscoped };
