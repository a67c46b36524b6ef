'use strict';
// Section 2: pings and pongs. Every ping is answered by a pong with the same
// payload; a ping over 125 bytes fails the connection; unsolicited pongs are
// ignored.

const { frame, OP } = require('../raw-client');
const { ok, fail, text, pong } = require('./runner');
const { bytes } = require('./section1');

function cases() {
  const list = [];
  const bin = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
  list.push({ id: '2.1', title: 'a ping without payload is answered by an empty pong', frames: () => [frame(OP.PING, '')], expect: ok([pong('')]) });
  list.push({ id: '2.2', title: 'a ping with a small text payload is answered by a pong with the same payload', frames: () => [frame(OP.PING, 'Hello, world!')], expect: ok([pong('Hello, world!')]) });
  list.push({ id: '2.3', title: 'a ping with a small binary payload is answered by a pong with the same payload', frames: () => [frame(OP.PING, bin)], expect: ok([pong(bin)]) });
  list.push({ id: '2.4', title: 'a ping with a 125-byte payload is answered by a pong with the same payload', frames: () => [frame(OP.PING, bytes(125, 4))], expect: ok([pong(bytes(125, 4))]) });
  list.push({ id: '2.5', title: 'a ping with a 126-byte payload fails the connection with 1002', frames: () => [frame(OP.PING, bytes(126, 5))], expect: fail(1002) });
  list.push({ id: '2.6', title: 'a 125-byte ping sent one byte per write is answered by a pong', frames: () => [frame(OP.PING, bytes(125, 6))], mode: 'bytes', expect: ok([pong(bytes(125, 6))]) });
  list.push({ id: '2.7', title: 'an unsolicited empty pong is ignored', frames: () => [frame(OP.PONG, '')], expect: ok([]) });
  list.push({ id: '2.8', title: 'an unsolicited pong with payload is ignored', frames: () => [frame(OP.PONG, 'unsolicited pong payload')], expect: ok([]) });
  list.push({ id: '2.9', title: 'an unsolicited pong then a ping: only the ping is answered', frames: () => [frame(OP.PONG, 'unsolicited pong payload'), frame(OP.PING, 'ping payload')], expect: ok([pong('ping payload')]) });
  const ten = () => Array.from({ length: 10 }, (_, i) => frame(OP.PING, `payload-${i}`));
  const tenPongs = Array.from({ length: 10 }, (_, i) => pong(`payload-${i}`));
  list.push({ id: '2.10', title: '10 pings in one write are answered by 10 pongs in order', frames: ten, expect: ok(tenPongs) });
  list.push({ id: '2.11', title: '10 pings sent frame by frame are answered by 10 pongs in order', frames: ten, mode: 'frames', expect: ok(tenPongs) });
  list.push({ id: '2.12', title: '10 pings sent one byte per write are answered by 10 pongs in order', frames: ten, mode: 'bytes', expect: ok(tenPongs) });
  list.push({ id: '2.13', title: 'a ping with 127 bytes declared in a 16-bit length fails the connection with 1002', frames: () => [frame(OP.PING, bytes(127, 8))], expect: fail(1002) });
  list.push({ id: '2.14', title: 'a ping with 65536 bytes fails the connection with 1002', frames: () => [frame(OP.PING, bytes(65536, 9))], expect: fail(1002) });
  list.push({ id: '2.15', title: 'a ping after a text message: the echo comes first, then the pong', frames: () => [frame(OP.TEXT, 'before'), frame(OP.PING, 'p')], expect: ok([text('before'), pong('p')]) });
  list.push({ id: '2.16', title: 'a ping with a 126-byte payload after a message: the message is echoed, then 1002 and no pong', frames: () => [frame(OP.TEXT, 'before'), frame(OP.PING, bytes(126, 10)), frame(OP.PING, 'after')], expect: fail(1002, [text('before')]) });
  // 2.17.L: every payload length a ping may carry.
  for (let len = 0; len <= 125; len++) {
    list.push({
      id: `2.17.${len}`,
      title: `a ping with a ${len}-byte payload is answered by a pong with the same payload`,
      frames: () => [frame(OP.PING, bytes(len, 1000 + len))],
      expect: ok([pong(bytes(len, 1000 + len))]),
    });
  }
  return list;
}

module.exports = { cases };
