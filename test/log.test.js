'use strict';

// lib/log.js: the line format of node.websocket.js, sinks, and off meaning off.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const path = require('path');
const { createLogger, streamSink, formatLine } = require('../lib/log');

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

function capture() {
  const lines = [];
  return { lines, stream: { write(chunk) { lines.push(chunk); } } };
}

test('an info line reads [ISO date] [info] message', () => {
  const { lines, stream } = capture();
  const log = createLogger({ enabled: true, sinks: [streamSink(stream)] });
  log.info('server listening');
  assert.equal(lines.length, 1);
  assert.match(lines[0], new RegExp(`^\\[${ISO}\\] \\[info\\] server listening\\n$`));
});

test('a line about a connection names its client address', () => {
  const { lines, stream } = capture();
  const log = createLogger({ sinks: [streamSink(stream)] });
  log.error('handler threw', { remoteAddress: '127.0.0.1' });
  log.info('no address known', {});
  assert.match(lines[0], new RegExp(`^\\[${ISO}\\] \\[error\\] \\[client 127\\.0\\.0\\.1\\] handler threw\\n$`));
  assert.match(lines[1], /\] \[info\] \[client unknown\] no address known\n$/);
});

test('an Error logs its stack, each continuation line indented so records stay one per [', () => {
  const { lines, stream } = capture();
  createLogger({ sinks: [streamSink(stream)] }).error(new TypeError('boom'));
  const [first, ...rest] = lines[0].trimEnd().split('\n');
  assert.match(first, /\[error\] TypeError: boom$/);
  assert.ok(rest.length > 0);
  for (const line of rest) assert.match(line, /^ {4}at /);
});

test('a disabled logger writes nothing', () => {
  const { lines, stream } = capture();
  const log = createLogger({ enabled: false, sinks: [streamSink(stream)] });
  log.info('x');
  log.error('y', { remoteAddress: '::1' });
  assert.deepEqual(lines, []);
  assert.equal(log.enabled, false);
});

test('every sink gets the structured record, and a failing sink does not stop the others', () => {
  const records = [];
  const log = createLogger({
    sinks: [{ write() { throw new Error('sink down'); } }, { write(r) { records.push(r); } }],
  });
  log.info('hello', { remoteAddress: '10.0.0.1' });
  assert.equal(records.length, 1);
  assert.equal(records[0].level, 'info');
  assert.equal(records[0].message, 'hello');
  assert.equal(records[0].remoteAddress, '10.0.0.1');
  assert.ok(records[0].time instanceof Date);
  assert.equal(records[0].line, formatLine(records[0].time, 'info', 'hello', '10.0.0.1'));
});

test('close() closes the sinks that can be closed', () => {
  let closed = 0;
  createLogger({ sinks: [{ write() {}, close() { closed++; } }, { write() {} }] }).close();
  assert.equal(closed, 1);
});

test('by default lines go to stdout', () => {
  const r = spawnSync(process.execPath, ['-e',
    `require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'log.js'))}).createLogger({ enabled: true }).info('to stdout', { remoteAddress: '::1' })`],
  { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^\\[${ISO}\\] \\[info\\] \\[client ::1\\] to stdout\\n$`));
  assert.equal(r.stderr, '');
});
