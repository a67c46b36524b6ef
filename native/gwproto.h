/* The gateway's wire formats between this server and the system servers on
 * UNIX sockets, shared by the relay (gateway.c) and libwsservice
 * (backends/): the "length" framing header, the name a relay connection is
 * bound to (how a service learns the client's address without a byte in
 * the stream), and the direct-mode hand-off record that travels with the
 * client socket (SCM_RIGHTS). Pure functions over buffers, no I/O. */
#ifndef WS_GWPROTO_H
#define WS_GWPROTO_H

#include <stddef.h>
#include <stdint.h>

/* "length" framing on SOCK_STREAM, both ways: 1 byte type (WS_GW_TEXT or
 * WS_GW_BINARY, the WebSocket opcodes), 4 bytes payload length, big-endian,
 * then the payload. */
#define WS_GW_LEN_HEADER 5
#define WS_GW_TEXT 1
#define WS_GW_BINARY 2

void ws_gw_len_header(uint8_t out[WS_GW_LEN_HEADER], int type, uint32_t len);
/* Reads a header from len >= 5 bytes: 0 and *type, *payload_len set, or -1
 * when the type is neither text nor binary. */
int ws_gw_len_parse(const uint8_t *in, int *type, uint32_t *payload_len);

/* A relay connection's own socket is bound, before it connects, to the
 * abstract (Linux) address "\0nws <address> <port> <id>": the service reads
 * the client's address from accept()/recvfrom(), and a SOCK_DGRAM service
 * has an address to answer. <address> is the client's numeric address, <id>
 * the connection's id (unique per server process). */
#define WS_GW_BIND_PREFIX "nws "
/* Writes the name (its leading NUL included) into out; returns its length
 * (what goes into the sockaddr after sun_family), or 0 when it does not fit. */
size_t ws_gw_bind_name(char *out, size_t cap, const char *address, int port, uint64_t id);
/* Reads address and port back from a peer's sun_path bytes (path_len of
 * them, as accept() reported); 0 on success, -1 when it is not such a name. */
int ws_gw_bind_parse(const char *path, size_t path_len, char *address, size_t address_cap, int *port);

/* Direct mode: after the 101, the server connects to the service's socket
 * and sends one record whose first byte carries the client's socket as
 * SCM_RIGHTS, then closes that connection and steps out. The record:
 *    0  "WSD1"
 *    4  u8  flags (WS_GW_DIRECT_F_*)
 *    5  u8  0
 *    6  u16 peer port
 *    8  u16 address length     10  u16 protocol length    12  u16 name length
 *   14  u32 pending length     18  u64 max payload (0: no limit)
 *   26  address, protocol, name, pending bytes
 * all integers big-endian. The address is the client's numeric address, the
 * protocol the subprotocol answered in the 101 (may be empty), the name the
 * service name the client asked for, pending the bytes the client sent after
 * its request that the server had already read: the first frames, which the
 * service parses before reading the socket. No extension is ever in force. */
#define WS_GW_DIRECT_MAGIC "WSD1"
#define WS_GW_DIRECT_FIXED 26
#define WS_GW_DIRECT_MAX_PENDING 65536u
#define WS_GW_DIRECT_MAX (WS_GW_DIRECT_FIXED + 3u * 65535u + WS_GW_DIRECT_MAX_PENDING)

typedef struct {
    uint8_t flags;
    uint16_t port;
    const char *address; size_t address_len;
    const char *protocol; size_t protocol_len;
    const char *name; size_t name_len;
    const uint8_t *pending; size_t pending_len;
    uint64_t max_payload;
} ws_gw_direct;

/* Bytes the record takes, or 0 when a field is over its bound. */
size_t ws_gw_direct_size(const ws_gw_direct *d);
/* Writes the record into out (cap >= ws_gw_direct_size); returns its size or 0. */
size_t ws_gw_direct_encode(uint8_t *out, size_t cap, const ws_gw_direct *d);
/* Parses a record from in[0..len): returns the bytes it takes (> 0), with
 * *d pointing into in; -2 when more bytes are needed; -1 when it is not a
 * valid record (bad magic, a length over its bound). */
long ws_gw_direct_parse(const uint8_t *in, size_t len, ws_gw_direct *d);

#endif
