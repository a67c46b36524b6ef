'use strict';

const { Server } = require('./server');
const { Connection } = require('./connection');
const { WebSocketError } = require('./errors');
const { buildMessage, decodeMessage } = require('./frame');
const { version } = require('../package.json');

module.exports = { Server, Connection, WebSocketError, buildMessage, decodeMessage, version };
