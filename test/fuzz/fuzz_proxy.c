/* libFuzzer target for the PROXY protocol header parser (native/proxy.c).
 * Invariants: the result is INVALID, INCOMPLETE or a length in [1, size]
 * within the v1 / v2 limits; the output is written only on success; on
 * success the addresses are NUL-terminated, parse back with inet_pton in
 * their own family and are in inet_ntop's canonical form (empty with ports
 * 0 for family 0); every strict prefix of a complete header is INCOMPLETE,
 * and so is every prefix of an INCOMPLETE buffer; bytes after a header
 * change nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

static int parse_copy(const uint8_t *data, size_t len, ws_proxy_header *out) {
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy);
    if (len) memcpy(copy, data, len);
    int r = ws_proxy_parse(copy, len, out);
    free(copy);
    return r;
}

/* addr is NUL-terminated within its 46 bytes, an address of family, and
 * printed canonically. */
static void check_address(int family, const char *addr) {
    CHECK(memchr(addr, '\0', 46) != NULL);
    unsigned char bin[sizeof(struct in6_addr)];
    CHECK(inet_pton(family, addr, bin) == 1);
    char again[INET6_ADDRSTRLEN];
    CHECK(inet_ntop(family, bin, again, sizeof again) != NULL);
    CHECK(strcmp(again, addr) == 0);
}

/* Every prefix data[0..i) for i < n is INCOMPLETE: all of them when n is
 * small, a sample (the last one always) otherwise, to keep runs fast. */
static void check_prefixes_incomplete(const uint8_t *data, size_t n) {
    size_t step = n <= 256 ? 1 : n / 128;
    for (size_t i = 0; i < n; i += step) {
        ws_proxy_header h;
        CHECK(parse_copy(data, i, &h) == WS_PROXY_INCOMPLETE);
    }
    if (n) {
        ws_proxy_header h;
        CHECK(parse_copy(data, n - 1, &h) == WS_PROXY_INCOMPLETE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ws_proxy_header out, sentinel;
    memset(&sentinel, 0xA5, sizeof sentinel);
    out = sentinel;
    int r = ws_proxy_parse(data, size, &out);
    CHECK(r == WS_PROXY_INVALID || r == WS_PROXY_INCOMPLETE || (r > 0 && (size_t)r <= size));

    if (r == WS_PROXY_INCOMPLETE) {
        CHECK(size < WS_PROXY_MAX_LEN);
        CHECK(size == 0 || data[0] != 'P' || size < WS_PROXY_V1_MAX_LEN);
        CHECK(memcmp(&out, &sentinel, sizeof out) == 0);
        check_prefixes_incomplete(data, size);
        return 0;
    }
    if (r == WS_PROXY_INVALID) {
        CHECK(memcmp(&out, &sentinel, sizeof out) == 0);
        return 0;
    }

    size_t n = (size_t)r;
    if (data[0] == 'P') {
        CHECK(n <= WS_PROXY_V1_MAX_LEN && n >= 15);
        CHECK(memcmp(data, "PROXY ", 6) == 0 && data[n - 2] == '\r' && data[n - 1] == '\n');
        CHECK(memchr(data, '\n', n - 1) == NULL);
    } else {
        CHECK(n >= 16 && n <= WS_PROXY_V2_MAX_LEN);
        CHECK(n == 16 + (((size_t)data[14] << 8) | data[15]));
    }

    CHECK(out.family == 0 || out.family == AF_INET || out.family == AF_INET6);
    if (out.family == 0) {
        CHECK(out.src_addr[0] == '\0' && out.dst_addr[0] == '\0' && out.src_port == 0 && out.dst_port == 0);
    } else {
        check_address(out.family, out.src_addr);
        check_address(out.family, out.dst_addr);
    }

    check_prefixes_incomplete(data, n);

    /* Bytes after the header change nothing. */
    ws_proxy_header alone;
    CHECK(parse_copy(data, n, &alone) == r && memcmp(&alone, &out, sizeof out) == 0);
    return 0;
}
