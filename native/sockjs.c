/* SockJS 0.3.3, the pure parts: see sockjs.h. */
#include "sockjs.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    ws_sjs_transport t;
} sjs_transports[] = {
    {"websocket", WS_SJS_T_WEBSOCKET},     {"xhr", WS_SJS_T_XHR},
    {"xhr_send", WS_SJS_T_XHR_SEND},       {"xhr_streaming", WS_SJS_T_XHR_STREAMING},
    {"eventsource", WS_SJS_T_EVENTSOURCE}, {"htmlfile", WS_SJS_T_HTMLFILE},
    {"jsonp", WS_SJS_T_JSONP},             {"jsonp_send", WS_SJS_T_JSONP_SEND},
};

const char *ws_sjs_transport_name(ws_sjs_transport t) {
    switch (t) {
    case WS_SJS_T_WEBSOCKET: return "sockjs-websocket";
    case WS_SJS_T_XHR: return "xhr-polling";
    case WS_SJS_T_XHR_STREAMING: return "xhr-streaming";
    case WS_SJS_T_EVENTSOURCE: return "eventsource";
    case WS_SJS_T_HTMLFILE: return "htmlfile";
    case WS_SJS_T_JSONP: return "jsonp-polling";
    default: return "";
    }
}

int ws_sjs_receives(ws_sjs_transport t) {
    return t != WS_SJS_T_XHR_SEND && t != WS_SJS_T_JSONP_SEND;
}

int ws_sjs_streams(ws_sjs_transport t) {
    return t == WS_SJS_T_XHR_STREAMING || t == WS_SJS_T_EVENTSOURCE || t == WS_SJS_T_HTMLFILE;
}

static int seg_eq(const char *p, size_t n, const char *s) {
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* A server or session id: not empty, no dot. */
static int id_ok(const char *p, size_t n) {
    return n > 0 && !memchr(p, '.', n);
}

/* iframe[0-9-.a-z_]*.html */
static int iframe_name(const char *p, size_t n) {
    if (n < 11 || memcmp(p, "iframe", 6) != 0 || memcmp(p + n - 5, ".html", 5) != 0) return 0;
    for (size_t i = 6; i < n - 5; i++) {
        char ch = p[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '.' || ch == '_')) return 0;
    }
    return 1;
}

#define SJS_MAX_SEGMENTS 16

void ws_sjs_route_parse(const char *path, size_t len, const char *prefix, size_t prefix_len, ws_sjs_route *r) {
    memset(r, 0, sizeof *r);
    if (len <= prefix_len || memcmp(path, prefix, prefix_len) != 0 || path[prefix_len] != '/') return;
    r->kind = WS_SJS_NOT_FOUND;
    const char *seg[SJS_MAX_SEGMENTS];
    size_t seg_len[SJS_MAX_SEGMENTS], n = 0;
    const char *p = path + prefix_len + 1, *end = path + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        if (n == SJS_MAX_SEGMENTS) return;
        seg[n] = p;
        seg_len[n++] = (size_t)(e - p);
        if (!slash) break;
        p = slash + 1;
    }
    if (n > 1 && seg_len[n - 1] == 0) n--; /* a trailing slash */
    size_t resource_segs;
    if (n == 1) {
        r->kind = WS_SJS_ROOT;
        resource_segs = 1;
    } else if (n >= 4 && id_ok(seg[n - 3], seg_len[n - 3]) && id_ok(seg[n - 2], seg_len[n - 2])) {
        size_t i;
        for (i = 0; i < sizeof sjs_transports / sizeof sjs_transports[0]; i++)
            if (seg_eq(seg[n - 1], seg_len[n - 1], sjs_transports[i].name)) break;
        if (i == sizeof sjs_transports / sizeof sjs_transports[0] || seg_len[n - 2] > WS_SJS_SESSION_MAX) return;
        r->kind = WS_SJS_SESSION;
        r->transport = sjs_transports[i].t;
        r->session = seg[n - 2];
        r->session_len = seg_len[n - 2];
        resource_segs = n - 3;
    } else if (seg_eq(seg[n - 1], seg_len[n - 1], "info")) {
        r->kind = WS_SJS_INFO;
        resource_segs = n - 1;
    } else if (iframe_name(seg[n - 1], seg_len[n - 1])) {
        r->kind = WS_SJS_IFRAME;
        resource_segs = n - 1;
    } else if (seg_eq(seg[n - 1], seg_len[n - 1], "websocket")) {
        r->kind = WS_SJS_RAW_WEBSOCKET;
        resource_segs = n - 1;
    } else {
        return;
    }
    for (size_t i = 0; i < resource_segs; i++) {
        if (seg_len[i] == 0) {
            r->kind = WS_SJS_NOT_FOUND;
            return;
        }
    }
    r->resource = seg[0] - 1; /* the slash before it */
    r->resource_len = (size_t)(seg[resource_segs - 1] + seg_len[resource_segs - 1] - r->resource);
}

/* ---- quoting -------------------------------------------------------- */

/* The code point of the UTF-8 sequence at p (n bytes left) and its length
 * in *size; -1 for a byte that starts no valid sequence (size 1). */
static long utf8_next(const uint8_t *p, size_t n, size_t *size) {
    uint8_t b = p[0];
    *size = 1;
    if (b < 0x80) return b;
    size_t need;
    long cp, min;
    if (b >= 0xc2 && b <= 0xdf) need = 2, cp = b & 0x1f, min = 0x80;
    else if (b >= 0xe0 && b <= 0xef) need = 3, cp = b & 0x0f, min = 0x800;
    else if (b >= 0xf0 && b <= 0xf4) need = 4, cp = b & 0x07, min = 0x10000;
    else return -1;
    if (n < need) return -1;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80) return -1;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    *size = need;
    return cp;
}

static int escaped(long cp) {
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x200c && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x2060 && cp <= 0x206f) || (cp >= 0xfff0 && cp <= 0xffff);
}

static size_t put_u(uint8_t *d, long cp) {
    static const char hex[] = "0123456789abcdef";
    d[0] = '\\';
    d[1] = 'u';
    for (int i = 0; i < 4; i++) d[2 + i] = (uint8_t)hex[(cp >> (12 - 4 * i)) & 0xf];
    return 6;
}

size_t ws_sjs_quote(uint8_t *dst, const uint8_t *src, size_t len) {
    size_t w = 0;
    dst[w++] = '"';
    for (size_t i = 0; i < len;) {
        uint8_t b = src[i];
        if (b >= 0x20 && b < 0x7f) { /* the common case: printable ASCII */
            if (b == '"' || b == '\\') dst[w++] = '\\';
            dst[w++] = b;
            i++;
            continue;
        }
        size_t size;
        long cp = utf8_next(src + i, len - i, &size);
        if (cp < 0) cp = 0xfffd;
        if (escaped(cp) || cp == 0xfffd) {
            w += put_u(dst + w, cp);
        } else {
            memcpy(dst + w, src + i, size);
            w += size;
        }
        i += size;
    }
    dst[w++] = '"';
    return w;
}

size_t ws_sjs_wrap(uint8_t *dst, ws_sjs_transport t, const char *cb, size_t cb_len, const uint8_t *frame, size_t len) {
    size_t w = 0;
    switch (t) {
    case WS_SJS_T_EVENTSOURCE:
        memcpy(dst, "data: ", 6);
        memcpy(dst + 6, frame, len);
        memcpy(dst + 6 + len, "\r\n\r\n", 4);
        return len + 10;
    case WS_SJS_T_HTMLFILE:
        memcpy(dst, "<script>\np(", 11);
        w = 11 + ws_sjs_quote(dst + 11, frame, len);
        memcpy(dst + w, ");\n</script>\r\n", 14);
        return w + 14;
    case WS_SJS_T_JSONP:
        memcpy(dst, cb, cb_len);
        dst[cb_len] = '(';
        w = cb_len + 1 + ws_sjs_quote(dst + cb_len + 1, frame, len);
        memcpy(dst + w, ");\r\n", 4);
        return w + 4;
    default:
        memcpy(dst, frame, len);
        dst[len] = '\n';
        return len + 1;
    }
}

size_t ws_sjs_close_frame(char *dst, size_t cap, unsigned code, const char *reason, size_t reason_len) {
    char head[16];
    int h = snprintf(head, sizeof head, "c[%u,", code);
    if (h < 0 || cap < (size_t)h + ws_sjs_quote_bound(reason_len) + 1) return 0;
    memcpy(dst, head, (size_t)h);
    size_t n = (size_t)h + ws_sjs_quote((uint8_t *)dst + h, (const uint8_t *)reason, reason_len);
    dst[n++] = ']';
    return n;
}

/* ---- decoding ------------------------------------------------------- */

static int is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int hex4(const uint8_t *p, long *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static size_t put_utf8(uint8_t *d, long cp) {
    if (cp < 0x80) {
        d[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (uint8_t)(0xc0 | cp >> 6);
        d[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (uint8_t)(0xe0 | cp >> 12);
        d[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (uint8_t)(0xf0 | cp >> 18);
    d[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* One JSON string at p[*i] (the opening quote), decoded into out; its
 * length, or -1. Raw bytes are copied as they are, invalid UTF-8 becomes U+FFFD. */
static long decode_string(const uint8_t *p, size_t len, size_t *i, uint8_t *out) {
    size_t k = *i + 1, w = 0;
    while (k < len) {
        uint8_t c = p[k];
        if (c == '"') {
            *i = k + 1;
            return (long)w;
        }
        if (c < 0x20) return -1;
        if (c != '\\') {
            if (c < 0x80) {
                out[w++] = c;
                k++;
                continue;
            }
            size_t size;
            long cp = utf8_next(p + k, len - k, &size);
            if (cp < 0) { /* not UTF-8: U+FFFD, 3 bytes out for 1 in */
                w += put_utf8(out + w, 0xfffd);
                k++;
                continue;
            }
            memcpy(out + w, p + k, size);
            w += size;
            k += size;
            continue;
        }
        if (k + 1 >= len) return -1;
        uint8_t e = p[k + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            out[w++] = (uint8_t)to[simple - "\"\\/bfnrt"];
            k += 2;
            continue;
        }
        if (e != 'u' || k + 6 > len) return -1;
        long cp;
        if (hex4(p + k + 2, &cp) != 0) return -1;
        k += 6;
        if (cp >= 0xd800 && cp <= 0xdbff && k + 6 <= len && p[k] == '\\' && p[k + 1] == 'u') {
            long lo;
            if (hex4(p + k + 2, &lo) != 0) return -1;
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                k += 6;
            }
        }
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; /* lone surrogate: 3 bytes out of 6 in */
        w += put_utf8(out + w, cp);
    }
    return -1;
}

long ws_sjs_decode(const uint8_t *p, size_t len, uint8_t *out, ws_sjs_message_fn fn, void *ctx) {
    size_t i = 0;
    long count = 0;
    while (i < len && is_space(p[i])) i++;
    if (i == len || p[i] != '[') return WS_SJS_BROKEN;
    i++;
    while (i < len && is_space(p[i])) i++;
    if (i < len && p[i] == ']') {
        i++;
    } else {
        for (;;) {
            if (i == len || p[i] != '"') return WS_SJS_BROKEN;
            long n = decode_string(p, len, &i, out);
            if (n < 0) return WS_SJS_BROKEN;
            if (fn) {
                int r = fn(ctx, out, (size_t)n);
                if (r < 0) return r;
            }
            count++;
            while (i < len && is_space(p[i])) i++;
            if (i == len) return WS_SJS_BROKEN;
            if (p[i] == ']') {
                i++;
                break;
            }
            if (p[i] != ',') return WS_SJS_BROKEN;
            i++;
            while (i < len && is_space(p[i])) i++;
        }
    }
    while (i < len && is_space(p[i])) i++;
    return i == len ? count : WS_SJS_BROKEN;
}

int ws_sjs_callback_ok(const char *p, size_t len) {
    if (len == 0 || len > 256) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

long ws_sjs_form_value(const char *p, size_t len, const char *key, char *out) {
    size_t key_len = strlen(key);
    size_t i = 0;
    while (i <= len) {
        const char *amp = memchr(p + i, '&', len - i);
        size_t e = amp ? (size_t)(amp - p) : len;
        if (e - i > key_len && p[i + key_len] == '=' && memcmp(p + i, key, key_len) == 0) {
            size_t w = 0;
            for (size_t k = i + key_len + 1; k < e; k++) {
                if (p[k] == '+') out[w++] = ' ';
                else if (p[k] == '%' && k + 2 < e && hexval(p[k + 1]) >= 0 && hexval(p[k + 2]) >= 0) {
                    out[w++] = (char)(hexval(p[k + 1]) << 4 | hexval(p[k + 2]));
                    k += 2;
                } else out[w++] = p[k];
            }
            return (long)w;
        }
        if (!amp) break;
        i = e + 1;
    }
    return -1;
}

/* A line end at p[*i]: CRLF (a bare LF is accepted too). 1 consumed, 0 incomplete, -1 something else. */
static int chunk_eol(const uint8_t *p, size_t len, size_t *i) {
    if (*i < len && p[*i] == '\n') {
        (*i)++;
        return 1;
    }
    if (*i + 1 >= len) return *i < len && p[*i] != '\r' ? -1 : 0;
    if (p[*i] != '\r' || p[*i + 1] != '\n') return -1;
    *i += 2;
    return 1;
}

long ws_sjs_dechunk(const uint8_t *p, size_t len, uint8_t *out, size_t max) {
    size_t i = 0, w = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (i < len && hexval((char)p[i]) >= 0) {
            if (++digits > 8) return WS_SJS_BROKEN;
            size = size << 4 | (size_t)hexval((char)p[i++]);
        }
        if (i == len) return WS_SJS_INCOMPLETE;
        if (!digits) return WS_SJS_BROKEN;
        while (i < len && p[i] != '\r' && p[i] != '\n') i++; /* a chunk extension */
        int e = chunk_eol(p, len, &i);
        if (e <= 0) return e ? WS_SJS_BROKEN : WS_SJS_INCOMPLETE;
        if (size == 0) { /* trailers, then an empty line */
            for (;;) {
                size_t start = i;
                while (i < len && p[i] != '\r' && p[i] != '\n') i++;
                e = chunk_eol(p, len, &i);
                if (e <= 0) return e ? WS_SJS_BROKEN : WS_SJS_INCOMPLETE;
                if (i - start <= 2 && (p[start] == '\r' || p[start] == '\n')) return (long)w;
            }
        }
        if (size > max - w) return WS_SJS_TOO_BIG;
        if (len - i < size) return WS_SJS_INCOMPLETE;
        memcpy(out + w, p + i, size);
        w += size;
        i += size;
        e = chunk_eol(p, len, &i);
        if (e <= 0) return e ? WS_SJS_BROKEN : WS_SJS_INCOMPLETE;
    }
}
