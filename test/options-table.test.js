'use strict';

// Bad configuration, driven by the option table (lib/options/table.js): every
// option and every key of a structured option is given wrong types,
// out-of-range numbers and unknown names through the three ways in (the
// command line, the --config file, new Server()), and each must be refused
// with a message naming it. The cases come from the table: a type without bad
// values below, or a key of gateway/tls/perMessageDeflate without any, fails
// the first tests, so a new option cannot escape. parseArgv is what
// runserver.js runs on its argv and config file (its error means exit 2); a
// few real runs of runserver.js show the exit status and stderr.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const util = require('util');
const { spawn } = require('child_process');
const { SECTIONS, OPTIONS, TYPES, PARTS } = require('../lib/options/table');
const { GATEWAY_KEYS } = require('../lib/options/gateway');
const { parseArgv, helpText } = require('../lib/options');
const { exampleValue } = require('../lib/options/help');
const { Server } = require('../lib');
const { makeCerts } = require('./certs');

const root = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'options-table-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const missing = path.join(tmp, 'does-not-exist');
const aFile = path.join(tmp, 'a-file');
fs.writeFileSync(aFile, 'not a directory\n');
const aDir = path.join(tmp, 'services');
fs.mkdirSync(aDir);

// Out of range for an integer with min and max, and not integers at all.
function badIntegers(min, max) {
  return [min - 1, max + 1, 1.5, 'eighty', true, null, [1], {}];
}

/**
 * Bad values of the whole option, per type. A case is a value, or
 * { value, cli } where cli is the command-line text (false: the value is
 * fine as text on the command line, where it is read differently).
 */
const BAD = {
  integer: (o) => badIntegers(o.min, o.max),
  // ['h'] on the command line is --host=[h], the URL spelling of a host: fine there.
  host: () => ['', 'a host', 'a/b', 5, true, null, { value: ['h'], cli: false }],
  origins: () => [[], 'example.com', ['ftp//x'], [5], 'http://x:99999', 5, true, null, {}],
  directory: () => [missing, aFile, '', 5, false, null],
  docroot: () => [missing, aFile, '', 5, true, null],
  policyPort: () => [65536, -1, 1.5, 'abc', null, []],
  boolean: () => [{ value: 'true', cli: false }, 'yes', 1, 0, null, []],
  choice: (o) => [o.choices[0].toUpperCase(), 'bogus', 1, null, true],
  apps: () => [5, 'chat', [], { chat: 5 }, { 'bad name!': { urls: ['/x'] } }],
  deflate: () => [5, 'yes', [], { value: null, cli: false }],
  tls: () => [5, 'yes', true, [], {}],
  httpServer: () => [5, 'server', true, {}, []],
  function: () => [5, 'authorize', true, {}],
  trustProxy: () => [5, [5], ['not-an-address'], '10.0.0.0/99', {}],
  workers: () => [0, 1025, -1, 1.5, 'many', true],
  redisUrl: () => ['http://127.0.0.1:6379', 'redis://127.0.0.1:99999', 5, true],
  redisKey: () => ['', 'k'.repeat(1025), 5, true, []],
  gateway: () => [5, true, [], {}],
  metrics: () => [65536, -1, 'x:y', '[::1', true, []],
  sockjsPrefix: () => ['sockjs', '/a/', '/a b', 5, true, null, []],
  sockjsUrl: () => ['', 'a b', '"x"', { value: 5, cli: false }, { value: null, cli: false }, { value: [], cli: false }],
};

/**
 * Bad values of the keys of structured options, each merged into a valid
 * base (valid(): the rest of the object). cli: as for BAD.
 */
let certs = null;
const tlsBase = () => { certs = certs || makeCerts(); return { cert: certs.cert, key: certs.key }; };
const KEYS = {
  perMessageDeflate: {
    valid: () => ({}),
    keys: Object.fromEntries(PARTS.perMessageDeflate.map((p) => [p.key,
      p.type === 'integer' ? badIntegers(p.min, p.max).filter((v) => v !== null) : ['yes', 1, { value: 'true', cli: false }]])),
    unknown: 'levels',
  },
  tls: {
    valid: tlsBase,
    keys: {
      cert: [missing, aFile, 5, ''],
      key: [missing, aFile, 5, ''],
      passphrase: [{ value: 5, cli: false }, { value: [], cli: false }],
      ca: [missing, aFile, 5],
      minVersion: ['TLSv1', 'TLSv1.1', 5],
      sni: [{ value: 5, cli: false }, { value: { 'bad name!': {} }, cli: false }, { value: { 'a.test': 5 }, cli: false }],
    },
    unknown: 'certs',
  },
  gateway: {
    valid: () => ({ services: aDir }),
    keys: {
      services: [missing, aFile, 5, ''],
      allow: ['a/b', [5], 5, ['']],
      deny: ['a/b', [5], 5],
      prefix: ['x', '/x', 'x/', 5],
      framing: ['bogus', 'LINE', 5],
      direct: ['yes', 1],
    },
    unknown: 'framings',
  },
  metrics: {
    valid: () => ({ port: 9100 }),
    keys: { host: [5, 'a host', ''], port: [65536, -1, 'x', 1.5] },
    unknown: 'hots',
  },
  apps: {
    valid: () => ({}),
    // An app of modules/log-view.js: its settings are declared in configKeys.
    keys: {
      urls: [{ value: { 'log-view': { urls: '/x' } } }, { value: { 'log-view': { urls: ['no-slash'] } } }],
      module: [{ value: { 'log-view': { urls: ['/x'], module: 'no-such-module' } } }],
      refresh: [{ value: { 'log-view': { urls: ['/x'], refresh: 'soon' } } }],
      // history is the engine's (server.setHistory), for any app: subscription name -> limits
      history: [5, [], { feed: 5 }, { feed: null }, { feed: {} }, { feed: { messages: 0 } }, { feed: { messages: 1.5 } },
        { feed: { messages: 10, bytes: -1 } }, { feed: { messages: 10, seconds: 'soon' } }, { feed: { messages: 10, ttl: 3 } },
        { '': { messages: 10 } }].map((history) => ({ value: { 'log-view': { urls: ['/x'], history } } })),
    },
    wholeValue: true, // the values above are the whole option
    keyOf: (key) => `.log-view.${key}`,
    unknown: null,
  },
};

// Values only code can pass (no JSON or command line carries them): every
// type refuses them, but a function where a function is wanted.
const EXOTIC = [Symbol('port'), 10n, () => 1, NaN, Infinity, -Infinity, new Date(0), new Map([['port', 1]])];

const asCase = (c) => (c !== null && typeof c === 'object' && !Array.isArray(c) && 'value' in c ? c : { value: c });
function jsonable(v) {
  try {
    return v !== undefined && JSON.stringify(v) !== undefined && util.isDeepStrictEqual(JSON.parse(JSON.stringify(v)), v);
  } catch (_) {
    return false; // a BigInt
  }
}

// How a value is written on the command line: a literal, or JSON for objects.
function cliText(value) {
  return JSON.stringify(value);
}

// Every bad case of every option: { option, key, value, cli }. key is '' for
// the option as a whole, '.framing' for one of its keys; cli is null when the
// value is not written on the command line.
function allCases() {
  const cases = [];
  for (const o of OPTIONS) {
    for (const c of BAD[o.type](o).map(asCase)) {
      cases.push({ option: o, key: '', value: c.value, cli: c.cli === false ? null : cliText(c.value) });
    }
    for (const value of EXOTIC) {
      if (o.type === 'function' && typeof value === 'function') continue;
      cases.push({ option: o, key: '', value, cli: null });
    }
    const k = KEYS[o.name];
    if (!k) continue;
    for (const [key, list] of Object.entries(k.keys)) {
      for (const c of list.map(asCase)) {
        const value = k.wholeValue ? c.value : Object.assign(k.valid(), { [key]: c.value });
        cases.push({ option: o, key: k.keyOf ? k.keyOf(key) : `.${key}`, value, cli: c.cli === false ? null : cliText(value) });
      }
    }
    if (k.unknown) {
      const value = Object.assign(k.valid(), { [k.unknown]: 1 });
      cases.push({ option: o, key: `.${k.unknown}`, value, cli: cliText(value) });
    }
  }
  return cases;
}

// Runs fn, which must throw an invalid-option error passing check; returns
// what went wrong, or null. The tests gather these to list every failure.
function refused(what, fn, check) {
  let err = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (err === null) return `${what}: accepted`;
  if (err.code !== 'WS_ERR_INVALID_OPTION') return `${what}: ${err.stack}`;
  try {
    check(err);
  } catch (e) {
    return `${what}: ${e.message}`;
  }
  return null;
}

function noFailures(failures) {
  assert.deepEqual(failures.filter(Boolean), []);
}

// Whether a message names the option and its key: 'option gateway.framing',
// 'option metrics: port must ...', 'option metrics: has no key "hots"'.
function names(message, option, key) {
  if (message.includes(`${option}${key}`)) return true;
  const at = message.indexOf(`${option}: `);
  return key !== '' && at !== -1 && new RegExp(`\\b${key.slice(1)}\\b`).test(message.slice(at + option.length));
}

const show = (v) => util.inspect(v, { breakLength: Infinity, depth: 3 });
let configCount = 0;
function writeConfig(data) {
  const file = path.join(tmp, `c${configCount++}.json`);
  fs.writeFileSync(file, JSON.stringify(data));
  return file;
}

describe('the table is covered', () => {
  test('every type of the table has bad values here', () => {
    for (const type of Object.keys(TYPES)) assert.ok(BAD[type], `type ${type} has no bad values in this test`);
    for (const o of OPTIONS) assert.ok(BAD[o.type](o).length >= 3, `option ${o.name} has at least three bad values`);
  });

  test('every integer option has a range, and its bad values hold both ends', () => {
    for (const o of OPTIONS.filter((x) => x.type === 'integer')) {
      assert.ok(Number.isInteger(o.min) && Number.isInteger(o.max), `${o.name} has min and max`);
      const bad = BAD.integer(o);
      assert.ok(bad.includes(o.min - 1) && bad.includes(o.max + 1), o.name);
    }
  });

  test('every key of gateway, tls and perMessageDeflate has bad values here', () => {
    for (const [name, params] of Object.entries(PARTS)) {
      for (const p of params) assert.ok(KEYS[name].keys[p.key], `${name}.${p.key} has bad values in this test`);
    }
    for (const k of GATEWAY_KEYS) assert.ok(KEYS.gateway.keys[k.key], `gateway.${k.key} has bad values in this test`);
    for (const name of Object.keys(KEYS)) assert.ok(OPTIONS.some((o) => o.name === name), `${name} is an option`);
  });

  test('--help gives every option its default', () => {
    const text = helpText().replace(/\s+/g, ' ');
    for (const o of OPTIONS) {
      const shown = o.shown || (typeof o.default === 'string' ? `'${o.default}'` : String(o.default));
      assert.ok(text.includes(`${o.doc} Default: ${shown}.`), `--help gives ${o.cli} its default ${shown}`);
    }
    for (const p of PARTS.perMessageDeflate) assert.ok(text.includes(`${p.doc} Default: ${p.default}.`), p.cli);
  });
});

describe('bad values are refused, naming the option', () => {
  const cases = allCases();

  test(`new Server(options): ${cases.length} cases throw naming the option`, () => {
    const failures = [];
    for (const c of cases) {
      const options = c.option.name === 'log' ? { log: c.value } : { [c.option.name]: c.value, log: false };
      failures.push(refused(`new Server(${show(options)})`, () => new Server(options), (err) => {
        assert.equal(err.option, c.option.name, `option of "${err.message}" for ${show(options)}`);
        assert.ok(names(err.message, `option ${c.option.name}`, c.key),
          `"${err.message}" names option ${c.option.name}${c.key} (value ${show(c.value)})`);
      }));
    }
    noFailures(failures);
  });

  test('the command line: each case exits 2 naming the flag', (t) => {
    const failures = [];
    let n = 0;
    for (const c of cases) {
      const o = c.option;
      if (o.codeOnly) {
        // Refused whatever the value: it is set from code.
        failures.push(refused(o.cli, () => parseArgv([`${o.cli}=1`]), (err) => {
          assert.match(err.message, new RegExp(`^${o.cli} cannot be given on the command line`));
        }));
        continue;
      }
      if (c.cli === null) continue;
      const argv = [`${o.cli}=${c.cli}`];
      if (o.name === 'proxyProtocol') argv.push('--trust-proxy'); // or refused for another reason
      n++;
      failures.push(refused(argv.join(' '), () => parseArgv(argv), (err) => {
        assert.equal(err.option, o.name, `option of "${err.message}" for ${argv}`);
        // Only JSON types take an object on the command line; others name the flag alone.
        assert.ok(names(err.message, o.cli, TYPES[o.type].json ? c.key : ''), `"${err.message}" names ${o.cli}${c.key} (argv ${argv})`);
      }));
    }
    assert.ok(n > 150, `${n} command lines`);
    t.diagnostic(`${n} command lines`);
    noFailures(failures);
  });

  test('the flags of parts (--deflate-level, --tls-cert, ...): each bad value exits 2 naming the flag', (t) => {
    const failures = [];
    let n = 0;
    for (const [name, params] of Object.entries(PARTS)) {
      for (const p of params) {
        if (!p.cli) continue;
        for (const c of KEYS[name].keys[p.key].map(asCase)) {
          if (c.cli === false) continue;
          if (typeof c.value === 'string' && c.value === '') continue; // "needs a value", checked below
          const base = Object.entries(KEYS[name].valid()).filter(([k]) => k !== p.key)
            .map(([k, v]) => PARTS[name].find((x) => x.key === k).cli + '=' + v);
          const argv = [...base, `${p.cli}=${typeof c.value === 'string' ? c.value : cliText(c.value)}`];
          n++;
          failures.push(refused(argv.join(' '), () => parseArgv(argv), (err) => {
            assert.equal(err.option, name);
            assert.ok(err.message.includes(p.cli), `"${err.message}" names ${p.cli} (argv ${argv})`);
          }));
        }
        failures.push(refused(p.cli, () => parseArgv([`${p.cli}=`]), (err) => {
          assert.match(err.message, new RegExp(`^${p.cli} needs a value`));
        }));
      }
    }
    assert.ok(n > 30, `${n} command lines`);
    t.diagnostic(`${n} command lines`);
    noFailures(failures);
  });

  test('the config file, in both shapes: each case exits 2 naming the file and the key', (t) => {
    const failures = [];
    let n = 0;
    for (const c of cases) {
      if (!jsonable(c.value)) continue;
      const o = c.option;
      // Both shapes: { "server": { name: value } } and name: value at the top level.
      // The option 'server' at the top level would read as the nested shape itself.
      const nested = o.name === 'server' || (n % 2 === 0 && o.name !== 'apps');
      const file = writeConfig(nested ? { server: { [o.name]: c.value } } : { [o.name]: c.value });
      n++;
      const keyPath = `${nested ? 'server.' : ''}${o.name}${c.key}`;
      failures.push(refused(`${file}: ${show(c.value)}`, () => parseArgv([`--config=${file}`]), (err) => {
        assert.equal(err.option, o.name, `option of "${err.message}"`);
        assert.ok(names(err.message, `${file}: ${keyPath.slice(0, keyPath.length - c.key.length)}`, c.key),
          `"${err.message}" names ${file}: ${keyPath}`);
      }));
    }
    assert.ok(n > 150, `${n} config files`);
    t.diagnostic(`${n} config files`);
    noFailures(failures);
  });
});

test('options set from code only are refused in the config file too, whatever their value', () => {
  const failures = [];
  for (const o of OPTIONS.filter((x) => x.codeOnly)) {
    for (const value of [o.default, true]) {
      // "server" at the top level is the section of options, so only server.server.
      for (const [data, keyPath] of [[{ [o.name]: value }, o.name], [{ server: { [o.name]: value } }, `server.${o.name}`]]) {
        if (keyPath === 'server') continue;
        const file = writeConfig(data);
        failures.push(refused(`${keyPath}: ${show(value)}`, () => parseArgv([`--config=${file}`]), (err) => {
          assert.equal(err.option, o.name);
          assert.ok(err.message.startsWith(`${file}: ${keyPath} cannot be set in a config file: ${o.name} is set from code`), err.message);
        }));
      }
    }
  }
  noFailures(failures);
});

test('the command line: an empty value, --no- of what cannot be negated, and --no-X=value exit 2 naming the flag', () => {
  const failures = [];
  for (const o of OPTIONS.filter((x) => !x.codeOnly)) {
    const name = o.cli.slice(2);
    failures.push(refused(`${o.cli}=`, () => parseArgv([`${o.cli}=`]), (err) => {
      assert.equal(err.message, `${o.cli} needs a value, e.g. ${o.cli}=${exampleValue(o)}`);
    }));
    if (TYPES[o.type].negatable) {
      failures.push(refused(`--no-${name}=1`, () => parseArgv([`--no-${name}=1`]), (err) => {
        assert.equal(err.message, `--no-${name} takes no value`);
      }));
    } else {
      failures.push(refused(`--no-${name}`, () => parseArgv([`--no-${name}`]), (err) => {
        assert.equal(err.message, `${o.cli} cannot be negated with --no-${name}`);
      }));
    }
    if (!TYPES[o.type].flag && !TYPES[o.type].optionalValue) {
      failures.push(refused(`${o.cli} alone`, () => parseArgv([o.cli]), (err) => {
        assert.match(err.message, new RegExp(`^${o.cli} needs a value`));
      }));
    }
  }
  noFailures(failures);
});

describe('unknown names are refused, with the name and a hint', () => {
  test('new Server({ <option>x })', () => {
    const failures = [];
    for (const o of OPTIONS) {
      const typo = `${o.name}x`;
      failures.push(refused(typo, () => new Server({ [typo]: 1 }), (err) => {
        assert.equal(err.message, `unknown option "${typo}" (did you mean "${o.name}"?)`);
      }));
    }
    noFailures(failures);
  });

  test('--<option>x on the command line', () => {
    const failures = [];
    for (const o of OPTIONS.filter((x) => !x.codeOnly)) {
      const typo = `${o.cli.slice(2)}x`;
      failures.push(refused(typo, () => parseArgv([`--${typo}=1`]), (err) => {
        assert.equal(err.message, `unknown option --${typo} (did you mean ${o.cli}?)`);
      }));
    }
    noFailures(failures);
  });

  test('<option>x in the config file, at the top level and under "server"', () => {
    const failures = [];
    for (const o of OPTIONS) {
      const typo = `${o.name}x`;
      for (const [data, keyPath] of [[{ [typo]: 1 }, typo], [{ server: { [typo]: 1 } }, `server.${typo}`]]) {
        const file = writeConfig(data);
        failures.push(refused(keyPath, () => parseArgv([`--config=${file}`]), (err) => {
          // apps belongs at the top level, so under "server" it is no hint.
          const hint = keyPath === 'server.appsx' ? '' : ` (did you mean "${o.name}"?)`;
          assert.equal(err.message, `${file}: unknown key "${keyPath}"${hint}`);
        }));
      }
    }
    noFailures(failures);
  });
});

describe('runserver.js itself: exit status 2 and the name on stderr, one option per section', () => {
  function run(args) {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(root, 'runserver.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      child.on('error', reject);
      child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    });
  }

  // The first option of each section that the command line takes, with its first bad value.
  const cases = allCases();
  const picks = SECTIONS.map((s) => s.OPTIONS.find((o) => !o.codeOnly)).filter(Boolean)
    .map((o) => cases.find((x) => x.option === o && x.cli !== null && jsonable(x.value)));

  test(`${picks.length} sections, on the command line and in the config file`, async () => {
    assert.equal(picks.length, SECTIONS.length);
    const runs = [];
    for (const c of picks) {
      const file = writeConfig({ server: { [c.option.name]: c.value } });
      runs.push(run([`${c.option.cli}=${c.cli}`]).then((r) => ({ r, name: `${c.option.cli}${c.key}`, c })));
      runs.push(run([`--config=${file}`]).then((r) => ({ r, name: `${file}: server.${c.option.name}${c.key}`, c })));
    }
    // The gateway key of the issue, in the file.
    const gw = writeConfig({ gateway: { services: aDir, framing: 'bogus' } });
    runs.push(run([`--config=${gw}`]).then((r) => ({ r, name: `${gw}: gateway.framing` })));
    for (const { r, name } of await Promise.all(runs)) {
      assert.equal(r.code, 2, `${name}: exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, /^runserver: /);
      assert.ok(r.stderr.includes(name), `stderr names ${name}: ${r.stderr}`);
      assert.match(r.stderr, /Try 'node runserver\.js --help'/);
      assert.equal(r.stdout, '');
    }
  });

  test('--version prints the name and the version of package.json, and exits 0', async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `node.websocket ${require('../package.json').version}\n`);
    assert.equal(r.stderr, '');
  });
});
