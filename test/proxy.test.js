'use strict';
// Client addresses behind proxies: trustProxy with X-Forwarded-For and
// Forwarded, and the PROXY protocol (v1 text, v2 binary) with proxyProtocol,
// from trusted and untrusted peers, well-formed and malformed, over plain
// TCP and before TLS; and both from runserver.js. The fixture module
// "props" answers any message with what it sees of its connection.

const { describe, test, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const {
  startServer, RawClient, buildUpgradeRequest, withTimeout, waitUntil, delay, FIXTURE_MODULES,
  tcpExchange,
} = require('./helpers');
const { makeCerts } = require('./certs');

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const root = path.join(__dirname, '..');

/** What the connection looks like to the module: { remoteAddress, remotePort, ... }. */
async function props(c) {
  const before = c.messages.length;
  await c.text('props');
  await c.waitFor(() => c.messages.length > before, 3000, 'the props answer');
  return JSON.parse(c.messages[before].data.toString());
}

async function seenAs(srv, options) {
  const c = await RawClient.connect(`${srv.url}/props`, options);
  try {
    return await props(c);
  } finally {
    c.destroy();
  }
}

/** A PROXY protocol v2 header. */
function proxyV2({ command = 1, family = 0x11, src, dst, srcPort = 0, dstPort = 0, tlvs = Buffer.alloc(0), version = 2, lengthOverride } = {}) {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  let addr = Buffer.alloc(0);
  if (family === 0x11) {
    addr = Buffer.alloc(12);
    Buffer.from(src.split('.').map(Number)).copy(addr, 0);
    Buffer.from(dst.split('.').map(Number)).copy(addr, 4);
    addr.writeUInt16BE(srcPort, 8);
    addr.writeUInt16BE(dstPort, 10);
  } else if (family === 0x21) {
    addr = Buffer.alloc(36);
    ipv6Bytes(src).copy(addr, 0);
    ipv6Bytes(dst).copy(addr, 16);
    addr.writeUInt16BE(srcPort, 32);
    addr.writeUInt16BE(dstPort, 34);
  }
  const body = Buffer.concat([addr, tlvs]);
  const head = Buffer.alloc(4);
  head[0] = (version << 4) | command;
  head[1] = family;
  head.writeUInt16BE(lengthOverride === undefined ? body.length : lengthOverride, 2);
  return Buffer.concat([sig, head, body]);
}

function ipv6Bytes(text) {
  const [left, right = ''] = text.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = [...l, ...new Array(8 - l.length - r.length).fill('0'), ...r];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function tlv(type, value) {
  const v = Buffer.from(value);
  const b = Buffer.alloc(3);
  b[0] = type;
  b.writeUInt16BE(v.length, 1);
  return Buffer.concat([b, v]);
}

const request = (port, p = '/props') => buildUpgradeRequest({ host: '127.0.0.1', port, path: p, key: KEY });

describe('X-Forwarded-For and Forwarded with trustProxy', () => {
  test('from a trusted peer, X-Forwarded-For gives remoteAddress', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'] });
    try {
      assert.equal((await seenAs(srv, { headers: { 'X-Forwarded-For': '203.0.113.7' } })).remoteAddress, '203.0.113.7');
      // Several hops: the rightmost address that is not a trusted proxy.
      assert.equal((await seenAs(srv, { headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' } })).remoteAddress, '203.0.113.7');
      assert.equal((await seenAs(srv, { headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7, 127.0.0.1' } })).remoteAddress, '203.0.113.7');
      assert.equal((await seenAs(srv, { headers: { 'X-Forwarded-For': '2001:db8::5' } })).remoteAddress, '2001:db8::5');
      // Without the header, the peer itself.
      assert.equal((await seenAs(srv, {})).remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1');
    } finally {
      await srv.close();
    }
  });

  test('from a trusted peer, Forwarded gives remoteAddress (quoted IPv6 with a port too)', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'] });
    try {
      assert.equal((await seenAs(srv, { headers: { Forwarded: 'for="[2001:db8::1]:4711"' } })).remoteAddress, '2001:db8::1');
      assert.equal((await seenAs(srv, { headers: { Forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' } })).remoteAddress, '192.0.2.60');
      assert.equal((await seenAs(srv, { headers: { Forwarded: 'for=192.0.2.43, for=198.51.100.17' } })).remoteAddress, '198.51.100.17');
    } finally {
      await srv.close();
    }
  });

  test('hops that are trusted proxies are passed over', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1', '10.0.0.0/8'] });
    try {
      assert.equal((await seenAs(srv, { headers: { 'X-Forwarded-For': '203.0.113.7, 10.1.2.3, 10.9.9.9' } })).remoteAddress, '203.0.113.7');
    } finally {
      await srv.close();
    }
  });

  test('the authorize hook and the connection see the same forwarded address', async () => {
    const seen = [];
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: true, authorize: (info) => { seen.push(info.remoteAddress); return true; } });
    try {
      assert.equal((await seenAs(srv, { headers: { 'X-Forwarded-For': '203.0.113.9' } })).remoteAddress, '203.0.113.9');
      assert.deepEqual(seen, ['203.0.113.9']);
    } finally {
      await srv.close();
    }
  });

  test('without trustProxy, or trusting another address, the headers are ignored', async () => {
    for (const trustProxy of [undefined, false, ['10.0.0.1'], ['192.168.0.0/16']]) {
      const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy });
      try {
        for (const headers of [{ 'X-Forwarded-For': '203.0.113.7' }, { Forwarded: 'for="[2001:db8::1]:4711"' }]) {
          const p = await seenAs(srv, { headers });
          assert.equal(p.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1', `trustProxy ${JSON.stringify(trustProxy)}, ${JSON.stringify(headers)}`);
        }
      } finally {
        await srv.close();
      }
    }
  });

  test('garbage in the header does not become the address', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'] });
    try {
      for (const value of ['not-an-address', 'unknown', '999.1.1.1', '<script>', '']) {
        const p = await seenAs(srv, { headers: { 'X-Forwarded-For': value } });
        assert.equal(p.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1', `X-Forwarded-For: ${JSON.stringify(value)}`);
      }
    } finally {
      await srv.close();
    }
  });
});

describe('the PROXY protocol', () => {
  test('v1 TCP4 and TCP6 lines give remoteAddress and remotePort', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'], proxyProtocol: true });
    try {
      let p = await seenAs(srv, { prefix: 'PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n' });
      assert.equal(p.remoteAddress, '203.0.113.7');
      assert.equal(p.remotePort, 56324);
      p = await seenAs(srv, { prefix: 'PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n' });
      assert.equal(p.remoteAddress, '2001:db8::7');
      assert.equal(p.remotePort, 4000);
      // UNKNOWN: the proxy does not know; the connection's own address stays.
      p = await seenAs(srv, { prefix: 'PROXY UNKNOWN\r\n' });
      assert.equal(p.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1');
    } finally {
      await srv.close();
    }
  });

  test('v2 binary headers (TCP over IPv4 and IPv6, with TLVs; LOCAL) give remoteAddress', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'], proxyProtocol: true });
    try {
      let p = await seenAs(srv, { prefix: proxyV2({ family: 0x11, src: '192.0.2.9', dst: '10.0.0.1', srcPort: 5555, dstPort: 443 }) });
      assert.equal(p.remoteAddress, '192.0.2.9');
      assert.equal(p.remotePort, 5555);
      p = await seenAs(srv, { prefix: proxyV2({ family: 0x21, src: '2001:db8::42', dst: '2001:db8::1', srcPort: 1234, dstPort: 443 }) });
      assert.equal(p.remoteAddress, '2001:db8::42');
      p = await seenAs(srv, { prefix: proxyV2({ family: 0x11, src: '198.51.100.3', dst: '10.0.0.1', srcPort: 7, dstPort: 443,
        tlvs: Buffer.concat([tlv(0x01, 'http/1.1'), tlv(0x02, 'example.com'), tlv(0x04, '')]) }) });
      assert.equal(p.remoteAddress, '198.51.100.3');
      p = await seenAs(srv, { prefix: proxyV2({ command: 0, family: 0 }) }); // LOCAL: a health check from the proxy itself
      assert.equal(p.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1');
    } finally {
      await srv.close();
    }
  });

  test('a header split across many small writes is read whole', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'], proxyProtocol: true });
    try {
      for (const prefix of [Buffer.from('PROXY TCP4 203.0.113.8 10.0.0.1 1000 443\r\n'), proxyV2({ src: '203.0.113.9', dst: '10.0.0.1', srcPort: 1, dstPort: 2 })]) {
        const r = await tcpExchange(srv.port, Buffer.concat([prefix, request(srv.port)]), { chop: 3, ms: 10000 });
        assert.match(r.data.toString('latin1'), /^HTTP\/1\.1 101 /, `split ${prefix.subarray(0, 6).toString('hex')}`);
      }
    } finally {
      await srv.close();
    }
  });

  test('a PROXY address that is a trusted proxy itself lets X-Forwarded-For speak; an untrusted one does not', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1', '10.0.0.0/8'], proxyProtocol: true });
    try {
      let p = await seenAs(srv, { prefix: 'PROXY TCP4 10.0.0.5 10.0.0.1 1000 443\r\n', headers: { 'X-Forwarded-For': '203.0.113.77' } });
      assert.equal(p.remoteAddress, '203.0.113.77');
      p = await seenAs(srv, { prefix: 'PROXY TCP4 198.51.100.2 10.0.0.1 1000 443\r\n', headers: { 'X-Forwarded-For': '203.0.113.77' } });
      assert.equal(p.remoteAddress, '198.51.100.2');
    } finally {
      await srv.close();
    }
  });

  test('malformed PROXY headers, or none, drop the connection; the server keeps serving', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'], proxyProtocol: true, handshakeTimeout: 3000 });
    try {
      const bad = [
        ['no header at all', Buffer.alloc(0)],
        ['an unknown protocol', Buffer.from('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n')],
        ['an address out of range', Buffer.from('PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n')],
        ['a port out of range', Buffer.from('PROXY TCP4 1.2.3.4 10.0.0.1 70000 2\r\n')],
        ['an IPv6 address in a TCP4 line', Buffer.from('PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n')],
        ['two spaces', Buffer.from('PROXY  TCP4 1.2.3.4 10.0.0.1 1 2\r\n')],
        ['a lone LF', Buffer.from('PROXY TCP4 1.2.3.4 10.0.0.1 1 2\n')],
        ['a v1 line longer than 107 bytes', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`)],
        ['v2 with version 1', proxyV2({ version: 1, src: '1.2.3.4', dst: '5.6.7.8' })],
        ['v2 over UDP', Buffer.concat([proxyV2({ src: '1.2.3.4', dst: '5.6.7.8' }).subarray(0, 13), Buffer.from([0x12, 0, 12]), Buffer.alloc(12)])],
        ['v2 with a length too short for its addresses', proxyV2({ src: '1.2.3.4', dst: '5.6.7.8', lengthOverride: 8 })],
        ['v2 with a TLV running past the header', proxyV2({ src: '1.2.3.4', dst: '5.6.7.8', tlvs: Buffer.from([0x01, 0x00, 0x09, 0x61]) })],
        ['v2 with an absurd length', proxyV2({ src: '1.2.3.4', dst: '5.6.7.8', lengthOverride: 60000 })],
        ['garbage', Buffer.from('\x00\x01\x02 hello there\r\n\r\n', 'latin1')],
      ];
      for (const [what, prefix] of bad) {
        const r = await tcpExchange(srv.port, Buffer.concat([prefix, request(srv.port)]), { ms: 4000 });
        assert.ok(r.closed, `${what}: the connection should be dropped`);
        assert.doesNotMatch(r.data.toString('latin1'), /^HTTP\/1\.1 101/, `${what}: upgraded anyway`);
      }
      const p = await seenAs(srv, { prefix: 'PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n' });
      assert.equal(p.remoteAddress, '203.0.113.7');
    } finally {
      await srv.close();
    }
  });

  test('an incomplete header followed by silence is dropped after handshakeTimeout', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'], proxyProtocol: true, handshakeTimeout: 500 });
    try {
      const r = await tcpExchange(srv.port, Buffer.from('PROXY TCP4 203.0.113.7 '), { ms: 3000 });
      assert.ok(r.closed, 'still open');
      assert.ok(r.ms < 2500, `dropped after ${r.ms} ms`);
    } finally {
      await srv.close();
    }
  });

  test('a PROXY header from an untrusted peer is not believed: the connection is refused', async () => {
    for (const trustProxy of [['10.0.0.1'], ['192.168.0.0/16', '::2']]) {
      const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy, proxyProtocol: true });
      const opened = [];
      srv.server.on('connection', (c) => opened.push(c));
      try {
        for (const prefix of [Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n'), proxyV2({ src: '203.0.113.7', dst: '10.0.0.1', srcPort: 1, dstPort: 2 })]) {
          const r = await tcpExchange(srv.port, Buffer.concat([prefix, request(srv.port)]), { ms: 3000 });
          assert.ok(r.closed, 'the connection should be closed');
          const text = r.data.toString('latin1');
          assert.doesNotMatch(text, /^HTTP\/1\.1 101/, 'an untrusted peer was upgraded');
          if (text) assert.match(text, /^HTTP\/1\.1 (403|400) /);
        }
        assert.equal(opened.length, 0);
      } finally {
        await srv.close();
      }
    }
  });

  test('the PROXY header comes before TLS', { timeout: 10000 }, async () => {
    const certs = makeCerts();
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'], proxyProtocol: true,
      tls: { cert: certs.cert, key: certs.key } });
    try {
      const c = await RawClient.connect(`wss://127.0.0.1:${srv.port}/props`, { prefix: 'PROXY TCP4 203.0.113.70 10.0.0.1 4242 443\r\n', tls: { ca: certs.caPem } });
      try {
        const p = await props(c);
        assert.equal(p.remoteAddress, '203.0.113.70');
        assert.equal(p.remotePort, 4242);
      } finally {
        c.destroy();
      }
    } finally {
      await srv.close();
    }
  });

  test('the Flash policy request is not answered before a PROXY header (it is not one)', async () => {
    const srv = await startServer({ modules: FIXTURE_MODULES, trustProxy: ['127.0.0.1'], proxyProtocol: true });
    try {
      const r = await tcpExchange(srv.port, Buffer.from('<policy-file-request/>\0', 'latin1'), { ms: 3000 });
      assert.ok(r.closed);
      assert.doesNotMatch(r.data.toString('latin1'), /cross-domain-policy/);
    } finally {
      await srv.close();
    }
  });
});

describe('from runserver.js', () => {
  const children = new Set();
  after(() => { for (const c of children) c.kill('SIGKILL'); });

  async function runserver(args) {
    const child = spawn(process.execPath, [path.join(root, 'runserver.js'), '--port=0', '--host=127.0.0.1', '--no-log', `--modules=${FIXTURE_MODULES}`, ...args], { cwd: root });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    await waitUntil(() => /listening on wss?:\/\/127\.0\.0\.1:(\d+)\//.test(out) || child.exitCode !== null, 20000, 'runserver to listen');
    if (child.exitCode !== null) throw new Error(`runserver exited ${child.exitCode}: ${err}`);
    const port = Number(/listening on wss?:\/\/127\.0\.0\.1:(\d+)\//.exec(out)[1]);
    return {
      port,
      url: `ws://127.0.0.1:${port}`,
      stop: async () => {
        child.kill('SIGTERM');
        await withTimeout(new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve))), 10000, 'runserver to exit');
        children.delete(child);
      },
    };
  }

  test('--trust-proxy=[127.0.0.1] believes X-Forwarded-For; --proxy-protocol reads PROXY headers', { timeout: 30000 }, async () => {
    const a = await runserver(['--trust-proxy=[127.0.0.1]']);
    try {
      assert.equal((await seenAs(a, { headers: { 'X-Forwarded-For': '203.0.113.7' } })).remoteAddress, '203.0.113.7');
    } finally {
      await a.stop();
    }
    const b = await runserver(['--proxy-protocol', '--trust-proxy', '127.0.0.1']);
    try {
      assert.equal((await seenAs(b, { prefix: 'PROXY TCP4 203.0.113.8 10.0.0.1 1 2\r\n' })).remoteAddress, '203.0.113.8');
    } finally {
      await b.stop();
    }
  });
});
