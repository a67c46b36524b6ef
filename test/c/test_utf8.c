/* Tests of native/utf8.c: the Markus Kuhn stress cases that Autobahn's
 * section 6 sends, each fed whole, at every split point and byte by byte,
 * and the DFA with its ASCII fast path against a naive reference decoder. */
#include <stdint.h>

#include "harness.h"
#include "utf8.h"

enum { REF_VALID = 0, REF_INCOMPLETE = 1, REF_INVALID = 2 };

/* Reference: decodes code points one by one, the slow obvious way. A cut-off
 * character at the end is INCOMPLETE when some continuation bytes could
 * still make it a valid character, INVALID otherwise. */
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
        else return REF_INVALID; /* a continuation byte, or a 5/6-byte lead or FE/FF */
        for (have = 0; have < need && i + 1 + have < n; have++) {
            uint8_t c = s[i + 1 + have];
            if ((c & 0xC0) != 0x80) return REF_INVALID;
            cp = cp << 6 | (c & 0x3F);
        }
        {
            /* The values still reachable with the missing bytes: [lo, hi]. */
            unsigned missing = (unsigned)(need - have);
            uint32_t lo = cp << (6 * missing), hi = lo | ((1u << (6 * missing)) - 1);
            if (hi < min || lo > 0x10FFFF) return REF_INVALID;
            if (lo >= 0xD800 && hi <= 0xDFFF) return REF_INVALID;
            if (missing) return REF_INCOMPLETE;
        }
        i += 1 + need;
    }
    return REF_VALID;
}

static int state_class(ws_utf8_state st) {
    return st == WS_UTF8_ACCEPT ? REF_VALID : st == WS_UTF8_REJECT ? REF_INVALID : REF_INCOMPLETE;
}

/* Feeds buf in pieces: cut at `split` (0 = whole), or byte by byte when
 * split is (size_t)-1. Each piece is an exact-size copy. */
static ws_utf8_state feed(const uint8_t *buf, size_t len, size_t split) {
    ws_utf8_state st = WS_UTF8_ACCEPT;
    size_t pos = 0;
    while (pos < len || (len == 0 && pos == 0)) {
        size_t n = split == (size_t)-1 ? 1 : (split && pos == 0) ? split : len - pos;
        uint8_t *piece = test_exact_copy(buf + pos, n);
        st = ws_utf8_validate(st, piece, n);
        free(piece);
        pos += n;
        if (len == 0) break;
    }
    return st;
}

typedef struct {
    const char *name;
    const char *bytes;
    size_t len;
    int expect; /* REF_VALID, REF_INCOMPLETE or REF_INVALID */
} utf8_case;

#define C(name, lit, expect) {name, lit, sizeof(lit) - 1, expect}

static const utf8_case cases[] = {
    /* 6.1, 6.2: empty and plain valid text */
    C("empty text is valid", "", REF_VALID),
    C("ASCII is valid", "Hello, world", REF_VALID),
    C("NUL is valid", "a\0b", REF_VALID),
    C("Hello-mu-UTF-8 text is valid",
      "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!", REF_VALID),
    /* 6.3: kosme, and kosme with an error */
    C("kosme is valid", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", REF_VALID),
    C("kosme with a surrogate is invalid",
      "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64", REF_INVALID),
    /* 6.7: first code point of each length */
    C("U+0000 is valid", "\x00", REF_VALID),
    C("U+0080 is valid", "\xC2\x80", REF_VALID),
    C("U+0800 is valid", "\xE0\xA0\x80", REF_VALID),
    C("U+10000 is valid", "\xF0\x90\x80\x80", REF_VALID),
    /* 6.8: first 5 and 6 byte forms */
    C("5-byte first sequence is invalid", "\xF8\x88\x80\x80\x80", REF_INVALID),
    C("6-byte first sequence is invalid", "\xFC\x84\x80\x80\x80\x80", REF_INVALID),
    /* 6.9: last code point of each length */
    C("U+007F is valid", "\x7F", REF_VALID),
    C("U+07FF is valid", "\xDF\xBF", REF_VALID),
    C("U+FFFF is valid", "\xEF\xBF\xBF", REF_VALID),
    C("U+10FFFF is valid", "\xF4\x8F\xBF\xBF", REF_VALID),
    /* 6.10: last 4, 5 and 6 byte forms (beyond U+10FFFF) */
    C("U+1FFFFF is invalid", "\xF7\xBF\xBF\xBF", REF_INVALID),
    C("5-byte last sequence is invalid", "\xFB\xBF\xBF\xBF\xBF", REF_INVALID),
    C("6-byte last sequence is invalid", "\xFD\xBF\xBF\xBF\xBF\xBF", REF_INVALID),
    /* 6.11: other boundaries */
    C("U+D7FF is valid", "\xED\x9F\xBF", REF_VALID),
    C("U+E000 is valid", "\xEE\x80\x80", REF_VALID),
    C("U+FFFD is valid", "\xEF\xBF\xBD", REF_VALID),
    C("U+110000 is invalid", "\xF4\x90\x80\x80", REF_INVALID),
    C("F5 lead is invalid", "\xF5\x80\x80\x80", REF_INVALID),
    C("FF byte is invalid", "\xFF", REF_INVALID),
    /* 6.12: unexpected continuation bytes */
    C("lone 80 is invalid", "\x80", REF_INVALID),
    C("lone BF is invalid", "\xBF", REF_INVALID),
    C("80 BF is invalid", "\x80\xBF", REF_INVALID),
    C("80 BF 80 is invalid", "\x80\xBF\x80", REF_INVALID),
    C("80 BF 80 BF is invalid", "\x80\xBF\x80\xBF", REF_INVALID),
    C("80 BF 80 BF 80 is invalid", "\x80\xBF\x80\xBF\x80", REF_INVALID),
    C("80 BF 80 BF 80 BF is invalid", "\x80\xBF\x80\xBF\x80\xBF", REF_INVALID),
    C("80 BF 80 BF 80 BF 80 is invalid", "\x80\xBF\x80\xBF\x80\xBF\x80", REF_INVALID),
    C("continuation after ASCII is invalid", "abc\x80", REF_INVALID),
    C("continuation after a complete character is invalid", "\xC2\x80\x80", REF_INVALID),
    /* 6.13: lonely start characters */
    C("C0 then space is invalid", "\xC0\x20", REF_INVALID),
    C("DF then space is invalid", "\xDF\x20", REF_INVALID),
    C("E0 then space is invalid", "\xE0\x20", REF_INVALID),
    C("EF then space is invalid", "\xEF\x20", REF_INVALID),
    C("F0 then space is invalid", "\xF0\x20", REF_INVALID),
    C("F7 then space is invalid", "\xF7\x20", REF_INVALID),
    C("F8 then space is invalid", "\xF8\x20", REF_INVALID),
    C("FC then space is invalid", "\xFC\x20", REF_INVALID),
    C("FD then space is invalid", "\xFD\x20", REF_INVALID),
    /* 6.14: last continuation byte missing */
    C("C0 alone is invalid", "\xC0", REF_INVALID),
    C("E0 80 is invalid", "\xE0\x80", REF_INVALID),
    C("F0 80 80 is invalid", "\xF0\x80\x80", REF_INVALID),
    C("F8 80 80 80 is invalid", "\xF8\x80\x80\x80", REF_INVALID),
    C("FC 80 80 80 80 is invalid", "\xFC\x80\x80\x80\x80", REF_INVALID),
    C("DF alone is incomplete", "\xDF", REF_INCOMPLETE),
    C("EF BF is incomplete", "\xEF\xBF", REF_INCOMPLETE),
    C("F4 8F BF is incomplete", "\xF4\x8F\xBF", REF_INCOMPLETE),
    C("E0 A0 is incomplete", "\xE0\xA0", REF_INCOMPLETE),
    C("F0 90 is incomplete", "\xF0\x90", REF_INCOMPLETE),
    C("F7 BF BF is invalid", "\xF7\xBF\xBF", REF_INVALID),
    C("FB BF BF BF is invalid", "\xFB\xBF\xBF\xBF", REF_INVALID),
    C("FD BF BF BF BF is invalid", "\xFD\xBF\xBF\xBF\xBF", REF_INVALID),
    /* 6.15: concatenation of incomplete sequences */
    C("concatenated incomplete sequences are invalid",
      "\xC0\xE0\x80\xF0\x80\x80\xF8\x80\x80\x80\xFC\x80\x80\x80\x80\xDF\xEF\xBF\xF7\xBF\xBF\xFB\xBF\xBF"
      "\xBF\xFD\xBF\xBF\xBF\xBF",
      REF_INVALID),
    C("a 2-byte lead cut by another lead is invalid", "\xDF\xC2\x80", REF_INVALID),
    /* 6.16: impossible bytes */
    C("FE is invalid", "\xFE", REF_INVALID),
    C("FE FE FF FF is invalid", "\xFE\xFE\xFF\xFF", REF_INVALID),
    /* 6.17: overlong ASCII slash */
    C("overlong slash C0 AF is invalid", "\xC0\xAF", REF_INVALID),
    C("overlong slash E0 80 AF is invalid", "\xE0\x80\xAF", REF_INVALID),
    C("overlong slash F0 80 80 AF is invalid", "\xF0\x80\x80\xAF", REF_INVALID),
    C("overlong slash F8 80 80 80 AF is invalid", "\xF8\x80\x80\x80\xAF", REF_INVALID),
    C("overlong slash FC 80 80 80 80 AF is invalid", "\xFC\x80\x80\x80\x80\xAF", REF_INVALID),
    /* 6.18: maximum overlong sequences */
    C("overlong C1 BF is invalid", "\xC1\xBF", REF_INVALID),
    C("overlong E0 9F BF is invalid", "\xE0\x9F\xBF", REF_INVALID),
    C("overlong F0 8F BF BF is invalid", "\xF0\x8F\xBF\xBF", REF_INVALID),
    C("overlong F8 87 BF BF BF is invalid", "\xF8\x87\xBF\xBF\xBF", REF_INVALID),
    C("overlong FC 83 BF BF BF BF is invalid", "\xFC\x83\xBF\xBF\xBF\xBF", REF_INVALID),
    /* 6.19: overlong NUL */
    C("overlong NUL C0 80 is invalid", "\xC0\x80", REF_INVALID),
    C("overlong NUL E0 80 80 is invalid", "\xE0\x80\x80", REF_INVALID),
    C("overlong NUL F0 80 80 80 is invalid", "\xF0\x80\x80\x80", REF_INVALID),
    C("overlong NUL F8 80 80 80 80 is invalid", "\xF8\x80\x80\x80\x80", REF_INVALID),
    C("overlong NUL FC 80 80 80 80 80 is invalid", "\xFC\x80\x80\x80\x80\x80", REF_INVALID),
    /* 6.20: single UTF-16 surrogates */
    C("surrogate U+D800 is invalid", "\xED\xA0\x80", REF_INVALID),
    C("surrogate U+DB7F is invalid", "\xED\xAD\xBF", REF_INVALID),
    C("surrogate U+DB80 is invalid", "\xED\xAE\x80", REF_INVALID),
    C("surrogate U+DBFF is invalid", "\xED\xAF\xBF", REF_INVALID),
    C("surrogate U+DC00 is invalid", "\xED\xB0\x80", REF_INVALID),
    C("surrogate U+DF80 is invalid", "\xED\xBE\x80", REF_INVALID),
    C("surrogate U+DFFF is invalid", "\xED\xBF\xBF", REF_INVALID),
    C("surrogate lead ED A0 alone is already invalid", "\xED\xA0", REF_INVALID),
    /* 6.21: paired surrogates */
    C("pair U+D800 U+DC00 is invalid", "\xED\xA0\x80\xED\xB0\x80", REF_INVALID),
    C("pair U+D800 U+DFFF is invalid", "\xED\xA0\x80\xED\xBF\xBF", REF_INVALID),
    C("pair U+DB7F U+DC00 is invalid", "\xED\xAD\xBF\xED\xB0\x80", REF_INVALID),
    C("pair U+DB7F U+DFFF is invalid", "\xED\xAD\xBF\xED\xBF\xBF", REF_INVALID),
    C("pair U+DB80 U+DC00 is invalid", "\xED\xAE\x80\xED\xB0\x80", REF_INVALID),
    C("pair U+DB80 U+DFFF is invalid", "\xED\xAE\x80\xED\xBF\xBF", REF_INVALID),
    C("pair U+DBFF U+DC00 is invalid", "\xED\xAF\xBF\xED\xB0\x80", REF_INVALID),
    C("pair U+DBFF U+DFFF is invalid", "\xED\xAF\xBF\xED\xBF\xBF", REF_INVALID),
    /* 6.22: noncharacters are valid UTF-8 */
    C("U+FFFE is valid", "\xEF\xBF\xBE", REF_VALID),
    C("U+1FFFE is valid", "\xF0\x9F\xBF\xBE", REF_VALID),
    C("U+10FFFE is valid", "\xF4\x8F\xBF\xBE", REF_VALID),
    C("U+FDD0 is valid", "\xEF\xB7\x90", REF_VALID),
    /* 6.23: specials */
    C("U+FFF9 is valid", "\xEF\xBF\xB9", REF_VALID),
    C("U+FFFD U+FFFD is valid", "\xEF\xBF\xBD\xEF\xBF\xBD", REF_VALID),
    /* ASCII fast path: a bad byte after, inside and at the end of long ASCII runs */
    C("a bad byte after 16 ASCII bytes is invalid", "0123456789abcdef\xFF", REF_INVALID),
    C("a bad byte in the second word is invalid", "01234567\x80" "9abcdefghijklmnop", REF_INVALID),
    C("a 4-byte character amid long ASCII is valid",
      "0123456789abcdefghij\xF0\x9F\x98\x80klmnopqrstuvwxyz0123456789", REF_VALID),
    C("a cut-off character after 24 ASCII bytes is incomplete",
      "0123456789abcdefghijklmn\xF0\x9F\x98", REF_INCOMPLETE),
};

static void test_stress_cases(void) {
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const utf8_case *tc = &cases[c];
        const uint8_t *s = (const uint8_t *)tc->bytes;
        int whole = state_class(feed(s, tc->len, 0));

        test_cond(tc->name, whole == tc->expect);
        test_cond(tc->name, ref_check(s, tc->len) == tc->expect); /* the reference agrees */
        test_cond(tc->name, ws_utf8_is_valid(s, tc->len) == (tc->expect == REF_VALID));
        test_cond(tc->name, state_class(feed(s, tc->len, (size_t)-1)) == tc->expect);
        for (size_t k = 1; k < tc->len; k++) {
            test_cond(tc->name, state_class(feed(s, tc->len, k)) == tc->expect);
            /* Fail fast: each prefix is rejected exactly when no continuation could save it. */
            test_cond(tc->name, state_class(feed(s, k, 0)) == ref_check(s, k));
        }
    }
}

static void test_reject_is_sticky(void) {
    ws_utf8_state st = ws_utf8_validate(WS_UTF8_ACCEPT, (const uint8_t *)"\xC0", 1);
    test_cond("a rejected text stays rejected", st == WS_UTF8_REJECT);
    st = ws_utf8_validate(st, (const uint8_t *)"hello", 5);
    test_cond("valid bytes after a rejection do not clear it", st == WS_UTF8_REJECT);
    st = ws_utf8_validate(st, NULL, 0);
    test_cond("no bytes after a rejection do not clear it", st == WS_UTF8_REJECT);
    test_cond("an impossible state is rejected", ws_utf8_validate(13, (const uint8_t *)"a", 1) == WS_UTF8_REJECT);
    test_cond("an out-of-range state is rejected",
              ws_utf8_validate(1200, (const uint8_t *)"a", 1) == WS_UTF8_REJECT);
    test_cond("no bytes leave the state as it was",
              ws_utf8_validate(WS_UTF8_ACCEPT, NULL, 0) == WS_UTF8_ACCEPT);
}

/* Every string of 1 to 3 bytes, and 4-byte strings around the F0..F4 leads. */
static void test_exhaustive_short(void) {
    long mismatches = 0;
    uint8_t s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        mismatches += state_class(ws_utf8_validate(0, s, 1)) != ref_check(s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            mismatches += state_class(ws_utf8_validate(0, s, 2)) != ref_check(s, 2);
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                mismatches += state_class(ws_utf8_validate(0, s, 3)) != ref_check(s, 3);
            }
        }
    }
    test_cond("every 1 to 3 byte string matches the reference", mismatches == 0);

    mismatches = 0;
    for (unsigned a = 0xEF; a <= 0xF5; a++)
        for (unsigned b = 0x7F; b <= 0xC0; b++)
            for (unsigned c = 0x7F; c <= 0xC0; c++)
                for (unsigned d = 0x7F; d <= 0xC0; d++) {
                    s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = (uint8_t)c, s[3] = (uint8_t)d;
                    mismatches += state_class(ws_utf8_validate(0, s, 4)) != ref_check(s, 4);
                }
    test_cond("4-byte strings around the 4-byte leads match the reference", mismatches == 0);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static size_t put_cp(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Mostly-plausible text: ASCII runs and characters of every length; one
 * text in four also gets surrogates and random bytes, and one in four is
 * cut at a random point. */
static size_t random_text(uint8_t *out, size_t cap) {
    size_t n = 0, target = rnd() % (cap - 4);
    int dirty = rnd() % 4 == 0;
    while (n < target) {
        unsigned kind = rnd() % 64;
        if (kind < 24) {
            size_t run = rnd() % 24;
            for (size_t i = 0; i < run && n < target; i++) out[n++] = (uint8_t)(0x20 + rnd() % 95);
        } else if (kind < 62 || !dirty) {
            static const uint32_t top[] = {0x80, 0x800, 0x10000, 0x110000, 0x10000};
            uint32_t cp = rnd() % top[rnd() % 5];
            if (cp >= 0xD800 && cp <= 0xDFFF && !dirty) cp -= 0x800;
            if (dirty && kind == 61) cp = 0xD700 + rnd() % 0x1000; /* around the surrogates */
            n += put_cp(out + n, cp);
        } else {
            out[n++] = (uint8_t)rnd();
        }
    }
    if (n && rnd() % 4 == 0) n = rnd() % n;
    return n;
}

static void test_random_against_reference(void) {
    static uint8_t buf[512];
    long mismatches = 0, split_mismatches = 0, kinds[3] = {0, 0, 0};
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = random_text(buf, sizeof(buf));
        int ref = ref_check(buf, n);
        uint8_t *copy = test_exact_copy(buf, n);
        ws_utf8_state st = ws_utf8_validate(WS_UTF8_ACCEPT, copy, n);
        kinds[ref]++;
        mismatches += state_class(st) != ref;
        if (n) {
            size_t k = rnd() % n;
            ws_utf8_state a = ws_utf8_validate(WS_UTF8_ACCEPT, copy, k);
            a = ws_utf8_validate(a, copy + k, n - k);
            split_mismatches += a != st;
        }
        free(copy);
    }
    test_cond("random texts match the reference", mismatches == 0);
    test_cond("random texts split anywhere end in the same state", split_mismatches == 0);
    printf("random texts: %ld valid, %ld cut off, %ld invalid\n", kinds[0], kinds[1], kinds[2]);
    test_cond("the random texts include valid, cut-off and invalid ones",
              kinds[0] > 1000 && kinds[1] > 1000 && kinds[2] > 1000);
}

/* A non-ASCII byte at every offset of long ASCII runs, so the word loops
 * must hand over to the DFA at every alignment and position. */
static void test_fast_path_handover(void) {
    uint8_t buf[80];
    long bad = 0;
    for (size_t len = 1; len <= 64; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int kind = 0; kind < 3; kind++) {
                memset(buf, 'a', sizeof(buf));
                size_t n = len;
                int expect;
                if (kind == 0) buf[at] = 0xFF, expect = REF_INVALID;
                else if (kind == 1) {
                    /* a complete 2-byte character ending the string or amid it */
                    buf[at] = 0xC3, buf[at + 1] = 0xA9, n = len + 1, expect = REF_VALID;
                } else {
                    n = at + 1, buf[at] = 0xE2, expect = REF_INCOMPLETE;
                }
                for (size_t off = 0; off < 8; off++) {
                    uint8_t *copy = test_exact_copy(buf, n + off);
                    memmove(copy + off, copy, n);
                    bad += state_class(ws_utf8_validate(WS_UTF8_ACCEPT, copy + off, n)) != expect;
                    free(copy);
                }
            }
        }
    }
    test_cond("non-ASCII bytes at every offset of ASCII runs are classified right", bad == 0);
}

int main(void) {
    test_stress_cases();
    test_reject_is_sticky();
    test_exhaustive_short();
    test_random_against_reference();
    test_fast_path_handover();
    return test_report();
}
