/* The SockJS protocol 0.3.3, its pure parts: the URL scheme under a prefix,
 * JSON string quoting with the characters the protocol escapes, the framing
 * of each transport (o, h, a[...], c[code,"reason"] wrapped for xhr,
 * eventsource, htmlfile and jsonp), and the decoding of the JSON arrays of
 * strings clients send. No I/O, no allocation: callers give the buffers. */
#ifndef WS_SOCKJS_H
#define WS_SOCKJS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    WS_SJS_NOT_OURS = 0, /* outside the prefix */
    WS_SJS_ROOT,         /* <prefix>/<resource>[/]: the greeting */
    WS_SJS_INFO,
    WS_SJS_IFRAME,
    WS_SJS_RAW_WEBSOCKET, /* <prefix>/<resource>/websocket: plain WebSocket */
    WS_SJS_SESSION,       /* <prefix>/<resource>/<server>/<session>/<transport> */
    WS_SJS_NOT_FOUND,     /* under the prefix, but no URL of the protocol */
} ws_sjs_kind;

typedef enum {
    WS_SJS_T_WEBSOCKET = 0, /* the SockJS-framed WebSocket */
    WS_SJS_T_XHR,
    WS_SJS_T_XHR_SEND,
    WS_SJS_T_XHR_STREAMING,
    WS_SJS_T_EVENTSOURCE,
    WS_SJS_T_HTMLFILE,
    WS_SJS_T_JSONP,
    WS_SJS_T_JSONP_SEND,
} ws_sjs_transport;

typedef struct {
    ws_sjs_kind kind;
    const char *resource; /* "/chat": into the path, leading slash included */
    size_t resource_len;
    const char *session;  /* WS_SJS_SESSION only */
    size_t session_len;
    ws_sjs_transport transport;
} ws_sjs_route;

#define WS_SJS_SESSION_MAX 128 /* longest session id kept; a longer one is refused with 404 */

/* Splits path (no query) under prefix ("/sockjs", no trailing slash). */
void ws_sjs_route_parse(const char *path, size_t len, const char *prefix, size_t prefix_len, ws_sjs_route *r);

/* The name sockjs-client and connection.transport use for a transport. */
const char *ws_sjs_transport_name(ws_sjs_transport t);

/* 1 when t sends messages to the client (a receiving request), 0 for the
 * send transports. */
int ws_sjs_receives(ws_sjs_transport t);
/* 1 for transports that keep the response open for several frames. */
int ws_sjs_streams(ws_sjs_transport t);

/* Room ws_sjs_quote needs for len bytes of input, quotes included. */
static inline size_t ws_sjs_quote_bound(size_t len) { return len * 6 + 2; }

/* Writes src as a JSON string, quotes included: '"', '\\', U+0000-U+001F,
 * U+007F-U+009F, U+200C-U+200F, U+2028-U+202F, U+2060-U+206F and
 * U+FFF0-U+FFFF as \uXXXX (the protocol's list, so that no browser or
 * proxy mangles them); a byte that is not valid UTF-8 as \ufffd. Returns
 * bytes written (at most ws_sjs_quote_bound(len)). */
size_t ws_sjs_quote(uint8_t *dst, const uint8_t *src, size_t len);

/* Room ws_sjs_wrap needs for a frame of len bytes and a callback of cb_len. */
static inline size_t ws_sjs_wrap_bound(size_t len, size_t cb_len) { return ws_sjs_quote_bound(len) + cb_len + 40; }

/* Writes frame (o, h, a[...], c[...]) as transport t sends it: "F\n" (xhr,
 * xhr_streaming), "data: F\r\n\r\n" (eventsource), a <script> calling
 * p("F") (htmlfile), cb("F");\r\n (jsonp). Returns bytes written. */
size_t ws_sjs_wrap(uint8_t *dst, ws_sjs_transport t, const char *cb, size_t cb_len, const uint8_t *frame, size_t len);

/* c[code,"reason"] into dst (cap bytes); returns its length, 0 if it does not fit. */
size_t ws_sjs_close_frame(char *dst, size_t cap, unsigned code, const char *reason, size_t reason_len);

/* Decodes a JSON array of strings (what xhr_send, jsonp_send and the framed
 * WebSocket carry), calling fn for each string, decoded to UTF-8 in out
 * (3 * len bytes is always enough). A lone surrogate or a byte that is not
 * UTF-8 decodes as U+FFFD. Returns the number of strings, or
 * WS_SJS_BROKEN (not exactly one array of strings, whitespace aside), or
 * the negative value fn returned to stop. */
#define WS_SJS_BROKEN (-1)
typedef int (*ws_sjs_message_fn)(void *ctx, const uint8_t *msg, size_t len);
long ws_sjs_decode(const uint8_t *p, size_t len, uint8_t *out, ws_sjs_message_fn fn, void *ctx);

/* A request body in chunked transfer coding (what Node's sockjs-client
 * sends) at p, decoded into out (len bytes is enough). Returns the decoded
 * length, WS_SJS_INCOMPLETE while the last chunk has not arrived,
 * WS_SJS_TOO_BIG past max decoded bytes, or WS_SJS_BROKEN. Chunk extensions
 * and trailers are skipped. */
#define WS_SJS_INCOMPLETE (-2)
#define WS_SJS_TOO_BIG (-3)
long ws_sjs_dechunk(const uint8_t *p, size_t len, uint8_t *out, size_t max);

/* A jsonp or htmlfile callback name: [A-Za-z0-9_.-]+, at most 256 bytes. */
int ws_sjs_callback_ok(const char *p, size_t len);

/* The value of key in a query string or an x-www-form-urlencoded body,
 * percent- and '+'-decoded into out (len bytes is enough). Returns its
 * length, or -1 when key is absent. */
long ws_sjs_form_value(const char *p, size_t len, const char *key, char *out);

#endif
