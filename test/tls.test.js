'use strict';
// wss:// served by the engine's own TLS (OpenSSL inside Node, memory BIOs):
// the ws client with the test CA, TLS 1.2 and 1.3, ALPN, SNI, a raw upgrade
// through `openssl s_client`, garbage before the ClientHello, renegotiation,
// certificate errors, reload (API and SIGHUP), the handshake timeout, and the
// Flash policy answer on plain TCP only. Certificates come from
// test/certs.js, made with the openssl command at test time.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const tls = require('tls');
const { spawn } = require('child_process');
const WebSocket = require('ws');
const {
  startServer, startTlsServer, RawClient, OP, buildUpgradeRequest, frame, withTimeout, waitUntil, delay,
  tcpExchange, wsRoundTrip,
} = require('./helpers');
const { makeCerts, fingerprint } = require('./certs');

const certs = makeCerts();
const root = path.join(__dirname, '..');

const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** A ws client over wss:// trusting the test CA; resolves when open. */
async function wssClient(url, options = {}) {
  const ws = new WebSocket(url, { ca: certs.caPem, handshakeTimeout: 4000, ...options });
  ws.binaryType = 'nodebuffer';
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  }), 5000, `a wss connection to ${url}`);
  ws.on('error', () => {});
  return ws;
}

const roundTrip = (ws, data, ms = 5000) => wsRoundTrip(ws, data, undefined, ms);

async function closeWs(ws) {
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
  return withTimeout(ws.closed, 4000, 'the wss client to close');
}

/**
 * A bare TLS connection (no WebSocket): resolves { socket, cert, protocol, alpn }
 * once the handshake is done, or rejects with the TLS error.
 */
function tlsConnect(port, options = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.caPem, ...options });
    socket.once('secureConnect', () => resolve({
      socket, cert: socket.getPeerCertificate(), protocol: socket.getProtocol(), alpn: socket.alpnProtocol,
    }));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed during the TLS handshake')));
  }), 5000, 'a TLS handshake');
}

/** Opens a plain TCP socket, writes bytes, and resolves when the server closes it. */
const plainExchange = (port, bytes, ms = 4000) => tcpExchange(port, bytes, { ms });

/** Spawns openssl with a fixed argv and collects its output. */
function openssl(args) {
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.out = Buffer.alloc(0);
  child.err = '';
  child.stdout.on('data', (d) => { child.out = Buffer.concat([child.out, d]); });
  child.stderr.on('data', (d) => { child.err += d; });
  child.stdin.on('error', () => {});
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); }));
  return child;
}

async function untilOutput(child, pred, ms, what) {
  await waitUntil(() => pred(child.out) || child.exitCode !== null, ms, what);
  return pred(child.out);
}

describe('wss:// with the ws client', () => {
  let srv;
  before(async () => { srv = await startTlsServer({ maxPayload: 8 * 1024 * 1024 }); });
  after(() => srv && srv.close());

  test('text, binary and large messages echo over wss:// with the CA; the connection is secure', { timeout: 15000 }, async () => {
    const connected = new Promise((resolve) => srv.server.once('connection', resolve));
    const ws = await wssClient(`${srv.url}/`);
    try {
      const conn = await withTimeout(connected, 2000, 'the connection event');
      assert.equal(conn.secure, true, 'connection.secure over wss://');
      assert.equal((await roundTrip(ws, 'hello over tls')).data.toString(), 'hello over tls');
      const bin = Buffer.from([0, 1, 2, 250, 255]);
      const r = await roundTrip(ws, bin);
      assert.equal(r.isBinary, true);
      assert.deepEqual(r.data, bin);
      const big = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 9)) & 0xff;
      const rb = await roundTrip(ws, big, 10000);
      assert.ok(rb.data.equals(big), 'a 4 MiB message came back exactly');
    } finally {
      const closed = await closeWs(ws);
      assert.equal(closed.code, 1000);
    }
  });

  test('a client that does not trust the CA fails its handshake; the server carries on', async () => {
    await assert.rejects(wssClient(`${srv.url}/`, { ca: undefined }), /self[- ]signed|unable to (get|verify)|certificate/i);
    const ws = await wssClient(`${srv.url}/`);
    assert.equal((await roundTrip(ws, 'still fine')).data.toString(), 'still fine');
    await closeWs(ws);
  });

  test('the certificate is the one for localhost and 127.0.0.1', async () => {
    const { socket, cert } = await tlsConnect(srv.port);
    socket.destroy();
    assert.equal(cert.subject.CN, 'localhost');
    assert.equal(cert.fingerprint256, fingerprint(certs.cert));
    const ws = await wssClient(`wss://localhost:${srv.port}/`, { lookup: (host, o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) });
    assert.equal((await roundTrip(ws, 'by name')).data.toString(), 'by name');
    await closeWs(ws);
  });

  for (const version of ['TLSv1.2', 'TLSv1.3']) {
    test(`${version} works: handshake, upgrade and echo`, async () => {
      const { socket, protocol } = await tlsConnect(srv.port, { minVersion: version, maxVersion: version });
      socket.destroy();
      assert.equal(protocol, version);
      const ws = await wssClient(`${srv.url}/`, { minVersion: version, maxVersion: version });
      try {
        assert.equal(ws._socket.getProtocol(), version);
        assert.equal((await roundTrip(ws, version)).data.toString(), version);
      } finally {
        await closeWs(ws);
      }
    });
  }

  test('ALPN: a client offering h2 and http/1.1 gets http/1.1', async () => {
    const { socket, alpn } = await tlsConnect(srv.port, { ALPNProtocols: ['h2', 'http/1.1'] });
    socket.destroy();
    assert.equal(alpn, 'http/1.1');
  });

  test('TLS 1.0 and 1.1 are refused (an openssl client allowed to speak them gets a protocol_version alert)', { timeout: 15000 }, async () => {
    // Node's own client would refuse TLS 1.1 by itself; s_client at security level 0 does not.
    for (const flag of ['-tls1_1', '-tls1']) {
      const child = openssl(['s_client', '-connect', `127.0.0.1:${srv.port}`, flag, '-cipher', 'DEFAULT@SECLEVEL=0', '-CAfile', certs.ca]);
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      const { code } = await child.exited;
      clearTimeout(timer);
      const said = child.out.toString('latin1') + child.err;
      assert.notEqual(code, 0, `${flag}: the handshake succeeded: ${said.match(/Protocol\s*:.*/)}`);
      assert.match(said, /alert protocol version|unsupported protocol|no protocols available|handshake failure/i, flag);
    }
  });
});

describe('minVersion TLSv1.3', () => {
  test('a TLS 1.2-only client is refused; TLS 1.3 works', async () => {
    const srv = await startTlsServer({ tls: { cert: certs.cert, key: certs.key, minVersion: 'TLSv1.3' } });
    try {
      await assert.rejects(tlsConnect(srv.port, { maxVersion: 'TLSv1.2' }));
      const ws = await wssClient(`${srv.url}/`);
      assert.equal(ws._socket.getProtocol(), 'TLSv1.3');
      assert.equal((await roundTrip(ws, 'one three')).data.toString(), 'one three');
      await closeWs(ws);
    } finally {
      await srv.close();
    }
  });
});

describe('SNI', () => {
  let srv;
  before(async () => {
    srv = await startTlsServer({
      tls: {
        cert: certs.cert,
        key: certs.key,
        sni: {
          'sni.test': { cert: certs.sniCert, key: certs.sniKey },
          '*.sni.test': { cert: certs.sniCert, key: certs.sniKey },
        },
      },
    });
  });
  after(() => srv && srv.close());

  const cases = [
    ['sni.test', 'sni.test', certs.sniCert],
    ['www.sni.test', 'sni.test', certs.sniCert],
    ['SNI.TEST', 'sni.test', certs.sniCert],
    ['localhost', 'localhost', certs.cert],
    ['other.example', 'localhost', certs.cert],
    [undefined, 'localhost', certs.cert],
  ];
  for (const [servername, cn, file] of cases) {
    test(`server name ${servername === undefined ? '(none)' : servername} gets the certificate for ${cn}`, async () => {
      const { socket, cert } = await tlsConnect(srv.port, { servername, rejectUnauthorized: false });
      socket.destroy();
      assert.equal(cert.subject.CN, cn);
      assert.equal(cert.fingerprint256, fingerprint(file));
    });
  }

  test('a ws client naming sni.test verifies the SNI certificate and echoes', async () => {
    const ws = await wssClient(`${srv.url}/`, { servername: 'sni.test' });
    try {
      assert.equal(ws._socket.getPeerCertificate().subject.CN, 'sni.test');
      assert.equal((await roundTrip(ws, 'by sni')).data.toString(), 'by sni');
    } finally {
      await closeWs(ws);
    }
  });
});

describe('openssl s_client', () => {
  let srv;
  before(async () => { srv = await startTlsServer({ handshakeTimeout: 5000 }); });
  after(() => srv && srv.close());

  test('a raw upgrade request through s_client gets 101, then an echo of a masked frame', { timeout: 15000 }, async () => {
    const child = openssl(['s_client', '-connect', `127.0.0.1:${srv.port}`, '-quiet', '-CAfile', certs.ca, '-verify_return_error']);
    try {
      const key = 'dGhlIHNhbXBsZSBub25jZQ==';
      child.stdin.write(buildUpgradeRequest({ host: '127.0.0.1', port: srv.port, path: '/', key }));
      const got101 = await untilOutput(child, (out) => out.includes('\r\n\r\n'), 8000, 'the answer through s_client');
      assert.ok(got101, `s_client ended without an answer: ${child.err}`);
      assert.match(child.out.toString('latin1'), /^HTTP\/1\.1 101 /);
      assert.match(child.out.toString('latin1'), /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
      const headLength = child.out.indexOf('\r\n\r\n') + 4;
      child.stdin.write(frame(OP.TEXT, 'through openssl'));
      const echoed = Buffer.concat([Buffer.from([0x81, 15]), Buffer.from('through openssl')]);
      const ok = await untilOutput(child, (out) => out.subarray(headLength).includes(echoed), 5000, 'the echo through s_client');
      assert.ok(ok, `no echo: ${child.out.subarray(headLength).toString('hex')}`);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
  });

  test('renegotiation is refused: the TLS 1.2 connection ends or the renegotiation fails; the server keeps working', { timeout: 20000 }, async () => {
    // Without -quiet, s_client reads commands: a line "R" renegotiates.
    const child = openssl(['s_client', '-connect', `127.0.0.1:${srv.port}`, '-tls1_2', '-CAfile', certs.ca]);
    try {
      // s_client prints the session, ending "Verify return code: 0 (ok)", once the handshake is done.
      const ready = await untilOutput(child, (out) => /Verify return code: 0 \(ok\)/.test(out.toString('latin1')), 8000, 's_client to finish its handshake');
      assert.ok(ready, `s_client did not connect: ${child.err}`);
      await delay(200);
      const before = child.out.length;
      child.stdin.write('R\n');
      await delay(1500);
      // If the connection survived, a renegotiation accepted would let an upgrade through.
      if (child.exitCode === null) {
        child.stdin.write(buildUpgradeRequest({ host: '127.0.0.1', port: srv.port, path: '/', key: 'dGhlIHNhbXBsZSBub25jZQ==' }));
        await delay(1500);
      }
      const after = child.out.subarray(before).toString('latin1') + child.err;
      const ended = child.exitCode !== null || /closed|error|alert|no renegotiation|handshake failure/i.test(after);
      assert.ok(ended, `the renegotiation looks accepted: ${JSON.stringify(after.slice(0, 500))}`);
      assert.doesNotMatch(after, /HTTP\/1\.1 101/, 'an upgrade succeeded after a renegotiation');
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
    const ws = await wssClient(`${srv.url}/`);
    assert.equal((await roundTrip(ws, 'after renegotiation')).data.toString(), 'after renegotiation');
    await closeWs(ws);
  });
});

describe('clients that fail the TLS handshake are dropped cleanly', () => {
  let srv;
  let bystander;
  before(async () => {
    srv = await startTlsServer({ handshakeTimeout: 2000 });
    bystander = await wssClient(`${srv.url}/`); // open through all of this
  });
  after(async () => {
    if (bystander) await closeWs(bystander);
    if (srv) await srv.close();
  });

  const garbage = [
    ['a plain HTTP upgrade request on the TLS port', buildUpgradeRequest({ host: '127.0.0.1', port: 1, path: '/', key: 'dGhlIHNhbXBsZSBub25jZQ==' })],
    ['random bytes', Buffer.from('b1e2c3d4e5f60718293a4b5c6d7e8f90'.repeat(8), 'hex')],
    ['a TLS record header announcing an absurd length', Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00])],
    ['garbage then a real-looking ClientHello start', Buffer.concat([Buffer.from('xyz'), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00])])],
    ['a Flash policy request', Buffer.from('<policy-file-request/>\0', 'latin1')],
  ];
  for (const [what, bytes] of garbage) {
    test(`${what}: the connection is closed without an HTTP or policy answer, others unaffected`, async () => {
      const r = await plainExchange(srv.port, bytes, 4000);
      assert.ok(r.closed, 'the server should drop the connection');
      const text = r.data.toString('latin1');
      assert.doesNotMatch(text, /HTTP\/1\.1|cross-domain-policy/, `answered in plain text: ${JSON.stringify(text.slice(0, 100))}`);
      if (r.data.length) assert.equal(r.data[0], 0x15, `only a TLS alert may come back, got ${r.data.subarray(0, 8).toString('hex')}`);
      assert.equal((await roundTrip(bystander, what)).data.toString(), what);
      const ws = await wssClient(`${srv.url}/`);
      assert.equal((await roundTrip(ws, 'new')).data.toString(), 'new');
      await closeWs(ws);
    });
  }

  test('many failing handshakes at once leave the server serving', { timeout: 15000 }, async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => plainExchange(srv.port, Buffer.from(`junk ${i} `.repeat(20)), 4000)));
    await Promise.all(Array.from({ length: 10 }, () => assert.rejects(tlsConnect(srv.port, { ca: undefined }))));
    assert.equal((await roundTrip(bystander, 'survived')).data.toString(), 'survived');
    assert.equal(srv.server.clients.length, 1);
  });
});

describe('the handshake timeout covers TLS', () => {
  let srv;
  before(async () => { srv = await startTlsServer({ handshakeTimeout: 600 }); });
  after(() => srv && srv.close());

  test('a client that connects and sends nothing is dropped after handshakeTimeout', async () => {
    const r = await plainExchange(srv.port, null, 4000);
    assert.ok(r.closed, 'still open after 4 s');
    assert.ok(r.ms >= 450 && r.ms < 3000, `dropped after ${r.ms} ms`);
  });

  test('a client that sends half a ClientHello and stops is dropped after handshakeTimeout', async () => {
    const r = await plainExchange(srv.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), 4000);
    assert.ok(r.closed, 'still open after 4 s');
    assert.ok(r.ms >= 450 && r.ms < 3000, `dropped after ${r.ms} ms`);
  });

  test('a client that completes TLS but sends no upgrade request is dropped after handshakeTimeout', async () => {
    const { socket } = await tlsConnect(srv.port);
    const started = Date.now();
    const closedAt = await withTimeout(new Promise((resolve) => {
      socket.on('error', () => {});
      socket.on('close', () => resolve(Date.now()));
      socket.resume();
    }), 4000, 'the server to drop the idle TLS client');
    assert.ok(closedAt - started < 3000, `dropped after ${closedAt - started} ms`);
  });

  test('a slow but steady client within the timeout still gets in', async () => {
    const ws = await wssClient(`${srv.url}/`);
    assert.equal((await roundTrip(ws, 'quick')).data.toString(), 'quick');
    await closeWs(ws);
  });
});

describe('certificate errors', () => {
  test('a bad certificate path fails the constructor, naming the file', () => {
    const { Server } = require('../lib');
    assert.throws(() => new Server({ port: 0, log: false, tls: { cert: '/no/such/dir/cert.pem', key: certs.key } }),
      (err) => err.code === 'WS_ERR_INVALID_OPTION' && /\/no\/such\/dir\/cert\.pem/.test(err.message) && /tls\.cert/.test(err.message));
    assert.throws(() => new Server({ port: 0, log: false, tls: { cert: certs.cert, key: '/no/such/key.pem' } }),
      (err) => err.code === 'WS_ERR_INVALID_OPTION' && /\/no\/such\/key\.pem/.test(err.message));
  });

  test('a key that does not match the certificate fails, naming both files', () => {
    const { Server } = require('../lib');
    assert.throws(() => new Server({ port: 0, log: false, tls: { cert: certs.cert, key: certs.otherKey } }),
      (err) => err.code === 'WS_ERR_INVALID_OPTION' && err.message.includes(certs.otherKey) && err.message.includes(certs.cert));
  });

  test('an encrypted key works with its passphrase', async () => {
    const srv = await startServer({ tls: { cert: certs.cert, key: certs.encKey, passphrase: certs.passphrase } });
    try {
      const ws = await wssClient(`wss://127.0.0.1:${srv.port}/`);
      assert.equal((await roundTrip(ws, 'decrypted')).data.toString(), 'decrypted');
      await closeWs(ws);
    } finally {
      await srv.close();
    }
  });

  test('runserver.js with a missing certificate exits 2 naming the file', async () => {
    const child = spawn(process.execPath, [path.join(root, 'runserver.js'), '--port=0', '--tls-cert=/no/such/cert.pem', `--tls-key=${certs.key}`]);
    children.add(child);
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const [code] = await withTimeout(new Promise((resolve) => child.on('exit', (...a) => resolve(a))), 10000, 'runserver to exit');
    children.delete(child);
    assert.equal(code, 2);
    assert.match(err, /--tls-cert: cannot read \/no\/such\/cert\.pem: ENOENT/);
  });
});

describe('reloading certificates', () => {
  let dir;
  let certFile;
  let keyFile;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-tls-reload-'));
    certFile = path.join(dir, 'cert.pem');
    keyFile = path.join(dir, 'key.pem');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function install(cert, key) {
    fs.copyFileSync(cert, certFile);
    fs.copyFileSync(key, keyFile);
  }

  test('reloadTls(): new connections get the new certificate; an open one stays open and echoes', { timeout: 15000 }, async () => {
    install(certs.cert, certs.key);
    const srv = await startServer({ tls: { cert: certFile, key: keyFile } });
    const url = `wss://127.0.0.1:${srv.port}/`;
    try {
      const old = await wssClient(url);
      assert.equal(old._socket.getPeerCertificate().fingerprint256, fingerprint(certs.cert));
      install(certs.cert2, certs.key2);
      srv.server.reloadTls();
      const fresh = await wssClient(url);
      assert.equal(fresh._socket.getPeerCertificate().fingerprint256, fingerprint(certs.cert2), 'the new certificate');
      assert.equal((await roundTrip(old, 'old connection')).data.toString(), 'old connection');
      assert.equal((await roundTrip(fresh, 'new connection')).data.toString(), 'new connection');
      assert.equal(srv.server.options.tls.certFile, certFile);
      // A reload that fails changes nothing.
      fs.copyFileSync(certs.otherKey, keyFile);
      assert.throws(() => srv.server.reloadTls(), (err) => err.code === 'WS_ERR_INVALID_OPTION' && err.message.includes(keyFile));
      fs.rmSync(certFile);
      assert.throws(() => srv.server.reloadTls(), (err) => err.code === 'WS_ERR_INVALID_OPTION' && /ENOENT/.test(err.message) && err.message.includes(certFile));
      const third = await wssClient(url);
      assert.equal(third._socket.getPeerCertificate().fingerprint256, fingerprint(certs.cert2), 'still the last good certificate');
      assert.equal((await roundTrip(old, 'still open')).data.toString(), 'still open');
      await closeWs(third);
      await closeWs(fresh);
      await closeWs(old);
    } finally {
      await srv.close();
    }
  });

  test('reloadTls() on a server without TLS throws', () => {
    const { Server } = require('../lib');
    const s = new Server({ port: 0, log: false });
    assert.throws(() => s.reloadTls());
  });

  test('runserver.js reloads on SIGHUP, logs it, and keeps the old certificates when the files are broken', { timeout: 30000 }, async () => {
    install(certs.cert, certs.key);
    const child = spawn(process.execPath, [path.join(root, 'runserver.js'), '--port=0', '--host=127.0.0.1', '--no-log',
      `--tls-cert=${certFile}`, `--tls-key=${keyFile}`], { cwd: root });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    try {
      await waitUntil(() => /listening on wss:\/\/127\.0\.0\.1:\d+\//.test(out) || child.exitCode !== null, 20000, 'runserver to listen');
      const port = Number(/listening on wss:\/\/127\.0\.0\.1:(\d+)\//.exec(out)[1]);
      const url = `wss://127.0.0.1:${port}/`;
      const old = await wssClient(url);
      assert.equal(old._socket.getPeerCertificate().fingerprint256, fingerprint(certs.cert));
      install(certs.cert2, certs.key2);
      child.kill('SIGHUP');
      await waitUntil(() => /reloaded/.test(err), 5000, 'the reload message');
      const fresh = await wssClient(url);
      assert.equal(fresh._socket.getPeerCertificate().fingerprint256, fingerprint(certs.cert2));
      assert.equal((await roundTrip(old, 'kept')).data.toString(), 'kept');
      // Broken files: logged, the server goes on with the certificates it has.
      fs.writeFileSync(certFile, 'not a certificate');
      child.kill('SIGHUP');
      await waitUntil(() => /NOT reloaded/.test(err), 5000, 'the failed reload message');
      assert.match(err, new RegExp(`NOT reloaded.*${certFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      assert.equal(child.exitCode, null, 'runserver still running');
      const third = await wssClient(url);
      assert.equal(third._socket.getPeerCertificate().fingerprint256, fingerprint(certs.cert2));
      for (const ws of [third, fresh, old]) await closeWs(ws);
    } finally {
      child.kill('SIGTERM');
      await withTimeout(new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve))), 10000, 'runserver to exit');
      children.delete(child);
    }
  });
});

describe('the Flash policy answer is for plain TCP only', () => {
  test('the policy port answers next to a TLS server; the TLS port does not', async () => {
    const probe = net.createServer();
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const policyPort = probe.address().port;
    await new Promise((resolve) => probe.close(resolve));
    const srv = await startTlsServer({ policyPort });
    try {
      const request = Buffer.from('<policy-file-request/>\0', 'latin1');
      const plain = await plainExchange(policyPort, request, 3000);
      assert.match(plain.data.toString('latin1'), /<cross-domain-policy>/);
      const onTls = await plainExchange(srv.port, request, 3000);
      assert.doesNotMatch(onTls.data.toString('latin1'), /cross-domain-policy/);
      assert.ok(onTls.closed);
    } finally {
      await srv.close();
    }
  });
});

describe('a plain server is unaffected', () => {
  test('ws:// still works, and connection.secure is false', async () => {
    const srv = await startServer();
    try {
      const connected = new Promise((resolve) => srv.server.once('connection', resolve));
      const c = await RawClient.connect(`${srv.url}/`);
      const conn = await withTimeout(connected, 2000, 'the connection event');
      assert.equal(conn.secure, false);
      c.destroy();
    } finally {
      await srv.close();
    }
  });
});
