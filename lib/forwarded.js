'use strict';

// The client's address behind reverse proxies: which peers are trusted
// (the trustProxy option) and what they say in X-Forwarded-For or
// Forwarded (RFC 7239). Headers are believed only when the peer is
// trusted, and read from the right, where the proxies closest to us wrote.

const net = require('net');
const { WebSocketError } = require('./errors');

/** Names accepted in trustProxy for common ranges (as Express's proxy-addr has them). */
const NAMED_RANGES = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const trustAll = () => true;
const trustNone = () => false;

/**
 * Parses a text address into its eight 16-bit groups. IPv4 addresses become
 * IPv4-mapped IPv6 (::ffff:a.b.c.d), so one comparison serves both families
 * and '1.2.3.4' and '::ffff:1.2.3.4' are the same address.
 * @param {string} text an address as net.isIP accepts it (a zone is ignored)
 * @returns {number[] | null} null when text is not an address
 */
function addressGroups(text) {
  if (typeof text !== 'string') return null;
  const kind = net.isIP(text);
  if (kind === 4) return [0, 0, 0, 0, 0, 0xffff, ...ipv4Groups(text)];
  if (kind !== 6) return null;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const gap = text.indexOf('::');
  const head = ipv6Groups(gap === -1 ? text : text.slice(0, gap));
  if (gap === -1) return head;
  const tail = ipv6Groups(text.slice(gap + 2));
  return [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
}

/** 'a.b.c.d' (already valid) → its two 16-bit groups. */
function ipv4Groups(text) {
  const [a, b, c, d] = text.split('.').map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

/** One side of '::' (already valid) → its groups; a trailing dotted quad makes two. */
function ipv6Groups(text) {
  if (text === '') return [];
  const groups = [];
  for (const part of text.split(':')) {
    if (part.includes('.')) groups.push(...ipv4Groups(part));
    else groups.push(parseInt(part, 16));
  }
  return groups;
}

/**
 * Parses one trustProxy entry: an address or a CIDR range, IPv4 or IPv6.
 * @param {string} entry
 * @returns {{ groups: number[], bits: number } | null} host bits cleared; null when invalid
 */
function parseRange(entry) {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const kind = net.isIP(address);
  if (kind === 0 || address.includes('%')) return null;
  const max = kind === 4 ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const text = entry.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(text)) return null;
    bits = Number(text);
    if (bits > max) return null;
  }
  if (kind === 4) bits += 96; // within ::ffff:0:0/96
  const groups = addressGroups(address);
  for (let i = 0; i < 8; i++) groups[i] &= groupMask(bits, i);
  return { groups, bits };
}

/** The mask of group i (0..7) under a prefix of `bits` bits. */
function groupMask(bits, i) {
  const left = bits - 16 * i;
  if (left <= 0) return 0;
  if (left >= 16) return 0xffff;
  return (0xffff << (16 - left)) & 0xffff;
}

function inRange(groups, range) {
  for (let i = 0; i < 8; i++) {
    const mask = groupMask(range.bits, i);
    if (mask === 0) return true;
    if ((groups[i] & mask) !== range.groups[i]) return false;
  }
  return true;
}

function invalidTrust(message) {
  return new WebSocketError('WS_ERR_INVALID_OPTION', `option trustProxy: ${message}`, { option: 'trustProxy' });
}

/**
 * Compiles the trustProxy option into a predicate on peer addresses.
 * `true` trusts every peer, `false` (and undefined) none; an array lists
 * addresses and CIDR ranges ('10.0.0.0/8', '::1', 'fd00::/8') and the names
 * 'loopback', 'linklocal', 'uniquelocal'. IPv4 rules match IPv4-mapped IPv6
 * addresses ('::ffff:10.1.2.3') too, and IPv6 rules that cover
 * ::ffff:0:0/96 match plain IPv4 addresses.
 * @param {boolean | string[] | undefined} trustProxy
 * @returns {(address: string) => boolean}
 * @throws {WebSocketError} WS_ERR_INVALID_OPTION naming the first bad entry
 */
function compileTrust(trustProxy) {
  if (trustProxy === true) return trustAll;
  if (trustProxy === false || trustProxy === undefined || trustProxy === null) return trustNone;
  if (!Array.isArray(trustProxy)) {
    throw invalidTrust('must be true, false, or an array of addresses and CIDR ranges');
  }
  const ranges = [];
  for (const entry of trustProxy) {
    const text = typeof entry === 'string' ? entry.trim() : '';
    const expanded = Object.prototype.hasOwnProperty.call(NAMED_RANGES, text) ? NAMED_RANGES[text] : [text];
    for (const item of expanded) {
      const range = parseRange(item);
      if (!range) throw invalidTrust(`'${String(entry)}' is not an address or CIDR range`);
      ranges.push(range);
    }
  }
  if (ranges.length === 0) return trustNone;
  return function isTrusted(address) {
    const groups = addressGroups(address);
    if (!groups) return false;
    for (const range of ranges) if (inRange(groups, range)) return true;
    return false;
  };
}

// ---- header parsing ----

/** A header's value as one string (arrays joined as Node joins repeated headers). */
function headerValue(headers, name) {
  const value = headers[name];
  if (Array.isArray(value)) return value.join(', ');
  return typeof value === 'string' ? value : undefined;
}

const NODE_PORT = '(?::(?:[0-9]{1,5}|_[A-Za-z0-9._-]+))?'; // RFC 7239 node-port, obfuscated too
const BRACKETED = new RegExp(`^\\[([^\\]]+)\\]${NODE_PORT}$`);
const IPV4_PORT = new RegExp(`^([0-9.]+)${NODE_PORT}$`);

/**
 * The address in one hop: 'a.b.c.d', 'a.b.c.d:port', '[v6]', '[v6]:port',
 * or a bare IPv6 address. 'unknown', obfuscated identifiers ('_hidden') and
 * anything else give null.
 * @param {string} node
 * @returns {string | null}
 */
function nodeAddress(node) {
  let m = BRACKETED.exec(node);
  if (m) return net.isIPv6(m[1]) ? m[1] : null;
  m = IPV4_PORT.exec(node);
  if (m) return net.isIPv4(m[1]) ? m[1] : null;
  return net.isIPv6(node) ? node : null;
}

/**
 * X-Forwarded-For hops from the right: each an address, or null (and the
 * list ends there) for an entry that is not one. Empty entries are skipped.
 * @param {string} value
 * @returns {(string | null)[]}
 */
function xForwardedForHops(value) {
  const hops = [];
  const entries = value.split(',');
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i].trim();
    if (entry === '') continue;
    const address = nodeAddress(entry);
    hops.push(address);
    if (address === null) break;
  }
  return hops;
}

// tchar (RFC 9110), plus ':', '[' and ']' so that unquoted "for=[::1]:80",
// which some proxies send, is read too.
const VALUE_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z:[\]-]/;
const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Forwarded (RFC 7239) `for=` hops from the right, like xForwardedForHops.
 * The value is parsed backwards, from the end, so that what a client put
 * at the start (an unbalanced quote, say) cannot change how the elements
 * the proxies appended after it are read; a syntax error ends the list
 * with null where it is met. An element without `for=`, or with two, is
 * null too.
 * @param {string} value
 * @returns {(string | null)[]}
 */
function forwardedHops(value) {
  const hops = [];
  let i = value.length;
  const skipSpace = () => {
    while (i > 0 && (value[i - 1] === ' ' || value[i - 1] === '\t')) i--;
  };
  for (;;) {
    skipSpace();
    if (i === 0) return hops;
    if (value[i - 1] === ',') { // empty element
      i--;
      continue;
    }
    let node;
    let ok = true;
    for (;;) { // pairs of one element, right to left
      skipSpace();
      if (i === 0 || value[i - 1] === ',') break;
      if (value[i - 1] === ';') { // empty pair
        i--;
        continue;
      }
      const pairValue = readValueBackwards(value, i);
      if (!pairValue) { ok = false; break; }
      i = pairValue.start;
      if (i === 0 || value[i - 1] !== '=') { ok = false; break; }
      i--;
      let start = i;
      while (start > 0 && TOKEN_CHAR.test(value[start - 1])) start--;
      if (start === i) { ok = false; break; }
      const name = value.slice(start, i).toLowerCase();
      i = start;
      if (name === 'for') {
        if (node !== undefined) { ok = false; break; }
        node = pairValue.text;
      }
      skipSpace();
      if (i === 0 || value[i - 1] === ',') break;
      if (value[i - 1] !== ';') { ok = false; break; }
      i--;
    }
    const address = ok && node !== undefined ? nodeAddress(node) : null;
    hops.push(address);
    if (address === null || i === 0) return hops;
    i--; // the ',' before this element
  }
}

/**
 * Reads the token or quoted-string that ends at value[end - 1].
 * @returns {{ text: string, start: number } | null} start: index of its first character
 */
function readValueBackwards(value, end) {
  if (value[end - 1] !== '"') {
    let start = end;
    while (start > 0 && VALUE_CHAR.test(value[start - 1])) start--;
    return start === end ? null : { text: value.slice(start, end), start };
  }
  // A quote is escaped when an odd number of backslashes precede it. The
  // closing one must not be; the opening one is the nearest unescaped
  // quote before it.
  const escaped = (q) => {
    let slashes = 0;
    while (q - slashes > 0 && value[q - slashes - 1] === '\\') slashes++;
    return slashes % 2 === 1;
  };
  if (escaped(end - 1)) return null;
  for (let q = end - 2; q >= 0; q--) {
    if (value[q] === '"' && !escaped(q)) {
      return { text: value.slice(q + 1, end - 1).replace(/\\(.)/gs, '$1'), start: q };
    }
  }
  return null;
}

/**
 * The client's address. When the peer is trusted, the hops of Forwarded
 * (when present) or else X-Forwarded-For are walked from the right,
 * passing addresses that are trusted themselves; the first untrusted one
 * is the client as the outermost trusted proxy saw it. When every address
 * is trusted, the leftmost is returned. The walk stops at a hop that is not
 * an address ('unknown', an obfuscated name, garbage): whoever wrote what
 * lies left of it cannot be told apart from the client, so the last
 * address reached (or the peer) is returned. An untrusted peer's headers
 * are ignored: it gets its own address, whatever it claims.
 * @param {string} peerAddress the socket's remote address
 * @param {Object<string, string | string[] | undefined>} headers lower-case names, as Node gives them
 * @param {(address: string) => boolean} isTrusted from compileTrust()
 * @param {'forwarded' | 'x-forwarded-for'} [only] read this header alone (for proxies that pass the other through untouched)
 * @returns {string}
 */
function clientAddress(peerAddress, headers, isTrusted, only) {
  if (!headers || !isTrusted(peerAddress)) return peerAddress;
  let hops = [];
  const forwarded = only === 'x-forwarded-for' ? undefined : headerValue(headers, 'forwarded');
  if (forwarded !== undefined) {
    hops = forwardedHops(forwarded);
  } else if (only !== 'forwarded') {
    const xff = headerValue(headers, 'x-forwarded-for');
    if (xff !== undefined) hops = xForwardedForHops(xff);
  }
  let client = peerAddress;
  for (const address of hops) {
    if (address === null) break;
    client = address;
    if (!isTrusted(address)) break;
  }
  return client;
}

module.exports = { compileTrust, clientAddress, forwardedHops, xForwardedForHops, trustNone };
