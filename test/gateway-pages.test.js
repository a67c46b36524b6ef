'use strict';

// The gateway pages in a real browser: test/webchat.html and
// test/webauth.html in Debian's headless Chromium (playwright-core), against
// runserver.js --gateway=DIR with the real services on UNIX sockets in DIR:
// websocket_chat -w as /webchat, websocket_jsonrpc with libauth.so as
// /webauth. Every assertion is on what the page shows.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { launchChromium, startRunserver, waitUntil, withTimeout, withoutPreload } = require('./helpers');

const root = path.join(__dirname, '..');
const bin = path.join(root, 'build', 'backends');
const ADMIN_PASSWORD = 'admin"secret-tail-Q7';

/** Starts a service on DIR/name; resolves { stop(), stderr() } once its socket is there. */
async function startService(program, dir, name, args, env = {}) {
  const child = spawn(path.join(bin, program), ['-R', dir, '-n', name, ...args],
    { env: { ...withoutPreload(), ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const closed = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  let gone = null;
  closed.then((r) => { gone = r; });
  const socket = path.join(dir, name);
  await waitUntil(() => gone || (fs.existsSync(socket) && fs.statSync(socket).isSocket()), 10000, `the socket ${socket}`);
  if (gone) throw new Error(`${program} exited at start (${JSON.stringify(gone)}): ${stderr}`);
  return {
    stderr: () => stderr,
    async stop() {
      if (!gone) child.kill('SIGTERM');
      return withTimeout(closed, 10000, `${program} to exit`);
    },
  };
}

const CHAT = (services) => ['websocket_chat', services, 'webchat', ['-w']];
const exact = (text) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('gateway pages in headless Chromium, with the real services', { timeout: 120000 }, () => {
  let dir;
  let services;
  const running = [];
  let server;
  let browser;
  let base;

  before(async () => {
    const made = spawnSync('make', ['-s', '-C', path.join(root, 'backends')], { encoding: 'utf8', timeout: 300000 });
    assert.equal(made.status, 0, made.stderr);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-gwpages-'));
    services = path.join(dir, 'services');
    fs.mkdirSync(services);
    running.push(await startService(...CHAT(services)));
    running.push(await startService('websocket_jsonrpc', services, 'webauth',
      ['-L', path.join(bin, 'libauth.so'), '-C', path.join(dir, 'users.db')], { AUTH_ADMIN_PASSWORD: ADMIN_PASSWORD }));
    server = await startRunserver([`--gateway=${services}`, '--no-log']);
    base = `http://127.0.0.1:${server.port}`;
    browser = await launchChromium({ env: withoutPreload() });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    for (const s of running) {
      const r = await s.stop();
      assert.deepEqual(r, { code: 0, signal: null }, `a service exits 0 on SIGTERM: ${s.stderr()}`);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(file) {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.errors = [];
    page.on('pageerror', (err) => page.errors.push(err));
    await page.goto(`${base}/${file}`);
    await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
    assert.equal(await page.textContent('#state'), 'CONNECTED');
    return page;
  }

  /** The texts of the log's lines of one kind ('received', 'sent', 'info'), as shown. */
  const lines = (page, kind) => page.$$eval(`#log li.${kind} .text`, (els) => els.map((e) => e.textContent));
  const seen = (page, kind, text) => page.locator(`#log li.${kind} .text`, { hasText: exact(text) }).waitFor({ timeout: 5000 });

  test('the demo page links both gateway pages, and they are served', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${base}/test.html`);
      const links = await page.$$eval('#applications a', (as) => as.map((a) => a.getAttribute('href')));
      for (const href of ['webchat.html', 'webauth.html']) {
        assert.ok(links.includes(href), `${href} is listed`);
        assert.equal((await page.request.get(`${base}/${href}`)).status(), 200, href);
      }
    } finally {
      await page.close();
    }
  });

  test('webchat: three tabs take names, talk to all, privately, and ask whois', async () => {
    const [a, b, c] = [await open('webchat.html'), await open('webchat.html'), await open('webchat.html')];
    try {
      assert.equal(await a.textContent('#url'), `ws://127.0.0.1:${server.port}/webchat`);
      for (const [page, name, given] of [[a, 'alice', 'alice'], [b, 'bob', 'bob'], [c, 'alice', 'alice001']]) {
        await page.fill('#name', name);
        await page.press('#name', 'Enter');
        await seen(page, 'received', `WSWelcome ${given}`);
        assert.equal(await page.textContent('#me'), `you are ${given}`);
      }

      // To everyone: the others see it once, as text; the sender only as sent.
      const hello = 'hello <b>everyone</b> & ✓';
      await a.fill('#message', hello);
      await a.press('#message', 'Enter');
      await seen(a, 'sent', `SENT: ${hello}`);
      await seen(b, 'received', hello);
      await seen(c, 'received', hello);
      assert.equal(await b.locator('#log b').count(), 0, 'markup is shown as text');
      await b.fill('#message', 'hi alice');
      await b.click('#send');
      await seen(a, 'received', 'hi alice');
      await seen(c, 'received', 'hi alice');
      assert.deepEqual(await lines(a, 'received'), ['WSWelcome alice', 'hi alice'], 'not its own message, nothing twice');
      assert.deepEqual(await lines(b, 'received'), ['WSWelcome bob', hello]);
      assert.deepEqual(await lines(c, 'received'), ['WSWelcome alice001', hello, 'hi alice']);

      // Private: only bob gets it. A public line sent after it reaches c and a
      // after the private one would have, so its absence there is settled.
      await a.fill('#to', 'bob');
      await a.fill('#message', 'psst, only for bob');
      await a.press('#message', 'Enter');
      await seen(a, 'sent', 'SENT: WSPrivate bob psst, only for bob');
      await seen(b, 'received', 'psst, only for bob');
      await b.fill('#to', '');
      await b.fill('#message', 'got it');
      await b.press('#message', 'Enter');
      await seen(a, 'received', 'got it');
      await seen(c, 'received', 'got it');
      assert.ok(!(await lines(c, 'received')).includes('psst, only for bob'), 'c did not get the private message');
      assert.ok(!(await lines(a, 'received')).includes('psst, only for bob'), 'nor did its sender');

      await a.fill('#to', 'nobody');
      await a.fill('#message', 'anyone?');
      await a.press('#message', 'Enter');
      await seen(a, 'received', 'WSError no member named nobody');

      // Whois: the other's address, as the gateway saw it.
      await b.fill('#who', 'alice001');
      await b.press('#who', 'Enter');
      await seen(b, 'received', 'WSIs alice001 127.0.0.1');
      await b.fill('#who', 'carol');
      await b.click('#whois');
      await seen(b, 'received', 'WSIs carol undefined');

      // A tab that leaves frees its name.
      await a.close();
      await b.fill('#who', 'alice');
      await b.press('#who', 'Enter');
      await seen(b, 'received', 'WSIs alice undefined');
      assert.deepEqual(a.errors, []);
      assert.deepEqual(b.errors, []);
      assert.deepEqual(c.errors, []);
    } finally {
      for (const page of [a, b, c]) if (!page.isClosed()) await page.close();
    }
  });

  test('webchat: when the service restarts, the page says so, reconnects and takes its name again', async () => {
    const page = await open('webchat.html');
    try {
      await page.fill('#name', 'eve');
      await page.click('#hello');
      await seen(page, 'received', 'WSWelcome eve');
      const r = await running[0].stop();
      assert.deepEqual(r, { code: 0, signal: null }, running[0].stderr());
      // Seen before the restart: a new socket at the same path (the inode may be reused) must not race the EOF.
      await seen(page, 'info', 'DISCONNECTED (code 1001, gateway: the service stopped)');
      running[0] = await startService(...CHAT(services));
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await page.locator('#log li.received .text', { hasText: exact('WSWelcome eve') }).nth(1).waitFor({ timeout: 5000 });
      assert.equal(await page.textContent('#me'), 'you are eve');
      assert.deepEqual(page.errors, []);
    } finally {
      await page.close();
    }
  });

  test('webauth: admin signs in, adds a user who signs in elsewhere and changes its password, then removes it', async () => {
    const admin = await open('webauth.html');
    const user = await open('webauth.html');
    const signIn = async (page, name, password, shown) => {
      await page.fill('#user', name);
      await page.fill('#password', password);
      await page.press('#password', 'Enter');
      await page.locator('#who', { hasText: exact(shown) }).waitFor({ timeout: 5000 });
      assert.equal(await page.inputValue('#password'), '', 'the password field is cleared');
    };
    const result = (page, text) => page.locator('#result', { hasText: exact(text) }).waitFor({ timeout: 5000 });
    try {
      assert.equal(await admin.textContent('#url'), `ws://127.0.0.1:${server.port}/webauth`);
      assert.equal(await admin.textContent('#who'), 'not signed in');
      await signIn(admin, 'admin', 'wrong', 'sign-in failed: authentication failed: wrong user or password');
      await signIn(admin, 'admin', ADMIN_PASSWORD, 'signed in as admin');

      await admin.fill('#account', 'carol');
      await admin.fill('#account-password', 'carol-pw-1');
      await admin.click('#adduser');
      await result(admin, 'user carol added');
      await admin.fill('#account-password', 'other');
      await admin.press('#account-password', 'Enter');
      await result(admin, 'user carol not added: user exists');

      await signIn(user, 'carol', 'carol-pw-1', 'signed in as carol');
      await user.fill('#account', 'dave');
      await user.fill('#account-password', 'dave-pw');
      await user.click('#adduser');
      await result(user, 'user dave not added: permission denied: adduser is for admins');

      await user.fill('#old', 'not-it');
      await user.fill('#new', 'carol-pw-2');
      await user.click('#passwd');
      await result(user, 'password not changed: authentication failed: wrong user or password');
      await user.fill('#old', 'carol-pw-1');
      await user.fill('#new', 'carol-pw-2');
      await user.press('#new', 'Enter');
      await result(user, 'password changed');
      assert.equal(await user.inputValue('#old'), '');
      await signIn(user, 'carol', 'carol-pw-1', 'sign-in failed: authentication failed: wrong user or password');
      await signIn(user, 'carol', 'carol-pw-2', 'signed in as carol');

      await admin.fill('#account', 'admin');
      await admin.click('#rmuser');
      await result(admin, 'user admin not removed: an admin cannot remove themself');
      await admin.fill('#account', 'carol');
      await admin.click('#rmuser');
      await result(admin, 'user carol removed');
      await admin.click('#rmuser');
      await result(admin, 'user carol not removed: no such user');

      // carol's open session can do nothing more, and she cannot sign in again.
      await user.fill('#old', 'carol-pw-2');
      await user.fill('#new', 'carol-pw-3');
      await user.click('#passwd');
      await user.locator('#result', { hasText: /^password not changed: / }).waitFor({ timeout: 5000 });
      await signIn(user, 'carol', 'carol-pw-2', 'sign-in failed: authentication failed: wrong user or password');

      // The admin box makes an admin: dave may add users.
      await admin.fill('#account', 'dave');
      await admin.fill('#account-password', 'dave-pw');
      await admin.check('#account-admin');
      await admin.click('#adduser');
      await result(admin, 'user dave added');
      await signIn(user, 'dave', 'dave-pw', 'signed in as dave');
      await user.fill('#account', 'erin');
      await user.fill('#account-password', 'erin-pw');
      await user.click('#adduser');
      await result(user, 'user erin added');

      // The log shows the requests, never the passwords in them.
      for (const page of [admin, user]) {
        const sent = (await lines(page, 'sent')).join('\n');
        assert.match(sent, /"method":"auth"/);
        for (const secret of [ADMIN_PASSWORD, 'carol-pw-1', 'carol-pw-2', 'carol-pw-3', 'dave-pw', 'erin-pw', 'secret-tail-Q7']) {
          assert.ok(!sent.includes(secret), `${secret} is not shown`);
        }
      }
      assert.deepEqual(admin.errors, []);
      assert.deepEqual(user.errors, []);
    } finally {
      await admin.close();
      await user.close();
    }
  });
});
