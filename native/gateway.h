/* The gateway to system servers on UNIX sockets (ouistiti's websocket
 * module): a services directory held open, allow / deny globs, and per
 * WebSocket one backend connection relayed in C both ways with message
 * boundaries kept (a packet per message on SOCK_SEQPACKET / SOCK_DGRAM, the
 * framing on SOCK_STREAM), bounded buffers and backpressure both ways.
 * Plain C over libuv; connection.c hands it the client's messages, addon.c
 * the upgrade decision. */
#ifndef WS_GATEWAY_H
#define WS_GATEWAY_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "gwframe.h"
#include "gwpath.h"

typedef struct ws_conn ws_conn;
typedef struct ws_gateway ws_gateway;
typedef struct ws_gw_link ws_gw_link;

#define WS_GW_OUT_LIMIT (1u << 20) /* bytes queued to a backend past which the client is not read */
#define WS_GW_READ_SIZE 65536u     /* one read from a SOCK_STREAM backend */
#define WS_GW_GATHER_SIZE 65536u   /* client messages of one read gathered for one write to the backend */
#define WS_GW_GATHER_PACKETS 64    /* ... and at most this many packets per sendmmsg */

typedef struct {
    const char *services;
    char *const *allow; size_t n_allow;
    char *const *deny; size_t n_deny;
    ws_gw_framing framing;
    int direct;
} ws_gateway_config;

/* Opens the services directory; NULL with a message in err when it cannot. */
ws_gateway *ws_gateway_new(const ws_gateway_config *cfg, char *err, size_t err_cap);
void ws_gateway_free(ws_gateway *gw);
int ws_gateway_direct(const ws_gateway *gw);

/* What a request path names. */
typedef struct {
    int status;        /* 0: found; else the HTTP status to refuse with */
    char reason[400];  /* one line, when refused */
    char name[WS_GW_NAME_MAX + 1];
    char protocol[WS_GW_NAME_MAX + 1]; /* "" unless a subdirectory picked one */
    char target[PATH_MAX];             /* the socket to connect to */
} ws_gw_target;

/* Resolves raw (the path after the prefix, still percent-encoded) and the
 * client's Sec-WebSocket-Protocol values (protocols may be NULL). 0 when it
 * names a socket; else t->status and t->reason say why not. */
int ws_gateway_resolve(const ws_gateway *gw, const char *raw, size_t raw_len, const char *protocols,
                       size_t protocols_len, ws_gw_target *t);

/* Connects c (waiting for its upgrade decision) to the backend t names and
 * only then answers the 101. address, port: the client's, for the bound name;
 * id: the connection's. Returns 0 (extensions gets the negotiated ones), -1
 * when c is no longer waiting, or an HTTP status (> 0) with t->reason, the
 * client refused with it already. */
int ws_gateway_open(ws_gateway *gw, ws_conn *c, ws_gw_target *t, const char *address, int port, uint64_t id,
                    char *extensions, size_t extensions_cap);

/* From connection.c: a complete message from the client (opcode TEXT or
 * BINARY); the client's queue emptied; the client is gone (its handle is
 * closing: the backend is closed now). */
void ws_gateway_from_client(ws_gw_link *l, int opcode, const uint8_t *data, size_t len);
void ws_gateway_client_drained(ws_gw_link *l);
void ws_gateway_client_gone(ws_gw_link *l);
/* From connection.c: the frames of one client read are parsed; the messages
 * they carried (gathered by ws_gateway_from_client) go to the backend now. */
void ws_gateway_client_batch_end(ws_gw_link *l);

/* Direct mode, from connection.c: the link waits to hand the client's
 * socket over; bytes the client sent after its request are kept (-1 past
 * WS_GW_DIRECT_MAX_PENDING); the hand-off sends the record with client_fd
 * (0, or -1 when the service did not take it). */
int ws_gateway_is_direct(const ws_gw_link *l);
int ws_gateway_direct_bytes(ws_gw_link *l, const uint8_t *p, size_t n);
int ws_gateway_hand_off(ws_gw_link *l, int client_fd, uint64_t max_payload);

#endif
