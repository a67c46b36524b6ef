'use strict';

// The gateway to system servers on UNIX sockets (ouistiti's websocket
// module): the JS side of the decision (the option is lib/options/gateway.js).
// The relay itself is C (native/gateway.c); JS only says which name a
// request reaches, after the module loader found no module for it.

const fs = require('fs');

/**
 * The raw service name a request path asks the gateway for, or null when
 * the path is not under the prefix.
 * @param {object} gateway
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
 * @param {object} gateway
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

module.exports = { gatewayName, shadowedNames };
