/* PROXY protocol v1 / v2 header parser: see proxy.h for the contract. */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* ---- v1: one text line ---- */

/* A cursor over the bytes a v1 header may occupy: end is min(len, 107), so
 * running out at 107 means the line is too long, and earlier means "read
 * more". */
typedef struct {
    const uint8_t *buf;
    size_t end;
    size_t pos;
} v1_cursor;

static int v1_more(const v1_cursor *c) {
    return c->end == WS_PROXY_V1_MAX_LEN ? WS_PROXY_INVALID : WS_PROXY_INCOMPLETE;
}

/* Consumes the literal lit. Returns 0 or a negative result. */
static int v1_literal(v1_cursor *c, const char *lit) {
    for (; *lit; lit++) {
        if (c->pos == c->end) return v1_more(c);
        if (c->buf[c->pos] != (uint8_t)*lit) return WS_PROXY_INVALID;
        c->pos++;
    }
    return 0;
}

/* Consumes a decimal number 0..max without leading zeros and the byte term
 * after it; max < UINT_MAX / 10. */
static int v1_number(v1_cursor *c, unsigned max, uint8_t term, unsigned *value) {
    size_t start = c->pos;
    unsigned v = 0;
    for (;;) {
        if (c->pos == c->end) return v1_more(c);
        uint8_t ch = c->buf[c->pos];
        if (ch >= '0' && ch <= '9') {
            if (c->pos > start && v == 0) return WS_PROXY_INVALID; /* "0" then a digit */
            v = v * 10 + (unsigned)(ch - '0');
            if (v > max) return WS_PROXY_INVALID;
            c->pos++;
        } else if (ch == term && c->pos > start) {
            c->pos++;
            *value = v;
            return 0;
        } else {
            return WS_PROXY_INVALID;
        }
    }
}

/* Consumes a dotted-quad IPv4 address and the space after it; text gets the
 * address (at most 15 characters) NUL-terminated. */
static int v1_ipv4(v1_cursor *c, char *text) {
    size_t start = c->pos;
    unsigned octet;
    for (int i = 0; i < 4; i++) {
        int r = v1_number(c, 255, i < 3 ? '.' : ' ', &octet);
        if (r) return r;
    }
    size_t n = c->pos - 1 - start;
    memcpy(text, c->buf + start, n);
    text[n] = '\0';
    return 0;
}

static int v1_is_ipv6_char(uint8_t ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == ':' ||
           ch == '.';
}

/* Consumes an IPv6 address and the space after it; text (46 bytes) gets its
 * canonical form. */
static int v1_ipv6(v1_cursor *c, char *text) {
    char tmp[INET6_ADDRSTRLEN];
    size_t n = 0;
    for (;;) {
        if (c->pos == c->end) return v1_more(c);
        uint8_t ch = c->buf[c->pos];
        if (ch == ' ') break;
        if (!v1_is_ipv6_char(ch) || n == sizeof tmp - 1) return WS_PROXY_INVALID;
        tmp[n++] = (char)ch;
        c->pos++;
    }
    tmp[n] = '\0';
    struct in6_addr a;
    if (inet_pton(AF_INET6, tmp, &a) != 1) return WS_PROXY_INVALID;
    if (!inet_ntop(AF_INET6, &a, text, INET6_ADDRSTRLEN)) return WS_PROXY_INVALID;
    c->pos++;
    return 0;
}

static int parse_v1(const uint8_t *buf, size_t len, ws_proxy_header *out) {
    v1_cursor c = {buf, len < WS_PROXY_V1_MAX_LEN ? len : WS_PROXY_V1_MAX_LEN, 0};
    ws_proxy_header h;
    memset(&h, 0, sizeof h);
    int r;
    if ((r = v1_literal(&c, "PROXY "))) return r;
    if (c.pos == c.end) return v1_more(&c);
    if (buf[c.pos] == 'U') {
        if ((r = v1_literal(&c, "UNKNOWN"))) return r;
        if (c.pos == c.end) return v1_more(&c);
        if (buf[c.pos] == ' ') {
            /* The rest of the line is ignored, whatever it says. */
            for (c.pos++;; c.pos++) {
                if (c.pos == c.end) return v1_more(&c);
                if (buf[c.pos] == '\r') break;
                if (buf[c.pos] == '\n') return WS_PROXY_INVALID;
            }
        }
        if ((r = v1_literal(&c, "\r\n"))) return r;
    } else {
        if ((r = v1_literal(&c, "TCP"))) return r;
        if (c.pos == c.end) return v1_more(&c);
        if (buf[c.pos] == '4')
            h.family = AF_INET;
        else if (buf[c.pos] == '6')
            h.family = AF_INET6;
        else
            return WS_PROXY_INVALID;
        c.pos++;
        if ((r = v1_literal(&c, " "))) return r;
        if (h.family == AF_INET) {
            if ((r = v1_ipv4(&c, h.src_addr)) || (r = v1_ipv4(&c, h.dst_addr))) return r;
        } else {
            if ((r = v1_ipv6(&c, h.src_addr)) || (r = v1_ipv6(&c, h.dst_addr))) return r;
        }
        unsigned sport, dport;
        if ((r = v1_number(&c, 65535, ' ', &sport)) || (r = v1_number(&c, 65535, '\r', &dport))) return r;
        if ((r = v1_literal(&c, "\n"))) return r;
        h.src_port = (uint16_t)sport;
        h.dst_port = (uint16_t)dport;
    }
    *out = h;
    return (int)c.pos;
}

/* ---- v2: binary ---- */

static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum {
    V2_LOCAL = 0x20,       /* version 2, command LOCAL */
    V2_PROXY = 0x21,       /* version 2, command PROXY */
    V2_UNSPEC = 0x00,      /* family and transport unspecified */
    V2_TCP4 = 0x11,        /* AF_INET, STREAM */
    V2_TCP6 = 0x21,        /* AF_INET6, STREAM */
    V2_UNIX_STREAM = 0x31, /* AF_UNIX, STREAM */
    V2_FIXED_LEN = 16,
    V2_TLV_HEADER_LEN = 3, /* type, 16-bit length */
};

static uint16_t be16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}

static int parse_v2(const uint8_t *buf, size_t len, ws_proxy_header *out) {
    for (size_t i = 0; i < sizeof v2_signature; i++) {
        if (i == len) return WS_PROXY_INCOMPLETE;
        if (buf[i] != v2_signature[i]) return WS_PROXY_INVALID;
    }
    if (len < 13) return WS_PROXY_INCOMPLETE;
    if (buf[12] != V2_LOCAL && buf[12] != V2_PROXY) return WS_PROXY_INVALID;
    if (len < 14) return WS_PROXY_INCOMPLETE;

    ws_proxy_header h;
    memset(&h, 0, sizeof h);
    size_t addr_len = 0; /* the address block's size */
    int opaque = 1;      /* the block is skipped unread (LOCAL, UNSPEC) */
    if (buf[12] == V2_PROXY) {
        switch (buf[13]) {
        case V2_UNSPEC: break;
        case V2_TCP4: h.family = AF_INET, addr_len = 12, opaque = 0; break;
        case V2_TCP6: h.family = AF_INET6, addr_len = 36, opaque = 0; break;
        case V2_UNIX_STREAM: addr_len = 216, opaque = 0; break;
        default: return WS_PROXY_INVALID; /* datagrams, undefined values */
        }
    }
    if (len < V2_FIXED_LEN) return WS_PROXY_INCOMPLETE;
    size_t total = V2_FIXED_LEN + be16(buf + 14);
    if (total > WS_PROXY_V2_MAX_LEN || total < V2_FIXED_LEN + addr_len) return WS_PROXY_INVALID;

    if (!opaque) {
        /* The TLVs must tile the rest of the block exactly. */
        size_t pos = V2_FIXED_LEN + addr_len;
        while (pos < total) {
            if (total - pos < V2_TLV_HEADER_LEN) return WS_PROXY_INVALID;
            if (len < pos + V2_TLV_HEADER_LEN) return WS_PROXY_INCOMPLETE;
            size_t value_len = be16(buf + pos + 1);
            if (value_len > total - pos - V2_TLV_HEADER_LEN) return WS_PROXY_INVALID;
            pos += V2_TLV_HEADER_LEN + value_len;
        }
    }
    if (len < total) return WS_PROXY_INCOMPLETE;

    /* Copied out first: the buffer need not be aligned for in_addr. */
    const uint8_t *a = buf + V2_FIXED_LEN;
    if (h.family == AF_INET) {
        struct in_addr src, dst;
        memcpy(&src, a, 4);
        memcpy(&dst, a + 4, 4);
        if (!inet_ntop(AF_INET, &src, h.src_addr, sizeof h.src_addr) ||
            !inet_ntop(AF_INET, &dst, h.dst_addr, sizeof h.dst_addr))
            return WS_PROXY_INVALID;
        h.src_port = be16(a + 8);
        h.dst_port = be16(a + 10);
    } else if (h.family == AF_INET6) {
        struct in6_addr src, dst;
        memcpy(&src, a, 16);
        memcpy(&dst, a + 16, 16);
        if (!inet_ntop(AF_INET6, &src, h.src_addr, sizeof h.src_addr) ||
            !inet_ntop(AF_INET6, &dst, h.dst_addr, sizeof h.dst_addr))
            return WS_PROXY_INVALID;
        h.src_port = be16(a + 32);
        h.dst_port = be16(a + 34);
    }
    *out = h;
    return (int)total;
}

int ws_proxy_parse(const uint8_t *buf, size_t len, ws_proxy_header *out) {
    if (len == 0) return WS_PROXY_INCOMPLETE;
    if (buf[0] == 'P') return parse_v1(buf, len, out);
    if (buf[0] == v2_signature[0]) return parse_v2(buf, len, out);
    return WS_PROXY_INVALID;
}
