/* PROXY protocol v1 / v2 headers (native/proxy.c). Every input is parsed
 * from an exact-size copy, so a read past the end faults under ASan. */
#include <arpa/inet.h>
#include <stdint.h>
#include <sys/socket.h>

#include "harness.h"
#include "proxy.h"

static int parse(const void *data, size_t len, ws_proxy_header *out) {
    unsigned char *copy = test_exact_copy(data, len);
    int r = ws_proxy_parse(copy, len, out);
    free(copy);
    return r;
}

static int parse_str(const char *s) {
    ws_proxy_header h;
    return parse(s, strlen(s), &h);
}

/* 1 when every strict prefix of data[0..len) (the empty one too) is INCOMPLETE. */
static int prefixes_incomplete(const void *data, size_t len) {
    for (size_t i = 0; i < len; i++) {
        ws_proxy_header h;
        int r = parse(data, i, &h);
        if (r != WS_PROXY_INCOMPLETE) {
            fprintf(stderr, "  prefix of %zu/%zu bytes gave %d\n", i, len, r);
            return 0;
        }
    }
    return 1;
}

/* 1 when data parses whole into the given fields, alone and followed by a request. */
static int parses_to(const void *data, size_t len, int family, const char *src, unsigned sport, const char *dst,
                     unsigned dport) {
    ws_proxy_header h;
    int r = parse(data, len, &h);
    if (r != (int)len || h.family != family || strcmp(h.src_addr, src) != 0 || strcmp(h.dst_addr, dst) != 0 ||
        h.src_port != sport || h.dst_port != dport) {
        fprintf(stderr, "  got %d family %d src '%s' %u dst '%s' %u\n", r, h.family, r > 0 ? h.src_addr : "",
                r > 0 ? h.src_port : 0, r > 0 ? h.dst_addr : "", r > 0 ? h.dst_port : 0);
        return 0;
    }
    /* Bytes after the header are the request: they change nothing, even
     * past the v1 length limit. */
    static const char req[] = "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    unsigned char more[8192];
    memcpy(more, data, len);
    memcpy(more + len, req, sizeof req - 1);
    ws_proxy_header h2;
    r = parse(more, len + sizeof req - 1, &h2);
    if (r != (int)len || memcmp(&h, &h2, sizeof h) != 0) {
        fprintf(stderr, "  followed by a request: got %d\n", r);
        return 0;
    }
    return 1;
}

static int v1_parses_to(const char *line, int family, const char *src, unsigned sport, const char *dst,
                        unsigned dport) {
    return parses_to(line, strlen(line), family, src, sport, dst, dport) && prefixes_incomplete(line, strlen(line));
}

static void test_v1_valid(void) {
    test_cond("a TCP4 line gives both addresses and ports",
              v1_parses_to("PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n", AF_INET, "192.168.0.1", 56324,
                           "10.0.0.2", 443));
    test_cond("TCP4 extremes: 0.0.0.0, 255.255.255.255, ports 0 and 65535",
              v1_parses_to("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", AF_INET, "0.0.0.0", 0,
                           "255.255.255.255", 65535));
    test_cond("a TCP6 line gives the addresses in canonical form",
              v1_parses_to("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n", AF_INET6, "2001:db8::1", 1, "::1", 2));
    test_cond("a TCP6 line with an IPv4-mapped address",
              v1_parses_to("PROXY TCP6 ::ffff:192.0.2.7 ::ffff:c000:208 8080 80\r\n", AF_INET6, "::ffff:192.0.2.7",
                           8080, "::ffff:192.0.2.8", 80));
    const char *longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                          "65535 65535\r\n";
    test_cond("the longest TCP6 line (104 bytes) is accepted",
              strlen(longest) == 104 && v1_parses_to(longest, AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                                                     65535, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
    test_cond("PROXY UNKNOWN keeps the socket's address (family 0)",
              v1_parses_to("PROXY UNKNOWN\r\n", 0, "", 0, "", 0));
    test_cond("whatever follows UNKNOWN and a space is ignored",
              v1_parses_to("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", 0, "", 0, "", 0));
    test_cond("UNKNOWN followed by a lone space", v1_parses_to("PROXY UNKNOWN \r\n", 0, "", 0, "", 0));

    char line[WS_PROXY_V1_MAX_LEN + 2];
    memset(line, 'x', sizeof line);
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + WS_PROXY_V1_MAX_LEN - 2, "\r\n", 2);
    test_cond("a line of exactly 107 bytes is accepted",
              parses_to(line, WS_PROXY_V1_MAX_LEN, 0, "", 0, "", 0) &&
                  prefixes_incomplete(line, WS_PROXY_V1_MAX_LEN));
    memset(line, 'x', sizeof line);
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + WS_PROXY_V1_MAX_LEN - 1, "\r\n", 2);
    ws_proxy_header h;
    test_cond("a line of 108 bytes is INVALID", parse(line, WS_PROXY_V1_MAX_LEN + 1, &h) == WS_PROXY_INVALID);
    test_cond("107 bytes without CRLF are INVALID without waiting for more",
              parse(line, WS_PROXY_V1_MAX_LEN, &h) == WS_PROXY_INVALID);
    test_cond("106 bytes without CRLF are still INCOMPLETE",
              parse(line, WS_PROXY_V1_MAX_LEN - 1, &h) == WS_PROXY_INCOMPLETE);
}

static void test_v1_invalid(void) {
    static const char *const bad[] = {
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",     /* lower case */
        "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",     /* lower case protocol */
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",    /* two spaces */
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",    /* two spaces */
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",    /* two spaces */
        "PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",    /* two spaces */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",    /* two spaces */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",    /* trailing space */
        "PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",    /* tab */
        "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",      /* missing space */
        "PROXY TCP41.2.3.4 5.6.7.8 1 2\r\n",      /* missing space */
        "PROXY TCP4 1.2.3.45.6.7.8 1 2\r\n",      /* missing space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 12\r\n",      /* missing port */
        "PROXY TCP4 1.2.3.4 5.6.7.8\r\n",         /* missing ports */
        "PROXY TCP4\r\n",                         /* nothing */
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",     /* protocol */
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",     /* protocol */
        "PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n",      /* protocol */
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",   /* octet > 255 */
        "PROXY TCP4 1.2.3.4 5.6.7.300 1 2\r\n",   /* octet > 255 */
        "PROXY TCP4 1.2.3.4 5.6.7.1000 1 2\r\n",  /* four digits */
        "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",    /* leading zero */
        "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",    /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.00 1 2\r\n",    /* leading zero */
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",       /* three octets */
        "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",   /* five octets */
        "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",      /* empty octet */
        "PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n",      /* empty octet */
        "PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n",      /* empty octet */
        "PROXY TCP4 -1.2.3.4 5.6.7.8 1 2\r\n",    /* sign */
        "PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",   /* hex */
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", /* port > 65535 */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", /* port > 65535 */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 655350\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",   /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",    /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",    /* sign */
        "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",    /* sign */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       /* LF alone */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",   /* CR CR */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",      /* CR then not LF */
        "PROXY TCP4 ::1 ::1 1 2\r\n",             /* IPv6 in TCP4 */
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",         /* IPv4 in TCP6 */
        "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",         /* IPv4 in TCP6 */
        "PROXY TCP6 ::: ::1 1 2\r\n",             /* not an address */
        "PROXY TCP6 1::2::3 ::1 1 2\r\n",         /* two :: */
        "PROXY TCP6 12345::1 ::1 1 2\r\n",        /* group too long */
        "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",    /* zone */
        "PROXY TCP6 [::1] ::1 1 2\r\n",           /* brackets */
        "PROXY TCP6 ::ffff:1.2.3.04 ::1 1 2\r\n", /* leading zero in the IPv4 part */
        "PROXY TCP6 ::g ::1 1 2\r\n",             /* not hex */
        "PROXY UNKNOWN\n",                        /* LF alone */
        "PROXY UNKNOWNX\r\n",                     /* no space */
        "PROXY UNKNOWN foo\nbar\r\n",             /* LF inside */
        "PROXY UNKNOWN foo\rbar\r\n",             /* CR inside */
        "PROXY UNKNOWN\r\r\n",
        "PROXY UNKNOWN4\r\n",
        "PROXY unknown\r\n",
        "PROXY \r\n",
        "GET / HTTP/1.1\r\n",                     /* not a PROXY header at all */
        "PRI * HTTP/2.0\r\n",
        "Q",
    };
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (parse_str(bad[i]) != WS_PROXY_INVALID) {
            fprintf(stderr, "  not INVALID: '%s'\n", bad[i]);
            all = 0;
        }
    }
    test_cond("malformed v1 lines (octets, ports, spaces, case, line ends, families) are INVALID", all);

    test_cond("a bad octet is INVALID before the line ends", parse_str("PROXY TCP4 1.2.3.256") == WS_PROXY_INVALID);
    test_cond("a leading zero is INVALID at the next digit", parse_str("PROXY TCP4 0") == WS_PROXY_INCOMPLETE &&
                                                                 parse_str("PROXY TCP4 00") == WS_PROXY_INVALID);
    test_cond("a port over 65535 is INVALID at the digit that makes it so",
              parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 6553") == WS_PROXY_INCOMPLETE &&
                  parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 65536") == WS_PROXY_INVALID);
    test_cond("an IPv6 address is INCOMPLETE until its space arrives",
              parse_str("PROXY TCP6 1::2::3") == WS_PROXY_INCOMPLETE &&
                  parse_str("PROXY TCP6 1::2::3 ") == WS_PROXY_INVALID);
    test_cond("an IPv6 address longer than 45 characters is INVALID at its 46th",
              parse_str("PROXY TCP6 0000:0000:0000:0000:0000:0000:255.255.255.255") == WS_PROXY_INCOMPLETE &&
                  parse_str("PROXY TCP6 0000:0000:0000:0000:0000:0000:255.255.255.2550") == WS_PROXY_INVALID);

    /* Two 45-character addresses make a valid-looking line of 116 bytes. */
    const char *too_long = "PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255.255.255 "
                           "0000:0000:0000:0000:0000:ffff:255.255.255.255 65535 65535\r\n";
    test_cond("a TCP6 line over 107 bytes is INVALID, even though each part is valid",
              strlen(too_long) > WS_PROXY_V1_MAX_LEN && parse_str(too_long) == WS_PROXY_INVALID);

    ws_proxy_header h;
    memset(&h, 0x5a, sizeof h);
    ws_proxy_header before = h;
    test_cond("the output is untouched when the header is INVALID",
              parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", 35, &h) == WS_PROXY_INVALID &&
                  memcmp(&h, &before, sizeof h) == 0);
    test_cond("the output is untouched when the header is INCOMPLETE",
              parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 31, &h) == WS_PROXY_INCOMPLETE &&
                  memcmp(&h, &before, sizeof h) == 0);
    test_cond("an empty buffer is INCOMPLETE", parse("", 0, &h) == WS_PROXY_INCOMPLETE);
    test_cond("a NULL empty buffer is INCOMPLETE", ws_proxy_parse(NULL, 0, &h) == WS_PROXY_INCOMPLETE);
}

/* ---- v2 ---- */

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Writes a v2 header into out: signature, ver_cmd, fam, then the length of
 * block[0..n) (or length_field when >= 0) and the block. Returns its size. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *block, size_t n, long length_field) {
    size_t len_value = length_field >= 0 ? (size_t)length_field : n;
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(len_value >> 8);
    out[15] = (uint8_t)len_value;
    if (n) memcpy(out + 16, block, n);
    return 16 + n;
}

/* An IPv4 address block: 192.0.2.1:12345 -> 198.51.100.2:443, then extra[0..n). */
static size_t inet_block(uint8_t *b, const void *extra, size_t n) {
    static const uint8_t addrs[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0x30, 0x39, 0x01, 0xBB};
    memcpy(b, addrs, 12);
    if (n) memcpy(b + 12, extra, n);
    return 12 + n;
}

/* An IPv6 address block: 2001:db8::1:65535 -> ::ffff:10.0.0.1:8443, then extra. */
static size_t inet6_block(uint8_t *b, const void *extra, size_t n) {
    memset(b, 0, 36);
    b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8, b[15] = 1;
    b[26] = 0xff, b[27] = 0xff, b[28] = 10, b[31] = 1;
    b[32] = 0xff, b[33] = 0xff, b[34] = 0x20, b[35] = 0xFB;
    if (n) memcpy(b + 36, extra, n);
    return 36 + n;
}

/* TLVs as a proxy sends them: ALPN "h2", an empty NOOP, an AWS VPC endpoint id. */
static const uint8_t tlvs[] = {0x01, 0x00, 0x02, 'h', '2', 0x04, 0x00, 0x00, 0xEA, 0x00, 0x16, 0x01,
                               'v',  'p',  'c',  'e', '-', '0', '1', '2', '3', '4', '5', '6', '7',
                               '8',  '9',  'a',  'b', 'c', 'd', 'e', 'f'};

static int v2_parses_to(const uint8_t *hdr, size_t len, int family, const char *src, unsigned sport, const char *dst,
                        unsigned dport) {
    return parses_to(hdr, len, family, src, sport, dst, dport) && prefixes_incomplete(hdr, len);
}

static void test_v2_valid(void) {
    uint8_t block[512], hdr[4200];
    size_t n, len;

    n = inet_block(block, NULL, 0);
    len = v2(hdr, 0x21, 0x11, block, n, -1);
    test_cond("PROXY over TCP/IPv4 gives both addresses and ports (28 bytes)",
              len == 28 && v2_parses_to(hdr, len, AF_INET, "192.0.2.1", 12345, "198.51.100.2", 443));
    n = inet_block(block, tlvs, sizeof tlvs);
    len = v2(hdr, 0x21, 0x11, block, n, -1);
    test_cond("PROXY over TCP/IPv4 with TLVs: they are skipped",
              v2_parses_to(hdr, len, AF_INET, "192.0.2.1", 12345, "198.51.100.2", 443));

    n = inet6_block(block, NULL, 0);
    len = v2(hdr, 0x21, 0x21, block, n, -1);
    test_cond("PROXY over TCP/IPv6 gives both addresses and ports (52 bytes)",
              len == 52 && v2_parses_to(hdr, len, AF_INET6, "2001:db8::1", 65535, "::ffff:10.0.0.1", 8443));
    n = inet6_block(block, tlvs, sizeof tlvs);
    len = v2(hdr, 0x21, 0x21, block, n, -1);
    test_cond("PROXY over TCP/IPv6 with TLVs: they are skipped",
              v2_parses_to(hdr, len, AF_INET6, "2001:db8::1", 65535, "::ffff:10.0.0.1", 8443));

    len = v2(hdr, 0x21, 0x00, NULL, 0, -1);
    test_cond("PROXY with UNSPEC keeps the socket's address", v2_parses_to(hdr, len, 0, "", 0, "", 0));
    len = v2(hdr, 0x21, 0x00, "\x01\x02\x03\x04\x05", 5, -1);
    test_cond("PROXY with UNSPEC skips whatever the block holds", v2_parses_to(hdr, len, 0, "", 0, "", 0));

    len = v2(hdr, 0x20, 0x00, NULL, 0, -1);
    test_cond("LOCAL (a health check from the proxy) keeps the socket's address",
              len == 16 && v2_parses_to(hdr, len, 0, "", 0, "", 0));
    n = inet_block(block, tlvs, sizeof tlvs);
    len = v2(hdr, 0x20, 0x11, block, n, -1);
    test_cond("LOCAL ignores addresses and TLVs", v2_parses_to(hdr, len, 0, "", 0, "", 0));
    len = v2(hdr, 0x20, 0xFF, "\x07", 1, -1);
    test_cond("LOCAL ignores even an undefined family byte and a partial block",
              v2_parses_to(hdr, len, 0, "", 0, "", 0));

    memset(block, 0, 216);
    memcpy(block, "/run/proxy.sock", 15);
    len = v2(hdr, 0x21, 0x31, block, 216, -1);
    test_cond("PROXY over a UNIX stream keeps the socket's address", v2_parses_to(hdr, len, 0, "", 0, "", 0));

    /* The largest accepted header: one NOOP TLV fills it to the limit. */
    n = inet_block(block, NULL, 0);
    static uint8_t big[WS_PROXY_V2_MAX_LEN];
    size_t tlv_len = WS_PROXY_V2_MAX_LEN - 16 - 12 - 3;
    memcpy(big, block, 12);
    big[12] = 0x04, big[13] = (uint8_t)(tlv_len >> 8), big[14] = (uint8_t)tlv_len;
    memset(big + 15, 0, tlv_len);
    len = v2(hdr, 0x21, 0x11, big, WS_PROXY_V2_MAX_LEN - 16, -1);
    test_cond("a header of exactly WS_PROXY_V2_MAX_LEN bytes is accepted",
              len == WS_PROXY_V2_MAX_LEN && v2_parses_to(hdr, len, AF_INET, "192.0.2.1", 12345, "198.51.100.2", 443));
}

static int v2_result(uint8_t ver_cmd, uint8_t fam, const void *block, size_t n, long length_field) {
    uint8_t hdr[512];
    size_t len = v2(hdr, ver_cmd, fam, block, n, length_field);
    ws_proxy_header h;
    return parse(hdr, len, &h);
}

static void test_v2_invalid(void) {
    uint8_t block[256];
    size_t n = inet_block(block, NULL, 0);

    static const uint8_t bad_ver_cmd[] = {0x11, 0x10, 0x31, 0x01, 0x22, 0x2F, 0xFF, 0x00};
    int all = 1;
    for (size_t i = 0; i < sizeof bad_ver_cmd; i++) all &= v2_result(bad_ver_cmd[i], 0x11, block, n, -1) == WS_PROXY_INVALID;
    test_cond("a version other than 2 or a command other than LOCAL/PROXY is INVALID", all);

    static const uint8_t bad_fam[] = {0x12, 0x22, 0x32, 0x01, 0x02, 0x10, 0x13, 0x41, 0x1F, 0xFF};
    all = 1;
    for (size_t i = 0; i < sizeof bad_fam; i++) {
        uint8_t big[216] = {0};
        memcpy(big, block, n);
        all &= v2_result(0x21, bad_fam[i], big, sizeof big, -1) == WS_PROXY_INVALID;
    }
    test_cond("datagram transports and undefined family bytes are INVALID with PROXY", all);

    test_cond("an IPv4 block shorter than 12 bytes is INVALID", v2_result(0x21, 0x11, block, 11, -1) == WS_PROXY_INVALID);
    n = inet6_block(block, NULL, 0);
    test_cond("an IPv6 block shorter than 36 bytes is INVALID", v2_result(0x21, 0x21, block, 35, -1) == WS_PROXY_INVALID);
    test_cond("a UNIX block shorter than 216 bytes is INVALID", v2_result(0x21, 0x31, block, 36, -1) == WS_PROXY_INVALID);

    n = inet_block(block, "\x04\x00\x05" "abcd", 7);
    test_cond("a TLV running past the length is INVALID", v2_result(0x21, 0x11, block, n, -1) == WS_PROXY_INVALID);
    test_cond("...even before its value arrives", v2_result(0x21, 0x11, block, 15, 12 + 7) == WS_PROXY_INVALID);
    n = inet_block(block, "\x04\x00", 2);
    test_cond("two bytes left after the addresses (not a TLV) are INVALID",
              v2_result(0x21, 0x11, block, n, -1) == WS_PROXY_INVALID);
    n = inet_block(block, "\x04\x00\x00\x01", 4);
    test_cond("one byte left after the last TLV is INVALID", v2_result(0x21, 0x11, block, n, -1) == WS_PROXY_INVALID);

    test_cond("a length field making the header longer than WS_PROXY_V2_MAX_LEN is INVALID at once",
              v2_result(0x21, 0x11, NULL, 0, WS_PROXY_V2_MAX_LEN - 16 + 1) == WS_PROXY_INVALID &&
                  v2_result(0x21, 0x11, NULL, 0, 0xFFFF) == WS_PROXY_INVALID &&
                  v2_result(0x20, 0x00, NULL, 0, 0xFFFF) == WS_PROXY_INVALID);
    test_cond("a length field up to the limit waits for the block",
              v2_result(0x21, 0x11, NULL, 0, WS_PROXY_V2_MAX_LEN - 16) == WS_PROXY_INCOMPLETE);

    uint8_t hdr[64];
    size_t len = v2(hdr, 0x21, 0x11, block, 12, -1);
    ws_proxy_header h;
    all = 1;
    for (size_t i = 0; i < 12; i++) {
        hdr[i] ^= 0x20;
        all &= parse(hdr, len, &h) == WS_PROXY_INVALID && parse(hdr, i + 1, &h) == WS_PROXY_INVALID;
        hdr[i] ^= 0x20;
    }
    test_cond("a signature that differs in any byte is INVALID at that byte", all);
    test_cond("the v1 signature is not confused with v2", parse_str("\r\nPROXY TCP4") == WS_PROXY_INVALID);

    memset(&h, 0x5a, sizeof h);
    ws_proxy_header before = h;
    int incomplete = parse(hdr, len - 1, &h) == WS_PROXY_INCOMPLETE;
    hdr[13] = 0x12;
    int invalid = parse(hdr, len, &h) == WS_PROXY_INVALID;
    test_cond("the output is untouched when a v2 header is INVALID or INCOMPLETE",
              incomplete && invalid && memcmp(&h, &before, sizeof h) == 0);
}

int main(void) {
    test_v1_valid();
    test_v1_invalid();
    test_v2_valid();
    test_v2_invalid();
    return test_report();
}
