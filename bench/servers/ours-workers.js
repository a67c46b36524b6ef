'use strict';
// node.websocket with workers: the primary of lib/workers.js starting N
// copies of runserver.js on one port (SO_REUSEPORT), each serving the bench
// resources of bench/servers/modules as ours.js does.
// Usage: node ours-workers.js PORT [--workers=N] -> prints "pids P,W1,W2"
// (the primary and its workers, so that the generator sums their CPU) and
// then "ready PORT" once every worker listens.
const path = require('path');
const { Primary } = require('../../lib/workers');
const { createLogger } = require('../../lib/log');

const port = Number(process.argv[2] || 0);
const w = process.argv.find((a) => a.startsWith('--workers='));
const count = w ? Number(w.slice('--workers='.length)) : 2;
const primary = new Primary({
  count,
  script: path.join(__dirname, '..', '..', 'runserver.js'),
  args: [`--port=${port}`, '--host=127.0.0.1', `--modules=${path.join(__dirname, 'modules')}`, '--no-docroot', '--no-log'],
  port,
  log: createLogger({ enabled: false }),
});
primary.on('listening', (p) => {
  console.log(`pids ${[process.pid, ...primary.workers.map((x) => x.pid)].join(',')}`);
  console.log(`ready ${p}`);
});
primary.on('exit', (code) => process.exit(code));
process.on('SIGTERM', () => primary.shutdown((ok) => process.exit(ok ? 0 : 1)));
primary.start();
