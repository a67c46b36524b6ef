/* Shared by the application pages (chat, chatroom, time, processes, log-view):
 * which URL to connect to, a WebSocket that reconnects with backoff, and a
 * log list that only ever shows text (never parses HTML). */
(function (global) {
  'use strict';

  /**
   * The WebSocket URL of the page's application.
   * ?url= may be a path ('/websocket/chat', on the server that served the page)
   * or a whole ws:// or wss:// URL. Opened from disk, the page aims at
   * ws://localhost:8080. extra query parameters (e.g. token) are appended.
   */
  function appUrl(defaultPath, extra) {
    var given = new URLSearchParams(location.search).get('url') || defaultPath;
    var url;
    if (/^wss?:\/\//i.test(given)) {
      url = new URL(given);
    } else {
      var path = given.charAt(0) === '/' ? given : '/' + given;
      var base = location.protocol === 'file:' ? 'ws://localhost:8080'
        : (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
      url = new URL(base + path);
    }
    Object.keys(extra || {}).forEach(function (key) {
      if (extra[key] !== undefined && extra[key] !== null && extra[key] !== '') url.searchParams.set(key, extra[key]);
    });
    return url.href;
  }

  /**
   * Keeps a WebSocket open: after a drop it reconnects with exponential
   * backoff and jitter (0.5 s doubling up to 30 s), so a restarted server is
   * not stampeded. options: url (string or function), onOpen(ws),
   * onMessage(data, ws), onClose(event, wasOpen), onState(state, label)
   * with state 'connecting' | 'open' | 'closed'.
   */
  function reconnecting(options) {
    var ws = null;
    var attempts = 0;
    var retryTimer = null;
    var countdownTimer = null;
    var stopped = false;

    function state(s, label) { if (options.onState) options.onState(s, label); }

    function connect() {
      clearTimeout(retryTimer);
      clearInterval(countdownTimer);
      if (stopped) return;
      state('connecting', 'CONNECTING');
      var url = typeof options.url === 'function' ? options.url() : options.url;
      var opened = false;
      try {
        ws = new WebSocket(url);
      } catch (err) {
        schedule();
        return;
      }
      ws.binaryType = 'arraybuffer';
      ws.onopen = function () {
        opened = true;
        attempts = 0;
        state('open', 'CONNECTED');
        if (options.onOpen) options.onOpen(ws);
      };
      ws.onmessage = function (event) { if (options.onMessage) options.onMessage(event.data, ws); };
      ws.onclose = function (event) {
        ws = null;
        if (options.onClose) options.onClose(event, opened);
        schedule();
      };
      ws.onerror = function () { /* the close event that follows says what happened */ };
    }

    function schedule() {
      if (stopped) { state('closed', 'DISCONNECTED'); return; }
      var delay = Math.min(30000, 500 * Math.pow(2, attempts)) * (0.75 + Math.random() * 0.5);
      attempts++;
      var due = Date.now() + delay;
      function tick() {
        state('closed', 'DISCONNECTED — retry in ' + Math.max(0, Math.ceil((due - Date.now()) / 1000)) + ' s');
      }
      tick();
      countdownTimer = setInterval(tick, 250);
      retryTimer = setTimeout(connect, delay);
    }

    connect();
    return {
      send: function (data) {
        if (!ws || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(data);
        return true;
      },
      /** Connects now, skipping the wait. */
      reconnect: function () {
        attempts = 0;
        if (ws) ws.close(); else connect();
      },
      isOpen: function () { return !!ws && ws.readyState === WebSocket.OPEN; },
    };
  }

  /** Appends one line to an <ol class="log">; text only, trimmed to max lines, scrolled when at the bottom. */
  function logLine(list, kind, text, max) {
    var li = document.createElement('li');
    li.className = kind;
    var time = document.createElement('span');
    time.className = 'time';
    time.textContent = new Date().toTimeString().slice(0, 8);
    var dir = document.createElement('span');
    dir.className = 'dir';
    dir.textContent = kind === 'sent' ? '→' : kind === 'received' ? '←' : '•';
    var body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(time, dir, body);
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.appendChild(li);
    while (list.children.length > (max || 500)) list.removeChild(list.firstChild);
    if (atBottom) list.scrollTop = list.scrollHeight;
    return li;
  }

  /** Shows a connection state in a .pill element. */
  function showState(el, state, label) {
    el.dataset.state = state;
    el.textContent = label || state;
  }

  global.WsPage = { appUrl: appUrl, reconnecting: reconnecting, logLine: logLine, showState: showState };
})(window);
