'use strict';
// Section 3: reserved bits. No extension is negotiated, so any RSV bit on
// any frame fails the connection with 1002; what came before is echoed.

const { frame, OP } = require('../raw-client');
const { fail, text } = require('./runner');

const KINDS = [
  ['text', null, OP.TEXT, 'reserved'],
  ['binary', null, OP.BINARY, Buffer.from([1, 2, 3])],
  ['ping', null, OP.PING, 'ping'],
  ['pong', null, OP.PONG, 'pong'],
  ['close', null, OP.CLOSE, Buffer.from([0x03, 0xe8])],
  ['continuation', null, OP.CONTINUATION, 'ment'],
  ['empty text', null, OP.TEXT, ''],
];

function rsvName(rsv) {
  return ['', 'RSV3', 'RSV2', 'RSV2+RSV3', 'RSV1', 'RSV1+RSV3', 'RSV1+RSV2', 'RSV1+RSV2+RSV3'][rsv];
}

function cases() {
  const list = [];
  let n = 0;
  for (let rsv = 1; rsv <= 7; rsv++) {
    for (const [name, , op, payload] of KINDS) {
      n++;
      list.push({
        id: `3.1.${n}`,
        title: `a ${name} frame with ${rsvName(rsv)} set after a valid message: the message is echoed, then 1002`,
        frames: () => {
          const fs = [frame(OP.TEXT, 'Hello, world!')];
          if (op === OP.CONTINUATION) fs.push(frame(OP.TEXT, 'frag', { fin: false }));
          fs.push(frame(op, payload, { rsv }));
          fs.push(frame(OP.PING, 'no pong expected'));
          return fs;
        },
        expect: fail(1002, [text('Hello, world!')]),
      });
    }
  }
  // 3.2: a reserved bit first thing on the connection, in three deliveries.
  for (let rsv = 1; rsv <= 7; rsv++) {
    for (const mode of ['whole', 'frames', 'bytes']) {
      list.push({
        id: `3.2.${rsv}/${mode}`,
        title: `a text frame with ${rsvName(rsv)} set (${mode === 'whole' ? 'one write' : mode === 'frames' ? 'frame by frame' : 'one byte per write'}) fails the connection with 1002`,
        frames: () => [frame(OP.TEXT, 'Hello', { rsv }), frame(OP.PING, 'after')],
        mode,
        expect: fail(1002),
      });
    }
  }
  return list;
}

module.exports = { cases };
