'use strict';

// Single frames, as NaviServer's ws::build_msg / ws::decode_msg: for code
// that speaks WebSocket over something other than this server's sockets.

const crypto = require('crypto');
const native = require('./native');
const { WebSocketError } = require('./errors');

/**
 * Encodes one frame.
 * @param {string|Buffer|ArrayBufferView} payload
 * @param {{ opcode?: number, fin?: boolean, mask?: boolean }} [options]
 *   opcode defaults to 1 (text) for strings and 2 (binary) otherwise
 * @returns {Buffer}
 */
function buildMessage(payload, { opcode, fin = true, mask = false } = {}) {
  if (typeof payload === 'number' || typeof payload === 'boolean') payload = String(payload);
  if (opcode === undefined) opcode = typeof payload === 'string' ? 1 : 2;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 15) {
    throw new WebSocketError('WS_ERR_INVALID_OPCODE', `opcode must be an integer from 0 to 15 (got ${opcode})`);
  }
  if (opcode >= 8) {
    // RFC 6455 5.5: control frames are never fragmented and carry at most 125 bytes.
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (!fin || size > 125) {
      throw new WebSocketError('WS_ERR_INVALID_CONTROL_FRAME',
        `a control frame (opcode ${opcode}) must have fin set and at most 125 bytes of payload (got ${size} bytes, fin ${Boolean(fin)})`);
    }
  }
  return native.buildMessage(payload, opcode, Boolean(fin), mask ? crypto.randomBytes(4) : undefined);
}

/**
 * Decodes the frame at the start of buffer.
 * @param {Buffer|Uint8Array} buffer
 * @returns {{ fin: boolean, opcode: number, payload: Buffer, bytesUsed: number } | null}
 *   null when buffer holds less than one whole frame
 */
function decodeMessage(buffer) {
  const r = native.decodeMessage(buffer);
  if (r === null) return null;
  const [fin, opcode, offset, length, copy] = r;
  return { fin, opcode, payload: copy.subarray(offset, offset + length), bytesUsed: offset + length };
}

module.exports = { buildMessage, decodeMessage };
