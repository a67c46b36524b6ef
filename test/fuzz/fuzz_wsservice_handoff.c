/* libFuzzer target for reading the direct-mode hand-off record
 * (backends/wsservice_handoff.c). Invariants: the result is -1, -2 or a
 * length in [26, size]; on success the address and protocol are
 * NUL-terminated within their bounds and hold only the characters allowed,
 * the pending bytes lie within the record; every prefix of a record is -2;
 * bytes after a record change nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/wsservice_handoff.h"
#include "gwproto.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

static long read_copy(const uint8_t *data, size_t len, wss_handoff *h) {
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy);
    if (len) memcpy(copy, data, len);
    long r = wss_handoff_read(copy, len, h);
    if (r > 0) {
        CHECK(h->pending >= copy && h->pending + h->pending_len == copy + r);
        h->pending = data + (h->pending - copy);
    }
    free(copy);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wss_handoff h;
    long r = read_copy(data, size, &h);
    CHECK(r == -1 || r == -2 || (r >= WS_GW_DIRECT_FIXED && (size_t)r <= size));
    if (r <= 0) return 0;
    CHECK(memchr(h.address, '\0', sizeof h.address) != NULL);
    CHECK(memchr(h.protocol, '\0', sizeof h.protocol) != NULL);
    for (const char *p = h.address; *p; p++) CHECK(strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:%", *p));
    for (const char *p = h.protocol; *p; p++) CHECK(*p > 0x20 && *p < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", *p));
    CHECK(h.pending_len <= WS_GW_DIRECT_MAX_PENDING);
    wss_handoff again;
    for (size_t cut = 0; cut < (size_t)r; cut += 1 + (size_t)r / 16) CHECK(read_copy(data, cut, &again) == -2);
    return 0;
}
