'use strict';

// SockJS 0.3.3: every resource is also a SockJS endpoint under a prefix
// (native/sockjs.c, native/sockjs_session.c).

const { Problem } = require('./common');

const MAX_INT32 = 2 ** 31 - 1;

const OPTIONS = [
  { name: 'sockjsPrefix', type: 'sockjsPrefix', default: '/sockjs', arg: 'PATH',
    doc: "Every resource is also a SockJS endpoint at PATH/<resource> (/sockjs/chat/info, ...); false: SockJS off." },
  { name: 'sockjsHeartbeat', type: 'integer', default: 25000, min: 10, max: MAX_INT32, arg: 'MS',
    doc: 'A SockJS heartbeat frame (h) after this long without a frame to the client.' },
  { name: 'sockjsDisconnectDelay', type: 'integer', default: 5000, min: 10, max: MAX_INT32, arg: 'MS',
    doc: 'A SockJS session whose client has not polled for this long ends (onDisconnect).' },
  { name: 'sockjsResponseLimit', type: 'integer', default: 131072, min: 4096, max: MAX_INT32, arg: 'BYTES',
    doc: 'A SockJS streaming response (xhr_streaming, eventsource, htmlfile) ends after this many bytes; the client reconnects.' },
  { name: 'sockjsWs', type: 'boolean', default: true,
    doc: "The SockJS WebSocket URLs (/websocket, /<server>/<session>/websocket); off: /info says websocket: false." },
  { name: 'sockjsCookie', type: 'boolean', default: false,
    doc: 'SockJS answers set JSESSIONID (for sticky load balancers) and /info says cookie_needed: true.' },
  { name: 'sockjsUrl', type: 'sockjsUrl', default: 'https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js', arg: 'URL',
    doc: "The sockjs-client script the SockJS iframe page (iframe.html) loads, for the iframe transports." },
];

function checkSockjsPrefix(option, value) {
  if (value === false || value === 'false') return false;
  if (typeof value !== 'string' || !/^(\/[A-Za-z0-9_.~-]+)+$/.test(value)) {
    throw new Problem("must be a path such as '/sockjs' (segments of letters, digits, '_', '.', '~', '-'; no trailing slash), or false");
  }
  return value;
}

function checkSockjsUrl(option, value) {
  if (typeof value !== 'string' || value === '' || value.length > 1000 || /["<>\s]/.test(value)) {
    throw new Problem('must be a URL (no quotes, angle brackets or spaces), at most 1000 characters');
  }
  return value;
}

const TYPES = {
  sockjsPrefix: { check: checkSockjsPrefix, negatable: true, text: true },
  sockjsUrl: { check: checkSockjsUrl, text: true },
};

module.exports = { OPTIONS, TYPES };
