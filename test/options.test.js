'use strict';

// Options: the literal parser, the command line, validation and --help.
// Pure functions: no server needed.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const https = require('https');
const { OPTIONS, DEFLATE_PARAMS, normalizeOptions, loadTls, parseLiteral, parseArgv, helpText, markdownTable } = require('../lib/options');
const { loadConfig } = require('../lib/config');
const { makeCerts } = require('./certs');

const root = path.join(__dirname, '..');
const appFixtures = path.join(__dirname, 'fixtures', 'apps');

function invalidOption(option, pattern) {
  return (err) => {
    assert.equal(err.code, 'WS_ERR_INVALID_OPTION', `code of ${err}`);
    if (option !== undefined) assert.equal(err.option, option, `option of "${err.message}"`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe('parseLiteral', () => {
  test('reads numbers, including negative, decimal and exponent forms', () => {
    assert.equal(parseLiteral('8080'), 8080);
    assert.equal(parseLiteral('-5'), -5);
    assert.equal(parseLiteral('1.5'), 1.5);
    assert.equal(parseLiteral('1e3'), 1000);
    assert.equal(parseLiteral('  42  '), 42);
  });

  test('reads single- and double-quoted strings with escapes', () => {
    assert.equal(parseLiteral("'8080'"), '8080');
    assert.equal(parseLiteral('"some_other_host"'), 'some_other_host');
    assert.equal(parseLiteral(String.raw`'it\'s'`), "it's");
    assert.equal(parseLiteral(String.raw`"a\"b"`), 'a"b');
    assert.equal(parseLiteral(String.raw`"tab\there\nnew\\"`), 'tab\there\nnew\\');
    assert.equal(parseLiteral(String.raw`'\x41\u0042\u{1F600}'`), 'AB\u{1F600}');
    assert.equal(parseLiteral(`"a,b]"`), 'a,b]');
    assert.equal(parseLiteral("''"), '');
  });

  test('reads true, false and null only as whole words', () => {
    assert.equal(parseLiteral('true'), true);
    assert.equal(parseLiteral('false'), false);
    assert.equal(parseLiteral('null'), null);
    assert.equal(parseLiteral('trueish'), 'trueish');
    assert.equal(parseLiteral('nullable'), 'nullable');
  });

  test('reads arrays, nested, with a trailing comma and quoted or bare elements', () => {
    assert.deepEqual(parseLiteral("['http://some_allowed_host']"), ['http://some_allowed_host']);
    assert.deepEqual(parseLiteral('[http://a, http://b:8080,]'), ['http://a', 'http://b:8080']);
    assert.deepEqual(parseLiteral('[1, [2, [3, "x"]], true,]'), [1, [2, [3, 'x']], true]);
    assert.deepEqual(parseLiteral('[]'), []);
    assert.deepEqual(parseLiteral('[ 127.0.0.1 , 8080 ]'), ['127.0.0.1', 8080]);
  });

  test('takes anything else as a bare word, a string that is never evaluated', () => {
    assert.equal(parseLiteral('example.com'), 'example.com');
    assert.equal(parseLiteral('127.0.0.1'), '127.0.0.1');
    assert.equal(parseLiteral('8080abc'), '8080abc');
    assert.equal(parseLiteral('http://a,http://b'), 'http://a,http://b');
    // Evaluating these would exit the test process or change global state.
    assert.equal(parseLiteral('process.exit(1)'), 'process.exit(1)');
    assert.equal(parseLiteral('globalThis.pwned = 1'), 'globalThis.pwned = 1');
    assert.equal(parseLiteral('[process.exit(3)]')[0], 'process.exit(3)');
    assert.equal(globalThis.pwned, undefined);
  });

  test('rejects malformed input with a WS_ERR_INVALID_OPTION that says where', () => {
    assert.throws(() => parseLiteral("'abc"), invalidOption(undefined, /unterminated string at position 0/));
    assert.throws(() => parseLiteral('"abc\\"'), invalidOption(undefined, /unterminated string/));
    assert.throws(() => parseLiteral('[1, 2'), invalidOption(undefined, /unterminated array/));
    assert.throws(() => parseLiteral('[,]'), invalidOption(undefined, /unexpected ','/));
    assert.throws(() => parseLiteral('["a" "b"]'), invalidOption(undefined, /expected ',' or ']'/));
    assert.throws(() => parseLiteral("'a'b"), invalidOption(undefined, /after the value/));
    assert.throws(() => parseLiteral('[1]]'), invalidOption(undefined, /after the value/));
    assert.throws(() => parseLiteral(String.raw`'\u12'`), invalidOption(undefined, /bad \\u escape/));
    assert.throws(() => parseLiteral(''), invalidOption(undefined, /expected a value/));
  });
});

describe('parseArgv', () => {
  test("accepts the README line as the shell delivers it (quotes stripped)", () => {
    // $ node runserver.js --port='8080' --host='some_other_host' --origins=['http://some_allowed_host']
    const { options, help } = parseArgv(['--port=8080', '--host=some_other_host', '--origins=[http://some_allowed_host]']);
    assert.equal(help, false);
    assert.deepEqual(options, { port: 8080, host: 'some_other_host', origins: ['http://some_allowed_host'] });
  });

  test('accepts the README line with its quotes passed through literally (spawn without a shell)', () => {
    const { options } = parseArgv(["--port='8080'", "--host='some_other_host'", "--origins=['http://some_allowed_host']"]);
    assert.deepEqual(options, { port: 8080, host: 'some_other_host', origins: ['http://some_allowed_host'] });
    assert.equal(typeof options.port, 'number');
  });

  test('accepts --name value as well as --name=value', () => {
    assert.deepEqual(parseArgv(['--port', '8080']).options, { port: 8080 });
    assert.deepEqual(parseArgv(['--port=8080']).options, { port: 8080 });
    assert.deepEqual(parseArgv(['--host', 'example.com', '--port', '9000']).options, { host: 'example.com', port: 9000 });
    assert.deepEqual(parseArgv(['--host=::']).options, { host: '::' });
    assert.deepEqual(parseArgv(['--host=[::1]']).options, { host: '::1' });
    assert.deepEqual(parseArgv(['--host=127.0.0.1']).options, { host: '127.0.0.1' });
  });

  test('accepts the camelCase form of every option name', () => {
    assert.deepEqual(parseArgv(['--maxPayload=1000', '--max-header-size=2048']).options, { maxPayload: 1000, maxHeaderSize: 2048 });
    for (const o of OPTIONS) {
      if (o.codeOnly) continue;
      const companions = o.name === 'proxyProtocol' ? ['--trust-proxy'] : []; // it needs trusted peers
      assert.doesNotThrow(() => parseArgv([`--${o.name}=${sampleCliValue(o)}`, ...companions]), `--${o.name}`);
      assert.doesNotThrow(() => parseArgv([`${o.cli}=${sampleCliValue(o)}`, ...companions]), o.cli);
    }
  });

  test('reads origins as an array, a comma list, a single origin, or *', () => {
    assert.deepEqual(parseArgv(['--origins=http://a,http://b:81']).options.origins, ['http://a', 'http://b:81']);
    assert.deepEqual(parseArgv(["--origins=['http://a', 'https://*.example.com']"]).options.origins,
      ['http://a', 'https://*.example.com']);
    assert.deepEqual(parseArgv(['--origins', 'http://a']).options.origins, ['http://a']);
    assert.deepEqual(parseArgv(['--origins=*']).options.origins, ['*']);
    assert.deepEqual(parseArgv(["--origins='*'"]).options.origins, ['*']);
  });

  test('takes bare flags as true and --no-flags as false', () => {
    assert.deepEqual(parseArgv(['--log']).options, { log: true });
    assert.deepEqual(parseArgv(['--no-log']).options, { log: false });
    assert.deepEqual(parseArgv(['--log=false']).options, { log: false });
    assert.deepEqual(parseArgv(['--log', 'false']).options, { log: false });
    assert.deepEqual(parseArgv(['--policy-port']).options, { policyPort: 843 });
    assert.deepEqual(parseArgv(['--policy-port', '--log']).options, { policyPort: 843, log: true });
    assert.deepEqual(parseArgv(['--policy-port=8430']).options, { policyPort: 8430 });
    assert.deepEqual(parseArgv(['--policy-port', '8430']).options, { policyPort: 8430 });
    assert.deepEqual(parseArgv(['--no-policy-port']).options, { policyPort: 0 });
    assert.deepEqual(parseArgv(['--docroot=false']).options, { docroot: false });
    assert.deepEqual(parseArgv(['--no-docroot']).options, { docroot: false });
  });

  test('resolves modules and docroot to absolute directories', () => {
    const rel = path.relative(process.cwd(), path.join(root, 'modules')) || '.';
    assert.equal(parseArgv([`--modules=${rel}`]).options.modules, path.join(root, 'modules'));
    assert.equal(parseArgv([`--docroot=${os.tmpdir()}`]).options.docroot, path.resolve(os.tmpdir()));
  });

  test('reports --help and -h', () => {
    assert.equal(parseArgv(['--help']).help, true);
    assert.equal(parseArgv(['--port=1', '-h']).help, true);
    assert.equal(parseArgv([]).help, false);
    assert.deepEqual(parseArgv([]).options, {});
  });

  test('names an unknown option and suggests the closest one', () => {
    assert.throws(() => parseArgv(['--prot=8080']), invalidOption('prot', /unknown option --prot \(did you mean --port\?\)/));
    assert.throws(() => parseArgv(['--max-payloads=1']), invalidOption(undefined, /did you mean --max-payload\?/));
    assert.throws(() => parseArgv(['--frobnicate']), invalidOption('frobnicate', /^unknown option --frobnicate$/));
  });

  test('rejects a value that is code: --port=process.exit(1) is an invalid port, not a call', () => {
    assert.throws(() => parseArgv(['--port=process.exit(1)']),
      invalidOption('port', /--port must be an integer from 0 to 65535 \(received 'process\.exit\(1\)'\)/));
  });

  test('names the option and the value for out-of-range and wrong-type values', () => {
    assert.throws(() => parseArgv(['--port=65536']), invalidOption('port', /--port .*65536/));
    assert.throws(() => parseArgv(['--port=-1']), invalidOption('port', /--port/));
    assert.throws(() => parseArgv(['--port', '-1']), invalidOption('port', /--port/));
    assert.throws(() => parseArgv(['--port=80.5']), invalidOption('port', /80\.5/));
    assert.throws(() => parseArgv(['--max-header-size=100']), invalidOption('maxHeaderSize', /from 1024 to 1048576/));
    assert.throws(() => parseArgv(['--log=maybe']), invalidOption('log', /--log must be true or false \(received 'maybe'\)/));
    assert.throws(() => parseArgv(['--origins=not-an-origin']), invalidOption('origins', /'not-an-origin'/));
    assert.throws(() => parseArgv(['--modules=/no/such/dir']), invalidOption('modules', /\/no\/such\/dir does not exist/));
  });

  test('reports a value missing or malformed', () => {
    assert.throws(() => parseArgv(['--port']), invalidOption('port', /--port needs a value/));
    assert.throws(() => parseArgv(['--port', '--host=a']), invalidOption('port', /--port needs a value/));
    assert.throws(() => parseArgv(['--host=']), invalidOption('host', /--host needs a value/));
    assert.throws(() => parseArgv(["--host='unterminated"]), invalidOption('host', /invalid value for --host: unterminated string/));
  });

  test('rejects arguments that are not options', () => {
    assert.throws(() => parseArgv(['8080']), invalidOption(undefined, /unexpected argument "8080"/));
    assert.throws(() => parseArgv(['-p', '8080']), invalidOption(undefined, /unexpected argument "-p"/));
    assert.throws(() => parseArgv(['--no-port']), invalidOption('port', /cannot be negated/));
  });

  test('checks rules across options, naming them as written on the command line', () => {
    assert.throws(() => parseArgv(['--high-water-mark=2000', '--max-buffered-amount=1000']),
      invalidOption('highWaterMark', /--high-water-mark must not exceed --max-buffered-amount/));
  });
});

describe('normalizeOptions', () => {
  test('fills every option with its default', () => {
    const o = normalizeOptions();
    assert.deepEqual(Object.keys(o).sort(), OPTIONS.map((x) => x.name).sort());
    assert.equal(o.port, 8080);
    assert.equal(o.host, 'localhost');
    assert.equal(o.backlog, 511);
    assert.deepEqual(o.origins, ['*']);
    assert.equal(o.modules, path.join(root, 'modules'));
    assert.equal(o.docroot, path.join(root, 'test'));
    assert.equal(o.policyPort, 0);
    assert.equal(o.maxConnections, 100000);
    assert.equal(o.maxPayload, 104857600);
    assert.equal(o.maxHeaderSize, 8192);
    assert.equal(o.handshakeTimeout, 10000);
    assert.equal(o.pingInterval, 30000);
    assert.equal(o.idleTimeout, 120000);
    assert.equal(o.closeTimeout, 5000);
    assert.equal(o.maxBufferedAmount, 16777216);
    assert.equal(o.highWaterMark, 65536);
    assert.equal(o.log, true);
    assert.equal(o.maxBackpressure, 1048576);
    assert.equal(o.backpressurePolicy, 'drop');
    assert.deepEqual(o.apps, {});
    assert.equal(o.perMessageDeflate, false);
    assert.equal(o.tls, null);
    assert.equal(o.noServer, false);
    assert.equal(o.server, null);
    assert.equal(o.authorize, null);
    assert.equal(o.trustProxy, false);
    assert.equal(o.proxyProtocol, false);
  });

  test('returns a new object and treats undefined values as absent', () => {
    const input = { port: 0, host: undefined };
    const o = normalizeOptions(input);
    assert.notEqual(o, input);
    assert.deepEqual(input, { port: 0, host: undefined });
    assert.equal(o.port, 0);
    assert.equal(o.host, 'localhost');
  });

  test('normalizes origins, policyPort, paths and numeric strings', () => {
    assert.deepEqual(normalizeOptions({ origins: '*' }).origins, ['*']);
    assert.deepEqual(normalizeOptions({ origins: 'http://A.example.com/' }).origins, ['http://a.example.com']);
    assert.deepEqual(normalizeOptions({ origins: ['http://a', '*'] }).origins, ['*']);
    assert.deepEqual(normalizeOptions({ origins: ['null', 'http://[::1]:8080'] }).origins, ['null', 'http://[::1]:8080']);
    assert.equal(normalizeOptions({ policyPort: true }).policyPort, 843);
    assert.equal(normalizeOptions({ policyPort: 8430 }).policyPort, 8430);
    assert.equal(normalizeOptions({ docroot: false }).docroot, false);
    assert.equal(normalizeOptions({ modules: path.relative(process.cwd(), path.join(root, 'modules')) || '.' }).modules,
      path.join(root, 'modules'));
    assert.equal(normalizeOptions({ port: '3000' }).port, 3000); // e.g. process.env.PORT
    assert.equal(normalizeOptions({ host: '[::1]' }).host, '::1');
  });

  test('gives normalized options back unchanged', () => {
    const once = normalizeOptions({ origins: 'http://a,http://b', policyPort: true, docroot: false, port: 0 });
    assert.deepEqual(normalizeOptions(once), once);
    const defaults = normalizeOptions();
    assert.deepEqual(normalizeOptions(defaults), defaults);
  });

  test('rejects an unknown option, naming it and suggesting the closest', () => {
    assert.throws(() => normalizeOptions({ prot: 80 }), invalidOption('prot', /unknown option "prot" \(did you mean "port"\?\)/));
    assert.throws(() => normalizeOptions({ maxpayload: 1 }), invalidOption('maxpayload', /did you mean "maxPayload"/));
  });

  test('rejects a wrong type or range, naming the option and the value received', () => {
    const cases = [
      [{ port: 70000 }, 'port', /option port must be an integer from 0 to 65535 \(received 70000\)/],
      [{ port: 1.5 }, 'port', /1\.5/],
      [{ port: 'http' }, 'port', /received 'http'/],
      [{ host: '' }, 'host', /option host/],
      [{ host: 5 }, 'host', /received 5/],
      [{ backlog: 0 }, 'backlog', /option backlog/],
      [{ origins: 5 }, 'origins', /option origins/],
      [{ origins: [] }, 'origins', /at least one origin/],
      [{ origins: ['http://ok', 5] }, 'origins', /one element is 5/],
      [{ origins: ['ftp//bad'] }, 'origins', /'ftp\/\/bad' is not one/],
      [{ origins: ['http://a:99999'] }, 'origins', /port 99999/],
      [{ modules: 42 }, 'modules', /option modules must be the path of a directory/],
      [{ modules: __filename }, 'modules', /is not one/],
      [{ docroot: '/no/such/docroot' }, 'docroot', /does not exist/],
      [{ docroot: true }, 'docroot', /or false to turn it off/],
      [{ policyPort: 70000 }, 'policyPort', /option policyPort/],
      [{ policyPort: 'yes' }, 'policyPort', /received 'yes'/],
      [{ maxConnections: 0 }, 'maxConnections', /option maxConnections/],
      [{ maxPayload: 2 ** 53 }, 'maxPayload', /option maxPayload/],
      [{ maxPayload: 0 }, 'maxPayload', /option maxPayload/],
      [{ maxHeaderSize: 1023 }, 'maxHeaderSize', /from 1024 to 1048576/],
      [{ maxHeaderSize: 1048577 }, 'maxHeaderSize', /from 1024 to 1048576/],
      [{ handshakeTimeout: -1 }, 'handshakeTimeout', /option handshakeTimeout/],
      [{ pingInterval: -1 }, 'pingInterval', /option pingInterval/],
      [{ idleTimeout: NaN }, 'idleTimeout', /option idleTimeout/],
      [{ closeTimeout: 0 }, 'closeTimeout', /option closeTimeout/],
      [{ maxBufferedAmount: 0 }, 'maxBufferedAmount', /option maxBufferedAmount/],
      [{ highWaterMark: -5 }, 'highWaterMark', /option highWaterMark/],
      [{ log: 'yes' }, 'log', /option log must be true or false/],
      [{ highWaterMark: 2048, maxBufferedAmount: 1024 }, 'highWaterMark', /must not exceed option maxBufferedAmount/],
      [{ port: 9000, policyPort: 9000 }, 'policyPort', /must differ from option port/],
      [{ maxBackpressure: 0 }, 'maxBackpressure', /option maxBackpressure must be an integer from 1/],
      [{ maxBackpressure: 1.5 }, 'maxBackpressure', /received 1\.5/],
      [{ maxBackpressure: 32 * 1024 * 1024 }, 'maxBackpressure', /must not exceed option maxBufferedAmount/],
      [{ backpressurePolicy: 'kill' }, 'backpressurePolicy', /option backpressurePolicy must be one of 'drop', 'close' \(received 'kill'\)/],
      [{ backpressurePolicy: 1 }, 'backpressurePolicy', /received 1/],
      [{ apps: [] }, 'apps', /option apps must be an object mapping application names/],
      [{ apps: 'chat' }, 'apps', /option apps must be an object/],
    ];
    for (const [input, option, pattern] of cases) {
      assert.throws(() => normalizeOptions(input), invalidOption(option, pattern), JSON.stringify(input));
    }
  });

  test('a defaulted maxBackpressure follows a smaller maxBufferedAmount; a given one must not exceed it', () => {
    assert.equal(normalizeOptions({ maxBufferedAmount: 262144 }).maxBackpressure, 262144);
    assert.equal(normalizeOptions({ maxBufferedAmount: 262144, maxBackpressure: 1000 }).maxBackpressure, 1000);
    const once = normalizeOptions({ maxBufferedAmount: 262144 });
    assert.deepEqual(normalizeOptions(once), once);
    assert.throws(() => normalizeOptions({ maxBufferedAmount: 262144, maxBackpressure: 262145 }),
      invalidOption('maxBackpressure', /option maxBackpressure must not exceed option maxBufferedAmount \(262144\)/));
    assert.doesNotThrow(() => parseArgv(['--max-buffered-amount=100000']));
    assert.throws(() => parseArgv(['--max-buffered-amount=100000', '--max-backpressure=200000']),
      invalidOption('maxBackpressure', /--max-backpressure must not exceed --max-buffered-amount/));
  });

  test('accepts the edges of every range', () => {
    assert.doesNotThrow(() => normalizeOptions({ port: 0, pingInterval: 0, idleTimeout: 0, maxHeaderSize: 1024 }));
    assert.doesNotThrow(() => normalizeOptions({ port: 65535, maxHeaderSize: 1048576, maxPayload: 2 ** 53 - 1 }));
  });

  test('rejects options that are not an object', () => {
    assert.throws(() => normalizeOptions(8080), invalidOption(undefined, /options must be an object/));
    assert.throws(() => normalizeOptions(['port']), invalidOption(undefined, /options must be an object/));
  });
});

describe('the apps option', () => {
  const typed = (section, more = {}) => normalizeOptions({ modules: appFixtures, apps: { typed: section }, ...more });

  test('normalizes each app to { module, urls, ...settings }, the module defaulting to the app name', () => {
    const o = normalizeOptions({ apps: { chat: { urls: ['/websocket/chat', '/team/chat'] }, room: { module: 'chatroom', urls: ['/room'] } } });
    assert.deepEqual(o.apps, {
      chat: { module: 'chat', urls: ['/websocket/chat', '/team/chat'] },
      room: { module: 'chatroom', urls: ['/room'] },
    });
    assert.deepEqual(normalizeOptions(o), o, 'normalizing again changes nothing');
  });

  test('leaves out apps with no urls or an empty list: they are off', () => {
    const o = normalizeOptions({ apps: { chat: {}, time: { urls: [] }, processes: { urls: null }, chatroom: { urls: ['/r'] } } });
    assert.deepEqual(Object.keys(o.apps), ['chatroom']);
  });

  test('accepts the URL forms: / and paths of [A-Za-z0-9_.-] segments', () => {
    const o = normalizeOptions({ apps: { chat: { urls: ['/', '/a', '/a/b.c/d_e-f', '/v1.2'] } } });
    assert.deepEqual(o.apps.chat.urls, ['/', '/a', '/a/b.c/d_e-f', '/v1.2']);
  });

  test('refuses bad URLs, naming the app and the URL', () => {
    for (const url of ['chat', '/a/../b', '/./a', '/a/', '//a', '/a b', '/a%2e', '/a?x=1', '', 5]) {
      assert.throws(() => normalizeOptions({ apps: { chat: { urls: [url] } } }),
        invalidOption('apps', /^option apps\.chat\.urls must contain paths made of/), JSON.stringify(url));
    }
    assert.throws(() => normalizeOptions({ apps: { chat: { urls: '/chat' } } }),
      invalidOption('apps', /option apps\.chat\.urls must be an array of URL paths .*\(received '\/chat'\)/));
  });

  test('refuses a URL used twice, in one app or across two', () => {
    assert.throws(() => normalizeOptions({ apps: { chat: { urls: ['/a', '/a'] } } }),
      invalidOption('apps', /apps\.chat\.urls lists \/a, which it lists twice/));
    assert.throws(() => normalizeOptions({ apps: { chat: { urls: ['/a'] }, time: { urls: ['/b', '/a'] } } }),
      invalidOption('apps', /apps\.time\.urls lists \/a, which application "chat" also uses/));
  });

  test('refuses an app whose module does not exist, or fails to load, or has a bad name', () => {
    assert.throws(() => normalizeOptions({ apps: { nosuch: { urls: ['/x'] } } }),
      invalidOption('apps', /option apps\.nosuch has no module: .*nosuch\.js does not exist/));
    assert.throws(() => normalizeOptions({ apps: { x: { urls: ['/x'], module: 'nosuch' } } }),
      invalidOption('apps', /option apps\.x\.module must name a module of the modules folder/));
    assert.throws(() => normalizeOptions({ apps: { x: { urls: ['/x'], module: '../lib/index' } } }),
      invalidOption('apps', /option apps\.x\.module must be the name of a module/));
    assert.throws(() => normalizeOptions({ modules: appFixtures, apps: { x: { urls: ['/x'], module: 'fails' } } }),
      invalidOption('apps', /apps\.x\.module names .*fails\.js, which failed to load: this module fails to load on purpose/));
    assert.throws(() => normalizeOptions({ apps: { '..': { urls: ['/x'] } } }),
      invalidOption('apps', /invalid application name '\.\.'/));
    assert.throws(() => normalizeOptions({ apps: JSON.parse('{"__proto__": {"urls": ["/x"]}}') }),
      invalidOption('apps', /invalid application name '__proto__'/));
    assert.throws(() => normalizeOptions({ apps: { chat: ['/x'] } }),
      invalidOption('apps', /option apps\.chat must be an object like/));
  });

  test("checks every other key against the module's configKeys, by type", () => {
    const o = typed({ urls: ['/t'], title: 'T', limit: 2.5, loud: false, tags: ['a'], extra: { deep: [1] } });
    assert.deepEqual(o.apps.typed, { module: 'typed', urls: ['/t'], title: 'T', limit: 2.5, loud: false, tags: ['a'], extra: { deep: [1] } });
    const bad = [
      [{ title: 5 }, /apps\.typed\.title must be a string \(received 5\)/],
      [{ limit: '5' }, /apps\.typed\.limit must be a number \(received '5'\)/],
      [{ limit: Infinity }, /apps\.typed\.limit must be a number/],
      [{ loud: 'yes' }, /apps\.typed\.loud must be true or false/],
      [{ tags: ['a', 1] }, /apps\.typed\.tags must be an array of strings/],
      [{ tags: 'a' }, /apps\.typed\.tags must be an array of strings/],
      [{ extra: [] }, /apps\.typed\.extra must be an object/],
      [{ extra: null }, /apps\.typed\.extra must be an object/],
      [{ titel: 'x' }, /apps\.typed\.titel is not a setting of this application \(module typed\.js accepts urls, module, history, title, limit, loud, tags, extra\); did you mean title\?/],
    ];
    for (const [extra, pattern] of bad) {
      assert.throws(() => typed({ urls: ['/t'], ...extra }), invalidOption('apps', pattern), JSON.stringify(extra));
    }
    // Checked even when the app is off, so a typo shows before the day it is turned on.
    assert.throws(() => typed({ limit: 'x' }), invalidOption('apps', /apps\.typed\.limit must be a number/));
  });

  test('keeps a copy of the settings: changing the input later changes nothing', () => {
    const extra = { a: 1 };
    const o = typed({ urls: ['/t'], extra });
    extra.a = 2;
    assert.equal(o.apps.typed.extra.a, 1);
  });

  test('reads configKeys and validateConfig from exports too, and reports what validateConfig says', () => {
    const ok = normalizeOptions({ modules: appFixtures, apps: { hi: { module: 'exported-keys', urls: ['/hi'], greeting: 'hello' } } });
    assert.equal(ok.apps.hi.greeting, 'hello');
    assert.throws(() => normalizeOptions({ modules: appFixtures, apps: { hi: { module: 'exported-keys', urls: ['/hi'], greeting: 'hello there, world' } } }),
      invalidOption('apps', /^option apps\.hi\.greeting must be at most 10 characters$/));
  });

  test('names a module that declares a type it cannot check', () => {
    assert.throws(() => normalizeOptions({ modules: appFixtures, apps: { b: { module: 'broken-keys', urls: ['/b'], when: 'now' } } }),
      invalidOption('apps', /apps\.b\.when cannot be checked: module broken-keys\.js declares its type as 'date'/));
  });

  test("checks log-view's settings, including what it needs to be turned on", () => {
    const files = { 'a.log': '/tmp/a.log' };
    assert.doesNotThrow(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], files, token: 'x' } } }));
    assert.doesNotThrow(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], files, allow: ['127.0.0.1'] } } }));
    assert.throws(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], files, token: 'x', refresh: 'fast' } } }),
      invalidOption('apps', /^option apps\.log-view\.refresh must be a number \(received 'fast'\)$/));
    assert.throws(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], files, token: 'x', refresh: 0 } } }),
      invalidOption('apps', /apps\.log-view\.refresh must be from 10 to 86400000/));
    assert.throws(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], files: { 'a.log': 5 }, token: 'x' } } }),
      invalidOption('apps', /apps\.log-view\.files\["a\.log"\] must be the path of a file/));
    assert.throws(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], files } } }),
      invalidOption('apps', /apps\.log-view\.token is needed/));
    assert.throws(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], token: 'x' } } }),
      invalidOption('apps', /apps\.log-view\.files must name at least one log file/));
    assert.throws(() => normalizeOptions({ apps: { 'log-view': { urls: ['/lv'], files, token: 'x', allow: '127.0.0.1' } } }),
      invalidOption('apps', /apps\.log-view\.allow must be an array of strings/));
    // Off (no urls): no token needed yet.
    assert.deepEqual(normalizeOptions({ apps: { 'log-view': { files } } }).apps, {});
  });

  test('--apps takes JSON on the command line, checked against --modules', () => {
    assert.deepEqual(parseArgv(['--apps={"chat":{"urls":["/a"]}}']).options.apps, { chat: { module: 'chat', urls: ['/a'] } });
    assert.deepEqual(parseArgv([`--apps='{"typed":{"urls":["/t"],"limit":1}}'`, `--modules=${appFixtures}`]).options.apps,
      { typed: { module: 'typed', urls: ['/t'], limit: 1 } });
    assert.throws(() => parseArgv(['--apps={chat}']), invalidOption('apps', /invalid value for --apps: not JSON/));
    assert.throws(() => parseArgv(['--apps={"chat":{"urls":["x"]}}']), invalidOption('apps', /^--apps\.chat\.urls must contain paths/));
  });
});

describe('the --config file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-config-'));
  let n = 0;
  const write = (content) => {
    const file = path.join(dir, `c${++n}.json`);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return file;
  };
  const fails = (content, pattern, option) => {
    const file = write(content);
    assert.throws(() => parseArgv([`--config=${file}`]), invalidOption(option, pattern), JSON.stringify(content));
  };

  test('reads { "server": {...}, "apps": {...} }', () => {
    const file = write({ server: { port: 9001, host: '127.0.0.1', backpressurePolicy: 'close' }, apps: { chat: { urls: ['/a', '/b'] } } });
    const { options, config } = parseArgv(['--config', file]);
    assert.equal(config, file);
    assert.deepEqual(options, { port: 9001, host: '127.0.0.1', backpressurePolicy: 'close', apps: { chat: { module: 'chat', urls: ['/a', '/b'] } } });
  });

  test('reads the NaviServer-like shape: server options at the top level beside "apps"', () => {
    const file = write({ port: 9002, maxBackpressure: 4096, apps: { chat: { urls: ['/websocket/chat', '/team/chat'] },
      'log-view': { urls: ['/admin/websocket/log-view'], refresh: 1000, files: { 'access.log': '/x/a', 'error.log': '/x/e' }, token: 't' } } });
    const { options } = parseArgv([`--config=${file}`]);
    assert.equal(options.port, 9002);
    assert.equal(options.maxBackpressure, 4096);
    assert.deepEqual(options.apps['log-view'], { module: 'log-view', urls: ['/admin/websocket/log-view'], refresh: 1000,
      files: { 'access.log': '/x/a', 'error.log': '/x/e' }, token: 't' });
  });

  test('the shipped server.example.json is valid', () => {
    const { options } = parseArgv([`--config=${path.join(root, 'server.example.json')}`]);
    assert.deepEqual(options.apps.chat.urls, ['/websocket/chat', '/team/chat']);
    assert.deepEqual(options.apps['log-view'].urls, ['/admin/websocket/log-view']);
    assert.equal(Object.keys(options.apps['log-view'].files).length, 2);
    assert.equal(typeof options.apps['log-view'].token, 'string');
  });

  test('command-line options override the file, wherever --config stands', () => {
    const file = write({ server: { port: 9003, log: true, origins: ['http://a'] }, apps: { chat: { urls: ['/a'] } } });
    assert.deepEqual(parseArgv(['--port=9004', `--config=${file}`, '--no-log']).options,
      { port: 9004, log: false, origins: ['http://a'], apps: { chat: { module: 'chat', urls: ['/a'] } } });
    assert.deepEqual(parseArgv([`--config=${file}`, '--apps={"time":{"urls":["/t"]}}']).options.apps,
      { time: { module: 'time', urls: ['/t'] } }, '--apps replaces the apps of the file');
  });

  test('resolves modules and docroot relative to the file, and checks apps against that modules folder', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'rel-'));
    fs.mkdirSync(path.join(sub, 'mods'));
    fs.writeFileSync(path.join(sub, 'mods', 'hello.js'), 'exports.Module = class {};\n');
    const file = path.join(sub, 'server.json');
    fs.writeFileSync(file, JSON.stringify({ server: { modules: 'mods', docroot: '.' }, apps: { hello: { urls: ['/hi'] } } }));
    const { options } = parseArgv([`--config=${file}`]);
    assert.equal(options.modules, path.join(sub, 'mods'));
    assert.equal(options.docroot, sub);
    assert.deepEqual(options.apps, { hello: { module: 'hello', urls: ['/hi'] } });
    // --modules on the command line wins, and the apps are checked against it.
    assert.throws(() => parseArgv([`--config=${file}`, `--modules=${path.join(root, 'modules')}`]),
      invalidOption('apps', /server\.json: apps\.hello has no module/));
  });

  test('stops on an unknown key, naming it and the closest known one', () => {
    fails({ prot: 80 }, /c\d+\.json: unknown key "prot" \(did you mean "port"\?\)/, 'prot');
    fails({ server: { prot: 80 } }, /unknown key "server\.prot" \(did you mean "port"\?\)/, 'prot');
    fails({ sever: {} }, /unknown key "sever" \(did you mean "server"\?\)/, 'sever');
    fails({ aps: {} }, /unknown key "aps" \(did you mean "apps"\?\)/, 'aps');
    fails({ server: { apps: {} } }, /server\.apps: put "apps" at the top level/, 'apps');
    fails({ apps: { chat: { urls: ['/a'], color: 'red' } } }, /apps\.chat\.color is not a setting of this application/, 'apps');
  });

  test('stops on a wrong type, naming the key', () => {
    fails({ server: { port: 'eighty' } }, /c\d+\.json: server\.port must be an integer from 0 to 65535 \(received 'eighty'\)/, 'port');
    fails({ port: true }, /c\d+\.json: port must be an integer/, 'port');
    fails({ server: { log: 'yes' } }, /server\.log must be true or false/, 'log');
    fails({ server: { backpressurePolicy: 'kill' } }, /server\.backpressurePolicy must be one of 'drop', 'close'/, 'backpressurePolicy');
    fails({ server: [] }, /server must be an object of Server options/, 'server');
    fails({ apps: [] }, /c\d+\.json: apps must be an object mapping application names/, 'apps');
    fails({ apps: { chat: { urls: '/a' } } }, /apps\.chat\.urls must be an array/, 'apps');
    fails({ apps: { 'log-view': { urls: ['/lv'], refresh: 'soon', files: { a: '/a' }, token: 't' } } },
      /apps\.log-view\.refresh must be a number \(received 'soon'\)/, 'apps');
  });

  test('stops on an option given twice, on bad JSON, on a file that is not an object or is missing', () => {
    fails({ port: 1, server: { port: 2 } }, /server\.port is given twice \(also as port\)/, 'port');
    fails('{ "port": 80, }', /not valid JSON: .*\(line 1, column \d+\)/, 'config');
    fails('[1, 2]', /must hold a JSON object/, 'config');
    fails('', /not valid JSON/, 'config');
    assert.throws(() => parseArgv(['--config=/no/such/config.json']),
      invalidOption('config', /cannot read config file \/no\/such\/config\.json: no such file/));
    assert.throws(() => parseArgv([`--config=${dir}`]), invalidOption('config', /cannot read config file .*not a file/));
    assert.throws(() => parseArgv(['--config']), invalidOption('config', /--config needs a file/));
    const file = write({});
    assert.throws(() => parseArgv([`--config=${file}`, `--config=${file}`]), invalidOption('config', /--config may be given once/));
  });

  test('accepts a BOM and an empty object; loadConfig reports where options came from', () => {
    const file = write('\ufeff{ "port": 1234 }');
    assert.deepEqual(parseArgv([`--config=${file}`]).options, { port: 1234 });
    assert.deepEqual(parseArgv([`--config=${write({})}`]).options, {});
    const loaded = loadConfig(file);
    assert.equal(loaded.file, file);
    assert.deepEqual(loaded.options, { port: 1234 });
    assert.equal(loaded.apps, undefined);
  });

  test('checks rules across options with the file and the command line together', () => {
    const file = write({ server: { maxBufferedAmount: 1000 } });
    assert.throws(() => parseArgv([`--config=${file}`, '--high-water-mark=2000']), invalidOption('highWaterMark', /must not exceed/));
  });
});

describe('the perMessageDeflate option', () => {
  const defaults = {
    threshold: 1024,
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    memLevel: 8,
    level: 6,
  };

  test('is off by default; true means every parameter at its default', () => {
    assert.equal(normalizeOptions().perMessageDeflate, false);
    assert.equal(normalizeOptions({ perMessageDeflate: false }).perMessageDeflate, false);
    assert.deepEqual(normalizeOptions({ perMessageDeflate: true }).perMessageDeflate, defaults);
    assert.deepEqual(normalizeOptions({ perMessageDeflate: {} }).perMessageDeflate, defaults);
  });

  test('an object is completed with the defaults, and normalizes to itself', () => {
    const o = normalizeOptions({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true, clientMaxWindowBits: 9, level: '1' } });
    assert.deepEqual(o.perMessageDeflate, { ...defaults, threshold: 0, serverNoContextTakeover: true, clientMaxWindowBits: 9, level: 1 });
    assert.deepEqual(normalizeOptions(o), o);
  });

  test('accepts the edges of every parameter and refuses what lies past them, naming the parameter', () => {
    assert.doesNotThrow(() => normalizeOptions({ perMessageDeflate: { serverMaxWindowBits: 8, clientMaxWindowBits: 8, memLevel: 1, level: 0 } }));
    assert.doesNotThrow(() => normalizeOptions({ perMessageDeflate: { serverMaxWindowBits: 15, clientMaxWindowBits: 15, memLevel: 9, level: 9 } }));
    const cases = [
      [{ threshold: -1 }, /option perMessageDeflate\.threshold must be an integer from 0 to \d+ \(received -1\)/],
      [{ threshold: 1.5 }, /perMessageDeflate\.threshold .*received 1\.5/],
      [{ serverMaxWindowBits: 7 }, /option perMessageDeflate\.serverMaxWindowBits must be an integer from 8 to 15 \(received 7\)/],
      [{ clientMaxWindowBits: 16 }, /perMessageDeflate\.clientMaxWindowBits must be an integer from 8 to 15 \(received 16\)/],
      [{ memLevel: 0 }, /perMessageDeflate\.memLevel must be an integer from 1 to 9/],
      [{ level: 10 }, /perMessageDeflate\.level must be an integer from 0 to 9 \(received 10\)/],
      [{ level: -1 }, /perMessageDeflate\.level must be an integer from 0 to 9/],
      [{ serverNoContextTakeover: 'yes' }, /option perMessageDeflate\.serverNoContextTakeover must be true or false \(received 'yes'\)/],
      [{ treshold: 10 }, /option perMessageDeflate\.treshold is not a permessage-deflate parameter .*did you mean threshold\?/],
    ];
    for (const [value, pattern] of cases) {
      assert.throws(() => normalizeOptions({ perMessageDeflate: value }), invalidOption('perMessageDeflate', pattern), JSON.stringify(value));
    }
    assert.throws(() => normalizeOptions({ perMessageDeflate: 'yes' }), invalidOption('perMessageDeflate', /must be true, false, or an object/));
    assert.throws(() => normalizeOptions({ perMessageDeflate: [1] }), invalidOption('perMessageDeflate', /received \[ 1 \]/));
    assert.throws(() => normalizeOptions({ perMessageDeflate: 1 }), invalidOption('perMessageDeflate'));
  });

  test('on the command line: --deflate alone, --no-deflate, --deflate=JSON and one flag per parameter', () => {
    assert.deepEqual(parseArgv(['--deflate']).options, { perMessageDeflate: defaults });
    assert.deepEqual(parseArgv(['--deflate', '--port=1']).options, { perMessageDeflate: defaults, port: 1 });
    assert.deepEqual(parseArgv(['--deflate=true']).options, { perMessageDeflate: defaults });
    assert.deepEqual(parseArgv(['--per-message-deflate']).options, { perMessageDeflate: defaults });
    assert.deepEqual(parseArgv(['--perMessageDeflate=true']).options, { perMessageDeflate: defaults });
    assert.deepEqual(parseArgv(['--no-deflate']).options, { perMessageDeflate: false });
    assert.deepEqual(parseArgv(['--deflate=false']).options, { perMessageDeflate: false });
    assert.deepEqual(parseArgv(['--deflate={"threshold":0,"level":1}']).options, { perMessageDeflate: { ...defaults, threshold: 0, level: 1 } });
    assert.deepEqual(parseArgv(["--deflate='{\"memLevel\": 4}'"]).options, { perMessageDeflate: { ...defaults, memLevel: 4 } });
    assert.deepEqual(parseArgv(['--deflate-threshold=512']).options, { perMessageDeflate: { ...defaults, threshold: 512 } });
    assert.deepEqual(parseArgv(['--deflate-threshold', '512', '--deflate-server-no-context-takeover',
      '--deflate-client-no-context-takeover', '--deflate-server-max-window-bits=10', '--deflate-client-max-window-bits=11',
      '--deflate-mem-level=9', "--deflate-level='9'"]).options, {
      perMessageDeflate: { threshold: 512, serverNoContextTakeover: true, clientNoContextTakeover: true,
        serverMaxWindowBits: 10, clientMaxWindowBits: 11, memLevel: 9, level: 9 },
    });
    assert.deepEqual(parseArgv(['--deflate', '--deflate-server-no-context-takeover=false']).options,
      { perMessageDeflate: defaults });
    assert.deepEqual(parseArgv(['--deflate-level=1', '--deflate={"level":2,"memLevel":3}']).options,
      { perMessageDeflate: { ...defaults, level: 1, memLevel: 3 } }, 'a parameter flag wins over the same parameter in --deflate=JSON');
    for (const p of DEFLATE_PARAMS) assert.ok(helpText().includes(p.cli), `--help lists ${p.cli}`);
  });

  test('refuses bad command-line values, naming the flag', () => {
    assert.throws(() => parseArgv(['--deflate-level=10']), invalidOption('perMessageDeflate', /^--deflate-level must be an integer from 0 to 9 \(received 10\)$/));
    assert.throws(() => parseArgv(['--deflate-level']), invalidOption('perMessageDeflate', /--deflate-level needs a value/));
    assert.throws(() => parseArgv(['--deflate-server-no-context-takeover=maybe']),
      invalidOption('perMessageDeflate', /--deflate-server-no-context-takeover must be true or false \(received 'maybe'\)/));
    assert.throws(() => parseArgv(['--no-deflate', '--deflate-threshold=5']),
      invalidOption('perMessageDeflate', /--deflate-threshold cannot be combined with --no-deflate/));
    assert.throws(() => parseArgv(['--deflate=yes']), invalidOption('perMessageDeflate', /--deflate must be true, false, or an object/));
    assert.throws(() => parseArgv(['--deflate={"level":']), invalidOption('perMessageDeflate', /--deflate: not JSON/));
    assert.throws(() => parseArgv(['--deflate-levl=1']), invalidOption(undefined, /did you mean --deflate-level\?/));
    assert.throws(() => parseArgv(['--deflate-level=1', '--deflate-level=2']), invalidOption('perMessageDeflate', /given twice/));
    assert.throws(() => parseArgv(['--no-deflate-level']), invalidOption('perMessageDeflate', /cannot be negated/));
  });
});

describe('the tls option', () => {
  const certs = makeCerts();

  test('reads cert, key and ca files into Buffers and keeps their paths', () => {
    const { tls } = normalizeOptions({ tls: { cert: certs.cert, key: certs.key, ca: certs.ca } });
    assert.ok(Buffer.isBuffer(tls.cert) && Buffer.isBuffer(tls.key) && Buffer.isBuffer(tls.ca));
    assert.deepEqual(tls.cert, fs.readFileSync(certs.cert));
    assert.deepEqual(tls.key, fs.readFileSync(certs.key));
    assert.deepEqual(tls.ca, fs.readFileSync(certs.ca));
    assert.equal(tls.certFile, certs.cert);
    assert.equal(tls.keyFile, certs.key);
    assert.equal(tls.caFile, certs.ca);
    assert.equal(tls.minVersion, 'TLSv1.2');
    assert.equal(tls.passphrase, null);
    assert.deepEqual(tls.sni, {});
  });

  test('takes PEM contents as strings or Buffers too (no file paths then)', () => {
    const cert = fs.readFileSync(certs.cert, 'utf8');
    const key = fs.readFileSync(certs.key);
    const { tls } = normalizeOptions({ tls: { cert, key, minVersion: 'TLSv1.3' } });
    assert.deepEqual(tls.cert, Buffer.from(cert));
    assert.deepEqual(tls.key, key);
    assert.equal(tls.certFile, null);
    assert.equal(tls.keyFile, null);
    assert.equal(tls.minVersion, 'TLSv1.3');
  });

  test('resolves relative paths against the working directory', () => {
    const rel = path.relative(process.cwd(), certs.cert);
    assert.equal(normalizeOptions({ tls: { cert: rel, key: certs.key } }).tls.certFile, certs.cert);
  });

  test('decrypts an encrypted key with its passphrase', () => {
    const { tls } = normalizeOptions({ tls: { cert: certs.cert, key: certs.encKey, passphrase: certs.passphrase } });
    assert.equal(tls.passphrase, certs.passphrase);
    assert.equal(tls.keyFile, certs.encKey);
  });

  test('reads SNI certificates by server name', () => {
    const { tls } = normalizeOptions({ tls: { cert: certs.cert, key: certs.key, sni: {
      'SNI.test': { cert: certs.sniCert, key: certs.sniKey },
      '*.sni.test': { cert: fs.readFileSync(certs.sniCert), key: fs.readFileSync(certs.sniKey, 'utf8') },
    } } });
    assert.deepEqual(Object.keys(tls.sni), ['sni.test', '*.sni.test']);
    assert.equal(tls.sni['sni.test'].certFile, certs.sniCert);
    assert.deepEqual(tls.sni['*.sni.test'].cert, fs.readFileSync(certs.sniCert));
    assert.equal(tls.sni['*.sni.test'].certFile, null);
  });

  test('normalized tls normalizes to itself', () => {
    const once = normalizeOptions({ port: 0, tls: { cert: certs.cert, key: certs.encKey, passphrase: certs.passphrase, ca: certs.ca,
      sni: { 'sni.test': { cert: certs.sniCert, key: certs.sniKey } } } });
    assert.deepEqual(normalizeOptions(once), once);
    assert.equal(normalizeOptions({ tls: null }).tls, null);
  });

  test('a missing or unreadable file is an error naming the option and the file', () => {
    assert.throws(() => normalizeOptions({ tls: { cert: '/no/such/cert.pem', key: certs.key } }),
      invalidOption('tls', /^option tls\.cert: cannot read \/no\/such\/cert\.pem: ENOENT$/));
    assert.throws(() => normalizeOptions({ tls: { cert: certs.cert, key: '/no/such/key.pem' } }),
      invalidOption('tls', /^option tls\.key: cannot read \/no\/such\/key\.pem: ENOENT$/));
    assert.throws(() => normalizeOptions({ tls: { cert: certs.cert, key: certs.key, ca: certs.dir } }),
      invalidOption('tls', new RegExp(`^option tls\\.ca: cannot read ${certs.dir}: EISDIR$`)));
    assert.throws(() => normalizeOptions({ tls: { cert: certs.cert, key: certs.key, sni: { 'a.test': { cert: '/no/a.pem', key: certs.key } } } }),
      invalidOption('tls', /^option tls\.sni\["a\.test"\]\.cert: cannot read \/no\/a\.pem: ENOENT$/));
    try {
      normalizeOptions({ tls: { cert: '/no/such/cert.pem', key: certs.key } });
    } catch (err) {
      assert.equal(err.key, 'tls.cert');
    }
  });

  test('a file that is not PEM, a key that does not match, a missing passphrase are errors naming the files', () => {
    const cases = [
      [{ cert: certs.notPem, key: certs.key }, new RegExp(`option tls\\.cert: ${certs.notPem} holds no PEM data`)],
      [{ cert: certs.key, key: certs.key }, new RegExp(`option tls\\.cert: ${certs.key} is not a PEM certificate`)],
      [{ cert: certs.cert, key: certs.cert }, new RegExp(`option tls\\.key: ${certs.cert} is not a PEM private key`)],
      [{ cert: certs.cert, key: certs.otherKey }, new RegExp(`option tls\\.key: ${certs.otherKey} does not match the certificate ${certs.cert}`)],
      [{ cert: certs.cert, key: certs.key2 }, new RegExp(`option tls\\.key: ${certs.key2} does not match the certificate ${certs.cert}`)],
      [{ cert: certs.cert, key: certs.encKey }, new RegExp(`option tls\\.key: ${certs.encKey} is encrypted: give its passphrase \\(tls\\.passphrase\\)`)],
      [{ cert: certs.cert, key: certs.encKey, passphrase: 'wrong' }, /cannot be decrypted with the passphrase given/],
      [{ cert: certs.cert, key: certs.key, ca: certs.key }, /option tls\.ca: .* holds no certificate/],
      [{ cert: certs.cert, key: certs.key, sni: { 'sni.test': { cert: certs.sniCert, key: certs.key } } },
        /option tls\.sni\["sni\.test"\]\.key: .* does not match the certificate/],
    ];
    for (const [tls, pattern] of cases) {
      assert.throws(() => normalizeOptions({ tls }), invalidOption('tls', pattern), JSON.stringify(tls));
    }
  });

  test('refuses malformed tls settings, naming the part', () => {
    const cases = [
      ['yes', /option tls must be null or an object/],
      [{ key: certs.key }, /option tls\.cert is required/],
      [{ cert: certs.cert }, /option tls\.key is required/],
      [{ cert: 42, key: certs.key }, /option tls\.cert must be a certificate in PEM.*\(received 42\)/],
      [{ cert: '', key: certs.key }, /option tls\.cert must be a certificate in PEM/],
      [{ cert: certs.cert, key: certs.key, minVersion: 'TLSv1.1' }, /option tls\.minVersion must be 'TLSv1\.2' or 'TLSv1\.3' \(received 'TLSv1\.1'\)/],
      [{ cert: certs.cert, key: certs.key, passphrase: 5 }, /option tls\.passphrase must be a string/],
      [{ cert: certs.cert, key: certs.key, crt: 'x' }, /option tls\.crt is not a TLS setting .*did you mean cert\?/],
      [{ cert: certs.cert, key: certs.key, sni: [] }, /option tls\.sni must be an object of server names/],
      [{ cert: certs.cert, key: certs.key, sni: { 'not a name': { cert: certs.cert, key: certs.key } } }, /invalid server name 'not a name'/],
      [{ cert: certs.cert, key: certs.key, sni: { 'a.test': { cert: certs.cert } } }, /option tls\.sni\["a\.test"\] needs both cert and key/],
      [{ cert: certs.cert, key: certs.key, sni: { 'a.test': 'x' } }, /option tls\.sni\["a\.test"\] must be an object/],
      [{ cert: certs.cert, key: certs.key, sni: { 'A.test': { cert: certs.cert, key: certs.key }, 'a.test': { cert: certs.cert, key: certs.key } } }, /lists a\.test twice/],
    ];
    for (const [tls, pattern] of cases) {
      assert.throws(() => normalizeOptions({ tls }), invalidOption('tls', pattern), String(JSON.stringify(tls)));
    }
  });

  test('loadTls() reads the files again: new contents, same paths; a broken file is an error and nothing changes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-reload-'));
    try {
      const cert = path.join(dir, 'cert.pem');
      const key = path.join(dir, 'key.pem');
      fs.copyFileSync(certs.cert, cert);
      fs.copyFileSync(certs.key, key);
      const { tls } = normalizeOptions({ tls: { cert, key, sni: { 'sni.test': { cert: certs.sniCert, key: certs.sniKey } } } });
      const before = Buffer.from(tls.cert);
      fs.copyFileSync(certs.cert2, cert);
      fs.copyFileSync(certs.key2, key);
      const reloaded = loadTls(tls);
      assert.deepEqual(reloaded.cert, fs.readFileSync(certs.cert2));
      assert.deepEqual(reloaded.key, fs.readFileSync(certs.key2));
      assert.equal(reloaded.certFile, cert);
      assert.equal(reloaded.sni['sni.test'].certFile, certs.sniCert);
      assert.deepEqual(tls.cert, before, 'the old option is left as it was');
      fs.copyFileSync(certs.otherKey, key); // a renewal gone wrong: the key no longer matches
      assert.throws(() => loadTls(tls), invalidOption('tls', new RegExp(`option tls\\.key: ${key} does not match the certificate ${cert}`)));
      fs.rmSync(cert);
      assert.throws(() => loadTls(tls), invalidOption('tls', new RegExp(`option tls\\.cert: cannot read ${cert}: ENOENT`)));
      assert.equal(loadTls(null), null);
      const contents = normalizeOptions({ tls: { cert: fs.readFileSync(certs.cert), key: fs.readFileSync(certs.key) } }).tls;
      assert.deepEqual(loadTls(contents), contents, 'contents given directly stay as they were');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('on the command line: --tls-cert, --tls-key, --tls-ca, --tls-passphrase, --tls-min-version, --tls=JSON', () => {
    const { tls } = parseArgv([`--tls-cert=${certs.cert}`, '--tls-key', certs.encKey, `--tls-ca=${certs.ca}`,
      "--tls-passphrase='correct horse'", '--tls-min-version=TLSv1.3']).options;
    assert.equal(tls.certFile, certs.cert);
    assert.equal(tls.keyFile, certs.encKey);
    assert.equal(tls.caFile, certs.ca);
    assert.equal(tls.passphrase, 'correct horse');
    assert.equal(tls.minVersion, 'TLSv1.3');
    const json = parseArgv([`--tls=${JSON.stringify({ cert: certs.cert, key: certs.key, sni: { 'sni.test': { cert: certs.sniCert, key: certs.sniKey } } })}`]).options.tls;
    assert.equal(json.sni['sni.test'].certFile, certs.sniCert);
    const both = parseArgv([`--tls=${JSON.stringify({ cert: certs.cert, key: certs.key })}`, '--tls-min-version=TLSv1.3']).options.tls;
    assert.equal(both.minVersion, 'TLSv1.3');
    assert.equal(both.certFile, certs.cert);
    assert.deepEqual(parseArgv(['--no-tls']).options, { tls: null });
    assert.ok(/--tls-cert=FILE/.test(helpText()) && /--tls-key=FILE/.test(helpText()));
  });

  test('a passphrase that looks like a number stays text', () => {
    assert.throws(() => parseArgv([`--tls-cert=${certs.cert}`, `--tls-key=${certs.encKey}`, '--tls-passphrase=1234']),
      invalidOption('tls', /--tls-key: .* cannot be decrypted with the passphrase given/));
  });

  test('bad command-line TLS values name the flag and the file', () => {
    assert.throws(() => parseArgv(['--tls-cert=/no/cert.pem', `--tls-key=${certs.key}`]),
      invalidOption('tls', /^--tls-cert: cannot read \/no\/cert\.pem: ENOENT$/));
    assert.throws(() => parseArgv([`--tls-cert=${certs.cert}`, `--tls-key=${certs.otherKey}`]),
      invalidOption('tls', new RegExp(`^--tls-key: ${certs.otherKey} does not match the certificate ${certs.cert}$`)));
    assert.throws(() => parseArgv([`--tls-cert=${certs.cert}`]), invalidOption('tls', /--tls-key is required/));
    assert.throws(() => parseArgv([`--tls-key=${certs.key}`]), invalidOption('tls', /--tls-cert is required/));
    assert.throws(() => parseArgv([`--tls-cert=${certs.cert}`, `--tls-key=${certs.key}`, '--tls-min-version=TLSv1']),
      invalidOption('tls', /--tls-min-version must be 'TLSv1\.2' or 'TLSv1\.3' \(received 'TLSv1'\)/));
    assert.throws(() => parseArgv(['--tls-cert']), invalidOption('tls', /--tls-cert needs a value, e\.g\. --tls-cert=FILE/));
    assert.throws(() => parseArgv(['--no-tls', `--tls-cert=${certs.cert}`]), invalidOption('tls', /cannot be combined with --no-tls/));
    assert.throws(() => parseArgv(['--tls=yes']), invalidOption('tls', /--tls must be null or an object/));
    assert.throws(() => parseArgv(['--tls']), invalidOption('tls', /--tls needs a value/));
  });

  test('the --config file may hold tls, and the command line replaces parts of it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-tlsconf-'));
    try {
      const file = path.join(dir, 'server.json');
      fs.writeFileSync(file, JSON.stringify({ server: { port: 0, tls: { cert: certs.cert, key: certs.key, sni: { 'sni.test': { cert: certs.sniCert, key: certs.sniKey } } } } }));
      const fromFile = parseArgv([`--config=${file}`]).options.tls;
      assert.equal(fromFile.certFile, certs.cert);
      const mixed = parseArgv([`--config=${file}`, `--tls-cert=${certs.cert2}`, `--tls-key=${certs.key2}`]).options.tls;
      assert.equal(mixed.certFile, certs.cert2);
      assert.equal(mixed.keyFile, certs.key2);
      assert.equal(mixed.sni['sni.test'].certFile, certs.sniCert, 'the file\'s SNI entries stay');
      fs.writeFileSync(file, JSON.stringify({ server: { tls: { cert: '/no/cert.pem', key: certs.key } } }));
      assert.throws(() => parseArgv([`--config=${file}`]), invalidOption('tls', /server\.json: server\.tls\.cert: cannot read \/no\/cert\.pem: ENOENT/));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sharing a port: server, noServer; authorize', () => {
  test('server takes an http.Server or https.Server; noServer a boolean; authorize a function', () => {
    const plain = http.createServer();
    const secure = https.createServer();
    assert.equal(normalizeOptions({ server: plain }).server, plain);
    assert.equal(normalizeOptions({ server: secure }).server, secure);
    assert.equal(normalizeOptions({ server: null }).server, null);
    assert.equal(normalizeOptions({ noServer: true }).noServer, true);
    const authorize = () => true;
    assert.equal(normalizeOptions({ authorize }).authorize, authorize);
    const once = normalizeOptions({ server: plain, authorize });
    assert.deepEqual(normalizeOptions(once), once);
  });

  test('port and host are ignored with server or noServer (even a port equal to policyPort)', () => {
    assert.doesNotThrow(() => normalizeOptions({ noServer: true, port: 9000, policyPort: 9000 }));
  });

  test('refuses wrong values and combinations that cannot work', () => {
    const app = function app(req, res) { res.end(); };
    app.listen = () => {};
    const cases = [
      [{ server: {} }, 'server', /option server must be an http\.Server or https\.Server/],
      [{ server: 8080 }, 'server', /received 8080/],
      [{ server: app }, 'server', /must be the http\.Server, not the app: pass what app\.listen\(\) or http\.createServer\(app\) returns/],
      [{ noServer: 'yes' }, 'noServer', /option noServer must be true or false/],
      [{ authorize: 'admin' }, 'authorize', /option authorize must be a function/],
      [{ noServer: true, server: http.createServer() }, 'noServer', /option noServer and option server exclude each other/],
      [{ noServer: true, tls: { cert: makeCerts().cert, key: makeCerts().key } }, 'tls', /option tls applies to the engine's own listener, not with option noServer/],
      [{ server: http.createServer(), tls: { cert: makeCerts().cert, key: makeCerts().key } }, 'tls', /not with option server/],
      [{ server: http.createServer(), proxyProtocol: true, trustProxy: true }, 'proxyProtocol', /needs the engine's own listener/],
    ];
    for (const [input, option, pattern] of cases) {
      assert.throws(() => normalizeOptions(input), invalidOption(option, pattern), Object.keys(input).join('+'));
    }
  });

  test('are not on the command line: runserver.js always listens itself', () => {
    assert.throws(() => parseArgv(['--server=x']), invalidOption('server', /--server cannot be given on the command line/));
    assert.throws(() => parseArgv(['--no-server']), invalidOption('noServer', /--no-server cannot be given on the command line/));
    assert.throws(() => parseArgv(['--noServer']), invalidOption('noServer', /cannot be given on the command line/));
    assert.throws(() => parseArgv(['--authorize=x']), invalidOption('authorize', /--authorize cannot be given on the command line: authorize is set from code/));
  });
});

describe('trustProxy and proxyProtocol', () => {
  test('trustProxy is false, true, or a list of addresses and CIDR ranges', () => {
    assert.equal(normalizeOptions({ trustProxy: true }).trustProxy, true);
    assert.equal(normalizeOptions({ trustProxy: false }).trustProxy, false);
    assert.equal(normalizeOptions({ trustProxy: [] }).trustProxy, false);
    assert.deepEqual(normalizeOptions({ trustProxy: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', '127.0.0.1'] }).trustProxy,
      ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
    assert.deepEqual(normalizeOptions({ trustProxy: '127.0.0.1, 192.168.0.0/16' }).trustProxy, ['127.0.0.1', '192.168.0.0/16']);
    const once = normalizeOptions({ trustProxy: ['10.0.0.0/8'] });
    assert.deepEqual(normalizeOptions(once), once);
  });

  test('refuses entries that are not addresses or ranges', () => {
    for (const bad of [['10.0.0.0/33'], ['::1/129'], ['example.com'], ['10.0.0.1/x'], [5], 'yes', 42]) {
      assert.throws(() => normalizeOptions({ trustProxy: bad }), invalidOption('trustProxy', /option trustProxy must/), JSON.stringify(bad));
    }
  });

  test('proxyProtocol needs a trusted peer list (or true), and the engine\'s own listener', () => {
    assert.equal(normalizeOptions({ proxyProtocol: true, trustProxy: ['127.0.0.1'] }).proxyProtocol, true);
    assert.throws(() => normalizeOptions({ proxyProtocol: true }),
      invalidOption('proxyProtocol', /option proxyProtocol needs option trustProxy: a PROXY header is believed only from a trusted peer/));
    assert.throws(() => normalizeOptions({ proxyProtocol: 1, trustProxy: true }), invalidOption('proxyProtocol', /must be true or false/));
  });

  test('on the command line: --trust-proxy, --trust-proxy=LIST, --proxy-protocol', () => {
    assert.deepEqual(parseArgv(['--trust-proxy']).options, { trustProxy: true });
    assert.deepEqual(parseArgv(['--trust-proxy', '--port=1']).options, { trustProxy: true, port: 1 });
    assert.deepEqual(parseArgv(['--no-trust-proxy']).options, { trustProxy: false });
    assert.deepEqual(parseArgv(["--trust-proxy=['10.0.0.0/8']"]).options, { trustProxy: ['10.0.0.0/8'] });
    assert.deepEqual(parseArgv(['--trust-proxy=[10.0.0.0/8, ::1]']).options, { trustProxy: ['10.0.0.0/8', '::1'] });
    assert.deepEqual(parseArgv(['--trust-proxy=127.0.0.1,10.1.2.3']).options, { trustProxy: ['127.0.0.1', '10.1.2.3'] });
    assert.deepEqual(parseArgv(['--trust-proxy', '127.0.0.1']).options, { trustProxy: ['127.0.0.1'] });
    assert.deepEqual(parseArgv(['--trustProxy=true']).options, { trustProxy: true });
    assert.deepEqual(parseArgv(['--proxy-protocol', '--trust-proxy=127.0.0.1']).options, { proxyProtocol: true, trustProxy: ['127.0.0.1'] });
    assert.throws(() => parseArgv(['--trust-proxy=[nonsense]']), invalidOption('trustProxy', /--trust-proxy must contain addresses or CIDR ranges/));
    assert.throws(() => parseArgv(['--proxy-protocol']), invalidOption('proxyProtocol', /--proxy-protocol needs --trust-proxy/));
  });
});

describe('helpText and the README', () => {
  test('--help lists every option with its default and its description', () => {
    const text = helpText();
    assert.match(text, /^Usage: node runserver\.js/);
    for (const o of OPTIONS) {
      assert.ok(text.includes(o.cli), `${o.cli} is in --help`);
      assert.ok(text.replace(/\s+/g, ' ').includes(o.doc), `the description of ${o.cli} is in --help`);
    }
    assert.ok(text.includes("--origins=['http://some_allowed_host']"));
    assert.match(text, /--port=N +TCP port.*Default: 8080\./);
    assert.match(text, /-h, --help/);
    assert.match(text, /--config=FILE +Read options and applications from a JSON file/);
  });

  test('every option has a name, a kebab-case command-line form, a default and a description', () => {
    for (const o of OPTIONS) {
      assert.match(o.name, /^[a-z][a-zA-Z]*$/);
      assert.match(o.cli, /^--[a-z]+(-[a-z]+)*$/);
      assert.ok('default' in o, o.name);
      assert.ok(o.doc.length > 10, o.name);
    }
  });

  test('the README documents every option in the table generated from OPTIONS', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    assert.ok(readme.includes(markdownTable()), 'README.md holds the output of markdownTable() verbatim');
    assert.ok(readme.includes("node runserver.js --port='8080' --host='some_other_host' --origins=['http://some_allowed_host']"));
  });
});

// A value each option accepts on the command line.
function sampleCliValue(o) {
  switch (o.type) {
    case 'integer': return String(o.default);
    case 'host': return 'localhost';
    case 'origins': return 'http://a';
    case 'directory': return path.join(root, 'modules');
    case 'docroot': return 'false';
    case 'policyPort': return '843';
    case 'boolean': return 'true';
    case 'choice': return o.choices[o.choices.length - 1];
    case 'apps': return '{"chat":{"urls":["/chat"]}}';
    case 'deflate': return 'true';
    case 'metrics': return '9100';
    case 'tls': { const c = makeCerts(); return JSON.stringify({ cert: c.cert, key: c.key }); }
    case 'trustProxy': return '127.0.0.1';
    case 'workers': return '2';
    case 'redisUrl': return 'redis://127.0.0.1:6379';
    case 'redisKey': return 'node.websocket:';
    case 'gateway': return path.join(root, 'modules'); // any existing directory
    case 'sockjsPrefix': return '/sockjs';
    case 'sockjsUrl': return '/sockjs.min.js';
    default: throw new Error(`no sample value for type ${o.type}`);
  }
}
