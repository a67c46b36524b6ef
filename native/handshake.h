/* The opening handshake of RFC 6455 section 4.2: validation of a parsed
 * request, origin matching, the accept key, and the HTTP responses. No I/O. */
#ifndef WS_HANDSHAKE_H
#define WS_HANDSHAKE_H

#include <stddef.h>

#include "http.h"

#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

typedef enum {
    WS_HS_UPGRADE = 0, /* a valid WebSocket upgrade request */
    WS_HS_PLAIN_GET,   /* a GET (or HEAD) without Upgrade: serve a document */
    WS_HS_REJECT,      /* answer `status` with `reason` and close */
} ws_handshake_kind;

typedef struct {
    ws_handshake_kind kind;
    int status;         /* REJECT: 400, 405, 426, ... */
    const char *reason; /* REJECT: one line, static storage */
    const char *key;    /* UPGRADE: Sec-WebSocket-Key, into the request buffer */
    size_t key_len;
    const char *path;   /* request-target without the query, into the buffer */
    size_t path_len;
    const char *query;  /* after '?', without it; NULL when absent */
    size_t query_len;
    const char *transport; /* SockJS: the transport name JS reports (static storage); NULL: plain WebSocket */
} ws_handshake;

/* Classifies a request and checks it in this order, each failure with its
 * own reason: method not GET -> 405 (HEAD is a PLAIN_GET when there is no
 * Upgrade header); request-target not origin-form (must start with '/')
 * -> 400; no Upgrade header -> PLAIN_GET; HTTP/1.0 -> 400; no Host (or an
 * empty or repeated one) -> 400; Upgrade lacks token "websocket" -> 400;
 * Connection lacks token "upgrade" -> 400; Sec-WebSocket-Version missing,
 * repeated or not exactly "13" -> 426; key missing, repeated, or not the
 * base64 of 16 bytes -> 400. Several Upgrade or Connection headers count as
 * one list. path and query are set for every kind once the target is known
 * to start with '/'. */
void ws_handshake_check(const ws_http_request *req, ws_handshake *out);

/* Origin rules: "*" allows all; "scheme://host[:port]" must match exactly
 * (ASCII case-insensitive, default ports 80/443 for http/https/ws/wss made
 * explicit on both sides); a pattern of that form whose host is
 * "*.example.com" matches any subdomain (not example.com itself), with the
 * same scheme and port. A pattern without scheme ("example.com",
 * "*.example.com", "example.com:8080") matches the host with any scheme (and
 * any port unless one is given). The opaque origin "null" is allowed only by
 * a pattern "null" (or "*"). A request without Origin (origin == NULL) is
 * allowed (non-browser clients send none). n == 0 allows all. */
int ws_origin_allowed(const char *origin, size_t origin_len, const char *const *patterns, size_t n);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), written to out
 * (WS_ACCEPT_LEN bytes, no NUL). Uses OpenSSL. */
void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN]);

/* Writes the 101 response into out (cap bytes, no NUL). protocol may be
 * NULL; extensions may be NULL (a negotiated Sec-WebSocket-Extensions value).
 * Returns the length, or 0 when cap is too small or when protocol or
 * extensions hold a character other than HTAB and 0x20-0x7E (so that no value
 * can inject a header). */
size_t ws_handshake_response(char *out, size_t cap, const char accept[WS_ACCEPT_LEN],
                             const char *protocol, size_t protocol_len,
                             const char *extensions, size_t extensions_len);

/* Writes an error response (no NUL): "HTTP/1.1 <status> <phrase>",
 * Connection: close, Content-Type: text/plain; charset=utf-8, Content-Length,
 * and (for 426) Sec-WebSocket-Version: 13 or (for 405) Allow: GET, HEAD,
 * then the one-line reason plus "\n" as body. reason NULL means the phrase; a
 * status outside 100-599 is sent as 500. Returns the length, or 0 when cap is
 * too small. */
size_t ws_http_error_response(char *out, size_t cap, int status, const char *reason);

/* The standard reason phrase of an HTTP status ("Not Found"), or "Error". */
const char *ws_http_status_phrase(int status);

#endif
