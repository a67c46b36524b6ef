'use strict';

// The demo page and raw WebSockets in a real browser: Debian's headless
// Chromium driven by playwright-core, against a server started here.
// WS_SCREENSHOT=/tmp/demo.png saves a picture of the demo page.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { pathToFileURL } = require('url');

const { launchChromium } = require('./helpers');

const root = path.join(__dirname, '..');

describe('in headless Chromium', { timeout: 120000 }, () => {
  let server;
  let browser;
  let base;

  before(async () => {
    const { Server } = require('../lib');
    server = new Server({ port: 0, host: '127.0.0.1', log: false });
    await new Promise((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
      server.listen();
    });
    base = `http://127.0.0.1:${server.address().port}`;
    browser = await launchChromium();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await new Promise((resolve) => server.close(() => resolve()));
  });

  async function newPage() {
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    page.errors = [];
    page.on('pageerror', (err) => page.errors.push(err));
    return page;
  }

  test('the demo page connects, sends what is typed and shows the echo', async () => {
    const page = await newPage();
    try {
      await page.goto(`${base}/test.html`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      assert.equal(await page.locator('#url').textContent(), `ws://127.0.0.1:${server.address().port}/test`);
      await page.locator('#log li.received', { hasText: '"type":"welcome"' }).waitFor();

      // Markup in a message must show as text, never become elements.
      const message = 'hello <b>world</b> & ✓';
      await page.fill('#message', message);
      await page.press('#message', 'Enter');
      await page.locator('#log li.sent', { hasText: message }).waitFor();
      const echo = page.locator('#log li.received', { hasText: '"type":"echo"' });
      await echo.waitFor({ timeout: 10000 });
      const reply = JSON.parse(await echo.locator('.text').textContent());
      assert.equal(reply.echo, message);
      assert.equal(reply.clients, 1);
      assert.equal(await page.locator('#log b').count(), 0);
      assert.equal(await page.inputValue('#message'), '');
      assert.equal(await page.textContent('#sent-count'), '1');

      // The server's ticks arrive every second and update the panel.
      await page.waitForFunction(() => Number(document.getElementById('ticks').textContent) >= 1, null, { timeout: 5000 });
      assert.equal(await page.textContent('#clients'), '1');

      // The stylesheet came from the docroot with a type the browser accepts.
      const headerColor = await page.$eval('header', (el) => getComputedStyle(el).backgroundColor);
      assert.equal(headerColor, 'rgb(17, 24, 39)');
      assert.ok(await page.locator('#applications li a[href="test.html"]').count() >= 1);

      if (process.env.WS_SCREENSHOT) await page.screenshot({ path: process.env.WS_SCREENSHOT, fullPage: true });
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('the demo page reconnects by itself after the server drops it', async () => {
    const page = await newPage();
    try {
      await page.goto(`${base}/test.html`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await page.locator('#log li.received', { hasText: '"type":"welcome"' }).waitFor();
      for (const c of server.clients) c.close(1001, 'test drop');
      await page.locator('#log li.info', { hasText: 'closed (code 1001, test drop)' }).waitFor({ timeout: 5000 });
      await page.locator('#log li.received', { hasText: '"type":"welcome"' }).nth(1).waitFor({ timeout: 10000 });
      await page.locator('#state[data-state="open"]').waitFor();
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('opened as a file, the page aims at ws://localhost:8080/test, or at ?url=', async () => {
    const page = await newPage();
    try {
      const file = pathToFileURL(path.join(root, 'test', 'test.html')).href;
      await page.goto(file);
      assert.equal(await page.locator('#url').textContent(), 'ws://localhost:8080/test');
      await page.goto(`${file}?url=ws://127.0.0.1:${server.address().port}/test`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await page.locator('#log li.received', { hasText: '"type":"welcome"' }).waitFor();
    } finally {
      await page.close();
    }
  });

  test('a raw page round-trips text and binary through new WebSocket()', async () => {
    const page = await newPage();
    try {
      await page.setContent('<!DOCTYPE html><title>raw</title>');
      const url = `ws://127.0.0.1:${server.address().port}/`;
      const result = await page.evaluate(async (wsUrl) => {
        const ws = new WebSocket(wsUrl);
        ws.binaryType = 'arraybuffer';
        const queue = [];
        let waiting = null;
        ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else queue.push(e.data); };
        const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { waiting = r; }));
        await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('connect failed')); });

        const out = {};
        const text = 'héllo ✓ 😀 <b>';
        ws.send(text);
        out.text = (await next()) === text;

        const bytes = new Uint8Array(256).map((_, i) => i);
        ws.send(bytes);
        const back = new Uint8Array(await next());
        out.binary = back.length === 256 && back.every((b, i) => b === i);

        // 16-bit and 64-bit payload lengths.
        const medium = 'x'.repeat(70000);
        ws.send(medium);
        out.medium = (await next()) === medium;
        const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 255);
        ws.send(big.buffer);
        const bigBack = new Uint8Array(await next());
        out.big = bigBack.length === big.length && bigBack.every((b, i) => b === big[i]);

        const closed = new Promise((r) => { ws.onclose = (e) => r({ code: e.code, clean: e.wasClean }); });
        ws.close(1000, 'done');
        out.close = await closed;
        return out;
      }, url);
      assert.deepEqual(result, { text: true, binary: true, medium: true, big: true, close: { code: 1000, clean: true } });
    } finally {
      await page.close();
    }
  });
});
