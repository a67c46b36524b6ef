/* One client connection through its life: the HTTP request head, the
 * upgrade decision, frames in (parsed as they arrive, no receive buffer
 * between reads), frames out (a queue of shared buffers written with
 * uv_try_write, then uv_write), the close handshake and its deadline. */
#ifndef WS_CONNECTION_H
#define WS_CONNECTION_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buffer.h"
#include "frame.h"
#include "hixie.h"
#include "pubsub.h"
#include "server.h"

typedef enum {
    WS_CONN_HANDSHAKE = 0, /* reading the request head */
    WS_CONN_PENDING,       /* a valid upgrade request waits for accept / reject */
    WS_CONN_OPEN,
    WS_CONN_CLOSING,       /* our close frame is queued or sent; waiting for the peer's */
    WS_CONN_LINGER,        /* done: flushing the last bytes, then half-close and wait for EOF */
    WS_CONN_CLOSED,        /* uv_close called */
} ws_conn_state;

enum {
    WS_CONN_F_CLOSE_SENT = 1 << 0,
    WS_CONN_F_CLOSE_RECEIVED = 1 << 1,
    WS_CONN_F_NEED_DRAIN = 1 << 2,
    WS_CONN_F_DIRTY = 1 << 3,
    WS_CONN_F_IN_UPGRADE = 1 << 4, /* inside the upgrade hook */
    WS_CONN_F_ERROR = 1 << 5,      /* the server closed it for a violation, limit or timeout */
    WS_CONN_F_SHUTDOWN = 1 << 6,   /* uv_shutdown issued */
    WS_CONN_F_POLICY = 1 << 7,     /* accepted on the policy port */
    WS_CONN_F_PINGED = 1 << 8,     /* a keepalive ping is out since the last read */
    WS_CONN_F_JS = 1 << 9,         /* JS knows the slot: it gets a close event at the end */
    WS_CONN_F_HOLD = 1 << 10,      /* a close or failure waits behind JS: read no more frames */
    WS_CONN_F_EXCLUDED = 1 << 11,  /* skipped by the multicast in progress */
    WS_CONN_F_STREAM = 1 << 12,    /* bytes come from and go to a JS stream, not a socket of ours */
    WS_CONN_F_TLS_CLOSED = 1 << 13, /* close_notify is queued */
    WS_CONN_F_PROXY_DONE = 1 << 14, /* the PROXY header was read (or none is expected) */
    WS_CONN_F_LARGE_IN = 1 << 15,   /* the last message was large: read the next header alone */
};

typedef struct {
    ws_buf *buf;
    uint32_t off, len;
} ws_chunk;

/* Fields few connections ever use, allocated the first time one is set
 * (ws_conn_rare_fields), so an idle connection does not carry them. */
typedef struct {
    char *close_reason; /* owned; NULL = empty */
    char *peer;         /* owned: the client address a PROXY header gave, else NULL */
    uint16_t peer_port;
    uint32_t dropped;   /* multicasts dropped for this connection by the backpressure policy */
    struct ws_gw_link *gw; /* the gateway's backend link: messages go there, not to JS */
    ws_hixie_parser hx;    /* legacy: the frame being read */
    uint8_t legacy;        /* 75 or 76: a legacy-draft connection (--legacy-drafts); 0: RFC 6455 */
    uint8_t sjs_role;      /* WS_SJS_ROLE_*: what this connection is to SockJS */
    uint8_t resume;        /* 1: the client asked for resume: multicasts reach it in the seq envelope (pubsub.c) */
    uint32_t sjs_t_out;    /* the SockJS-framed WebSocket: ms of the last frame out, for heartbeats */
    struct ws_sjs_session *sjs; /* the session this connection is, or receives for */
    char *sjs_answer;      /* owned: a SockJS /info, iframe or greeting answer, sent once JS finds its resource */
    uint32_t sjs_answer_len;
    uint16_t sjs_answer_status;
} ws_conn_rare;

/* Laid out to fit 376 bytes (a 384-byte malloc chunk): an idle connection
 * is this struct and nothing else in C. */
struct ws_conn {
    uv_tcp_t tcp;
    ws_server *srv;
    ws_conn *next_dirty;
    uint32_t slot;
    uint32_t batch;    /* the server batch holding this connection's latest message */
    uint32_t t_read;   /* ms of the last bytes read */
    uint32_t t_state;  /* ms the current deadline counts from */
    uint16_t flags;
    uint16_t close_code;    /* the code the close event reports */
    uint8_t state;
    uint8_t message_direct; /* 1: the current message went straight to the event batch; 2: inflated whole into in */
    uint16_t sealed;        /* leading chunks that are TLS ciphertext: never appended to */
    uint16_t n_chunks, cap_chunks, inflight;
    ws_chunk *chunks;       /* the write queue */
    size_t queued;          /* bytes in the write queue, in flight included */
    ws_parser *parser;      /* owned; only while a frame or a fragmented message spans reads, else NULL */
    ws_bytes in;            /* the request head, or a message spanning reads */
    struct ws_tls *tls;     /* wss:// in the engine, else NULL */
    struct ws_deflate *deflate; /* permessage-deflate in force, else NULL */
    ws_sub_list *subs;      /* subscriptions, NULL when none */
    ws_conn_rare *rare;     /* NULL until needed */
};

/* Frees this thread's pooled write-queue arrays (a thread that is ending). */
void ws_conn_pools_release(void);

/* The legacy draft c speaks (75 or 76), 0 for RFC 6455. */
static inline int ws_conn_legacy(const ws_conn *c) { return c->rare ? c->rare->legacy : 0; }

/* 1 when c takes multicasts in the resume envelope. */
static inline int ws_conn_resume(const ws_conn *c) { return c->rare ? c->rare->resume : 0; }

/* c's rare fields, allocated on first use; NULL when memory is exhausted. */
ws_conn_rare *ws_conn_rare_fields(ws_conn *c);

/* Starts reading from an accepted socket. */
ws_conn *ws_conn_new(ws_server *srv, int policy_only);
void ws_conn_start(ws_conn *c);

/* Bytes for a connection whose transport is a JS stream (or the request
 * head of an adopted socket); end: that stream ended. */
void ws_conn_feed(ws_conn *c, uint8_t *p, size_t n);
void ws_conn_feed_end(ws_conn *c);

/* The upgrade decision, made by JS. accept: protocol may be NULL (no
 * header). reject: answers status with a one-line reason and closes, with
 * no close event. Both return 0, or -1 when the connection is no longer
 * waiting for a decision (it ended: its close event is on the way). */
int ws_conn_accept(ws_conn *c, const char *protocol, size_t protocol_len, char *extensions, size_t extensions_cap);
int ws_conn_reject(ws_conn *c, int status, const char *reason);

/* Answers an HTTP error on the server's own account (limits, timeouts,
 * shutdown); a connection JS was told about still gets its close event. */
void ws_conn_refuse(ws_conn *c, int status, const char *reason);

/* Close callback that frees a connection. */
void ws_conn_free_handle(uv_handle_t *h);

/* Queues a message (opcode TEXT or BINARY) of len bytes. Returns 1 when the queue stays under the high water
 * mark, 0 past it (a DRAIN event follows when it empties), -1 when the
 * connection is not open (nothing is sent). */
int ws_conn_send(ws_conn *c, int opcode, const void *data, size_t len);

/* Reserves room for a message whose payload is at most max_len bytes and
 * returns where the payload goes (NULL when the connection is not open);
 * ws_conn_send_commit finishes it with the real length, before anything
 * else is queued. For writing strings straight into the queue. */
typedef struct {
    uint8_t *base;
    size_t header;
} ws_reservation;
uint8_t *ws_conn_send_reserve(ws_conn *c, size_t max_len, ws_reservation *r);
int ws_conn_send_commit(ws_conn *c, const ws_reservation *r, int opcode, size_t len);

int ws_conn_ping(ws_conn *c, const void *data, size_t len);

/* Queues a frame shared with other connections. Returns 1 when queued, 0
 * when the queue already holds more than limit bytes (nothing queued), -1
 * when the connection is not open. */
int ws_conn_send_shared(ws_conn *c, ws_buf *frame, uint64_t limit);

/* Closes a subscriber too slow for a multicast's 'close' policy with 1008,
 * dropping what it has not been sent yet. */
void ws_conn_close_slow(ws_conn *c);

/* Starts the closing handshake with code and reason (reason <= 123 bytes,
 * UTF-8). error marks a close for a violation or limit. */
void ws_conn_close(ws_conn *c, uint16_t code, const char *reason, size_t reason_len, int error);

/* Drops the TCP connection now; the close event reports code (1006 unless
 * a close frame told otherwise). */
void ws_conn_abort(ws_conn *c);

/* Carries out a control answer held back by ws_server_defer. */
void ws_conn_run_deferred(ws_conn *c, int kind, uint16_t code, const char *reason, const uint8_t *data, size_t len);

/* Writes corked data. Called by the server once per loop iteration. */
void ws_conn_flush(ws_conn *c);

/* Applies deadlines; now is ws_server_now(). */
void ws_conn_sweep(ws_conn *c, uint32_t now);

size_t ws_conn_buffered(const ws_conn *c);

/* Stops (pause) or resumes reading an open connection's socket: the
 * gateway's backpressure from a backend that does not keep up. */
void ws_conn_read_pause(ws_conn *c, int pause);

/* For sockjs_session.c: the HTTP side of a connection. write_raw queues
 * bytes as they are (0, or -1 out of memory); end_response flushes them and
 * closes; finish drops it now; set_closed records the code and reason the
 * close event reports (a clean close); emit_text hands JS a message from c;
 * take_queue calls fn with each queued message's payload, empties the queue
 * and reports a drain when one is due; upgrade_hook asks JS about c. */
int ws_conn_write_raw(ws_conn *c, const void *p, size_t n);
void ws_conn_end_response(ws_conn *c);
void ws_conn_finish(ws_conn *c);
void ws_conn_set_closed(ws_conn *c, uint16_t code, const char *reason, size_t len);
int ws_conn_emit_text(ws_conn *c, const uint8_t *p, size_t n);
void ws_conn_take_queue(ws_conn *c, void (*fn)(void *ctx, const uint8_t *payload, size_t len), void *ctx);
void ws_conn_upgrade_hook(ws_conn *c, const ws_http_request *req, const ws_handshake *hs);

/* Peer address as text (numeric), and port; 0 on success. */
int ws_conn_peer(ws_conn *c, char *addr, size_t cap, int *port);

#endif
