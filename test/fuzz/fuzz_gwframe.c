/* libFuzzer target for the gateway's stream framings (native/gwframe.c).
 * The first byte picks the framing and a max; the rest is the stream.
 * Invariants: a result is an error, 0, or a length in [1, size]; a message
 * lies inside the buffer, within max, of type text or binary, and text is
 * valid UTF-8; feeding the stream in two pieces (split where the second
 * byte says) gives the same messages and the same error as feeding it whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gwframe.h"
#include "gwproto.h"
#include "utf8.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

typedef struct {
    uint64_t hash;
    size_t n;
    int error;
} summary;

static void add(summary *s, const ws_gw_message *m) {
    uint64_t h = s->hash ^ (uint64_t)m->type << 56 ^ m->len;
    for (size_t i = 0; i < m->len; i++) h = (h ^ m->data[i]) * 1099511628211ull;
    s->hash = h;
    s->n++;
}

/* Parses buf[0..len) from *off on, as the relay does after each read. */
static void drain(ws_gw_framing f, const uint8_t *buf, size_t len, size_t *off, size_t *scanned, uint64_t max, summary *s) {
    while (!s->error) {
        ws_gw_message m;
        long r = ws_gwframe_next(f, buf + *off, len - *off, max, scanned, &m);
        if (r < 0) {
            CHECK(r == WS_GWFRAME_TOO_BIG || r == WS_GWFRAME_BAD_TYPE);
            s->error = (int)r;
            return;
        }
        if (r == 0) return;
        CHECK((size_t)r <= len - *off);
        CHECK(m.data >= buf + *off && m.data + m.len <= buf + *off + (size_t)r);
        CHECK(m.len <= max);
        CHECK(m.type == WS_GW_TEXT || m.type == WS_GW_BINARY);
        if (f != WS_GW_FRAMING_LENGTH && m.type == WS_GW_TEXT) CHECK(ws_utf8_is_valid(m.data, m.len));
        add(s, &m);
        *off += (size_t)r;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    ws_gw_framing f = (ws_gw_framing)(data[0] & 3);
    uint64_t max = (data[0] >> 2) * 4u; /* 0 .. 252 */
    const uint8_t *in = data + 2;
    size_t len = size - 2, split = len ? data[1] % (len + 1) : 0;
    if (f == WS_GW_FRAMING_OUISTITI) return 0; /* a read is a message: nothing to compare across splits */

    uint8_t *whole = malloc(len ? len : 1);
    CHECK(whole);
    if (len) memcpy(whole, in, len);
    summary a = {0}, b = {0};
    size_t off = 0, scanned = 0;
    drain(f, whole, len, &off, &scanned, max, &a);

    /* The same stream in two reads: the first piece alone, then all of it. */
    uint8_t *first = malloc(split ? split : 1);
    CHECK(first);
    if (split) memcpy(first, in, split);
    off = scanned = 0;
    drain(f, first, split, &off, &scanned, max, &b);
    CHECK(scanned <= split - off || b.error);
    free(first);
    if (!b.error) drain(f, whole, len, &off, &scanned, max, &b);
    free(whole);
    if (a.error == WS_GWFRAME_TOO_BIG && b.error == WS_GWFRAME_TOO_BIG) return 0;
    CHECK(a.error == b.error);
    CHECK(a.n == b.n && a.hash == b.hash);
    return 0;
}
