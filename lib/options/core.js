'use strict';

// Listening, limits, timeouts, logging and backpressure: the options every
// server has, and the checkers of the plain types.

const fs = require('fs');
const path = require('path');
const { MAX_SAFE, MAX_INT32, MIB, Problem, isIntegerString, describe, invalid } = require('./common');

const ROOT = path.join(__dirname, '..', '..');

/**
 * Entries of the option table (see table.js for their fields).
 */
const OPTIONS = [
  { name: 'port', type: 'integer', default: 8080, min: 0, max: 65535, arg: 'N',
    doc: 'TCP port to listen on; 0 picks a free port.' },
  { name: 'host', type: 'host', default: 'localhost', arg: 'HOST',
    doc: "Host name or address to listen on ('::' for all, IPv4 and IPv6)." },
  { name: 'backlog', type: 'integer', default: 511, min: 1, max: MAX_INT32, arg: 'N',
    doc: 'Length of the queue of pending TCP connections (listen() backlog).' },
  { name: 'origins', type: 'origins', default: '*', shown: "'*'", arg: 'LIST',
    doc: "Allowed Origin values: 'scheme://host[:port]', 'scheme://*.example.com' patterns, or '*' for all." },
  { name: 'modules', type: 'directory', default: path.join(ROOT, 'modules'),
    shown: 'the modules/ folder beside runserver.js', arg: 'DIR',
    doc: 'Folder of resource modules: ws://host:port/test loads DIR/test.js.' },
  { name: 'docroot', type: 'docroot', default: path.join(ROOT, 'test'),
    shown: 'the demo pages in test/', arg: 'DIR',
    doc: 'Folder served to plain HTTP GETs; false turns it off (such requests then get 426).' },
  { name: 'policyPort', type: 'policyPort', default: false, arg: 'N',
    doc: 'Also answer Flash socket-policy requests on this port; true means 843.' },
  { name: 'maxConnections', type: 'integer', default: 100000, min: 1, max: MAX_INT32, arg: 'N',
    doc: 'Connections past this many are answered 503.' },
  { name: 'maxPayload', type: 'integer', default: 100 * MIB, shown: '104857600 (100 MiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: 'Largest message accepted, summed over its fragments; larger ones close with 1009.' },
  { name: 'maxHeaderSize', type: 'integer', default: 8192, min: 1024, max: MIB, arg: 'BYTES',
    doc: 'Largest HTTP request head accepted; larger ones get 431.' },
  { name: 'handshakeTimeout', type: 'integer', default: 10000, min: 1, max: MAX_INT32, arg: 'MS',
    doc: 'Milliseconds a client has to complete the opening handshake.' },
  { name: 'pingInterval', type: 'integer', default: 30000, min: 0, max: MAX_INT32, arg: 'MS',
    doc: 'Milliseconds between server pings to a quiet peer; 0 turns pings off.' },
  { name: 'idleTimeout', type: 'integer', default: 120000, min: 0, max: MAX_INT32, arg: 'MS',
    doc: 'A peer that sends nothing (not even a pong) for this long is closed with 1001; 0 = never.' },
  { name: 'closeTimeout', type: 'integer', default: 5000, min: 1, max: MAX_INT32, arg: 'MS',
    doc: "Milliseconds to wait for the peer's close frame after sending ours before dropping TCP." },
  { name: 'maxBufferedAmount', type: 'integer', default: 16 * MIB, shown: '16777216 (16 MiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: 'A send while more than this many bytes already wait for one connection closes it with 1008 (a reader that falls behind).' },
  { name: 'highWaterMark', type: 'integer', default: 64 * 1024, shown: '65536 (64 KiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: "send() returns false, and 'drain' follows, once this many bytes are queued." },
  { name: 'log', type: 'boolean', default: true,
    doc: 'Log connections and errors to stdout.' },
  { name: 'maxBackpressure', type: 'integer', default: MIB, shown: '1048576 (1 MiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: 'Bytes queued for one subscriber past which a multicast applies backpressurePolicy to it.' },
  { name: 'backpressurePolicy', type: 'choice', choices: ['drop', 'close'], default: 'drop', arg: 'drop|close',
    doc: "What a multicast does to a subscriber past maxBackpressure: 'drop' the message for it (counted), or 'close' it with 1008." },
  { name: 'onUncaught', type: 'choice', choices: ['log', 'exit'], default: 'log', arg: 'log|exit',
    doc: "runserver.js, on an exception or rejection no handler caught (a module's own timer): 'log' it with its stack and keep serving, or 'exit' (close gracefully, status 1) for a supervisor to restart." },
  { name: 'legacyDrafts', type: 'boolean', default: false,
    doc: 'Also accept the pre-RFC 6455 drafts hixie-75 and hixie-76 (0x00..0xFF text framing); off: such requests get 426.' },
];

function checkInteger(option, value) {
  // Numeric strings are accepted so that `port: process.env.PORT` works.
  const n = isIntegerString(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < option.min || n > option.max) {
    throw new Problem(`must be an integer from ${option.min} to ${option.max}`);
  }
  return n;
}

function checkHost(option, value) {
  if (typeof value !== 'string' || value.trim() === '' || /[\s/]/.test(value)) {
    throw new Problem('must be a host name or IP address (a non-empty string without spaces or slashes)');
  }
  // '[::1]' is how people write IPv6 in URLs; listen() wants it bare ('[]' is no host).
  if (/^\[.*\]$/.test(value)) {
    if (value.length === 2) throw new Problem('must be a host name or IP address (a non-empty string without spaces or slashes)');
    return value.slice(1, -1);
  }
  return value;
}

// scheme://host[:port], where host may be '*.' + a domain, a name, an IPv4
// address or a bracketed IPv6 address. 'null' is the Origin of file:// pages.
const ORIGIN_RE = /^[a-z][a-z0-9+.-]*:\/\/(\*\.)?([a-z0-9_~%!$&'()+;=-][a-z0-9_~%!$&'()+;=.-]*|\[[0-9a-f:.]+\])(:\d{1,5})?$/i;

function checkOrigins(option, value) {
  let list = value;
  // A single string may be '*', one origin, or a comma list (the CLI form).
  if (typeof value === 'string') list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!Array.isArray(list)) {
    throw new Problem("must be '*' or an array of origin strings like 'http://example.com:8080'");
  }
  if (list.length === 0) {
    throw new Problem("must list at least one origin (use '*' to allow every origin)");
  }
  const out = [];
  for (const item of list) {
    if (typeof item !== 'string') {
      throw new Problem(`must contain only strings, but one element is ${describe(item)}`, { showsValue: list !== value });
    }
    let origin = item.trim();
    if (origin === '*') return ['*'];
    if (origin === 'null') { out.push(origin); continue; }
    // Browsers never send a trailing slash, but people often write one.
    if (origin.endsWith('/')) origin = origin.slice(0, -1);
    if (!ORIGIN_RE.test(origin)) {
      throw new Problem(`must contain origins of the form 'scheme://host[:port]' (or '*'), but ${describe(item)} is not one`,
        { showsValue: typeof value === 'string' && list.length === 1 });
    }
    const port = /:(\d+)$/.exec(origin.replace(/^[^:]*:\/\//, ''));
    if (port && Number(port[1]) > 65535) {
      throw new Problem(`must contain valid ports, but ${describe(item)} has port ${port[1]}`,
        { showsValue: typeof value === 'string' && list.length === 1 });
    }
    // Scheme and host are case-insensitive; browsers send them lower-case.
    out.push(origin.toLowerCase());
  }
  return [...new Set(out)];
}

function checkDirectory(option, value) {
  if (typeof value !== 'string' || value === '') {
    throw new Problem('must be the path of a directory');
  }
  const dir = path.resolve(value);
  let stat;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    throw new Problem(`must be an existing directory, but ${dir} does not exist`);
  }
  if (!stat.isDirectory()) throw new Problem(`must be a directory, but ${dir} is not one`);
  return dir;
}

function checkDocroot(option, value) {
  if (value === false) return false;
  if (typeof value !== 'string') throw new Problem('must be the path of a directory, or false to turn it off');
  return checkDirectory(option, value);
}

function checkPolicyPort(option, value) {
  if (value === false) return 0;
  if (value === true) return 843;
  const n = isIntegerString(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Problem('must be true (port 843), false (off), or a port number from 1 to 65535');
  }
  return n; // 0 also means off, so normalized options normalize again unchanged
}

function checkBoolean(option, value) {
  if (typeof value !== 'boolean') throw new Problem('must be true or false');
  return value;
}

function checkChoice(option, value) {
  if (!option.choices.includes(value)) {
    throw new Problem(`must be one of ${option.choices.map((c) => `'${c}'`).join(', ')}`);
  }
  return value;
}

// Rules that involve more than one of these options.
function together(opts, label) {
  if (opts.highWaterMark > opts.maxBufferedAmount) {
    throw invalid(`${label('highWaterMark')} must not exceed ${label('maxBufferedAmount')} (${opts.maxBufferedAmount}), ` +
      `or send() would never report backpressure before the connection is closed (received ${opts.highWaterMark})`,
    'highWaterMark');
  }
  if (opts.maxBackpressure > opts.maxBufferedAmount) {
    throw invalid(`${label('maxBackpressure')} must not exceed ${label('maxBufferedAmount')} (${opts.maxBufferedAmount}), ` +
      `or a slow subscriber would be closed by the buffer limit before the backpressure policy applies (received ${opts.maxBackpressure})`,
    'maxBackpressure');
  }
  if (opts.policyPort !== 0 && opts.policyPort === opts.port && !opts.noServer && opts.server === null) {
    throw invalid(`${label('policyPort')} must differ from ${label('port')}: the main port answers policy requests by itself ` +
      `(received ${opts.policyPort})`, 'policyPort');
  }
}

// A default must not clash with another option the user set: with a small
// maxBufferedAmount, the default maxBackpressure follows it down.
function clampDefaults(opts, given) {
  if (given.maxBackpressure === undefined && opts.maxBackpressure > opts.maxBufferedAmount) {
    opts.maxBackpressure = opts.maxBufferedAmount;
  }
}

/** How each type of this section is checked; flag: may stand alone (--log); negatable: --no-log. */
const TYPES = {
  integer: { check: checkInteger },
  host: { check: checkHost },
  origins: { check: checkOrigins },
  directory: { check: checkDirectory, path: true },
  docroot: { check: checkDocroot, path: true, negatable: true },
  policyPort: { check: checkPolicyPort, flag: true, negatable: true },
  boolean: { check: checkBoolean, flag: true, negatable: true },
  choice: { check: checkChoice },
};

module.exports = { OPTIONS, TYPES, together, clampDefaults, checkDirectory };
