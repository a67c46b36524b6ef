#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connection.h"
#include "gateway.h"
#include "sockjs_session.h"

static void maybe_closed(ws_server *srv);
static void on_listener(uv_poll_t *h, int status, int events);

uint32_t ws_server_now(ws_server *srv) {
    return (uint32_t)(uv_now(srv->loop) - srv->epoch_ms);
}

/* The sweep runs often enough that every deadline is met within a tenth
 * of the shortest one, and never more than 100 times a second. */
static uint32_t sweep_tick(const ws_server_config *cfg) {
    uint32_t shortest = cfg->handshake_timeout_ms;
    uint32_t others[] = {cfg->ping_interval_ms, cfg->idle_timeout_ms, cfg->close_timeout_ms,
                         cfg->sjs_prefix ? cfg->sjs_heartbeat_ms : 0, cfg->sjs_prefix ? cfg->sjs_disconnect_ms : 0};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (others[i] && others[i] < shortest) shortest = others[i];
    uint32_t tick = shortest / 10;
    return tick < 10 ? 10 : tick > 1000 ? 1000 : tick;
}

static void handle_closed(uv_handle_t *h) {
    ws_server *srv = h->data;
    srv->handles_open--;
    maybe_closed(srv);
}

static void free_server(ws_server *srv) {
    for (size_t i = 0; i < srv->cfg.n_origins; i++) free(srv->cfg.origins[i]);
    free(srv->cfg.origins);
    free(srv->cfg.docroot);
    free(srv->cfg.client_js);
    ws_gateway_free(srv->cfg.gateway);
    ws_events_free(&srv->events);
    free(srv->slab);
    free(srv->gather);
    free(srv->slots);
    free(srv->free_slots);
    free(srv->deferred);
    ws_pubsub_free(&srv->pubsub);
    ws_bytes_free(&srv->scratch);
    ws_sjs_table_free(srv);
    free(srv->cfg.sjs_prefix);
    free(srv->cfg.sjs_url);
    if (srv->tls) ws_tls_ctx_unref(srv->tls);
    if (srv->spare_fd >= 0) close(srv->spare_fd);
    while (srv->free_reqs) {
        ws_req *r = srv->free_reqs;
        srv->free_reqs = r->next_free;
        free(r);
    }
    free(srv);
}

/* ---- slots ---------------------------------------------------------- */

static int slot_alloc(ws_server *srv, ws_conn *c) {
    if (srv->n_free) {
        c->slot = srv->free_slots[--srv->n_free];
    } else {
        if (srv->n_slots == srv->cap_slots) {
            uint32_t cap = srv->cap_slots ? srv->cap_slots * 2 : 1024;
            ws_conn **slots = realloc(srv->slots, cap * sizeof *slots);
            if (!slots) return -1;
            srv->slots = slots;
            uint32_t *free_slots = realloc(srv->free_slots, cap * sizeof *free_slots);
            if (!free_slots) return -1;
            srv->free_slots = free_slots;
            srv->cap_slots = cap;
        }
        c->slot = srv->n_slots++;
    }
    srv->slots[c->slot] = c;
    return 0;
}

static void slot_free(void *ctx, uint32_t slot) {
    ws_server *srv = ctx;
    srv->free_slots[srv->n_free++] = slot;
}

ws_conn *ws_server_conn(ws_server *srv, uint32_t slot) {
    return slot < srv->n_slots ? srv->slots[slot] : NULL;
}

/* A connection ended. Its slot is reused only after JS has seen its close
 * event, so a late call from JS can never reach a different connection. */
void ws_server_conn_finished(ws_server *srv, ws_conn *c) {
    srv->slots[c->slot] = NULL;
    if (!(c->flags & WS_CONN_F_JS)) slot_free(srv, c->slot);
}

void ws_server_conn_freed(ws_server *srv) {
    srv->n_conns--;
    maybe_closed(srv);
}

/* ---- write requests ------------------------------------------------- */

ws_req *ws_server_req(ws_server *srv) {
    ws_req *r = srv->free_reqs;
    if (r) {
        srv->free_reqs = r->next_free;
        srv->n_free_reqs--;
        return r;
    }
    return malloc(sizeof *r);
}

void ws_server_req_free(ws_server *srv, ws_req *r) {
    if (srv->n_free_reqs >= 1024) {
        free(r);
        return;
    }
    r->next_free = srv->free_reqs;
    srv->free_reqs = r;
    srv->n_free_reqs++;
}

/* ---- the flush, once per loop iteration ----------------------------- */

static void on_idle(uv_idle_t *h) {
    (void)h; /* being active is the point: the loop polls without blocking */
}

void ws_server_wake(ws_server *srv) {
    if (!srv->released && !uv_is_active((uv_handle_t *)&srv->idle)) uv_idle_start(&srv->idle, on_idle);
}

void ws_server_mark_dirty(ws_server *srv, ws_conn *c) {
    if (c->flags & WS_CONN_F_DIRTY) return;
    c->flags |= WS_CONN_F_DIRTY;
    c->next_dirty = srv->dirty;
    srv->dirty = c;
    ws_server_wake(srv);
}

static void flush_writes(ws_server *srv) {
    while (srv->dirty) {
        ws_conn *c = srv->dirty;
        srv->dirty = c->next_dirty;
        c->next_dirty = NULL;
        c->flags &= (uint16_t)~WS_CONN_F_DIRTY;
        ws_conn_flush(c);
    }
}

int ws_server_defer(ws_server *srv, ws_conn *c, int kind, uint16_t code, const char *reason, const uint8_t *data,
                    size_t len) {
    if (srv->n_deferred == srv->cap_deferred) {
        size_t cap = srv->cap_deferred ? srv->cap_deferred * 2 : 16;
        ws_deferred *d = realloc(srv->deferred, cap * sizeof *d);
        if (!d) return -1;
        srv->deferred = d;
        srv->cap_deferred = cap;
    }
    ws_deferred *d = &srv->deferred[srv->n_deferred++];
    d->conn = c;
    d->kind = (uint8_t)kind;
    d->code = code;
    d->reason = reason;
    d->len = (uint8_t)(len > sizeof d->data ? sizeof d->data : len);
    if (d->len) memcpy(d->data, data, d->len);
    c->batch = srv->batch; /* later control frames wait behind this one */
    ws_server_wake(srv);
    return 0;
}

static void flush_events(ws_server *srv) {
    size_t n = srv->events.len;
    if ((!n && !srv->n_deferred) || srv->released || srv->in_flush) return;
    srv->batch++; /* events from now on belong to the next batch */
    srv->in_flush = 1;
    if (n) srv->hooks.flush(srv->hooks.ctx, &srv->events, n);
    srv->in_flush = 0;
    /* The connections are still allocated: uv_close callbacks run after the check phase. */
    for (size_t i = 0; i < srv->n_deferred; i++) {
        ws_deferred *d = &srv->deferred[i];
        ws_conn_run_deferred(d->conn, d->kind, d->code, d->reason, d->data, d->len);
    }
    srv->n_deferred = 0;
    if (!n) return;
    if (srv->events.closes) ws_events_each_close(&srv->events, n, slot_free, srv);
    uint8_t *abandoned = NULL;
    int was_shared = srv->events.shared;
    ws_events_consume(&srv->events, n, &abandoned);
    if (!abandoned) return;
    if (!srv->released) srv->hooks.abandon(srv->hooks.ctx, abandoned);
    else if (!was_shared) free(abandoned); /* released during the call: the hooks' owner may be gone */
}

static void on_check(uv_check_t *h) {
    ws_server *srv = h->data;
    flush_writes(srv); /* sends made outside a batch, e.g. from JS timers */
    flush_events(srv);
    flush_writes(srv); /* what JS sent while handling the batch: one write per connection */
    if (!srv->events.len && !srv->dirty && !srv->n_deferred) uv_idle_stop(&srv->idle);
}

/* ---- deadlines ------------------------------------------------------ */

static void on_sweep(uv_timer_t *h) {
    ws_server *srv = h->data;
    uint32_t now = ws_server_now(srv);
    if (srv->spare_fd < 0) srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < WS_MAX_LISTENERS; i++) {
        ws_listener *l = srv->listeners[i];
        if (l && l->paused) {
            l->paused = 0;
            uv_poll_start(&l->poll, UV_READABLE, on_listener);
        }
    }
    for (uint32_t i = 0; i < srv->n_slots; i++) {
        ws_conn *c = srv->slots[i];
        if (c) ws_conn_sweep(c, now);
    }
    ws_sjs_table_sweep(srv, now);
}

/* ---- metrics -------------------------------------------------------- */

const char *const ws_stat_names[WS_STAT_N_FIXED] = {
    [WS_STAT_SOCKETS_ACCEPTED] = "socketsAccepted",
    [WS_STAT_MESSAGES_IN] = "messagesIn",
    [WS_STAT_PAYLOAD_IN] = "payloadIn",
    [WS_STAT_MESSAGES_OUT] = "messagesOut",
    [WS_STAT_PAYLOAD_OUT] = "payloadOut",
    [WS_STAT_BYTES_READ] = "bytesRead",
    [WS_STAT_BYTES_WRITTEN] = "bytesWritten",
    [WS_STAT_MULTICASTS] = "multicasts",
    [WS_STAT_DELIVERIES] = "deliveries",
    [WS_STAT_DROPPED] = "dropped",
    [WS_STAT_CLOSED_SLOW] = "closedSlow",
    [WS_STAT_SOCKETS_SHED] = "socketsShed",
    [WS_STAT_SOCKETS] = "sockets",
    [WS_STAT_HANDSHAKING] = "handshaking",
    [WS_STAT_OPEN] = "open",
    [WS_STAT_CLOSING] = "closing",
    [WS_STAT_QUEUED_BYTES] = "queuedBytes",
    [WS_STAT_TOPICS] = "topics",
};

void ws_server_stats_read(ws_server *srv, double *out, size_t n) {
    double v[WS_STAT_N_FIXED] = {0};
    const ws_server_stats *s = &srv->stats;
    v[WS_STAT_SOCKETS_ACCEPTED] = (double)s->sockets_accepted;
    v[WS_STAT_MESSAGES_IN] = (double)s->messages_in;
    v[WS_STAT_PAYLOAD_IN] = (double)s->payload_in;
    v[WS_STAT_MESSAGES_OUT] = (double)s->messages_out;
    v[WS_STAT_PAYLOAD_OUT] = (double)s->payload_out;
    v[WS_STAT_BYTES_READ] = (double)s->bytes_read;
    v[WS_STAT_BYTES_WRITTEN] = (double)s->bytes_written;
    v[WS_STAT_MULTICASTS] = (double)s->multicasts;
    v[WS_STAT_DELIVERIES] = (double)s->deliveries;
    v[WS_STAT_DROPPED] = (double)s->dropped;
    v[WS_STAT_CLOSED_SLOW] = (double)s->closed_slow;
    v[WS_STAT_SOCKETS_SHED] = (double)s->sockets_shed;
    v[WS_STAT_SOCKETS] = srv->n_conns;
    v[WS_STAT_TOPICS] = (double)srv->pubsub.n_topics;
    /* Gauges from the connections themselves: nothing to keep in step on the hot path. */
    uint64_t queued = 0;
    for (uint32_t i = 0; i < srv->n_slots; i++) {
        const ws_conn *c = srv->slots[i];
        if (!c) continue;
        queued += c->queued;
        if (c->state == WS_CONN_HANDSHAKE || c->state == WS_CONN_PENDING) v[WS_STAT_HANDSHAKING]++;
        else if (c->state == WS_CONN_OPEN) v[WS_STAT_OPEN]++;
        else v[WS_STAT_CLOSING]++;
    }
    v[WS_STAT_QUEUED_BYTES] = (double)queued;
    for (size_t i = 0; i < n && i < WS_STAT_N; i++)
        out[i] = i < WS_STAT_N_FIXED ? v[i] : (double)s->http_status[i - WS_STAT_N_FIXED];
}

/* ---- listening ------------------------------------------------------ */

static void shed_event(ws_server *srv, int began, int err) {
    if (ws_events_add(&srv->events, WS_EVENT_SHED, (uint8_t)began, (uint16_t)err, began ? 0 : srv->shed, 0))
        ws_server_wake(srv);
}

/* Out of descriptors with a connection waiting: left in the backlog it
 * keeps the listener readable and the loop spins. The spare descriptor is
 * given up to accept it and close it at once (the client sees a reset, not
 * a hang), then taken back. Without a spare, polling pauses until the next
 * sweep. Logged once per episode, which ends at the next accept. */
static void shed_one(ws_listener *l, int err) {
    ws_server *srv = l->srv;
    if (!srv->shedding) {
        srv->shedding = 1;
        srv->shed = 0;
        shed_event(srv, 1, err);
    }
    int fd = -1;
    if (srv->spare_fd >= 0) {
        close(srv->spare_fd);
        srv->spare_fd = -1;
        fd = accept(l->fd, NULL, NULL);
        if (fd >= 0) {
            close(fd);
            srv->shed++;
            srv->stats.sockets_shed++;
        }
        srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0 && srv->spare_fd < 0) {
        uv_poll_stop(&l->poll);
        l->paused = 1;
    }
}

static void accept_one(ws_listener *l, int fd) {
    ws_server *srv = l->srv;
    if (srv->shedding) {
        srv->shedding = 0;
        shed_event(srv, 0, 0);
    }
    ws_conn *c = ws_conn_new(srv, l->kind == WS_LISTENER_POLICY);
    if (!c) {
        close(fd);
        return;
    }
    int opened = uv_tcp_open(&c->tcp, fd) == 0; /* from here the handle owns fd */
    if (!opened || slot_alloc(srv, c) != 0) {
        if (!opened) close(fd);
        c->state = WS_CONN_CLOSED;
        srv->n_conns++; /* balanced by the close callback */
        uv_close((uv_handle_t *)&c->tcp, ws_conn_free_handle);
        return;
    }
    srv->n_conns++;
    srv->stats.sockets_accepted++;
    if (srv->tls && l->kind == WS_LISTENER_WEBSOCKET && !(c->tls = ws_tls_new(srv->tls))) {
        ws_conn_abort(c);
        return;
    }
    ws_conn_start(c);
    if (srv->cfg.max_connections && srv->n_conns > srv->cfg.max_connections)
        ws_conn_refuse(c, 503, "Too many connections");
}

/* Up to 128 accepts per wakeup, so a flood of connections cannot starve
 * the connections already open; the poll is level-triggered. */
static void on_listener(uv_poll_t *h, int status, int events) {
    ws_listener *l = h->data;
    (void)events;
    if (status < 0) return;
    for (int i = 0; i < 128 && !l->paused; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accept_one(l, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            shed_one(l, errno);
            continue;
        }
        return; /* EAGAIN: the backlog is empty */
    }
}

ws_conn *ws_server_add_virtual(ws_server *srv) {
    ws_conn *c = ws_conn_new(srv, 0);
    if (!c) return NULL;
    srv->n_conns++; /* balanced by the close callback */
    if (slot_alloc(srv, c) != 0) {
        c->state = WS_CONN_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, ws_conn_free_handle);
        return NULL;
    }
    c->flags |= WS_CONN_F_STREAM | WS_CONN_F_PROXY_DONE; /* no socket: nothing is read or written here */
    return c;
}

ws_conn *ws_server_adopt(ws_server *srv, int fd, uint8_t *head, size_t len) {
    ws_conn *c = ws_conn_new(srv, 0);
    if (!c) return NULL;
    int own = -1;
    if (fd >= 0) {
        own = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* ours to keep after Node closes its handle */
        if (own < 0 || uv_tcp_open(&c->tcp, own) != 0) {
            if (own >= 0) close(own);
            own = -2;
        }
    }
    if (own == -2 || slot_alloc(srv, c) != 0) {
        c->state = WS_CONN_CLOSED;
        srv->n_conns++; /* balanced by the close callback */
        uv_close((uv_handle_t *)&c->tcp, ws_conn_free_handle);
        return NULL;
    }
    srv->n_conns++;
    srv->stats.sockets_accepted++;
    /* JS hears how every adopted connection ends: it holds its request, and for a stream its socket. */
    c->flags |= WS_CONN_F_JS | WS_CONN_F_PROXY_DONE; /* a PROXY header is the HTTP server's business */
    if (fd < 0) c->flags |= WS_CONN_F_STREAM;
    else ws_conn_start(c);
    if (c->state != WS_CONN_CLOSED) ws_conn_feed(c, head, len);
    return c;
}

void ws_server_set_tls(ws_server *srv, ws_tls_ctx *ctx) {
    if (srv->tls) ws_tls_ctx_unref(srv->tls);
    srv->tls = ctx;
}

/* The listening socket, non-blocking. With reuse_port it shares its port
 * with the other workers' (SO_REUSEPORT: the kernel spreads new connections
 * over them). Returns the descriptor or a negative errno. */
static int listen_socket(const struct sockaddr *sa, int reuse_port, int backlog) {
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int on = 1;
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int off = 0; /* as uv_tcp_bind without UV_TCP_IPV6ONLY: '::' takes IPv4 too */
    int r = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
#ifdef SO_REUSEPORT
    if (r == 0 && reuse_port) r = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
#else
    if (reuse_port) {
        close(fd);
        return UV_ENOTSUP;
    }
#endif
    if (r == 0 && sa->sa_family == AF_INET6) r = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (r == 0) r = bind(fd, sa, len);
    if (r == 0) r = listen(fd, backlog);
    if (r != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int ws_server_listen(ws_server *srv, const char *address, int port, ws_listener_kind kind, int reuse_port) {
    struct sockaddr_storage ss;
    int r;
    if (srv->n_listeners == WS_MAX_LISTENERS) return UV_ENOBUFS;
    if (strchr(address, ':')) r = uv_ip6_addr(address, port, (struct sockaddr_in6 *)&ss);
    else r = uv_ip4_addr(address, port, (struct sockaddr_in *)&ss);
    if (r != 0) return r;
    int fd = listen_socket((const struct sockaddr *)&ss, reuse_port, srv->cfg.backlog);
    if (fd < 0) return fd;
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    ws_listener *l = calloc(1, sizeof *l);
    if (!l || getsockname(fd, (struct sockaddr *)&bound, &len) != 0) {
        r = l ? -errno : UV_ENOMEM;
        free(l);
        close(fd);
        return r;
    }
    l->srv = srv;
    l->kind = kind;
    l->fd = fd;
    if ((r = uv_poll_init(srv->loop, &l->poll, fd)) != 0) {
        free(l);
        close(fd);
        return r;
    }
    l->poll.data = l;
    uv_poll_start(&l->poll, UV_READABLE, on_listener);
    l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    srv->listeners[srv->n_listeners++] = l;
    if (kind == WS_LISTENER_WEBSOCKET) srv->port = l->port;
    return l->port;
}

static void listener_closed(uv_handle_t *h) {
    ws_listener *l = h->data;
    ws_server *srv = l->srv;
    close(l->fd); /* a uv_poll_t does not own its descriptor */
    free(l);
    srv->n_listeners--;
    maybe_closed(srv);
}

static void close_listeners(ws_server *srv) {
    for (int i = 0; i < WS_MAX_LISTENERS; i++) {
        ws_listener *l = srv->listeners[i];
        if (!l) continue;
        srv->listeners[i] = NULL;
        uv_close((uv_handle_t *)&l->poll, listener_closed);
    }
}

/* ---- life ----------------------------------------------------------- */

ws_server *ws_server_new(uv_loop_t *loop, const ws_server_config *cfg, const ws_server_hooks *hooks) {
    ws_server *srv = calloc(1, sizeof *srv);
    if (!srv) return NULL;
    srv->slab = malloc(WS_SLAB_SIZE);
    srv->gather = malloc(WS_GATHER_SIZE);
    if (!srv->slab || !srv->gather) {
        free(srv->slab);
        free(srv->gather);
        free(srv);
        return NULL;
    }
    srv->loop = loop;
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    srv->cfg = *cfg;
    srv->hooks = *hooks;
    srv->epoch_ms = uv_now(loop);
    srv->batch = 1; /* connections start at 0: not in any batch */
    srv->tick_ms = sweep_tick(cfg);
    uv_timer_init(loop, &srv->sweep);
    uv_check_init(loop, &srv->check);
    uv_idle_init(loop, &srv->idle);
    srv->sweep.data = srv->check.data = srv->idle.data = srv;
    srv->handles_open = 3;
    /* Listeners and connections keep the process alive, as in net.Server,
     * and so does the idle handle while events wait to reach JS. */
    uv_unref((uv_handle_t *)&srv->sweep);
    uv_unref((uv_handle_t *)&srv->check);
    uv_timer_start(&srv->sweep, on_sweep, srv->tick_ms, srv->tick_ms);
    uv_check_start(&srv->check, on_check);
    return srv;
}

/* SERVER_CLOSED goes out once no listener and no connection is left. */
static void maybe_closed(ws_server *srv) {
    if (srv->released) {
        if (!srv->handles_open && !srv->n_conns && !srv->n_listeners) free_server(srv);
        return;
    }
    if (srv->shutting_down == 1 && !srv->n_conns && !srv->n_listeners) {
        srv->shutting_down = 2;
        if (ws_events_add(&srv->events, WS_EVENT_SERVER_CLOSED, 0, 0, UINT32_MAX, 0)) ws_server_wake(srv);
    }
}

void ws_server_shutdown(ws_server *srv) {
    if (srv->shutting_down) return;
    srv->shutting_down = 1;
    close_listeners(srv);
    static const char reason[] = "server shutting down";
    for (uint32_t i = 0; i < srv->n_slots; i++) {
        ws_conn *c = srv->slots[i];
        if (!c) continue;
        if (c->state == WS_CONN_OPEN) ws_conn_close(c, WS_CLOSE_GOING_AWAY, reason, sizeof reason - 1, 0);
        else if (c->state == WS_CONN_PENDING) ws_conn_refuse(c, 503, "Server shutting down");
        else if (c->state == WS_CONN_HANDSHAKE) ws_conn_abort(c);
    }
    maybe_closed(srv);
}

void ws_server_release(ws_server *srv) {
    if (srv->released) return;
    srv->released = 1;
    close_listeners(srv);
    for (uint32_t i = 0; i < srv->n_slots; i++)
        if (srv->slots[i]) ws_conn_abort(srv->slots[i]);
    uv_close((uv_handle_t *)&srv->sweep, handle_closed);
    uv_close((uv_handle_t *)&srv->check, handle_closed);
    uv_close((uv_handle_t *)&srv->idle, handle_closed);
}
