/* libFuzzer target for the legacy-draft parsers (native/hixie.c).
 *
 * The first two bytes pick a split point and maxPayload; the rest is a
 * stream of hixie frames, parsed whole and split in two pieces (each an
 * exact-size copy, so a read past the end faults): both runs must deliver
 * the same messages, end the same way, and never deliver more than max
 * bytes per message. The same bytes are also read as a 76 key, checked
 * against a plain reference. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hixie.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant broken at line %d: %s\n", __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

typedef struct {
    uint8_t *out; /* messages, each followed by its length as 4 bytes */
    size_t len, cap;
    size_t cur; /* bytes of the message in progress */
    int status; /* 0 open, 1 closed, <0 error */
} result;

static void put(result *r, const void *p, size_t n) {
    if (!n) return;
    if (r->len + n > r->cap) {
        r->cap = (r->len + n) * 2 + 64;
        r->out = realloc(r->out, r->cap);
        if (!r->out) abort();
    }
    memcpy(r->out + r->len, p, n);
    r->len += n;
}

static void feed(ws_hixie_parser *p, result *r, const uint8_t *data, size_t n, uint64_t max) {
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) abort();
    memcpy(copy, data, n);
    size_t off = 0;
    while (!r->status && off < n) {
        ws_hixie_event ev;
        ssize_t k = ws_hixie_parse(p, copy + off, n - off, max, &ev);
        if (k < 0) {
            r->status = (int)k;
            break;
        }
        CHECK((size_t)k <= n - off);
        off += (size_t)k;
        if (ev.type == WS_HX_NEED_MORE) {
            CHECK(off == n);
        } else if (ev.type == WS_HX_TEXT) {
            CHECK(ev.data >= copy && ev.data + ev.len <= copy + n);
            CHECK(memchr(ev.data, 0xff, ev.len) == NULL);
            if (ev.first) CHECK(r->cur == 0);
            r->cur += ev.len;
            CHECK(r->cur <= max);
            put(r, ev.data, ev.len);
            if (ev.last) {
                uint32_t l = (uint32_t)r->cur;
                put(r, &l, 4);
                r->cur = 0;
            }
        } else {
            CHECK(ev.type == WS_HX_CLOSE);
            r->status = 1;
        }
    }
    free(copy);
}

static void run(const uint8_t *s, size_t n, size_t cut, uint64_t max, result *r) {
    ws_hixie_parser p;
    ws_hixie_parser_init(&p);
    feed(&p, r, s, cut, max);
    if (!r->status) feed(&p, r, s + cut, n - cut, max);
}

static void check_key(const uint8_t *s, size_t n) {
    unsigned long long number = 0;
    unsigned spaces = 0, digits = 0, overflow = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            digits++;
            number = number * 10 + (s[i] - '0');
            if (number > 0xffffffffull) overflow = 1, number = 0xffffffffull + 1;
        } else if (s[i] == ' ') {
            spaces++;
        }
    }
    int ok = spaces && digits && !overflow && number % spaces == 0;
    uint32_t got = 0;
    int r = ws_hixie_key_number((const char *)s, n, &got);
    CHECK((r == 0) == ok);
    if (ok) CHECK(got == number / spaces);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    check_key(data, size);
    uint64_t max = data[1] < 200 ? data[1] : (uint64_t)data[1] << 24;
    const uint8_t *s = data + 2;
    size_t n = size - 2;
    size_t cut = n ? data[0] % (n + 1) : 0;
    result whole = {0}, split = {0};
    run(s, n, n, max, &whole);
    run(s, n, cut, max, &split);
    CHECK(whole.status == split.status);
    if (whole.status >= 0) { /* an error may come before or after a message in one piece */
        CHECK(whole.len == split.len && (!whole.len || memcmp(whole.out, split.out, whole.len) == 0));
    }
    free(whole.out);
    free(split.out);
    return 0;
}
