/* A Redis connection on Node's libuv loop through hiredis's async API and
 * its libuv adapter (uv_poll on hiredis's socket). See redis.h for the contract.
 *
 * Lifetime: hiredis owns the redisAsyncContext and frees it itself after a
 * failed connect or a disconnect; ac->data points back at the ws_redis and
 * is cleared when the ws_redis lets go first, so a late hiredis callback
 * finds nothing to call. hiredis cannot free a context from inside its
 * connect callback, so a free or disconnect asked for from inside any of
 * our hooks is done from a zero-delay timer instead. */
#ifdef HAVE_HIREDIS

#include "redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the loop adapter ------------------------------------------------ */

/* hiredis's libuv adapter (hiredis/adapters/libuv.h) as hiredis 1.x has it.
 * The 0.14 one Debian ships returns on a poll error, and libuv reports a
 * refused connect as one (POLLERR) and stops the poll: the connect would
 * hang. Here an error runs the handlers the adapter waits for, so hiredis
 * reads the socket's error and fails the connect (or the connection). */
typedef struct {
    redisAsyncContext *context;
    uv_poll_t handle;
    int events;
} uv_events;

static void uv_events_poll(uv_poll_t *handle, int status, int events) {
    uv_events *p = handle->data;
    int ev = status ? p->events : events;
    if (p->context != NULL && (ev & UV_READABLE)) redisAsyncHandleRead(p->context);
    if (p->context != NULL && (ev & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void uv_events_update(uv_events *p) {
    if (p->events) uv_poll_start(&p->handle, p->events, uv_events_poll);
    else uv_poll_stop(&p->handle);
}

static void uv_events_add_read(void *privdata) {
    uv_events *p = privdata;
    p->events |= UV_READABLE;
    uv_events_update(p);
}

static void uv_events_del_read(void *privdata) {
    uv_events *p = privdata;
    p->events &= ~UV_READABLE;
    uv_events_update(p);
}

static void uv_events_add_write(void *privdata) {
    uv_events *p = privdata;
    p->events |= UV_WRITABLE;
    uv_events_update(p);
}

static void uv_events_del_write(void *privdata) {
    uv_events *p = privdata;
    p->events &= ~UV_WRITABLE;
    uv_events_update(p);
}

static void uv_events_closed(uv_handle_t *handle) {
    free(handle->data);
}

static void uv_events_cleanup(void *privdata) {
    uv_events *p = privdata;
    p->context = NULL; /* hiredis is freeing it */
    uv_close((uv_handle_t *)&p->handle, uv_events_closed);
}

static int uv_events_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    if (ac->ev.data != NULL) return REDIS_ERR;
    uv_events *p = calloc(1, sizeof *p);
    if (!p) return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->handle.data = p;
    p->context = ac;
    ac->ev.addRead = uv_events_add_read;
    ac->ev.delRead = uv_events_del_read;
    ac->ev.addWrite = uv_events_add_write;
    ac->ev.delWrite = uv_events_del_write;
    ac->ev.cleanup = uv_events_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}

/* ---- the connection --------------------------------------------------- */

#define WS_REDIS_MAX_ARGS 1048576 /* parts of one command; RPUSH of a log batch stays far below */

struct ws_redis {
    ws_redis_hooks hooks;
    uv_loop_t *loop;
    redisAsyncContext *ac; /* NULL when there is no connection */
    uv_timer_t later;      /* runs a deferred disconnect or free */
    int up;                /* the connect callback said OK */
    int depth;             /* > 0 while one of our hooks runs */
    int want_disconnect;   /* 1: after the pending replies; 2: at once */
    int want_free;
};

static void copy_err(char *errstr, size_t errlen, const char *text) {
    if (errstr && errlen) snprintf(errstr, errlen, "%s", text ? text : "unknown error");
}

static void redis_release(uv_handle_t *h) {
    free(h->data);
}

/* Lets go of the context: hiredis frees it now or after its callback. */
static void drop_context(ws_redis *r) {
    redisAsyncContext *ac = r->ac;
    if (!ac) return;
    r->ac = NULL;
    r->up = 0;
    ac->data = NULL;
    redisAsyncFree(ac);
}

static void run_later(uv_timer_t *t) {
    ws_redis *r = t->data;
    if (r->want_free) {
        drop_context(r);
        uv_close((uv_handle_t *)&r->later, redis_release);
        return;
    }
    if (r->want_disconnect) {
        int now = r->want_disconnect == 2;
        r->want_disconnect = 0;
        if (r->ac) {
            if (r->up && !now) redisAsyncDisconnect(r->ac);
            else drop_context(r);
        }
    }
}

static void on_connect(const redisAsyncContext *cac, int status) {
    ws_redis *r = cac->data;
    if (!r) return;
    char err[256] = "";
    if (status != REDIS_OK) {
        copy_err(err, sizeof err, cac->errstr);
        r->ac = NULL; /* hiredis frees it after this callback */
        r->up = 0;
    } else {
        r->up = 1;
    }
    r->depth++;
    if (!r->want_free && r->hooks.on_up) r->hooks.on_up(r->hooks.ctx, status == REDIS_OK, err);
    r->depth--;
}

static void on_disconnect(const redisAsyncContext *cac, int status) {
    ws_redis *r = cac->data;
    if (!r) return;
    char err[256] = "";
    if (status != REDIS_OK) copy_err(err, sizeof err, cac->errstr);
    r->ac = NULL; /* freed by hiredis after this callback */
    r->up = 0;
    r->depth++;
    if (!r->want_free && r->hooks.on_down) r->hooks.on_down(r->hooks.ctx, err);
    r->depth--;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    ws_redis *r = ac->data;
    if (!r || r->want_free || !r->hooks.on_reply) return;
    r->depth++;
    r->hooks.on_reply(r->hooks.ctx, (uint32_t)(uintptr_t)privdata, reply);
    r->depth--;
}

/* Every reply of a subscribed connection: subscribe / unsubscribe
 * confirmations (nothing to do) and messages. */
static void on_subscription(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)privdata;
    ws_redis *r = ac->data;
    const redisReply *rep = reply;
    if (!r || r->want_free || !rep || !r->hooks.on_message) return;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) return;
    const redisReply *kind = rep->element[0], *channel = rep->element[1], *payload = rep->element[2];
    if (kind->type != REDIS_REPLY_STRING || kind->len != 7 || memcmp(kind->str, "message", 7) != 0) return;
    if (channel->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING) return;
    r->depth++;
    r->hooks.on_message(r->hooks.ctx, channel->str, channel->len, payload->str, payload->len);
    r->depth--;
}

ws_redis *ws_redis_new(uv_loop_t *loop, const ws_redis_hooks *hooks) {
    ws_redis *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->hooks = *hooks;
    r->loop = loop;
    if (uv_timer_init(loop, &r->later) != 0) {
        free(r);
        return NULL;
    }
    r->later.data = r;
    uv_unref((uv_handle_t *)&r->later);
    return r;
}

static int attach(ws_redis *r, redisAsyncContext *ac, char *errstr, size_t errlen) {
    if (!ac) {
        copy_err(errstr, errlen, "out of memory");
        return WS_REDIS_E_NOMEM;
    }
    if (ac->err) {
        copy_err(errstr, errlen, ac->errstr);
        redisAsyncFree(ac);
        return WS_REDIS_E_CONNECT;
    }
    if (uv_events_attach(ac, r->loop) != REDIS_OK) {
        copy_err(errstr, errlen, "cannot watch the Redis socket on the loop");
        redisAsyncFree(ac);
        return WS_REDIS_E_CONNECT;
    }
    ac->data = r;
    r->ac = ac;
    r->up = 0;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return WS_REDIS_OK;
}

int ws_redis_connect_tcp(ws_redis *r, const char *ip, int port, char *errstr, size_t errlen) {
    if (r->ac || r->want_free) return WS_REDIS_E_BUSY;
    r->want_disconnect = 0;
    return attach(r, redisAsyncConnect(ip, port), errstr, errlen);
}

int ws_redis_connect_unix(ws_redis *r, const char *path, char *errstr, size_t errlen) {
    if (r->ac || r->want_free) return WS_REDIS_E_BUSY;
    r->want_disconnect = 0;
    return attach(r, redisAsyncConnectUnix(path), errstr, errlen);
}

int ws_redis_command(ws_redis *r, uint32_t tag, int argc, const char **argv, const size_t *lens) {
    if (argc < 1 || argc > WS_REDIS_MAX_ARGS) return WS_REDIS_E_ARG;
    if (!r->ac || r->want_disconnect || r->want_free) return WS_REDIS_E_NOT_CONNECTED;
    int st = redisAsyncCommandArgv(r->ac, tag ? on_reply : NULL, (void *)(uintptr_t)tag, argc, argv, lens);
    return st == REDIS_OK ? WS_REDIS_OK : WS_REDIS_E_NOT_CONNECTED;
}

int ws_redis_subscribe(ws_redis *r, const char *channel, size_t len, int subscribe) {
    if (!r->ac || r->want_disconnect || r->want_free) return WS_REDIS_E_NOT_CONNECTED;
    const char *argv[2] = {subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", channel};
    size_t lens[2] = {subscribe ? 9 : 11, len};
    int st = redisAsyncCommandArgv(r->ac, on_subscription, NULL, 2, argv, lens);
    /* hiredis refuses UNSUBSCRIBE on a connection that is not subscribed: nothing to undo. */
    return st == REDIS_OK || !subscribe ? WS_REDIS_OK : WS_REDIS_E_NOT_CONNECTED;
}

void ws_redis_disconnect(ws_redis *r, int now) {
    if (!r->ac || r->want_free) return;
    if (r->depth > 0) {
        if (r->want_disconnect < (now ? 2 : 1)) r->want_disconnect = now ? 2 : 1;
        uv_timer_start(&r->later, run_later, 0, 0);
        return;
    }
    if (r->up && !now) redisAsyncDisconnect(r->ac);
    else drop_context(r); /* only connecting, or at once: nothing to wait for */
}

int ws_redis_connected(const ws_redis *r) {
    return r->ac != NULL && r->up;
}

void ws_redis_free(ws_redis *r) {
    if (!r || r->want_free) return;
    r->want_free = 1; /* no hook runs from now on; ac->data stays so hiredis's last callbacks still clear r->ac */
    if (r->depth > 0) {
        uv_timer_start(&r->later, run_later, 0, 0);
        return;
    }
    drop_context(r);
    uv_close((uv_handle_t *)&r->later, redis_release);
}

const char *ws_redis_strerror(int err) {
    switch (err) {
    case WS_REDIS_OK: return "ok";
    case WS_REDIS_E_NOMEM: return "out of memory";
    case WS_REDIS_E_BUSY: return "already connected or connecting";
    case WS_REDIS_E_CONNECT: return "cannot connect";
    case WS_REDIS_E_NOT_CONNECTED: return "not connected to Redis";
    case WS_REDIS_E_ARG: return "a command has from 1 to 1048576 parts";
    default: return "unknown error";
    }
}

#else
typedef int ws_redis_unused; /* ISO C wants something in a translation unit */
#endif
