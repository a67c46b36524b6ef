/* A Redis connection on Node's own libuv loop: hiredis's async API over
 * its libuv adapter (uv_poll on hiredis's socket). Connect, writes and
 * replies never block; commands are pipelined in the order given. One
 * ws_redis is one connection at a time; reconnecting (with backoff) is the
 * caller's choice after on_down. A connection in subscribe mode delivers
 * each published message through on_message. Built only with hiredis
 * (HAVE_HIREDIS). */
#ifndef WS_REDIS_H
#define WS_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct redisReply;
typedef struct ws_redis ws_redis;

enum ws_redis_error {
    WS_REDIS_OK = 0,
    WS_REDIS_E_NOMEM = -1,      /* out of memory */
    WS_REDIS_E_BUSY = -2,       /* already connected or connecting */
    WS_REDIS_E_CONNECT = -3,    /* the connect failed at once (errstr says why) */
    WS_REDIS_E_NOT_CONNECTED = -4,
    WS_REDIS_E_ARG = -5,        /* a bad argument (empty command, too many parts) */
};

typedef struct {
    void *ctx;
    /* The connection is up (ok = 1) or could not be made (ok = 0, err says why). */
    void (*on_up)(void *ctx, int ok, const char *err);
    /* An established connection ended; err is "" after ws_redis_disconnect. */
    void (*on_down)(void *ctx, const char *err);
    /* The reply to a command sent with a non-zero tag; reply is NULL when
     * the connection went away before it came. */
    void (*on_reply)(void *ctx, uint32_t tag, const struct redisReply *reply);
    /* A message published on a channel this connection subscribed to. */
    void (*on_message)(void *ctx, const char *channel, size_t channel_len, const char *payload, size_t payload_len);
} ws_redis_hooks;

ws_redis *ws_redis_new(uv_loop_t *loop, const ws_redis_hooks *hooks);

/* Starts connecting (to an IP address, never a name to resolve, so nothing
 * blocks; or to a UNIX socket path). Commands may be sent at once: they are
 * written when the connection is up. errstr (may be NULL) gets the reason
 * of an immediate failure. */
int ws_redis_connect_tcp(ws_redis *r, const char *ip, int port, char *errstr, size_t errlen);
int ws_redis_connect_unix(ws_redis *r, const char *path, char *errstr, size_t errlen);

/* Queues one command (argv parts with their lengths). tag 0: no reply is
 * wanted (an error reply is then dropped). */
int ws_redis_command(ws_redis *r, uint32_t tag, int argc, const char **argv, const size_t *lens);

/* SUBSCRIBE / UNSUBSCRIBE one channel; messages come through on_message. */
int ws_redis_subscribe(ws_redis *r, const char *channel, size_t len, int subscribe);

/* Closes the connection after the replies still pending, and on_down
 * follows; with now (or while only connecting), at once and with no hook
 * called: the pending replies are then never reported. */
void ws_redis_disconnect(ws_redis *r, int now);

/* 1 while a connection is up. */
int ws_redis_connected(const ws_redis *r);

/* Ends the connection at once with no hook called, and frees r (at
 * environment teardown or when JS lets go of it). */
void ws_redis_free(ws_redis *r);

const char *ws_redis_strerror(int err);

#endif
