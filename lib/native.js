'use strict';

// Loads the C addon through node-gyp-build: build/Release (a compile, as in
// this checkout) first, else the prebuild in prebuilds/<platform>-<arch>/ that
// fits this machine (scripts/prebuild.js). NODE_WEBSOCKET_ADDON points at
// another build (the sanitizer build in the tests).
const path = require('path');
const { WebSocketError } = require('./errors');

const root = path.join(__dirname, '..');
const file = process.env.NODE_WEBSOCKET_ADDON;

try {
  module.exports = file ? require(file) : require('node-gyp-build')(root);
} catch (err) {
  throw new WebSocketError('WS_ERR_ADDON_MISSING',
    `the C addon could not be loaded from ${file || root} (${err.message.trim()}); build it with "npm run build"`);
}
