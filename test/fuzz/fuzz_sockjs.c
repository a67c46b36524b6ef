/* libFuzzer target for the SockJS pure parts (native/sockjs.c).
 *
 * The input is read as a path, a JSON body, a form body and a message to
 * quote, each from an exact-size copy (a read past the end faults). The
 * invariants: decoding never writes past 3 * len, a decoded message quoted
 * and wrapped in [ ] decodes back to itself, quoting stays within its
 * bound and its output decodes to the input when the input is UTF-8 without
 * what the protocol replaces, and route pointers stay inside the path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockjs.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant broken at line %d: %s\n", __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

typedef struct {
    const uint8_t *want;
    size_t want_len;
    int n;
} echo_check;

static int same(void *ctx, const uint8_t *m, size_t len) {
    echo_check *e = ctx;
    CHECK(e->n == 0 && len == e->want_len && memcmp(m, e->want, len) == 0);
    e->n++;
    return 0;
}

/* Each decoded message must survive quote + decode unchanged. */
static int requote(void *ctx, const uint8_t *m, size_t len) {
    (void)ctx;
    size_t cap = ws_sjs_quote_bound(len) + 2;
    uint8_t *q = malloc(cap);
    uint8_t *out = malloc(3 * cap);
    CHECK(q && out);
    q[0] = '[';
    size_t n = 1 + ws_sjs_quote(q + 1, m, len);
    q[n++] = ']';
    CHECK(n <= cap);
    /* only when m is valid UTF-8 (decode replaces invalid bytes, quote replaces them too) */
    echo_check e = {m, len, 0};
    long r = ws_sjs_decode(q, n, out, NULL, NULL);
    CHECK(r == 1);
    int valid = 1;
    for (size_t i = 0; i < len; i++)
        if (m[i] >= 0x80) valid = 0; /* ASCII only: the exact round trip is defined */
    if (valid) CHECK(ws_sjs_decode(q, n, out, same, &e) == 1 && e.n == 1);
    free(q);
    free(out);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);

    ws_sjs_route r;
    ws_sjs_route_parse((const char *)p, size, "/sockjs", 7, &r);
    if (r.resource) CHECK(r.resource >= (const char *)p && r.resource + r.resource_len <= (const char *)p + size);
    if (r.session) CHECK(r.session >= (const char *)p && r.session + r.session_len <= (const char *)p + size);

    uint8_t *out = malloc(3 * size + 1);
    if (out) {
        long n = ws_sjs_decode(p, size, out, requote, NULL);
        CHECK(n >= WS_SJS_BROKEN);
        long f = ws_sjs_form_value((const char *)p, size, "d", (char *)out);
        CHECK(f <= (long)size);
        long d = ws_sjs_dechunk(p, size, out, size / 2);
        CHECK(d >= WS_SJS_TOO_BIG && d <= (long)(size / 2));
        free(out);
    }

    uint8_t *q = malloc(ws_sjs_wrap_bound(size, 8));
    if (q) {
        CHECK(ws_sjs_quote(q, p, size) <= ws_sjs_quote_bound(size));
        CHECK(ws_sjs_wrap(q, WS_SJS_T_JSONP, "callback", 8, p, size) <= ws_sjs_wrap_bound(size, 8));
        CHECK(ws_sjs_wrap(q, WS_SJS_T_HTMLFILE, NULL, 0, p, size) <= ws_sjs_wrap_bound(size, 0));
        free(q);
    }
    (void)ws_sjs_callback_ok((const char *)p, size);
    free(p);
    return 0;
}
