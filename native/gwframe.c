/* Framings of backend bytes: see gwframe.h. */
#include "gwframe.h"

#include <string.h>

#include "gwproto.h"
#include "utf8.h"

static int text_or_binary(const uint8_t *p, size_t n) {
    return ws_utf8_is_valid(p, n) ? WS_GW_TEXT : WS_GW_BINARY;
}

static long delimited(uint8_t delim, int strip_cr, const uint8_t *in, size_t len, uint64_t max, size_t *scanned,
                      ws_gw_message *m) {
    size_t from = *scanned < len ? *scanned : len;
    const uint8_t *end = from < len ? memchr(in + from, delim, len - from) : NULL;
    if (!end) {
        *scanned = len;
        /* Without a delimiter yet: past max (+1 for a '\r' that may go) it can only grow too big. */
        if ((uint64_t)len > max + (strip_cr ? 1 : 0)) return WS_GWFRAME_TOO_BIG;
        return 0;
    }
    size_t n = (size_t)(end - in);
    if (strip_cr && n && in[n - 1] == '\r') n--;
    if ((uint64_t)n > max) return WS_GWFRAME_TOO_BIG;
    *scanned = 0;
    m->data = in;
    m->len = n;
    m->type = text_or_binary(in, n);
    return (long)(end - in) + 1;
}

long ws_gwframe_next(ws_gw_framing framing, const uint8_t *in, size_t len, uint64_t max, size_t *scanned,
                     ws_gw_message *m) {
    switch (framing) {
    case WS_GW_FRAMING_LINE:
        return delimited('\n', 1, in, len, max, scanned, m);
    case WS_GW_FRAMING_NUL:
        return delimited('\0', 0, in, len, max, scanned, m);
    case WS_GW_FRAMING_LENGTH: {
        if (len < WS_GW_LEN_HEADER) return 0;
        int type;
        uint32_t n;
        if (ws_gw_len_parse(in, &type, &n) != 0) return WS_GWFRAME_BAD_TYPE;
        if ((uint64_t)n > max) return WS_GWFRAME_TOO_BIG;
        if (len - WS_GW_LEN_HEADER < n) return 0;
        m->data = in + WS_GW_LEN_HEADER;
        m->len = n;
        m->type = type;
        *scanned = 0;
        return (long)(WS_GW_LEN_HEADER + (size_t)n);
    }
    case WS_GW_FRAMING_OUISTITI:
    default:
        if (!len) return 0;
        if ((uint64_t)len > max) return WS_GWFRAME_TOO_BIG;
        m->data = in;
        m->len = len;
        m->type = text_or_binary(in, len);
        *scanned = 0;
        return (long)len;
    }
}

int ws_gwframe_wrap(ws_gw_framing framing, int type, const uint8_t *data, size_t len, uint8_t head[5], size_t *head_len,
                    uint8_t *tail, size_t *tail_len) {
    *head_len = *tail_len = 0;
    switch (framing) {
    case WS_GW_FRAMING_LINE:
    case WS_GW_FRAMING_NUL: {
        uint8_t delim = framing == WS_GW_FRAMING_LINE ? '\n' : '\0';
        if (type != WS_GW_TEXT || (len && memchr(data, delim, len))) return -1;
        *tail = delim;
        *tail_len = 1;
        return 0;
    }
    case WS_GW_FRAMING_LENGTH:
        if ((uint64_t)len > UINT32_MAX) return -1;
        ws_gw_len_header(head, type, (uint32_t)len);
        *head_len = WS_GW_LEN_HEADER;
        return 0;
    case WS_GW_FRAMING_OUISTITI:
    default:
        return 0;
    }
}

int ws_gwframe_parse_name(const char *s) {
    static const char *const names[] = {"ouistiti", "line", "nul", "length"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}
