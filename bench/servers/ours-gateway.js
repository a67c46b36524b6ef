'use strict';
// node.websocket as a gateway (README "Gateway to UNIX-socket services"):
// /echo is build/backends/websocket_echo on a UNIX socket, reached through
// the C relay or, with --direct, handed the client's socket.
// Usage: node ours-gateway.js PORT [--direct] [--type=seqpacket|stream]
//   -> prints "pids SERVER,SERVICE" (the generator sums both) and "ready PORT".
// --type=stream uses the binary-safe `length` framing (ouistiti's framing
// does not keep message boundaries under load, and the generator checks them).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { Server } = require('../../lib');

const ROOT = path.join(__dirname, '..', '..');
const ECHO = path.join(ROOT, 'build', 'backends', 'websocket_echo');
const port = Number(process.argv[2] || 0);
const direct = process.argv.includes('--direct');
const t = process.argv.find((a) => a.startsWith('--type='));
const type = t ? t.slice('--type='.length) : 'seqpacket';
if (!['seqpacket', 'stream'].includes(type)) {
  console.error(`ours-gateway: --type must be seqpacket or stream, not ${type}`);
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-bench-gw-'));
const services = path.join(dir, 'services');
const modules = path.join(dir, 'modules'); // empty: the default modules/ has an echo.js that would shadow the service
fs.mkdirSync(services);
fs.mkdirSync(modules);
const args = ['-R', services, '-n', 'echo', '-t', type, ...(type === 'stream' ? ['-f', 'length'] : [])];
const service = spawn(ECHO, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let server = null;

function cleanup() {
  if (service.exitCode === null && service.signalCode === null) service.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGTERM', () => process.exit(0));
service.on('exit', (code, sig) => {
  if (!server) console.error(`ours-gateway: websocket_echo exited (${sig || code}) before the server was ready`);
  process.exit(1);
});

// The service is ready once its socket is there.
const deadline = Date.now() + 10000;
(function waitForSocket() {
  let st = null;
  try { st = fs.statSync(path.join(services, 'echo')); } catch { /* not yet */ }
  if (st && st.isSocket()) return listen();
  if (Date.now() > deadline) {
    console.error('ours-gateway: websocket_echo made no socket within 10 s');
    process.exit(1);
  }
  setTimeout(waitForSocket, 20);
})();

function listen() {
  server = new Server({
    port,
    host: '127.0.0.1',
    modules,
    docroot: false,
    log: false,
    gateway: { services, direct, framing: type === 'stream' ? 'length' : 'ouistiti' },
  });
  server.on('error', (err) => console.error(`ours-gateway: ${err.code || ''} ${err.message}`));
  server.listen(() => {
    console.log(`pids ${process.pid},${service.pid}`);
    console.log(`ready ${server.address().port}`);
  });
}
