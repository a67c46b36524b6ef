/* HTTP/1.1 request-head parser in the manner of picohttpparser: no
 * allocation, no copies; the result is pointers and lengths into the
 * caller's buffer. Stateless: the caller keeps the bytes received so far and
 * calls again with the longer buffer, so any split of the input is handled. */
#ifndef WS_HTTP_H
#define WS_HTTP_H

#include <stddef.h>

#define WS_HTTP_MAX_HEADERS 64

enum ws_http_result {
    WS_HTTP_MALFORMED = -1,
    WS_HTTP_INCOMPLETE = -2,
    WS_HTTP_TOO_MANY_HEADERS = -3, /* more than WS_HTTP_MAX_HEADERS: answer 431 */
};

typedef struct {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing spaces/tabs trimmed */
    size_t value_len;
} ws_http_header;

typedef struct {
    const char *method;
    size_t method_len;
    const char *target; /* the request-target as sent, e.g. "/chat?room=1" */
    size_t target_len;
    int minor_version;  /* HTTP/1.x */
    size_t num_headers;
    ws_http_header headers[WS_HTTP_MAX_HEADERS];
} ws_http_request;

/* Parses the request line and headers in buf[0..len). Returns the length of
 * the head including the final empty line when complete, WS_HTTP_INCOMPLETE
 * when more bytes are needed, or WS_HTTP_MALFORMED / WS_HTTP_TOO_MANY_HEADERS.
 * Accepts CRLF and bare LF line ends. Rejects: control characters (other
 * than HTAB in values), non-token characters in the method and header
 * names, obsolete line folding, a version other than HTTP/1.x, a NUL
 * anywhere. Empty lines before the request line are skipped (RFC 9112
 * section 2.2). WS_HTTP_TOO_MANY_HEADERS is returned as soon as header line
 * WS_HTTP_MAX_HEADERS + 1 is complete and well-formed, before the end of the
 * head. A head longer than INT_MAX is MALFORMED. On MALFORMED and
 * TOO_MANY_HEADERS the contents of *req are unspecified. Never reads past
 * buf + len. */
int ws_http_parse_request(const char *buf, size_t len, ws_http_request *req);

/* The first header named `name` (ASCII case-insensitive), or NULL. */
const ws_http_header *ws_http_find(const ws_http_request *req, const char *name);

/* How many headers are named `name`. */
size_t ws_http_count(const ws_http_request *req, const char *name);

/* 1 when the comma-separated list value[0..len) contains `token`
 * (ASCII case-insensitive, optional whitespace around elements). */
int ws_http_list_has(const char *value, size_t len, const char *token);

#endif
