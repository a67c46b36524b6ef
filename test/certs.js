'use strict';
// Test certificates, made at test time with the `openssl` command (fixed
// argv, no shell): a CA, a server certificate for localhost and 127.0.0.1,
// a second one (same names, another key) for reload tests, one for SNI
// (sni.test and *.sni.test), an encrypted copy of the server key, and a key
// that matches nothing. Made once per process, in a temporary folder that is
// removed on exit.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

let cached = null;

function openssl(args, cwd) {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20000 });
}

// An EC P-256 key and a certificate signed by the CA (EC keys are made in
// milliseconds, unlike RSA).
function issue(dir, name, subject, altNames) {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${altNames}`,
    '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '3', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
}

/**
 * Makes (once) and returns the paths and contents:
 * { dir, ca, caPem, cert, key, cert2, key2, sniCert, sniKey, encKey, passphrase, otherKey, notPem }
 */
function makeCerts() {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-websocket-certs-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3', '-sha256', '-subj', '/CN=node.websocket test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  issue(dir, 'server', '/CN=localhost', 'DNS:localhost,IP:127.0.0.1');
  issue(dir, 'server2', '/CN=localhost (reloaded)', 'DNS:localhost,IP:127.0.0.1');
  issue(dir, 'sni', '/CN=sni.test', 'DNS:sni.test,DNS:*.sni.test');
  openssl(['pkey', '-in', 'server.key', '-aes256', '-passout', 'pass:correct horse', '-out', 'server-enc.key'], dir);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'other.key'], dir);
  fs.writeFileSync(path.join(dir, 'not-pem.txt'), 'this is not a certificate\n');
  const p = (f) => path.join(dir, f);
  cached = {
    dir,
    ca: p('ca.pem'),
    caPem: fs.readFileSync(p('ca.pem')),
    cert: p('server.pem'),
    key: p('server.key'),
    cert2: p('server2.pem'),
    key2: p('server2.key'),
    sniCert: p('sni.pem'),
    sniKey: p('sni.key'),
    encKey: p('server-enc.key'),
    passphrase: 'correct horse',
    otherKey: p('other.key'),
    notPem: p('not-pem.txt'),
  };
  return cached;
}

/** The SHA-256 fingerprint of a PEM certificate file, as tls's getPeerCertificate() gives it. */
function fingerprint(certFile) {
  const { X509Certificate } = require('crypto');
  return new X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}

module.exports = { makeCerts, fingerprint };
