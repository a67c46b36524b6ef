'use strict';

const crypto = require('crypto');

const HEARTBEAT_MS = 5000;        // how often a process says it is alive
const ALIVE_MS = 3 * HEARTBEAT_MS; // how long that lasts without the next

// Shared application state: a small async key-value store with the few
// operations the shipped apps need (strings, hashes, capped lists). In one
// process it is a Map (MemoryStore); with the redis option it is Redis
// (RedisStore), so every process and machine sharing that Redis sees one
// state. Every operation returns a Promise; a Redis that is away rejects
// with code WS_ERR_REDIS_DOWN. A module reaches its own part through
// context.store (keys scoped to the app instance's URL).
//
// Each process has an owner id (store.owner); store.alive(owner) says
// whether that process still runs (in Redis, a key it refreshes every few
// seconds), so state a crashed process left behind (a chat member) can be
// told from live state.

/**
 * @typedef {object} Store
 * @property {(key: string) => Promise<string|null>} get
 * @property {(key: string, value: string) => Promise<void>} set
 * @property {(key: string, field: string) => Promise<string|null>} hget
 * @property {(key: string, field: string, value: string) => Promise<void>} hset
 * @property {(key: string, field: string, value: string) => Promise<boolean>} hsetnx true when the field was new
 * @property {(key: string, field: string) => Promise<boolean>} hdel true when the field was there
 * @property {(key: string) => Promise<Object<string, string>>} hgetall
 * @property {(key: string) => Promise<number>} hlen
 * @property {(key: string, value: string, max: number) => Promise<void>} pushCapped appends, keeping the last max
 * @property {(key: string) => Promise<string[]>} list the whole list, oldest first
 * @property {(prefix: string) => Store} scope the same store with every key prefixed
 * @property {string} owner this process's id
 * @property {(owner: string) => Promise<boolean>} alive whether the process with that id still runs
 */

class MemoryStore {
  constructor(map = new Map(), prefix = '', owner = crypto.randomBytes(8).toString('hex')) {
    this._map = map;
    this._prefix = prefix;
    this.owner = owner;
  }

  scope(prefix) { return new MemoryStore(this._map, this._prefix + prefix, this.owner); }

  /** One process: whatever is in it was put there by a live one. */
  async alive() { return true; }

  _hash(key, create) {
    let h = this._map.get(this._prefix + key);
    if (!(h instanceof Map)) {
      if (!create) return null;
      h = new Map();
      this._map.set(this._prefix + key, h);
    }
    return h;
  }

  async get(key) {
    const v = this._map.get(this._prefix + key);
    return typeof v === 'string' ? v : null;
  }

  async set(key, value) { this._map.set(this._prefix + key, String(value)); }

  async hget(key, field) {
    const h = this._hash(key, false);
    return h !== null && h.has(field) ? h.get(field) : null;
  }

  async hset(key, field, value) { this._hash(key, true).set(field, String(value)); }

  async hsetnx(key, field, value) {
    const h = this._hash(key, true);
    if (h.has(field)) return false;
    h.set(field, String(value));
    return true;
  }

  async hdel(key, field) {
    const h = this._hash(key, false);
    return h !== null && h.delete(field);
  }

  async hgetall(key) {
    const h = this._hash(key, false);
    return h === null ? {} : Object.fromEntries(h);
  }

  async hlen(key) {
    const h = this._hash(key, false);
    return h === null ? 0 : h.size;
  }

  async pushCapped(key, value, max) {
    let l = this._map.get(this._prefix + key);
    if (!Array.isArray(l)) {
      l = [];
      this._map.set(this._prefix + key, l);
    }
    l.push(String(value));
    if (l.length > max) l.splice(0, l.length - max);
  }

  async list(key) {
    const l = this._map.get(this._prefix + key);
    return Array.isArray(l) ? l.slice() : [];
  }
}

class RedisStore {
  /**
   * @param {import('./redis').RedisClient} client
   * @param {string} prefix of every key (redisPrefix + 'store:')
   */
  constructor(client, prefix = '', shared) {
    this._client = client;
    this._prefix = prefix;
    // Shared by the scopes: the owner id and its heartbeat.
    this._shared = shared || { root: prefix, owner: crypto.randomBytes(8).toString('hex'), timer: null, onUp: null };
    this.owner = this._shared.owner;
  }

  scope(prefix) { return new RedisStore(this._client, this._prefix + prefix, this._shared); }

  _aliveKey(owner) { return `${this._shared.root}alive:${owner}`; }

  /** Says every few seconds (and on every reconnect) that this process runs. */
  startHeartbeat() {
    const sh = this._shared;
    if (sh.timer !== null) return;
    const beat = () => this._client.command(['SET', this._aliveKey(sh.owner), '1', 'PX', String(ALIVE_MS)]);
    sh.onUp = beat;
    this._client.on('up', beat);
    sh.timer = setInterval(beat, HEARTBEAT_MS);
    sh.timer.unref();
    if (this._client.connected) beat();
  }

  /** Stops the heartbeat and says at once that this process is gone. */
  stopHeartbeat() {
    const sh = this._shared;
    if (sh.timer === null) return;
    clearInterval(sh.timer);
    sh.timer = null;
    this._client.removeListener('up', sh.onUp);
    this._client.command(['DEL', this._aliveKey(sh.owner)]);
  }

  async alive(owner) {
    if (owner === this.owner) return true;
    return (await this._do(['EXISTS', this._aliveKey(owner)])) === 1;
  }

  _do(parts) {
    return new Promise((resolve, reject) => {
      this._client.command(parts, (err, value) => (err ? reject(err) : resolve(value)));
    });
  }

  get(key) { return this._do(['GET', this._prefix + key]); }

  async set(key, value) { await this._do(['SET', this._prefix + key, String(value)]); }

  hget(key, field) { return this._do(['HGET', this._prefix + key, field]); }

  async hset(key, field, value) { await this._do(['HSET', this._prefix + key, field, String(value)]); }

  async hsetnx(key, field, value) { return (await this._do(['HSETNX', this._prefix + key, field, String(value)])) === 1; }

  async hdel(key, field) { return (await this._do(['HDEL', this._prefix + key, field])) === 1; }

  async hgetall(key) {
    const flat = await this._do(['HGETALL', this._prefix + key]);
    const out = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
    return out;
  }

  hlen(key) { return this._do(['HLEN', this._prefix + key]); }

  async pushCapped(key, value, max) {
    // Pipelined on one connection: no other command comes between them.
    const k = this._prefix + key;
    const pushed = this._do(['RPUSH', k, String(value)]);
    const trimmed = this._do(['LTRIM', k, String(-max), '-1']);
    await pushed;
    await trimmed;
  }

  list(key) { return this._do(['LRANGE', this._prefix + key, '0', '-1']); }
}

module.exports = { MemoryStore, RedisStore };
