'use strict';

// Metrics: the Prometheus listener (lib/metrics.js), on a port of its own.

const net = require('net');
const { Problem, isPlainObject, invalid } = require('./common');

const DEFAULT_HOST = '127.0.0.1'; // scraped from this machine unless the user says otherwise

const OPTIONS = [
  { name: 'metrics', type: 'metrics', default: false, arg: '[HOST:]PORT',
    doc: `Serve Prometheus metrics at http://HOST:PORT/metrics on a listener of their own (HOST defaults to ${DEFAULT_HOST}, never the WebSocket port); false: off.` },
];

const SAYS = `must be a port (9100), 'HOST:PORT' ('0.0.0.0:9100', '[::1]:9100'), { host, port }, or false (off)`;

function checkPort(n, shown) {
  const port = typeof n === 'string' && /^\d{1,5}$/.test(n) ? Number(n) : n;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Problem(`port must be a number from 0 to 65535${shown}`, { colon: true, showsValue: shown !== '' });
  }
  return port;
}

function checkMetricsHost(host) {
  if (typeof host !== 'string' || host.trim() === '' || /[\s/[\]]/.test(host) ||
      (host.includes(':') && net.isIPv6(host) === false)) {
    throw new Problem(`host must be a host name or an IP address (IPv6 in brackets on the command line: '[::1]:9100')`,
      { colon: true });
  }
  return host;
}

/**
 * false (off), or { host, port }. Accepts a port number, a 'PORT',
 * 'HOST:PORT' or '[IPV6]:PORT' string, or { host?, port }.
 */
function checkMetrics(option, value) {
  if (value === false || value === null || value === undefined || value === 'false') return false;
  if (typeof value === 'number') return { host: DEFAULT_HOST, port: checkPort(value, '') };
  if (typeof value === 'string') {
    const s = value.trim();
    if (/^\d+$/.test(s)) return { host: DEFAULT_HOST, port: checkPort(s, ` (received ${JSON.stringify(s)})`) };
    const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(s);
    if (!m) throw new Problem(SAYS);
    const host = m[1] !== undefined ? m[1] : m[2];
    return { host: checkMetricsHost(host), port: checkPort(m[3], ` (received ${JSON.stringify(m[3])})`) };
  }
  if (isPlainObject(value)) {
    for (const k of Object.keys(value)) {
      if (k !== 'host' && k !== 'port') throw new Problem(`has no key ${JSON.stringify(k)}: it takes host and port`, { colon: true });
    }
    const host = value.host === undefined ? DEFAULT_HOST : checkMetricsHost(value.host);
    if (value.port === undefined) throw new Problem('needs a port', { colon: true });
    return { host, port: checkPort(value.port, '') };
  }
  throw new Problem(SAYS);
}

// The metrics listener never shares the WebSocket port.
function together(opts, label) {
  const m = opts.metrics;
  if (!m || m.port === 0 || opts.noServer || opts.server !== null) return;
  if (m.port === opts.port || (opts.policyPort && m.port === opts.policyPort)) {
    const other = m.port === opts.port ? 'port' : 'policyPort';
    throw invalid(`${label('metrics')} must listen on a port of its own, not the ${label(other)} ${m.port}: ` +
      'metrics are not served on the public port', 'metrics');
  }
}

const TYPES = {
  // text: the command-line value is taken as written ('[::1]:9100' is not a list).
  metrics: { check: checkMetrics, negatable: true, text: true },
};

module.exports = { OPTIONS, TYPES, together, DEFAULT_HOST };
