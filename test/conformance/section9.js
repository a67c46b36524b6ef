'use strict';
// Section 9, scaled down: large text and binary messages in one frame and in
// fragments of many sizes, chopped TCP writes, and 1000 small messages
// pipelined. Every echo must be exact and in order. No timing assertions.

const { frame, OP } = require('../raw-client');
const { ok, text, binary } = require('./runner');
const { bytes, utf8Text } = require('./section1');

const KiB = 1024;
const MiB = 1024 * 1024;
const SIZES = [64 * KiB, 256 * KiB, MiB, 4 * MiB];
const FRAGMENTS = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB];

function size(n) {
  return n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`;
}

/** Splits payload into frames of `frag` bytes (the last one shorter). */
function fragmented(opcode, payload, frag) {
  const out = [];
  for (let off = 0; off < payload.length || off === 0; off += frag) {
    const last = off + frag >= payload.length;
    out.push(frame(off === 0 ? opcode : OP.CONTINUATION, payload.subarray(off, off + frag), { fin: last }));
    if (last) break;
  }
  return out;
}

/** Fragments of pseudo-random sizes 1..max (deterministic). */
function randomFragments(opcode, payload, max, seed) {
  const out = [];
  let x = seed;
  let off = 0;
  while (off < payload.length) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (x % max);
    const last = off + n >= payload.length;
    out.push(frame(off === 0 ? opcode : OP.CONTINUATION, payload.subarray(off, off + n), { fin: last }));
    off += n;
  }
  return out;
}

function cases() {
  const list = [];
  const cache = new Map();
  const payloadOf = (kind, n) => {
    const key = `${kind}${n}`;
    if (!cache.has(key)) cache.set(key, kind === 'text' ? utf8Text(n) : bytes(n, n % 251));
    return cache.get(key);
  };
  const ev = (kind, p) => (kind === 'text' ? text(p) : binary(p));
  const op = (kind) => (kind === 'text' ? OP.TEXT : OP.BINARY);
  ['text', 'binary'].forEach((kind, k) => {
    SIZES.forEach((n, i) => {
      list.push({
        id: `9.${k + 1}.${i + 1}`,
        title: `a ${size(n)} ${kind} message in one frame is echoed exactly`,
        frames: () => [frame(op(kind), payloadOf(kind, n))],
        expect: ok([ev(kind, payloadOf(kind, n))]),
        timeout: 15000,
      });
    });
  });
  ['text', 'binary'].forEach((kind, k) => {
    FRAGMENTS.forEach((frag, i) => {
      list.push({
        id: `9.${k + 3}.${i + 1}`,
        title: `a 4 MiB ${kind} message in fragments of ${size(frag)} is echoed exactly`,
        frames: () => fragmented(op(kind), payloadOf(kind, 4 * MiB), frag),
        expect: ok([ev(kind, payloadOf(kind, 4 * MiB))]),
        timeout: 15000,
      });
    });
  });
  ['text', 'binary'].forEach((kind, k) => {
    [256, KiB, 4 * KiB, 16 * KiB, 64 * KiB].forEach((chop, i) => {
      list.push({
        id: `9.${k + 5}.${i + 1}`,
        title: `a 1 MiB ${kind} message in one frame sent in TCP chops of ${size(chop)} is echoed exactly`,
        frames: () => [frame(op(kind), payloadOf(kind, MiB))],
        mode: chop,
        expect: ok([ev(kind, payloadOf(kind, MiB))]),
        timeout: 15000,
      });
    });
  });
  ['text', 'binary'].forEach((kind, k) => {
    [[997, 1], [65536, 2], [7, 3]].forEach(([max, seed], i) => {
      const n = max === 7 ? 64 * KiB : MiB;
      list.push({
        id: `9.${k + 7}.${i + 1}`,
        title: `a ${size(n)} ${kind} message in fragments of varying size (1 to ${max} bytes) is echoed exactly`,
        frames: () => randomFragments(op(kind), payloadOf(kind, n), max, seed),
        expect: ok([ev(kind, payloadOf(kind, n))]),
        timeout: 15000,
      });
    });
  });
  ['text', 'binary'].forEach((kind, k) => {
    [0, 16, 64, 256, KiB, 4 * KiB].forEach((n, i) => {
      const msgs = Array.from({ length: 1000 }, (_, j) => {
        const p = kind === 'text' ? Buffer.from(`${j}:`.padEnd(Math.max(n, `${j}:`.length), '.').slice(0, n || 0)) : bytes(n, j + 1);
        return p;
      });
      list.push({
        id: `9.${k + 9}.${i + 1}`,
        title: `1000 ${kind} messages of ${size(n)} pipelined are all echoed exactly and in order`,
        frames: () => msgs.map((p) => frame(op(kind), p)),
        expect: ok(msgs.map((p) => ev(kind, p))),
        timeout: 15000,
      });
    });
  });
  return list;
}

module.exports = { cases, fragmented };
