'use strict';

// The instance of an application a connection belongs to: one per
// configured URL of an app, one per resource for plain modules. Names
// subscribed through a context are private to it, so two chats at two URLs
// never see each other.

const { WebSocketError } = require('./errors');

const SCOPE = '\u0000'; // never in a user's name: checkName refuses it

/**
 * @param {unknown} name
 * @returns {string}
 */
function checkName(name) {
  if (typeof name !== 'string' || name.length === 0 || name.includes(SCOPE)) {
    throw new WebSocketError('WS_ERR_INVALID_SUBSCRIPTION',
      `a subscription name is a non-empty string without NUL characters (got ${typeof name === 'string' ? JSON.stringify(name) : typeof name})`);
  }
  return name;
}

class AppContext {
  /**
   * @param {import('./server').Server} server
   * @param {string} name app or resource name
   * @param {string} url the URL of this instance
   * @param {object} config the app's config section
   */
  constructor(server, name, url, config) {
    this.server = server;
    this.name = name;
    this.url = url;
    this.config = Object.freeze({ ...config });
    this.state = {};
    this._prefix = url + SCOPE;
  }

  /**
   * This instance's part of the shared state (lib/store.js): in this
   * process, or in Redis with the redis option, so every process serving
   * this URL sees the same.
   * @returns {import('./store').MemoryStore|import('./store').RedisStore}
   */
  get store() {
    const store = this.server.store;
    if (this._store === undefined || this._storeOf !== store) {
      this._store = store.scope(`${this.url}:`);
      this._storeOf = store;
    }
    return this._store;
  }

  /** @returns {boolean} true when newly subscribed */
  subscribe(connection, name) {
    return connection._subscribe(this._prefix + checkName(name));
  }

  /** @returns {boolean} true when it was subscribed */
  unsubscribe(connection, name) {
    return connection._unsubscribe(this._prefix + checkName(name));
  }

  /** @returns {number} how many subscribers the message was queued for */
  multicast(name, message, options) {
    return this.server._multicast(this._prefix + checkName(name), message, options);
  }

  subscribers(name) {
    return this.server._subscribers(this._prefix + checkName(name));
  }

  /** @returns {Promise<number>} subscribers in every process (see Server#subscribersEverywhere) */
  subscribersEverywhere(name) {
    return this.server._subscribersEverywhere(this._prefix + checkName(name));
  }

  stats(name) {
    return this.server._stats(this._prefix + checkName(name));
  }

  setPolicy(name, policy) {
    this.server._setPolicy(this._prefix + checkName(name), policy);
  }

  /** server.setHistory for this instance's name. */
  setHistory(name, options) {
    require('./resume').setHistory(this.server, this._prefix + checkName(name), options);
  }
}

module.exports = { AppContext, checkName, SCOPE };
