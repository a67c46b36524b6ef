/* Reading the direct-mode hand-off record (native/gwproto.h) that arrives
 * with a client's socket: the record parsed and its text fields checked and
 * copied into bounded, NUL-terminated strings. Pure, no I/O. */
#ifndef WSSERVICE_HANDOFF_H
#define WSSERVICE_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#define WSS_ADDRESS_MAX 64   /* a numeric IPv6 address with a zone fits */
#define WSS_PROTOCOL_MAX 256

typedef struct {
    char address[WSS_ADDRESS_MAX];   /* "unknown" when the record has none */
    int port;
    char protocol[WSS_PROTOCOL_MAX]; /* "" when none was negotiated */
    const uint8_t *pending;          /* into the caller's buffer */
    size_t pending_len;
    uint64_t max_payload;            /* 0: the gateway set no limit */
} wss_handoff;

/* Parses a record from in[0..len): the bytes it takes (> 0) with *h set; -2
 * when more bytes are needed; -1 when it is not a valid record (as
 * ws_gw_direct_parse) or a field is not what it must be: an address of
 * other than [0-9A-Za-z.:%] or too long, a protocol that is not an HTTP
 * token or too long. */
long wss_handoff_read(const uint8_t *in, size_t len, wss_handoff *h);

#endif
