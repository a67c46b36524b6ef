'use strict';
// Checks the conformance suite itself against an independent echo server
// built on the npm `ws` package:
//   node test/conformance/ws-selfcheck.js [id-prefixes, e.g. 6.4,1.5]
// Runs test/conformance.test.js with NODE_WEBSOCKET_TEST_URL pointing at it.
// ws is known to deviate from the strict verdict in a few cases (listed
// below); every other case must pass, and these must fail, or the suite is
// wrong.

const path = require('path');
const { spawn } = require('child_process');
const { startWsEchoServer } = require('../helpers');

// ws validates UTF-8 when a message completes, not per fragment (Autobahn
// rates it NON-STRICT on 6.4.x), and answers a 64-bit length over 2^53-1 with
// 1009 rather than 1002.
const KNOWN_WS_DEVIATIONS = ['6.4.1', '6.4.2', '6.4.3', '6.4.4', '1.5.3'];

async function main() {
  const target = await startWsEchoServer();
  const env = { ...process.env, NODE_WEBSOCKET_TEST_URL: target.url };
  if (process.argv[2]) env.NODE_WEBSOCKET_CONFORMANCE = process.argv[2];
  const child = spawn(process.execPath, ['--test', path.join(__dirname, '..', 'conformance.test.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  await target.close();
  const m = /conformance: (\d+) of (\d+) cases passed(?:; failed: (.*))?/.exec(out);
  for (const line of out.split('\n')) if (/^# (tests|pass|fail|duration_ms) /.test(line)) console.log(line);
  if (!m) {
    console.error('self-check: no summary line from the suite');
    process.exit(1);
  }
  const failed = m[3] ? m[3].trim().split(/\s+/) : [];
  const unexpected = failed.filter((id) => !KNOWN_WS_DEVIATIONS.includes(id));
  const missing = process.argv[2] ? [] : KNOWN_WS_DEVIATIONS.filter((id) => !failed.includes(id));
  console.log(`self-check against ws: ${m[1]} of ${m[2]} passed; known ws deviations failed as expected: ${failed.filter((id) => KNOWN_WS_DEVIATIONS.includes(id)).join(' ') || 'none'}`);
  if (unexpected.length) console.log(`UNEXPECTED failures: ${unexpected.join(' ')}`);
  if (missing.length) console.log(`known deviations that did not fail (suite too lax?): ${missing.join(' ')}`);
  process.exit(unexpected.length || missing.length ? 1 : 0);
  void code;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
