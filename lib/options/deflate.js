'use strict';

// permessage-deflate (RFC 7692): the option and its parameters, each with
// a command-line flag of its own.

const { MAX_SAFE, Problem, isIntegerString, closest, isPlainObject, kebab } = require('./common');

const OPTIONS = [
  { name: 'perMessageDeflate', cli: '--deflate', aliases: ['per-message-deflate'], type: 'deflate', default: false, arg: 'JSON',
    doc: 'permessage-deflate (RFC 7692): false (off), true (on, every parameter at its default), or an object of the parameters below; --deflate alone turns it on.' },
];

/**
 * The parameters of perMessageDeflate, each with its own command-line flag
 * (--deflate-threshold=512, --deflate-server-no-context-takeover, ...).
 */
const DEFLATE_PARAMS = [
  { key: 'threshold', type: 'integer', default: 1024, min: 0, max: MAX_SAFE, arg: 'BYTES',
    doc: 'Messages smaller than this many bytes are sent uncompressed.' },
  { key: 'serverNoContextTakeover', type: 'boolean', default: false,
    doc: 'The server starts each message with an empty compression window (less memory per connection, less compression); always answered as server_no_context_takeover.' },
  { key: 'clientNoContextTakeover', type: 'boolean', default: false,
    doc: 'Clients are asked to do the same (client_no_context_takeover), so the server keeps no inflate window between messages.' },
  { key: 'serverMaxWindowBits', type: 'integer', default: 15, min: 8, max: 15, arg: 'N',
    doc: "The server's LZ77 window is 2^N bytes (answered as server_max_window_bits when below 15)." },
  { key: 'clientMaxWindowBits', type: 'integer', default: 15, min: 8, max: 15, arg: 'N',
    doc: "The largest window a client may compress with, when the client offers client_max_window_bits." },
  { key: 'memLevel', type: 'integer', default: 8, min: 1, max: 9, arg: 'N',
    doc: "zlib's memLevel for the server's compressor: memory against speed." },
  { key: 'level', type: 'integer', default: 6, min: 0, max: 9, arg: 'N',
    doc: "zlib's compression level: 0 none, 1 fastest, 9 smallest; 6 is zlib's default." },
];
for (const p of DEFLATE_PARAMS) p.cli = '--deflate-' + kebab(p.key);


function checkDeflate(option, value) {
  if (value === false) return false;
  if (value === true) value = {};
  if (!isPlainObject(value)) {
    throw new Problem('must be true, false, or an object like { threshold: 1024, serverNoContextTakeover: true }');
  }
  const known = DEFLATE_PARAMS.map((p) => p.key);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const hint = closest(key, known);
      throw new Problem(`is not a permessage-deflate parameter (they are ${known.join(', ')})${hint ? `; did you mean ${hint}?` : ''}`,
        { key: `.${key}`, showsValue: true });
    }
  }
  const out = {};
  for (const p of DEFLATE_PARAMS) {
    const v = value[p.key] === undefined ? p.default : value[p.key];
    if (p.type === 'boolean') {
      if (typeof v !== 'boolean') throw new Problem('must be true or false', { key: `.${p.key}`, value: v });
      out[p.key] = v;
    } else {
      const n = isIntegerString(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < p.min || n > p.max) {
        throw new Problem(`must be an integer from ${p.min} to ${p.max}`, { key: `.${p.key}`, value: v });
      }
      out[p.key] = n;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// TLS. Certificates and keys are given as PEM contents or as file paths;
// files are read here, once, so a missing file or a key that does not match

const TYPES = { deflate: { check: checkDeflate, flag: true, negatable: true, json: true, optionalValue: true } };
// Options whose parts have flags of their own, and those parts.
const PARTS = { perMessageDeflate: DEFLATE_PARAMS };

module.exports = { OPTIONS, TYPES, PARTS, DEFLATE_PARAMS };
