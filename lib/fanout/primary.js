'use strict';

// The fan-out of workers on one machine without Redis: a worker's multicast
// goes to the primary over the IPC channel, and the primary sends it to
// every other worker, which delivers it to its own subscribers with the C
// multicast (the frame built once there). The channel is ordered, so one
// publisher's messages reach every subscriber in the order published; the
// primary never sends a message back to the worker it came from, so each
// subscriber gets it exactly once.

const { callPrimary } = require('../workers');
const { BoundedSender } = require('./bounded');

const COUNT_TIMEOUT = 1000; // ms the primary waits for every worker's count

/** The fan-out interface (see lib/server.js): publish, watch, unwatch, close. */
class PrimaryFanout {
  /**
   * @param {import('../server').Server} server delivers what other workers publish
   * @param {NodeJS.Process} [channel] the IPC channel to the primary
   */
  constructor(server, channel = process) {
    this.server = server;
    this.channel = channel;
    this._out = new BoundedSender('multicasts to the primary', server.log);
    this._onMessage = (m) => {
      if (m === null || typeof m !== 'object' || m.type !== 'fanout') return;
      let { message } = m;
      // The channel hands binary data back as a Uint8Array or Buffer: the C multicast takes either.
      if (message instanceof Uint8Array && !Buffer.isBuffer(message)) {
        message = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
      }
      this.server._deliverRemote(m.name, message, m.binary === true, Array.isArray(m.exclude) ? m.exclude : []);
    };
    channel.on('message', this._onMessage);
  }

  /**
   * Sends one multicast to the other workers.
   * @param {string} name
   * @param {string|Buffer|ArrayBufferView} message
   * @param {boolean} binary
   * @param {number[]} excludeIds
   */
  publish(name, message, binary, excludeIds) {
    if (!this.channel.connected) return; // the primary is gone: this worker is closing
    this._out.send(this.channel, { type: 'fanout', name, message, binary, exclude: excludeIds });
  }

  /**
   * Subscribers of name in the other workers (the primary asks each; one
   * that does not answer within ms is left out).
   * @param {string} name
   * @param {number} [ms]
   * @returns {Promise<number>}
   */
  count(name, ms = COUNT_TIMEOUT) {
    return callPrimary('subscribers', name, ms + 500).then((n) => (Number.isInteger(n) ? n : 0), () => 0);
  }

  // The primary relays every multicast to every worker; a worker with no
  // subscriber of the name drops it in C after one lookup.
  watch() {}

  unwatch() {}

  /** @param {() => void} [callback] */
  close(callback) {
    this.channel.removeListener('message', this._onMessage);
    if (callback) process.nextTick(callback);
  }
}

/**
 * In the primary: answers a worker's count(name) with the sum of the other
 * workers' own subscribers of name.
 * @param {import('../workers').Primary} primary
 */
function serveCounts(primary) {
  primary.onCall('subscribers', (name, asker) => new Promise((resolve) => {
    if (typeof name !== 'string') throw new Error('subscribers: the name must be a string');
    primary.collect('subscribers', (results) => {
      resolve(results.reduce((sum, r) => sum + (r.index !== asker && Number.isInteger(r.data) ? r.data : 0), 0));
    }, COUNT_TIMEOUT, name);
  }));
}

module.exports = { PrimaryFanout, serveCounts };
