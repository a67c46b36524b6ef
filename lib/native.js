'use strict';

// Loads the C addon. NODE_WEBSOCKET_ADDON points at another build (the
// sanitizer build in the tests).
const path = require('path');
const { WebSocketError } = require('./errors');

const file = process.env.NODE_WEBSOCKET_ADDON || path.join(__dirname, '..', 'build', 'Release', 'websocket.node');

try {
  module.exports = require(file);
} catch (err) {
  throw new WebSocketError('WS_ERR_ADDON_MISSING',
    `the C addon could not be loaded from ${file} (${err.message}); build it with "npm run build"`);
}
