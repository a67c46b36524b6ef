'use strict';
// Section 4: reserved opcodes 3-7 (data) and 11-15 (control) fail the
// connection with 1002; messages before them are echoed, nothing after.

const { frame, OP } = require('../raw-client');
const { fail, text } = require('./runner');

const RESERVED = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15];

function cases() {
  const list = [];
  RESERVED.forEach((op, i) => {
    const sub = op < 8 ? 1 : 2;
    const kind = op < 8 ? 'non-control' : 'control';
    const base = `${4}.${sub}.${op < 8 ? op - 2 : op - 10}`;
    list.push({
      id: `${base}.1`,
      title: `an empty frame with reserved ${kind} opcode ${op} fails the connection with 1002`,
      frames: () => [frame(op, '')],
      expect: fail(1002),
    });
    list.push({
      id: `${base}.2`,
      title: `a frame with reserved ${kind} opcode ${op} and a payload fails the connection with 1002`,
      frames: () => [frame(op, 'reserved opcode payload')],
      expect: fail(1002),
    });
    for (const mode of ['whole', 'frames', 'bytes']) {
      list.push({
        id: `${base}.3/${mode}`,
        title: `a valid message, then reserved opcode ${op}, then a ping (${mode === 'whole' ? 'one write' : mode === 'frames' ? 'frame by frame' : 'one byte per write'}): echo, 1002, no pong`,
        frames: () => [frame(OP.TEXT, 'Hello, world!'), frame(op, i % 2 ? 'payload' : ''), frame(OP.PING, 'no pong')],
        mode,
        expect: fail(1002, [text('Hello, world!')]),
      });
    }
    list.push({
      id: `${base}.4`,
      title: `a frame with reserved opcode ${op} and FIN clear fails the connection with 1002`,
      frames: () => [frame(op, 'x', { fin: false })],
      expect: fail(1002),
    });
    list.push({
      id: `${base}.5`,
      title: `reserved opcode ${op} between the fragments of a message fails the connection with 1002`,
      frames: () => [frame(OP.TEXT, 'frag', { fin: false }), frame(op, 'x'), frame(OP.CONTINUATION, 'ment')],
      expect: fail(1002),
    });
  });
  return list;
}

module.exports = { cases };
