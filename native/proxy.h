/* PROXY protocol v1 and v2 (HAProxy's proxy-protocol.txt) header parser in
 * the manner of picohttpparser: no allocation, no I/O, stateless. The caller
 * keeps the bytes received so far and calls again with the longer buffer;
 * the request proper starts at buf + the returned length. */
#ifndef WS_PROXY_H
#define WS_PROXY_H

#include <stddef.h>
#include <stdint.h>

enum ws_proxy_result {
    WS_PROXY_INVALID = -1,    /* not a valid PROXY header: drop the connection */
    WS_PROXY_INCOMPLETE = -2, /* a strict prefix of one: read more */
};

/* The longest v1 header, "\r\n" included (the protocol's own limit). */
#define WS_PROXY_V1_MAX_LEN 107
/* The longest v2 header accepted: 16 fixed bytes, the address block (at most
 * 216 bytes, AF_UNIX) and the TLVs. Longer ones are INVALID. */
#define WS_PROXY_V2_MAX_LEN 4096
/* So a connection never needs to buffer more than this before deciding. */
#define WS_PROXY_MAX_LEN WS_PROXY_V2_MAX_LEN

typedef struct {
    int family;        /* AF_INET, AF_INET6, or 0 for UNKNOWN / LOCAL / UNSPEC / AF_UNIX
                          (keep the socket's own address) */
    char src_addr[46]; /* numeric text, NUL-terminated; "" when family is 0 */
    uint16_t src_port;
    char dst_addr[46];
    uint16_t dst_port;
} ws_proxy_header;

/* Parses a PROXY header at the start of buf[0..len). Returns the header
 * length (> 0) when complete, WS_PROXY_INCOMPLETE when buf may still be the
 * beginning of one (len == 0 included), WS_PROXY_INVALID as soon as it
 * cannot be. *out is written only on success. Never reads past buf + len.
 *
 * v1: "PROXY TCP4 src dst sport dport\r\n", likewise TCP6, or
 * "PROXY UNKNOWN" followed by "\r\n" or by a space and anything up to the
 * first "\r\n" (ignored, as the protocol says); single spaces, at most
 * WS_PROXY_V1_MAX_LEN bytes. Addresses: IPv4 a dotted quad of decimal octets
 * 0..255 without leading zeros (other than "0" itself); IPv6 anything
 * inet_pton(AF_INET6) accepts, given back in inet_ntop's canonical form.
 * Ports 0..65535 in decimal without leading zeros. A lone CR or LF is
 * INVALID. An IPv6 address is checked when the space after it arrives, so a
 * buffer holding a bad one unterminated is still INCOMPLETE; 107 bytes
 * without "\r\n" are INVALID whatever they hold.
 *
 * v2: the 12-byte signature, then version 2 with command LOCAL (family 0,
 * the rest of the block is skipped unread) or PROXY with one of: UNSPEC
 * (0x00, family 0, block skipped), TCP over IPv4 (0x11) or IPv6 (0x21), UNIX
 * stream (0x31, family 0). Datagram transports and undefined values are
 * INVALID. For TCP and UNIX the length field must cover the address block,
 * and the TLVs after it must fill the rest exactly, none running past it
 * (their contents are skipped). A total length over WS_PROXY_V2_MAX_LEN is
 * INVALID as soon as the length field arrives. */
int ws_proxy_parse(const uint8_t *buf, size_t len, ws_proxy_header *out);

#endif
