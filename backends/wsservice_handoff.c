/* The direct-mode hand-off record: see wsservice_handoff.h. */
#include "wsservice_handoff.h"

#include <string.h>

#include "gwproto.h"

static int address_char(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '.' ||
           ch == ':' || ch == '%';
}

/* RFC 7230 tchar */
static int token_char(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int copy_checked(char *out, size_t cap, const char *in, size_t len, int (*ok)(unsigned char)) {
    if (len >= cap) return -1;
    for (size_t i = 0; i < len; i++)
        if (!ok((unsigned char)in[i])) return -1;
    memcpy(out, in, len);
    out[len] = '\0';
    return 0;
}

long wss_handoff_read(const uint8_t *in, size_t len, wss_handoff *h) {
    ws_gw_direct d;
    long n = ws_gw_direct_parse(in, len, &d);
    if (n <= 0) return n;
    memset(h, 0, sizeof *h);
    if (copy_checked(h->address, sizeof h->address, d.address, d.address_len, address_char) != 0) return -1;
    if (d.address_len == 0) strcpy(h->address, "unknown");
    if (copy_checked(h->protocol, sizeof h->protocol, d.protocol, d.protocol_len, token_char) != 0) return -1;
    h->port = d.port;
    h->pending = d.pending;
    h->pending_len = d.pending_len;
    h->max_payload = d.max_payload;
    return n;
}
