'use strict';
// Runs one conformance case against an echo server, Autobahn-style, with a
// strict verdict:
//   ok(events)          the server answers exactly `events` (echoes in order,
//                       pongs), nothing else; then we close with 1000, the
//                       server answers 1000 and closes TCP.
//   fail(code, events)  the server sends exactly `events`, then a close frame
//                       with exactly `code`, no data after it; we answer the
//                       close like a real client and TCP must close within 2 s.
//   closed(codes, ev)   the case sent a close itself: the server answers with
//                       a close whose code is one of `codes` (null = empty
//                       payload), sends exactly `ev` before it, closes TCP.
// Every frame the server sends must be well-formed (see raw-client.js).

const assert = require('assert/strict');
const { RawClient, OP, delay } = require('../raw-client');

const TCP_CLOSE_MS = 2000;

function ok(events) { return { kind: 'ok', events }; }
function fail(code, events = []) { return { kind: 'fail', code, events }; }
function closed(codes, events = []) { return { kind: 'closed', codes, events }; }

function text(s) { return { type: 'message', opcode: OP.TEXT, data: Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8') }; }
function binary(b) { return { type: 'message', opcode: OP.BINARY, data: Buffer.from(b) }; }
function pong(p) { return { type: 'pong', data: Buffer.isBuffer(p) ? p : Buffer.from(p || '', 'utf8') }; }

function describeEvent(e) {
  if (!e) return 'nothing';
  const kind = e.type === 'pong' ? 'pong' : e.opcode === OP.TEXT ? 'text' : e.opcode === OP.BINARY ? 'binary' : `opcode ${e.opcode}`;
  const preview = e.data.length <= 32 ? ` ${e.data.toString('hex')}` : '';
  return `${kind} of ${e.data.length} bytes${preview}`;
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Compares received events with expected ones, without dumping megabytes. */
function assertEvents(actual, expected) {
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const a = actual[i];
    const e = expected[i];
    if (!a || !e || a.type !== e.type || a.opcode !== e.opcode || !a.data.equals(e.data)) {
      let detail = '';
      if (a && e && a.type === e.type && a.opcode === e.opcode) {
        detail = ` (lengths ${a.data.length} vs ${e.data.length}, first difference at byte ${firstDifference(a.data, e.data)})`;
      }
      assert.fail(`event #${i + 1}: expected ${describeEvent(e)}, received ${describeEvent(a)}${detail}; `
        + `${actual.length} event(s) received, ${expected.length} expected`);
    }
  }
}

/** Writes frames (Buffers) as one write, one write per frame, or one write per byte. */
async function deliver(c, frames, mode = 'whole') {
  if (mode === 'whole') {
    await c.write(Buffer.concat(frames));
  } else if (mode === 'frames') {
    for (const f of frames) {
      if (c.closeFrame || c.socket.destroyed) return;
      await c.write(f);
      await delay(2);
    }
  } else if (mode === 'bytes') {
    await c.writeChopped(Buffer.concat(frames), 1, 0);
  } else if (typeof mode === 'number') {
    await c.writeChopped(Buffer.concat(frames), mode, 0);
  } else {
    throw new Error(`unknown delivery mode ${mode}`);
  }
}

/** Waits for the close frame, or stops early when more events came than expected. */
async function closeOrExtra(c, expected, ms) {
  await c.waitFor(() => c.closeFrame !== null || c.events.length > expected, ms, 'the server\'s close frame');
  if (!c.closeFrame) {
    assert.fail(`expected ${expected} event(s) and then a close frame; ${c.describe()}`);
  }
}

/**
 * Runs a case: { id, title, frames?: () => Buffer[], mode?, run?: async (c) => {}, expect, timeout? }.
 * `frames` are delivered per `mode`; `run` does anything more elaborate.
 * `connect`: more RawClient.connect options (e.g. { tls: { ca } } for wss://).
 */
async function runCase(url, kase, connect = {}) {
  const T = kase.timeout || 2000;
  const c = await RawClient.connect(url, { ...connect, path: kase.path || connect.path || '/' });
  try {
    // A case that closes by itself must not have its close answered again.
    if (kase.expect.kind === 'closed') c.closeSent = c.closeSent || { code: 'sent by the case' };
    if (kase.frames) await deliver(c, kase.frames(), kase.mode);
    if (kase.run) await kase.run(c);
    const exp = kase.expect;
    if (exp.kind === 'ok') {
      await c.waitEvents(exp.events.length, T);
      await c.close(1000);
      await c.waitCloseFrame(T);
      assertEvents(c.events, exp.events);
      assert.equal(c.closeFrame.code, 1000, `the server answered our 1000 close with ${c.closeFrame.code}`);
    } else if (exp.kind === 'fail') {
      await closeOrExtra(c, exp.events.length, T);
      assertEvents(c.events, exp.events);
      assert.equal(c.closeFrame.code, exp.code, `expected close code ${exp.code}, got ${c.closeFrame.code} "${c.closeFrame.reason}"`);
    } else if (exp.kind === 'closed') {
      await closeOrExtra(c, exp.events.length, T);
      assertEvents(c.events, exp.events);
      assert.ok(exp.codes.includes(c.closeFrame.code),
        `the server answered our close with ${c.closeFrame.code === null ? 'an empty close' : c.closeFrame.code}, expected one of ${exp.codes.map((x) => (x === null ? 'empty' : x)).join(', ')}`);
    } else {
      throw new Error(`unknown expectation ${exp.kind}`);
    }
    await c.waitTcpClose(TCP_CLOSE_MS);
    assert.deepEqual(c.violations, [], 'the server sent malformed frames');
    // The close reply must have come after every echo: nothing may follow it.
    const closeIndex = c.frames.findIndex((f) => f.opcode === OP.CLOSE);
    assert.equal(closeIndex, c.frames.length - 1, 'frames followed the close frame');
  } finally {
    c.destroy();
  }
}

module.exports = { runCase, ok, fail, closed, text, binary, pong, assertEvents, deliver, OP };
