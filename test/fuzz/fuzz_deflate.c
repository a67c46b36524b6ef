/* libFuzzer target for native/deflate.c. The first byte picks what runs on
 * the rest of the input:
 *   negotiation: the bytes are a Sec-WebSocket-Extensions value (under a
 *     configuration taken from the second byte). Invariants: the result is
 *     -1, 0 or 1 and the same twice; an accepted response is NUL-terminated,
 *     shorter than WS_DEFLATE_RESPONSE_MAX, printable, starts with
 *     "permessage-deflate", has params in range, and is itself a well-formed
 *     offer that a default server accepts with the same params.
 *   inflate: the bytes are two compressed messages fed in chunks (sizes from
 *     the header bytes) with a small max, then once more whole. Invariants:
 *     no crash, results in {0, TOO_BIG, DATA_ERROR}, never more output (or
 *     output capacity) than max.
 *   round trip: the bytes are a message, compressed by one ws_deflate and
 *     inflated by another with matching params; it must come back equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

static void fuzz_negotiate(const uint8_t *data, size_t size) {
    ws_deflate_config cfg;
    ws_deflate_params p, q;
    char resp[WS_DEFLATE_RESPONSE_MAX], resp2[WS_DEFLATE_RESPONSE_MAX];
    size_t n = 0, n2 = 0;
    if (size < 1) return;
    ws_deflate_config_init(&cfg);
    cfg.server_no_context_takeover = data[0] & 1;
    cfg.client_no_context_takeover = (data[0] >> 1) & 1;
    cfg.server_max_window_bits = (uint8_t)(8 + ((data[0] >> 2) & 7));
    cfg.client_max_window_bits = (uint8_t)(8 + ((data[0] >> 5) & 7));
    data++, size--;

    char *value = malloc(size ? size : 1); /* exact size: an over-read faults */
    CHECK(value);
    if (size) memcpy(value, data, size);
    int r = ws_deflate_negotiate(&cfg, value, size, &p, resp, sizeof resp, &n);
    CHECK(r == -1 || r == 0 || r == 1);
    CHECK(ws_deflate_negotiate(&cfg, value, size, &q, resp2, sizeof resp2, &n2) == r);
    if (r == 1) {
        CHECK(n < WS_DEFLATE_RESPONSE_MAX && resp[n] == 0 && strlen(resp) == n);
        CHECK(n2 == n && memcmp(resp, resp2, n) == 0);
        CHECK(strncmp(resp, "permessage-deflate", 18) == 0);
        for (size_t i = 0; i < n; i++) CHECK(resp[i] >= 0x20 && resp[i] < 0x7f);
        CHECK(p.server_no_context_takeover <= 1 && p.client_no_context_takeover <= 1);
        CHECK(p.server_max_window_bits >= 8 && p.server_max_window_bits <= cfg.server_max_window_bits);
        CHECK(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15);
        CHECK(!cfg.server_no_context_takeover || p.server_no_context_takeover);
        CHECK(!cfg.client_no_context_takeover || p.client_no_context_takeover);
        /* The response read back as an offer, by a server with the defaults. */
        ws_deflate_config def;
        ws_deflate_config_init(&def);
        CHECK(ws_deflate_negotiate(&def, resp, n, &q, resp2, sizeof resp2, &n2) == 1);
        CHECK(memcmp(&p, &q, sizeof p) == 0);
        CHECK(n2 == n && memcmp(resp, resp2, n) == 0);
    }
    free(value);
}

static int feed(ws_deflate *d, const uint8_t *in, size_t len, size_t chunk, ws_bytes *out, uint64_t max) {
    for (size_t pos = 0; pos < len;) {
        size_t k = len - pos < chunk ? len - pos : chunk;
        uint8_t *piece = malloc(k);
        CHECK(piece);
        memcpy(piece, in + pos, k);
        int r = ws_deflate_inflate_chunk(d, piece, k, out, max);
        free(piece);
        if (r) return r;
        CHECK(max == 0 || (out->len <= max && out->cap <= max));
        pos += k;
    }
    return ws_deflate_inflate_end(d, out, max);
}

static void fuzz_inflate(const uint8_t *data, size_t size) {
    if (size < 3) return;
    ws_deflate_config cfg;
    ws_deflate_config_init(&cfg);
    ws_deflate_params p = {0, (uint8_t)(data[0] & 1), 15, (uint8_t)(8 + ((data[0] >> 1) & 7))};
    uint64_t max = 1 + (uint64_t)data[1] * 8; /* 1..2041 */
    size_t chunk = 1 + data[2] % 64;
    data += 3, size -= 3;
    size_t half = size / 2;

    ws_deflate *d = ws_deflate_new(&p, &cfg);
    CHECK(d);
    for (int m = 0; m < 3; m++) {
        ws_bytes out = {0};
        const uint8_t *in = m == 1 ? data + half : data;
        size_t len = m == 0 ? half : m == 1 ? size - half : size;
        int r;
        if (m < 2) {
            r = feed(d, in, len, chunk, &out, max);
        } else {
            uint8_t *copy = malloc(len ? len : 1);
            CHECK(copy);
            if (len) memcpy(copy, in, len);
            r = ws_deflate_inflate_message(d, copy, len, &out, max);
            free(copy);
        }
        CHECK(r == 0 || r == WS_DEFLATE_TOO_BIG || r == WS_DEFLATE_DATA_ERROR);
        CHECK(out.len <= max && out.cap <= max);
        ws_bytes_free(&out);
        ws_deflate_trim(d);
    }
    ws_deflate_free(d);
}

static void fuzz_round_trip(const uint8_t *data, size_t size) {
    if (size < 2) return;
    ws_deflate_config cfg;
    ws_deflate_config_init(&cfg);
    cfg.level = (int8_t)((data[0] >> 4) % 11 - 1);
    cfg.mem_level = (uint8_t)(1 + data[1] % 9);
    uint8_t bits = (uint8_t)(8 + ((data[0] >> 1) & 7)), nct = data[0] & 1;
    ws_deflate_params sender = {nct, 0, bits, 15}, receiver = {0, nct, 15, bits};
    data += 2, size -= 2;

    ws_deflate *s = ws_deflate_new(&sender, &cfg), *r = ws_deflate_new(&receiver, &cfg);
    CHECK(s && r);
    for (int m = 0; m < 2; m++) { /* twice: the second may refer to the first */
        ws_bytes wire = {0}, back = {0};
        CHECK(ws_deflate_compress(s, data, size, &wire) == 0);
        CHECK(feed(r, wire.data, wire.len, 1 + size % 300, &back, size) == 0);
        CHECK(back.len == size && (size == 0 || memcmp(back.data, data, size) == 0));
        ws_bytes_free(&wire);
        ws_bytes_free(&back);
    }
    ws_deflate_free(s);
    ws_deflate_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case 0: fuzz_negotiate(data + 1, size - 1); break;
    case 1: fuzz_inflate(data + 1, size - 1); break;
    default: fuzz_round_trip(data + 1, size - 1); break;
    }
    return 0;
}
