'use strict';

// A fuzzer for the ways options come in: the command-line literal parser
// (lib/options/literal.js), runserver.js's argv (lib/options/cli.js) and the
// --config file (lib/config.js), all checked by the option table
// (lib/options/table.js). A seeded generator of its own makes malformed and
// boundary inputs: random characters (lone surrogates, controls, astral),
// deep nesting, huge numbers, -0, NaN and Infinity, duplicate keys,
// __proto__ / constructor / prototype keys, very long strings, wrong types
// for every table entry and unknown names. Every input must give a value
// that the table allows, or the project's own error (WebSocketError
// WS_ERR_INVALID_OPTION) naming the option: never a TypeError, RangeError,
// stack overflow or hang, and never a polluted prototype.
//
// In npm test it runs a bounded number of inputs from a fixed seed. A long run:
//   FUZZ_ITERATIONS=1000000 FUZZ_CLI_RUNS=500 node test/options-fuzz.test.js
// (FUZZ_SEED=N picks another seed; a failure prints the seed and the input.)

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { OPTIONS, TYPES, PARTS, BY_NAME, PART_CLI } = require('../lib/options/table');
const { parseLiteral, parseArgv, normalizeOptions } = require('../lib/options');
const { parseConfig } = require('../lib/config');
const { WebSocketError } = require('../lib/errors');
const { FRAMINGS } = require('../lib/options/gateway');
const { MAX_WORKERS } = require('../lib/options/workers');

const SEED = Number(process.env.FUZZ_SEED || 20261203) >>> 0;
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS || 3000);
const CLI_RUNS = Number(process.env.FUZZ_CLI_RUNS || 100);
// One input taking this long is a hang: generous, the machine may be loaded.
const HANG_MS = Number(process.env.FUZZ_HANG_MS || 30000);

const root = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'options-fuzz-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const aDir = path.join(tmp, 'dir');
fs.mkdirSync(aDir);
const aFile = path.join(tmp, 'file');
fs.writeFileSync(aFile, 'not a directory\n');

// ---------------------------------------------------------------------------
// The generator: mulberry32, so a seed replays the same inputs anywhere.

function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const g = {
    int,
    chance: (p) => next() < p,
    pick: (list) => list[int(list.length)],
  };

  // Characters: mostly printable ASCII, with controls, Latin-1, line
  // separators, lone surrogates and astral code points mixed in.
  g.char = () => {
    const r = int(20);
    if (r < 12) return String.fromCharCode(32 + int(95));
    if (r === 12) return String.fromCharCode(int(32));
    if (r === 13) return String.fromCharCode(0x7f + int(0x81));
    if (r === 14) return g.pick(['\u2028', '\u2029', '\u00a0', '\ufeff', '\u200b', '\u3000']);
    if (r === 15) return String.fromCharCode(0xd800 + int(0x800)); // a lone surrogate
    if (r === 16) return String.fromCodePoint(0x10000 + int(0x100000));
    if (r === 17) return String.fromCharCode(0x100 + int(0xd700));
    return g.pick(['[', ']', ',', '"', "'", '\\', ' ', '=', '-', '.', ':', '/', '{', '}']);
  };
  g.chars = (n) => { let s = ''; for (let i = 0; i < n; i++) s += g.char(); return s; };

  // Pieces of literals that sit on the parser's boundaries.
  const ATOMS = ['0', '-0', '+0', '00', '1', '-1', '65535', '65536', '1e309', '-1e309', '1e-400', '1e21', '1.5',
    'NaN', 'Infinity', '-Infinity', '0x10', '0b1', '0o7', '1_000', '9007199254740993', '2147483648', '-2147483649',
    '.5', '5.', '1e', 'e5', '+', '-', '.', '1e+', 'true', 'false', 'null', 'undefined', 'True', 'NULL', 'yes', 'auto',
    '[', ']', ',', '[]', '[,]', '[1,]', '[[]]', '"', "'", '\\', '\\x', '\\x4g', '\\x41', '\\u', '\\u12', '\\u0041',
    '\\u{110000}', '\\u{10FFFF}', '\\u{}', '\\uD800', '\\0', '\\01', '\\\n', '\\\r\n', ' ', '\t', '\n', '\r\n',
    '\u00a0', '\u2028', '\ufeff', '\u00e9', '\u{1F600}', '\ud800', '\udfff', '\u0000', '__proto__', 'constructor',
    'prototype', 'toString', 'hasOwnProperty', '{', '}', '{"a":1}', ':', '127.0.0.1', '::1', '[::1]', '*',
    'http://a.b:80', 'http://x:99999', '/', '..', 'localhost', '=', '--', '--port', 'false,true', 'drop', 'close'];

  // A JS-literal-ish text: atoms and characters, a deep nest, or a long run.
  g.literalText = () => {
    const r = int(10);
    if (r === 0) {
      const depth = g.pick([2, 50, 99, 100, 101, 200, 1000, 5000, 20000]);
      const open = g.chance(0.5) ? '[' : g.pick(['[', '[1,', "['a',", '[ ']);
      return open.repeat(depth) + (g.chance(0.5) ? ']'.repeat(depth) : g.pick(['', ']', '1']));
    }
    if (r === 1) {
      const n = g.pick([1000, 65536, 100000]);
      const q = g.pick(['"', "'", '']);
      return q + g.pick(['a', '\\u0041', '\\x41', '\\', ' ', '\u{1F600}', 'é']).repeat(n) + (g.chance(0.7) ? q : '');
    }
    let s = '';
    const n = 1 + int(8);
    for (let i = 0; i < n; i++) s += g.chance(0.6) ? g.pick(ATOMS) : g.chars(1 + int(6));
    return s;
  };

  // A random value, to be written as a JSON object or a literal.
  g.value = (depth = 0) => {
    const r = int(depth > 4 ? 6 : 9);
    if (r === 0) return g.pick([0, -0, 1, -1, 0.5, 1e21, 1e308, -1e308, 2 ** 53, 2 ** 31, 65535, 65536, 8, 15, 16, 1024, 843]);
    if (r === 1) return g.chance(0.5) ? g.chars(int(12)) : g.pick(ATOMS);
    if (r === 2) return g.chance(0.5);
    if (r === 3) return null;
    if (r === 4) return g.pick(['drop', 'close', 'log', 'exit', 'auto', 'ouistiti', 'line', '*', 'loopback', '10.0.0.0/8',
      '127.0.0.1:9100', '[::1]:9100', 'redis://127.0.0.1:1', 'redis+unix:///nowhere', 'http://a.example',
      '/', '/chat', 'chat', 'echo', aDir, aFile, '.', 'test', 'modules', 'TLSv1.3', '']);
    if (r === 5) return int(1 << 16) - 1000;
    if (r === 6 || r === 7) {
      const out = [];
      const n = int(4);
      for (let i = 0; i < n; i++) out.push(g.value(depth + 1));
      return out;
    }
    return g.object(depth + 1, []);
  };

  // Keys: the given known ones, dangerous ones, near misses and noise.
  g.key = (known) => {
    const r = int(10);
    if (r < 6 && known.length > 0) return g.pick(known);
    if (r === 6) return g.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']);
    if (r === 7 && known.length > 0) return g.typo(g.pick(known));
    return g.chars(int(10));
  };
  g.typo = (word) => {
    const i = int(word.length + 1);
    const r = int(3);
    if (r === 0) return word.slice(0, i) + g.char() + word.slice(i);
    if (r === 1) return word.slice(0, i) + word.slice(i + 1);
    return word.toUpperCase();
  };
  // Pairs, not an object: JSON text may repeat a key, and __proto__ must stay a key.
  g.object = (depth, known) => {
    const pairs = [];
    const n = int(5);
    for (let i = 0; i < n; i++) pairs.push([g.key(known), g.value(depth)]);
    return { pairs };
  };
  return g;
}

// JSON text of a generated value; objects as their pairs, in order, repeats kept.
function toJson(v) {
  if (v && typeof v === 'object' && Array.isArray(v.pairs)) {
    return `{${v.pairs.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  }
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (typeof v === 'number' && Object.is(v, -0)) return '-0';
  return JSON.stringify(v);
}

// A generated value as a literal of parseLiteral, when it is one (no objects).
function toLiteral(g, v) {
  if (Array.isArray(v)) return `[${v.map((x) => toLiteral(g, x)).join(g.pick([',', ', ', ' ,']))}${v.length && g.chance(0.2) ? ',' : ''}]`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') {
    if (g.chance(0.5)) return JSON.stringify(v);
    let s = "'";
    for (const c of v) {
      const code = c.codePointAt(0);
      if (c === "'" || c === '\\') s += '\\' + c;
      else if (code < 0x20) s += '\\x' + code.toString(16).padStart(2, '0');
      else if (code > 0xffff && g.chance(0.5)) s += `\\u{${code.toString(16)}}`;
      else s += c;
    }
    return s + "'";
  }
  return String(v);
}
const isLiteralValue = (v) => v === null || ['number', 'string', 'boolean'].includes(typeof v) ||
  (Array.isArray(v) && v.every(isLiteralValue));

// ---------------------------------------------------------------------------
// What the table allows: an oracle per type, written apart from its checker.
// A type without one fails the test, so a new type cannot escape the fuzzer.

const isInt = (v, min, max) => Number.isInteger(v) && v >= min && v <= max;
const isPlain = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) &&
  [Object.prototype, null].includes(Object.getPrototypeOf(v));
const isDir = (v) => typeof v === 'string' && path.isAbsolute(v) && fs.statSync(v).isDirectory();

const ALLOWED = {
  integer: (v, o) => isInt(v, o.min, o.max),
  host: (v) => typeof v === 'string' && v.trim() !== '' && !/[\s/]/.test(v),
  origins: (v) => Array.isArray(v) && v.length > 0 && (v.length === 1 && v[0] === '*' ||
    v.every((x) => x === 'null' || (typeof x === 'string' && x === x.toLowerCase() &&
      /^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/.test(x) && !(/:(\d+)$/.exec(x.slice(x.indexOf('//'))) > 65535)))),
  directory: isDir,
  docroot: (v) => v === false || isDir(v),
  policyPort: (v) => isInt(v, 0, 65535),
  boolean: (v) => typeof v === 'boolean',
  choice: (v, o) => o.choices.includes(v),
  apps: (v) => isPlain(v) && Object.entries(v).every(([name, app]) => name !== '__proto__' && isPlain(app) &&
    typeof app.module === 'string' && Array.isArray(app.urls) && app.urls.length > 0 &&
    app.urls.every((u) => typeof u === 'string' && u.startsWith('/'))),
  deflate: (v) => v === false || (isPlain(v) &&
    Object.keys(v).sort().join() === PARTS.perMessageDeflate.map((p) => p.key).sort().join() &&
    PARTS.perMessageDeflate.every((p) => (p.type === 'boolean' ? typeof v[p.key] === 'boolean' : isInt(v[p.key], p.min, p.max)))),
  tls: (v) => v === null || (isPlain(v) && Buffer.isBuffer(v.cert) && Buffer.isBuffer(v.key)),
  httpServer: () => false, // codeOnly: never from the command line or a config file
  function: () => false,
  trustProxy: (v) => typeof v === 'boolean' ||
    (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x !== '' && x === x.trim())),
  workers: (v) => v === null || v === 'auto' || isInt(v, 1, MAX_WORKERS),
  redisUrl: (v) => v === null || (typeof v === 'string' && /^redis(\+unix)?:\/\//.test(v)),
  redisKey: (v, o) => (v === null && o.default === null) || (typeof v === 'string' && v.length >= 1 && v.length <= 1024),
  gateway: (v) => v === null || (isPlain(v) && isDir(v.services) &&
    [v.allow, v.deny].every((l) => Array.isArray(l) && l.every((x) => typeof x === 'string' && x !== '' && !x.includes('/'))) &&
    typeof v.prefix === 'string' && v.prefix.startsWith('/') && v.prefix.endsWith('/') &&
    FRAMINGS.includes(v.framing) && typeof v.direct === 'boolean'),
  sockjsPrefix: (v) => v === false || (typeof v === 'string' && /^(\/[A-Za-z0-9_.~-]+)+$/.test(v)),
  sockjsUrl: (v) => typeof v === 'string' && v.length >= 1 && v.length <= 1000 && !/["<>\s]/.test(v),
  metrics: (v) => v === false || (isPlain(v) && Object.keys(v).sort().join() === 'host,port' &&
    typeof v.host === 'string' && v.host !== '' && isInt(v.port, 0, 65535)),
};

// Options as parseArgv / parseConfig return them: known names, allowed values.
function assertAllowed(options, input) {
  assert.ok(isPlain(options), `options are not a plain object for ${show(input)}`);
  for (const name of Object.keys(options)) {
    const o = BY_NAME.get(name);
    assert.ok(o, `unknown option ${JSON.stringify(name)} accepted for ${show(input)}`);
    assert.ok(!o.codeOnly, `code-only option ${name} accepted for ${show(input)}`);
    assert.ok(ALLOWED[o.type](options[name], o), `${name} = ${show(options[name])} is not allowed by the table (input ${show(input)})`);
  }
}

// The project's error, with a message that names the option at fault.
function assertOwnError(err, input, named, files = []) {
  if (!(err instanceof WebSocketError) || err.code !== 'WS_ERR_INVALID_OPTION') {
    assert.fail(`${input.length > 300 ? 'an input' : show(input)} threw ${err && err.stack ? err.stack : err}`);
  }
  assert.equal(typeof err.message, 'string');
  if (named) {
    const o = BY_NAME.get(err.option);
    const parts = o ? (PARTS[o.name] || []).filter((p) => p.cli).map((p) => p.cli) : [];
    const names = o ? [o.cli, `--no-${o.cli.slice(2)}`, o.name, ...(o.aliases || []), ...parts]
      : err.option === 'config' ? ['--config', 'config file', ...files]
        : typeof err.option === 'string' ? [err.option, JSON.stringify(err.option)] : [];
    if (typeof err.key === 'string') names.push(err.key, JSON.stringify(err.key));
    assert.ok(names.length === 0 || names.some((n) => err.message.includes(n)),
      `the message does not name ${err.option}: ${err.message}`);
  }
}

const show = (v) => {
  let s;
  try { s = JSON.stringify(v); } catch (_) { s = String(v); }
  return s === undefined ? String(v) : s.length > 400 ? `${s.slice(0, 400)}... (${s.length} chars)` : s;
};

// Own properties of the prototypes, to see pollution at once.
const PROTOS = [Object.prototype, Array.prototype, Function.prototype, String.prototype];
const protoShape = () => PROTOS.map((p) => Reflect.ownKeys(p).map(String).sort().join()).join('|');
const PROTO_SHAPE = protoShape();
function assertNoPollution(input) {
  assert.equal(protoShape(), PROTO_SHAPE, `a prototype changed after ${show(input)}`);
  // eslint-disable-next-line guard-for-in
  for (const k in {}) assert.fail(`Object.prototype gained the enumerable key ${k} after ${show(input)}`);
}

// Runs one input and fails on a hang (a synchronous call cannot be stopped,
// so this is what ran too long, measured after it ends).
function timed(input, fn) {
  const start = process.hrtime.bigint();
  try {
    return fn();
  } finally {
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < HANG_MS, `${show(input)} took ${Math.round(ms)} ms`);
  }
}

// ---------------------------------------------------------------------------
// Inputs for each way in.

const CLI_NAMES = [];
for (const o of OPTIONS) {
  CLI_NAMES.push(o.cli.slice(2), o.name, `no-${o.cli.slice(2)}`, ...(o.aliases || []));
}
for (const name of PART_CLI.keys()) CLI_NAMES.push(name, `no-${name}`);
CLI_NAMES.push('config');

// A value for the option a flag names: a boundary of its type, or noise.
function cliValue(g, name) {
  const o = BY_NAME.get(name) || (PART_CLI.get(name) || {}).option;
  const r = g.int(6);
  if (r === 0 && o && o.min !== undefined) return String(g.pick([o.min, o.max, o.min - 1, o.max + 1, -0, 1e21]));
  if (r === 0 && o && o.choices) return g.pick([...o.choices, o.choices[0].toUpperCase(), `'${o.choices[1]}'`]);
  if (r === 1 && o && TYPES[o.type].json) return toJson(g.object(1, (PARTS[o.name] || []).map((p) => p.key)));
  if (r === 2) return toLiteral(g, g.value(2));
  return g.literalText();
}

function randomArgv(g, { configFile } = {}) {
  const argv = [];
  const n = g.int(6);
  for (let i = 0; i < n; i++) {
    const r = g.int(20);
    if (r === 0) { argv.push(g.pick(['--', '-', '---', '--=', '-x', 'word', '--=1', '-1'])); continue; }
    if (r === 1 && configFile) { argv.push(g.chance(0.5) ? `--config=${configFile}` : '--config', configFile); continue; }
    let name = r === 2 ? g.key(CLI_NAMES) : r === 3 ? g.typo(g.pick(CLI_NAMES)) : g.pick(CLI_NAMES);
    if (name === 'help' || name === 'h' || name === 'version') name = 'x'; // those answer at once
    const form = g.int(3);
    if (form === 0) argv.push(`--${name}=${cliValue(g, name)}`);
    else if (form === 1) argv.push(`--${name}`, cliValue(g, name));
    else argv.push(`--${name}`);
  }
  return argv;
}

// A config file's JSON text: options at the top or under "server", or noise.
const CONFIG_KEYS = [...BY_NAME.keys()];
function configText(g) {
  const r = g.int(12);
  if (r === 0) return g.chars(g.int(40));
  if (r === 1) return g.pick(['[]', '5', '"x"', 'null', '{}', '{"server": 5}', '{"apps": []}', '\ufeff{}', '{"a":1,}',
    '{"server": {"apps": {}}}', '{"port": 1, "server": {"port": 2}}', `{"port": 1, "port": 2}`, '{"__proto__": {"port": 1}}']);
  if (r === 2) return '['.repeat(g.pick([100, 5000, 100000])) + ']'.repeat(g.pick([0, 100000]));
  const pairs = g.object(1, CONFIG_KEYS).pairs;
  if (g.chance(0.3)) pairs.push(['server', g.object(1, CONFIG_KEYS)]);
  if (g.chance(0.2)) pairs.push(['apps', g.object(1, ['chat', 'echo', 'test', '__proto__'])]);
  // Values of the right type for the key, now and then: then deeper checks run.
  for (const pair of pairs) if (BY_NAME.has(pair[0]) && g.chance(0.3)) pair[1] = typedValue(g, BY_NAME.get(pair[0]));
  return toJson({ pairs });
}

function typedValue(g, o) {
  if (o.min !== undefined) return g.pick([o.min, o.max, o.min - 1, o.max + 1, -0, 0.5, String(o.max)]);
  if (o.choices) return g.pick(o.choices);
  if (PARTS[o.name]) return g.object(1, PARTS[o.name].map((p) => p.key));
  if (o.type === 'gateway') return g.object(1, ['services', 'allow', 'deny', 'prefix', 'framing', 'direct']);
  if (o.type === 'metrics') return g.object(1, ['host', 'port']);
  return g.value(1);
}

// ---------------------------------------------------------------------------
// The properties.

function fuzzLiteral(g) {
  // A literal written from a value reads back as that value.
  const v = g.value(0);
  if (isLiteralValue(v)) {
    const text = toLiteral(g, v);
    let back;
    try {
      back = timed(text, () => parseLiteral(text));
    } catch (err) {
      assert.fail(`${show(text)}, written from ${show(v)}, was refused: ${err.message}`);
    }
    assert.deepStrictEqual(back, v, `${show(text)} read back as ${show(back)}`);
  }
  // Any text: a literal value, or the project's error with a position in the text.
  const text = g.literalText();
  let out;
  try {
    out = timed(text, () => parseLiteral(text));
  } catch (err) {
    assertOwnError(err, text);
    assert.ok(Number.isInteger(err.position) && err.position >= 0 && err.position <= text.length,
      `bad position ${err.position} for ${show(text)}`);
    return;
  }
  assert.ok(isLiteralValue(out), `${show(text)} gave ${show(out)}, not a literal value`);
}

function fuzzArgv(g, configFile) {
  if (configFile) fs.writeFileSync(configFile, configText(g));
  const argv = randomArgv(g, { configFile });
  let result;
  try {
    result = timed(argv, () => parseArgv(argv));
  } catch (err) {
    assertOwnError(err, argv, true, [configFile]);
    assertNoPollution(argv);
    return;
  }
  assertNoPollution(argv);
  if (result.help || result.version) return; // -h, --help or --version anywhere: nothing else is read
  assertAllowed(result.options, argv);
  // What the command line accepts, the Server takes as it is, and options
  // normalized once normalize to themselves.
  let normal;
  try {
    normal = normalizeOptions(result.options);
  } catch (err) {
    assertOwnError(err, argv, true);
    return;
  }
  assert.deepStrictEqual(normalizeOptions(normal), normal, `normalizing ${show(argv)} twice differs`);
}

function fuzzConfig(g) {
  const text = configText(g);
  let data;
  try {
    data = JSON.parse(text);
  } catch (_) {
    return; // loadConfig refuses it before parseConfig (fuzzArgv covers that path)
  }
  let result;
  try {
    result = timed(text, () => parseConfig(data, { dir: tmp, label: 'fuzz.json' }));
  } catch (err) {
    assertOwnError(err, text, true, ['fuzz.json']);
    assert.ok(err.message.startsWith('fuzz.json'), `the message does not name the file: ${err.message}`);
    assertNoPollution(text);
    return;
  }
  assertNoPollution(text);
  assertAllowed(result.options, text);
}

// ---------------------------------------------------------------------------

test('every type of the option table has an oracle in this fuzzer', () => {
  assert.deepEqual(Object.keys(TYPES).filter((t) => !ALLOWED[t]), []);
});

test(`literals: ${ITERATIONS} generated texts read as a literal or are refused with a position (seed ${SEED})`, () => {
  const g = generator(SEED);
  for (let i = 0; i < ITERATIONS; i++) fuzzLiteral(g);
});

test(`argv: ${ITERATIONS} generated command lines, some with a generated --config file, give allowed options or an error naming the option (seed ${SEED})`, () => {
  const g = generator(SEED + 1);
  const file = path.join(tmp, 'server.json');
  for (let i = 0; i < ITERATIONS; i++) fuzzArgv(g, g.chance(0.3) ? file : undefined);
});

test(`config: ${ITERATIONS} generated config files give allowed options or an error naming the file and the key (seed ${SEED})`, () => {
  const g = generator(SEED + 2);
  for (let i = 0; i < ITERATIONS; i++) fuzzConfig(g);
});

// Regression tests: inputs the fuzzer found mishandled, each now refused cleanly.

test('an array literal nested 5000 deep is refused with a message, not a stack overflow', () => {
  for (const text of ['['.repeat(5000) + ']'.repeat(5000), '['.repeat(100000)]) {
    assert.throws(() => parseLiteral(text), (err) => err instanceof WebSocketError &&
      err.code === 'WS_ERR_INVALID_OPTION' && /nested/.test(err.message) && Number.isInteger(err.position));
  }
  assert.deepEqual(parseLiteral('['.repeat(50) + ']'.repeat(50)), JSON.parse('['.repeat(50) + ']'.repeat(50)));
  assert.throws(() => parseArgv(['--origins=' + '['.repeat(5000)]),
    (err) => err.code === 'WS_ERR_INVALID_OPTION' && /^invalid value for --origins: .*nested/.test(err.message));
});

test('an unknown key of 1 MiB in a config file is refused at once, without the quadratic "did you mean" search', () => {
  const key = 'x'.repeat(1024 * 1024);
  const start = process.hrtime.bigint();
  assert.throws(() => parseConfig({ [key]: 1 }, { dir: tmp, label: 'big.json' }),
    (err) => err.code === 'WS_ERR_INVALID_OPTION' && err.message.startsWith('big.json: unknown key "xxx') && !/did you mean/.test(err.message));
  assert.throws(() => parseArgv([`--${'p'.repeat(100000)}=1`]), /^WebSocketError: unknown option --ppp/);
  // The search is an edit-distance table per candidate: 1 MiB by ~20
  // characters by ~60 names took 4 s here; skipped, both take about 10 ms.
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(ms < 1000, `took ${Math.round(ms)} ms`);
  // Near misses still get their hint.
  assert.throws(() => parseConfig({ prot: 1 }, { dir: tmp, label: 'c.json' }), /unknown key "prot" \(did you mean "port"\?\)/);
});

test('host "[]" (brackets around nothing) is refused, not read as an empty host', () => {
  assert.throws(() => parseConfig({ host: '[]' }, { dir: tmp, label: 'h.json' }),
    (err) => err.code === 'WS_ERR_INVALID_OPTION' && err.message.startsWith('h.json: host must be a host name'));
  assert.throws(() => parseArgv(['--host=[]']), /--host must be a host name/);
  assert.equal(parseArgv(['--host=[::1]']).options.host, '::1');
});

// ---------------------------------------------------------------------------
// The real runserver.js: exit 2 naming the option, or a clean start.

const addon = path.join(root, 'build', 'Release', 'websocket.node');
// Pinned last, so a clean start listens on a free loopback port and nothing else.
const TAIL = ['--port=0', '--host=127.0.0.1', '--no-policy-port', '--no-metrics'];

function runServer(argv) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'runserver.js'), ...argv], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let started = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!started && /node\.websocket listening on /.test(stdout)) { started = true; child.kill('SIGTERM'); }
    });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, started }); });
  });
}

test(`runserver.js: ${CLI_RUNS} generated command lines exit 2 naming the option, or start cleanly (seed ${SEED})`, async () => {
  assert.ok(fs.existsSync(addon), `${addon} is missing: build the addon first (node scripts/build.js)`);
  const g = generator(SEED + 3);
  const cases = [];
  for (let i = 0; i < CLI_RUNS; i++) {
    // --workers starts processes and --redis connects out: not for a start here.
    // An argument reaches the child as UTF-8 (a lone surrogate becomes U+FFFD),
    // cannot hold a NUL byte, and has at most 128 KiB (Linux's MAX_ARG_STRLEN).
    const argv = [...randomArgv(g).filter((a) => !/^--(no-)?(workers|redis|log-key|config)\b/.test(a) &&
      !a.includes('\0') && Buffer.byteLength(a) < 100000)
      .map((a) => Buffer.from(a, 'utf8').toString('utf8')), ...TAIL];
    let expected;
    try {
      normalizeOptions(parseArgv(argv).options);
      expected = { start: true };
    } catch (err) {
      assertOwnError(err, argv, true);
      expected = { start: false, message: err.message };
    }
    cases.push({ argv, expected });
  }
  let next = 0;
  let starts = 0;
  async function worker() {
    while (next < cases.length) {
      const { argv, expected } = cases[next++];
      const r = await runServer(argv);
      const what = `${show(argv)}: status ${r.code}, stderr ${show(r.stderr)}`;
      if (expected.start) {
        starts++;
        assert.ok(r.started, `expected a clean start for ${what}`);
        assert.equal(r.code, 0, what);
      } else {
        assert.equal(r.code, 2, what);
        assert.ok(r.stderr.startsWith(`runserver: ${expected.message}\n`), `expected ${show(expected.message)} for ${what}`);
      }
    }
  }
  await Promise.all([worker(), worker(), worker()]);
  assert.ok(starts > 0, 'no generated command line was a clean start');
});
