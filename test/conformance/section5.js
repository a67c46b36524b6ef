'use strict';
// Section 5: fragmentation. Fragmented messages are reassembled, control
// frames may come between fragments (pings answered at once), control frames
// may not be fragmented, continuations need a message in progress, and a new
// data frame may not start inside one.

const { frame, OP, delay } = require('../raw-client');
const { ok, fail, closed, text, binary, pong } = require('./runner');

const T = OP.TEXT;
const B = OP.BINARY;
const C = OP.CONTINUATION;
const f = (op, payload, fin = true) => frame(op, payload, { fin });

// [title, frames, expectation]; each runs in three deliveries.
const BASE = [
  ['a ping fragmented into 2 frames fails the connection with 1002',
    () => [f(OP.PING, 'fragment1', false), f(C, 'fragment2')], fail(1002)],
  ['a pong fragmented into 2 frames fails the connection with 1002',
    () => [f(OP.PONG, 'fragment1', false), f(C, 'fragment2')], fail(1002)],
  ['a text message in 2 fragments is echoed whole',
    () => [f(T, 'fragment1', false), f(C, 'fragment2')], ok([text('fragment1fragment2')])],
  ['a text message in 2 fragments with a ping between: pong first, then the echo',
    () => [f(T, 'fragment1', false), f(OP.PING, 'ping payload'), f(C, 'fragment2')], ok([pong('ping payload'), text('fragment1fragment2')])],
  ['a final continuation frame with nothing to continue fails the connection with 1002',
    () => [f(C, 'non-continuation payload'), f(T, 'Hello, world!'), f(OP.PING, 'x')], fail(1002)],
  ['a non-final continuation frame with nothing to continue fails the connection with 1002',
    () => [f(C, 'non-continuation payload', false), f(T, 'Hello, world!'), f(OP.PING, 'x')], fail(1002)],
  ['a fragmented message, then a continuation with nothing to continue: echo, then 1002',
    () => [f(T, 'fragment1', false), f(C, 'fragment2'), f(C, 'fragment3', false), f(T, 'fragment4')], fail(1002, [text('fragment1fragment2')])],
  ['a non-final continuation, a text start and a final continuation, twice, fail the connection with 1002',
    () => [f(C, 'fragment1', false), f(T, 'fragment2', false), f(C, 'fragment3'), f(C, 'fragment4', false), f(T, 'fragment5', false), f(C, 'fragment6')], fail(1002)],
  ['a final continuation, a text start and a final continuation, twice, fail the connection with 1002',
    () => [f(C, 'fragment1'), f(T, 'fragment2', false), f(C, 'fragment3'), f(C, 'fragment4'), f(T, 'fragment5', false), f(C, 'fragment6')], fail(1002)],
  ['a text fragment followed by a second text frame (not a continuation) fails the connection with 1002',
    () => [f(T, 'fragment1', false), f(T, 'fragment2')], fail(1002)],
  ['a binary message in 2 fragments is echoed whole as binary',
    () => [f(B, Buffer.from([1, 2, 3]), false), f(C, Buffer.from([4, 5, 6]))], ok([binary([1, 2, 3, 4, 5, 6])])],
  ['a binary message in 100 one-byte fragments is echoed whole',
    () => Array.from({ length: 100 }, (_, i) => f(i === 0 ? B : C, Buffer.from([i]), i === 99)), ok([binary(Array.from({ length: 100 }, (_, i) => i))])],
  ['a text message made of three empty fragments is echoed as an empty text message',
    () => [f(T, '', false), f(C, '', false), f(C, '')], ok([text('')])],
  ['a text message whose first and last fragments are empty is echoed with the middle',
    () => [f(T, '', false), f(C, 'middle', false), f(C, '')], ok([text('middle')])],
  ['a close frame with FIN clear fails the connection with 1002',
    () => [f(OP.CLOSE, Buffer.from([0x03, 0xe8]), false)], fail(1002)],
  ['a text fragment followed by a binary frame fails the connection with 1002',
    () => [f(T, 'text', false), f(B, Buffer.from([1]))], fail(1002)],
  ['a binary fragment followed by a text frame fails the connection with 1002',
    () => [f(B, Buffer.from([1]), false), f(T, 'text')], fail(1002)],
  ['a text fragment followed by a non-final binary frame fails the connection with 1002',
    () => [f(T, 'text', false), f(B, Buffer.from([1]), false), f(C, 'x')], fail(1002)],
  ['a close between the fragments of a message ends the connection without an echo',
    () => [f(T, 'fragment1', false), f(OP.CLOSE, Buffer.from([0x03, 0xe8])), f(C, 'fragment2')], closed([1000])],
  ['an unsolicited pong between fragments is ignored and the message echoed',
    () => [f(T, 'fragment1', false), f(OP.PONG, 'pong'), f(C, 'fragment2')], ok([text('fragment1fragment2')])],
  ['a text message in 3 fragments with a ping before each continuation: two pongs, then the echo',
    () => [f(T, 'a', false), f(OP.PING, '1'), f(C, 'b', false), f(OP.PING, '2'), f(C, 'c')], ok([pong('1'), pong('2'), text('abc')])],
  ['a fragmented text, a fragmented binary and a single text message are echoed in order',
    () => [f(T, 'one-', false), f(C, 'two'), f(B, Buffer.from([9]), false), f(C, Buffer.from([8])), f(T, 'three')],
    ok([text('one-two'), binary([9, 8]), text('three')])],
  ['a continuation after a complete message: echo, then 1002',
    () => [f(T, 'complete'), f(C, 'orphan')], fail(1002, [text('complete')])],
  ['an empty ping with FIN clear fails the connection with 1002',
    () => [f(OP.PING, '', false)], fail(1002)],
  ['a message left unfinished, then a close: the close is answered and nothing echoed',
    () => [f(T, 'unfinished', false), f(OP.CLOSE, Buffer.from([0x03, 0xe8]))], closed([1000])],
  ['a fragmented message with a 125-byte ping between fragments: pong, then echo',
    () => [f(T, 'x'.repeat(200), false), f(OP.PING, 'p'.repeat(125)), f(C, 'y'.repeat(200))], ok([pong('p'.repeat(125)), text('x'.repeat(200) + 'y'.repeat(200))])],
  ['a binary message in 2 fragments with a 126-byte ping between: 1002 and no echo',
    () => [f(B, Buffer.from([1]), false), f(OP.PING, 'p'.repeat(126)), f(C, Buffer.from([2]))], fail(1002)],
];

const MODES = [['whole', 'in one write'], ['frames', 'frame by frame'], ['bytes', 'one byte per write']];

function cases() {
  const list = [];
  BASE.forEach(([title, frames, expect], i) => {
    for (const [mode, how] of MODES) {
      list.push({ id: `5.${i + 1}/${mode}`, title: `${title} (${how})`, frames, mode, expect });
    }
  });
  // Fragments with pauses between them, as Autobahn 5.19/5.20 do.
  const slow = (chop) => async (c) => {
    const parts = [
      f(T, 'fragment1', false), f(C, 'fragment2', false), f(OP.PING, 'pongme 1!'),
      f(C, 'fragment3', false), f(C, 'fragment4', false), f(OP.PING, 'pongme 2!'), f(C, 'fragment5'),
    ];
    for (const p of parts) {
      if (chop) await c.writeChopped(p, 1, 0);
      else await c.write(p);
      await delay(20);
    }
  };
  const slowExpect = ok([pong('pongme 1!'), pong('pongme 2!'), text('fragment1fragment2fragment3fragment4fragment5')]);
  list.push({ id: `5.${BASE.length + 1}`, title: 'a text message in 5 fragments sent with pauses and pings between them: pongs at once, then the echo', run: slow(false), expect: slowExpect });
  list.push({ id: `5.${BASE.length + 2}`, title: 'the same, each frame sent one byte per write', run: slow(true), expect: slowExpect });
  // The pong to a ping between fragments must not wait for the message to finish.
  list.push({
    id: `5.${BASE.length + 3}`,
    title: 'a ping between fragments is answered before the message is finished',
    run: async (c) => {
      await c.write(Buffer.concat([f(T, 'first', false), f(OP.PING, 'now')]));
      await c.waitEvents(1, 2000);
      await c.write(f(C, ' last'));
    },
    expect: ok([pong('now'), text('first last')]),
  });
  return list;
}

module.exports = { cases };
