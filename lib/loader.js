'use strict';

// Maps a request path onto the module that serves it. Configured app URLs
// come first (an exact match); then the modules folder:
//   /      -> _default.js
//   /test  -> test.js
//   /a/b   -> a/b.js
// Segment names are [A-Za-z0-9_.-]+, never "." or "..", nothing encoded,
// so no request can name a file outside the folder.

const fs = require('fs');
const path = require('path');
const { AppContext } = require('./context');

const SEGMENT = /^[A-Za-z0-9_.-]+$/;

/** @param {string} s one segment of a resource name or path */
const isSegment = (s) => SEGMENT.test(s) && s !== '.' && s !== '..';

/**
 * @typedef {object} Resolved
 * @property {string} resource   the app name, or the resource ('test', 'a/b', '_default')
 * @property {Function} Module   the constructor, one instance per connection
 * @property {string[]|null} protocols subprotocols the resource speaks
 * @property {Function|null} authorize decides on upgrade requests before they are accepted
 * @property {AppContext} context the instance the connections of this path share
 * @property {string} path the request path (connections read theirs here)
 */

class Loader {
  /**
   * @param {import('./server').Server} server
   */
  constructor(server) {
    this.server = server;
    this.dir = server.options.modules;
    this.log = server.log;
    this.cache = new Map(); // request path -> Resolved
    this.apps = new Map();  // app URL -> { name, module, config }
    for (const [name, app] of Object.entries(server.options.apps || {})) {
      const { urls, module, ...config } = app;
      for (const url of urls) this.apps.set(url, { name, module: module || name, config });
    }
  }

  /**
   * @param {string} requestPath the path of the request, without the query
   * @returns {Resolved | { status: number, reason: string }}
   */
  resolve(requestPath) {
    const hit = this.cache.get(requestPath);
    if (hit !== undefined) return hit;
    let resolved;
    const app = this.apps.get(requestPath);
    if (app !== undefined) {
      const loaded = this.load(app.module);
      if (loaded.status !== undefined) return loaded;
      resolved = { resource: app.name, ...loaded, context: new AppContext(this.server, app.name, requestPath, app.config), path: requestPath };
    } else {
      const resource = resourceName(requestPath);
      if (resource === null) return { status: 404, reason: 'Invalid resource name' };
      const loaded = this.load(resource);
      if (loaded.status !== undefined) return loaded;
      if (loaded.requiresConfig) {
        return { status: 404, reason: `Resource '${resource}' is only served where the config file enables it` };
      }
      resolved = { resource, ...loaded, context: new AppContext(this.server, resource, requestPath, {}), path: requestPath };
    }
    if (this.cache.size < 10000) this.cache.set(requestPath, resolved);
    return resolved;
  }

  /**
   * Loads modules/<resource>.js.
   * @param {string} resource
   */
  load(resource) {
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
    const authorize = Module.authorize || exported.authorize;
    return {
      Module,
      protocols: Array.isArray(declared) ? declared.map(String) : null,
      authorize: typeof authorize === 'function' ? authorize.bind(Module) : null,
      requiresConfig: Boolean(Module.requiresConfig || exported.requiresConfig),
    };
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
  return segments.every(isSegment) ? segments.join('/') : null;
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

module.exports = { Loader, resourceName, isSegment, chooseProtocol };
