'use strict';

// The one place Server options are defined, defaulted, validated and read
// from the command line. Everything else (runserver.js --help, the README's
// table, Server's constructor) derives from OPTIONS below.

const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const util = require('util');
const { WebSocketError } = require('./errors');
const { compileTrust } = require('./forwarded');

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const MAX_INT32 = 2147483647;             // also the longest delay Node's timers accept
const MIB = 1024 * 1024;

/**
 * One entry per Server option.
 *  name     camelCase, as in `new Server({ name })`
 *  cli      kebab-case command-line form (the camelCase form is accepted too)
 *  type     how values are checked: see CHECKS
 *  default  the value used when the option is absent
 *  shown    how the default is written in help and README when it is not a literal
 *  arg      the value placeholder in --help
 *  doc      one line
 *  min/max  range for integer types
 */
const OPTIONS = [
  { name: 'port', type: 'integer', default: 8080, min: 0, max: 65535, arg: 'N',
    doc: 'TCP port to listen on; 0 picks a free port.' },
  { name: 'host', type: 'host', default: 'localhost', arg: 'HOST',
    doc: "Host name or address to listen on ('::' for all, IPv4 and IPv6)." },
  { name: 'backlog', type: 'integer', default: 511, min: 1, max: MAX_INT32, arg: 'N',
    doc: 'Length of the queue of pending TCP connections (listen() backlog).' },
  { name: 'origins', type: 'origins', default: '*', shown: "'*'", arg: 'LIST',
    doc: "Allowed Origin values: 'scheme://host[:port]', 'scheme://*.example.com' patterns, or '*' for all." },
  { name: 'modules', type: 'directory', default: path.join(__dirname, '..', 'modules'),
    shown: 'the modules/ folder beside runserver.js', arg: 'DIR',
    doc: 'Folder of resource modules: ws://host:port/test loads DIR/test.js.' },
  { name: 'docroot', type: 'docroot', default: path.join(__dirname, '..', 'test'),
    shown: 'the demo pages in test/', arg: 'DIR',
    doc: 'Folder served to plain HTTP GETs; false turns it off (such requests then get 426).' },
  { name: 'policyPort', type: 'policyPort', default: false, arg: 'N',
    doc: 'Also answer Flash socket-policy requests on this port; true means 843.' },
  { name: 'maxConnections', type: 'integer', default: 100000, min: 1, max: MAX_INT32, arg: 'N',
    doc: 'Connections past this many are answered 503.' },
  { name: 'maxPayload', type: 'integer', default: 100 * MIB, shown: '104857600 (100 MiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: 'Largest message accepted, summed over its fragments; larger ones close with 1009.' },
  { name: 'maxHeaderSize', type: 'integer', default: 8192, min: 1024, max: MIB, arg: 'BYTES',
    doc: 'Largest HTTP request head accepted; larger ones get 431.' },
  { name: 'handshakeTimeout', type: 'integer', default: 10000, min: 1, max: MAX_INT32, arg: 'MS',
    doc: 'Milliseconds a client has to complete the opening handshake.' },
  { name: 'pingInterval', type: 'integer', default: 30000, min: 0, max: MAX_INT32, arg: 'MS',
    doc: 'Milliseconds between server pings to a quiet peer; 0 turns pings off.' },
  { name: 'idleTimeout', type: 'integer', default: 120000, min: 0, max: MAX_INT32, arg: 'MS',
    doc: 'A peer that sends nothing (not even a pong) for this long is closed with 1001; 0 = never.' },
  { name: 'closeTimeout', type: 'integer', default: 5000, min: 1, max: MAX_INT32, arg: 'MS',
    doc: "Milliseconds to wait for the peer's close frame after sending ours before dropping TCP." },
  { name: 'maxBufferedAmount', type: 'integer', default: 16 * MIB, shown: '16777216 (16 MiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: 'A send while more than this many bytes already wait for one connection closes it with 1008 (a reader that falls behind).' },
  { name: 'highWaterMark', type: 'integer', default: 64 * 1024, shown: '65536 (64 KiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: "send() returns false, and 'drain' follows, once this many bytes are queued." },
  { name: 'log', type: 'boolean', default: true,
    doc: 'Log connections and errors to stdout.' },
  { name: 'maxBackpressure', type: 'integer', default: MIB, shown: '1048576 (1 MiB)', min: 1, max: MAX_SAFE, arg: 'BYTES',
    doc: 'Bytes queued for one subscriber past which a multicast applies backpressurePolicy to it.' },
  { name: 'backpressurePolicy', type: 'choice', choices: ['drop', 'close'], default: 'drop', arg: 'drop|close',
    doc: "What a multicast does to a subscriber past maxBackpressure: 'drop' the message for it (counted), or 'close' it with 1008." },
  { name: 'apps', type: 'apps', default: {}, shown: '{} (none)', arg: 'JSON',
    doc: 'Named applications, each URL its own instance: { "name": { "urls": ["/path", ...], "module"?: "file", ...settings } }; usually set in the --config file.' },
  { name: 'perMessageDeflate', cli: '--deflate', aliases: ['per-message-deflate'], type: 'deflate', default: false, arg: 'JSON',
    doc: 'permessage-deflate (RFC 7692): false (off), true (on, every parameter at its default), or an object of the parameters below; --deflate alone turns it on.' },
  { name: 'tls', type: 'tls', default: null, shown: 'null (plain ws://)', arg: 'JSON',
    doc: 'Serve wss:// from the engine: { cert, key, ca?, passphrase?, minVersion?, sni? } (the parts below), PEM as contents or file paths.' },
  { name: 'noServer', type: 'boolean', codeOnly: true, default: false,
    doc: 'Do not listen: upgrades come through server.handleUpgrade(req, socket, head, cb); port and host are ignored.' },
  { name: 'server', type: 'httpServer', codeOnly: true, default: null,
    doc: "An http.Server or https.Server whose port also serves WebSockets (its 'upgrade' requests); port and host are ignored." },
  { name: 'authorize', type: 'function', codeOnly: true, default: null,
    doc: 'authorize(info) decides on every upgrade request before the module\'s own authorize(): true, false, { status, reason }, or a promise of one.' },
  { name: 'trustProxy', type: 'trustProxy', default: false, arg: 'LIST',
    doc: "Peers whose X-Forwarded-For / Forwarded (and PROXY protocol) headers are believed for remoteAddress: true (any peer), or addresses, CIDR ranges and 'loopback', 'linklocal', 'uniquelocal'." },
  { name: 'proxyProtocol', type: 'boolean', default: false,
    doc: 'Every connection starts with a PROXY protocol v1 or v2 header, from a peer in trustProxy (others are refused).' },
];

const kebab = (name) => name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

for (const option of OPTIONS) {
  if (!option.cli) option.cli = '--' + kebab(option.name);
}

/**
 * The parameters of perMessageDeflate, each with its own command-line flag
 * (--deflate-threshold=512, --deflate-server-no-context-takeover, ...).
 */
const DEFLATE_PARAMS = [
  { key: 'threshold', type: 'integer', default: 1024, min: 0, max: MAX_SAFE, arg: 'BYTES',
    doc: 'Messages smaller than this many bytes are sent uncompressed.' },
  { key: 'serverNoContextTakeover', type: 'boolean', default: false,
    doc: 'The server starts each message with an empty compression window (less memory per connection, less compression); always answered as server_no_context_takeover.' },
  { key: 'clientNoContextTakeover', type: 'boolean', default: false,
    doc: 'Clients are asked to do the same (client_no_context_takeover), so the server keeps no inflate window between messages.' },
  { key: 'serverMaxWindowBits', type: 'integer', default: 15, min: 8, max: 15, arg: 'N',
    doc: "The server's LZ77 window is 2^N bytes (answered as server_max_window_bits when below 15)." },
  { key: 'clientMaxWindowBits', type: 'integer', default: 15, min: 8, max: 15, arg: 'N',
    doc: "The largest window a client may compress with, when the client offers client_max_window_bits." },
  { key: 'memLevel', type: 'integer', default: 8, min: 1, max: 9, arg: 'N',
    doc: "zlib's memLevel for the server's compressor: memory against speed." },
  { key: 'level', type: 'integer', default: 6, min: 0, max: 9, arg: 'N',
    doc: "zlib's compression level: 0 none, 1 fastest, 9 smallest; 6 is zlib's default." },
];
for (const p of DEFLATE_PARAMS) p.cli = '--deflate-' + kebab(p.key);

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

const BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));
const BY_CLI = new Map();
for (const o of OPTIONS) {
  BY_CLI.set(o.cli.slice(2), o);
  BY_CLI.set(o.name, o);
  for (const alias of o.aliases || []) BY_CLI.set(alias, o);
}
// --deflate-threshold=N and the like: one part of a structured option.
const PART_CLI = new Map();
for (const p of DEFLATE_PARAMS) PART_CLI.set(p.cli.slice(2), { option: BY_NAME.get('perMessageDeflate'), param: p });
for (const p of TLS_PARAMS) if (p.cli) PART_CLI.set(p.cli.slice(2), { option: BY_NAME.get('tls'), param: p });

// ---------------------------------------------------------------------------
// Checks. Each takes a value and returns the normalized value, or throws a
// Problem whose text completes "<option> must ..." style sentences.

class Problem extends Error {
  /**
   * @param {string} message completes "<option><key> ..." (e.g. "must be a number")
   * @param {object} [how]
   * @param {boolean} [how.showsValue] the message already quotes the bad value
   * @param {string} [how.key] the part of the option at fault, e.g. '.chat.urls'
   * @param {*} [how.value] the value at that key, for "(received ...)"
   * @param {boolean} [how.colon] join the option and the message with ': '
   */
  constructor(message, how = {}) {
    super(message);
    this.showsValue = Boolean(how.showsValue);
    this.key = how.key || '';
    // 'option tls.cert: cannot read ...' rather than 'option tls.cert cannot read ...'
    this.colon = Boolean(how.colon);
    // A value of undefined is still a value to show: tell it apart from none.
    this.hasValue = Object.prototype.hasOwnProperty.call(how, 'value');
    this.value = how.value;
  }
}

function isIntegerString(v) {
  return typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v);
}

function checkInteger(option, value) {
  // Numeric strings are accepted so that `port: process.env.PORT` works.
  const n = isIntegerString(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < option.min || n > option.max) {
    throw new Problem(`must be an integer from ${option.min} to ${option.max}`);
  }
  return n;
}

function checkHost(option, value) {
  if (typeof value !== 'string' || value.trim() === '' || /[\s/]/.test(value)) {
    throw new Problem('must be a host name or IP address (a non-empty string without spaces or slashes)');
  }
  // '[::1]' is how people write IPv6 in URLs; listen() wants it bare.
  return /^\[.*\]$/.test(value) ? value.slice(1, -1) : value;
}

// scheme://host[:port], where host may be '*.' + a domain, a name, an IPv4
// address or a bracketed IPv6 address. 'null' is the Origin of file:// pages.
const ORIGIN_RE = /^[a-z][a-z0-9+.-]*:\/\/(\*\.)?([a-z0-9_~%!$&'()+;=-][a-z0-9_~%!$&'()+;=.-]*|\[[0-9a-f:.]+\])(:\d{1,5})?$/i;

function checkOrigins(option, value) {
  let list = value;
  // A single string may be '*', one origin, or a comma list (the CLI form).
  if (typeof value === 'string') list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!Array.isArray(list)) {
    throw new Problem("must be '*' or an array of origin strings like 'http://example.com:8080'");
  }
  if (list.length === 0) {
    throw new Problem("must list at least one origin (use '*' to allow every origin)");
  }
  const out = [];
  for (const item of list) {
    if (typeof item !== 'string') {
      throw new Problem(`must contain only strings, but one element is ${describe(item)}`, { showsValue: list !== value });
    }
    let origin = item.trim();
    if (origin === '*') return ['*'];
    if (origin === 'null') { out.push(origin); continue; }
    // Browsers never send a trailing slash, but people often write one.
    if (origin.endsWith('/')) origin = origin.slice(0, -1);
    if (!ORIGIN_RE.test(origin)) {
      throw new Problem(`must contain origins of the form 'scheme://host[:port]' (or '*'), but ${describe(item)} is not one`,
        { showsValue: typeof value === 'string' && list.length === 1 });
    }
    const port = /:(\d+)$/.exec(origin.replace(/^[^:]*:\/\//, ''));
    if (port && Number(port[1]) > 65535) {
      throw new Problem(`must contain valid ports, but ${describe(item)} has port ${port[1]}`,
        { showsValue: typeof value === 'string' && list.length === 1 });
    }
    // Scheme and host are case-insensitive; browsers send them lower-case.
    out.push(origin.toLowerCase());
  }
  return [...new Set(out)];
}

function checkDirectory(option, value) {
  if (typeof value !== 'string' || value === '') {
    throw new Problem('must be the path of a directory');
  }
  const dir = path.resolve(value);
  let stat;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    throw new Problem(`must be an existing directory, but ${dir} does not exist`);
  }
  if (!stat.isDirectory()) throw new Problem(`must be a directory, but ${dir} is not one`);
  return dir;
}

function checkDocroot(option, value) {
  if (value === false) return false;
  if (typeof value !== 'string') throw new Problem('must be the path of a directory, or false to turn it off');
  return checkDirectory(option, value);
}

function checkPolicyPort(option, value) {
  if (value === false) return 0;
  if (value === true) return 843;
  const n = isIntegerString(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Problem('must be true (port 843), false (off), or a port number from 1 to 65535');
  }
  return n; // 0 also means off, so normalized options normalize again unchanged
}

function checkBoolean(option, value) {
  if (typeof value !== 'boolean') throw new Problem('must be true or false');
  return value;
}

function checkChoice(option, value) {
  if (!option.choices.includes(value)) {
    throw new Problem(`must be one of ${option.choices.map((c) => `'${c}'`).join(', ')}`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Named applications (the "apps" option, usually from the --config file).

// The names of apps and their modules, and their URLs, follow the rules of
// resource names: the loader's, so the two can never disagree.
const { isSegment, resourceName } = require('./loader');
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** The types a module may declare in configKeys, and how each is checked. */
const APP_VALUE_TYPES = {
  string: { test: (v) => typeof v === 'string', says: 'a string' },
  number: { test: (v) => typeof v === 'number' && Number.isFinite(v), says: 'a number' },
  boolean: { test: (v) => typeof v === 'boolean', says: 'true or false' },
  'string[]': { test: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), says: 'an array of strings' },
  object: { test: isPlainObject, says: 'an object' },
};

/**
 * Whether a string is an app URL: '/' or a path of one or more valid segments.
 * @param {string} url
 */
function isAppUrl(url) {
  return typeof url === 'string' && resourceName(url) !== null;
}

/**
 * Loads an app's module (the server would load it anyway) to read what it
 * declares: configKeys (checked here) and an optional validateConfig hook.
 */
function appModule(name, moduleName, explicit, modulesDir) {
  const file = path.join(modulesDir, ...moduleName.split('/')) + '.js';
  let stat = null;
  try { stat = fs.statSync(file); } catch (_) { /* reported below */ }
  if (!stat || !stat.isFile()) {
    if (!explicit) {
      throw new Problem(`has no module: ${file} does not exist (set "module" to the module that implements it)`,
        { key: `.${name}`, showsValue: true });
    }
    throw new Problem(`must name a module of the modules folder, but ${file} does not exist`,
      { key: `.${name}.module`, value: moduleName });
  }
  let exported;
  try {
    exported = require(file);
  } catch (err) {
    throw new Problem(`names ${file}, which failed to load: ${err && err.message ? err.message : err}`,
      { key: `.${name}.module`, showsValue: true });
  }
  const Module = exported && exported.Module;
  const pick = (key) => (Module && Module[key] !== undefined ? Module[key] : exported && exported[key]);
  const configKeys = pick('configKeys') || {};
  const validate = pick('validateConfig');
  return { file, configKeys, validate: typeof validate === 'function' ? validate : null };
}

/**
 * Checks the apps option and normalizes it to
 * { [app]: { module, urls, ...settings } }, leaving out apps without URLs
 * (they are off). Every app is checked, on or off, so a typo is found
 * before the day the app is turned on.
 * @param {object} option the OPTIONS entry
 * @param {*} value
 * @param {{ modules?: string }} [context] the normalized modules folder
 */
function checkApps(option, value, context) {
  if (!isPlainObject(value)) {
    throw new Problem('must be an object mapping application names to sections like { "urls": ["/path"] }');
  }
  const modulesDir = (context && context.modules) || BY_NAME.get('modules').default;
  const out = {};
  const urlOwner = new Map();
  for (const name of Object.keys(value)) {
    const section = value[name];
    if (!isSegment(name) || name === '__proto__') { // '__proto__' would set out's prototype, not a key
      throw new Problem(`has an invalid application name ${describe(name)}: use letters, digits, '_', '-' and '.'`,
        { showsValue: true });
    }
    if (!isPlainObject(section)) {
      throw new Problem('must be an object like { "urls": ["/path"] }', { key: `.${name}`, value: section });
    }
    let urls = section.urls === undefined || section.urls === null ? [] : section.urls;
    if (!Array.isArray(urls)) {
      throw new Problem('must be an array of URL paths like ["/chat"]', { key: `.${name}.urls`, value: urls });
    }
    urls = urls.slice();
    for (const url of urls) {
      if (!isAppUrl(url)) {
        throw new Problem(`must contain paths made of '/' and segments of [A-Za-z0-9_.-] (not '.' or '..'), ` +
          `but ${describe(url)} is not one`, { key: `.${name}.urls`, showsValue: true });
      }
      if (urlOwner.has(url)) {
        const other = urlOwner.get(url);
        throw new Problem(`lists ${url}, which ${other === name ? 'it lists twice' : `application "${other}" also uses`}: ` +
          'each URL belongs to one application', { key: `.${name}.urls`, showsValue: true });
      }
      urlOwner.set(url, name);
    }
    const moduleName = section.module === undefined ? name : section.module;
    if (typeof moduleName !== 'string' || moduleName === '' || !moduleName.split('/').every(isSegment)) {
      throw new Problem('must be the name of a module of the modules folder, like "chat" for chat.js',
        { key: `.${name}.module`, value: moduleName });
    }
    const mod = appModule(name, moduleName, section.module !== undefined, modulesDir);
    const settings = {};
    for (const key of Object.keys(section)) {
      if (key === 'urls' || key === 'module') continue;
      const type = Object.prototype.hasOwnProperty.call(mod.configKeys, key) ? mod.configKeys[key] : undefined;
      if (type === undefined) {
        const known = ['urls', 'module', ...Object.keys(mod.configKeys)];
        const hint = closest(key, known);
        throw new Problem(`is not a setting of this application (module ${moduleName}.js accepts ${known.join(', ')})` +
          `${hint ? `; did you mean ${hint}?` : ''}`, { key: `.${name}.${key}`, showsValue: true });
      }
      const check = APP_VALUE_TYPES[type];
      if (!check) {
        throw new Problem(`cannot be checked: module ${moduleName}.js declares its type as ${describe(type)}, ` +
          `not one of ${Object.keys(APP_VALUE_TYPES).join(', ')}`, { key: `.${name}.${key}`, showsValue: true });
      }
      if (!check.test(section[key])) {
        throw new Problem(`must be ${check.says}`, { key: `.${name}.${key}`, value: section[key] });
      }
      // A copy: the server's view of its config must not change under it.
      settings[key] = structuredClone(section[key]);
    }
    if (mod.validate) {
      // The module's own deeper checks; it returns what is wrong, e.g.
      // 'files["a.log"] must be a path'.
      const problem = mod.validate(Object.assign({ urls: urls.slice(), module: moduleName }, settings));
      if (typeof problem === 'string' && problem !== '') {
        throw new Problem(problem, { key: `.${name}.`, showsValue: true });
      }
    }
    if (urls.length > 0) out[name] = Object.assign({ module: moduleName, urls }, settings);
  }
  return out;
}

// ---------------------------------------------------------------------------
// permessage-deflate.

function checkDeflate(option, value) {
  if (value === false) return false;
  if (value === true) value = {};
  if (!isPlainObject(value)) {
    throw new Problem('must be true, false, or an object like { threshold: 1024, serverNoContextTakeover: true }');
  }
  const known = DEFLATE_PARAMS.map((p) => p.key);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const hint = closest(key, known);
      throw new Problem(`is not a permessage-deflate parameter (they are ${known.join(', ')})${hint ? `; did you mean ${hint}?` : ''}`,
        { key: `.${key}`, showsValue: true });
    }
  }
  const out = {};
  for (const p of DEFLATE_PARAMS) {
    const v = value[p.key] === undefined ? p.default : value[p.key];
    if (p.type === 'boolean') {
      if (typeof v !== 'boolean') throw new Problem('must be true or false', { key: `.${p.key}`, value: v });
      out[p.key] = v;
    } else {
      const n = isIntegerString(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < p.min || n > p.max) {
        throw new Problem(`must be an integer from ${p.min} to ${p.max}`, { key: `.${p.key}`, value: v });
      }
      out[p.key] = n;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// TLS. Certificates and keys are given as PEM contents or as file paths;
// files are read here, once, so a missing file or a key that does not match
// its certificate stops `new Server()` with a message naming the file.

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
  return checkOne(BY_NAME.get('tls'), raw, 'option tls');
}

// ---------------------------------------------------------------------------
// Sharing a port, authorization, proxies.

function checkHttpServer(option, value) {
  if (value === null || value === undefined) return null;
  if (value instanceof net.Server && typeof value.on === 'function') return value;
  if (typeof value === 'function' && typeof value.listen === 'function') {
    throw new Problem('must be the http.Server, not the app: pass what app.listen() or http.createServer(app) returns', { showsValue: true });
  }
  throw new Problem('must be an http.Server or https.Server (from http.createServer()), or null');
}

function checkFunction(option, value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'function') throw new Problem('must be a function (info) => true | false | { status, reason } | Promise, or null');
  return value;
}

function checkTrustProxy(option, value) {
  if (value === true || value === false) return value;
  let list = value;
  if (typeof value === 'string') list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!Array.isArray(list)) {
    throw new Problem("must be true (every peer), false (none), or a list of addresses and CIDR ranges like ['127.0.0.1', '10.0.0.0/8']");
  }
  const out = [];
  for (const item of list) {
    if (typeof item !== 'string' || item.trim() === '') {
      throw new Problem(`must contain addresses or CIDR ranges (strings), but one element is ${describe(item)}`,
        { showsValue: list !== value });
    }
    const entry = item.trim();
    if (!out.includes(entry)) out.push(entry);
  }
  if (out.length === 0) return false;
  try {
    compileTrust(out); // lib/forwarded.js: the one reader of trust lists
  } catch (err) {
    const why = String(err && err.message ? err.message : err).replace(/^option trustProxy:\s*/, '');
    throw new Problem(`must contain addresses or CIDR ranges like '10.0.0.0/8' (or loopback, linklocal, uniquelocal): ${why}`,
      { showsValue: true });
  }
  return out;
}

const CHECKS = {
  deflate: checkDeflate,
  tls: checkTls,
  httpServer: checkHttpServer,
  function: checkFunction,
  trustProxy: checkTrustProxy,
  choice: checkChoice,
  apps: checkApps,
  integer: checkInteger,
  host: checkHost,
  origins: checkOrigins,
  directory: checkDirectory,
  docroot: checkDocroot,
  policyPort: checkPolicyPort,
  boolean: checkBoolean,
};

/** A short, single-line rendering of a received value for error messages. */
function describe(value) {
  let s = util.inspect(value, { breakLength: Infinity, depth: 2, maxArrayLength: 10, maxStringLength: 80 });
  if (s.length > 100) s = s.slice(0, 97) + '...';
  return s;
}

function invalid(message, option, extra) {
  return new WebSocketError('WS_ERR_INVALID_OPTION', message, Object.assign({ option }, extra));
}

/** The known option name closest to `name`, or undefined when none is close. */
function closest(name, candidates) {
  const lower = name.toLowerCase();
  let best;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return bestDistance <= Math.max(2, Math.floor(lower.length / 3)) ? best : undefined;
}

function editDistance(a, b) {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * Checks one option's value and returns it normalized.
 * @param {object} option an entry of OPTIONS
 * @param {*} value
 * @param {string|((key: string) => string)} label how to name the option in a
 *   message ('option port' or '--port'); a function gets the part at fault
 *   ('.cert', or '' for the whole option) and names both
 */
function checkOne(option, value, label, context) {
  try {
    return CHECKS[option.type](option, value, context);
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    const shown = err.hasValue ? err.value : value;
    // '.chat.' + 'files ...' (from a module's validateConfig) reads 'apps.chat.files ...'.
    const sep = err.key.endsWith('.') ? '' : err.colon ? ': ' : ' ';
    const name = typeof label === 'function' ? label(err.key) : `${label}${err.key}`;
    throw invalid(`${name}${sep}${err.message}${err.showsValue ? '' : ` (received ${describe(shown)})`}`,
      option.name, err.key ? { key: `${option.name}${err.key.replace(/\.$/, '')}` } : undefined);
  }
}

// A default must not clash with another option the user set: with a small
// maxBufferedAmount, the default maxBackpressure follows it down.
function clampDefaults(opts, given) {
  if (given.maxBackpressure === undefined && opts.maxBackpressure > opts.maxBufferedAmount) {
    opts.maxBackpressure = opts.maxBufferedAmount;
  }
}

// Rules that involve more than one option.
function checkTogether(opts, label) {
  if (opts.highWaterMark > opts.maxBufferedAmount) {
    throw invalid(`${label('highWaterMark')} must not exceed ${label('maxBufferedAmount')} (${opts.maxBufferedAmount}), ` +
      `or send() would never report backpressure before the connection is closed (received ${opts.highWaterMark})`,
    'highWaterMark');
  }
  if (opts.maxBackpressure > opts.maxBufferedAmount) {
    throw invalid(`${label('maxBackpressure')} must not exceed ${label('maxBufferedAmount')} (${opts.maxBufferedAmount}), ` +
      `or a slow subscriber would be closed by the buffer limit before the backpressure policy applies (received ${opts.maxBackpressure})`,
    'maxBackpressure');
  }
  if (opts.policyPort !== 0 && opts.policyPort === opts.port && !opts.noServer && opts.server === null) {
    throw invalid(`${label('policyPort')} must differ from ${label('port')}: the main port answers policy requests by itself ` +
      `(received ${opts.policyPort})`, 'policyPort');
  }
  if (opts.noServer && opts.server !== null) {
    throw invalid(`${label('noServer')} and ${label('server')} exclude each other: with server, upgrades come from that server; ` +
      'with noServer, from your calls to handleUpgrade()', 'noServer');
  }
  const attached = opts.noServer ? 'noServer' : opts.server !== null ? 'server' : null;
  if (opts.tls !== null && attached) {
    throw invalid(`${label('tls')} applies to the engine's own listener, not with ${label(attached)}: ` +
      'there TLS is terminated by your https server', 'tls');
  }
  if (opts.proxyProtocol && attached) {
    throw invalid(`${label('proxyProtocol')} needs the engine's own listener (the PROXY header comes before HTTP), ` +
      `not ${label(attached)}`, 'proxyProtocol');
  }
  if (opts.proxyProtocol && opts.trustProxy === false) {
    throw invalid(`${label('proxyProtocol')} needs ${label('trustProxy')}: a PROXY header is believed only from a trusted peer, ` +
      'and with trustProxy false every connection would be refused', 'proxyProtocol');
  }
}

/**
 * Returns a new plain object holding every option, defaulted and normalized:
 * origins is an array of strings (['*'] for all), modules and docroot are
 * absolute paths (docroot may be false), policyPort is a port number (0 = off).
 * Normalizing normalized options gives the same options back.
 * @param {object} [userOptions] as passed to `new Server(options)`; undefined values count as absent
 * @returns {object}
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION', `option` set to the option at fault
 */
function normalizeOptions(userOptions) {
  if (userOptions === undefined || userOptions === null) userOptions = {};
  if (typeof userOptions !== 'object' || Array.isArray(userOptions)) {
    throw invalid(`options must be an object (received ${describe(userOptions)})`, undefined);
  }
  for (const name of Object.keys(userOptions)) {
    if (!BY_NAME.has(name)) {
      const hint = closest(name, [...BY_NAME.keys()]);
      throw invalid(`unknown option ${JSON.stringify(name)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`, name);
    }
  }
  const out = {};
  // In OPTIONS order, so apps (last) is checked against the modules folder chosen.
  for (const option of OPTIONS) {
    const given = userOptions[option.name];
    out[option.name] = checkOne(option, given === undefined ? option.default : given, `option ${option.name}`, out);
  }
  clampDefaults(out, userOptions);
  checkTogether(out, (name) => `option ${name}`);
  return out;
}

// ---------------------------------------------------------------------------
// A small parser of JavaScript literals, for command-line values. It only
// ever builds numbers, strings, booleans, null and arrays: nothing is evaluated.

const NUMBER_RE = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const SIMPLE_ESCAPES = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', 0: '\0' };

function syntaxError(text, pos, what) {
  return new WebSocketError('WS_ERR_INVALID_OPTION', `${what} at position ${pos} in ${JSON.stringify(text)}`, { position: pos });
}

/**
 * Parses one JavaScript literal: a number, a 'single' or "double" quoted
 * string (with escapes), an array (nested, trailing comma allowed), true,
 * false or null. Anything else is a bare word and stands for itself as a
 * string: at top level it runs to the end of the text, inside an array to the
 * next ',' or ']'. Never evaluates anything.
 * @param {string} text
 * @returns {number|string|boolean|null|Array}
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION' on bad input, with `position`
 */
function parseLiteral(text) {
  if (typeof text !== 'string') throw new TypeError('parseLiteral expects a string');
  let pos = 0;

  const skipSpace = () => { while (pos < text.length && /\s/.test(text[pos])) pos++; };

  // The end of a bare word or number: the end of the text at top level,
  // ',' or ']' inside an array.
  const atEnd = (depth, i) => (depth === 0 ? i >= text.length : i >= text.length || text[i] === ',' || text[i] === ']');

  function bareWord(depth) {
    const start = pos;
    if (depth === 0) pos = text.length;
    else while (pos < text.length && text[pos] !== ',' && text[pos] !== ']') pos++;
    return text.slice(start, pos).trim();
  }

  function quoted() {
    const quote = text[pos];
    const start = pos++;
    let out = '';
    while (pos < text.length) {
      const c = text[pos++];
      if (c === quote) return out;
      if (c !== '\\') { out += c; continue; }
      if (pos >= text.length) break;
      const e = text[pos++];
      if (e in SIMPLE_ESCAPES && !(e === '0' && /\d/.test(text[pos] || ''))) {
        out += SIMPLE_ESCAPES[e];
      } else if (e === 'x') {
        const hex = text.slice(pos, pos + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw syntaxError(text, pos - 2, 'bad \\x escape');
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 2;
      } else if (e === 'u') {
        let m;
        if ((m = /^\{([0-9a-fA-F]{1,6})\}/.exec(text.slice(pos))) && parseInt(m[1], 16) <= 0x10ffff) {
          out += String.fromCodePoint(parseInt(m[1], 16));
          pos += m[0].length;
        } else if ((m = /^[0-9a-fA-F]{4}/.exec(text.slice(pos)))) {
          out += String.fromCharCode(parseInt(m[0], 16));
          pos += 4;
        } else {
          throw syntaxError(text, pos - 2, 'bad \\u escape');
        }
      } else if (e === '\r' || e === '\n' || e === '\u2028' || e === '\u2029') {
        if (e === '\r' && text[pos] === '\n') pos++; // line continuation
      } else {
        out += e; // \' \" \\ and any other character stand for themselves
      }
    }
    throw syntaxError(text, start, 'unterminated string');
  }

  function value(depth) {
    skipSpace();
    if (pos >= text.length) throw syntaxError(text, pos, 'expected a value');
    const c = text[pos];
    if (c === '"' || c === "'") return quoted();
    if (c === '[') return array(depth + 1);
    if (c === ']' || c === ',') throw syntaxError(text, pos, `unexpected '${c}'`);
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (m) {
      let end = pos + m[0].length;
      while (end < text.length && /\s/.test(text[end])) end++;
      if (atEnd(depth, end)) { pos = end; return Number(m[0]); }
      return bareWord(depth); // e.g. 127.0.0.1 or 8080abc: a word, not a number
    }
    for (const [word, result] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, pos)) {
        let end = pos + word.length;
        while (end < text.length && /\s/.test(text[end])) end++;
        if (atEnd(depth, end)) { pos = end; return result; }
      }
    }
    return bareWord(depth);
  }

  function array(depth) {
    const start = pos++;
    const out = [];
    for (;;) {
      skipSpace();
      if (pos >= text.length) throw syntaxError(text, start, "unterminated array (missing ']')");
      if (text[pos] === ']') { pos++; return out; }
      out.push(value(depth));
      skipSpace();
      if (text[pos] === ',') pos++;
      else if (text[pos] !== ']' && pos < text.length) throw syntaxError(text, pos, "expected ',' or ']'");
    }
  }

  const result = value(0);
  skipSpace();
  if (pos < text.length) throw syntaxError(text, pos, `unexpected ${JSON.stringify(text.slice(pos, pos + 20))} after the value`);
  return result;
}

// ---------------------------------------------------------------------------
// Command line.

// Options that may stand alone as flags (--log, --policy-port, --deflate,
// --trust-proxy) or be negated (--no-log): the ones that take true or false.
const FLAG_TYPES = new Set(['boolean', 'policyPort', 'deflate', 'trustProxy']);
const NEGATABLE_TYPES = new Set(['boolean', 'policyPort', 'docroot', 'deflate', 'trustProxy', 'tls']);
// Options whose value may be a JSON object on the command line (--tls='{"cert": ...}').
const JSON_TYPES = new Set(['apps', 'deflate', 'tls']);

// Command-line values arrive as text, and quotes may come through literally
// (--port='8080' run without a shell), so a quoted '8080' is still a port.
function coerceCliValue(option, value) {
  // --host=[::1] is the URL spelling of an IPv6 address, not a list.
  if (option.type === 'host' && Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') {
    return value[0];
  }
  if (typeof value !== 'string') return value;
  const s = value.trim();
  if ((option.type === 'integer' || option.type === 'policyPort') && isIntegerString(s)) return Number(s);
  if (FLAG_TYPES.has(option.type) && (s === 'true' || s === 'false')) return s === 'true';
  if ((option.type === 'docroot' || option.type === 'tls') && s === 'false') return false;
  return value;
}

function cliError(message, option) {
  return invalid(message, option);
}

function lookupCli(name) {
  const option = BY_CLI.get(name);
  if (option) {
    if (option.codeOnly) {
      throw cliError(`${option.cli} cannot be given on the command line: ${option.name} is set from code ` +
        `(new Server({ ${option.name} }))${option.name === 'authorize' ? '' : '; runserver.js always listens itself'}`, option.name);
    }
    return option;
  }
  const hint = closest(name, [...OPTIONS.filter((o) => !o.codeOnly).map((o) => o.cli.slice(2)), ...PART_CLI.keys(), 'config', 'help']);
  throw cliError(`unknown option --${name}${hint ? ` (did you mean --${hint}?)` : ''}`, name);
}

// How messages name a part of tls or perMessageDeflate set by its own flag.
function partLabel(option) {
  const params = option.name === 'tls' ? TLS_PARAMS : DEFLATE_PARAMS;
  return (key) => {
    if (key === '') return option.cli;
    const p = params.find((x) => key === `.${x.key}`);
    return p && p.cli ? p.cli : `${option.name}${key}`;
  };
}

// The value of a flag like --deflate-threshold=512 or --tls-cert=cert.pem.
function partValue(param, text, flag) {
  let v;
  try {
    v = parseLiteral(text);
  } catch (err) {
    throw cliError(`invalid value for ${flag}: ${err.message}`, param.option);
  }
  if (param.type === 'integer' && typeof v === 'string' && isIntegerString(v)) return Number(v);
  if (param.type === 'boolean' && (v === 'true' || v === 'false')) return v === 'true';
  // File names and passphrases are text, whatever they look like (--tls-passphrase=1234).
  if (param.type === undefined && typeof v !== 'string') return text.trim();
  return v;
}

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
 * Reads Server options from command-line arguments. Accepts --name=value,
 * --name value, bare --flag (true) for log, policy-port, deflate,
 * trust-proxy and proxy-protocol, --no-flag (false) for those and docroot
 * and tls, kebab-case or camelCase names, and -h / --help. Values are
 * JavaScript literals (see parseLiteral), except --apps, whose value is
 * JSON (--deflate and --tls take JSON objects too). The parts of
 * perMessageDeflate and tls have flags of their own (--deflate-threshold=512,
 * --tls-cert=FILE, ...). --config FILE reads options and apps from a JSON
 * file (see lib/config.js); options on the command line override it.
 * @param {string[]} argv process.argv.slice(2)
 * @returns {{ options: object, help: boolean, config?: string }} options holds
 *   only the options given (in the file or on the command line), each
 *   normalized; pass it to `new Server(options)`. config is the file's
 *   absolute path when --config was given.
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION', message naming the option
 */
function parseArgv(argv) {
  if (argv.some((a) => a === '--help' || a === '-h')) return { options: {}, help: true };
  const given = {};
  let configFile;
  let cliApps; // checked last, against the modules folder finally chosen
  // Parts set by their own flags: option name -> { key: value }, and the flag used first.
  const parts = { perMessageDeflate: {}, tls: {} };
  const partFlag = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 < argv.length) throw cliError(`unexpected argument ${JSON.stringify(argv[i + 1])}: runserver takes only --options`);
      break;
    }
    if (!arg.startsWith('--') || arg.length === 2) {
      throw cliError(`unexpected argument ${JSON.stringify(arg)}: options are written --name=value`);
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let text = eq === -1 ? undefined : arg.slice(eq + 1);
    let option;
    let raw;

    if (name === 'config') {
      if (configFile !== undefined) throw cliError('--config may be given once', 'config');
      if (text === undefined) {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--') || next === '-h') {
          throw cliError('--config needs a file, e.g. --config=server.json', 'config');
        }
        text = next;
        i++;
      }
      let file;
      try {
        file = text.trim() === '' ? '' : parseLiteral(text); // --config='x.json' spawned without a shell
      } catch (err) {
        throw cliError(`invalid value for --config: ${err.message}`, 'config');
      }
      if (typeof file !== 'string' || file === '') throw cliError('--config needs a file, e.g. --config=server.json', 'config');
      configFile = file;
      continue;
    }

    // --deflate-threshold=512, --tls-cert=FILE, --[no-]deflate-server-no-context-takeover
    const negatedPart = name.startsWith('no-') && PART_CLI.has(name.slice(3));
    if (PART_CLI.has(name) || negatedPart) {
      const { option: parent, param } = PART_CLI.get(negatedPart ? name.slice(3) : name);
      const flag = param.cli;
      let v;
      if (negatedPart) {
        if (param.type !== 'boolean') throw cliError(`${flag} cannot be negated with --${name}`, parent.name);
        if (text !== undefined) throw cliError(`--${name} takes no value`, parent.name);
        v = false;
      } else {
        if (text === undefined) {
          const next = argv[i + 1];
          const nextIsValue = next !== undefined && (!next.startsWith('--') || /^-\d/.test(next)) && next !== '-h';
          if (param.type === 'boolean') {
            if (nextIsValue && (next === 'true' || next === 'false')) { text = next; i++; }
          } else if (nextIsValue) {
            text = next;
            i++;
          } else {
            throw cliError(`${flag} needs a value, e.g. ${flag}=${param.type === 'integer' ? param.default : param.arg}`, parent.name);
          }
        }
        if (text !== undefined && text.trim() === '') {
          throw cliError(`${flag} needs a value, e.g. ${flag}=${param.type === 'integer' ? param.default : param.arg}`, parent.name);
        }
        v = text === undefined ? true : partValue(Object.assign({ option: parent.name }, param), text, flag);
      }
      if (Object.prototype.hasOwnProperty.call(parts[parent.name], param.key)) {
        throw cliError(`${flag} is given twice`, parent.name);
      }
      parts[parent.name][param.key] = v;
      if (!partFlag[parent.name]) partFlag[parent.name] = flag;
      continue;
    }

    if (name.startsWith('no-') && !BY_CLI.has(name)) {
      option = lookupCli(name.slice(3));
      if (!NEGATABLE_TYPES.has(option.type)) throw cliError(`${option.cli} cannot be negated with --no-${name.slice(3)}`, option.name);
      if (text !== undefined) throw cliError(`--${name} takes no value`, option.name);
      raw = option.type === 'tls' ? null : false;
    } else {
      option = lookupCli(name);
      if (text === undefined) {
        const next = argv[i + 1];
        const nextIsValue = next !== undefined && (!next.startsWith('--') || /^-\d/.test(next)) && next !== '-h';
        if (option.type === 'trustProxy' || option.type === 'deflate') {
          // --trust-proxy 10.0.0.1, --deflate '{"level": 1}': any next argument that is not an option.
          if (nextIsValue) { text = next; i++; }
        } else if (FLAG_TYPES.has(option.type)) {
          // A flag takes the next argument only when it is a value for it.
          const literal = nextIsValue ? coerceCliValue(option, next) : undefined;
          if (typeof literal === 'boolean' || typeof literal === 'number') { text = next; i++; }
        } else if (nextIsValue) {
          text = next;
          i++;
        } else {
          throw cliError(`${option.cli} needs a value, e.g. ${option.cli}=${exampleValue(option)}`, option.name);
        }
      }
      if (text === undefined) {
        raw = true;
      } else if (text.trim() === '') {
        throw cliError(`${option.cli} needs a value, e.g. ${option.cli}=${exampleValue(option)}`, option.name);
      } else if (option.type === 'apps') {
        cliApps = parseJsonOption(option, text);
        continue;
      } else if (JSON_TYPES.has(option.type) && /^'?\s*\{/.test(text.trim())) {
        raw = parseJsonOption(option, text);
      } else {
        try {
          raw = parseLiteral(text);
        } catch (err) {
          throw cliError(`invalid value for ${option.cli}: ${err.message}`, option.name);
        }
      }
    }
    given[option.name] = checkOne(option, coerceCliValue(option, raw), option.cli);
  }

  let fromFile = { options: {}, apps: undefined, label: '' };
  if (configFile !== undefined) fromFile = require('./config').loadConfig(configFile);

  // Parts given by their own flags complete the option given whole (on the
  // command line, or else in the file); they turn it on when it was off.
  for (const name of Object.keys(parts)) {
    if (Object.keys(parts[name]).length === 0) continue;
    const option = BY_NAME.get(name);
    if (given[name] === false || given[name] === null) {
      throw cliError(`${partFlag[name]} cannot be combined with --no-${option.cli.slice(2)}`, name);
    }
    const base = given[name] !== undefined ? given[name] : fromFile.options[name];
    let merged;
    if (name === 'tls') {
      merged = base ? tlsAsWritten(base) : {};
      for (const [k, v] of Object.entries(parts.tls)) merged[k] = v;
    } else {
      merged = Object.assign({}, base && base !== true ? base : {}, parts[name]);
    }
    given[name] = checkOne(option, merged, partLabel(option));
  }

  // The command line overrides the file, option by option (apps as a whole).
  const options = Object.assign({}, fromFile.options, given);
  const appsOption = BY_NAME.get('apps');
  if (cliApps !== undefined) {
    options.apps = checkOne(appsOption, cliApps, appsOption.cli, { modules: options.modules });
  } else if (fromFile.apps !== undefined) {
    options.apps = checkOne(appsOption, fromFile.apps, `${fromFile.label}: apps`, { modules: options.modules });
  }
  // Rules across options, with names as they are written on the command line.
  const together = Object.assign(normalizeDefaultsOnly(), options);
  clampDefaults(together, options);
  checkTogether(together, (n) => BY_NAME.get(n).cli);
  const result = { options, help: false };
  if (configFile !== undefined) result.config = fromFile.file;
  return result;
}

// --apps takes JSON (an object cannot be written as a literal of parseLiteral).
function parseJsonOption(option, text) {
  let s = text.trim();
  // Quotes that came through literally (spawned without a shell).
  if (s.length >= 2 && s[0] === "'" && s[s.length - 1] === "'") s = s.slice(1, -1);
  try {
    return JSON.parse(s);
  } catch (err) {
    throw cliError(`invalid value for ${option.cli}: not JSON (${err.message})`, option.name);
  }
}

// Defaults, normalized without touching the file system twice per call.
let cachedDefaults;
function normalizeDefaultsOnly() {
  if (!cachedDefaults) {
    cachedDefaults = {};
    for (const o of OPTIONS) {
      cachedDefaults[o.name] = o.type === 'directory' || o.type === 'docroot' ? o.default : CHECKS[o.type](o, o.default);
    }
  }
  return Object.assign({}, cachedDefaults);
}

function exampleValue(option) {
  switch (option.type) {
    case 'integer': return String(option.default);
    case 'origins': return "['http://example.com']";
    case 'host': return 'example.com';
    case 'tls': return `'{"cert": "cert.pem", "key": "key.pem"}'`;
    default: return option.arg || 'VALUE';
  }
}

function shownDefault(option) {
  if (option.shown) return option.shown;
  return typeof option.default === 'string' ? `'${option.default}'` : String(option.default);
}

// Splits text into lines of at most `width` characters, at spaces.
function wrap(text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

// The rows of --help: [left column, description] per option and part flag.
function helpRows() {
  const rows = [];
  for (const o of OPTIONS) {
    if (o.codeOnly) continue;
    let left;
    if (o.type === 'boolean') left = `${o.cli}, --no-${o.cli.slice(2)}`;
    else if (o.type === 'policyPort') left = `${o.cli}[=${o.arg}]`;
    else if (o.type === 'deflate') left = `${o.cli}[=${o.arg}], --no-${o.cli.slice(2)}`;
    else if (o.type === 'trustProxy') left = `${o.cli}[=${o.arg}]`;
    else left = `${o.cli}=${o.arg}`;
    rows.push([left, `${o.doc} Default: ${shownDefault(o)}.`]);
    if (o.type === 'deflate') {
      for (const p of DEFLATE_PARAMS) {
        const l = p.type === 'boolean' ? `  ${p.cli}` : `  ${p.cli}=${p.arg}`;
        rows.push([l, `${p.doc} Default: ${p.default}.`]);
      }
    } else if (o.type === 'tls') {
      for (const p of TLS_PARAMS) {
        if (p.cli) rows.push([`  ${p.cli}=${p.arg}`, `${p.doc}${p.key === 'cert' || p.key === 'key' ? ' Required for wss://.' : ` Default: ${p.shown}.`}`]);
      }
    }
  }
  return rows;
}

/**
 * The text of `runserver.js --help`: usage, then every option with its
 * default and its one-line description.
 * @returns {string}
 */
function helpText() {
  const rows = helpRows();
  rows.push(['--config=FILE', 'Read options and applications from a JSON file: ' +
    '{ "server": { "port": 8080, ... }, "apps": { "chat": { "urls": ["/chat"] } } } ' +
    '(server options may also sit at the top level, beside "apps"). Options on the command line override the file.']);
  rows.push(['-h, --help', 'Show this help and exit.']);
  const codeOnly = OPTIONS.filter((o) => o.codeOnly);
  const codeRows = codeOnly.map((o) => [o.name, `${o.doc} Default: ${shownDefault(o)}.`]);
  const width = Math.max(...rows.concat(codeRows).map((r) => r[0].length)) + 2;
  const format = (list) => list.map(([left, right]) => wrap(right, 100 - 2 - width)
    .map((line, i) => `  ${(i === 0 ? left : '').padEnd(width)}${line}`).join('\n'));
  const lines = [
    'Usage: node runserver.js [--option=value ...]',
    '',
    'Runs a node.websocket server: ws://HOST:PORT/NAME is served by MODULES/NAME.js',
    '(/ by _default.js) and plain HTTP GETs by the files in DOCROOT.',
    '',
    'Values are JavaScript literals, never evaluated: numbers, \'quoted\' or bare',
    'strings, [arrays], true, false. "--name value" works too, and every option',
    'also has a camelCase form (--maxPayload).',
    '',
    'Options:',
    ...format(rows),
    '',
    'Set from code only, with new Server({ ... }): runserver.js always listens itself',
    `and refuses ${codeOnly.map((o) => o.cli).join(', ')}.`,
    ...format(codeRows),
    '',
    'Example:',
    "  node runserver.js --port='8080' --host='some_other_host' --origins=['http://some_allowed_host']",
    '  node runserver.js --config=server.json --port=9000',
    '  node runserver.js --port=443 --host=:: --tls-cert=/etc/ssl/site.pem --tls-key=/etc/ssl/site.key --deflate',
    '',
  ];
  return lines.join('\n');
}

/**
 * The options as a Markdown table (the README pastes it).
 * @returns {string}
 */
function markdownTable() {
  const cell = (text) => text.replace(/\|/g, '\\|');
  const lines = ['| option | command line | default | meaning |', '| --- | --- | --- | --- |'];
  for (const o of OPTIONS) {
    let cli = `\`${o.cli}\``;
    if (o.type === 'apps') cli = `\`${o.cli}=JSON\`, or \`"apps"\` in the \`--config\` file`;
    else if (o.type === 'deflate') cli = `\`${o.cli}\`, \`${o.cli}=JSON\`, \`--no-${o.cli.slice(2)}\``;
    else if (o.type === 'tls') cli = `\`${o.cli}=JSON\`, or the \`--tls-*\` flags below`;
    else if (o.type === 'trustProxy') cli = `\`${o.cli}\`, \`${o.cli}=LIST\``;
    else if (o.codeOnly) cli = 'code only';
    lines.push(`| \`${o.name}\` | ${cli} | ${cell(shownDefault(o))} | ${cell(o.doc)} |`);
    if (o.type === 'deflate') {
      for (const p of DEFLATE_PARAMS) {
        lines.push(`| \`${o.name}.${p.key}\` | \`${p.cli}${p.type === 'boolean' ? '' : `=${p.arg}`}\` | ${p.default} | ${cell(p.doc)} |`);
      }
    } else if (o.type === 'tls') {
      for (const p of TLS_PARAMS) {
        const c = p.cli ? `\`${p.cli}=${p.arg}\`` : '`--tls=JSON`, the `--config` file';
        lines.push(`| \`${o.name}.${p.key}\` | ${cell(c)} | ${cell(p.shown)} | ${cell(p.doc)} |`);
      }
    }
  }
  return lines.join('\n');
}

module.exports = {
  OPTIONS,
  DEFLATE_PARAMS,
  TLS_PARAMS,
  APP_VALUE_TYPES,
  normalizeOptions,
  loadTls,
  isAppUrl,
  // For lib/config.js.
  _internal: { BY_NAME, checkOne, closest, describe, invalid, isPlainObject },
  parseLiteral,
  parseArgv,
  helpText,
  markdownTable,
};
