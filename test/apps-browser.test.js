'use strict';

// The application pages in a real browser: Debian's headless Chromium
// driven by playwright-core, against a server started here with the apps
// configured. WS_SCREENSHOT_DIR=/tmp/shots saves a picture of each page.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { launchChromium } = require('./helpers');
const shots = process.env.WS_SCREENSHOT_DIR;

describe('application pages in headless Chromium', { timeout: 180000 }, () => {
  const token = 'browser-test-token-7f3a9c';
  let server;
  let browser;
  let base;
  let dir;
  let logs;

  before(async () => {
    const { Server } = require('../lib');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-pages-'));
    logs = { 'app.log': path.join(dir, 'app.log'), 'error.log': path.join(dir, 'error.log') };
    fs.writeFileSync(logs['app.log'], 'old line that must not show\n');
    fs.writeFileSync(logs['error.log'], '');
    server = new Server({
      port: 0,
      host: '127.0.0.1',
      log: false,
      apps: {
        chat: { urls: ['/websocket/chat'] },
        'log-view': { urls: ['/admin/websocket/log-view'], refresh: 100, token, files: logs },
      },
    });
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
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function newPage() {
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    page.errors = [];
    page.on('pageerror', (err) => page.errors.push(err));
    return page;
  }

  async function screenshot(page, name) {
    if (shots) await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  }

  test('chat: two tabs on one room exchange messages end to end, as text, never their own', async () => {
    const a = await newPage();
    const b = await newPage();
    try {
      for (const page of [a, b]) {
        await page.goto(`${base}/chat.html?url=/websocket/chat`);
        await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
        assert.equal(await page.textContent('#state'), 'CONNECTED');
        assert.equal(await page.textContent('#url'), `ws://127.0.0.1:${server.address().port}/websocket/chat`);
      }
      const message = 'hello <b>from a</b> & ✓';
      await a.fill('#message', message);
      await a.press('#message', 'Enter');
      await a.locator('#log li.sent', { hasText: `SENT: ${message}` }).waitFor();
      await b.locator('#log li.received', { hasText: `127.0.0.1: ${message}` }).waitFor({ timeout: 5000 });
      assert.equal(await b.locator('#log b').count(), 0, 'markup is shown as text');

      await b.fill('#message', 'hi a');
      await b.click('#send');
      await a.locator('#log li.received', { hasText: '127.0.0.1: hi a' }).waitFor({ timeout: 5000 });
      await a.waitForTimeout(200);
      assert.equal(await a.locator('#log li.received').count(), 1, 'a got only b\'s message, not its own');
      assert.equal(await b.locator('#log li.received').count(), 1);
      await screenshot(a, 'chat');

      await a.click('#clear');
      assert.equal(await a.locator('#log li').count(), 0, 'clear empties the output');

      // A drop: the page says so and reconnects by itself.
      for (const c of server.clients) if (c.path === '/websocket/chat') c.close(1001, 'test drop');
      await a.locator('#log li.info', { hasText: 'DISCONNECTED (code 1001, test drop)' }).waitFor({ timeout: 5000 });
      await a.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await b.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await a.fill('#message', 'after the drop');
      await a.press('#message', 'Enter');
      await b.locator('#log li.received', { hasText: 'after the drop' }).waitFor({ timeout: 5000 });
      assert.deepEqual(a.errors, []);
      assert.deepEqual(b.errors, []);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('log-view: the page lists the files and shows appended lines live; pause; switching files', async () => {
    const page = await newPage();
    try {
      await page.goto(`${base}/log-view.html?url=/admin/websocket/log-view&token=${token}`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      assert.ok(!(await page.textContent('#url')).includes(token), 'the token is not shown');
      await page.locator('#file option').nth(1).waitFor({ state: 'attached' });
      assert.deepEqual(await page.$$eval('#file option', (os) => os.map((o) => o.value)), ['app.log', 'error.log']);
      await page.locator('#output', { hasText: 'watching app.log' }).waitFor();

      fs.appendFileSync(logs['app.log'], 'GET /index.html 200 <script>alert(1)</script>\n');
      await page.locator('#output', { hasText: 'GET /index.html 200 <script>alert(1)</script>' }).waitFor({ timeout: 5000 });
      assert.ok(!(await page.textContent('#output')).includes('old line'), 'what was there before is not shown');
      assert.equal(await page.locator('#output script').count(), 0);

      await page.click('#toggle');
      await page.locator('#toggle', { hasText: 'Resume logging' }).waitFor();
      fs.appendFileSync(logs['app.log'], 'written while paused\n');
      await page.waitForTimeout(400);
      assert.ok(!(await page.textContent('#output')).includes('written while paused'));
      await page.click('#toggle');
      await page.locator('#toggle', { hasText: 'Pause logging' }).waitFor();
      fs.appendFileSync(logs['app.log'], 'written after resuming\n');
      await page.locator('#output', { hasText: 'written after resuming' }).waitFor({ timeout: 5000 });

      await page.selectOption('#file', 'error.log');
      await page.locator('#output', { hasText: 'watching error.log' }).waitFor();
      fs.appendFileSync(logs['error.log'], 'ERROR something broke\n');
      await page.locator('#output', { hasText: 'ERROR something broke' }).waitFor({ timeout: 5000 });
      await screenshot(page, 'log-view');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('log-view without the token: the page says it was refused', async () => {
    const page = await newPage();
    try {
      await page.goto(`${base}/log-view.html?url=/admin/websocket/log-view`);
      await page.locator('#status', { hasText: 'refused or unreachable' }).waitFor({ timeout: 10000 });
      assert.equal(await page.locator('#file option').count(), 0);
    } finally {
      await page.close();
    }
  });

  test('chatroom: two tabs join with nicknames and talk', async () => {
    const a = await newPage();
    const b = await newPage();
    try {
      for (const [page, nick] of [[a, 'alice'], [b, 'bob']]) {
        await page.goto(`${base}/chatroom.html`);
        await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
        await page.fill('#nick', nick);
        await page.press('#nick', 'Enter');
        await page.locator('#log li', { hasText: `welcome, ${nick}` }).waitFor({ timeout: 5000 });
      }
      await a.locator('#users li', { hasText: 'bob' }).waitFor({ timeout: 5000 });
      await b.fill('#message', 'hello <i>alice</i>');
      await b.press('#message', 'Enter');
      await a.locator('#log li.received', { hasText: '<bob> hello <i>alice</i>' }).waitFor({ timeout: 5000 });
      await b.locator('#log li.self', { hasText: '<bob> hello <i>alice</i>' }).waitFor();
      await a.fill('#message', '/topic testing pages');
      await a.press('#message', 'Enter');
      await b.locator('#topic-text', { hasText: 'testing pages — set by alice' }).waitFor({ timeout: 5000 });
      await a.fill('#message', '/me waves');
      await a.press('#message', 'Enter');
      await b.locator('#log li.action', { hasText: '* alice waves' }).waitFor({ timeout: 5000 });
      assert.equal(await a.locator('#log i').count(), 0);
      await screenshot(b, 'chatroom');
      assert.deepEqual(a.errors, []);
      assert.deepEqual(b.errors, []);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('time and processes: start shows the data', async () => {
    const page = await newPage();
    try {
      await page.goto(`${base}/time.html`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await page.click('#start');
      await page.waitForFunction(() => Number(document.getElementById('count').textContent) >= 2, null, { timeout: 5000 });
      assert.match(await page.textContent('#iso'), /^\d{4}-\d\d-\d\dT/);
      await screenshot(page, 'time');
      await page.click('#stop');

      await page.goto(`${base}/processes.html`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await page.click('#start');
      await page.locator(`#rows tr[data-pid="${process.pid}"]`).waitFor({ timeout: 8000 });
      assert.ok(await page.locator('#rows tr').count() >= 2);
      await screenshot(page, 'processes');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('the demo page links every application page, and each link is served', async () => {
    const page = await newPage();
    try {
      await page.goto(`${base}/test.html`);
      const links = await page.$$eval('#applications a', (as) => as.map((a) => a.getAttribute('href')));
      for (const href of ['test.html', 'chat.html', 'chatroom.html', 'time.html', 'processes.html', 'log-view.html']) {
        assert.ok(links.includes(href), `${href} is listed`);
        const response = await page.request.get(`${base}/${href}`);
        assert.equal(response.status(), 200, href);
      }
      await screenshot(page, 'test');
    } finally {
      await page.close();
    }
  });
});
