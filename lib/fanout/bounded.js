'use strict';

// Node's IPC channel keeps what the OS pipe does not take in this process's
// memory, without a limit. A worker whose loop is stuck would make the
// primary (and the publishing worker) grow without end; past the bound a
// multicast is dropped instead, counted, and said once per episode.

// Bytes handed to one channel and not yet written to its pipe. A burst a
// module makes in one tick waits here whole (the write callbacks come on the
// next turn of the loop), so the bound is generous.
const MAX_PENDING_BYTES = 64 * 1024 * 1024;
const OVERHEAD = 256; // a message's envelope and serialization, roughly

/** About what a fan-out message costs while it waits. */
function weight(m) {
  const x = m && m.message;
  return OVERHEAD + (typeof x === 'string' ? x.length * 2 : x && typeof x.byteLength === 'number' ? x.byteLength : 0);
}

class BoundedSender {
  /**
   * @param {string} what names the channel in the log ("worker 1", "the primary")
   * @param {{ error: (line: string) => void }} log
   * @param {number} [max] bytes
   */
  constructor(what, log, max = MAX_PENDING_BYTES) {
    this.what = what;
    this.log = log;
    this.max = max;
    this.pending = 0;      // bytes
    this.waiting = 0;      // messages
    this.dropped = 0;      // in the current episode
    this.droppedTotal = 0;
  }

  _written(bytes) {
    this.pending -= bytes;
    if (--this.waiting === 0 && this.dropped > 0) {
      this.log.error(`${this.what}: the channel drained; ${this.dropped} multicast${this.dropped === 1 ? '' : 's'} dropped while it was full`);
      this.dropped = 0;
    }
  }

  /**
   * @param {import('child_process').ChildProcess | NodeJS.Process} channel
   * @param {unknown} message
   * @returns {boolean} whether it was sent (false: dropped)
   */
  send(channel, message) {
    const bytes = weight(message);
    if (this.pending + bytes > this.max) {
      if (this.dropped === 0) {
        this.log.error(`${this.what}: ${this.waiting} multicasts (${Math.round(this.pending / 1048576)} MiB) wait on the channel; dropping until it drains`);
      }
      this.dropped++;
      this.droppedTotal++;
      return false;
    }
    this.pending += bytes;
    this.waiting++;
    channel.send(message, undefined, undefined, () => this._written(bytes)); // also called when the send fails
    return true;
  }
}

module.exports = { BoundedSender, MAX_PENDING_BYTES };
