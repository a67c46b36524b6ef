'use strict';

// Options: the literal parser, the command line, validation and --help.
// Pure functions: no server needed.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { OPTIONS, normalizeOptions, parseLiteral, parseArgv, helpText, markdownTable } = require('../lib/options');

const root = path.join(__dirname, '..');

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
      assert.doesNotThrow(() => parseArgv([`--${o.name}=${sampleCliValue(o)}`]), `--${o.name}`);
      assert.doesNotThrow(() => parseArgv([`${o.cli}=${sampleCliValue(o)}`]), o.cli);
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
    ];
    for (const [input, option, pattern] of cases) {
      assert.throws(() => normalizeOptions(input), invalidOption(option, pattern), JSON.stringify(input));
    }
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
    default: throw new Error(`no sample value for type ${o.type}`);
  }
}
