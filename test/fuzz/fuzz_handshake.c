/* libFuzzer target for the handshake checks (native/handshake.c over
 * native/http.c): parse, then classify. Invariants: no crash; a REJECT has a
 * 4xx status and a non-empty one-line reason; an UPGRADE has a valid-looking
 * 24-byte key inside the input; path and query lie inside the target; the
 * origin check, accept key and responses run on whatever was parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

static int inside(const char *p, size_t n, const char *buf, size_t len) {
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    ws_http_request req;
    int r = ws_http_parse_request(buf, size, &req);
    if (r <= 0) return 0;

    ws_handshake hs;
    ws_handshake_check(&req, &hs);
    char out[1024];
    switch (hs.kind) {
    case WS_HS_REJECT:
        CHECK(hs.status >= 400 && hs.status < 500);
        CHECK(hs.reason && hs.reason[0] && !strchr(hs.reason, '\n') && !strchr(hs.reason, '\r'));
        CHECK(ws_http_error_response(out, sizeof out, hs.status, hs.reason) > 0);
        break;
    case WS_HS_UPGRADE: {
        CHECK(hs.key && hs.key_len == 24 && inside(hs.key, hs.key_len, buf, (size_t)r));
        CHECK(hs.key[22] == '=' && hs.key[23] == '=');
        CHECK(req.method_len == 3 && memcmp(req.method, "GET", 3) == 0 && req.minor_version >= 1);
        char accept[WS_ACCEPT_LEN];
        ws_accept_key(hs.key, hs.key_len, accept);
        CHECK(ws_handshake_response(out, sizeof out, accept, NULL, 0, NULL, 0) > 0);
        break;
    }
    case WS_HS_PLAIN_GET:
        CHECK(ws_http_find(&req, "Upgrade") == NULL);
        break;
    default:
        abort();
    }
    if (hs.path) {
        CHECK(hs.path == req.target && hs.path_len >= 1 && hs.path_len <= req.target_len && hs.path[0] == '/');
        CHECK(memchr(hs.path, '?', hs.path_len) == NULL);
        if (hs.query) CHECK(hs.query == hs.path + hs.path_len + 1 && hs.path_len + 1 + hs.query_len == req.target_len);
        else CHECK(hs.path_len == req.target_len);
    } else {
        CHECK(hs.kind == WS_HS_REJECT);
    }

    /* Origin matching: the request's Origin against patterns taken from the
     * request's own X-Pattern headers (NUL-terminated copies) and a fixed set. */
    const ws_http_header *origin = ws_http_find(&req, "Origin");
    if (origin) {
        static const char *const fixed[] = {"http://example.com", "https://*.example.com:8443", "null",
                                            "example.org", "*.example.net", "ws://[::1]:80"};
        char pats[4][128];
        const char *list[4];
        size_t n = 0;
        for (size_t i = 0; i < req.num_headers && n < 4; i++) {
            const ws_http_header *h = &req.headers[i];
            if (h->name_len == 9 && memcmp(h->name, "X-Pattern", 9) == 0 && h->value_len < sizeof pats[n]) {
                memcpy(pats[n], h->value, h->value_len);
                pats[n][h->value_len] = '\0';
                list[n] = pats[n];
                n++;
            }
        }
        (void)ws_origin_allowed(origin->value, origin->value_len, fixed, sizeof fixed / sizeof fixed[0]);
        (void)ws_origin_allowed(origin->value, origin->value_len, list, n);
    }
    return 0;
}
