/* The server: listeners on Node's loop, the table of connections, the one
 * loop-wide read slab, the sweep timer that enforces every deadline, and the
 * flush that hands events to JS and writes corked data once per loop
 * iteration. Plain C over libuv; addon.c connects it to JS through hooks. */
#ifndef WS_SERVER_H
#define WS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "events.h"
#include "handshake.h"
#include "http.h"
#include "deflate.h"
#include "pubsub.h"
#include "tls.h"

#define WS_MAX_LISTENERS 8
#define WS_SLAB_SIZE (256u * 1024u)
#define WS_GATHER_SIZE 16384u

typedef struct ws_conn ws_conn;
typedef struct ws_server ws_server;

typedef struct {
    uint64_t max_payload;
    uint32_t max_header_size;
    uint32_t max_connections;
    uint32_t handshake_timeout_ms;
    uint32_t ping_interval_ms; /* 0: off */
    uint32_t idle_timeout_ms;  /* 0: off */
    uint32_t close_timeout_ms;
    uint64_t max_buffered;     /* queued bytes past which a connection is closed with 1008 */
    uint64_t high_water_mark;  /* send() reports backpressure past this */
    int backlog;
    char **origins;            /* owned; n_origins == 0 allows all */
    size_t n_origins;
    char *docroot;             /* owned, resolved absolute path; NULL: off */
    char *client_js;           /* owned: the file served at WS_CLIENT_JS_PATH (lib/client/client.js); NULL: none */
    uint64_t max_backpressure; /* a multicast applies the policy to a subscriber past this many queued bytes */
    int backpressure_policy;   /* WS_BACKPRESSURE_DROP or _CLOSE */
    int proxy_protocol;        /* a PROXY v1/v2 header precedes each request */
    uint32_t id_offset;        /* connection ids are id_offset + 1 + k * id_stride: unique across workers */
    uint32_t id_stride;        /* >= 1; the number of workers */
    int deflate;               /* permessage-deflate offered */
    int legacy_drafts;         /* hixie-75/76 handshakes accepted (else 426) */
    char *sjs_prefix;          /* owned; SockJS URLs under it ("/sockjs"); NULL: off */
    char *sjs_url;             /* owned; the sockjs-client script the iframe page loads */
    uint32_t sjs_heartbeat_ms; /* an h frame after this long without a frame */
    uint32_t sjs_disconnect_ms; /* a session with no receiver for this long ends */
    uint32_t sjs_response_limit; /* a streaming response ends after this many bytes */
    int sjs_websocket;         /* the WebSocket URLs are on (and /info says so) */
    int sjs_cookie_needed;     /* JSESSIONID is set (and /info says so) */
    ws_deflate_config deflate_cfg;
    struct ws_gateway *gateway; /* owned; NULL: no gateway to UNIX-socket services */
} ws_server_config;

typedef struct {
    void *ctx;
    /* A valid upgrade request arrived: decide now or later with
     * ws_conn_accept / ws_conn_reject. The request is valid during the call. */
    void (*upgrade)(void *ctx, ws_conn *c, const ws_http_request *req, const ws_handshake *hs);
    /* Deliver the first n bytes of records in *events to JS. */
    void (*flush)(void *ctx, ws_events *events, size_t n);
    /* An events buffer JS was given is no longer the server's: JS frees it
     * when its views are gone. */
    void (*abandon)(void *ctx, uint8_t *data);
} ws_server_hooks;

typedef enum { WS_LISTENER_WEBSOCKET, WS_LISTENER_POLICY } ws_listener_kind;

/* A listening socket polled by the server itself rather than a uv_tcp_t:
 * libuv's accept path hides EMFILE (it sheds silently, and spins when its
 * reserved descriptor is gone), and shedding must be seen and logged. */
typedef struct {
    uv_poll_t poll;
    int fd;
    int paused; /* out of descriptors with no spare: polling resumes at the next sweep */
    ws_server *srv;
    ws_listener_kind kind;
    int port;
} ws_listener;

/* A control answer held back until JS has handled the messages that came
 * before it, so the peer sees answers in the order it sent frames. */
enum ws_deferred_kind { WS_DEFER_PONG, WS_DEFER_CLOSE_REPLY, WS_DEFER_FAIL };

typedef struct {
    ws_conn *conn;
    uint8_t kind;
    uint8_t len;
    uint16_t code;
    const char *reason; /* FAIL: static storage */
    uint8_t data[125];  /* PONG: the ping's payload */
} ws_deferred;

/* What the engine did, for metrics: plain increments where it happens, read
 * by ws_server_stats_read. Counters only grow; nothing is allocated. */
#define WS_STATS_STATUS_MIN 100
#define WS_STATS_STATUS_MAX 599
typedef struct {
    uint64_t sockets_accepted;           /* TCP connections accepted or adopted */
    uint64_t sockets_shed;               /* connections accepted and closed at once: out of descriptors */
    uint64_t messages_in, payload_in;    /* data messages from clients, and their (inflated) payload bytes */
    uint64_t messages_out, payload_out;  /* data messages queued for clients, multicast deliveries included */
    uint64_t bytes_read, bytes_written;  /* bytes on the wire (handshakes, framing and TLS included) */
    uint64_t multicasts, deliveries;     /* multicast calls, and the subscribers they were queued for */
    uint64_t dropped, closed_slow;       /* subscribers past maxBackpressure: skipped ('drop'), closed ('close') */
    uint64_t http_status[WS_STATS_STATUS_MAX - WS_STATS_STATUS_MIN + 1]; /* handshake-path answers (101 included) */
} ws_server_stats;

/* Counts an HTTP answer of the handshake path. */
static inline void ws_stats_status(ws_server_stats *s, int status) {
    if (status >= WS_STATS_STATUS_MIN && status <= WS_STATS_STATUS_MAX) s->http_status[status - WS_STATS_STATUS_MIN]++;
}

/* The snapshot's fields, in order: the counters above, then gauges computed
 * when read, then one entry per HTTP status from WS_STATS_STATUS_MIN. */
enum {
    WS_STAT_SOCKETS_ACCEPTED,
    WS_STAT_MESSAGES_IN,
    WS_STAT_PAYLOAD_IN,
    WS_STAT_MESSAGES_OUT,
    WS_STAT_PAYLOAD_OUT,
    WS_STAT_BYTES_READ,
    WS_STAT_BYTES_WRITTEN,
    WS_STAT_MULTICASTS,
    WS_STAT_DELIVERIES,
    WS_STAT_DROPPED,
    WS_STAT_CLOSED_SLOW,
    WS_STAT_SOCKETS_SHED,
    WS_STAT_SOCKETS,        /* gauge: connections in any state */
    WS_STAT_HANDSHAKING,    /* gauge: reading a request head or waiting for the upgrade decision */
    WS_STAT_OPEN,           /* gauge: open WebSocket connections */
    WS_STAT_CLOSING,        /* gauge: closing handshake or final flush */
    WS_STAT_QUEUED_BYTES,   /* gauge: bytes in every write queue */
    WS_STAT_TOPICS,         /* gauge: subscriptions with at least one subscriber or a policy */
    WS_STAT_N_FIXED,
    WS_STAT_N = WS_STAT_N_FIXED + (WS_STATS_STATUS_MAX - WS_STATS_STATUS_MIN + 1),
};

/* Names of the fixed fields, WS_STAT_N_FIXED of them, for JS. */
extern const char *const ws_stat_names[WS_STAT_N_FIXED];

typedef union ws_req {
    uv_write_t write;
    uv_shutdown_t shutdown;
    union ws_req *next_free;
} ws_req;

struct ws_server {
    uv_loop_t *loop;
    ws_server_config cfg;
    ws_server_hooks hooks;

    ws_listener *listeners[WS_MAX_LISTENERS];
    int n_listeners;
    int spare_fd;      /* /dev/null, given up to accept and close a connection when out of descriptors */
    uint32_t shed;     /* connections shed in the current out-of-descriptors episode */
    int shedding;      /* an episode is on: logged once when it starts, once when it ends */
    int port; /* the WebSocket port, for the policy document */

    uv_timer_t sweep;
    uv_check_t check;
    uv_idle_t idle; /* active while work waits for the check phase: poll must not block */
    uint32_t tick_ms;
    uint64_t epoch_ms;

    ws_conn **slots;    /* slot -> connection; NULL while free or until JS saw its close */
    uint32_t n_slots, cap_slots;
    uint32_t *free_slots;
    uint32_t n_free;
    uint32_t n_conns;   /* connections in any state */
    uint64_t next_id;   /* how many connection ids were handed to JS */

    ws_conn *dirty;     /* connections with corked writes, linked through next_dirty */
    ws_events events;
    ws_pubsub pubsub;
    ws_tls_ctx *tls;    /* wss:// for new connections on the listeners; NULL: ws:// */
    ws_bytes scratch;   /* compressed payloads on their way into a frame */
    struct ws_sjs_table *sjs; /* SockJS sessions by resource and id; NULL until the first */
    uint32_t batch;     /* number of the batch being filled; a connection with messages in it has c->batch == batch */
    ws_deferred *deferred;
    size_t n_deferred, cap_deferred;
    uint8_t *slab;      /* one read buffer for the whole loop */
    uint8_t *gather;    /* small queued chunks copied together for one write (WS_GATHER_SIZE) */
    ws_req *free_reqs;
    uint32_t n_free_reqs;

    ws_server_stats stats;

    int shutting_down;
    int handles_open;   /* server-owned uv handles not yet closed */
    int released;       /* the owner let go: free when handles_open reaches 0 */
    int in_flush;
};

/* Creates a server on loop; takes ownership of cfg's allocations. */
ws_server *ws_server_new(uv_loop_t *loop, const ws_server_config *cfg, const ws_server_hooks *hooks);

/* Binds and listens on a numeric address; reuse_port: with SO_REUSEPORT, so
 * that several processes (workers) share the port. Returns the bound port
 * (> 0) or a negative libuv error. */
int ws_server_listen(ws_server *srv, const char *address, int port, ws_listener_kind kind, int reuse_port);

/* Stops accepting, sends 1001 to every open connection and drops those still
 * in their handshake; a SERVER_CLOSED event follows once all are gone. */
void ws_server_shutdown(ws_server *srv);

/* The owner lets go: the server frees itself once its handles are closed.
 * Connections still open are dropped. */
void ws_server_release(ws_server *srv);

/* Takes over a connection accepted elsewhere (Node's http server): fd >= 0
 * is a TCP socket to duplicate and own; fd < 0 makes a stream connection
 * whose bytes JS feeds. head is the request (and any bytes after it).
 * Returns the connection, or NULL. */
ws_conn *ws_server_adopt(ws_server *srv, int fd, uint8_t *head, size_t len);

/* Replaces the TLS context new connections get; existing ones keep theirs. */
void ws_server_set_tls(ws_server *srv, ws_tls_ctx *ctx);

/* A connection with a slot and no socket (a SockJS session), or NULL. */
ws_conn *ws_server_add_virtual(ws_server *srv);

/* Connection by slot, or NULL. */
ws_conn *ws_server_conn(ws_server *srv, uint32_t slot);

/* Milliseconds since the server started (wraps after 49 days; compared with
 * unsigned subtraction). */
uint32_t ws_server_now(ws_server *srv);

/* Copies the counters and the current gauges into out[0 .. n) (see the
 * WS_STAT_ indices; fields past n are left out). Walks the connections once. */
void ws_server_stats_read(ws_server *srv, double *out, size_t n);

/* Internal, for connection.c. */
void ws_server_mark_dirty(ws_server *srv, ws_conn *c);
int ws_server_defer(ws_server *srv, ws_conn *c, int kind, uint16_t code, const char *reason, const uint8_t *data,
                    size_t len);
void ws_server_wake(ws_server *srv);
void ws_server_conn_finished(ws_server *srv, ws_conn *c);
void ws_server_conn_freed(ws_server *srv);
ws_req *ws_server_req(ws_server *srv);
void ws_server_req_free(ws_server *srv, ws_req *r);

#endif
