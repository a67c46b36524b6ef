'use strict';
// The bench resources on node.websocket, as modules in bench/servers/modules:
// /echo -> modules/echo.js, /broadcast -> modules/broadcast.js.
// Usage: node ours.js PORT [--deflate]  -> prints "ready PORT". --deflate
// enables permessage-deflate with every parameter at its default (context
// takeover both ways, 1 KiB threshold), as the deflate scenario wants.
const path = require('path');
const { Server } = require('../../lib');

const port = Number(process.argv[2] || 0);
const server = new Server({
  port,
  host: '127.0.0.1',
  modules: path.join(__dirname, 'modules'),
  docroot: false,
  log: false,
  perMessageDeflate: process.argv.includes('--deflate'),
});
server.on('error', (err) => console.error(`ours: ${err.code || ''} ${err.message}`));
server.listen(() => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
