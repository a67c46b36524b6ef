/* The gateway's wire formats: see gwproto.h. */
#include "gwproto.h"

#include <stdio.h>
#include <string.h>

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return get16(p) << 16 | get16(p + 2); }

void ws_gw_len_header(uint8_t out[WS_GW_LEN_HEADER], int type, uint32_t len) {
    out[0] = (uint8_t)type;
    put32(out + 1, len);
}

int ws_gw_len_parse(const uint8_t *in, int *type, uint32_t *payload_len) {
    if (in[0] != WS_GW_TEXT && in[0] != WS_GW_BINARY) return -1;
    *type = in[0];
    *payload_len = get32(in + 1);
    return 0;
}

size_t ws_gw_bind_name(char *out, size_t cap, const char *address, int port, uint64_t id) {
    if (cap < 2) return 0;
    out[0] = '\0';
    int n = snprintf(out + 1, cap - 1, WS_GW_BIND_PREFIX "%s %d %llu", address, port, (unsigned long long)id);
    if (n < 0 || (size_t)n >= cap - 1) return 0;
    return (size_t)n + 1;
}

int ws_gw_bind_parse(const char *path, size_t path_len, char *address, size_t address_cap, int *port) {
    const size_t prefix = sizeof WS_GW_BIND_PREFIX - 1;
    if (path_len < 1 + prefix || path[0] != '\0' || memcmp(path + 1, WS_GW_BIND_PREFIX, prefix) != 0) return -1;
    const char *p = path + 1 + prefix, *end = path + path_len;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || sp == p || (size_t)(sp - p) >= address_cap) return -1;
    memcpy(address, p, (size_t)(sp - p));
    address[sp - p] = '\0';
    int v = 0, digits = 0;
    for (p = sp + 1; p < end && *p >= '0' && *p <= '9' && digits < 6; p++, digits++) v = v * 10 + (*p - '0');
    if (digits == 0 || v > 65535 || p >= end || *p != ' ') return -1;
    *port = v;
    return 0;
}

size_t ws_gw_direct_size(const ws_gw_direct *d) {
    if (d->address_len > 65535 || d->protocol_len > 65535 || d->name_len > 65535 ||
        d->pending_len > WS_GW_DIRECT_MAX_PENDING)
        return 0;
    return WS_GW_DIRECT_FIXED + d->address_len + d->protocol_len + d->name_len + d->pending_len;
}

size_t ws_gw_direct_encode(uint8_t *out, size_t cap, const ws_gw_direct *d) {
    size_t n = ws_gw_direct_size(d);
    if (n == 0 || cap < n) return 0;
    memcpy(out, WS_GW_DIRECT_MAGIC, 4);
    out[4] = d->flags;
    out[5] = 0;
    put16(out + 6, d->port);
    put16(out + 8, (uint32_t)d->address_len);
    put16(out + 10, (uint32_t)d->protocol_len);
    put16(out + 12, (uint32_t)d->name_len);
    put32(out + 14, (uint32_t)d->pending_len);
    put32(out + 18, (uint32_t)(d->max_payload >> 32));
    put32(out + 22, (uint32_t)d->max_payload);
    uint8_t *p = out + WS_GW_DIRECT_FIXED;
    if (d->address_len) memcpy(p, d->address, d->address_len);
    p += d->address_len;
    if (d->protocol_len) memcpy(p, d->protocol, d->protocol_len);
    p += d->protocol_len;
    if (d->name_len) memcpy(p, d->name, d->name_len);
    p += d->name_len;
    if (d->pending_len) memcpy(p, d->pending, d->pending_len);
    return n;
}

long ws_gw_direct_parse(const uint8_t *in, size_t len, ws_gw_direct *d) {
    size_t check = len < 4 ? len : 4;
    if (memcmp(in, WS_GW_DIRECT_MAGIC, check) != 0) return -1;
    if (len < WS_GW_DIRECT_FIXED) return -2;
    if (in[5] != 0) return -1;
    memset(d, 0, sizeof *d);
    d->flags = in[4];
    d->port = (uint16_t)get16(in + 6);
    d->address_len = get16(in + 8);
    d->protocol_len = get16(in + 10);
    d->name_len = get16(in + 12);
    d->pending_len = get32(in + 14);
    d->max_payload = (uint64_t)get32(in + 18) << 32 | get32(in + 22);
    if (d->pending_len > WS_GW_DIRECT_MAX_PENDING) return -1;
    size_t n = WS_GW_DIRECT_FIXED + d->address_len + d->protocol_len + d->name_len + d->pending_len;
    if (len < n) return -2;
    const uint8_t *p = in + WS_GW_DIRECT_FIXED;
    d->address = (const char *)p;
    p += d->address_len;
    d->protocol = (const char *)p;
    p += d->protocol_len;
    d->name = (const char *)p;
    p += d->name_len;
    d->pending = p;
    return (long)n;
}
