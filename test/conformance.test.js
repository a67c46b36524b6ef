'use strict';
// Autobahn-style conformance suite (sections 1-7, 9 scaled down, 10) against
// the echo resource "/" (modules/_default.js). One subtest per case, strict
// verdicts (see test/conformance/runner.js).
//
// NODE_WEBSOCKET_TEST_URL=ws://127.0.0.1:PORT runs the cases against another
// echo server instead (see test/conformance/ws-selfcheck.js).
// NODE_WEBSOCKET_CONFORMANCE=6.4,7.9 runs only the cases whose id starts so.

const { describe, test, before, after } = require('node:test');
const { startTarget } = require('./helpers');
const { allSections } = require('./conformance');
const { runCase } = require('./conformance/runner');

const only = (process.env.NODE_WEBSOCKET_CONFORMANCE || '').split(',').map((s) => s.trim()).filter(Boolean);
const selected = (id) => only.length === 0 || only.some((p) => id === p || id.startsWith(`${p}.`) || id.startsWith(`${p}/`));

let target;
let passed = 0;
let run = 0;
const failed = [];

describe('Autobahn-style conformance of the echo resource', () => {
  before(async () => {
    target = await startTarget();
  });
  after(async () => {
    process.stdout.write(`conformance: ${passed} of ${run} cases passed${failed.length ? `; failed: ${failed.join(' ')}` : ''}\n`);
    if (target) await target.close();
  });
  for (const s of allSections()) {
    const cases = s.cases.filter((k) => selected(k.id));
    if (cases.length === 0) continue;
    describe(`section ${s.section}: ${s.name}`, () => {
      for (const k of cases) {
        test(`${k.id} ${k.title}`, { timeout: (k.timeout || 2000) * 2 + 6000 }, async () => {
          run++;
          try {
            await runCase(target.url, k);
            passed++;
          } catch (e) {
            failed.push(k.id);
            throw e;
          }
        });
      }
    });
  }
});
