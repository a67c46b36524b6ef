'use strict';
// Section 10: a 64 KiB message in one frame is echoed whole; the server is
// free to fragment its answer (the raw client reassembles and checks the
// fragments are well-formed).

const { frame, OP } = require('../raw-client');
const { ok, text, binary } = require('./runner');
const { bytes, utf8Text } = require('./section1');

function cases() {
  const t = utf8Text(65536);
  const b = bytes(65536, 10);
  return [
    { id: '10.1.1', title: 'a 64 KiB text message in one frame is echoed whole', frames: () => [frame(OP.TEXT, t)], expect: ok([text(t)]) },
    { id: '10.1.2', title: 'a 64 KiB binary message in one frame is echoed whole', frames: () => [frame(OP.BINARY, b)], expect: ok([binary(b)]) },
    { id: '10.1.3', title: 'a 64 KiB text message sent one byte per write for its first 64 bytes is echoed whole', run: async (c) => { const f = frame(OP.TEXT, t); await c.writeChopped(f.subarray(0, 64), 1, 0); await c.write(f.subarray(64)); }, expect: ok([text(t)]) },
  ];
}

module.exports = { cases };
