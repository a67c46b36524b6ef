'use strict';
// The soak's server (bench/soak.js): one process holding two node.websocket
// servers that share its engine and heap, so the process's memory is the
// figure: ws:// and wss:// (the engine's own TLS, test certificates made for
// the run), both with permessage-deflate on (every parameter at its default)
// and the bench modules (/echo, /broadcast), each with its /metrics listener.
// Usage: node ours-soak.js -> prints
// "ready PLAIN_PORT TLS_PORT PLAIN_METRICS_PORT TLS_METRICS_PORT CA_FILE".
const path = require('path');
const { Server } = require('../../lib');
const { makeCerts } = require('../../test/certs');

const certs = makeCerts(); // in a temporary folder removed when this process exits
const common = {
  port: 0,
  host: '127.0.0.1',
  modules: path.join(__dirname, 'modules'),
  docroot: false,
  log: false,
  perMessageDeflate: true,
  metrics: { host: '127.0.0.1', port: 0 },
};
const servers = [new Server(common), new Server({ ...common, tls: { cert: certs.cert, key: certs.key } })];

let listening = 0;
for (const s of servers) {
  s.on('error', (err) => {
    console.error(`ours-soak: ${err.code || ''} ${err.message}`);
    process.exit(1);
  });
  s.listen(() => {
    if (++listening < servers.length) return;
    const ports = servers.map((x) => x.address().port);
    const metrics = servers.map((x) => x.metricsAddress().port);
    console.log(`ready ${ports.join(' ')} ${metrics.join(' ')} ${certs.ca}`);
  });
}
// exit() runs the certificates' cleanup (a signal's default action would not)
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
