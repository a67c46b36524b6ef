'use strict';
// A raw WebSocket client over net.Socket, for tests that must send what a
// well-behaved client never would: any opcode, RSV bits, unmasked frames,
// any length encoding, frames chopped into arbitrary TCP writes with delays.
// It builds the opening handshake itself, checks the 101 answer and
// Sec-WebSocket-Accept, and parses every frame the server sends strictly:
// server frames must be unmasked and well-formed (RFC 6455 section 5), and
// every departure is recorded in `violations` for the test to assert on.
//
// Over TLS too (`tls` option, or a wss:// URL), and with permessage-deflate
// when the server agreed to it: compressed messages are inflated (keeping the
// server's window between messages unless server_no_context_takeover), RSV1
// is accepted on the first frame of a data message only, and
// sendCompressed() sends messages compressed by hand.

const net = require('net');
const tls = require('tls');
const zlib = require('zlib');
const crypto = require('crypto');
const { EventEmitter } = require('events');
const { isUtf8 } = require('buffer');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const OP = Object.freeze({
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
});

function acceptKey(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

function toBuffer(data) {
  if (data === undefined || data === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  throw new TypeError('payload must be a string or bytes');
}

function mask(buf, key) {
  const out = Buffer.allocUnsafe(buf.length);
  for (let i = 0; i < buf.length; i++) out[i] = buf[i] ^ key[i & 3];
  return out;
}

/**
 * Builds one frame.
 * @param {number} opcode 0..15
 * @param {string|Buffer} payload
 * @param {object} [o]
 * @param {boolean} [o.fin=true]
 * @param {number} [o.rsv=0] 0..7 (RSV1 = 4, RSV2 = 2, RSV3 = 1)
 * @param {boolean} [o.masked=true]
 * @param {Buffer} [o.maskKey] 4 bytes; random by default
 * @param {7|16|64} [o.lengthBits] force a length encoding (default: minimal)
 * @param {bigint|number} [o.declaredLength] length written in the header
 *   instead of the payload's real length (for lying frames)
 */
function frame(opcode, payload, o = {}) {
  const data = toBuffer(payload);
  const fin = o.fin === undefined ? true : !!o.fin;
  const rsv = o.rsv || 0;
  const masked = o.masked === undefined ? true : !!o.masked;
  const declared = o.declaredLength === undefined ? BigInt(data.length) : BigInt(o.declaredLength);
  let bits = o.lengthBits;
  if (!bits) bits = declared < 126n ? 7 : declared < 65536n ? 16 : 64;
  const head = [((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f))];
  const maskBit = masked ? 0x80 : 0;
  if (bits === 7) {
    head.push(maskBit | Number(declared));
  } else if (bits === 16) {
    head.push(maskBit | 126, Number(declared >> 8n) & 0xff, Number(declared) & 0xff);
  } else {
    head.push(maskBit | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((declared >> BigInt(8 * i)) & 0xffn));
  }
  const parts = [Buffer.from(head)];
  if (masked) {
    const key = o.maskKey || crypto.randomBytes(4);
    parts.push(key, mask(data, key));
  } else {
    parts.push(data);
  }
  return Buffer.concat(parts);
}

/** A close payload: 2-byte code (unless code is null) and a reason. */
function closePayload(code, reason) {
  if (code === null || code === undefined) return Buffer.alloc(0);
  const r = toBuffer(reason || '');
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Valid close codes a peer may put on the wire (RFC 6455 7.4, IANA registry). */
function closeCodeValid(code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends an HTTP/1.1 upgrade request for `path` and returns the request
 * bytes. Headers: an object (values null/undefined drop a default header) or
 * raw lines appended verbatim.
 */
function buildUpgradeRequest({ host, port, path = '/', key, headers = {}, rawLines = [] }) {
  const base = {
    Host: `${host}:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  const merged = { ...base };
  for (const [k, v] of Object.entries(headers)) {
    const existing = Object.keys(merged).find((n) => n.toLowerCase() === k.toLowerCase());
    if (existing) delete merged[existing];
    if (v !== null && v !== undefined) merged[k] = v;
  }
  let s = `GET ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(merged)) {
    for (const value of Array.isArray(v) ? v : [v]) s += `${k}: ${value}\r\n`;
  }
  for (const line of rawLines) s += `${line}\r\n`;
  s += '\r\n';
  return Buffer.from(s, 'latin1');
}

/**
 * Parses a Sec-WebSocket-Extensions value into [{ name, params: { key: value|true } }].
 * Quoted values are unquoted. Throws on a syntax error.
 */
function parseExtensions(value) {
  const out = [];
  if (!value) return out;
  for (const item of value.split(',')) {
    const parts = item.split(';').map((x) => x.trim());
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(parts[0])) throw new Error(`malformed extension ${JSON.stringify(item)}`);
    const params = {};
    for (const p of parts.slice(1)) {
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|([!#$%&'*+.^_`|~0-9A-Za-z-]+)))?$/.exec(p);
      if (!m) throw new Error(`malformed extension parameter ${JSON.stringify(p)}`);
      if (Object.prototype.hasOwnProperty.call(params, m[1])) throw new Error(`parameter ${m[1]} twice`);
      params[m[1]] = m[2] !== undefined ? m[2] : m[3] !== undefined ? m[3] : true;
    }
    out.push({ name: parts[0], params });
  }
  return out;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const WINDOW = 32768;

/**
 * Compresses one message as permessage-deflate does (sync flush, the
 * 00 00 ff ff tail removed). `dictionary`: the sender's window so far, for
 * context takeover.
 */
function deflateMessage(data, { dictionary, windowBits = 15, level } = {}) {
  const o = { finishFlush: zlib.constants.Z_SYNC_FLUSH, windowBits: Math.max(windowBits, 9) };
  if (dictionary && dictionary.length) o.dictionary = dictionary;
  if (level !== undefined) o.level = level;
  const out = zlib.deflateRawSync(toBuffer(data), o);
  if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) return out.subarray(0, out.length - 4);
  return out;
}

/** Inflates one permessage-deflate message (appends the tail); `dictionary` is the window so far. */
function inflateMessage(data, { dictionary } = {}) {
  const o = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (dictionary && dictionary.length) o.dictionary = dictionary;
  return zlib.inflateRawSync(Buffer.concat([data, TAIL]), o);
}

// The last WINDOW bytes of window + data.
function slide(window, data) {
  if (data.length >= WINDOW) return Buffer.from(data.subarray(data.length - WINDOW));
  const joined = Buffer.concat([window, data]);
  return joined.length > WINDOW ? joined.subarray(joined.length - WINDOW) : joined;
}

/** A TCP connection with `bytes` written and flushed; resolves the socket. */
function connectAndWrite(host, port, bytes, timeout) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`connect to ${host}:${port} timed out`)); }, timeout);
    socket.once('error', (err) => { clearTimeout(timer); reject(err); });
    socket.once('connect', () => socket.write(toBuffer(bytes), () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    }));
  });
}

/** Parses an HTTP response head from buf; null when incomplete. */
function parseResponseHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const text = buf.subarray(0, end).toString('latin1');
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`malformed status line: ${JSON.stringify(lines[0])}`);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`malformed header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(m[2]), statusText: m[3] || '', headers, headLength: end + 4, rawHead: text };
}

class RawClient extends EventEmitter {
  /**
   * Opens a TCP connection and performs the opening handshake.
   * @param {string} url ws://127.0.0.1:PORT[/path]
   * @param {object} [o]
   * @param {string} [o.path] overrides the URL's path (may include a query)
   * @param {object} [o.headers] extra or replacing request headers (null drops one)
   * @param {number} [o.timeout=3000] ms for TCP connect + handshake
   * @param {boolean} [o.autoCloseReply=true] answer the server's close frame with a close
   * @param {boolean} [o.autoPong=false] answer server pings with pongs
   * @param {object} [o.tls] connect over TLS with these tls.connect() options
   *   (ca, servername, minVersion, ...); a wss:// URL implies TLS
   * @param {string|boolean} [o.deflate] offer permessage-deflate: true for a
   *   bare offer, or the Sec-WebSocket-Extensions value to send
   * @param {Buffer|string} [o.prefix] bytes sent first, before TLS and the
   *   request (a PROXY protocol header)
   */
  static async connect(url, o = {}) {
    const u = new URL(url);
    const client = new RawClient(o);
    const opts = u.protocol === 'wss:' && !o.tls ? { ...o, tls: {} } : o;
    await client._open(u.hostname.replace(/^\[(.*)\]$/, '$1'), Number(u.port), o.path || (u.pathname + u.search), opts);
    return client;
  }

  constructor(o = {}) {
    super();
    this.autoCloseReply = o.autoCloseReply !== false;
    this.autoPong = !!o.autoPong;
    this.stopOnClose = o.stopOnClose !== false;
    this.socket = null;
    this.response = null;     // { status, headers, ... } of the 101
    this.events = [];         // data messages and pongs in arrival order: { type: 'message', opcode, data } | { type: 'pong', data }
    this.frames = [];         // every frame: { fin, rsv, opcode, payload }
    this.pings = [];          // payloads of server pings
    this.closeFrame = null;   // { code, reason, payload } of the server's close frame (code null when empty)
    this.closeSent = null;    // { code } of the close frame we sent
    this.violations = [];     // strings: what the server did wrong on the wire
    this.tcpClosed = false;
    this.tcpError = null;
    this.bytesReceived = 0;
    this._buf = Buffer.alloc(0);
    this._frag = null;        // { opcode, parts: [] } of a fragmented message in progress
    this._pending = null;     // chunks of an incomplete large frame
    this._pendingLen = 0;
    this._need = 0;
    this._paused = false;
    this.deflate = null;      // agreed permessage-deflate parameters, once the 101 says so
    this._fragRsv = 0;
    this._inflateWindow = Buffer.alloc(0);
    this._deflateWindow = Buffer.alloc(0);
  }

  async _open(host, port, path, o) {
    // o.prefix: bytes sent first on the TCP connection, before TLS and HTTP
    // (a PROXY protocol header, say).
    let under;
    if (o.prefix && o.tls) under = await connectAndWrite(host, port, o.prefix, o.timeout || 3000);
    return this._handshake(host, port, path, o, under);
  }

  _handshake(host, port, path, o, under) {
    const timeout = o.timeout || 3000;
    this.key = o.key || crypto.randomBytes(16).toString('base64');
    const headers = { ...(o.headers || {}) };
    if (o.deflate) {
      headers['Sec-WebSocket-Extensions'] = o.deflate === true ? 'permessage-deflate; client_max_window_bits' : o.deflate;
    }
    let request = buildUpgradeRequest({ host, port, path, key: this.key, headers });
    this.request = request;
    if (o.prefix && !o.tls) request = Buffer.concat([toBuffer(o.prefix), request]);
    return new Promise((resolve, reject) => {
      const socket = o.tls
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...(under ? { socket: under } : {}), ...o.tls })
        : net.connect({ host, port });
      this.socket = socket;
      this.secure = Boolean(o.tls);
      socket.setNoDelay(true);
      let head = Buffer.alloc(0);
      let done = false;
      const timer = setTimeout(() => finish(new Error(`handshake with ${host}:${port}${path} timed out after ${timeout} ms`)), timeout);
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.removeListener('data', onHead);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          resolve();
        }
      };
      const onHead = (chunk) => {
        head = Buffer.concat([head, chunk]);
        let res;
        try {
          res = parseResponseHead(head);
        } catch (e) {
          finish(e);
          return;
        }
        if (!res) {
          if (head.length > 65536) finish(new Error('response head too long'));
          return;
        }
        if (res.status !== 101) {
          const err = new Error(`expected 101, got ${res.status} ${res.statusText}: ${head.subarray(res.headLength).toString('latin1').trim()}`);
          err.status = res.status;
          err.response = res;
          finish(err);
          return;
        }
        const expected = acceptKey(this.key);
        if (res.headers['sec-websocket-accept'] !== expected) {
          finish(new Error(`bad Sec-WebSocket-Accept: ${res.headers['sec-websocket-accept']} (expected ${expected})`));
          return;
        }
        if (!/^websocket$/i.test(res.headers.upgrade || '')) {
          finish(new Error(`101 without "Upgrade: websocket": ${res.headers.upgrade}`));
          return;
        }
        if (!/(^|,)\s*upgrade\s*(,|$)/i.test(res.headers.connection || '')) {
          finish(new Error(`101 without "Connection: Upgrade": ${res.headers.connection}`));
          return;
        }
        if (res.headers['sec-websocket-extensions'] !== undefined) {
          let agreed;
          try {
            agreed = parseExtensions(res.headers['sec-websocket-extensions']);
          } catch (e) {
            finish(new Error(`malformed Sec-WebSocket-Extensions in the 101: ${e.message}`));
            return;
          }
          const pmd = agreed.filter((x) => x.name === 'permessage-deflate');
          if (!o.deflate || agreed.length !== pmd.length || pmd.length > 1) {
            finish(new Error(`the 101 agrees to extensions that were not offered: ${res.headers['sec-websocket-extensions']}`));
            return;
          }
          if (pmd.length === 1) {
            const p = pmd[0].params;
            this.deflate = {
              serverNoContextTakeover: p.server_no_context_takeover === true,
              clientNoContextTakeover: p.client_no_context_takeover === true,
              serverMaxWindowBits: p.server_max_window_bits === undefined ? 15 : Number(p.server_max_window_bits),
              clientMaxWindowBits: p.client_max_window_bits === undefined || p.client_max_window_bits === true ? 15 : Number(p.client_max_window_bits),
              params: p,
            };
          }
        }
        this.response = res;
        const rest = head.subarray(res.headLength);
        finish(null);
        socket.on('data', (c) => this._onData(c));
        if (rest.length) this._onData(rest);
      };
      socket.on('data', onHead);
      socket.on('error', (err) => {
        this.tcpError = err;
        if (!done) finish(err);
      });
      socket.on('close', () => {
        this.tcpClosed = true;
        this.tcpClosedAt = Date.now();
        if (!done) finish(new Error(`connection closed during the handshake${head.length ? `: ${head.toString('latin1')}` : ''}`));
        this.emit('update');
        this.emit('tcpclose');
      });
      socket.once(o.tls ? 'secureConnect' : 'connect', async () => {
        // o.splitAt: byte offsets where the request is cut into separate
        // writes; o.chop: write it this many bytes at a time; o.gap: ms between.
        let cuts = [];
        if (o.splitAt) cuts = [...o.splitAt];
        else if (o.chop) for (let i = o.chop; i < request.length; i += o.chop) cuts.push(i);
        cuts = cuts.filter((x) => x > 0 && x < request.length).sort((a, b) => a - b);
        let off = 0;
        for (const cut of [...cuts, request.length]) {
          if (socket.destroyed || done) return;
          socket.write(request.subarray(off, cut));
          off = cut;
          if (cut < request.length) await delay(o.gap === undefined ? 1 : o.gap);
        }
      });
    });
  }

  // ---- sending ---------------------------------------------------------

  /** Writes raw bytes; ignores errors after the peer went away. Resolves when flushed. */
  write(bytes) {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) {
        resolve(false);
        return;
      }
      this.socket.write(bytes, () => resolve(true));
    });
  }

  /**
   * Writes bytes in chunks of `size` (a number, or an array of sizes
   * cycled), waiting `gap` ms between chunks (0 = next tick only).
   */
  async writeChopped(bytes, size = 1, gap = 0) {
    const sizes = Array.isArray(size) ? size : [size];
    let off = 0;
    let i = 0;
    while (off < bytes.length) {
      const n = Math.max(1, sizes[i++ % sizes.length]);
      await this.write(bytes.subarray(off, off + n));
      off += n;
      if (off < bytes.length) {
        if (gap > 0) await delay(gap);
        else await new Promise((r) => setImmediate(r));
      }
      // Once the server failed or closed the connection, stop: our close
      // reply must be the last thing we send.
      if (this.socket.destroyed || (this.stopOnClose && this.closeFrame)) return;
    }
  }

  /** Builds and writes one frame (see frame() for options; o.chop/o.gap chop the write). */
  send(opcode, payload, o = {}) {
    const bytes = frame(opcode, payload, o);
    if (opcode === OP.CLOSE && !this.closeSent) {
      const p = toBuffer(payload);
      this.closeSent = { code: p.length >= 2 ? p.readUInt16BE(0) : null };
    }
    if (o.chop) return this.writeChopped(bytes, o.chop, o.gap || 0);
    return this.write(bytes);
  }

  /**
   * Sends a data message compressed with permessage-deflate (RSV1 on its
   * first frame), keeping our window between messages unless the server
   * asked for client_no_context_takeover or o.noContext is set.
   * o.fragments splits the compressed payload into that many frames.
   */
  sendCompressed(opcode, payload, o = {}) {
    const data = toBuffer(payload);
    const keep = !(this.deflate && this.deflate.clientNoContextTakeover) && !o.noContext;
    const compressed = deflateMessage(data, {
      dictionary: keep ? this._deflateWindow : undefined,
      windowBits: this.deflate ? this.deflate.clientMaxWindowBits : 15,
    });
    if (keep) this._deflateWindow = slide(this._deflateWindow, data);
    const n = Math.max(1, Math.min(o.fragments || 1, compressed.length || 1));
    const frames = [];
    const size = Math.ceil(compressed.length / n);
    for (let i = 0; i < n; i++) {
      const part = compressed.subarray(i * size, Math.min(compressed.length, (i + 1) * size));
      frames.push(frame(i === 0 ? opcode : OP.CONTINUATION, part, { fin: i === n - 1, rsv: i === 0 ? 4 : 0 }));
    }
    return this.write(Buffer.concat(frames));
  }

  text(s, o) { return this.send(OP.TEXT, s, o); }
  binary(b, o) { return this.send(OP.BINARY, b, o); }
  ping(p, o) { return this.send(OP.PING, p, o); }
  pong(p, o) { return this.send(OP.PONG, p, o); }
  close(code, reason, o) { return this.send(OP.CLOSE, closePayload(code, reason), o); }

  /** Stops reading from the socket (the kernel buffers fill, the server sees backpressure). */
  pause() { this._paused = true; this.socket.pause(); }
  resume() { this._paused = false; this.socket.resume(); }

  destroy() {
    if (this.socket) this.socket.destroy();
  }

  // ---- receiving -------------------------------------------------------

  _violation(what) {
    this.violations.push(what);
  }

  _onData(chunk) {
    this.bytesReceived += chunk.length;
    // Large frames arrive in many chunks: gather them and concatenate once
    // the frame is complete, not on every chunk.
    if (this._pending) {
      this._pending.push(chunk);
      this._pendingLen += chunk.length;
      if (this._pendingLen < this._need) return;
      this._buf = Buffer.concat(this._pending);
      this._pending = null;
    } else {
      this._buf = this._buf.length ? Buffer.concat([this._buf, chunk]) : chunk;
    }
    for (;;) {
      const b = this._buf;
      if (b.length < 2) break;
      const fin = (b[0] & 0x80) !== 0;
      const rsv = (b[0] >> 4) & 7;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
        if (len < 126) this._violation(`non-minimal 16-bit length ${len}`);
      } else if (len === 127) {
        if (b.length < 10) break;
        const big = b.readBigUInt64BE(2);
        if (big >> 63n) this._violation('64-bit length with the top bit set');
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
          this._violation(`absurd frame length ${big}`);
          this.socket.destroy();
          return;
        }
        len = Number(big);
        off = 10;
        if (len < 65536) this._violation(`non-minimal 64-bit length ${len}`);
      }
      if (masked) off += 4;
      if (b.length < off + len) {
        if (off + len > 65536) {
          this._pending = [b];
          this._pendingLen = b.length;
          this._need = off + len;
        }
        break;
      }
      let payload = b.subarray(off, off + len);
      if (masked) {
        this._violation(`server frame (opcode ${opcode}) is masked`);
        payload = mask(payload, b.subarray(off - 4, off));
      }
      this._buf = b.subarray(off + len);
      this._onFrame({ fin, rsv, opcode, payload: Buffer.from(payload) });
    }
    this.emit('update');
  }

  _onFrame(f) {
    this.frames.push(f);
    const { fin, rsv, opcode, payload } = f;
    if (this.closeFrame) this._violation(`frame (opcode ${opcode}) after the close frame`);
    // RSV1 means "compressed" on the first frame of a data message, once deflate was agreed.
    const rsv1Allowed = this.deflate && (opcode === OP.TEXT || opcode === OP.BINARY);
    if (rsv && !(rsv === 4 && rsv1Allowed)) {
      this._violation(`RSV bits ${rsv} set on a server frame (opcode ${opcode})${this.deflate ? '' : ' without an agreed extension'}`);
    }
    if (opcode >= 8) {
      if (!fin) this._violation(`fragmented control frame (opcode ${opcode})`);
      if (payload.length > 125) this._violation(`control frame (opcode ${opcode}) with ${payload.length} bytes`);
    }
    switch (opcode) {
      case OP.TEXT:
      case OP.BINARY:
        if (this._frag) this._violation(`new data frame (opcode ${opcode}) inside a fragmented message`);
        if (fin) this._message(opcode, payload, rsv);
        else this._frag = { opcode, parts: [payload], rsv };
        break;
      case OP.CONTINUATION:
        if (!this._frag) {
          this._violation('continuation frame without a message in progress');
          break;
        }
        this._frag.parts.push(payload);
        if (fin) {
          const { opcode: op, parts, rsv: first } = this._frag;
          this._frag = null;
          this._message(op, Buffer.concat(parts), first);
        }
        break;
      case OP.PING:
        this.pings.push(payload);
        this.emit('ping', payload);
        if (this.autoPong && !this.closeSent) this.pong(payload);
        break;
      case OP.PONG:
        this.events.push({ type: 'pong', data: payload });
        break;
      case OP.CLOSE: {
        if (this.closeFrame) break;
        let code = null;
        let reason = '';
        if (payload.length === 1) this._violation('close frame with a 1-byte payload');
        if (payload.length >= 2) {
          code = payload.readUInt16BE(0);
          if (!closeCodeValid(code)) this._violation(`close frame with invalid code ${code}`);
          const r = payload.subarray(2);
          if (!isUtf8(r)) this._violation('close reason is not UTF-8');
          reason = r.toString('utf8');
        }
        this.closeFrame = { code, reason, payload, at: Date.now() };
        if (this.autoCloseReply && !this.closeSent) {
          this.close(code !== null && closeCodeValid(code) ? code : (code === null ? null : 1002));
        }
        this.emit('closeframe', this.closeFrame);
        break;
      }
      default:
        this._violation(`reserved opcode ${opcode} from the server`);
    }
  }

  _message(opcode, wire, rsv = 0) {
    const compressed = (rsv & 4) !== 0 && this.deflate !== null;
    let data = wire;
    if (compressed) {
      const keep = !this.deflate.serverNoContextTakeover;
      try {
        data = inflateMessage(wire, { dictionary: keep ? this._inflateWindow : undefined });
      } catch (e) {
        this._violation(`a compressed message does not inflate: ${e.message}`);
        data = Buffer.alloc(0);
      }
      if (keep) this._inflateWindow = slide(this._inflateWindow, data);
    }
    if (opcode === OP.TEXT && !isUtf8(data)) this._violation('text message is not UTF-8');
    const m = { type: 'message', opcode, data, compressed, wireLength: wire.length };
    this.events.push(m);
    this.emit('message', m);
  }

  /** Data messages received so far. */
  get messages() {
    return this.events.filter((e) => e.type === 'message');
  }

  get pongs() {
    return this.events.filter((e) => e.type === 'pong');
  }

  // ---- waiting ---------------------------------------------------------

  /** Resolves when pred() is true (checked on every received chunk and TCP close); rejects after ms. */
  waitFor(pred, ms, what) {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) {
          cleanup();
          resolve();
        } else if (this.tcpClosed) {
          cleanup();
          reject(new Error(`TCP closed while waiting for ${what}; ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; ${this.describe()}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.removeListener('update', check);
      };
      this.on('update', check);
    });
  }

  waitEvents(n, ms = 2000) {
    return this.waitFor(() => this.events.length >= n, ms, `${n} message/pong event(s)`);
  }

  waitCloseFrame(ms = 2000) {
    return this.waitFor(() => this.closeFrame !== null, ms, 'the server\'s close frame');
  }

  /** Resolves when TCP is closed; rejects after ms. */
  waitTcpClose(ms = 2000) {
    if (this.tcpClosed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.removeListener('tcpclose', onClose);
        reject(new Error(`TCP still open ${ms} ms later; ${this.describe()}`));
      }, ms);
      const onClose = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('tcpclose', onClose);
    });
  }

  /** Resolves true if nothing new arrives and TCP stays open for ms. */
  async quietFor(ms) {
    const before = this.frames.length;
    await delay(ms);
    return this.frames.length === before && !this.tcpClosed;
  }

  describe() {
    const ev = this.events.slice(0, 8).map((e) => (e.type === 'pong'
      ? `pong(${e.data.length})`
      : `${e.opcode === OP.TEXT ? 'text' : e.opcode === OP.BINARY ? 'binary' : `op${e.opcode}`}(${e.data.length})`));
    if (this.events.length > 8) ev.push(`... ${this.events.length - 8} more`);
    return `received [${ev.join(', ')}], close frame ${this.closeFrame ? (this.closeFrame.code === null ? 'empty' : `${this.closeFrame.code} "${this.closeFrame.reason}"`) : 'none'}, `
      + `TCP ${this.tcpClosed ? 'closed' : 'open'}${this.violations.length ? `, violations: ${this.violations.join('; ')}` : ''}`;
  }
}

/**
 * Opens a TCP connection, writes `request` (a Buffer or string; or an array
 * of parts written with `gap` ms between them), and collects everything the
 * server sends until it closes the connection, answers 101, or `timeout` ms
 * pass. Parses the HTTP response head when there is one.
 * Resolves { raw, status, headers, body, closed, head }.
 */
function rawExchange(port, request, { gap = 0, timeout = 3000, host = '127.0.0.1', endAfter = false, tls: tlsOptions } = {}) {
  const parts = Array.isArray(request) ? request : [request];
  return new Promise((resolve, reject) => {
    const socket = tlsOptions ? tls.connect({ host, port, ...tlsOptions }) : net.connect({ host, port });
    socket.setNoDelay(true);
    const chunks = [];
    let closed = false;
    let settled = false;
    const timer = setTimeout(() => done(), timeout);
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      let head = null;
      try {
        head = parseResponseHead(raw);
      } catch (e) {
        head = null;
      }
      resolve({
        raw,
        closed,
        head,
        status: head ? head.status : null,
        headers: head ? head.headers : {},
        body: head ? raw.subarray(head.headLength) : raw,
      });
    };
    socket.on('data', (c) => {
      chunks.push(c);
      // A 101 leaves the connection open: its head is the whole answer.
      if (c.includes('\r\n\r\n')) {
        try {
          const h = parseResponseHead(Buffer.concat(chunks));
          if (h && h.status === 101) done();
        } catch (e) { /* not HTTP: keep collecting */ }
      }
    });
    socket.on('error', () => { /* a reset counts as closed */ });
    socket.on('close', () => {
      closed = true;
      done();
    });
    socket.once(tlsOptions ? 'secureConnect' : 'connect', async () => {
      try {
        for (let i = 0; i < parts.length; i++) {
          if (socket.destroyed) break;
          socket.write(typeof parts[i] === 'string' ? Buffer.from(parts[i], 'latin1') : parts[i]);
          if (gap && i < parts.length - 1) await delay(gap);
        }
        if (endAfter && !socket.destroyed) socket.end();
      } catch (e) {
        reject(e);
      }
    });
  });
}

module.exports = {
  RawClient,
  OP,
  frame,
  closePayload,
  closeCodeValid,
  acceptKey,
  buildUpgradeRequest,
  parseResponseHead,
  rawExchange,
  parseExtensions,
  deflateMessage,
  inflateMessage,
  delay,
  GUID,
};
