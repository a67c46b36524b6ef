/* libFuzzer target for the UTF-8 validator (native/utf8.c).
 *
 * Differential: the DFA with its ASCII fast path must agree with a naive
 * decoder on every input (valid, cut off, or invalid), must end in the same
 * state however the input is split, and must reject a prefix exactly when
 * no continuation could make it valid (fail fast). The input is an
 * exact-size copy, so a read past its end faults. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant broken at line %d: %s\n", __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

enum { REF_VALID, REF_INCOMPLETE, REF_INVALID };

/* The naive decoder: one code point at a time; a cut-off character is
 * INCOMPLETE while some continuation bytes could still complete it. */
static int ref_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        uint32_t cp, min;
        size_t need, have;
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xC0 && b <= 0xDF) need = 1, cp = b & 0x1F, min = 0x80;
        else if (b >= 0xE0 && b <= 0xEF) need = 2, cp = b & 0x0F, min = 0x800;
        else if (b >= 0xF0 && b <= 0xF7) need = 3, cp = b & 0x07, min = 0x10000;
        else return REF_INVALID;
        for (have = 0; have < need && i + 1 + have < n; have++) {
            uint8_t c = s[i + 1 + have];
            if ((c & 0xC0) != 0x80) return REF_INVALID;
            cp = cp << 6 | (c & 0x3F);
        }
        unsigned missing = (unsigned)(need - have);
        uint32_t lo = cp << (6 * missing), hi = lo | ((1u << (6 * missing)) - 1);
        if (hi < min || lo > 0x10FFFF) return REF_INVALID;
        if (lo >= 0xD800 && hi <= 0xDFFF) return REF_INVALID;
        if (missing) return REF_INCOMPLETE;
        i += 1 + need;
    }
    return REF_VALID;
}

static int state_class(ws_utf8_state st) {
    return st == WS_UTF8_ACCEPT ? REF_VALID : st == WS_UTF8_REJECT ? REF_INVALID : REF_INCOMPLETE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    ws_utf8_state whole, st;

    if (!buf) abort();
    if (size) memcpy(buf, data, size);

    whole = ws_utf8_validate(WS_UTF8_ACCEPT, buf, size);
    CHECK(whole <= 96 && whole % 12 == 0);
    CHECK(state_class(whole) == ref_check(buf, size));
    CHECK(ws_utf8_is_valid(buf, size) == (whole == WS_UTF8_ACCEPT));

    /* Split in pieces whose sizes come from the input itself. */
    st = WS_UTF8_ACCEPT;
    for (size_t pos = 0, i = 0; pos < size; i++) {
        size_t piece = (size_t)(data[i % size] % 23) + 1;
        if (piece > size - pos) piece = size - pos;
        st = ws_utf8_validate(st, buf + pos, piece);
        pos += piece;
    }
    CHECK(st == whole);

    /* Byte by byte: every prefix is rejected exactly when the reference
     * says no continuation can save it (checked on shorter inputs). */
    st = WS_UTF8_ACCEPT;
    for (size_t k = 0; k < size; k++) {
        st = ws_utf8_validate(st, buf + k, 1);
        if (size <= 512) CHECK(state_class(st) == ref_check(buf, k + 1));
    }
    CHECK(st == whole);

    /* Starting at every alignment of the fast path. */
    for (size_t off = 1; off < 8 && off < size; off++)
        CHECK(state_class(ws_utf8_validate(WS_UTF8_ACCEPT, buf + off, size - off)) ==
              ref_check(buf + off, size - off));
    free(buf);
    return 0;
}
