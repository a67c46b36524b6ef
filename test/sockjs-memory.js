#!/usr/bin/env node
'use strict';

// Memory per idle SockJS session: node test/sockjs-memory.js [N=10000]
// N idle xhr-streaming sessions against a server in a child process: its RSS before and after.
const { spawn } = require('child_process');
const net = require('net');
const N = Number(process.argv[2] || 10000);
const child = spawn(process.execPath, ['-e', `
  const { Server } = require(${JSON.stringify(require('path').join(__dirname, '..', 'lib'))});
  const s = new Server({ port: 0, host: '127.0.0.1', log: false, maxConnections: 100000, sockjsHeartbeat: 600000, sockjsDisconnectDelay: 600000, handshakeTimeout: 600000 });
  s.listen(() => process.send({ port: s.address().port }));
  process.on('message', () => { global.gc && gc(); const u = process.memoryUsage(); process.send({ rss: u.rss, heap: u.heapUsed }); });
`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
const ask = () => new Promise((r) => { child.once('message', r); child.send(1); });
child.once('message', async ({ port }) => {
  await new Promise((r) => setTimeout(r, 300));
  // warm up: one session, so the code paths and pools exist
  const socks = [];
  const open = (i) => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (c) => { got += c; if (got.includes('\no\n')) resolve(); });
    s.on('error', resolve);
    s.write(`POST /sockjs/echo/0/m${i}/xhr_streaming HTTP/1.1\r\nHost: x\r\n\r\n`);
    socks.push(s);
  });
  await open(-1);
  await new Promise((r) => setTimeout(r, 300));
  const before = await ask();
  for (let i = 0; i < N; i += 200) await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, k) => open(i + k)));
  await new Promise((r) => setTimeout(r, 1000));
  const after = await ask();
  console.log(JSON.stringify({ sessions: N, rssBefore: before.rss, rssAfter: after.rss, bytesPerSession: Math.round((after.rss - before.rss) / N), heapPerSession: Math.round((after.heap - before.heap) / N) }));
  for (const s of socks) s.destroy();
  child.kill();
});
