/* Incremental UTF-8 validation: Bjoern Hoehrmann's DFA ("Flexible and
 * Economical UTF-8 Decoder", 2010), with runs of ASCII skipped a machine
 * word at a time while the automaton sits at a character boundary. */
#include "utf8.h"

#include <string.h>

/* Bytes 0..255 map to one of 12 character classes; the states are multiples
 * of 12 (0 = ACCEPT, 12 = REJECT, 24..96 = inside a character), so that
 * state + class indexes the transition table that follows. The classes
 * split the lead bytes where the second byte's range differs: E0 (A0..BF
 * only, no overlongs), ED (80..9F only, no surrogates), F0 (90..BF only),
 * F4 (80..8F only, nothing above U+10FFFF); C0, C1 and F5..FF never start
 * a character. */
static const uint8_t utf8_class[256] = {
    /* 00..7F: ASCII */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 80..8F, 90..9F: continuation */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    /* A0..BF: continuation */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    /* C0, C1: overlong; C2..DF: 2-byte lead */
    8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* E0, E1..EC, ED, EE..EF; F0, F1..F3, F4, F5..FF */
    10, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3, 11, 6, 6, 6, 5, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
};

static const uint8_t utf8_trans[108] = {
    0,  12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72, /* 0: ACCEPT */
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* 12: REJECT */
    12, 0,  12, 12, 12, 12, 12, 0,  12, 0,  12, 12, /* 24: one continuation left */
    12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12, /* 36: two left */
    12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12, /* 48: after E0, needs A0..BF */
    12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12, /* 60: after ED, needs 80..9F */
    12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12, /* 72: after F0, needs 90..BF */
    12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12, /* 84: after F1..F3 */
    12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, /* 96: after F4, needs 80..8F */
};

#define UTF8_HIGH_BITS 0x8080808080808080ull
#define UTF8_LAST_STATE 96u

ws_utf8_state ws_utf8_validate(ws_utf8_state state, const uint8_t *buf, size_t len) {
    size_t i = 0;

    /* A state that no call could have returned is treated as invalid, so a
     * corrupted state can never index past the table. */
    if (state > UTF8_LAST_STATE || state % 12u != 0) return WS_UTF8_REJECT;
    if (state == WS_UTF8_REJECT) return state;

    while (i < len) {
        if (state == WS_UTF8_ACCEPT && buf[i] < 0x80) {
            /* At a boundary and in ASCII: skip 16, then 8 bytes at a time. */
            while (len - i >= 16) {
                uint64_t a, b;
                memcpy(&a, buf + i, 8);
                memcpy(&b, buf + i + 8, 8);
                if ((a | b) & UTF8_HIGH_BITS) break;
                i += 16;
            }
            while (len - i >= 8) {
                uint64_t a;
                memcpy(&a, buf + i, 8);
                if (a & UTF8_HIGH_BITS) break;
                i += 8;
            }
            while (i < len && buf[i] < 0x80) i++;
            if (i == len) break;
        }
        state = utf8_trans[state + utf8_class[buf[i]]];
        if (state == WS_UTF8_REJECT) return state;
        i++;
    }
    return state;
}

int ws_utf8_is_valid(const uint8_t *buf, size_t len) {
    return ws_utf8_validate(WS_UTF8_ACCEPT, buf, len) == WS_UTF8_ACCEPT;
}
