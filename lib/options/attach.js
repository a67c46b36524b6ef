'use strict';

// Sharing a port, authorization, proxies.

const net = require('net');
const { Problem, describe, invalid } = require('./common');
const { compileTrust } = require('../forwarded');

const OPTIONS = [
  { name: 'noServer', type: 'boolean', codeOnly: true, default: false,
    doc: 'Do not listen: upgrades come through server.handleUpgrade(req, socket, head, cb); port and host are ignored.' },
  { name: 'server', type: 'httpServer', codeOnly: true, default: null,
    doc: "An http.Server or https.Server whose port also serves WebSockets (its 'upgrade' requests); port and host are ignored." },
  { name: 'authorize', type: 'function', codeOnly: true, default: null,
    doc: 'authorize(info) decides on every upgrade request before the module\'s own authorize(): true, false, { status, reason }, or a promise of one.' },
  { name: 'trustProxy', type: 'trustProxy', default: false, arg: 'LIST',
    doc: "Peers whose X-Forwarded-For / Forwarded (and PROXY protocol) headers are believed for remoteAddress: true (any peer), or addresses, CIDR ranges and 'loopback', 'linklocal', 'uniquelocal'." },
  { name: 'proxyProtocol', type: 'boolean', default: false,
    doc: 'Every connection starts with a PROXY protocol v1 or v2 header, from a peer in trustProxy (others are refused).' },
];

function checkHttpServer(option, value) {
  if (value === null || value === undefined) return null;
  if (value instanceof net.Server && typeof value.on === 'function') return value;
  if (typeof value === 'function' && typeof value.listen === 'function') {
    throw new Problem('must be the http.Server, not the app: pass what app.listen() or http.createServer(app) returns', { showsValue: true });
  }
  throw new Problem('must be an http.Server or https.Server (from http.createServer()), or null');
}

function checkFunction(option, value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'function') throw new Problem('must be a function (info) => true | false | { status, reason } | Promise, or null');
  return value;
}

function checkTrustProxy(option, value) {
  if (value === true || value === false) return value;
  let list = value;
  if (typeof value === 'string') list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!Array.isArray(list)) {
    throw new Problem("must be true (every peer), false (none), or a list of addresses and CIDR ranges like ['127.0.0.1', '10.0.0.0/8']");
  }
  const out = [];
  for (const item of list) {
    if (typeof item !== 'string' || item.trim() === '') {
      throw new Problem(`must contain addresses or CIDR ranges (strings), but one element is ${describe(item)}`,
        { showsValue: list !== value });
    }
    const entry = item.trim();
    if (!out.includes(entry)) out.push(entry);
  }
  if (out.length === 0) return false;
  try {
    compileTrust(out); // lib/forwarded.js: the one reader of trust lists
  } catch (err) {
    const why = String(err && err.message ? err.message : err).replace(/^option trustProxy:\s*/, '');
    throw new Problem(`must contain addresses or CIDR ranges like '10.0.0.0/8' (or loopback, linklocal, uniquelocal): ${why}`,
      { showsValue: true });
  }
  return out;
}

// Rules that involve more than one of these options.
function together(opts, label) {
  if (opts.noServer && opts.server !== null) {
    throw invalid(`${label('noServer')} and ${label('server')} exclude each other: with server, upgrades come from that server; ` +
      'with noServer, from your calls to handleUpgrade()', 'noServer');
  }
  const attached = opts.noServer ? 'noServer' : opts.server !== null ? 'server' : null;
  if (opts.tls !== null && attached) {
    throw invalid(`${label('tls')} applies to the engine's own listener, not with ${label(attached)}: ` +
      'there TLS is terminated by your https server', 'tls');
  }
  if (opts.proxyProtocol && attached) {
    throw invalid(`${label('proxyProtocol')} needs the engine's own listener (the PROXY header comes before HTTP), ` +
      `not ${label(attached)}`, 'proxyProtocol');
  }
  if (opts.proxyProtocol && opts.trustProxy === false) {
    throw invalid(`${label('proxyProtocol')} needs ${label('trustProxy')}: a PROXY header is believed only from a trusted peer, ` +
      'and with trustProxy false every connection would be refused', 'proxyProtocol');
  }
}

const TYPES = {
  httpServer: { check: checkHttpServer },
  function: { check: checkFunction },
  trustProxy: { check: checkTrustProxy, flag: true, negatable: true, optionalValue: true },
};

module.exports = { OPTIONS, TYPES, together };
