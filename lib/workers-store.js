'use strict';

// Shared application state for workers without Redis: the primary holds the
// one in-process store (lib/store.js's in-process implementation), and each
// worker's store is a stand-in whose every method is a call to the primary
// over the IPC channel. The store's interface is asynchronous already, so a
// module sees the same promises either way; calls from one worker are
// answered in the order made, so one client's writes stay in order.

/** Names a stand-in must never forward (they would reach Object.prototype, or make it look like a promise). */
const NOT_METHODS = new Set(['then', 'constructor', '__proto__', 'prototype', 'toJSON']);

/**
 * In a worker: a store whose methods run in the primary.
 * @param {(kind: string, data: unknown) => Promise<unknown>} [call] lib/workers.js callPrimary
 * @returns {object} store.get(...), store.set(...), ...: each resolves with the primary's answer
 */
function primaryStore(call = require('./workers').callPrimary) {
  const methods = new Map();
  return new Proxy({}, {
    get(target, name) {
      if (typeof name !== 'string' || NOT_METHODS.has(name)) return undefined;
      let m = methods.get(name);
      if (m === undefined) {
        m = (...args) => call('store', { op: name, args });
        methods.set(name, m);
      }
      return m;
    },
  });
}

/**
 * In the primary: answers the workers' store calls with store's methods.
 * Only the store's own methods are callable (its own and its class's
 * functions, never Object.prototype's).
 * @param {import('./workers').Primary} primary
 * @param {object} store the in-process store
 */
function serveStore(primary, store) {
  const allowed = new Set();
  for (let o = store; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (!NOT_METHODS.has(name) && !name.startsWith('_') && typeof store[name] === 'function') allowed.add(name);
    }
  }
  primary.onCall('store', (data) => {
    const op = data && typeof data.op === 'string' ? data.op : '';
    if (!allowed.has(op)) throw new Error(`the store has no operation ${JSON.stringify(op)}`);
    return store[op](...(Array.isArray(data.args) ? data.args : []));
  });
}

module.exports = { primaryStore, serveStore };
