'use strict';

// The client's address behind proxies: the trustProxy option compiled into
// a predicate, and X-Forwarded-For / Forwarded (RFC 7239) read from trusted
// peers only. Pure functions: no server needed.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { compileTrust, clientAddress, forwardedHops } = require('../lib/forwarded');

describe('compileTrust', () => {
  test('true trusts every peer, false and undefined none', () => {
    for (const address of ['10.0.0.1', '::1', '203.0.113.9']) {
      assert.equal(compileTrust(true)(address), true);
      assert.equal(compileTrust(false)(address), false);
      assert.equal(compileTrust(undefined)(address), false);
      assert.equal(compileTrust([])(address), false);
    }
  });

  // [rules, address, trusted?]
  const table = [
    [['10.0.0.0/8'], '10.0.0.0', true],
    [['10.0.0.0/8'], '10.255.255.255', true],
    [['10.0.0.0/8'], '9.255.255.255', false],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['10.0.0.0/8'], '::ffff:10.1.2.3', true],
    [['10.0.0.0/8'], '::FFFF:10.1.2.3', true],
    [['10.0.0.0/8'], '::ffff:a01:203', true],
    [['10.0.0.0/8'], '::ffff:b00:1', false],
    [['10.0.0.0/8'], '::10.1.2.3', false], // IPv4-compatible is not IPv4-mapped
    [['10.0.0.0/8'], '64:ff9b::10.1.2.3', false],
    [['172.16.0.0/12'], '172.31.255.255', true],
    [['172.16.0.0/12'], '172.32.0.0', false],
    [['172.16.0.0/12'], '172.15.255.255', false],
    [['192.168.1.77/24'], '192.168.1.1', true], // host bits in a rule are dropped
    [['192.168.1.77/24'], '192.168.2.1', false],
    [['1.2.3.4/31'], '1.2.3.4', true],
    [['1.2.3.4/31'], '1.2.3.5', true],
    [['1.2.3.4/31'], '1.2.3.3', false],
    [['1.2.3.4/31'], '1.2.3.6', false],
    [['1.2.3.4/32'], '1.2.3.4', true],
    [['1.2.3.4/32'], '1.2.3.5', false],
    [['127.0.0.1'], '127.0.0.1', true],
    [['127.0.0.1'], '::ffff:127.0.0.1', true],
    [['127.0.0.1'], '127.0.0.2', false],
    [['127.0.0.1'], '::1', false],
    [['0.0.0.0/0'], '255.255.255.255', true],
    [['0.0.0.0/0'], '::ffff:1.2.3.4', true],
    [['0.0.0.0/0'], '::1', false],
    [['0.0.0.0/0'], '2001:db8::1', false],
    [['::1'], '::1', true],
    [['::1'], '0:0:0:0:0:0:0:1', true],
    [['::1'], '::2', false],
    [['::1'], '127.0.0.1', false],
    [['fd00::/8'], 'fd00::1', true],
    [['fd00::/8'], 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    [['fd00::/8'], 'fc00::1', false],
    [['fd00::/8'], 'fe00::', false],
    [['fe80::/10'], 'febf::1', true],
    [['fe80::/10'], 'fec0::1', false],
    [['fe80::/10'], 'fe80::1%eth0', true], // the zone does not matter
    [['2001:db8::/33'], '2001:db8:7fff:ffff::1', true],
    [['2001:db8::/33'], '2001:db8:8000::', false],
    [['2001:DB8::/32'], '2001:db8:1::1', true],
    [['::/0'], '2001:db8::1', true],
    [['::/0'], '1.2.3.4', true], // covers ::ffff:0:0/96
    [['::ffff:0:0/96'], '8.8.8.8', true],
    [['::ffff:0:0/96'], '::1', false],
    [['::ffff:10.0.0.0/104'], '10.9.9.9', true],
    [['::ffff:10.0.0.0/104'], '11.0.0.0', false],
    [['::ffff:127.0.0.1'], '127.0.0.1', true],
    [['loopback'], '127.9.9.9', true],
    [['loopback'], '::1', true],
    [['loopback'], '128.0.0.1', false],
    [['linklocal'], '169.254.1.1', true],
    [['linklocal'], 'fe80::1', true],
    [['uniquelocal'], '192.168.3.4', true],
    [['uniquelocal'], '172.20.0.1', true],
    [['uniquelocal'], 'fc00::1', true],
    [['uniquelocal'], '8.8.8.8', false],
    [[' 10.0.0.0/8 '], '10.0.0.1', true], // entries are trimmed
    [['10.0.0.0/8', '::1', '203.0.113.0/24'], '203.0.113.200', true],
    [['10.0.0.0/8', '::1', '203.0.113.0/24'], '::1', true],
    [['10.0.0.0/8', '::1', '203.0.113.0/24'], '198.51.100.1', false],
  ];
  test('addresses and CIDR ranges match as the table says, IPv4-mapped addresses as IPv4', () => {
    for (const [rules, address, expected] of table) {
      assert.equal(compileTrust(rules)(address), expected, `${JSON.stringify(rules)} on ${address}`);
    }
  });

  test('what is not an address is never trusted by a list', () => {
    const isTrusted = compileTrust(['0.0.0.0/0', '::/0']);
    for (const address of [undefined, null, '', 'localhost', '10.0.0.1:80', '[::1]', ' 10.0.0.1', '10.0.0.01', 42]) {
      assert.equal(isTrusted(address), false, String(address));
    }
  });

  function invalidTrust(pattern) {
    return (err) => {
      assert.equal(err.name, 'WebSocketError');
      assert.equal(err.code, 'WS_ERR_INVALID_OPTION');
      assert.equal(err.option, 'trustProxy');
      assert.match(err.message, pattern);
      return true;
    };
  }

  test('an entry that is not an address or CIDR range is named in the error', () => {
    const bad = ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.256',
      '10.0.0', 'localhost', '', '*', 'fe80::1%eth0', '1.2.3.4 /8', '[::1]', '10.0.0.1:80', 'Loopback'];
    for (const entry of bad) {
      assert.throws(() => compileTrust(['127.0.0.1', entry]), (err) => {
        assert.equal(err.message, `option trustProxy: '${entry}' is not an address or CIDR range`);
        return invalidTrust(/is not an address or CIDR range/)(err);
      }, entry);
    }
    assert.throws(() => compileTrust([42]), invalidTrust(/'42' is not an address/));
    assert.throws(() => compileTrust([null]), invalidTrust(/'null' is not an address/));
  });

  test('a value that is not true, false or an array is refused', () => {
    for (const value of ['10.0.0.0/8', 1, {}, 'true']) {
      assert.throws(() => compileTrust(value), invalidTrust(/must be true, false, or an array/));
    }
  });
});

describe('clientAddress', () => {
  const proxies = compileTrust(['10.0.0.0/8', '::1']);
  const peer = '10.0.0.9'; // a trusted proxy
  const from = (headers, peerAddress = peer, isTrusted = proxies) => clientAddress(peerAddress, headers, isTrusted);

  test('an untrusted peer gets its own address whatever its headers claim', () => {
    const headers = { 'x-forwarded-for': '1.2.3.4', forwarded: 'for=5.6.7.8' };
    assert.equal(from(headers, '203.0.113.9'), '203.0.113.9');
    assert.equal(from({ 'x-forwarded-for': '10.0.0.1' }, '203.0.113.9'), '203.0.113.9');
    assert.equal(from(headers, '10.0.0.1', compileTrust(false)), '10.0.0.1');
  });

  test('a trusted peer without forwarding headers is the client itself', () => {
    assert.equal(from({}), peer);
    assert.equal(from({ host: 'example.com' }), peer);
    assert.equal(from(undefined), peer);
  });

  test('a trusted peer\'s X-Forwarded-For names the client', () => {
    assert.equal(from({ 'x-forwarded-for': '203.0.113.9' }), '203.0.113.9');
    assert.equal(from({ 'x-forwarded-for': '2001:db8::1' }), '2001:db8::1');
    assert.equal(from({ 'x-forwarded-for': '203.0.113.9' }, '::ffff:10.0.0.9'), '203.0.113.9', 'mapped peer');
    assert.equal(from({ 'x-forwarded-for': '203.0.113.9' }, '::1'), '203.0.113.9');
  });

  test('ports and brackets are taken off the address', () => {
    assert.equal(from({ 'x-forwarded-for': '203.0.113.9:51234' }), '203.0.113.9');
    assert.equal(from({ 'x-forwarded-for': '[2001:db8::1]:443' }), '2001:db8::1');
    assert.equal(from({ 'x-forwarded-for': '[2001:db8::1]' }), '2001:db8::1');
    assert.equal(from({ forwarded: 'for="[2001:db8:cafe::17]:4711"' }), '2001:db8:cafe::17');
    assert.equal(from({ forwarded: 'for="192.0.2.43:47011"' }), '192.0.2.43');
    assert.equal(from({ forwarded: 'for="192.0.2.43:_port"' }), '192.0.2.43', 'an obfuscated port');
  });

  test('a chain of trusted proxies is walked back to the first untrusted address', () => {
    assert.equal(from({ 'x-forwarded-for': '203.0.113.9, 10.0.0.2, 10.0.0.3' }), '203.0.113.9');
    assert.equal(from({ 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.0.0.2' }), '203.0.113.9');
    assert.equal(from({ forwarded: 'for=203.0.113.9, for=10.0.0.2;proto=https, for="[::1]"' }), '203.0.113.9');
  });

  test('addresses a client wrote itself before its proxy\'s entry are not believed', () => {
    // The client sent X-Forwarded-For itself; its proxy appended what it saw.
    assert.equal(from({ 'x-forwarded-for': '6.6.6.6, 203.0.113.9' }), '203.0.113.9');
    // Even when the claimed address is a trusted one.
    assert.equal(from({ 'x-forwarded-for': '10.0.0.5, 203.0.113.9' }), '203.0.113.9');
    assert.equal(from({ forwarded: 'for=10.0.0.5, for=203.0.113.9' }), '203.0.113.9');
    // Or sent as a second header line (Node joins them with ', ').
    assert.equal(from({ 'x-forwarded-for': ['1.1.1.1', '203.0.113.9'] }), '203.0.113.9');
  });

  test('a client\'s stray quote cannot hide the element its proxy appended', () => {
    assert.equal(from({ forwarded: 'for="6.6.6.6, for=203.0.113.9' }), '203.0.113.9');
    assert.equal(from({ forwarded: 'for=6.6.6.6;x=", for="[2001:db8::1]"' }), '2001:db8::1');
    assert.equal(from({ forwarded: 'for=6.6.6.6\\", for=203.0.113.9' }), '203.0.113.9');
  });

  test('when every address is trusted, the leftmost is the client', () => {
    assert.equal(from({ 'x-forwarded-for': '10.0.0.1, 10.0.0.2' }), '10.0.0.1');
    assert.equal(from({ 'x-forwarded-for': '203.0.113.9, 198.51.100.1' }, peer, compileTrust(true)), '203.0.113.9');
  });

  test('Forwarded is preferred to X-Forwarded-For', () => {
    assert.equal(from({ forwarded: 'for=198.51.100.7', 'x-forwarded-for': '203.0.113.9' }), '198.51.100.7');
  });

  test('one header can be chosen for proxies that pass the other through untouched', () => {
    const headers = { forwarded: 'for=6.6.6.6', 'x-forwarded-for': '203.0.113.9' };
    assert.equal(clientAddress(peer, headers, proxies, 'x-forwarded-for'), '203.0.113.9');
    assert.equal(clientAddress(peer, headers, proxies, 'forwarded'), '6.6.6.6');
    assert.equal(clientAddress(peer, { 'x-forwarded-for': '203.0.113.9' }, proxies, 'forwarded'), peer);
  });

  test('Forwarded parameters are read with their quoting, case and order', () => {
    assert.equal(from({ forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' }), '192.0.2.60');
    assert.equal(from({ forwarded: 'proto=https;For="192.0.2.60"' }), '192.0.2.60');
    assert.equal(from({ forwarded: 'FOR=192.0.2.60 ; proto=https' }), '192.0.2.60');
    assert.equal(from({ forwarded: 'for=192.0.2.60;host="a,b;c=d", for=10.0.0.2' }), '192.0.2.60',
      'a comma and a semicolon inside a quoted value');
    assert.equal(from({ forwarded: 'for=192.0.2.60;ext="say \\"hi\\", for=6.6.6.6", for=10.0.0.2' }), '192.0.2.60',
      'escaped quotes inside a quoted value');
    assert.equal(from({ forwarded: 'for=[2001:db8::2]:80' }), '2001:db8::2', 'unquoted brackets, as some proxies send');
    assert.equal(from({ forwarded: ', for=192.0.2.60 ,, ' }), '192.0.2.60', 'empty elements');
  });

  test('unknown and obfuscated hops stop the walk: the last address reached is returned', () => {
    assert.equal(from({ forwarded: 'for=unknown' }), peer);
    assert.equal(from({ forwarded: 'for=203.0.113.9, for=unknown' }), peer);
    assert.equal(from({ forwarded: 'for="_gazonk", for=10.0.0.2' }), '10.0.0.2');
    assert.equal(from({ forwarded: 'for=203.0.113.9, for=_hidden' }), peer);
    assert.equal(from({ 'x-forwarded-for': 'unknown, 10.0.0.2' }), '10.0.0.2');
  });

  test('malformed headers are ignored from the first bad entry: the last good address or the peer', () => {
    const cases = [
      [{ 'x-forwarded-for': 'garbage' }, peer],
      [{ 'x-forwarded-for': '203.0.113.9, garbage' }, peer],
      [{ 'x-forwarded-for': '203.0.113.9, garbage, 10.0.0.2' }, '10.0.0.2'],
      [{ 'x-forwarded-for': '1.2.3.04' }, peer],
      [{ 'x-forwarded-for': '1.2.3.4.5' }, peer],
      [{ 'x-forwarded-for': '203.0.113.9:99999999' }, peer],
      [{ 'x-forwarded-for': '"203.0.113.9"' }, peer],
      [{ 'x-forwarded-for': '203.0.113.9 10.0.0.2' }, peer],
      [{ 'x-forwarded-for': ', 203.0.113.9,' }, '203.0.113.9'], // empty entries are skipped
      [{ 'x-forwarded-for': '' }, peer],
      [{ forwarded: '' }, peer],
      [{ forwarded: 'for=' }, peer],
      [{ forwarded: 'for' }, peer],
      [{ forwarded: '=203.0.113.9' }, peer],
      [{ forwarded: 'for=203.0.113.9;for=198.51.100.1' }, peer], // a parameter twice in one element
      [{ forwarded: 'proto=https' }, peer], // a hop without for=
      [{ forwarded: 'for=203.0.113.9, proto=https' }, peer],
      [{ forwarded: 'for=203.0.113.9, for=10.0.0.2, by=10.0.0.3' }, peer],
      [{ forwarded: 'for=203.0.113.9 for=10.0.0.2' }, peer],
      [{ forwarded: 'for="203.0.113.9' }, peer], // unterminated
      [{ forwarded: 'for="203.0.113.9\\"' }, peer], // the closing quote is escaped
      [{ forwarded: 'for=203.0.113.9, for="10.0.0.2' }, peer],
      [{ forwarded: 'for=203.0.113.9, garbage"', }, peer],
      [{ forwarded: 'for=203.0.113.9, for="[10.0.0.2]"' }, peer], // IPv4 in brackets
      [{ forwarded: 'for=203.0.113.9, for="[::1"' }, peer],
      [{ forwarded: 'for=203.0.113.9, for=[fe80::1]:port' }, peer],
      [{ forwarded: 'for=203.0.113.9, for="::ffff:10.0.0.2"' }, '203.0.113.9'], // bare IPv6 is read
      [{ forwarded: 'for=1.2.3.4, for=5.6.7.8;x=y=z, for=10.0.0.2' }, '10.0.0.2'],
    ];
    for (const [headers, expected] of cases) {
      assert.equal(from(headers), expected, JSON.stringify(headers));
    }
  });

  test('the Forwarded parser reads elements from the right and stops at the first bad one', () => {
    assert.deepEqual(forwardedHops('for=192.0.2.43, for=198.51.100.17'), ['198.51.100.17', '192.0.2.43']);
    assert.deepEqual(forwardedHops('for=unknown, for=192.0.2.43'), ['192.0.2.43', null]);
    assert.deepEqual(forwardedHops('for=192.0.2.43, garbage, for=198.51.100.17'), ['198.51.100.17', null]);
    assert.deepEqual(forwardedHops(''), []);
  });
});
