'use strict';
// Section 1: framing. Text and binary messages of every length encoding
// boundary, sent whole, chopped, and with the frame header split at every
// byte; masking rules; several frames in one write.

const { frame, OP } = require('../raw-client');
const { ok, fail, text, binary } = require('./runner');

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

/** Deterministic bytes (no randomness, so failures reproduce). */
function bytes(n, seed = 1) {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Valid UTF-8 text of exactly n bytes, with multi-byte characters. */
function utf8Text(n) {
  const pattern = Buffer.from('Hello, wörld! κόσμε € 𝄞 ', 'utf8');
  const out = Buffer.alloc(n, 0x2a);
  let off = 0;
  while (off + pattern.length <= n) {
    pattern.copy(out, off);
    off += pattern.length;
  }
  return out; // the tail stays ASCII '*'
}

function cases() {
  const list = [];
  LENGTHS.forEach((len, i) => {
    list.push({
      id: `1.1.${i + 1}`,
      title: `a text message of ${len} bytes is echoed`,
      frames: () => [frame(OP.TEXT, utf8Text(len))],
      expect: ok([text(utf8Text(len))]),
    });
  });
  list.push({
    id: '1.1.8',
    title: 'a 65536-byte text message sent in 997-byte chops is echoed',
    frames: () => [frame(OP.TEXT, utf8Text(65536))],
    mode: 997,
    expect: ok([text(utf8Text(65536))]),
  });
  LENGTHS.forEach((len, i) => {
    list.push({
      id: `1.2.${i + 1}`,
      title: `a binary message of ${len} bytes is echoed`,
      frames: () => [frame(OP.BINARY, bytes(len, i + 7))],
      expect: ok([binary(bytes(len, i + 7))]),
    });
  });
  list.push({
    id: '1.2.8',
    title: 'a 65536-byte binary message sent in 997-byte chops is echoed',
    frames: () => [frame(OP.BINARY, bytes(65536, 99))],
    mode: 997,
    expect: ok([binary(bytes(65536, 99))]),
  });

  // 1.3: the frame header (and mask) split into two writes at every byte.
  let n = 0;
  for (const len of [0, 125, 126, 65535, 65536]) {
    const headerLen = (len < 126 ? 2 : len < 65536 ? 4 : 10) + 4;
    for (let split = 1; split < headerLen + (len > 0 ? 1 : 0); split++) {
      const opcode = n % 2 ? OP.BINARY : OP.TEXT;
      const payload = opcode === OP.TEXT ? utf8Text(len) : bytes(len, n);
      n++;
      list.push({
        id: `1.3.${n}`,
        title: `a ${opcode === OP.TEXT ? 'text' : 'binary'} message of ${len} bytes whose frame is split after byte ${split} is echoed`,
        run: async (c) => {
          const f = frame(opcode, payload);
          await c.write(f.subarray(0, split));
          await new Promise((r) => setTimeout(r, 5));
          await c.write(f.subarray(split));
        },
        expect: ok([opcode === OP.TEXT ? text(payload) : binary(payload)]),
      });
    }
  }

  // 1.4: masking. Client frames must be masked.
  const unmasked = [
    ['text', OP.TEXT, 'Hello'],
    ['binary', OP.BINARY, Buffer.from([1, 2, 3])],
    ['ping', OP.PING, 'ping'],
    ['close', OP.CLOSE, Buffer.from([0x03, 0xe8])],
    ['empty text', OP.TEXT, ''],
  ];
  unmasked.forEach(([name, op, payload], i) => {
    list.push({
      id: `1.4.${i + 1}`,
      title: `an unmasked ${name} frame fails the connection with 1002`,
      frames: () => [frame(op, payload, { masked: false })],
      expect: fail(1002),
    });
  });
  list.push({
    id: '1.4.6',
    title: 'an unmasked frame after a valid message: the message is echoed, then 1002',
    frames: () => [frame(OP.TEXT, 'first'), frame(OP.TEXT, 'second', { masked: false }), frame(OP.TEXT, 'third')],
    expect: fail(1002, [text('first')]),
  });
  list.push({
    id: '1.4.7',
    title: 'a frame masked with the all-zero key is valid and echoed',
    frames: () => [frame(OP.TEXT, 'zero mask', { maskKey: Buffer.alloc(4) })],
    expect: ok([text('zero mask')]),
  });
  list.push({
    id: '1.4.8',
    title: 'an unmasked continuation frame fails the connection with 1002',
    frames: () => [frame(OP.TEXT, 'frag', { fin: false }), frame(OP.CONTINUATION, 'ment', { masked: false })],
    expect: fail(1002),
  });

  // 1.5: several frames in one write, and a 64-bit length with the top bit set.
  list.push({
    id: '1.5.1',
    title: 'two messages in one TCP write are both echoed in order',
    frames: () => [frame(OP.TEXT, 'one'), frame(OP.BINARY, Buffer.from([2]))],
    expect: ok([text('one'), binary([2])]),
  });
  list.push({
    id: '1.5.2',
    title: '100 messages of growing size in one TCP write are all echoed in order',
    frames: () => Array.from({ length: 100 }, (_, i) => frame(i % 2 ? OP.BINARY : OP.TEXT, i % 2 ? bytes(i * 7, i) : utf8Text(i * 7))),
    expect: ok(Array.from({ length: 100 }, (_, i) => (i % 2 ? binary(bytes(i * 7, i)) : text(utf8Text(i * 7))))),
  });
  list.push({
    id: '1.5.3',
    title: 'a frame whose 64-bit length has the most significant bit set fails the connection with 1002',
    frames: () => [frame(OP.BINARY, Buffer.alloc(0), { lengthBits: 64, declaredLength: 0x8000000000000001n })],
    expect: fail(1002),
  });
  list.push({
    id: '1.5.4',
    title: 'a message followed by a partial frame header and then the rest is echoed twice',
    run: async (c) => {
      const f = Buffer.concat([frame(OP.TEXT, 'a'), frame(OP.TEXT, 'b')]);
      const cut = frame(OP.TEXT, 'a').length + 1;
      await c.write(f.subarray(0, cut));
      await new Promise((r) => setTimeout(r, 5));
      await c.write(f.subarray(cut));
    },
    expect: ok([text('a'), text('b')]),
  });

  // 1.6: every byte value, every BMP code point.
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  list.push({
    id: '1.6.1',
    title: 'a binary message holding every byte value is echoed',
    frames: () => [frame(OP.BINARY, all)],
    expect: ok([binary(all)]),
  });
  let bmp = '';
  for (let cp = 0; cp < 0x10000; cp++) if (cp < 0xd800 || cp > 0xdfff) bmp += String.fromCharCode(cp);
  const bmpBuf = Buffer.from(bmp, 'utf8');
  list.push({
    id: '1.6.2',
    title: 'a text message holding every BMP code point is echoed',
    frames: () => [frame(OP.TEXT, bmpBuf)],
    expect: ok([text(bmpBuf)]),
  });
  let astral = '';
  for (let cp = 0x10000; cp <= 0x10ffff; cp += 0x101) astral += String.fromCodePoint(cp);
  astral += String.fromCodePoint(0x10ffff);
  const astralBuf = Buffer.from(astral, 'utf8');
  list.push({
    id: '1.6.3',
    title: 'a text message of supplementary-plane code points up to U+10FFFF is echoed',
    frames: () => [frame(OP.TEXT, astralBuf)],
    expect: ok([text(astralBuf)]),
  });
  return list;
}

module.exports = { cases, bytes, utf8Text };
