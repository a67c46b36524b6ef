'use strict';

// Maps a request path onto a module in the modules folder:
//   /      -> _default.js
//   /test  -> test.js
//   /a/b   -> a/b.js
// Segment names are [A-Za-z0-9_.-]+, never "." or "..", nothing encoded,
// so no request can name a file outside the folder.

const fs = require('fs');
const path = require('path');

const SEGMENT = /^[A-Za-z0-9_.-]+$/;

/**
 * @typedef {object} Resolved
 * @property {string} resource   e.g. 'test', 'a/b', '_default'
 * @property {Function} Module   the constructor, one instance per connection
 * @property {string[]|null} protocols subprotocols the resource speaks
 */

class Loader {
  /**
   * @param {string} dir absolute path of the modules folder
   * @param {{ error(message: string): void }} log
   */
  constructor(dir, log) {
    this.dir = dir;
    this.log = log;
    this.cache = new Map(); // path -> Resolved
  }

  /**
   * @param {string} requestPath the path of the request, without the query
   * @returns {Resolved | { status: number, reason: string }}
   */
  resolve(requestPath) {
    const hit = this.cache.get(requestPath);
    if (hit !== undefined) return hit;
    const resource = resourceName(requestPath);
    if (resource === null) return { status: 404, reason: 'Invalid resource name' };
    const file = path.join(this.dir, ...resource.split('/')) + '.js';
    let stat;
    try {
      stat = fs.statSync(file);
    } catch (_) {
      stat = null;
    }
    if (!stat || !stat.isFile()) return { status: 404, reason: `No resource '${resource}'` };
    let exported;
    try {
      exported = require(file);
    } catch (err) {
      this.log.error(`module '${resource}' failed to load: ${err.stack || err}`);
      return { status: 500, reason: `Resource '${resource}' failed to load` };
    }
    const Module = exported && exported.Module;
    if (typeof Module !== 'function') {
      this.log.error(`module '${resource}' (${file}) exports no Module constructor`);
      return { status: 500, reason: `Resource '${resource}' has no Module` };
    }
    const declared = Module.protocols || exported.protocols;
    const protocols = Array.isArray(declared) ? declared.map(String) : null;
    const resolved = { resource, Module, protocols };
    if (this.cache.size < 10000) this.cache.set(requestPath, resolved);
    return resolved;
  }
}

/**
 * The resource name for a request path, or null when the path may not name one.
 * @param {string} requestPath
 * @returns {string|null}
 */
function resourceName(requestPath) {
  if (requestPath === '/') return '_default';
  if (requestPath[0] !== '/') return null;
  const segments = requestPath.slice(1).split('/');
  for (const s of segments) {
    if (!SEGMENT.test(s) || s === '.' || s === '..') return null;
  }
  return segments.join('/');
}

/**
 * Picks the subprotocol: the first the client offers that the resource speaks.
 * @param {string|undefined} header Sec-WebSocket-Protocol value(s), comma-separated
 * @param {string[]|null} supported
 * @returns {string} '' when none
 */
function chooseProtocol(header, supported) {
  if (!header || !supported || supported.length === 0) return '';
  for (const offered of header.split(',')) {
    const name = offered.trim();
    if (name && supported.includes(name)) return name;
  }
  return '';
}

module.exports = { Loader, resourceName, chooseProtocol };
