'use strict';

// Shared application state: a small async key-value store with the few
// operations the shipped apps need (strings, hashes, capped lists). In one
// process it is a Map (MemoryStore); with the redis option it is Redis
// (RedisStore), so every process and machine sharing that Redis sees one
// state. Every operation returns a Promise; a Redis that is away rejects
// with code WS_ERR_REDIS_DOWN. A module reaches its own part through
// context.store (keys scoped to the app instance's URL).

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
 */

class MemoryStore {
  constructor(map = new Map(), prefix = '') {
    this._map = map;
    this._prefix = prefix;
  }

  scope(prefix) { return new MemoryStore(this._map, this._prefix + prefix); }

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
  constructor(client, prefix = '') {
    this._client = client;
    this._prefix = prefix;
  }

  scope(prefix) { return new RedisStore(this._client, this._prefix + prefix); }

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
