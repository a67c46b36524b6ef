'use strict';

const { Server } = require('./server');
const { Connection } = require('./connection');
const { WebSocketError } = require('./errors');
const { version } = require('../package.json');

module.exports = { Server, Connection, WebSocketError, version };
