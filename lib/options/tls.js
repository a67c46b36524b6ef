'use strict';

// TLS. Certificates and keys are given as PEM contents or as file paths;
// files are read here, once, so a missing file or a key that does not match
// its certificate stops `new Server()` with a message naming the file.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Problem, describe, closest, isPlainObject } = require('./common');

const OPTIONS = [
  { name: 'tls', type: 'tls', default: null, shown: 'null (plain ws://)', arg: 'JSON',
    doc: 'Serve wss:// from the engine: { cert, key, ca?, passphrase?, minVersion?, sni? } (the parts below), PEM as contents or file paths.' },
];

/**
 * The parts of tls, with their command-line flags (sni only through --tls=JSON,
 * the --config file or code).
 */
const TLS_PARAMS = [
  { key: 'cert', cli: '--tls-cert', arg: 'FILE', shown: '(required)',
    doc: 'The certificate (chain) in PEM: a file path, or the PEM contents as a string or Buffer.' },
  { key: 'key', cli: '--tls-key', arg: 'FILE', shown: '(required)',
    doc: 'Its private key in PEM, path or contents; it must match cert.' },
  { key: 'passphrase', cli: '--tls-passphrase', arg: 'TEXT', shown: 'none',
    doc: 'Passphrase of an encrypted key.' },
  { key: 'ca', cli: '--tls-ca', arg: 'FILE', shown: 'none',
    doc: 'Intermediate CA certificates (PEM, path or contents) sent with the certificate.' },
  { key: 'minVersion', cli: '--tls-min-version', arg: 'TLSv1.2|TLSv1.3', shown: "'TLSv1.2'",
    doc: "The oldest TLS version accepted: 'TLSv1.2' or 'TLSv1.3'." },
  { key: 'sni', cli: null, shown: '{} (none)',
    doc: 'Certificates by server name: { "name or *.domain": { cert, key, passphrase? } }; other names get cert.' },
];

const PEM_RE = /-----BEGIN [A-Z0-9 ]+-----/;
const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'];
// A server name for SNI: a DNS name, possibly with a leading '*.' wildcard.
const SNI_NAME_RE = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/**
 * Reads one PEM item: contents (string with a BEGIN line, Buffer) or a path.
 * @returns {{ pem: Buffer, file: string|null }}
 */
function readPem(value, file, key, what) {
  let pem;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    pem = Buffer.from(value);
    file = typeof file === 'string' && file !== '' ? file : null;
  } else if (typeof value === 'string' && PEM_RE.test(value)) {
    pem = Buffer.from(value, 'utf8');
    file = null;
  } else if (typeof value === 'string' && value.trim() !== '') {
    file = path.resolve(value);
    try {
      pem = fs.readFileSync(file);
    } catch (err) {
      throw new Problem(`cannot read ${file}: ${err.code || err.message}`, { key, colon: true, showsValue: true });
    }
  } else {
    throw new Problem(`must be ${what} in PEM: a file path, or the PEM contents as a string or Buffer`, { key, value });
  }
  if (!PEM_RE.test(pem.toString('latin1'))) {
    throw new Problem(`${file || 'the value given'} holds no PEM data (no "-----BEGIN ...-----" line)`,
      { key, colon: true, showsValue: true });
  }
  return { pem, file };
}

/** Checks a { cert, key, passphrase? } pair (the main one, or an SNI entry). */
function readCertificate(value, prefix) {
  const cert = readPem(value.cert, value.certFile, `${prefix}.cert`, 'a certificate');
  const key = readPem(value.key, value.keyFile, `${prefix}.key`, 'a private key');
  const passphrase = value.passphrase === undefined || value.passphrase === null ? null : value.passphrase;
  if (passphrase !== null && typeof passphrase !== 'string') {
    throw new Problem('must be a string', { key: `${prefix}.passphrase`, value: passphrase });
  }
  const certName = cert.file || 'the certificate given';
  const keyName = key.file || 'the key given';
  let x509;
  try {
    x509 = new crypto.X509Certificate(cert.pem);
  } catch (err) {
    throw new Problem(`${certName} is not a PEM certificate (${err.message})`, { key: `${prefix}.cert`, colon: true, showsValue: true });
  }
  let privateKey;
  try {
    privateKey = crypto.createPrivateKey({ key: key.pem, format: 'pem', passphrase: passphrase === null ? undefined : passphrase });
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(key.pem.toString('latin1'));
    let why;
    if (encrypted && passphrase === null) why = `${keyName} is encrypted: give its passphrase (tls${prefix}.passphrase)`;
    else if (encrypted) why = `${keyName} cannot be decrypted with the passphrase given`;
    else why = `${keyName} is not a PEM private key (${err.message})`;
    throw new Problem(why, { key: `${prefix}.key`, colon: true, showsValue: true });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new Problem(`${keyName} does not match the certificate ${certName}`, { key: `${prefix}.key`, colon: true, showsValue: true });
  }
  return { cert: cert.pem, key: key.pem, passphrase, certFile: cert.file, keyFile: key.file };
}

const TLS_KEYS = ['cert', 'key', 'passphrase', 'ca', 'minVersion', 'sni', 'certFile', 'keyFile', 'caFile'];
const SNI_KEYS = ['cert', 'key', 'passphrase', 'certFile', 'keyFile'];

function refuseUnknownKeys(value, known, prefix, shownKnown) {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const hint = closest(key, shownKnown);
      throw new Problem(`is not a TLS setting (they are ${shownKnown.join(', ')})${hint ? `; did you mean ${hint}?` : ''}`,
        { key: `${prefix}.${key}`, showsValue: true });
    }
  }
}

/**
 * Normalizes tls to null or
 * { cert, key, passphrase, ca, minVersion, sni, certFile, keyFile, caFile }:
 * cert, key and ca are Buffers of PEM, the *File members the paths they were
 * read from (null for contents given directly), sni maps each server name
 * (lower-cased) to { cert, key, passphrase, certFile, keyFile }.
 */
function checkTls(option, value) {
  if (value === null || value === false) return null;
  if (!isPlainObject(value)) {
    throw new Problem("must be null or an object like { cert: 'cert.pem', key: 'key.pem' }");
  }
  refuseUnknownKeys(value, TLS_KEYS, '', TLS_PARAMS.map((p) => p.key));
  if (value.cert === undefined || value.cert === null) {
    throw new Problem('is required: the certificate, as a PEM file path or contents', { key: '.cert', showsValue: true });
  }
  if (value.key === undefined || value.key === null) {
    throw new Problem('is required: the private key, as a PEM file path or contents', { key: '.key', showsValue: true });
  }
  const main = readCertificate(value, '');
  let ca = null;
  let caFile = null;
  if (value.ca !== undefined && value.ca !== null) {
    const read = readPem(value.ca, value.caFile, '.ca', 'CA certificates');
    ca = read.pem;
    caFile = read.file;
    if (!/-----BEGIN CERTIFICATE-----/.test(ca.toString('latin1'))) {
      throw new Problem(`${caFile || 'the value given'} holds no certificate`, { key: '.ca', colon: true, showsValue: true });
    }
  }
  const minVersion = value.minVersion === undefined || value.minVersion === null ? 'TLSv1.2' : value.minVersion;
  if (!TLS_VERSIONS.includes(minVersion)) {
    throw new Problem(`must be ${TLS_VERSIONS.map((v) => `'${v}'`).join(' or ')}`, { key: '.minVersion', value: minVersion });
  }
  const sni = {};
  if (value.sni !== undefined && value.sni !== null) {
    if (!isPlainObject(value.sni)) {
      throw new Problem("must be an object of server names to { cert, key }, like { 'example.com': { cert: 'a.pem', key: 'a.key' } }",
        { key: '.sni', value: value.sni });
    }
    for (const name of Object.keys(value.sni)) {
      const entry = value.sni[name];
      if (!SNI_NAME_RE.test(name) || name.length > 253) {
        throw new Problem(`has an invalid server name ${describe(name)}: use a DNS name like 'example.com' or '*.example.com'`,
          { key: '.sni', showsValue: true });
      }
      const lower = name.toLowerCase();
      if (Object.prototype.hasOwnProperty.call(sni, lower)) {
        throw new Problem(`lists ${lower} twice`, { key: '.sni', showsValue: true });
      }
      if (!isPlainObject(entry)) {
        throw new Problem('must be an object like { cert, key, passphrase? }', { key: `.sni[${JSON.stringify(name)}]`, value: entry });
      }
      const prefix = `.sni[${JSON.stringify(name)}]`;
      refuseUnknownKeys(entry, SNI_KEYS, prefix, ['cert', 'key', 'passphrase']);
      if (entry.cert === undefined || entry.key === undefined) {
        throw new Problem('needs both cert and key', { key: prefix, showsValue: true });
      }
      sni[lower] = readCertificate(entry, prefix);
    }
  }
  return {
    cert: main.cert,
    key: main.key,
    passphrase: main.passphrase,
    ca,
    minVersion,
    sni,
    certFile: main.certFile,
    keyFile: main.keyFile,
    caFile,
  };
}

/**
 * Reads the TLS certificates again from their files (for server.reloadTls()
 * and SIGHUP): every part given as a path is re-read and checked as when the
 * server was created; parts given as contents stay as they were.
 * @param {object|null} tls a normalized tls option (server.options.tls), or one as users write it
 * @returns {object|null} a new normalized tls option
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION', naming the option and the file
 */
function loadTls(tls) {
  if (tls === null || tls === undefined || tls === false) return null;
  const fromFiles = (entry) => {
    const out = Object.assign({}, entry);
    for (const part of ['cert', 'key', 'ca']) {
      const file = entry[`${part}File`];
      if (typeof file === 'string' && file !== '') out[part] = file;
      delete out[`${part}File`];
    }
    return out;
  };
  const raw = fromFiles(tls);
  if (isPlainObject(tls.sni)) {
    raw.sni = {};
    for (const name of Object.keys(tls.sni)) raw.sni[name] = fromFiles(tls.sni[name]);
  }
  return require('./normalize').checkOne(OPTIONS[0], raw, 'option tls');
}

// ---------------------------------------------------------------------------

// A normalized tls option back in the form users write, files as paths, so
// the command line can replace parts of a tls from the --config file.
function tlsAsWritten(tls) {
  const written = (entry) => {
    const out = {};
    for (const [k, v] of Object.entries(entry)) if (v !== null && !k.endsWith('File')) out[k] = v;
    for (const part of ['cert', 'key', 'ca']) if (entry[`${part}File`]) out[part] = entry[`${part}File`];
    return out;
  };
  const out = written(tls);
  if (tls.sni) {
    out.sni = {};
    for (const [name, entry] of Object.entries(tls.sni)) out.sni[name] = written(entry);
  }
  return out;
}

/**
 * The tls option with its file paths made relative to the config file's
 * folder; PEM contents (they hold "-----BEGIN") are left as they are.
 * @param {unknown} tls
 * @param {string} dir
 */
function tlsPathsFrom(tls, dir) {
  if (!isPlainObject(tls)) return tls;
  const fix = (entry) => {
    const out = { ...entry };
    for (const key of ['cert', 'key', 'ca']) {
      const v = out[key];
      if (typeof v === 'string' && v !== '' && !v.includes('-----BEGIN')) out[key] = path.resolve(dir, v);
    }
    return out;
  };
  const out = fix(tls);
  if (isPlainObject(tls.sni)) {
    out.sni = {};
    for (const name of Object.keys(tls.sni)) out.sni[name] = isPlainObject(tls.sni[name]) ? fix(tls.sni[name]) : tls.sni[name];
  }
  return out;
}

const TYPES = { tls: { check: checkTls, negatable: true, json: true, pathsFrom: tlsPathsFrom } };
const PARTS = { tls: TLS_PARAMS };

module.exports = { OPTIONS, TYPES, PARTS, TLS_PARAMS, loadTls, tlsAsWritten };
