/* Subscriptions: named topics with their subscriber lists, and multicast:
 * a message framed once into one shared buffer that every subscriber's
 * write queue references, with a backpressure policy for slow ones. */
#ifndef WS_PUBSUB_H
#define WS_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

typedef struct ws_conn ws_conn;
typedef struct ws_server ws_server;

enum ws_backpressure_policy {
    WS_BACKPRESSURE_DEFAULT = 0, /* the server's policy */
    WS_BACKPRESSURE_DROP = 1,    /* skip the message for that subscriber, and count it */
    WS_BACKPRESSURE_CLOSE = 2,   /* close that subscriber with 1008 */
};

typedef struct ws_topic {
    struct ws_topic *next; /* hash chain */
    uint64_t hash;
    ws_conn **subs;
    uint32_t n_subs, cap_subs;
    uint64_t dropped;
    uint8_t policy;
    struct ws_history *history; /* setHistory: the last multicasts, for resume; NULL when none */
    uint64_t seq;               /* the last multicast's sequence number (with a history) */
    size_t name_len;
    char name[];
} ws_topic;

/* A connection's side of a subscription: the topic and its place in the
 * topic's array, so unsubscribing is O(1). */
typedef struct {
    ws_topic *topic;
    uint32_t index;
} ws_sub;

/* A connection's subscriptions: allocated with its first, freed with its last. */
typedef struct {
    uint16_t n, cap;
    ws_sub items[];
} ws_sub_list;

typedef struct {
    ws_topic **buckets;
    size_t n_buckets, n_topics;
} ws_pubsub;

/* 1 when newly subscribed, 0 when it already was, -1 out of memory. */
int ws_pubsub_subscribe(ws_server *srv, ws_conn *c, const char *name, size_t len);
/* 1 when it was subscribed, 0 when not. */
int ws_pubsub_unsubscribe(ws_server *srv, ws_conn *c, const char *name, size_t len);
/* Every subscription of c ends (at close). */
void ws_pubsub_unsubscribe_all(ws_server *srv, ws_conn *c);

ws_topic *ws_pubsub_find(ws_pubsub *ps, const char *name, size_t len);

/* Sets a topic's policy; creates the (empty) topic so the policy is kept. */
int ws_pubsub_set_policy(ws_server *srv, const char *name, size_t len, int policy);

/* Queues one frame (opcode TEXT or BINARY) for every subscriber of name
 * except the connections marked with WS_CONN_F_EXCLUDED. Returns how many
 * it was queued for, or -1 out of memory. */
long ws_pubsub_multicast(ws_server *srv, const char *name, size_t len, int opcode, const void *payload,
                         size_t payload_len);

/* Keeps (messages > 0) or stops keeping a topic's history; creates the
 * topic so the history outlives its subscribers. A topic's first history
 * numbers from base + 1: a random base makes a seq from another process or
 * an earlier run fall outside the ring (a notice, never a wrong replay).
 * 0, or -1 out of memory. */
int ws_pubsub_set_history(ws_server *srv, const char *name, size_t len, uint32_t messages, uint64_t bytes,
                          uint64_t ms, uint64_t base);

/* After c subscribed to name: queues for c, in order, the multicasts it
 * missed since seq last, or the "missed too much" notice when they are no
 * longer all held. Returns how many messages were replayed, -1 for a
 * notice, -2 out of memory. */
long ws_pubsub_replay(ws_server *srv, ws_conn *c, const char *name, size_t len, uint64_t last);

void ws_pubsub_free(ws_pubsub *ps);

#endif
