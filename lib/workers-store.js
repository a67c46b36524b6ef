'use strict';

// Shared application state for workers without Redis: the primary holds the
// one in-process store (lib/store.js's MemoryStore), and each worker's store
// is a stand-in whose every method is a call to the primary over the IPC
// channel. The store's interface is asynchronous already, so a module sees
// the same promises either way; calls from one worker are answered in the
// order made, so one client's writes stay in order.
//
// scope() and owner stay in the worker (they are synchronous): a scope is
// a key prefix sent with each call. alive(owner) is answered by the
// primary, which knows which worker made calls as that owner and whether
// that worker process still runs, so a nickname held by a worker that died
// is free again (as a Redis heartbeat would say).

const crypto = require('crypto');

/** Names a stand-in must never forward (they would reach Object.prototype, or make it look like a promise). */
const NOT_METHODS = new Set(['then', 'constructor', '__proto__', 'prototype', 'toJSON']);
/** Answered by serveStore itself, never forwarded to the store's methods. */
const OWN = new Set(['scope', 'alive', 'owner']);

/**
 * In a worker: a store whose methods run in the primary.
 * @param {(kind: string, data: unknown) => Promise<unknown>} [call] lib/workers.js callPrimary
 * @param {string} [prefix] of every key (scope())
 * @param {string} [owner] this process's id (shared by its scopes)
 * @returns {import('./store').Store} store.get(...), store.set(...), ...: each resolves with the primary's answer
 */
function primaryStore(call = require('./workers').callPrimary, prefix = '', owner = crypto.randomBytes(8).toString('hex')) {
  const methods = new Map();
  const own = {
    owner,
    scope: (p) => primaryStore(call, prefix + p, owner),
    alive: (o) => (o === owner ? Promise.resolve(true) : call('store', { op: 'alive', args: [o], prefix, owner })),
  };
  return new Proxy({}, {
    get(target, name) {
      if (typeof name !== 'string' || NOT_METHODS.has(name)) return undefined;
      if (OWN.has(name)) return own[name];
      let m = methods.get(name);
      if (m === undefined) {
        m = (...args) => call('store', { op: name, args, prefix, owner });
        methods.set(name, m);
      }
      return m;
    },
  });
}

/**
 * In the primary: answers the workers' store calls with store's methods.
 * Only the store's own methods are callable (its own and its class's
 * functions, never Object.prototype's); a prefix needs store.scope().
 * @param {import('./workers').Primary} primary
 * @param {object} store the in-process store
 */
function serveStore(primary, store) {
  const allowed = new Set();
  for (let o = store; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (!NOT_METHODS.has(name) && !OWN.has(name) && !name.startsWith('_') && typeof store[name] === 'function') allowed.add(name);
    }
  }
  const scopes = new Map(); // prefix -> store.scope(prefix)
  const owners = new Map(); // owner -> { index, child }: the worker process that calls as owner
  primary.onCall('store', (data, index) => {
    const op = data && typeof data.op === 'string' ? data.op : '';
    const args = data && Array.isArray(data.args) ? data.args : [];
    if (data && typeof data.owner === 'string' && index >= 0 && !owners.has(data.owner)) {
      owners.set(data.owner, { index, child: primary.workers[index].child });
    }
    if (op === 'alive') {
      const w = owners.get(String(args[0]));
      // Alive while the very process that called as that owner runs (a restarted worker is another owner).
      return w !== undefined && w.child !== null && primary.workers[w.index].child === w.child;
    }
    if (!allowed.has(op)) throw new Error(`the store has no operation ${JSON.stringify(op)}`);
    const prefix = data && typeof data.prefix === 'string' ? data.prefix : '';
    let target = store;
    if (prefix !== '') {
      target = scopes.get(prefix);
      if (target === undefined) {
        if (typeof store.scope !== 'function') throw new Error('the store has no scopes');
        target = store.scope(prefix);
        scopes.set(prefix, target);
      }
    }
    return target[op](...args);
  });
  // A worker that exited owns nothing any more: forget its owners (alive() says false for unknown ones).
  primary.on('worker-exit', (index, child) => {
    for (const [o, w] of owners) if (w.index === index && w.child === child) owners.delete(o);
  });
}

module.exports = { primaryStore, serveStore };
