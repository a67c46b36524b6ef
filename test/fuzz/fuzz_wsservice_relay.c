/* libFuzzer target for libwsservice's relay framings (backends/wsservice_relay.c).
 * The first byte picks the framing and the maximum; the rest is a stream fed
 * whole and in two parts. Invariants: every result is an error, 0 or a
 * length within the input; a message lies within the input and within max;
 * the messages found are the same whatever the split (ouistiti excepted:
 * there a read is a message). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/wsservice.h"
#include "../../backends/wsservice_relay.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

/* Parses all of in, cut at `cut` (tail kept as libwsservice does); returns a
 * hash of the messages and their count, or the error. */
static long run(int framing, uint64_t max, const uint8_t *in, size_t len, size_t cut, uint64_t *hash) {
    uint8_t *buf = malloc(len ? len : 1);
    CHECK(buf);
    size_t have = 0, pos = 0, scan = 0;
    long count = 0;
    *hash = 1469598103934665603ull;
    for (int part = 0; part < 2; part++) {
        size_t take = part == 0 ? cut : len - cut;
        memcpy(buf + have, in + pos, take);
        have += take;
        pos += take;
        uint8_t *copy = malloc(have ? have : 1);
        CHECK(copy);
        memcpy(copy, buf, have);
        size_t off = 0;
        for (;;) {
            wss_relay_msg m;
            long r = wss_relay_parse(framing, copy + off, have - off, max, &scan, &m);
            if (r < 0) {
                free(copy);
                free(buf);
                return r;
            }
            CHECK((size_t)r <= have - off);
            if (r == 0) break;
            CHECK(m.data >= copy + off && m.data + m.len <= copy + off + r);
            CHECK(max == 0 || m.len <= max);
            CHECK(m.opcode == 1 || m.opcode == 2);
            for (size_t i = 0; i < m.len; i++) *hash = (*hash ^ m.data[i]) * 1099511628211ull;
            *hash = (*hash ^ 0x100) * 1099511628211ull;
            off += (size_t)r;
            count++;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        free(copy);
    }
    free(buf);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int framing = data[0] & 3;
    uint64_t max = (data[0] >> 2) * 4; /* 0 (none) .. 252 */
    data++;
    size--;
    uint64_t h1, h2;
    long whole = run(framing, max, data, size, size, &h1);
    long split = run(framing, max, data, size, size / 2, &h2);
    if (framing == WSS_FRAMING_OUISTITI) return 0;
    /* an error may show up earlier or later with a split, never a different message */
    if (whole >= 0 && split >= 0) CHECK(whole == split && h1 == h2);
    return 0;
}
