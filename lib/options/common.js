'use strict';

// What every section of the options shares: numeric bounds, the Problem a
// checker throws, and the helpers that word messages.

const util = require('util');
const { WebSocketError } = require('../errors');

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const MAX_INT32 = 2147483647;             // also the longest delay Node's timers accept
const MIB = 1024 * 1024;

const kebab = (name) => name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

// Checks take a value and return the normalized value, or throw a Problem
// whose text completes "<option> must ..." style sentences.

class Problem extends Error {
  /**
   * @param {string} message completes "<option><key> ..." (e.g. "must be a number")
   * @param {object} [how]
   * @param {boolean} [how.showsValue] the message already quotes the bad value
   * @param {string} [how.key] the part of the option at fault, e.g. '.chat.urls'
   * @param {*} [how.value] the value at that key, for "(received ...)"
   * @param {boolean} [how.colon] join the option and the message with ': '
   */
  constructor(message, how = {}) {
    super(message);
    this.showsValue = Boolean(how.showsValue);
    this.key = how.key || '';
    // 'option tls.cert: cannot read ...' rather than 'option tls.cert cannot read ...'
    this.colon = Boolean(how.colon);
    // A value of undefined is still a value to show: tell it apart from none.
    this.hasValue = Object.prototype.hasOwnProperty.call(how, 'value');
    this.value = how.value;
  }
}

function isIntegerString(v) {
  return typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v);
}

function describe(value) {
  let s = util.inspect(value, { breakLength: Infinity, depth: 2, maxArrayLength: 10, maxStringLength: 80 });
  if (s.length > 100) s = s.slice(0, 97) + '...';
  return s;
}

function invalid(message, option, extra) {
  return new WebSocketError('WS_ERR_INVALID_OPTION', message, Object.assign({ option }, extra));
}

/** The known option name closest to `name`, or undefined when none is close. */
function closest(name, candidates) {
  const lower = name.toLowerCase();
  const limit = Math.max(2, Math.floor(lower.length / 3));
  let best;
  let bestDistance = Infinity;
  for (const c of candidates) {
    // The distance is at least the difference in length: skip the O(n*m)
    // table for names that cannot be close (a 1 MiB key in a config file).
    if (Math.abs(lower.length - c.length) > limit) continue;
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return bestDistance <= limit ? best : undefined;
}

function editDistance(a, b) {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

module.exports = {
  MAX_SAFE, MAX_INT32, MIB, kebab, isPlainObject, Problem, isIntegerString, describe, invalid, closest,
};
