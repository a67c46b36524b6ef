'use strict';
// The bench resources on uWebSockets.js v20.30.0 (the npm package
// @trufflesuite/uws-js-unofficial), in its own style: /echo echoes, /broadcast
// subscribes every client to one topic and publishes each message to it.
// Usage: node uws.js PORT [--deflate]  -> prints "ready PORT".
// --deflate: permessage-deflate with a compressor per connection that keeps
// its window (DEDICATED_COMPRESSOR, i.e. the 256KB one: window 2^15, memLevel
// 8, as zlib's defaults in ours and ws) and uWS's shared decompressor, which
// makes uWS require client_no_context_takeover (the generator offers it).
// uWS compresses a message only when send/publish is told to (the `compress`
// argument, false by default) and has no size threshold of its own.
const uWS = require('@trufflesuite/uws-js-unofficial');

const port = Number(process.argv[2] || 0);
const deflate = process.argv.includes('--deflate');
const common = {
  compression: deflate ? uWS.DEDICATED_COMPRESSOR | uWS.SHARED_DECOMPRESSOR : uWS.DISABLED,
  maxPayloadLength: 100 << 20,
  // deliver to slow subscribers rather than skip them (the generator checks every message arrives)
  maxBackpressure: 256 << 20,
};
const app = uWS.App()
  .ws('/echo', {
    ...common,
    message: (ws, message, isBinary) => { ws.send(message, isBinary, deflate); },
  })
  .ws('/broadcast', {
    ...common,
    open: (ws) => { ws.subscribe('broadcast'); },
    message: (ws, message, isBinary) => { app.publish('broadcast', message, isBinary, deflate); },
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`uws: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
    console.log(`ready ${uWS.us_socket_local_port(token)}`);
  });
process.on('SIGTERM', () => process.exit(0));
