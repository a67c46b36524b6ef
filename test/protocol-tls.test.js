'use strict';
// The conformance cases of test/conformance/ (Autobahn-style sections 1-7,
// 9 scaled down, 10) over wss://: the engine's TLS layer under the same
// strict verdicts as the plain run, each case on its own TLS connection
// checked against the test CA. Prints "conformance over TLS: N of M cases
// passed".

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startTlsServer, RawClient, OP, withTimeout } = require('./helpers');
const { conformanceSuite } = require('./conformance/suite');
const { makeCerts } = require('./certs');

const { caPem } = makeCerts();

test('the raw client speaks TLS to the server and checks its certificate', { timeout: 15000 }, async () => {
  const target = await startTlsServer();
  try {
    const c = await RawClient.connect(target.url, { tls: { ca: caPem } });
    try {
      assert.equal(c.secure, true);
      assert.equal(c.socket.authorized, true, `certificate not trusted: ${c.socket.authorizationError}`);
      assert.equal(c.socket.alpnProtocol === false || c.socket.alpnProtocol === 'http/1.1', true);
      await c.text('over tls');
      await c.waitEvents(1, 3000);
      assert.equal(c.events[0].opcode, OP.TEXT);
      assert.equal(c.events[0].data.toString(), 'over tls');
      await c.close(1000);
      await c.waitCloseFrame(3000);
      assert.equal(c.closeFrame.code, 1000);
      await withTimeout(c.waitTcpClose(3000), 4000, 'TCP close');
      assert.deepEqual(c.violations, []);
    } finally {
      c.destroy();
    }
  } finally {
    await target.close();
  }
});

conformanceSuite('Autobahn-style conformance of the echo resource over TLS', {
  start: () => startTlsServer(),
  label: 'conformance over TLS',
  connect: { tls: { ca: caPem } },
});
