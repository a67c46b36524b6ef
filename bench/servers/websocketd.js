'use strict';
// websocketd (Debian package websocketd) serving every path with /bin/cat:
// a line echo, one process per connection (websocketd sends each text
// message as a line on the program's stdin and each line of its stdout back
// as a message), for the gateway scenarios.
// Usage: node websocketd.js PORT -> prints "pids WEBSOCKETD" and "ready PORT";
// the generator counts websocketd with all its children (--server-tree).
const net = require('net');
const { spawn } = require('child_process');

const BIN = process.env.WEBSOCKETD || '/usr/bin/websocketd';
const want = Number(process.argv[2] || 0);
let wsd = null;

process.on('exit', () => { if (wsd && wsd.exitCode === null && wsd.signalCode === null) wsd.kill('SIGKILL'); });
process.on('SIGTERM', () => process.exit(0));

// websocketd takes no port 0: find a free one.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

(async () => {
  const port = want || await freePort();
  wsd = spawn(BIN, [`--port=${port}`, '--address=127.0.0.1', '--loglevel=error', '/bin/cat'], { stdio: ['ignore', 'ignore', 'inherit'] });
  wsd.on('error', (e) => { console.error(`websocketd: ${e.message}`); process.exit(1); });
  wsd.on('exit', (code, sig) => { console.error(`websocketd exited (${sig || code})`); process.exit(1); });
  const deadline = Date.now() + 10000;
  while (!(await accepts(port))) {
    if (Date.now() > deadline) { console.error(`websocketd: not listening on ${port} within 10 s`); process.exit(1); }
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`pids ${wsd.pid}`);
  console.log(`ready ${port}`);
})();
