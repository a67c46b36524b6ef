/* libFuzzer target for the request-head parser (native/http.c). Invariants:
 * the result is MALFORMED, INCOMPLETE, TOO_MANY_HEADERS or a length in
 * [1, size]; on success every pointer lies inside the input, names are
 * tokens, values are trimmed, and every strict prefix is INCOMPLETE;
 * ws_http_list_has never reads outside a value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

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
    CHECK(r >= WS_HTTP_TOO_MANY_HEADERS);
    CHECK(r == WS_HTTP_MALFORMED || r == WS_HTTP_INCOMPLETE || r == WS_HTTP_TOO_MANY_HEADERS ||
          (r > 0 && (size_t)r <= size));
    if (r <= 0) return 0;

    size_t head = (size_t)r;
    CHECK(head >= 2 && buf[head - 1] == '\n');
    CHECK(req.method_len > 0 && inside(req.method, req.method_len, buf, head));
    CHECK(req.target_len > 0 && inside(req.target, req.target_len, buf, head));
    CHECK(req.minor_version >= 0 && req.minor_version <= 9);
    CHECK(req.num_headers <= WS_HTTP_MAX_HEADERS);
    for (size_t i = 0; i < req.num_headers; i++) {
        const ws_http_header *h = &req.headers[i];
        CHECK(h->name_len > 0 && inside(h->name, h->name_len, buf, head));
        CHECK(inside(h->value, h->value_len, buf, head));
        CHECK(memchr(h->name, ':', h->name_len) == NULL);
        if (h->value_len) {
            CHECK(h->value[0] != ' ' && h->value[0] != '\t');
            CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
            CHECK(memchr(h->value, '\r', h->value_len) == NULL && memchr(h->value, '\n', h->value_len) == NULL);
            CHECK(memchr(h->value, '\0', h->value_len) == NULL);
        }
        (void)ws_http_list_has(h->value, h->value_len, "upgrade");
        CHECK(ws_http_find(&req, "x") == NULL || ws_http_count(&req, "x") > 0);
    }

    /* Every strict prefix of a complete head is INCOMPLETE: re-parse from
     * exact-size copies so that an over-read faults. Prefixes are checked all
     * when the head is short, and a sample otherwise, to keep runs fast. */
    size_t step = head <= 512 ? 1 : head / 256;
    for (size_t i = 0; i < head; i += step) {
        char *copy = malloc(i ? i : 1);
        CHECK(copy);
        memcpy(copy, buf, i);
        ws_http_request sub;
        CHECK(ws_http_parse_request(copy, i, &sub) == WS_HTTP_INCOMPLETE);
        free(copy);
    }
    /* Bytes after the head change nothing. */
    ws_http_request again;
    CHECK(ws_http_parse_request(buf, head, &again) == r && again.num_headers == req.num_headers);
    return 0;
}
