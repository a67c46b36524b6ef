'use strict';
// The bench resources on `ws` (npm), written as its README does:
// /echo echoes every message, /broadcast sends every message to all clients
// (a loop over wss.clients). Usage: node ws.js PORT [--deflate]  -> prints
// "ready PORT". --deflate enables permessage-deflate (for the deflate scenario).
require('bufferutil'); // fail here, not silently slower, if bufferutil is missing
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: process.argv.includes('--deflate'), maxPayload: 100 << 20 });

wss.on('connection', (ws, req) => {
  const path = req.url.split('?')[0];
  if (path === '/broadcast') {
    ws.on('message', (data, isBinary) => {
      wss.clients.forEach((client) => {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
    });
  } else if (path === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    ws.close(1008, 'unknown resource');
  }
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ready ${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
