'use strict';

// The gateway to system servers on UNIX sockets (ouistiti's websocket
// module): the `gateway` option's checker and the JS side of the decision.
// The relay itself is C (native/gateway.c); JS only says which name a
// request reaches, after the module loader found no module for it.

const fs = require('fs');
const path = require('path');
const { WebSocketError } = require('./errors');

const FRAMINGS = ['ouistiti', 'line', 'nul', 'length'];
const KEYS = ['services', 'allow', 'deny', 'prefix', 'framing', 'direct'];

/**
 * @typedef {object} GatewayOptions
 * @property {string} services absolute path of the services directory
 * @property {string[]} allow globs of names that may be reached (default ['*'])
 * @property {string[]} deny globs of names that may not (deny wins)
 * @property {string} prefix request paths under it name services (default '/')
 * @property {'ouistiti'|'line'|'nul'|'length'} framing how SOCK_STREAM services mark message boundaries
 * @property {boolean} direct hand the client's socket to the service after the 101
 */

function invalid(message, key) {
  return new WebSocketError('WS_ERR_INVALID_OPTION', message, { option: key ? `gateway.${key}` : 'gateway' });
}

function describe(v) {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

/**
 * Checks and defaults the gateway option: null/undefined/false = off, a
 * string is the services directory, an object has the keys above.
 * @param {unknown} value
 * @param {string} [label] how errors name the option ('option gateway' or a config-file key)
 * @returns {GatewayOptions|null}
 * @throws {WebSocketError} WS_ERR_INVALID_OPTION naming gateway.<key>
 */
function normalizeGateway(value, label = 'option gateway') {
  if (value === undefined || value === null || value === false) return null;
  if (typeof value === 'string') value = { services: value };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`${label} must be an object or a directory (received ${describe(value)})`);
  }
  for (const key of Object.keys(value)) {
    if (!KEYS.includes(key)) throw invalid(`${label}.${key} is not a gateway key (known: ${KEYS.join(', ')})`, key);
  }
  const out = { services: '', allow: ['*'], deny: [], prefix: '/', framing: 'ouistiti', direct: false };
  if (typeof value.services !== 'string' || value.services === '') {
    throw invalid(`${label}.services must be the path of the services directory (received ${describe(value.services)})`, 'services');
  }
  out.services = path.resolve(value.services);
  let stat = null;
  try { stat = fs.statSync(out.services); } catch (_) { /* reported below */ }
  if (stat === null || !stat.isDirectory()) {
    throw invalid(`${label}.services: ${JSON.stringify(out.services)} is not an existing directory`, 'services');
  }
  for (const key of ['allow', 'deny']) {
    if (value[key] === undefined) continue;
    const list = typeof value[key] === 'string' ? [value[key]] : value[key];
    if (!Array.isArray(list) || !list.every((g) => typeof g === 'string' && g !== '' && !g.includes('/'))) {
      throw invalid(`${label}.${key} must be an array of glob patterns of names (no '/') (received ${describe(value[key])})`, key);
    }
    out[key] = list.slice();
  }
  if (value.prefix !== undefined) {
    if (typeof value.prefix !== 'string' || !value.prefix.startsWith('/') || !value.prefix.endsWith('/')) {
      throw invalid(`${label}.prefix must be a path starting and ending with '/' (received ${describe(value.prefix)})`, 'prefix');
    }
    out.prefix = value.prefix;
  }
  if (value.framing !== undefined) {
    if (!FRAMINGS.includes(value.framing)) {
      throw invalid(`${label}.framing must be one of ${FRAMINGS.join(', ')} (received ${describe(value.framing)})`, 'framing');
    }
    out.framing = value.framing;
  }
  if (value.direct !== undefined) {
    if (typeof value.direct !== 'boolean') throw invalid(`${label}.direct must be true or false (received ${describe(value.direct)})`, 'direct');
    out.direct = value.direct;
  }
  return out;
}

/**
 * Direct mode passes the client's TCP socket to the service; with TLS the
 * bytes on it are ciphertext of a session only this process holds.
 * @param {GatewayOptions|null} gateway
 * @param {object|null} tls the normalized tls option
 */
function checkGatewayWithTls(gateway, tls) {
  if (gateway && gateway.direct && tls) {
    throw invalid('gateway.direct cannot be used with tls: direct mode hands the client\'s TCP socket to the service, ' +
      'which cannot continue a TLS session held by this server; use the relay (direct: false) for wss://', 'direct');
  }
}

/**
 * The raw service name a request path asks the gateway for, or null when
 * the path is not under the prefix.
 * @param {GatewayOptions} gateway
 * @param {string} requestPath
 */
function gatewayName(gateway, requestPath) {
  if (!requestPath.startsWith(gateway.prefix)) return null;
  const name = requestPath.slice(gateway.prefix.length);
  return name === '' ? null : name;
}

/**
 * Names in the services directory a JS module (or app URL) also serves:
 * those stay the module's.
 * @param {GatewayOptions} gateway
 * @param {(path: string) => object} resolve the loader's resolve
 * @returns {string[]}
 */
function shadowedNames(gateway, resolve) {
  let names;
  try {
    names = fs.readdirSync(gateway.services);
  } catch (_) {
    return [];
  }
  return names.filter((name) => !name.startsWith('.') && resolve(gateway.prefix + name).status === undefined).sort();
}

module.exports = { normalizeGateway, checkGatewayWithTls, gatewayName, shadowedNames, FRAMINGS };
