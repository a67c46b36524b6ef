'use strict';
// Defines the conformance suite (test/conformance/*) as node:test subtests
// against one target: test/conformance.test.js runs it over plain TCP,
// test/protocol-tls.test.js over TLS. Each run prints one summary line,
// "<label>: N of M cases passed[; failed: ids]", which
// test/conformance/ws-selfcheck.js reads.
//
// NODE_WEBSOCKET_CONFORMANCE=6.4,7.9 runs only the cases whose id starts so.

const { describe, test, before, after } = require('node:test');
const { allSections } = require('./index');
const { runCase } = require('./runner');

const only = (process.env.NODE_WEBSOCKET_CONFORMANCE || '').split(',').map((s) => s.trim()).filter(Boolean);
const selected = (id) => only.length === 0 || only.some((p) => id === p || id.startsWith(`${p}.`) || id.startsWith(`${p}/`));

/**
 * @param {string} title the top-level describe()
 * @param {object} how
 * @param {() => Promise<{ url: string, close: () => Promise<void> }>} how.start starts the target
 * @param {string} [how.label='conformance'] the summary line's label
 * @param {object} [how.connect] extra RawClient.connect options (e.g. { tls: { ca } })
 * @param {(kase: object) => boolean} [how.filter] runs only the cases it accepts
 */
function conformanceSuite(title, { start, label = 'conformance', connect = {}, filter = () => true }) {
  let target;
  let passed = 0;
  let run = 0;
  const failed = [];

  describe(title, () => {
    before(async () => {
      target = await start();
    });
    after(async () => {
      process.stdout.write(`${label}: ${passed} of ${run} cases passed${failed.length ? `; failed: ${failed.join(' ')}` : ''}\n`);
      if (target) await target.close();
    });
    for (const s of allSections()) {
      const cases = s.cases.filter((k) => selected(k.id) && filter(k));
      if (cases.length === 0) continue;
      describe(`section ${s.section}: ${s.name}`, () => {
        for (const k of cases) {
          test(`${k.id} ${k.title}`, { timeout: (k.timeout || 2000) * 2 + 6000 }, async () => {
            run++;
            try {
              await runCase(target.url, k, connect);
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
}

module.exports = { conformanceSuite };
