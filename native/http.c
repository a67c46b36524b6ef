/* HTTP/1.x request-head parser: see http.h. A cursor walks the buffer with
 * small helpers; every helper checks the end before reading, so the parser
 * never reads past buf + len and can be called again on a longer buffer. */
#include "http.h"

#include <limits.h>
#include <string.h>

/* tchar of RFC 9110 section 5.6.2: "!#$%&'*+-.^_`|~", digits, letters. */
static const unsigned char http_token_table[256] = {
    /* 0x00 - 0x1f: controls */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /*    !  "  #  $  %  &  '  (  )  *  +  ,  -  .  / */
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
    /* 0  1  2  3  4  5  6  7  8  9  :  ;  <  =  >  ? */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    /* @  A  B  C  D  E  F  G  H  I  J  K  L  M  N  O */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* P  Q  R  S  T  U  V  W  X  Y  Z  [  \  ]  ^  _ */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    /* `  a  b  c  d  e  f  g  h  i  j  k  l  m  n  o */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* p  q  r  s  t  u  v  w  x  y  z  {  |  }  ~ DEL */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    /* 0x80 - 0xff: not token characters */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

#define HTTP_IS_TOKEN(c) (http_token_table[(unsigned char)(c)])
/* field-vchar, SP and HTAB: 0x20-0x7e, obs-text 0x80-0xff, and 0x09. */
#define HTTP_IS_VALUE_CHAR(c) \
    ((unsigned char)(c) == '\t' || ((unsigned char)(c) >= 0x20 && (unsigned char)(c) != 0x7f))
/* The request-target: visible ASCII only. */
#define HTTP_IS_TARGET_CHAR(c) ((unsigned char)(c) > 0x20 && (unsigned char)(c) < 0x7f)

typedef struct {
    const char *p;
    const char *end;
} http_cursor;

/* Consumes a line end (CRLF or bare LF) at the cursor. Returns 0 when one
 * was consumed, WS_HTTP_INCOMPLETE when the input stops inside it, and
 * WS_HTTP_MALFORMED when something else is there (a CR without LF). */
static int http_eol(http_cursor *c) {
    if (c->p == c->end) return WS_HTTP_INCOMPLETE;
    if (*c->p == '\n') {
        c->p++;
        return 0;
    }
    if (*c->p != '\r') return WS_HTTP_MALFORMED;
    if (c->p + 1 == c->end) return WS_HTTP_INCOMPLETE;
    if (c->p[1] != '\n') return WS_HTTP_MALFORMED;
    c->p += 2;
    return 0;
}

/* Consumes a token (one or more tchar) followed by `delim`; *len gets the
 * token's length. */
static int http_token(http_cursor *c, char delim, size_t *len) {
    const char *start = c->p;
    while (c->p != c->end && HTTP_IS_TOKEN(*c->p)) c->p++;
    if (c->p == c->end) return WS_HTTP_INCOMPLETE;
    if (c->p == start || *c->p != delim) return WS_HTTP_MALFORMED;
    *len = (size_t)(c->p - start);
    c->p++;
    return 0;
}

/* METHOD SP request-target SP HTTP/1.DIGIT eol */
static int http_request_line(http_cursor *c, ws_http_request *req) {
    static const char version[] = "HTTP/1.";
    int r;

    req->method = c->p;
    if ((r = http_token(c, ' ', &req->method_len)) != 0) return r;

    req->target = c->p;
    while (c->p != c->end && HTTP_IS_TARGET_CHAR(*c->p)) c->p++;
    if (c->p == c->end) return WS_HTTP_INCOMPLETE;
    if (c->p == req->target || *c->p != ' ') return WS_HTTP_MALFORMED;
    req->target_len = (size_t)(c->p - req->target);
    c->p++;

    for (size_t i = 0; i < sizeof version - 1; i++, c->p++) {
        if (c->p == c->end) return WS_HTTP_INCOMPLETE;
        if (*c->p != version[i]) return WS_HTTP_MALFORMED;
    }
    if (c->p == c->end) return WS_HTTP_INCOMPLETE;
    if (*c->p < '0' || *c->p > '9') return WS_HTTP_MALFORMED;
    req->minor_version = *c->p - '0';
    c->p++;
    return http_eol(c);
}

/* name ":" OWS value OWS eol. The caller has checked that the line is not
 * empty and does not start with whitespace. */
static int http_header_line(http_cursor *c, ws_http_header *h) {
    int r;

    h->name = c->p;
    if ((r = http_token(c, ':', &h->name_len)) != 0) return r;

    while (c->p != c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
    h->value = c->p;
    while (c->p != c->end && *c->p != '\r' && *c->p != '\n') {
        if (!HTTP_IS_VALUE_CHAR(*c->p)) return WS_HTTP_MALFORMED;
        c->p++;
    }
    const char *value_end = c->p;
    if ((r = http_eol(c)) != 0) return r;
    while (value_end != h->value && (value_end[-1] == ' ' || value_end[-1] == '\t')) value_end--;
    h->value_len = (size_t)(value_end - h->value);
    return 0;
}

/* Too many headers is reported as soon as header line WS_HTTP_MAX_HEADERS + 1
 * is complete and well-formed, without waiting for the end of the head: the
 * answer (431) is then known, and whatever follows cannot change it. */
int ws_http_parse_request(const char *buf, size_t len, ws_http_request *req) {
    /* The result is an int: a head longer than INT_MAX is never complete. */
    size_t limit = len > (size_t)INT_MAX ? (size_t)INT_MAX : len;
    http_cursor c = {buf, buf + limit};
    ws_http_header spare;
    int r;

    req->num_headers = 0;

    /* RFC 9112 section 2.2: ignore empty lines before the request line. */
    for (;;) {
        if (c.p == c.end) goto incomplete;
        if (*c.p != '\r' && *c.p != '\n') break;
        if ((r = http_eol(&c)) != 0) goto fail;
    }

    if ((r = http_request_line(&c, req)) != 0) goto fail;

    for (;;) {
        if (c.p == c.end) goto incomplete;
        if (*c.p == '\r' || *c.p == '\n') {
            if ((r = http_eol(&c)) != 0) goto fail;
            return (int)(c.p - buf);
        }
        if (*c.p == ' ' || *c.p == '\t') return WS_HTTP_MALFORMED; /* obs-fold */
        ws_http_header *h =
            req->num_headers < WS_HTTP_MAX_HEADERS ? &req->headers[req->num_headers] : &spare;
        if ((r = http_header_line(&c, h)) != 0) goto fail;
        if (h == &spare) return WS_HTTP_TOO_MANY_HEADERS;
        req->num_headers++;
    }

incomplete:
    r = WS_HTTP_INCOMPLETE;
fail:
    if (r == WS_HTTP_INCOMPLETE && limit < len) return WS_HTTP_MALFORMED;
    return r;
}

static int http_name_eq(const char *a, size_t a_len, const char *b) {
    size_t i;
    for (i = 0; i < a_len; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (y == '\0') return 0;
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return 0;
    }
    return b[i] == '\0';
}

const ws_http_header *ws_http_find(const ws_http_request *req, const char *name) {
    for (size_t i = 0; i < req->num_headers; i++) {
        if (http_name_eq(req->headers[i].name, req->headers[i].name_len, name)) return &req->headers[i];
    }
    return NULL;
}

size_t ws_http_count(const ws_http_request *req, const char *name) {
    size_t n = 0;
    for (size_t i = 0; i < req->num_headers; i++) {
        if (http_name_eq(req->headers[i].name, req->headers[i].name_len, name)) n++;
    }
    return n;
}

int ws_http_list_has(const char *value, size_t len, const char *token) {
    const char *p = value, *end = value + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *s = p;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (http_name_eq(s, (size_t)(t - s), token)) return 1;
        p = comma ? comma + 1 : end;
    }
    return 0;
}
