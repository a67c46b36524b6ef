/* The opening handshake (RFC 6455 section 4.2): see handshake.h. */
#include "handshake.h"

#include <openssl/evp.h>
#include <string.h>

#define HS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define HS_KEY_LEN 24 /* base64 of 16 bytes */

static int hs_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* a[0..a_len) equals b[0..b_len), ASCII case-insensitive. */
static int hs_ieq(const char *a, size_t a_len, const char *b, size_t b_len) {
    if (a_len != b_len) return 0;
    for (size_t i = 0; i < a_len; i++) {
        if (hs_lower((unsigned char)a[i]) != hs_lower((unsigned char)b[i])) return 0;
    }
    return 1;
}

static int hs_is_base64(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* The index of c in the base64 alphabet; c must be a base64 character. */
static int hs_base64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

/* The canonical base64 of 16 bytes: 22 alphabet characters, the last of
 * which carries only 2 data bits (its low 4 bits zero), then "==". */
static int hs_key_valid(const char *key, size_t len) {
    if (len != HS_KEY_LEN || key[22] != '=' || key[23] != '=') return 0;
    for (size_t i = 0; i < 22; i++) {
        if (!hs_is_base64((unsigned char)key[i])) return 0;
    }
    return (hs_base64_value((unsigned char)key[21]) & 0x0f) == 0;
}

/* 1 when some header named `name` lists `token`: several headers of one
 * name are one comma-separated list (RFC 9110 section 5.3). */
static int hs_any_list_has(const ws_http_request *req, const char *name, const char *token) {
    for (size_t i = 0; i < req->num_headers; i++) {
        const ws_http_header *h = &req->headers[i];
        if (hs_ieq(h->name, h->name_len, name, strlen(name)) && ws_http_list_has(h->value, h->value_len, token))
            return 1;
    }
    return 0;
}

static void hs_reject(ws_handshake *out, int status, const char *reason) {
    out->kind = WS_HS_REJECT;
    out->status = status;
    out->reason = reason;
}

void ws_handshake_check(const ws_http_request *req, ws_handshake *out) {
    memset(out, 0, sizeof *out);

    int has_upgrade = ws_http_find(req, "Upgrade") != NULL;
    int is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    int is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (!is_get && !(is_head && !has_upgrade)) {
        hs_reject(out, 405, "Method Not Allowed: WebSocket handshakes use GET");
        return;
    }

    if (req->target_len == 0 || req->target[0] != '/') {
        hs_reject(out, 400, "Request target must be a path starting with /");
        return;
    }
    const char *q = memchr(req->target, '?', req->target_len);
    out->path = req->target;
    out->path_len = q ? (size_t)(q - req->target) : req->target_len;
    if (q) {
        out->query = q + 1;
        out->query_len = req->target_len - out->path_len - 1;
    }

    if (!has_upgrade) {
        out->kind = WS_HS_PLAIN_GET;
        return;
    }
    if (req->minor_version < 1) {
        hs_reject(out, 400, "HTTP/1.1 or later is required");
        return;
    }
    size_t hosts = ws_http_count(req, "Host");
    if (hosts == 0 || ws_http_find(req, "Host")->value_len == 0) {
        hs_reject(out, 400, "Missing Host header");
        return;
    }
    if (hosts > 1) {
        hs_reject(out, 400, "More than one Host header");
        return;
    }
    if (!hs_any_list_has(req, "Upgrade", "websocket")) {
        hs_reject(out, 400, "Missing or invalid Upgrade header");
        return;
    }
    if (!hs_any_list_has(req, "Connection", "upgrade")) {
        hs_reject(out, 400, "Missing Connection: Upgrade");
        return;
    }
    const ws_http_header *version = ws_http_find(req, "Sec-WebSocket-Version");
    if (!version || ws_http_count(req, "Sec-WebSocket-Version") != 1 || version->value_len != 2 ||
        memcmp(version->value, "13", 2) != 0) {
        hs_reject(out, 426, "Unsupported WebSocket version: use 13");
        return;
    }
    const ws_http_header *key = ws_http_find(req, "Sec-WebSocket-Key");
    if (!key || ws_http_count(req, "Sec-WebSocket-Key") != 1 || !hs_key_valid(key->value, key->value_len)) {
        hs_reject(out, 400, "Missing or invalid Sec-WebSocket-Key");
        return;
    }

    out->kind = WS_HS_UPGRADE;
    out->key = key->value;
    out->key_len = key->value_len;
}

/* An origin or pattern split into its parts. port is -1 when absent and has
 * no default (an unknown scheme), or when it is a pattern without scheme. */
typedef struct {
    const char *scheme; /* NULL: a pattern given as host[:port] only */
    size_t scheme_len;
    const char *host; /* without the "*." of a wildcard pattern */
    size_t host_len;
    int wildcard; /* pattern host "*.host": subdomains of host only */
    long port;
} hs_origin;

static long hs_default_port(const char *scheme, size_t len) {
    if (hs_ieq(scheme, len, "http", 4) || hs_ieq(scheme, len, "ws", 2)) return 80;
    if (hs_ieq(scheme, len, "https", 5) || hs_ieq(scheme, len, "wss", 3)) return 443;
    return -1;
}

/* Parses [scheme "://"] host [":" port] [ "/" (patterns only) ]. Returns 0
 * when the text is not of that form. */
static int hs_origin_parse(const char *s, size_t len, int is_pattern, hs_origin *o) {
    const char *end = s + len, *p = s;
    const char *sep = NULL;
    for (const char *x = s; end - x >= 3; x++) {
        if (x[0] == ':' && x[1] == '/' && x[2] == '/') {
            sep = x;
            break;
        }
    }
    memset(o, 0, sizeof *o);
    o->port = -1;
    if (sep) {
        if (sep == s) return 0;
        o->scheme = s;
        o->scheme_len = (size_t)(sep - s);
        p = sep + 3;
    } else if (!is_pattern) {
        return 0;
    }
    if (is_pattern && end > p && end[-1] == '/') end--; /* "http://host/" written as a URL */

    if (is_pattern && end - p >= 2 && p[0] == '*' && p[1] == '.') {
        o->wildcard = 1;
        p += 2;
    }
    o->host = p;
    if (p < end && *p == '[') { /* IPv6 literal */
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close) return 0;
        p = close + 1;
    } else {
        while (p < end && *p != ':') {
            if (*p == '/' || *p == '@' || *p == '[' || *p == ']' || (unsigned char)*p <= 0x20) return 0;
            p++;
        }
    }
    o->host_len = (size_t)(p - o->host);
    if (o->host_len == 0) return 0;
    if (p < end) {
        if (*p != ':' || ++p == end || end - p > 5) return 0;
        long port = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') return 0;
            port = port * 10 + (*p - '0');
        }
        if (port > 65535) return 0;
        o->port = port;
    } else if (o->scheme) {
        o->port = hs_default_port(o->scheme, o->scheme_len);
    }
    return 1;
}

static int hs_origin_match(const hs_origin *origin, const hs_origin *pattern) {
    if (pattern->scheme && !hs_ieq(origin->scheme, origin->scheme_len, pattern->scheme, pattern->scheme_len))
        return 0;
    if ((pattern->scheme || pattern->port >= 0) && origin->port != pattern->port) return 0;
    if (!pattern->wildcard) return hs_ieq(origin->host, origin->host_len, pattern->host, pattern->host_len);
    /* "*.example.com": a non-empty label, then ".example.com" */
    if (origin->host_len < pattern->host_len + 2) return 0;
    const char *tail = origin->host + origin->host_len - pattern->host_len;
    return tail[-1] == '.' && hs_ieq(tail, pattern->host_len, pattern->host, pattern->host_len);
}

/* Besides the rules in handshake.h: a pattern without scheme ("host",
 * "*.host", "host:port") matches that host with any scheme (and any port
 * unless one is given); the opaque origin "null" (sandboxed frames, file:
 * pages) is allowed only by a pattern "null" or "*"; an origin that is not
 * of the form scheme://host[:port] matches nothing but "*". */
int ws_origin_allowed(const char *origin, size_t origin_len, const char *const *patterns, size_t n) {
    if (!origin || n == 0) return 1;
    hs_origin o;
    int parsed = hs_origin_parse(origin, origin_len, 0, &o);
    int is_null = hs_ieq(origin, origin_len, "null", 4);
    for (size_t i = 0; i < n; i++) {
        const char *pat = patterns[i];
        size_t pat_len = strlen(pat);
        if (pat_len == 1 && pat[0] == '*') return 1;
        int pat_null = hs_ieq(pat, pat_len, "null", 4);
        if (is_null || pat_null) {
            if (is_null && pat_null) return 1;
            continue;
        }
        hs_origin p;
        if (parsed && hs_origin_parse(pat, pat_len, 1, &p) && hs_origin_match(&o, &p)) return 1;
    }
    return 0;
}

void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN]) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    unsigned char b64[WS_ACCEPT_LEN + 1]; /* EVP_EncodeBlock adds a NUL */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key, key_len) &&
             EVP_DigestUpdate(ctx, HS_GUID, sizeof HS_GUID - 1) && EVP_DigestFinal_ex(ctx, digest, &digest_len) &&
             digest_len == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        /* Cannot happen with a working OpenSSL; a wrong key makes the client
         * fail the handshake rather than talk to an unchecked peer. */
        memset(out, '=', WS_ACCEPT_LEN);
        return;
    }
    EVP_EncodeBlock(b64, digest, 20);
    memcpy(out, b64, WS_ACCEPT_LEN);
}

/* Appends to a bounded buffer; sets `ok` to 0 once something did not fit. */
typedef struct {
    char *p;
    size_t cap, len;
    int ok;
} hs_buf;

static void hs_put(hs_buf *b, const char *s, size_t n) {
    if (!b->ok || n > b->cap - b->len) {
        b->ok = 0;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void hs_puts(hs_buf *b, const char *s) { hs_put(b, s, strlen(s)); }

static void hs_put_uint(hs_buf *b, size_t v) {
    char digits[24];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    hs_put(b, digits + i, sizeof digits - i);
}

/* A header value to be echoed: HTAB and 0x20-0x7e only, so that no value can
 * end the line or the head. */
static int hs_header_value_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\t' && (c < 0x20 || c > 0x7e)) return 0;
    }
    return 1;
}

size_t ws_handshake_response(char *out, size_t cap, const char accept[WS_ACCEPT_LEN], const char *protocol,
                             size_t protocol_len, const char *extensions, size_t extensions_len) {
    if ((protocol && !hs_header_value_ok(protocol, protocol_len)) ||
        (extensions && !hs_header_value_ok(extensions, extensions_len)))
        return 0;
    hs_buf b = {out, cap, 0, 1};
    hs_puts(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: ");
    hs_put(&b, accept, WS_ACCEPT_LEN);
    hs_puts(&b, "\r\n");
    if (protocol) {
        hs_puts(&b, "Sec-WebSocket-Protocol: ");
        hs_put(&b, protocol, protocol_len);
        hs_puts(&b, "\r\n");
    }
    if (extensions) {
        hs_puts(&b, "Sec-WebSocket-Extensions: ");
        hs_put(&b, extensions, extensions_len);
        hs_puts(&b, "\r\n");
    }
    hs_puts(&b, "\r\n");
    return b.ok ? b.len : 0;
}

size_t ws_http_error_response(char *out, size_t cap, int status, const char *reason) {
    if (status < 100 || status > 599) status = 500;
    if (!reason) reason = ws_http_status_phrase(status);
    size_t reason_len = strlen(reason);
    hs_buf b = {out, cap, 0, 1};
    hs_puts(&b, "HTTP/1.1 ");
    hs_put_uint(&b, (size_t)status);
    hs_puts(&b, " ");
    hs_puts(&b, ws_http_status_phrase(status));
    hs_puts(&b, "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    hs_put_uint(&b, reason_len + 1);
    hs_puts(&b, "\r\n");
    if (status == 426) hs_puts(&b, "Sec-WebSocket-Version: 13\r\n");
    if (status == 405) hs_puts(&b, "Allow: GET, HEAD\r\n");
    hs_puts(&b, "\r\n");
    hs_put(&b, reason, reason_len);
    hs_puts(&b, "\n");
    return b.ok ? b.len : 0;
}

const char *ws_http_status_phrase(int status) {
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}
