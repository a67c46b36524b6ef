'use strict';
// uWebSockets.js with worker threads, as its examples/WorkerThreads.js does:
// each worker_thread runs its own App, serving /echo as uws.js does. One
// process: its CPU covers every thread. uWS.js v20.30 does not set
// SO_REUSEPORT on Linux (a second App listening on the port fails), and has
// no acceptor app to hand sockets to threads, so each thread listens on a
// port of its own and each generator thread drives one of them (loadgen
// --threads 2 --port A,B): the even split SO_REUSEPORT makes, made by the
// client.
// Usage: node uws-threads.js [--threads=N] -> prints "ready A,B,...".
const { Worker, isMainThread, parentPort } = require('worker_threads');
const uWS = require('@trufflesuite/uws-js-unofficial');

if (isMainThread) {
  const t = process.argv.find((a) => a.startsWith('--threads='));
  const count = t ? Number(t.slice('--threads='.length)) : 2;
  const ports = [];
  const workers = [];
  for (let i = 0; i < count; i++) {
    const worker = new Worker(__filename);
    workers.push(worker);
    worker.once('message', (port) => {
      if (!port) {
        console.error(`uws-threads: thread ${i} cannot listen on 127.0.0.1`);
        process.exit(1);
      }
      ports[i] = port;
      if (ports.filter(Boolean).length === count) console.log(`ready ${ports.join(',')}`);
    });
    worker.on('error', (err) => { console.error(`uws-threads: ${err.stack || err}`); process.exit(1); });
  }
  // Each thread closes its listener and ends once its clients are gone
  // (process.exit() with uWS apps still open in threads aborts Node).
  process.on('SIGTERM', () => {
    for (const w of workers) w.postMessage('close');
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 3000).unref();
  });
} else {
  let listener = null;
  parentPort.on('message', (m) => {
    if (m === 'close' && listener) uWS.us_listen_socket_close(listener);
    parentPort.close();
  });
  uWS.App()
    .ws('/echo', {
      compression: uWS.DISABLED,
      maxPayloadLength: 100 << 20,
      maxBackpressure: 256 << 20,
      message: (ws, message, isBinary) => { ws.send(message, isBinary); },
    })
    .listen('127.0.0.1', 0, (token) => {
      listener = token || null;
      parentPort.postMessage(token ? uWS.us_socket_local_port(token) : 0);
    });
}
