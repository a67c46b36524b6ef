'use strict';

// The browser client (lib/client/client.js, served at
// /node.websocket/client.js) in headless Chromium: the server drops its
// connection mid-stream (connection.terminate(), no closing handshake), the
// client reconnects with backoff and resumes; the page's app sees every
// multicast exactly once and in order, payloads unwrapped, text and binary.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { startServer, launchChromium, waitUntil, delay } = require('./helpers');

const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-browser-modules-'));
fs.writeFileSync(path.join(modules, 'feed.js'), `
exports.Module = class { onConnect(c) { c.subscribe('feed'); c.send('welcome'); } onData(d, c) { c.send('echo:' + d); } };
`);
// The page comes from the docroot: Chromium refuses a WebSocket from a routed page to a local address.
const docroot = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-browser-docroot-'));
fs.writeFileSync(path.join(docroot, 'resume.html'), `<!doctype html><meta charset="utf-8">
<script src="/node.websocket/client.js"></script>
<script>
  window.got = []; window.direct = []; window.opens = []; window.gaps = [];
  const ws = new NodeWebSocket('ws://' + location.host + '/feed', { minDelay: 50, maxDelay: 500 });
  ws.onopen = (e) => { window.opens.push(e.reconnect); ws.send('hi'); };
  ws.onmessage = (e) => {
    if (e.subscription === undefined) { window.direct.push(e.data); return; }
    window.got.push([e.seq, typeof e.data === 'string' ? e.data : 'bin:' + Array.from(new Uint8Array(e.data)).join('.')]);
  };
  ws.addEventListener('gap', (e) => window.gaps.push([e.subscription, e.seq]));
  window.ws = ws;
</script>`);

const payloadOf = (i) => (i % 7 === 6 ? Buffer.from([i & 255, 1, 2]) : `m${i}`);
const seenAs = (i) => (i % 7 === 6 ? `bin:${i & 255}.1.2` : `m${i}`);

test('the browser client resumes after the server drops it, losing nothing', { timeout: 120000 }, async () => {
  const s = await startServer({ modules, docroot });
  const browser = await launchChromium();
  try {
    s.server.setHistory('feed', { messages: 1000, seconds: 600 });
    const conns = [];
    s.server.on('connection', (c) => conns.push(c));
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(`http://127.0.0.1:${s.port}/resume.html`);
    await waitUntil(() => s.server.subscribers('feed') === 1, 10000, 'the page to subscribe');
    const N = 400;
    for (let i = 0; i < N; i++) {
      s.server.multicast('feed', payloadOf(i));
      if (i % 40 === 39) await delay(5);
      if (i === 150 || i === 300) { // dropped twice, mid-stream, while multicasts go on
        const n = i === 150 ? 1 : 2;
        await waitUntil(() => conns.length === n && s.server.subscribers('feed') === 1, 30000, 'the page connected');
        conns[n - 1].terminate();
        await delay(20);
      }
    }
    await page.waitForFunction((n) => window.got.length >= n, N, { timeout: 60000 });
    await delay(200); // nothing more (a duplicate) may follow
    const got = await page.evaluate(() => window.got);
    const first = got[0][0]; // numbering starts at a random point
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => [first + i, seenAs(i)]));
    assert.deepEqual(await page.evaluate(() => window.opens), [false, true, true]);
    assert.deepEqual(await page.evaluate(() => window.gaps), []);
    const direct = await page.evaluate(() => window.direct);
    assert.deepEqual(direct.filter((d) => d === 'welcome').length, 3);
    assert.ok(direct.includes('echo:hi'), 'the app sends and receives through it');
    assert.equal(conns.length, 3);
    // past the bound: the page is told, and goes on
    await waitUntil(() => s.server.subscribers('feed') === 1, 30000, 'the page back');
    s.server.setHistory('feed', { messages: 2 });
    for (let i = 0; i < 5; i++) s.server.multicast('feed', 'late');
    conns[conns.length - 1].terminate();
    for (let i = 0; i < 5; i++) s.server.multicast('feed', 'later');
    await page.waitForFunction(() => window.gaps.length === 1, null, { timeout: 30000 });
    assert.deepEqual(await page.evaluate(() => window.gaps), [['feed', first + N + 9]]);
    s.server.multicast('feed', 'after');
    await page.waitForFunction(() => window.got.length && window.got[window.got.length - 1][1] === 'after', null, { timeout: 30000 });
    // the server stops keeping it (a restart, a new config): the token is refused; the client forgets it and tells the app
    s.server.setHistory('feed', null);
    await waitUntil(() => conns.length === 4 && s.server.subscribers('feed') === 1, 30000, 'the page back');
    conns[3].terminate();
    await page.waitForFunction(() => window.gaps.length === 2, null, { timeout: 30000 });
    assert.deepEqual((await page.evaluate(() => window.gaps))[1], ['feed', null]);
    await waitUntil(() => s.server.subscribers('feed') === 1, 30000, 'the page back without a token');
    s.server.multicast('feed', 'plain');
    await page.waitForFunction(() => window.got[window.got.length - 1][1] === 'plain', null, { timeout: 30000 });
    assert.deepEqual(await page.evaluate(() => window.got[window.got.length - 1]), [0, 'plain']); // no history: seq 0
    assert.deepEqual(errors, []);
    await page.evaluate(() => window.ws.close());
  } finally {
    await browser.close();
    await s.close();
  }
});
