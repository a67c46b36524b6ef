'use strict';
// Section 7: the closing handshake. A valid close is answered with a close
// (echoing the code, or 1000) and TCP is closed; nothing is processed after
// the close; close payloads of 1 byte or over 125 bytes, and invalid codes,
// fail the connection with 1002; a reason that is not UTF-8 with 1007.

const { frame, OP, closePayload } = require('../raw-client');
const { ok, fail, closed, text } = require('./runner');

const hex = (s) => Buffer.from(s, 'hex');
const closeFrame = (code, reason, o) => frame(OP.CLOSE, closePayload(code, reason), o);

const VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

function cases() {
  const list = [];
  const modes = [['whole', 'in one write'], ['bytes', 'one byte per write']];
  const base = [
    ['7.1.1', 'a message is echoed, then a normal close is answered with 1000',
      () => [frame(OP.TEXT, 'Hello World!'), closeFrame(1000)], closed([1000], [text('Hello World!')])],
    ['7.1.2', 'a second close after the first is ignored',
      () => [closeFrame(1000), closeFrame(1000)], closed([1000])],
    ['7.1.3', 'a ping after the close gets no pong',
      () => [closeFrame(1000), frame(OP.PING, 'Hello World!')], closed([1000])],
    ['7.1.4', 'a text message after the close is not echoed',
      () => [closeFrame(1000), frame(OP.TEXT, 'Hello World!')], closed([1000])],
    ['7.1.5', 'a message fragment, a close, and the last fragment: nothing is echoed',
      () => [frame(OP.TEXT, 'fragment1', { fin: false }), closeFrame(1000), frame(OP.CONTINUATION, 'fragment2')], closed([1000])],
    ['7.1.6', 'a binary message after the close is not echoed',
      () => [closeFrame(1000), frame(OP.BINARY, Buffer.from([1, 2, 3]))], closed([1000])],
    ['7.1.7', 'a reserved opcode after the close does not change the answer',
      () => [closeFrame(1000), frame(3, 'x')], closed([1000])],
    ['7.3.1', 'a close without payload is answered with an empty close or 1000',
      () => [frame(OP.CLOSE, '')], closed([null, 1000])],
    ['7.3.2', 'a close with a 1-byte payload fails the connection with 1002',
      () => [frame(OP.CLOSE, 'a')], fail(1002)],
    ['7.3.3', 'a close with code 1000 and no reason is answered with 1000',
      () => [closeFrame(1000)], closed([1000])],
    ['7.3.4', 'a close with code 1000 and a 123-byte reason is answered with 1000',
      () => [closeFrame(1000, '*'.repeat(123))], closed([1000])],
    ['7.3.5', 'a close with code 1000 and a 124-byte reason (126-byte payload) fails the connection with 1002',
      () => [closeFrame(1000, '*'.repeat(124))], fail(1002)],
    ['7.3.6', 'a close whose reason is not UTF-8 fails the connection with 1007',
      () => [closeFrame(1000, hex('cebae1bdb9cf83cebcceb5eda080656469746564'))], fail(1007)],
    ['7.3.7', 'a close with a multi-byte UTF-8 reason is answered with 1000',
      () => [closeFrame(1000, 'κόσμε — done ✓')], closed([1000])],
    ['7.3.8', 'a close with a 123-byte reason of 3-byte characters is answered with 1000',
      () => [closeFrame(1000, '€'.repeat(41))], closed([1000])],
  ];
  for (const [id, title, frames, expect] of base) {
    for (const [mode, how] of modes) list.push({ id: `${id}/${mode}`, title: `${title} (${how})`, frames, mode, expect });
  }
  // 7.5: reasons that are not UTF-8.
  ['c0af', 'eda080', 'ff', 'ce', 'f4908080', '80', 'e080af', 'cebae1bd'].forEach((h, i) => {
    list.push({
      id: `7.5.${i + 1}`,
      title: `a close with the invalid reason bytes ${h} fails the connection with 1007`,
      frames: () => [closeFrame(1000, Buffer.concat([Buffer.from('reason '), hex(h)]))],
      expect: fail(1007),
    });
  });
  // 7.7: valid codes are answered with the same code or 1000.
  VALID.forEach((code, i) => {
    list.push({ id: `7.7.${i + 1}`, title: `a close with the valid code ${code} is answered with ${code} or 1000`, frames: () => [closeFrame(code)], expect: closed([code, 1000]) });
    list.push({ id: `7.7.${i + 1}/reason`, title: `a close with the valid code ${code} and a reason is answered with ${code} or 1000`, frames: () => [closeFrame(code, `code ${code}`)], expect: closed([code, 1000]) });
  });
  // 7.9: invalid codes fail the connection with 1002.
  INVALID.forEach((code, i) => {
    list.push({ id: `7.9.${i + 1}`, title: `a close with the invalid code ${code} fails the connection with 1002`, frames: () => [closeFrame(code)], expect: fail(1002) });
    list.push({ id: `7.9.${i + 1}/reason`, title: `a close with the invalid code ${code} and a reason fails the connection with 1002`, frames: () => [closeFrame(code, 'invalid')], expect: fail(1002) });
  });
  // 7.11: the close handshake after data in both directions.
  list.push({
    id: '7.11.1',
    title: 'ten messages, then a close: all ten are echoed before the close answer',
    frames: () => [...Array.from({ length: 10 }, (_, i) => frame(OP.TEXT, `m${i}`)), closeFrame(1000)],
    expect: closed([1000], Array.from({ length: 10 }, (_, i) => text(`m${i}`))),
  });
  list.push({
    id: '7.11.2',
    title: 'a normal echo followed by our close is answered and TCP closes (the runner\'s own close path)',
    frames: () => [frame(OP.TEXT, 'last words')],
    expect: ok([text('last words')]),
  });
  list.push({
    id: '7.11.3',
    title: 'a close frame with RSV1 set fails the connection with 1002',
    frames: () => [closeFrame(1000, '', { rsv: 4 })],
    expect: fail(1002),
  });
  return list;
}

module.exports = { cases };
