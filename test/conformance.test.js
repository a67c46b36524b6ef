'use strict';
// Autobahn-style conformance suite (sections 1-7, 9 scaled down, 10) against
// the echo resource "/" (modules/_default.js). One subtest per case, strict
// verdicts (see test/conformance/runner.js). The same cases run over TLS in
// test/protocol-tls.test.js.
//
// NODE_WEBSOCKET_TEST_URL=ws://127.0.0.1:PORT runs the cases against another
// echo server instead (see test/conformance/ws-selfcheck.js).
// NODE_WEBSOCKET_CONFORMANCE=6.4,7.9 runs only the cases whose id starts so.

const { startTarget } = require('./helpers');
const { conformanceSuite } = require('./conformance/suite');

conformanceSuite('Autobahn-style conformance of the echo resource', { start: () => startTarget() });
