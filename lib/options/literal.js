'use strict';

// A small parser of JavaScript literals, for command-line values. It only
// ever builds numbers, strings, booleans, null and arrays: nothing is evaluated.

const { WebSocketError } = require('../errors');

const NUMBER_RE = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
// Arrays nest at most this deep: a command-line value never needs more, and
// the parser recurses once per level (past a few thousand, a stack overflow).
const MAX_DEPTH = 100;
const SIMPLE_ESCAPES = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', 0: '\0' };

function syntaxError(text, pos, what) {
  return new WebSocketError('WS_ERR_INVALID_OPTION', `${what} at position ${pos} in ${JSON.stringify(text)}`, { position: pos });
}

/**
 * Parses one JavaScript literal: a number, a 'single' or "double" quoted
 * string (with escapes), an array (nested up to 100 deep, trailing comma allowed), true,
 * false or null. Anything else is a bare word and stands for itself as a
 * string: at top level it runs to the end of the text, inside an array to the
 * next ',' or ']'. Never evaluates anything.
 * @param {string} text
 * @returns {number|string|boolean|null|Array}
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION' on bad input, with `position`
 */
function parseLiteral(text) {
  if (typeof text !== 'string') throw new TypeError('parseLiteral expects a string');
  let pos = 0;

  const skipSpace = () => { while (pos < text.length && /\s/.test(text[pos])) pos++; };

  // The end of a bare word or number: the end of the text at top level,
  // ',' or ']' inside an array.
  const atEnd = (depth, i) => (depth === 0 ? i >= text.length : i >= text.length || text[i] === ',' || text[i] === ']');

  function bareWord(depth) {
    const start = pos;
    if (depth === 0) pos = text.length;
    else while (pos < text.length && text[pos] !== ',' && text[pos] !== ']') pos++;
    return text.slice(start, pos).trim();
  }

  function quoted() {
    const quote = text[pos];
    const start = pos++;
    let out = '';
    while (pos < text.length) {
      const c = text[pos++];
      if (c === quote) return out;
      if (c !== '\\') { out += c; continue; }
      if (pos >= text.length) break;
      const e = text[pos++];
      if (e in SIMPLE_ESCAPES && !(e === '0' && /\d/.test(text[pos] || ''))) {
        out += SIMPLE_ESCAPES[e];
      } else if (e === 'x') {
        const hex = text.slice(pos, pos + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw syntaxError(text, pos - 2, 'bad \\x escape');
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 2;
      } else if (e === 'u') {
        let m;
        if ((m = /^\{([0-9a-fA-F]{1,6})\}/.exec(text.slice(pos))) && parseInt(m[1], 16) <= 0x10ffff) {
          out += String.fromCodePoint(parseInt(m[1], 16));
          pos += m[0].length;
        } else if ((m = /^[0-9a-fA-F]{4}/.exec(text.slice(pos)))) {
          out += String.fromCharCode(parseInt(m[0], 16));
          pos += 4;
        } else {
          throw syntaxError(text, pos - 2, 'bad \\u escape');
        }
      } else if (e === '\r' || e === '\n' || e === '\u2028' || e === '\u2029') {
        if (e === '\r' && text[pos] === '\n') pos++; // line continuation
      } else {
        out += e; // \' \" \\ and any other character stand for themselves
      }
    }
    throw syntaxError(text, start, 'unterminated string');
  }

  function value(depth) {
    skipSpace();
    if (pos >= text.length) throw syntaxError(text, pos, 'expected a value');
    const c = text[pos];
    if (c === '"' || c === "'") return quoted();
    if (c === '[') return array(depth + 1);
    if (c === ']' || c === ',') throw syntaxError(text, pos, `unexpected '${c}'`);
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (m) {
      let end = pos + m[0].length;
      while (end < text.length && /\s/.test(text[end])) end++;
      if (atEnd(depth, end)) { pos = end; return Number(m[0]); }
      return bareWord(depth); // e.g. 127.0.0.1 or 8080abc: a word, not a number
    }
    for (const [word, result] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, pos)) {
        let end = pos + word.length;
        while (end < text.length && /\s/.test(text[end])) end++;
        if (atEnd(depth, end)) { pos = end; return result; }
      }
    }
    return bareWord(depth);
  }

  function array(depth) {
    if (depth > MAX_DEPTH) throw syntaxError(text, pos, `arrays nested more than ${MAX_DEPTH} deep`);
    const start = pos++;
    const out = [];
    for (;;) {
      skipSpace();
      if (pos >= text.length) throw syntaxError(text, start, "unterminated array (missing ']')");
      if (text[pos] === ']') { pos++; return out; }
      out.push(value(depth));
      skipSpace();
      if (text[pos] === ',') pos++;
      else if (text[pos] !== ']' && pos < text.length) throw syntaxError(text, pos, "expected ',' or ']'");
    }
  }

  const result = value(0);
  skipSpace();
  if (pos < text.length) throw syntaxError(text, pos, `unexpected ${JSON.stringify(text.slice(pos, pos + 20))} after the value`);
  return result;
}

module.exports = { parseLiteral };
