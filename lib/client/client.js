/* node.websocket's browser client: a WebSocket-like object that reconnects
 * with exponential backoff and jitter and resumes subscriptions without loss
 * (README, Resume). No dependencies. Served by the server at
 * GET /node.websocket/client.js (a global NodeWebSocket), or required from a
 * bundler (CommonJS / AMD).
 *
 *   var ws = new NodeWebSocket('ws://host/chat', { protocols, minDelay, maxDelay, transport });
 *   ws.onopen = function (e) { e.reconnect };  // every time it is open again
 *   ws.onmessage = function (e) { e.data; e.subscription; e.seq; };
 *   ws.ondisconnect: the connection dropped, a reconnect is scheduled; onclose: it is over.
 *   ws.addEventListener('gap', function (e) { reload state for e.subscription });
 *
 * The server wraps what it sends a resumable connection: "m<seq> <name>\n<payload>"
 * for a multicast, "d<payload>" for a direct send, "g<seq> <name>\n" when it
 * can no longer replay what this client missed. Names are percent-encoded. */
(function (root, factory) {
  if (typeof define === 'function' && define.amd) define([], factory);
  else if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.NodeWebSocket = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var PARAM = 'node.websocket.resume';
  var CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;

  /* The transport seam: a factory (url, protocols) -> an object with send,
   * close, readyState, binaryType and onopen/onmessage/onclose/onerror, as
   * WebSocket has. new SockJS(url) fits too (text only). */
  function nativeTransport(url, protocols) {
    var ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    return ws;
  }

  function utf8Decode(bytes) {
    return new TextDecoder().decode(bytes);
  }

  /* Splits one received message; null when it is not in the envelope. */
  function unwrap(data) {
    var kind, nl, head, body;
    if (typeof data === 'string') {
      kind = data.charAt(0);
      if (kind === 'd') return { kind: kind, data: data.slice(1) };
      nl = data.indexOf('\n');
      if ((kind !== 'm' && kind !== 'g') || nl < 0) return null;
      head = data.slice(1, nl);
      body = data.slice(nl + 1);
    } else {
      var bytes = new Uint8Array(data);
      kind = String.fromCharCode(bytes[0]);
      if (kind === 'd') return { kind: kind, data: bytes.slice(1).buffer };
      nl = bytes.indexOf(10);
      if ((kind !== 'm' && kind !== 'g') || nl < 0) return null;
      head = utf8Decode(bytes.subarray(1, nl));
      body = bytes.slice(nl + 1).buffer;
    }
    var sp = head.indexOf(' ');
    return { kind: kind, seq: Number(head.slice(0, sp)), subscription: decodeURIComponent(head.slice(sp + 1)), data: body };
  }

  function NodeWebSocket(url, options) {
    options = options || {};
    this.url = url;
    this.readyState = CONNECTING;
    this.protocol = '';
    this.onopen = this.onmessage = this.onclose = this.onerror = this.ongap = this.ondisconnect = null;
    this._listeners = {};
    this._protocols = options.protocols;
    this._transport = options.transport || nativeTransport;
    this._minDelay = options.minDelay || 250;
    this._maxDelay = options.maxDelay || 30000;
    this._attempts = 0;
    this._seqs = {}; // subscription -> last seq seen
    this._closed = false; // close() was called: no reconnect
    this._timer = null;
    this._refused = 0; // handshakes refused in a row
    this._connect();
  }

  NodeWebSocket.CONNECTING = CONNECTING;
  NodeWebSocket.OPEN = OPEN;
  NodeWebSocket.CLOSING = CLOSING;
  NodeWebSocket.CLOSED = CLOSED;
  NodeWebSocket.unwrap = unwrap;

  NodeWebSocket.prototype.addEventListener = function (type, fn) {
    (this._listeners[type] = this._listeners[type] || []).push(fn);
  };
  NodeWebSocket.prototype.removeEventListener = function (type, fn) {
    var l = this._listeners[type];
    if (l) this._listeners[type] = l.filter(function (f) { return f !== fn; });
  };
  NodeWebSocket.prototype._emit = function (type, event) {
    event.type = type;
    event.target = this;
    var h = this['on' + type];
    if (typeof h === 'function') h.call(this, event);
    var l = (this._listeners[type] || []).slice();
    for (var i = 0; i < l.length; i++) l[i].call(this, event);
  };

  /** The resume token: every subscription's last seq, as the server reads it. */
  NodeWebSocket.prototype.resumeToken = function () {
    var parts = [];
    for (var name in this._seqs) {
      if (Object.prototype.hasOwnProperty.call(this._seqs, name)) parts.push(encodeURIComponent(name) + ':' + this._seqs[name]);
    }
    return parts.join(',');
  };

  NodeWebSocket.prototype._connect = function () {
    var self = this;
    var url = this.url + (this.url.indexOf('?') < 0 ? '?' : '&') + PARAM + '=' + encodeURIComponent(this.resumeToken());
    var t = this._t = this._transport(url, this._protocols);
    var opened = false;
    t.onopen = function () {
      if (t !== self._t) return;
      self._attempts = 0;
      self._refused = 0;
      opened = true;
      self.readyState = OPEN;
      self.protocol = t.protocol || '';
      self._emit('open', { reconnect: !!self._opened });
      self._opened = true;
    };
    t.onmessage = function (e) {
      if (t !== self._t) return;
      var m = unwrap(e.data);
      if (m === null) { // not from a resuming server: as it came
        self._emit('message', { data: e.data });
        return;
      }
      if (m.kind === 'g') {
        self._seqs[m.subscription] = m.seq;
        self._emit('gap', { subscription: m.subscription, seq: m.seq });
        return;
      }
      if (m.kind === 'm' && m.seq > 0) {
        var last = self._seqs[m.subscription];
        if (last !== undefined && m.seq <= last) return; // already seen
        self._seqs[m.subscription] = m.seq;
      }
      self._emit('message', { data: m.data, subscription: m.subscription, seq: m.seq });
    };
    t.onerror = function () {
      if (t === self._t) self._emit('error', {});
    };
    t.onclose = function (e) {
      if (t !== self._t) return;
      self._t = null;
      // 1000: the server ended it on purpose. Anything else (a drop, 1001 going away, 1008 too slow) reconnects.
      if (self._closed || (e && e.code === 1000)) {
        self.readyState = CLOSED;
        self._emit('close', { code: e ? e.code : 1006, reason: e ? e.reason : '', wasClean: !!(e && e.wasClean) });
        return;
      }
      self.readyState = CONNECTING;
      self._emit('disconnect', { code: e ? e.code : 1006, reason: e ? e.reason : '' });
      // Refused twice in a row while naming subscriptions: the server may no longer keep their
      // history (a browser does not show the 400's reason). Forget them, tell the app, start afresh.
      if (!opened && self.resumeToken() !== '' && ++self._refused >= 2) {
        var names = Object.keys(self._seqs);
        self._seqs = {};
        self._refused = 0;
        for (var i = 0; i < names.length; i++) self._emit('gap', { subscription: names[i], seq: null });
      }
      // exponential backoff with full jitter
      var cap = Math.min(self._maxDelay, self._minDelay * Math.pow(2, self._attempts++));
      self._timer = setTimeout(function () { self._timer = null; if (!self._closed) self._connect(); }, Math.random() * cap);
    };
  };

  NodeWebSocket.prototype.send = function (data) {
    if (this.readyState !== OPEN) throw new Error('NodeWebSocket is not open (readyState ' + this.readyState + ')');
    this._t.send(data);
  };

  Object.defineProperty(NodeWebSocket.prototype, 'bufferedAmount', {
    get: function () { return this._t ? this._t.bufferedAmount || 0 : 0; },
  });

  NodeWebSocket.prototype.close = function (code, reason) {
    this._closed = true;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    if (this._t) {
      this.readyState = CLOSING;
      this._t.close(code || 1000, reason || '');
    } else if (this.readyState !== CLOSED) {
      this.readyState = CLOSED;
      this._emit('close', { code: code || 1000, reason: reason || '', wasClean: true });
    }
  };

  return NodeWebSocket;
});
