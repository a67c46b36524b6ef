'use strict';

// Multicast across processes and machines through Redis pub/sub: one
// channel per subscription name (<redisPrefix><name>), subscribed on a
// connection of its own only while this process has a local subscriber,
// and subscribed again after a reconnect. What is published while Redis is
// away is lost, as Redis pub/sub loses it.
//
// A message travels in a small envelope:
//   byte 0      version (1)
//   byte 1      flags: 1 = binary
//   bytes 2-9   origin: random per process, so a process skips its own
//   bytes 10-11 count of excluded connection ids (big-endian)
//   then each id as one length byte and its UTF-8 text, then the message.
// The local fan-out stays the C multicast (server._deliverRemote).
//
// Counting subscribers everywhere (count(name)): PUBSUB NUMSUB says how
// many processes are subscribed to the channel; a query published on it
// (version byte 2: origin, query id) asks each of them, and each answers on
// the asker's own reply channel <redisPrefix>\0count:<origin> (version 3:
// query id, its local count), bounded by a timeout.
//
// The excluded ids travel for the record but are not applied on arrival:
// exclude takes the publisher's own Connection objects, already skipped by
// its local multicast, and the publisher never receives its own message;
// connection ids are unique across one machine's workers only, so an id
// from another machine may name an unrelated local connection.

const crypto = require('crypto');
const { RedisClient } = require('../redis');

const VERSION = 1;
const COUNT_QUERY = 2;
const COUNT_REPLY = 3;
const FLAG_BINARY = 1;
const HEAD = 12;
const COUNT_TIMEOUT = 1000; // ms to wait for every process's count

/**
 * Builds an envelope.
 * @param {Buffer} origin 8 bytes
 * @param {string|Buffer} message
 * @param {boolean} binary
 * @param {Array<string|number>} excludeIds
 * @returns {Buffer}
 */
function encodeEnvelope(origin, message, binary, excludeIds) {
  const ids = [];
  for (const id of excludeIds || []) {
    const b = Buffer.from(String(id), 'utf8');
    if (b.length <= 255 && ids.length < 65535) ids.push(b);
  }
  const isString = typeof message === 'string';
  const body = isString || Buffer.isBuffer(message) ? message
    : ArrayBuffer.isView(message) ? Buffer.from(message.buffer, message.byteOffset, message.byteLength)
      : Buffer.from(message); // an ArrayBuffer
  let size = HEAD + (isString ? Buffer.byteLength(body, 'utf8') : body.length);
  for (const b of ids) size += 1 + b.length;
  const out = Buffer.allocUnsafe(size); // one allocation: the text is written straight into it
  out[0] = VERSION;
  out[1] = binary ? FLAG_BINARY : 0;
  origin.copy(out, 2, 0, 8);
  out.writeUInt16BE(ids.length, 10);
  let off = HEAD;
  for (const b of ids) {
    out[off++] = b.length;
    b.copy(out, off);
    off += b.length;
  }
  if (isString) out.write(body, off, 'utf8');
  else body.copy(out, off);
  return out;
}

/**
 * Reads an envelope; null when it is not one (anyone may publish on a channel).
 * @param {Buffer} buf
 * @returns {{ origin: Buffer, binary: boolean, excludeIds: string[], message: Buffer } | null}
 */
function decodeEnvelope(buf) {
  if (buf.length < HEAD || buf[0] !== VERSION) return null;
  const n = buf.readUInt16BE(10);
  const excludeIds = [];
  let off = HEAD;
  for (let i = 0; i < n; i++) {
    if (off >= buf.length) return null;
    const len = buf[off++];
    if (off + len > buf.length) return null;
    excludeIds.push(buf.toString('utf8', off, off + len));
    off += len;
  }
  return { origin: buf.subarray(2, 10), binary: (buf[1] & FLAG_BINARY) !== 0, excludeIds, message: buf.subarray(off) };
}

class RedisFanout {
  /**
   * @param {import('../server').Server} server
   * @param {object} options
   * @param {import('../redis').RedisTarget} options.target
   * @param {import('../redis').RedisClient} options.publisher the command connection PUBLISH goes through
   * @param {string} options.prefix of the channel names
   * @param {object} [options.log]
   */
  constructor(server, { target, publisher, prefix, log }) {
    this._server = server;
    this._publisher = publisher;
    this._prefix = prefix;
    this._origin = crypto.randomBytes(8);
    this._subscriber = new RedisClient(target, { log, role: 'pub/sub' });
    this._subscriber.on('message', (channel, payload) => this._onMessage(channel, payload));
    this._replies = `${prefix}\u0000count:${this._origin.toString('hex')}`;
    this._subscriber.subscribe(this._replies);
    this._queries = new Map(); // query id -> { sum, left, finish }
    this._nextQuery = 1;
    this._subscriber.start();
    /** Messages published and received from elsewhere (for tests and metrics). */
    this.published = 0;
    this.received = 0;
  }

  /** @returns {boolean} true while the pub/sub connection is up */
  get connected() {
    return this._subscriber.connected;
  }

  publish(name, message, binary, excludeIds) {
    if (!this._publisher.connected) return; // lost, as Redis pub/sub loses it
    this._publisher.command(['PUBLISH', this._prefix + name, encodeEnvelope(this._origin, message, binary, excludeIds)]);
    this.published++;
  }

  watch(name) {
    this._subscriber.subscribe(this._prefix + name);
  }

  unwatch(name) {
    this._subscriber.unsubscribe(this._prefix + name);
  }

  /**
   * How many subscribers name has in the other processes: asks each one
   * subscribed to its channel, and sums the answers that come within ms.
   * @param {string} name
   * @param {number} [ms]
   * @returns {Promise<number>}
   */
  count(name, ms = COUNT_TIMEOUT) {
    const channel = this._prefix + name;
    return new Promise((resolve) => {
      this._publisher.command(['PUBSUB', 'NUMSUB', channel], (err, reply) => {
        const subscribed = err || !Array.isArray(reply) ? 0 : Number(reply[1]) || 0;
        const others = subscribed - (this._subscriber._channels.has(channel) && this._subscriber.connected ? 1 : 0);
        if (others <= 0) {
          resolve(0);
          return;
        }
        const id = this._nextQuery;
        this._nextQuery = this._nextQuery >= 0xfffffff0 ? 1 : this._nextQuery + 1;
        const query = { sum: 0, left: others, finish: null };
        const timer = setTimeout(() => query.finish(), ms);
        query.finish = () => {
          clearTimeout(timer);
          this._queries.delete(id);
          resolve(query.sum);
        };
        this._queries.set(id, query);
        const q = Buffer.alloc(14);
        q[0] = COUNT_QUERY;
        this._origin.copy(q, 2);
        q.writeUInt32BE(id, 10);
        this._publisher.command(['PUBLISH', channel, q]);
      });
    });
  }

  _onControl(channel, payload) {
    if (payload[0] === COUNT_QUERY && payload.length === 14) {
      if (payload.subarray(2, 10).equals(this._origin)) return;
      const reply = Buffer.alloc(10);
      reply[0] = COUNT_REPLY;
      payload.copy(reply, 2, 10, 14);
      reply.writeUInt32BE(Math.min(0xffffffff, this._server._subscribers(channel.slice(this._prefix.length))), 6);
      const to = `${this._prefix}\u0000count:${payload.subarray(2, 10).toString('hex')}`;
      this._publisher.command(['PUBLISH', to, reply]);
    } else if (payload[0] === COUNT_REPLY && payload.length === 10 && channel === this._replies) {
      const query = this._queries.get(payload.readUInt32BE(2));
      if (query === undefined) return;
      query.sum += payload.readUInt32BE(6);
      if (--query.left === 0) query.finish();
    }
  }

  _onMessage(channel, payload) {
    if (!channel.startsWith(this._prefix)) return;
    if (payload.length > 0 && payload[0] !== VERSION) {
      this._onControl(channel, payload);
      return;
    }
    const e = decodeEnvelope(payload);
    if (e === null || e.origin.equals(this._origin)) return;
    this.received++;
    const message = e.binary ? e.message : e.message.toString('utf8');
    this._server._deliverRemote(channel.slice(this._prefix.length), message, e.binary, []);
  }

  /**
   * @param {number} [ms=500] bound
   * @param {() => void} callback
   */
  close(ms, callback) {
    if (typeof ms === 'function') { callback = ms; ms = 500; } // a pub/sub connection waits for no reply
    for (const query of [...this._queries.values()]) query.finish();
    this._subscriber.close(ms, callback);
  }
}

module.exports = { RedisFanout, encodeEnvelope, decodeEnvelope };
