'use strict';

// sockjs-client from npm in headless Chromium against the engine's SockJS
// endpoints, once per transport, with WebSocket taken away from the page
// for every transport but websocket: the echo module answers, the chat
// module (a multicast to the room) reaches another tab, and the module sees
// connection.transport say which transport it was.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { launchChromium, startServer } = require('./helpers');

let clientFile;
try {
  clientFile = require.resolve('sockjs-client/dist/sockjs.min.js');
} catch (err) {
  throw new Error('test/sockjs-browser.test.js needs the npm package sockjs-client (npm install --save-dev sockjs-client)');
}

// sockjs-client's transport name -> what connection.transport says.
const TRANSPORTS = {
  websocket: 'sockjs-websocket',
  'xhr-streaming': 'xhr-streaming',
  eventsource: 'eventsource',
  'iframe-eventsource': 'eventsource',
  htmlfile: 'htmlfile',
  'iframe-htmlfile': 'htmlfile',
  'xhr-polling': 'xhr-polling',
  'iframe-xhr-polling': 'xhr-polling',
  'jsonp-polling': 'jsonp-polling',
};

describe('sockjs-client in headless Chromium', { timeout: 240000 }, () => {
  let server;
  let browser;
  let base;
  const seen = []; // connection.transport of every connection the server opened

  let closeServer;

  before(async () => {
    const started = await startServer({ sockjsUrl: '/sockjs-client.min.js' });
    ({ server, closeServer } = { server: started.server, closeServer: started.close });
    server.on('connection', (conn) => seen.push({ resource: conn.resource, transport: conn.transport }));
    base = `http://127.0.0.1:${started.port}`;
    browser = await launchChromium();
  });

  after(async () => {
    if (browser) await browser.close();
    if (closeServer) await closeServer();
  });

  // test/sockjs-page.html from the server's docroot with sockjs-client loaded
  // (the file comes from node_modules through the page's router: the docroot
  // does not hold it). noWebSocket: the page has no WebSocket at all.
  async function sockjsPage(noWebSocket) {
    const page = await browser.newPage();
    page.errors = [];
    page.on('pageerror', (err) => page.errors.push(err));
    if (noWebSocket) await page.addInitScript(() => { delete window.WebSocket; });
    await page.route('**/sockjs-client.min.js', (route) => route.fulfill({ path: clientFile, contentType: 'application/javascript' }));
    await page.goto(`${base}/sockjs-page.html`);
    await page.waitForFunction(() => typeof window.SockJS === 'function');
    return page;
  }

  for (const [transport, reported] of Object.entries(TRANSPORTS)) {
    test(`${transport}: the echo module answers and sees transport '${reported}'`, async () => {
      const page = await sockjsPage(transport !== 'websocket');
      try {
        const before = seen.length;
        const got = await page.evaluate(({ url, transport }) => new Promise((resolve, reject) => {
          const sock = new window.SockJS(url, null, { transports: [transport] });
          const messages = [];
          const timer = setTimeout(() => reject(new Error(`no echo over ${transport}: ${JSON.stringify(messages)}`)), 20000);
          sock.onopen = () => {
            sock.send('hello ✓ "quoted" \u2028 <b>');
            sock.send('second');
          };
          sock.onmessage = (e) => {
            messages.push(e.data);
            if (messages.length === 2) {
              clearTimeout(timer);
              const used = sock.transport;
              sock.close();
              resolve({ messages, used });
            }
          };
          sock.onclose = (e) => { if (messages.length < 2) reject(new Error(`closed ${e.code} ${e.reason}`)); };
        }), { url: `${base}/sockjs/echo`, transport });
        assert.deepEqual(got.messages, ['hello ✓ "quoted" \u2028 <b>', 'second']);
        assert.equal(got.used, transport);
        const opened = seen.slice(before).filter((s) => s.resource === 'echo');
        assert.equal(opened.length, 1);
        assert.equal(opened[0].transport, reported);
        assert.deepEqual(page.errors, []);
      } finally {
        await page.close();
      }
    });
  }

  for (const transport of ['xhr-streaming', 'xhr-polling', 'eventsource', 'websocket']) {
    test(`${transport}: the chat module's multicast reaches a member in another tab`, async () => {
      const a = await sockjsPage(transport !== 'websocket');
      const b = await sockjsPage(transport !== 'websocket');
      try {
        const open = (page) => page.evaluate(({ url, transport }) => new Promise((resolve, reject) => {
          window.got = [];
          window.sock = new window.SockJS(url, null, { transports: [transport] });
          window.sock.onopen = () => resolve();
          window.sock.onmessage = (e) => window.got.push(e.data);
          setTimeout(() => reject(new Error('chat did not open')), 20000);
        }), { url: `${base}/sockjs/chat`, transport });
        await open(a);
        await open(b);
        await a.evaluate(() => window.sock.send('hi from a'));
        await b.waitForFunction(() => window.got.some((m) => m.includes('hi from a')), null, { timeout: 20000 });
        const line = await b.evaluate(() => window.got.find((m) => m.includes('hi from a')));
        assert.match(line, /127\.0\.0\.1: hi from a$/);
        await a.evaluate(() => window.sock.close());
        await b.evaluate(() => window.sock.close());
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});
