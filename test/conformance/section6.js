'use strict';
// Section 6: UTF-8 in text messages. The sequences of Markus Kuhn's UTF-8
// decoder stress test, as Autobahn uses them: valid ones are echoed exactly,
// invalid ones fail the connection with 1007. Each is sent in one frame,
// chopped one byte per TCP write, as one fragment per byte, and split into two
// fragments at every byte position. The 6.4 cases check fail-fast: the
// server must fail on the first bad fragment before the rest arrives.

const { isUtf8 } = require('buffer');
const { frame, OP, delay } = require('../raw-client');
const { ok, fail, text } = require('./runner');

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const KOSME = hex('cebae1bdb9cf83cebcceb5'); // κόσμε

/** [category, [[valid, bytes], ...]] as in Autobahn's createUtf8TestSequences. */
function sequences() {
  const seq = [];
  seq.push(['Some valid UTF-8 sequences', [
    [true, Buffer.from('hello\x24world', 'latin1')],
    [true, hex('68656c6c6fc2a2776f726c64')],
    [true, hex('68656c6c6fe282ac776f726c64')],
    [true, hex('68656c6c6ff0a4ada2776f726c64')],
    [true, KOSME],
  ]]);
  const prefixes = [];
  for (let i = 1; i <= KOSME.length; i++) prefixes.push([isUtf8(KOSME.subarray(0, i)), KOSME.subarray(0, i)]);
  seq.push(['All prefixes of a valid UTF-8 string that contains multi-byte code points', prefixes]);
  seq.push(['First possible sequence of a certain length', [
    [true, hex('00')], [true, hex('c280')], [true, hex('e0a080')], [true, hex('f0908080')]]]);
  seq.push(['First possible sequence length 5/6 (invalid codepoints)', [
    [false, hex('f888808080')], [false, hex('fc8480808080')]]]);
  seq.push(['Last possible sequence of a certain length', [
    [true, hex('7f')], [true, hex('dfbf')], [true, hex('efbfbf')], [true, hex('f48fbfbf')]]]);
  seq.push(['Last possible sequence length 4/5/6 (invalid codepoints)', [
    [false, hex('f7bfbfbf')], [false, hex('fbbfbfbfbf')], [false, hex('fdbfbfbfbfbf')]]]);
  seq.push(['Other boundary conditions', [
    [true, hex('ed9fbf')], [true, hex('ee8080')], [true, hex('efbfbd')], [true, hex('f48fbfbf')], [false, hex('f4908080')]]]);
  const cont = [];
  for (let i = 0x80; i < 0xbf; i++) cont.push(i);
  seq.push(['Unexpected continuation bytes', [
    [false, hex('80')], [false, hex('bf')], [false, hex('80bf')], [false, hex('80bf80')], [false, hex('80bf80bf')],
    [false, hex('80bf80bf80')], [false, hex('80bf80bf80bf')], [false, Buffer.from(cont)]]]);
  const lonely = [];
  for (const [a, b] of [[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]]) {
    const s = [];
    for (let i = a; i < b; i++) s.push(i, 0x20);
    lonely.push([false, Buffer.from(s)]);
  }
  seq.push(['Lonely start characters', lonely]);
  const missing = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map(hex);
  seq.push(['Sequences with last continuation byte missing', missing.map((b) => [false, b])]);
  seq.push(['Concatenation of incomplete sequences', [[false, Buffer.concat(missing)]]]);
  seq.push(['Impossible bytes', [[false, hex('fe')], [false, hex('ff')], [false, hex('fefeffff')]]]);
  seq.push(['Examples of an overlong ASCII character', ['c0af', 'e080af', 'f08080af', 'f8808080af', 'fc80808080af'].map((h) => [false, hex(h)])]);
  seq.push(['Maximum overlong sequences', ['c1bf', 'e09fbf', 'f08fbfbf', 'f887bfbfbf', 'fc83bfbfbfbf'].map((h) => [false, hex(h)])]);
  seq.push(['Overlong representation of the NUL character', ['c080', 'e08080', 'f0808080', 'f880808080', 'fc8080808080'].map((h) => [false, hex(h)])]);
  seq.push(['Single UTF-16 surrogates', ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map((h) => [false, hex(h)])]);
  seq.push(['Paired UTF-16 surrogates', ['eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf'].map((h) => [false, hex(h)])]);
  const nonchars = [[true, hex('efbfbe')], [true, hex('efbfbf')]];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // above U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        nonchars.push([true, Buffer.from([z1, z2, 0xbf, z3])]);
      }
    }
  }
  seq.push(['Non-character code points (valid UTF-8)', nonchars]);
  seq.push(['Unicode specials (i.e. replacement char)', ['efbfb9', 'efbfba', 'efbfbb', 'efbfbc', 'efbfbd', 'efbfbe', 'efbfbf'].map((h) => [true, hex(h)])]);
  return seq;
}

/** A text message as one frame per piece (pieces: Buffers). */
function fragments(pieces) {
  return pieces.map((p, i) => frame(i === 0 ? OP.TEXT : OP.CONTINUATION, p, { fin: i === pieces.length - 1 }));
}

function verdict(valid, payload) {
  return valid ? ok([text(payload)]) : fail(1007);
}

function cases() {
  const list = [];
  // 6.1: empty text.
  list.push({ id: '6.1.1', title: 'an empty text message is echoed', frames: () => [frame(OP.TEXT, '')], expect: ok([text('')]) });
  list.push({ id: '6.1.2', title: 'a text message of three empty fragments is echoed empty', frames: () => fragments([Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)]), expect: ok([text('')]) });
  list.push({ id: '6.1.3', title: 'a text message of an empty, a non-empty and an empty fragment is echoed', frames: () => fragments([Buffer.alloc(0), Buffer.from('middle frame payload'), Buffer.alloc(0)]), expect: ok([text('middle frame payload')]) });

  // 6.2: valid UTF-8, whole and fragmented at every byte.
  const hello = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!', 'utf8');
  list.push({ id: '6.2.1', title: 'valid UTF-8 text with 2-byte characters in one frame is echoed', frames: () => [frame(OP.TEXT, hello)], expect: ok([text(hello)]) });
  for (let k = 1; k < hello.length; k++) {
    list.push({ id: `6.2.2.${k}`, title: `the same text in two fragments split at byte ${k} is echoed`, frames: () => fragments([hello.subarray(0, k), hello.subarray(k)]), expect: ok([text(hello)]) });
  }
  list.push({ id: '6.2.3', title: 'the same text with one fragment per byte is echoed', frames: () => fragments([...hello].map((b) => Buffer.from([b]))), expect: ok([text(hello)]) });
  list.push({ id: '6.2.4', title: 'κόσμε with one fragment per byte is echoed', frames: () => fragments([...KOSME].map((b) => Buffer.from([b]))), expect: ok([text(KOSME)]) });

  // 6.3: invalid UTF-8 (a surrogate) whole and fragmented.
  const bad = Buffer.concat([KOSME, hex('eda080'), Buffer.from('edited')]);
  list.push({ id: '6.3.1', title: 'text with an encoded surrogate in one frame fails the connection with 1007', frames: () => [frame(OP.TEXT, bad)], expect: fail(1007) });
  list.push({ id: '6.3.2', title: 'the same text with one fragment per byte fails the connection with 1007', frames: () => fragments([...bad].map((b) => Buffer.from([b]))), expect: fail(1007) });
  for (let k = 1; k < bad.length; k++) {
    list.push({ id: `6.3.3.${k}`, title: `the same text in two fragments split at byte ${k} fails the connection with 1007`, frames: () => fragments([bad.subarray(0, k), bad.subarray(k)]), expect: fail(1007) });
  }

  // 6.4: fail fast. The server must fail on the first bad part, before the rest is sent.
  const failFast = (id, title, p1, p2, p3, asChops) => ({
    id,
    title,
    failFast: true,
    run: async (c) => {
      const total = p1.length + p2.length + p3.length;
      let header;
      if (asChops) {
        // One frame whose payload arrives in three writes.
        const whole = frame(OP.TEXT, Buffer.concat([p1, p2, p3]));
        const hlen = whole.length - total;
        header = whole.subarray(0, hlen);
        const body = whole.subarray(hlen);
        await c.write(Buffer.concat([header, body.subarray(0, p1.length)]));
        if (!(await c.quietFor(150))) throw new Error(`the server reacted to the valid first part; ${c.describe()}`);
        await c.write(body.subarray(p1.length, p1.length + p2.length));
      } else {
        await c.write(frame(OP.TEXT, p1, { fin: false }));
        if (!(await c.quietFor(150))) throw new Error(`the server reacted to the valid first fragment; ${c.describe()}`);
        await c.write(frame(OP.CONTINUATION, p2, { fin: false }));
      }
      // Fail fast: the close must arrive before we send the rest.
      await c.waitCloseFrame(2000);
    },
    expect: fail(1007),
  });
  const p41 = [KOSME, hex('f4908080'), Buffer.from('edited')];
  const p42 = [Buffer.concat([KOSME, hex('f4')]), hex('90'), Buffer.concat([hex('8080'), Buffer.from('edited')])];
  list.push(failFast('6.4.1', 'a bad code point in the second of three fragments fails with 1007 before the third is sent', ...p41, false));
  list.push(failFast('6.4.2', 'a bad byte starting the second of three fragments fails with 1007 before the third is sent', ...p42, false));
  list.push(failFast('6.4.3', 'a bad code point in the second of three chops of one frame fails with 1007 before the rest is sent', ...p41, true));
  list.push(failFast('6.4.4', 'a bad byte starting the second of three chops of one frame fails with 1007 before the rest is sent', ...p42, true));

  // 6.5 and on: the stress-test sequences.
  sequences().forEach(([category, items], ci) => {
    items.forEach(([valid, payload], j) => {
      const id = `6.${ci + 5}.${j + 1}`;
      const what = `${valid ? 'valid' : 'invalid'} UTF-8 (${category}: ${payload.length > 16 ? `${payload.length} bytes` : payload.toString('hex')})`;
      const outcome = valid ? 'is echoed' : 'fails the connection with 1007';
      list.push({ id, title: `text of ${what} in one frame ${outcome}`, frames: () => [frame(OP.TEXT, payload)], expect: verdict(valid, payload) });
      if (payload.length > 1) {
        list.push({ id: `${id}/chopped`, title: `text of ${what} in one frame sent one byte per write ${outcome}`, frames: () => [frame(OP.TEXT, payload)], mode: 'bytes', expect: verdict(valid, payload) });
        list.push({ id: `${id}/fragments`, title: `text of ${what} with one fragment per byte ${outcome}`, frames: () => fragments([...payload].map((b) => Buffer.from([b]))), expect: verdict(valid, payload) });
        for (let k = 1; k < payload.length; k++) {
          list.push({ id: `${id}/split-${k}`, title: `text of ${what} in two fragments split at byte ${k} ${outcome}`, frames: () => fragments([payload.subarray(0, k), payload.subarray(k)]), expect: verdict(valid, payload) });
        }
      }
    });
  });
  // Sanity check of the table itself against Node's validator.
  for (const [, items] of sequences()) {
    for (const [valid, payload] of items) {
      if (isUtf8(payload) !== valid) throw new Error(`UTF-8 table error for ${payload.toString('hex')}`);
    }
  }
  return list;
}

module.exports = { cases, sequences };
