/* The legacy drafts hixie-75 / hixie-76: see hixie.h. */
#include "hixie.h"

#include <openssl/evp.h>
#include <string.h>

enum { HX_TYPE = 0, HX_TEXT, HX_LEN, HX_SKIP, HX_CLOSED };

int ws_hixie_key_number(const char *key, size_t len, uint32_t *out) {
    uint64_t number = 0;
    uint32_t spaces = 0;
    int digits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c >= '0' && c <= '9') {
            number = number * 10 + (c - '0');
            if (number > UINT32_MAX) return -1; /* the client's number is at most 2^32 - 1 */
            digits = 1;
        } else if (c == ' ') {
            spaces++;
        }
    }
    /* No space: "a symptom of a cross-protocol attack" (draft 76). */
    if (!spaces || !digits || number % spaces != 0) return -1;
    *out = (uint32_t)(number / spaces);
    return 0;
}

static const ws_http_header *hx_once(const ws_http_request *req, const char *name) {
    return ws_http_count(req, name) == 1 ? ws_http_find(req, name) : NULL;
}

int ws_hixie_detect(const ws_http_request *req) {
    size_t k1 = ws_http_count(req, "Sec-WebSocket-Key1"), k2 = ws_http_count(req, "Sec-WebSocket-Key2");
    if (ws_http_find(req, "Sec-WebSocket-Version")) return 0;
    if (!k1 && !k2) return ws_http_find(req, "Sec-WebSocket-Key") ? 0 : 75;
    const ws_http_header *h1 = hx_once(req, "Sec-WebSocket-Key1"), *h2 = hx_once(req, "Sec-WebSocket-Key2");
    uint32_t n;
    if (!h1 || !h2 || ws_hixie_key_number(h1->value, h1->value_len, &n) != 0 ||
        ws_hixie_key_number(h2->value, h2->value_len, &n) != 0)
        return -1;
    return 76;
}

int ws_hixie_answer(const char *key1, size_t key1_len, const char *key2, size_t key2_len,
                    const uint8_t body[WS_HIXIE_BODY_LEN], uint8_t out[WS_HIXIE_ANSWER_LEN]) {
    uint32_t n1, n2;
    if (ws_hixie_key_number(key1, key1_len, &n1) != 0 || ws_hixie_key_number(key2, key2_len, &n2) != 0) return -1;
    uint8_t challenge[16] = {
        (uint8_t)(n1 >> 24), (uint8_t)(n1 >> 16), (uint8_t)(n1 >> 8), (uint8_t)n1,
        (uint8_t)(n2 >> 24), (uint8_t)(n2 >> 16), (uint8_t)(n2 >> 8), (uint8_t)n2,
    };
    memcpy(challenge + 8, body, WS_HIXIE_BODY_LEN);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, challenge, sizeof challenge) &&
             EVP_DigestFinal_ex(ctx, digest, &digest_len) && digest_len == WS_HIXIE_ANSWER_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) return -1;
    memcpy(out, digest, WS_HIXIE_ANSWER_LEN);
    return 0;
}

/* Appends to a bounded buffer; ok turns 0 once something did not fit. */
typedef struct {
    char *p;
    size_t cap, len;
    int ok;
} hx_buf;

static void hx_put(hx_buf *b, const void *s, size_t n) {
    if (!b->ok || n > b->cap - b->len) {
        b->ok = 0;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void hx_puts(hx_buf *b, const char *s) { hx_put(b, s, strlen(s)); }

/* A value echoed into a header: nothing that could end the line. */
static void hx_put_value(hx_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\t' && (c < 0x20 || c > 0x7e)) b->ok = 0;
    }
    hx_put(b, s, n);
}

size_t ws_hixie_response(char *out, size_t cap, int version, int secure, const char *origin, size_t origin_len,
                         const char *host, size_t host_len, const char *resource, size_t resource_len,
                         const char *protocol, size_t protocol_len, const uint8_t answer[WS_HIXIE_ANSWER_LEN]) {
    const char *prefix = version == 76 ? "Sec-WebSocket-" : "WebSocket-";
    hx_buf b = {out, cap, 0, 1};
    /* The status lines the drafts give, byte for byte (75 spells "Web Socket"). */
    hx_puts(&b, version == 76 ? "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
                              : "HTTP/1.1 101 Web Socket Protocol Handshake\r\n");
    hx_puts(&b, "Upgrade: WebSocket\r\nConnection: Upgrade\r\n");
    if (origin) {
        hx_puts(&b, prefix);
        hx_puts(&b, "Origin: ");
        hx_put_value(&b, origin, origin_len);
        hx_puts(&b, "\r\n");
    }
    hx_puts(&b, prefix);
    hx_puts(&b, secure ? "Location: wss://" : "Location: ws://");
    hx_put_value(&b, host, host_len);
    hx_put_value(&b, resource, resource_len);
    hx_puts(&b, "\r\n");
    if (protocol) {
        hx_puts(&b, prefix);
        hx_puts(&b, "Protocol: ");
        hx_put_value(&b, protocol, protocol_len);
        hx_puts(&b, "\r\n");
    }
    hx_puts(&b, "\r\n");
    if (version == 76) hx_put(&b, answer, WS_HIXIE_ANSWER_LEN);
    return b.ok ? b.len : 0;
}

size_t ws_hixie_header_size(int binary, size_t len) {
    if (!binary) return 1;
    size_t n = 2;
    while (len >>= 7) n++;
    return n;
}

size_t ws_hixie_header(uint8_t *out, int binary, size_t len) {
    if (!binary) {
        out[0] = 0x00;
        return 1;
    }
    size_t h = ws_hixie_header_size(1, len);
    out[0] = 0x80;
    for (size_t i = h - 1; i >= 1; i--) { /* big-endian base-128, the last digit without 0x80 */
        out[i] = (uint8_t)((len & 0x7f) | (i == h - 1 ? 0 : 0x80));
        len >>= 7;
    }
    return h;
}

ssize_t ws_hixie_parse(ws_hixie_parser *p, const uint8_t *buf, size_t n, uint64_t max, ws_hixie_event *ev) {
    memset(ev, 0, sizeof *ev);
    size_t i = 0;
    while (i < n) {
        switch (p->state) {
        case HX_TYPE:
            p->type = buf[i++];
            p->len = 0;
            p->state = (p->type & 0x80) ? HX_LEN : HX_TEXT;
            break;
        case HX_TEXT: {
            const uint8_t *start = buf + i;
            const uint8_t *end = memchr(start, 0xff, n - i);
            size_t k = end ? (size_t)(end - start) : n - i;
            if (k > max || p->len > max - k) return WS_HX_ERR_TOO_BIG;
            int first = p->len == 0;
            p->len += k;
            i += k + (end ? 1 : 0);
            if (end) p->state = HX_TYPE;
            if (p->type != 0x00) break; /* a type nobody defined: read and discarded */
            if (!k && !end) break;
            ev->type = WS_HX_TEXT;
            ev->data = start;
            ev->len = k;
            ev->first = first;
            ev->last = end != NULL;
            return (ssize_t)i;
        }
        case HX_LEN: {
            uint8_t b = buf[i++];
            if (p->len > max || p->len > (UINT64_MAX >> 7)) return WS_HX_ERR_TOO_BIG;
            p->len = p->len * 128 + (b & 0x7f);
            if (b & 0x80) break;
            if (p->type == 0xff && p->len == 0) {
                p->state = HX_CLOSED;
                ev->type = WS_HX_CLOSE;
                return (ssize_t)i;
            }
            if (p->len > max) return WS_HX_ERR_TOO_BIG;
            p->state = p->len ? HX_SKIP : HX_TYPE;
            break;
        }
        case HX_SKIP: {
            size_t k = n - i;
            if (k > p->len) k = (size_t)p->len;
            p->len -= k;
            i += k;
            if (!p->len) p->state = HX_TYPE;
            break;
        }
        default:
            return WS_HX_ERR_CLOSED;
        }
    }
    ev->type = WS_HX_NEED_MORE;
    return (ssize_t)i;
}
