/* Relay framings on SOCK_STREAM: see wsservice_relay.h. */
#include "wsservice_relay.h"

#include <string.h>

#include "gwproto.h"
#include "utf8.h"
#include "wsservice.h"

static int text_or_binary(const uint8_t *p, size_t n) {
    return ws_utf8_is_valid(p, n) ? WS_GW_TEXT : WS_GW_BINARY;
}

long wss_relay_parse(int framing, const uint8_t *in, size_t len, uint64_t max, size_t *scan,
                     wss_relay_msg *m) {
    if (framing == WSS_FRAMING_LENGTH) {
        if (len < WS_GW_LEN_HEADER) return 0;
        int type;
        uint32_t n;
        if (ws_gw_len_parse(in, &type, &n) != 0) return WSS_RELAY_BAD_TYPE;
        if (max && n > max) return WSS_RELAY_TOO_BIG;
        if (len - WS_GW_LEN_HEADER < n) return 0;
        m->opcode = type;
        m->data = in + WS_GW_LEN_HEADER;
        m->len = n;
        return (long)(WS_GW_LEN_HEADER + (size_t)n);
    }
    if (framing == WSS_FRAMING_LINE || framing == WSS_FRAMING_NUL) {
        size_t from = *scan < len ? *scan : len;
        const uint8_t *d = memchr(in + from, framing == WSS_FRAMING_LINE ? '\n' : '\0', len - from);
        if (d == NULL) {
            *scan = len;
            if (max && len > max) return WSS_RELAY_TOO_BIG;
            return 0;
        }
        size_t n = (size_t)(d - in);
        if (max && n > max) return WSS_RELAY_TOO_BIG;
        *scan = 0;
        m->data = in;
        m->len = n;
        m->opcode = text_or_binary(in, n);
        return (long)(n + 1);
    }
    /* ouistiti: whatever arrived is one message */
    if (len == 0) return 0;
    if (max && len > max) return WSS_RELAY_TOO_BIG;
    m->data = in;
    m->len = len;
    m->opcode = text_or_binary(in, len);
    return (long)len;
}

size_t wss_relay_prefix(int framing, int opcode, size_t len, uint8_t out[5]) {
    if (framing != WSS_FRAMING_LENGTH) return 0;
    ws_gw_len_header(out, opcode == WS_GW_BINARY ? WS_GW_BINARY : WS_GW_TEXT, (uint32_t)len);
    return WS_GW_LEN_HEADER;
}

size_t wss_relay_suffix(int framing, uint8_t out[1]) {
    if (framing == WSS_FRAMING_LINE) out[0] = '\n';
    else if (framing == WSS_FRAMING_NUL) out[0] = '\0';
    else return 0;
    return 1;
}

int wss_relay_framing(const char *name) {
    static const char *const names[] = {"ouistiti", "line", "nul", "length"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}
