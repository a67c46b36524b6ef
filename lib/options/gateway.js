'use strict';

// The gateway to system servers on UNIX sockets (ouistiti's websocket
// module): one option, an object of the keys below, or a directory alone
// (--gateway=DIR is { services: DIR }). The relay is native/gateway.c;
// lib/gateway.js decides which requests reach it.

const path = require('path');
const { Problem, closest, isPlainObject, invalid } = require('./common');
const { checkDirectory } = require('./core');

const OPTIONS = [
  { name: 'gateway', type: 'gateway', default: null, shown: 'null (off)', arg: 'DIR|JSON',
    doc: 'Relay ws://host/<prefix><name> to the UNIX socket <services>/<name>: { services, allow, deny, prefix, framing, direct } (see "Gateway"); a directory alone is { services: DIR }.' },
];

const FRAMINGS = ['ouistiti', 'line', 'nul', 'length'];

/** The keys of gateway, with their defaults. */
const GATEWAY_KEYS = [
  { key: 'services', shown: '(required)', doc: 'The directory of the services\' sockets.' },
  { key: 'allow', default: ['*'], doc: 'Glob patterns (fnmatch) of the names that may be reached.' },
  { key: 'deny', default: [], doc: 'Glob patterns of the names that may not; deny wins over allow.' },
  { key: 'prefix', default: '/', doc: 'Request paths under this prefix name services; it starts and ends with \'/\'.' },
  { key: 'framing', default: 'ouistiti', doc: `How SOCK_STREAM services mark messages: ${FRAMINGS.join(', ')}.` },
  { key: 'direct', default: false, doc: 'Hand the client\'s socket to the service after the 101 (plain ws:// only).' },
];
const KNOWN = GATEWAY_KEYS.map((k) => k.key);

function checkGlobs(value, key) {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((g) => typeof g === 'string' && g !== '' && !g.includes('/'))) {
    throw new Problem('must be an array of glob patterns of names (no \'/\'), like ["echo", "chat*"]', { key: `.${key}`, value });
  }
  return list.slice();
}

function checkGateway(option, value) {
  if (value === null || value === false || value === undefined) return null;
  if (typeof value === 'string') value = { services: value };
  if (!isPlainObject(value)) {
    throw new Problem('must be null, a directory, or an object like { "services": "/var/run/ouistiti", "allow": ["*"] }');
  }
  for (const key of Object.keys(value)) {
    if (!KNOWN.includes(key)) {
      const hint = closest(key, KNOWN);
      throw new Problem(`is not a gateway key (they are ${KNOWN.join(', ')})${hint ? `; did you mean ${hint}?` : ''}`,
        { key: `.${key}`, showsValue: true });
    }
  }
  const out = {};
  try {
    out.services = checkDirectory(option, value.services);
  } catch (err) {
    if (err instanceof Problem) throw new Problem(err.message, { key: '.services', value: value.services });
    throw err;
  }
  out.allow = value.allow === undefined ? ['*'] : checkGlobs(value.allow, 'allow');
  out.deny = value.deny === undefined ? [] : checkGlobs(value.deny, 'deny');
  out.prefix = value.prefix === undefined ? '/' : value.prefix;
  if (typeof out.prefix !== 'string' || !out.prefix.startsWith('/') || !out.prefix.endsWith('/')) {
    throw new Problem('must be a path that starts and ends with \'/\', like "/" or "/services/"', { key: '.prefix', value: value.prefix });
  }
  out.framing = value.framing === undefined ? 'ouistiti' : value.framing;
  if (!FRAMINGS.includes(out.framing)) {
    throw new Problem(`must be one of ${FRAMINGS.join(', ')}`, { key: '.framing', value: value.framing });
  }
  out.direct = value.direct === undefined ? false : value.direct;
  if (typeof out.direct !== 'boolean') throw new Problem('must be true or false', { key: '.direct', value: value.direct });
  return out;
}

// A relative services directory in the --config file is relative to the file's folder.
function pathsFrom(value, dir) {
  if (typeof value === 'string' && value !== '') return path.resolve(dir, value);
  if (isPlainObject(value) && typeof value.services === 'string' && value.services !== '') {
    return { ...value, services: path.resolve(dir, value.services) };
  }
  return value;
}

// Direct mode hands the client's TCP socket over: with TLS its bytes are a
// session only this process can continue.
function together(opts, label) {
  if (opts.gateway && opts.gateway.direct && opts.tls !== null && opts.tls !== undefined) {
    throw invalid(`${label('gateway')}.direct cannot be used with ${label('tls')}: direct mode hands the client's TCP socket ` +
      'to the service, which cannot continue a TLS session held by this server; use the relay (direct: false) for wss://',
    'gateway', { key: 'gateway.direct' });
  }
}

const TYPES = { gateway: { check: checkGateway, json: true, pathsFrom } };

module.exports = { OPTIONS, TYPES, together, GATEWAY_KEYS, FRAMINGS };
