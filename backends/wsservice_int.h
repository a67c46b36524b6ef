/* libwsservice's private structures, shared by its files: wsservice.c (the
 * options, the socket, the loop, the clients and their queues),
 * wsservice_direct.c (RFC 6455 on a passed socket). Not installed. */
#ifndef WSSERVICE_INT_H
#define WSSERVICE_INT_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "frame.h"
#include "wsservice.h"
#include "wsservice_handoff.h"

/* Limits (README "Services" lists them). */
#define WSS_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024 + 64 * 1024)
#define WSS_QUEUE_FACTOR 4              /* a client's send queue holds up to 4 x max_message + 1 MiB */
#define WSS_READ_CHUNK (256u * 1024)    /* bytes read from a stream at a time */
#define WSS_PENDING_MS 500              /* an unnamed connection with no hand-off by then is a relay one;
                                           a hand-off record not whole by then is dropped */
#define WSS_FLUSH_MS 10000              /* a closing client's queue gets this long to drain */
#define WSS_DRAIN_MS 2000               /* direct: after our close frame, this long for the peer's EOF */
#define WSS_DGRAM_IDLE_MS 120000        /* a datagram session with no traffic this long is dropped */
#define WSS_FLUSH_BATCH 64              /* chunks per sendmsg / packets per sendmmsg */
#define WSS_FLUSH_BYTES (64u * 1024)    /* queued bytes past which a send does not wait for the round's end */
#define WSS_READ_PACKETS 64             /* packets read from one relay connection per poll round */

typedef struct wss_chunk {
    struct wss_chunk *next;
    size_t len, off;
    uint8_t data[];
} wss_chunk;

enum { WSS_PENDING = 0, WSS_RELAY, WSS_DIRECT };

struct wss_client {
    wss_server *s;
    wss_client *prev, *next;
    int kind;
    int fd;              /* the connection; -1 for a datagram session (it uses the server's) */
    int passed_fd;       /* the client socket received, until its hand-off record is whole */
    int reads;           /* recvmsg calls so far: ancillary data counts on the first only */
    unsigned open : 1;   /* on_open was called: on_close is due */
    unsigned notified : 1; /* on_close was called */
    unsigned closing : 1;  /* no more messages either way; flush, then close */
    unsigned dead : 1;     /* closed: the sweep frees it */
    unsigned wr_shut : 1;  /* direct: our side shut down after the close frame */
    unsigned close_sent : 1;
    unsigned flush_due : 1; /* queued this round: flush at its end */
    int64_t deadline;    /* ms, monotonic; 0 = none (pending: open as relay; closing: give up) */
    int64_t last_active; /* datagram sessions */
    char address[WSS_ADDRESS_MAX];
    int port;
    char protocol[WSS_PROTOCOL_MAX];
    void *data;
    uint8_t *in;         /* relay: bytes of an unfinished message; pending: the hand-off record */
    size_t in_len, in_cap, scan;
    wss_chunk *out, *out_tail;
    size_t out_bytes;
    struct sockaddr_un peer; /* datagram sessions: where answers go */
    socklen_t peer_len;
    /* direct */
    ws_parser parser;
    int parser_ready;
    uint8_t *msg;        /* a fragmented message being reassembled */
    size_t msg_len, msg_cap;
    const uint8_t *whole; /* a message that came in one DATA event: into the read buffer */
    size_t whole_len;
};

struct wss_server {
    wss_config cfg;
    wss_handlers h;
    void *user;
    int fd, sigfd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
    wss_client *clients, *clients_tail;
    unsigned nopen;
    uint8_t *slab;
    size_t slab_cap;
    size_t queue_max;
};

int64_t wss_now_ms(void);
/* Appends one chunk made of up to three pieces to c's queue and tries to
 * write; -1 (c then closed) when the queue would pass its bound or memory
 * ran out. */
int wss_queue(wss_client *c, const void *a, size_t alen, const void *b, size_t blen, const void *t, size_t tlen);
/* No more messages: flush what is queued, then close (deadline WSS_FLUSH_MS). */
void wss_begin_close(wss_client *c);
/* Closes the sockets now; on_close follows from the loop. */
void wss_teardown(wss_client *c);
/* Hands a whole message to the service (once c is open and not closing). */
void wss_deliver(wss_client *c, int opcode, const uint8_t *data, size_t len);

/* wsservice_direct.c */
void wss_direct_start(wss_client *c, const wss_handoff *h, int refuse);
void wss_direct_input(wss_client *c, uint8_t *buf, size_t len);
int wss_direct_send(wss_client *c, int opcode, const void *data, size_t len);
void wss_direct_close(wss_client *c, uint16_t code, const char *reason);
void wss_direct_free(wss_client *c);

#endif
