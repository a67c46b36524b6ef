'use strict';

// The SockJS 0.3.3 protocol's rules, written from its documentation
// (sockjs-protocol-0.3.3), over raw HTTP from node's http and net to the
// engine on 127.0.0.1: each URL, each framing rule, heartbeats, the session
// timeout, the streaming limit and bad input.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const net = require('net');
const WebSocket = require('ws');

const { startServer } = require('./helpers');

const HEARTBEAT = 400;
const DISCONNECT = 600;
const LIMIT = 4096;

let server;
let closeServer;
let port;
let base;
let seq = 0;
const sid = () => `s${process.pid}x${++seq}`;

// One request; resolves { status, headers, body } when the response ends.
function request(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// A streaming response read until `until(body)` says enough; the request is then dropped.
function stream(method, path, until, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      const done = () => { resolve({ status: res.statusCode, headers: res.headers, body: data }); req.destroy(); };
      res.on('data', (c) => { data += c; if (until(data)) done(); });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data, ended: true }));
    });
    req.on('error', (err) => { if (err.code !== 'ECONNRESET') reject(err); });
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  const started = await startServer({ sockjsHeartbeat: HEARTBEAT, sockjsDisconnectDelay: DISCONNECT, sockjsResponseLimit: LIMIT });
  server = started.server;
  port = started.port;
  base = '/sockjs/echo';
  closeServer = started.close;
});

after(async () => { if (closeServer) await closeServer(); });

describe('the base URLs', () => {
  test('the greeting at the prefix and resource', async () => {
    for (const p of [base, `${base}/`]) {
      const r = await request('GET', p);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'text/plain; charset=UTF-8');
      assert.equal(r.body, 'Welcome to SockJS!\n');
    }
  });

  test('/info says websocket, cookie_needed, origins and a fresh entropy, never cached', async () => {
    const a = await request('GET', `${base}/info`);
    const b = await request('GET', `${base}/info`);
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'application/json; charset=UTF-8');
    assert.match(a.headers['cache-control'], /no-store/);
    assert.equal(a.headers['access-control-allow-origin'], '*');
    const info = JSON.parse(a.body);
    assert.deepEqual(Object.keys(info).sort(), ['cookie_needed', 'entropy', 'origins', 'websocket']);
    assert.equal(info.websocket, true);
    assert.equal(info.cookie_needed, false);
    assert.deepEqual(info.origins, ['*:*']);
    assert.ok(Number.isInteger(info.entropy));
    assert.notEqual(info.entropy, JSON.parse(b.body).entropy);
  });

  test('/info answers OPTIONS with a cached preflight and echoes the Origin', async () => {
    const r = await request('OPTIONS', `${base}/info`, undefined, { origin: 'http://example.test', 'access-control-request-headers': 'x-a' });
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-methods'], 'OPTIONS, GET');
    assert.equal(r.headers['access-control-allow-origin'], 'http://example.test');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-allow-headers'], 'x-a');
    assert.match(r.headers['cache-control'], /max-age=31536000/);
    assert.equal(r.headers['access-control-max-age'], '31536000');
    assert.ok(r.headers.expires);
  });

  test('an Origin of null is answered with *', async () => {
    const r = await request('GET', `${base}/info`, undefined, { origin: 'null' });
    assert.equal(r.headers['access-control-allow-origin'], '*');
  });

  test('/iframe.html is cached for a year with an ETag, and a matching If-None-Match gets 304', async () => {
    for (const name of ['iframe.html', 'iframe-a.html', 'iframe-0.1.2.html']) {
      const r = await request('GET', `${base}/${name}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'text/html; charset=UTF-8');
      assert.match(r.headers['cache-control'], /public, max-age=31536000/);
      assert.ok(r.headers.etag);
      assert.match(r.body, /SockJS\.bootstrap_iframe\(\)/);
      assert.match(r.body, /<script src="https:\/\/cdn\.jsdelivr\.net\/npm\/sockjs-client@1\/dist\/sockjs\.min\.js"><\/script>/);
      const again = await request('GET', `${base}/${name}`, undefined, { 'if-none-match': r.headers.etag });
      assert.equal(again.status, 304);
      assert.equal(again.body, '');
    }
  });

  test('unknown and malformed URLs under the prefix are 404', async () => {
    for (const p of [`${base}/a/b`, `${base}/iframeX.html`, `${base}/a./b/xhr`, `${base}/a/b./xhr`, `${base}//b/xhr`,
      `${base}/a/b/xhr_bogus`, '/sockjs//x/info']) {
      const r = await request('POST', p);
      assert.equal(r.status, 404, p);
    }
  });

  test('a session on a resource that no module serves is refused with 404', async () => {
    const r = await request('POST', `/sockjs/no-such-module/0/${sid()}/xhr`);
    assert.equal(r.status, 404);
  });

  test('the greeting, /info and iframe.html of a resource that no module serves are 404, as its sessions', async () => {
    for (const p of ['/sockjs/no-such-module', '/sockjs/no-such-module/', '/sockjs/no-such-module/info',
      '/sockjs/no-such-module/iframe.html', '/sockjs/no/such/module/info']) {
      const r = await request('GET', p);
      assert.equal(r.status, 404, p);
      assert.doesNotMatch(r.body, /Welcome|SockJS|websocket/, p);
    }
    const ok = await request('GET', `${base}/info`); // the same socket layer still answers a real one
    assert.equal(ok.status, 200);
  });

  test('the wrong method gets 405 with Allow', async () => {
    const r = await request('GET', `${base}/0/${sid()}/xhr`);
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'OPTIONS, POST');
    const e = await request('POST', `${base}/0/${sid()}/eventsource`);
    assert.equal(e.status, 405);
  });
});

describe('xhr polling and xhr_send', () => {
  test('o, then the messages sent as a[...], with CORS and no caching', async () => {
    const s = `${base}/000/${sid()}`;
    const open = await request('POST', `${s}/xhr`, undefined, { origin: 'http://example.test' });
    assert.equal(open.status, 200);
    assert.equal(open.body, 'o\n');
    assert.equal(open.headers['content-type'], 'application/javascript; charset=UTF-8');
    assert.equal(open.headers['access-control-allow-origin'], 'http://example.test');
    assert.match(open.headers['cache-control'], /no-store/);
    const sent = await request('POST', `${s}/xhr_send`, '["a","b\\u00e9"]');
    assert.equal(sent.status, 204);
    assert.equal(sent.body, '');
    const poll = await request('POST', `${s}/xhr`);
    assert.equal(poll.body, 'a["a","b\u00e9"]\n');
  });

  test('a poll that waits gets h after the heartbeat interval', async () => {
    const s = `${base}/000/${sid()}`;
    await request('POST', `${s}/xhr`);
    const t0 = Date.now();
    const poll = await request('POST', `${s}/xhr`);
    assert.equal(poll.body, 'h\n');
    assert.ok(Date.now() - t0 >= HEARTBEAT - 50);
  });

  test('a second receiver while one is open gets c[2010,"Another connection still open"]', async () => {
    const s = `${base}/000/${sid()}`;
    await request('POST', `${s}/xhr`);
    const first = request('POST', `${s}/xhr`);
    await sleep(50);
    const second = await request('POST', `${s}/xhr`);
    assert.equal(second.body, 'c[2010,"Another connection still open"]\n');
    assert.equal((await first).body, 'h\n');
  });

  test('send errors: no body, broken JSON, unknown session', async () => {
    const s = `${base}/000/${sid()}`;
    await request('POST', `${s}/xhr`);
    let r = await request('POST', `${s}/xhr_send`, '');
    assert.equal(r.status, 500);
    assert.equal(r.body, 'Payload expected.');
    for (const bad of ['[', '["a', '[1]', '{"a":1}', '["a"] x', '"a"']) {
      r = await request('POST', `${s}/xhr_send`, bad);
      assert.equal(r.status, 500, bad);
      assert.equal(r.body, 'Broken JSON encoding.', bad);
    }
    r = await request('POST', `${base}/000/${sid()}/xhr_send`, '["a"]');
    assert.equal(r.status, 404);
    // nothing of the bad sends was delivered
    r = await request('POST', `${s}/xhr_send`, '["ok"]');
    assert.equal(r.status, 204);
    assert.equal((await request('POST', `${s}/xhr`)).body, 'a["ok"]\n');
  });

  test('OPTIONS on xhr, xhr_send and xhr_streaming is a POST preflight', async () => {
    for (const t of ['xhr', 'xhr_send', 'xhr_streaming']) {
      const r = await request('OPTIONS', `${base}/000/${sid()}/${t}`);
      assert.equal(r.status, 204, t);
      assert.equal(r.headers['access-control-allow-methods'], 'OPTIONS, POST');
    }
  });

  test('a session nobody polls ends after the disconnect delay: onDisconnect, then a new session', async () => {
    const id = sid();
    const s = `${base}/000/${id}`;
    const closed = new Promise((resolve) => {
      server.on('connection', function on(conn) {
        if (conn.transport !== 'xhr-polling') return;
        server.removeListener('connection', on);
        conn.on('close', (code) => resolve(code));
      });
    });
    await request('POST', `${s}/xhr`);
    const code = await closed;
    assert.equal(code, 1001);
    await sleep(DISCONNECT + 300); // the closed session itself is forgotten after the delay
    const again = await request('POST', `${s}/xhr`);
    assert.equal(again.body, 'o\n');
  });

  test('the server side closing: c[3000,"Go away!"] now and to every later poll', async () => {
    const s = `${base}/000/${sid()}`;
    const opened = new Promise((resolve) => {
      server.on('connection', function on(conn) {
        if (conn.transport !== 'xhr-polling') return;
        server.removeListener('connection', on);
        resolve(conn);
      });
    });
    await request('POST', `${s}/xhr`);
    const conn = await opened;
    const waiting = request('POST', `${s}/xhr`);
    await sleep(50);
    conn.close(3000, 'Go away!');
    assert.equal((await waiting).body, 'c[3000,"Go away!"]\n');
    assert.equal((await request('POST', `${s}/xhr`)).body, 'c[3000,"Go away!"]\n');
    assert.equal((await request('POST', `${s}/xhr_send`, '["x"]')).status, 404);
  });

  test('JSESSIONID is set when cookieNeeded is on', async () => {
    const started = await startServer({ sockjsCookie: true });
    try {
      const save = port;
      port = started.port;
      try {
        const info = JSON.parse((await request('GET', `${base}/info`)).body);
        assert.equal(info.cookie_needed, true);
        const r = await request('POST', `${base}/000/${sid()}/xhr`);
        assert.equal(r.headers['set-cookie'][0], 'JSESSIONID=dummy; path=/');
        const own = await request('POST', `${base}/000/${sid()}/xhr`, undefined, { cookie: 'a=1; JSESSIONID=abc' });
        assert.equal(own.headers['set-cookie'][0], 'JSESSIONID=abc; path=/');
      } finally {
        port = save;
      }
    } finally {
      await started.close();
    }
  });
});

describe('the streaming transports', () => {
  test('xhr_streaming: a 2 KiB prelude of h, o, then messages, and the response ends past the limit', async () => {
    const id = sid();
    const s = `${base}/000/${id}`;
    const first = await stream('POST', `${s}/xhr_streaming`, (b) => b.endsWith('o\n'));
    assert.equal(first.status, 200);
    assert.equal(first.body, 'h'.repeat(2048) + '\no\n');
    // the client reconnects; the session lives on
    const big = 'x'.repeat(1000);
    const reading = stream('POST', `${s}/xhr_streaming`, () => false);
    await sleep(50);
    for (let i = 0; i < 5; i++) await request('POST', `${s}/xhr_send`, JSON.stringify([big]));
    const r = await reading;
    assert.equal(r.ended, true, 'the response ends after sockjsResponseLimit bytes');
    assert.ok(r.body.startsWith('h'.repeat(2048) + '\n'));
    const frames = r.body.slice(2049).split('\n').filter((f) => f !== '');
    assert.ok(frames.every((f) => f.startsWith('a[') || f === 'h'));
    assert.ok(r.body.length >= LIMIT);
  });

  test('eventsource: data: frames ending with a blank line', async () => {
    const s = `${base}/000/${sid()}`;
    const r = stream('GET', `${s}/eventsource`, (b) => b.includes('a['));
    await sleep(100);
    await request('POST', `${s}/xhr_send`, '["x\\ny"]');
    const got = await r;
    assert.equal(got.headers['content-type'], 'text/event-stream; charset=UTF-8');
    assert.equal(got.body, '\r\ndata: o\r\n\r\ndata: a["x\\u000ay"]\r\n\r\n'); // a control character: \\u000a
  });

  test('htmlfile: the callback is required and checked, the page is at least 1 KiB, frames are script calls', async () => {
    const s = `${base}/000/${sid()}`;
    let r = await request('GET', `${s}/htmlfile`);
    assert.equal(r.status, 500);
    assert.equal(r.body, '"callback" parameter required');
    r = await request('GET', `${s}/htmlfile?c=%20x`);
    assert.equal(r.status, 500);
    assert.equal(r.body, 'invalid "callback" parameter');
    const got = await stream('GET', `${s}/htmlfile?c=cb.x`, (b) => b.includes('p("o")'));
    assert.equal(got.headers['content-type'], 'text/html; charset=UTF-8');
    assert.match(got.body, /var c = parent\.cb\.x;/);
    const page = got.body.slice(0, got.body.indexOf('<script>\np('));
    assert.ok(page.length >= 1024);
    assert.ok(got.body.endsWith('<script>\np("o");\n</script>\r\n'));
  });

  test('jsonp and jsonp_send: callback("frame"); and a form-encoded d=', async () => {
    const s = `${base}/000/${sid()}`;
    const open = await request('GET', `${s}/jsonp?c=cb`);
    assert.equal(open.body, 'cb("o");\r\n');
    let r = await request('POST', `${s}/jsonp_send`, 'd=' + encodeURIComponent('["a b"]'),
      { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    r = await request('POST', `${s}/jsonp_send`, '["raw"]', { 'content-type': 'text/plain' });
    assert.equal(r.body, 'ok');
    r = await request('POST', `${s}/jsonp_send`, 'x=1', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.status, 500);
    assert.equal(r.body, 'Payload expected.');
    assert.equal((await request('GET', `${s}/jsonp?c=cb`)).body, 'cb("a[\\"a b\\",\\"raw\\"]");\r\n');
    assert.equal((await request('GET', `${s}/jsonp`)).body, '"callback" parameter required');
  });
});

describe('JSON quoting', () => {
  test('the characters the protocol lists go out as \\uXXXX, others as they are', async () => {
    const s = `${base}/000/${sid()}`;
    await request('POST', `${s}/xhr`);
    const chars = ['\u0000', '\u001f', '\u007f', '\u0085', '\u200c', '\u2028', '\u202f', '\u2060', '\u206f', '\ufff0', '\uffff'];
    await request('POST', `${s}/xhr_send`, JSON.stringify([chars.join('') + 'é€😀"\\']));
    const body = (await request('POST', `${s}/xhr`)).body;
    const want = chars.map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('');
    assert.equal(body, `a["${want}é€😀\\"\\\\"]\n`);
    assert.deepEqual(JSON.parse(body.slice(1)), [chars.join('') + 'é€😀"\\']);
  });
});

describe('the WebSocket URLs', () => {
  test('the framed websocket: o, a[...] per message, h, and broken JSON closes it', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${base}/000/${sid()}/websocket`);
    const got = [];
    const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve([code, String(reason)])));
    ws.on('message', (m) => {
      got.push(String(m));
      if (got.length === 1) ws.send('["a","b"]');
      if (String(m) === 'h') ws.send('["broken');
    });
    const [code, reason] = await closed;
    assert.deepEqual(got.slice(0, 3), ['o', 'a["a"]', 'a["b"]']);
    assert.ok(got.includes('h'));
    assert.equal(got[got.length - 1], 'c[1002,"Broken JSON encoding."]');
    assert.equal(code, 1002);
    assert.equal(reason, 'Broken JSON encoding.');
  });

  test('the raw websocket is plain WebSocket to the module', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${base}/websocket`);
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send('plain');
    const [m] = await new Promise((resolve) => ws.once('message', (...a) => resolve(a)));
    assert.equal(String(m), 'plain');
    ws.close();
  });

  test('a GET without Upgrade gets 400 naming WebSocket; POST gets 405', async () => {
    let r = await request('GET', `${base}/websocket`);
    assert.equal(r.status, 400);
    assert.equal(r.body, 'Can "Upgrade" only to "WebSocket".');
    r = await request('POST', `${base}/000/${sid()}/websocket`);
    assert.equal(r.status, 405);
  });

  test('with sockjsWs off, /info says so and the WebSocket URLs are 404', async () => {
    const started = await startServer({ sockjsWs: false });
    try {
      const save = port;
      port = started.port;
      try {
        assert.equal(JSON.parse((await request('GET', `${base}/info`)).body).websocket, false);
        assert.equal((await request('GET', `${base}/websocket`)).status, 404);
      } finally {
        port = save;
      }
    } finally {
      await started.close();
    }
  });
});

describe('bad input', () => {
  test('garbage bytes after a receiver head and a huge send body harm no other session', async () => {
    const other = `${base}/000/${sid()}`;
    await request('POST', `${other}/xhr`);
    const s = `${base}/000/${sid()}`;
    await request('POST', `${s}/xhr`);
    // a receiver whose client keeps writing nonsense
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write(`POST ${s}/xhr HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\x81\x85garbage`);
    let head = '';
    sock.on('data', (c) => { head += c; });
    const big = await request('POST', `${s}/xhr_send`, undefined, { 'content-length': String(200 * 1024 * 1024) });
    assert.equal(big.status, 413);
    assert.equal((await request('POST', `${other}/xhr_send`, '["still fine"]')).status, 204);
    assert.equal((await request('POST', `${other}/xhr`)).body, 'a["still fine"]\n');
    sock.destroy();
    const chunked = await request('POST', `${s}/xhr_send`, undefined, { 'transfer-encoding': 'chunked' });
    assert.equal(chunked.status, 500); // an empty chunked body
    assert.equal(chunked.body, 'Payload expected.');
  });

  test('a Connection module sees the same API: send, close, ping as a no-op, remoteAddress, headers, bufferedAmount', async () => {
    const opened = new Promise((resolve) => {
      server.on('connection', function on(conn) {
        if (conn.transport !== 'xhr-streaming') return;
        server.removeListener('connection', on);
        resolve(conn);
      });
    });
    const s = `${base}/000/${sid()}`;
    const reading = stream('POST', `${s}/xhr_streaming`, (b) => b.includes('a["from the server"]'), { 'x-test': 'yes' });
    const conn = await opened;
    assert.equal(conn.remoteAddress, '127.0.0.1');
    assert.equal(conn.headers['x-test'], 'yes');
    assert.equal(conn.resource, 'echo');
    conn.ping();
    assert.equal(typeof conn.bufferedAmount, 'number');
    conn.send('from the server');
    const r = await reading;
    assert.ok(r.body.includes('a["from the server"]'));
  });
});

describe('the Node sockjs-client', () => {
  let SockJS;
  try {
    SockJS = require('sockjs-client');
  } catch (err) {
    throw new Error('test/sockjs.test.js needs the npm package sockjs-client (npm install --save-dev sockjs-client)');
  }
  for (const transport of ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource']) {
    test(`${transport}: echo, with its send bodies chunked`, async () => {
      const got = await new Promise((resolve, reject) => {
        const sock = new SockJS(`http://127.0.0.1:${port}${base}`, null, { transports: [transport] });
        const timer = setTimeout(() => reject(new Error(`no echo over ${transport}`)), 15000);
        sock.onopen = () => sock.send(`hi ${transport} ✓`);
        sock.onmessage = (e) => { clearTimeout(timer); resolve([e.data, sock.transport]); sock.close(); };
        sock.onclose = (e) => { clearTimeout(timer); reject(new Error(`closed ${e.code} ${e.reason}`)); };
      });
      assert.deepEqual(got, [`hi ${transport} ✓`, transport]);
    });
  }
});
