/* The gateway: see gateway.h. */
#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "buffer.h"
#include "connection.h"
#include "frame.h"
#include "gwproto.h"
#include "server.h"

struct ws_gateway {
    int dirfd;
    char *real; /* the services directory's real path */
    char **allow, **deny;
    size_t n_allow, n_deny;
    ws_gw_framing framing;
    int direct;
    /* Packets from backends are read here whole in one recv(): maxPayload + 1
     * bytes of address space, only the pages a packet touches in memory (so
     * a truncated read means too big, and no size needs peeking first). */
    uint8_t *pkt;
    size_t pkt_cap;
    int pkt_failed; /* no such mapping: peek each packet's size */
    /* The messages of the client read being parsed, for gather_link's
     * backend: one write (stream: the framed bytes) or one sendmmsg (packets:
     * their bytes back to back, and their lengths), sent when the read's
     * frames are parsed. One per loop: one client read is parsed at a time. */
    ws_bytes gather;
    uint32_t gather_lens[WS_GW_GATHER_PACKETS]; /* each at most WS_GW_GATHER_SIZE */
    unsigned n_gather;
    ws_gw_link *gather_link; /* whose messages gather holds; NULL: none */
};

/* A packet waiting for a SOCK_SEQPACKET / SOCK_DGRAM backend to take it. */
typedef struct ws_gw_packet {
    struct ws_gw_packet *next;
    size_t len;
    uint8_t data[];
} ws_gw_packet;

/* A write to a SOCK_STREAM backend, with the bytes it carries. */
typedef struct {
    uv_write_t req;
    ws_gw_link *link;
    size_t len;
    uint8_t data[];
} ws_gw_write;

enum {
    LINK_READ_PAUSED = 1 << 0,   /* the backend is not read: the client's queue is over highWaterMark */
    LINK_CLIENT_PAUSED = 1 << 1, /* the client is not read: too much is queued to the backend */
    LINK_DOWN = 1 << 2,          /* the backend side is closed or closing */
    LINK_HANDLE_OPEN = 1 << 3,   /* h is initialised and not closed yet */
    LINK_DIRECT = 1 << 4,        /* direct mode: the client socket goes to the backend after the 101 */
};

struct ws_gw_link {
    union {
        uv_pipe_t pipe; /* SOCK_STREAM */
        uv_poll_t poll; /* SOCK_SEQPACKET, SOCK_DGRAM */
        uv_handle_t handle;
    } h;
    ws_conn *conn; /* NULL once the client is gone */
    int fd;
    int type;
    ws_gw_framing framing;
    unsigned flags;
    int poll_events;
    ws_bytes in;    /* backend bytes not yet a whole message (SOCK_STREAM); direct mode: the client's early bytes */
    size_t scanned; /* of in: bytes known to hold no delimiter */
    size_t out_queued;
    ws_gw_packet *out_head, *out_tail;
    ws_gateway *gw;
    char name[WS_GW_NAME_MAX + 1];
    char protocol[WS_GW_NAME_MAX + 1];
    char address[64];
    uint16_t port;
    char *target;    /* the socket connected to, and its identity then: see service_closed() */
    dev_t target_dev;
    ino_t target_ino;
};

/* ---- configuration -------------------------------------------------- */

static char **copy_list(char *const *src, size_t n) {
    char **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        out[i] = strdup(src[i]);
        if (!out[i]) {
            while (i--) free(out[i]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static void free_list(char **list, size_t n) {
    for (size_t i = 0; list && i < n; i++) free(list[i]);
    free(list);
}

ws_gateway *ws_gateway_new(const ws_gateway_config *cfg, char *err, size_t err_cap) {
    ws_gateway *gw = calloc(1, sizeof *gw);
    if (!gw) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    gw->dirfd = -1;
    gw->real = realpath(cfg->services, NULL);
    struct stat st;
    if (!gw->real || stat(gw->real, &st) != 0 || !S_ISDIR(st.st_mode) ||
        (gw->dirfd = open(gw->real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, err_cap, "gateway.services: '%s' is not a directory that can be opened (%s)", cfg->services,
                 gw->real && errno == 0 ? "not a directory" : strerror(errno ? errno : ENOTDIR));
        ws_gateway_free(gw);
        return NULL;
    }
    gw->allow = copy_list(cfg->allow, cfg->n_allow);
    gw->deny = copy_list(cfg->deny, cfg->n_deny);
    if (!gw->allow || !gw->deny) {
        snprintf(err, err_cap, "out of memory");
        ws_gateway_free(gw);
        return NULL;
    }
    gw->n_allow = cfg->n_allow;
    gw->n_deny = cfg->n_deny;
    gw->framing = cfg->framing;
    gw->direct = cfg->direct;
    return gw;
}

void ws_gateway_free(ws_gateway *gw) {
    if (!gw) return;
    if (gw->dirfd >= 0) close(gw->dirfd);
    if (gw->pkt) munmap(gw->pkt, gw->pkt_cap);
    ws_bytes_free(&gw->gather);
    free(gw->real);
    free_list(gw->allow, gw->n_allow);
    free_list(gw->deny, gw->n_deny);
    free(gw);
}

int ws_gateway_direct(const ws_gateway *gw) {
    return gw->direct;
}

/* ---- resolution ----------------------------------------------------- */

static int refuse(ws_gw_target *t, int status, const char *fmt, const char *name) {
    t->status = status;
    snprintf(t->reason, sizeof t->reason, fmt, name);
    return -1;
}

int ws_gateway_resolve(const ws_gateway *gw, const char *raw, size_t raw_len, const char *protocols,
                       size_t protocols_len, ws_gw_target *t) {
    memset(t, 0, sizeof *t);
    if (ws_gwpath_decode(raw, raw_len, t->name, sizeof t->name) < 0)
        return refuse(t, 404, "gateway: invalid service name%s", "");
    const char *name = t->name;
    if (!ws_gwpath_allowed(name, gw->allow, gw->n_allow, gw->deny, gw->n_deny))
        return refuse(t, 403, "gateway: service '%s' is not allowed", name);
    ws_gwpath_kind k = ws_gwpath_lookup(gw->dirfd, gw->real, name, t->target, sizeof t->target);
    if (k == WS_GWPATH_DIR) {
        /* A directory of sockets: the first offered protocol naming one of them. */
        const char *p = protocols, *end = protocols ? protocols + protocols_len : NULL;
        k = WS_GWPATH_MISSING;
        while (p && p < end && k != WS_GWPATH_SOCKET) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *tok_end = comma ? comma : end;
            while (p < tok_end && (*p == ' ' || *p == '\t')) p++;
            const char *q = tok_end;
            while (q > p && (q[-1] == ' ' || q[-1] == '\t')) q--;
            char proto[WS_GW_NAME_MAX + 1], rel[2 * WS_GW_NAME_MAX + 2];
            if (memchr(p, '%', (size_t)(q - p)) == NULL && ws_gwpath_decode(p, (size_t)(q - p), proto, sizeof proto) > 0) {
                snprintf(rel, sizeof rel, "%s/%s", name, proto);
                k = ws_gwpath_lookup(gw->dirfd, gw->real, rel, t->target, sizeof t->target);
                if (k == WS_GWPATH_SOCKET) snprintf(t->protocol, sizeof t->protocol, "%s", proto);
            }
            p = comma ? comma + 1 : end;
        }
        if (k != WS_GWPATH_SOCKET)
            return refuse(t, 404, "gateway: service '%s' has no socket for any protocol the client offered", name);
    }
    switch (k) {
    case WS_GWPATH_SOCKET:
        return 0;
    case WS_GWPATH_MISSING:
        return refuse(t, 404, "gateway: no service '%s'", name);
    case WS_GWPATH_OUTSIDE:
        return refuse(t, 403, "gateway: service '%s' links outside the services directory", name);
    case WS_GWPATH_TOO_LONG:
        return refuse(t, 502, "gateway: the socket path of service '%s' is too long for a UNIX socket address", name);
    default:
        return refuse(t, 404, "gateway: '%s' is not a service socket", name);
    }
}

/* ---- the link's life ------------------------------------------------ */

static void link_free(ws_gw_link *l) {
    ws_bytes_free(&l->in);
    free(l->target);
    while (l->out_head) {
        ws_gw_packet *p = l->out_head;
        l->out_head = p->next;
        free(p);
    }
    free(l);
}

static void on_link_closed(uv_handle_t *h) {
    ws_gw_link *l = h->data;
    if (l->type != SOCK_STREAM) close(l->fd); /* a poll handle does not own its fd; a pipe does */
    l->flags &= ~(unsigned)LINK_HANDLE_OPEN;
    if (!l->conn) link_free(l);
}

/* Closes the backend side; the link lives on (dropping client messages)
 * until the client is gone too. */
static void link_down(ws_gw_link *l) {
    if (l->flags & LINK_DOWN) return;
    l->flags |= LINK_DOWN;
    if (l->gw->gather_link == l) { /* what it gathered goes nowhere now */
        l->gw->gather.len = 0;
        l->gw->n_gather = 0;
        l->gw->gather_link = NULL;
    }
    if (l->flags & LINK_HANDLE_OPEN) {
        uv_close(&l->h.handle, on_link_closed);
    } else if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
    if (l->conn && (l->flags & LINK_CLIENT_PAUSED)) {
        l->flags &= ~(unsigned)LINK_CLIENT_PAUSED;
        ws_conn_read_pause(l->conn, 0); /* the client's close reply must be read */
    }
}

/* The backend ended or failed: the client gets code and reason. */
static void backend_gone(ws_gw_link *l, uint16_t code, const char *reason) {
    if (l->conn)
        ws_conn_close(l->conn, code, reason, strlen(reason), code != WS_CLOSE_NORMAL && code != WS_CLOSE_GOING_AWAY);
    link_down(l);
}

static void gather_flush(ws_gw_link *l);

void ws_gateway_client_gone(ws_gw_link *l) {
    l->conn = NULL;
    gather_flush(l); /* what the client sent before it went (in the read that ended it) still goes */
    link_down(l);
    if (!(l->flags & LINK_HANDLE_OPEN)) link_free(l);
}

static const char closed_reason[] = "gateway: service closed the connection";

/* The service ended the connection (EOF, or the socket failed). Going away
 * (1001) when the server is shutting down or the service stopped: a service
 * removes its socket when it stops (libwsservice does so before it closes
 * its clients), a crashed one leaves it, a restarted one made another. So a
 * server and its services stopped together (one signal to the process
 * group, a system shutdown) give 1001 whichever notices first. Else the
 * service failed that client: 1011. */
static void service_closed(ws_gw_link *l) {
    struct stat st;
    if (l->conn && l->conn->srv->shutting_down)
        backend_gone(l, WS_CLOSE_GOING_AWAY, "server shutting down");
    else if (l->target && (stat(l->target, &st) != 0 || st.st_dev != l->target_dev || st.st_ino != l->target_ino))
        backend_gone(l, WS_CLOSE_GOING_AWAY, "gateway: the service stopped");
    else
        backend_gone(l, WS_CLOSE_INTERNAL_ERROR, closed_reason);
}

/* ---- backend to client ---------------------------------------------- */

static int to_client(ws_gw_link *l, int type, const uint8_t *data, size_t len) {
    ws_conn *c = l->conn;
    int r = ws_conn_send(c, type == WS_GW_TEXT ? WS_OP_TEXT : WS_OP_BINARY, data, len);
    if (r < 0) return -1;
    if (ws_conn_buffered(c) >= c->srv->cfg.high_water_mark) l->flags |= LINK_READ_PAUSED;
    return 0;
}

static void too_big(ws_gw_link *l) {
    static const char reason[] = "gateway: a message from the service exceeds maxPayload";
    if (l->conn) ws_conn_close(l->conn, WS_CLOSE_TOO_BIG, reason, sizeof reason - 1, 1);
    link_down(l);
}

static void on_stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    ws_gw_link *l = h->data;
    (void)suggested;
    uint8_t *p = ws_bytes_reserve(&l->in, WS_GW_READ_SIZE);
    *buf = uv_buf_init((char *)p, p ? WS_GW_READ_SIZE : 0);
}

static void on_stream_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void poll_restart(ws_gw_link *l);

static void apply_read_pause(ws_gw_link *l) {
    if (l->flags & LINK_DOWN) return;
    if (l->type == SOCK_STREAM) {
        int active = uv_is_active(&l->h.handle);
        if ((l->flags & LINK_READ_PAUSED) && active) uv_read_stop((uv_stream_t *)&l->h.pipe);
        else if (!(l->flags & LINK_READ_PAUSED) && !active)
            uv_read_start((uv_stream_t *)&l->h.pipe, on_stream_alloc, on_stream_read);
    } else {
        int want = (l->flags & LINK_READ_PAUSED ? 0 : UV_READABLE) | (l->out_head ? UV_WRITABLE : 0);
        if (want != l->poll_events) {
            l->poll_events = want;
            poll_restart(l);
        }
    }
}

static void on_stream_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    ws_gw_link *l = s->data;
    (void)buf;
    if (nread == 0) return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS) backend_gone(l, WS_CLOSE_INTERNAL_ERROR, "gateway: out of memory");
        else service_closed(l);
        return;
    }
    l->in.len += (size_t)nread;
    if (!l->conn) return;
    uint64_t max = l->conn->srv->cfg.max_payload;
    size_t off = 0;
    while (off < l->in.len) {
        ws_gw_message m;
        long r = ws_gwframe_next(l->framing, l->in.data + off, l->in.len - off, max, &l->scanned, &m);
        if (r == 0) break;
        if (r == WS_GWFRAME_TOO_BIG) {
            too_big(l);
            return;
        }
        if (r < 0) {
            backend_gone(l, WS_CLOSE_INTERNAL_ERROR, "gateway: the service sent a malformed length header");
            return;
        }
        if (to_client(l, m.type, m.data, m.len) != 0) { /* the client is closing: nothing more for it */
            link_down(l);
            return;
        }
        off += (size_t)r;
    }
    if (off) {
        memmove(l->in.data, l->in.data + off, l->in.len - off);
        l->in.len -= off;
    }
    if (!l->in.len && l->in.cap > 4 * WS_GW_READ_SIZE) ws_bytes_free(&l->in); /* a large message left: give it back */
    apply_read_pause(l);
}

/* The loop-wide packet buffer of maxPayload + 1 bytes, or NULL. */
static uint8_t *packet_buffer(ws_gateway *gw, uint64_t max) {
    if (gw->pkt || gw->pkt_failed) return gw->pkt;
    long page = sysconf(_SC_PAGESIZE);
    size_t ps = page > 0 ? (size_t)page : 4096;
    if (max >= SIZE_MAX - 2 * ps) {
        gw->pkt_failed = 1;
        return NULL;
    }
    size_t cap = ((size_t)max + 1 + ps - 1) / ps * ps;
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        gw->pkt_failed = 1;
        return NULL;
    }
    gw->pkt = p;
    gw->pkt_cap = cap;
    return gw->pkt;
}

/* Packets: one recv() per message into the packet buffer (or, without one,
 * its size peeked first), up to 64 per poll callback. */
static void read_packets(ws_gw_link *l) {
    ws_server *srv = l->conn->srv;
    uint64_t max = srv->cfg.max_payload;
    ws_gateway *gw = srv->cfg.gateway;
    uint8_t *buf = gw ? packet_buffer(gw, max) : NULL;
    for (int i = 0; i < 64 && !(l->flags & (LINK_READ_PAUSED | LINK_DOWN)); i++) {
        uint8_t *dst = buf;
        ssize_t n;
        if (buf) {
            do n = recv(l->fd, buf, gw->pkt_cap, MSG_TRUNC | MSG_DONTWAIT);
            while (n < 0 && errno == EINTR);
        } else {
            n = recv(l->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            service_closed(l);
            return;
        }
        if (n == 0 && l->type == SOCK_SEQPACKET) { /* EOF (an empty packet reads the same: see the README) */
            service_closed(l);
            return;
        }
        if ((uint64_t)n > max) {
            too_big(l);
            return;
        }
        ssize_t got = n;
        if (!buf) {
            dst = (size_t)n <= WS_SLAB_SIZE ? srv->slab : ws_bytes_reserve_exact(&l->in, (size_t)n);
            if (!dst) {
                backend_gone(l, WS_CLOSE_INTERNAL_ERROR, "gateway: out of memory");
                return;
            }
            got = recv(l->fd, dst, (size_t)n, MSG_DONTWAIT);
            if (got < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                service_closed(l);
                return;
            }
        }
        int type = ws_utf8_is_valid(dst, (size_t)got) ? WS_GW_TEXT : WS_GW_BINARY;
        int r = to_client(l, type, dst, (size_t)got);
        ws_bytes_free(&l->in);
        if (buf && (size_t)got > WS_SLAB_SIZE) { /* a large one: its pages go back, the first slab's worth stays */
            size_t touched = ((size_t)got + WS_SLAB_SIZE - 1) / WS_SLAB_SIZE * WS_SLAB_SIZE;
            if (touched > gw->pkt_cap) touched = gw->pkt_cap;
            madvise(buf + WS_SLAB_SIZE, touched - WS_SLAB_SIZE, MADV_DONTNEED);
        }
        if (r != 0) {
            link_down(l);
            return;
        }
    }
}

/* ---- client to backend ---------------------------------------------- */

static void client_pause_check(ws_gw_link *l) {
    if (!l->conn) return;
    if (!(l->flags & LINK_CLIENT_PAUSED) && l->out_queued > WS_GW_OUT_LIMIT) {
        l->flags |= LINK_CLIENT_PAUSED;
        ws_conn_read_pause(l->conn, 1);
    } else if ((l->flags & LINK_CLIENT_PAUSED) && l->out_queued <= WS_GW_OUT_LIMIT / 2) {
        l->flags &= ~(unsigned)LINK_CLIENT_PAUSED;
        ws_conn_read_pause(l->conn, 0);
    }
}

static void on_stream_written(uv_write_t *req, int status) {
    ws_gw_write *w = (ws_gw_write *)req;
    ws_gw_link *l = w->link;
    l->out_queued -= w->len;
    free(w);
    if (l->flags & LINK_DOWN) return;
    if (status < 0) {
        service_closed(l);
        return;
    }
    client_pause_check(l);
}

static void stream_write(ws_gw_link *l, uv_buf_t *parts, unsigned n) {
    size_t total = 0, done = 0;
    for (unsigned i = 0; i < n; i++) total += parts[i].len;
    if (!l->out_queued) {
        int r = uv_try_write((uv_stream_t *)&l->h.pipe, parts, n);
        if (r < 0 && r != UV_EAGAIN) {
            service_closed(l);
            return;
        }
        if (r > 0) done = (size_t)r;
    }
    if (done == total) return;
    ws_gw_write *w = malloc(sizeof *w + (total - done));
    if (!w) {
        backend_gone(l, WS_CLOSE_INTERNAL_ERROR, "gateway: out of memory");
        return;
    }
    size_t skip = done, at = 0;
    for (unsigned i = 0; i < n; i++) {
        if (skip >= parts[i].len) {
            skip -= parts[i].len;
            continue;
        }
        memcpy(w->data + at, parts[i].base + skip, parts[i].len - skip);
        at += parts[i].len - skip;
        skip = 0;
    }
    w->link = l;
    w->len = at;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)at);
    if (uv_write(&w->req, (uv_stream_t *)&l->h.pipe, &b, 1, on_stream_written) != 0) {
        free(w);
        service_closed(l);
        return;
    }
    l->out_queued += at;
    client_pause_check(l);
}

/* A send to a packet backend failed with errno (not EAGAIN): the link goes down. */
static void packet_failed(ws_gw_link *l) {
    if (errno == EMSGSIZE) {
        static const char reason[] = "gateway: message too large for the service's socket";
        if (l->conn) ws_conn_close(l->conn, WS_CLOSE_TOO_BIG, reason, sizeof reason - 1, 1);
        link_down(l);
        return;
    }
    service_closed(l);
}

static int socket_full(void) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS;
}

/* 1: sent; 0: the socket is full; -1: failed (the link is down). */
static int packet_send(ws_gw_link *l, const uint8_t *data, size_t len) {
    ssize_t r;
    do r = send(l->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r >= 0) return 1;
    if (socket_full()) return 0;
    packet_failed(l);
    return -1;
}

/* Queues a packet the socket did not take, behind the others. */
static int packet_queue(ws_gw_link *l, const uint8_t *data, size_t len) {
    ws_gw_packet *p = malloc(sizeof *p + len);
    if (!p) {
        backend_gone(l, WS_CLOSE_INTERNAL_ERROR, "gateway: out of memory");
        return -1;
    }
    p->next = NULL;
    p->len = len;
    if (len) memcpy(p->data, data, len);
    if (l->out_tail) l->out_tail->next = p;
    else l->out_head = p;
    l->out_tail = p;
    l->out_queued += len;
    return 0;
}

static void flush_packets(ws_gw_link *l) {
    while (l->out_head && !(l->flags & LINK_DOWN)) {
        ws_gw_packet *p = l->out_head;
        int r = packet_send(l, p->data, p->len);
        if (r <= 0) return;
        l->out_head = p->next;
        if (!l->out_head) l->out_tail = NULL;
        l->out_queued -= p->len;
        free(p);
    }
    client_pause_check(l);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    ws_gw_link *l = h->data;
    if (status < 0) {
        service_closed(l);
        return;
    }
    if (events & UV_WRITABLE) flush_packets(l);
    if ((events & UV_READABLE) && l->conn && !(l->flags & LINK_DOWN)) read_packets(l);
    if (events & UV_DISCONNECT && !(l->flags & LINK_DOWN) && l->type != SOCK_DGRAM) {
        read_packets(l); /* what is left, then the EOF */
    }
    apply_read_pause(l);
}

static void poll_restart(ws_gw_link *l) {
    if (l->poll_events) uv_poll_start(&l->h.poll, l->poll_events, on_poll);
    else uv_poll_stop(&l->h.poll);
}

/* Sends what the client's read gathered: one write, or one sendmmsg for
 * every packet (what the socket does not take is queued as before). */
static void gather_flush(ws_gw_link *l) {
    ws_gateway *gw = l->gw;
    if (gw->gather_link != l) return;
    gw->gather_link = NULL;
    size_t len = gw->gather.len;
    unsigned n = gw->n_gather, done = 0;
    gw->gather.len = 0; /* the bytes stay where they are until the sends below are done */
    gw->n_gather = 0;
    if (l->flags & LINK_DOWN) return;
    if (l->type == SOCK_STREAM) {
        if (len) {
            uv_buf_t b = uv_buf_init((char *)gw->gather.data, (unsigned)len);
            stream_write(l, &b, 1); /* what the socket does not take now is copied */
        }
        return;
    }
    struct iovec iov[WS_GW_GATHER_PACKETS];
    struct mmsghdr mm[WS_GW_GATHER_PACKETS];
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        iov[i] = (struct iovec){.iov_base = gw->gather.data + off, .iov_len = gw->gather_lens[i]};
        mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        off += gw->gather_lens[i];
    }
    while (done < n && !l->out_head) {
        int r = sendmmsg(l->fd, mm + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            done += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && !socket_full()) {
            packet_failed(l);
            return;
        }
        break; /* full: the rest waits for the socket */
    }
    for (unsigned i = done; i < n; i++)
        if (packet_queue(l, iov[i].iov_base, iov[i].iov_len) != 0) return;
    if (done < n) {
        client_pause_check(l);
        apply_read_pause(l);
    }
}

void ws_gateway_client_batch_end(ws_gw_link *l) {
    gather_flush(l);
}

/* Gathers a message of len bytes (in up to three pieces) for the read's
 * write; 0, or -1 when it goes on its own (too large, packets queued, or out
 * of memory). */
static int gather_add(ws_gw_link *l, const void *a, size_t alen, const void *b, size_t blen, const void *t,
                      size_t tlen) {
    ws_gateway *gw = l->gw;
    size_t len = alen + blen + tlen;
    if (len > WS_GW_GATHER_SIZE) return -1;
    if (gw->gather_link && gw->gather_link != l) gather_flush(gw->gather_link); /* not expected: reads do not nest */
    if (gw->gather.len + len > WS_GW_GATHER_SIZE || gw->n_gather == WS_GW_GATHER_PACKETS) gather_flush(l);
    if (l->flags & LINK_DOWN) return 0;
    if (l->out_head) return -1; /* the socket filled up: this one queues behind what it did not take */
    uint8_t *dst = ws_bytes_reserve(&gw->gather, len ? len : 1);
    if (!dst) return -1;
    if (alen) memcpy(dst, a, alen);
    if (blen) memcpy(dst + alen, b, blen);
    if (tlen) memcpy(dst + alen + blen, t, tlen);
    gw->gather.len += len;
    gw->gather_lens[gw->n_gather++] = (uint32_t)len;
    gw->gather_link = l;
    return 0;
}

void ws_gateway_from_client(ws_gw_link *l, int opcode, const uint8_t *data, size_t len) {
    if (l->flags & LINK_DOWN) return; /* the client is being closed: its messages go nowhere */
    int type = opcode == WS_OP_TEXT ? WS_GW_TEXT : WS_GW_BINARY;
    if (l->type != SOCK_STREAM) {
        if (!l->out_head) { /* else it waits behind the queue */
            if (gather_add(l, data, len, NULL, 0, NULL, 0) == 0) return;
            gather_flush(l); /* a large one: what came before it goes first */
            if (l->flags & LINK_DOWN) return;
        }
        if (!l->out_head) {
            int r = packet_send(l, data, len);
            if (r != 0) return;
        }
        if (packet_queue(l, data, len) != 0) return;
        client_pause_check(l);
        apply_read_pause(l);
        return;
    }
    uint8_t head[WS_GW_LEN_HEADER], tail;
    size_t head_len, tail_len;
    if (ws_gwframe_wrap(l->framing, type, data, len, head, &head_len, &tail, &tail_len) != 0) {
        char reason[100];
        int n = snprintf(reason, sizeof reason, "gateway: the service takes text without %s (%s framing)",
                         l->framing == WS_GW_FRAMING_LINE ? "newlines" : "NUL bytes",
                         l->framing == WS_GW_FRAMING_LINE ? "line" : "nul");
        if (l->framing == WS_GW_FRAMING_LENGTH) n = snprintf(reason, sizeof reason, "gateway: message too large");
        gather_flush(l); /* the messages before it still go */
        if (l->conn) ws_conn_close(l->conn, WS_CLOSE_UNSUPPORTED, reason, (size_t)n, 1);
        link_down(l);
        return;
    }
    if (gather_add(l, head, head_len, data, len, &tail, tail_len) == 0) return;
    gather_flush(l);
    if (l->flags & LINK_DOWN) return;
    uv_buf_t parts[3];
    unsigned n = 0;
    if (head_len) parts[n++] = uv_buf_init((char *)head, (unsigned)head_len);
    if (len) parts[n++] = uv_buf_init((char *)data, (unsigned)len);
    if (tail_len) parts[n++] = uv_buf_init((char *)&tail, 1);
    if (n) stream_write(l, parts, n);
}

void ws_gateway_client_drained(ws_gw_link *l) {
    if (!(l->flags & LINK_READ_PAUSED) || (l->flags & LINK_DOWN)) return;
    l->flags &= ~(unsigned)LINK_READ_PAUSED;
    apply_read_pause(l);
}

/* ---- opening -------------------------------------------------------- */

/* A socket bound to the relay's name and connected to path: the fd, or a
 * negative errno. */
static int connect_backend(const char *path, int type, const char *address, int port, uint64_t id) {
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    for (int attempt = 0; attempt < 4; attempt++) { /* the name is taken only if another process numbers alike */
        size_t n = ws_gw_bind_name(a.sun_path, sizeof a.sun_path, address, port,
                                   id + ((uint64_t)attempt << 48) + (attempt ? (uint64_t)getpid() << 32 : 0));
        if (!n || bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == 0) break;
        if (errno != EADDRINUSE) break;
    }
    struct sockaddr_un to = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    if (plen >= sizeof to.sun_path) { /* gwpath made sure it fits */
        close(fd);
        return -ENAMETOOLONG;
    }
    memcpy(to.sun_path, path, plen + 1);
    int r;
    do r = connect(fd, (struct sockaddr *)&to, sizeof to);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int ws_gateway_open(ws_gateway *gw, ws_conn *c, ws_gw_target *t, const char *address, int port, uint64_t id,
                    char *extensions, size_t extensions_cap) {
    if (c->state != WS_CONN_PENDING) return -1;
    static const int types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    int fd = -EPROTOTYPE, type = 0;
    for (size_t i = 0; i < 3 && fd == -EPROTOTYPE; i++) {
        if (gw->direct && types[i] == SOCK_DGRAM) break; /* a socket travels over a connection */
        type = types[i];
        fd = connect_backend(t->target, type, address, port, id);
    }
    if (fd < 0) {
        int e = -fd;
        if (e == EAGAIN) {
            refuse(t, 503, "gateway: service '%s' is busy (its backlog is full)", t->name);
        } else if (e == ECONNREFUSED || e == ENOENT) {
            refuse(t, 502, "gateway: service '%s' refused the connection", t->name);
        } else {
            char fmt[200];
            snprintf(fmt, sizeof fmt, "gateway: cannot connect to service '%%s': %s", strerror(e));
            refuse(t, 502, fmt, t->name);
        }
        ws_conn_reject(c, t->status, t->reason);
        return t->status;
    }
    ws_conn_rare *rare = ws_conn_rare_fields(c);
    ws_gw_link *l = rare ? calloc(1, sizeof *l) : NULL;
    if (!l) {
        close(fd);
        refuse(t, 503, "gateway: out of memory%s", "");
        ws_conn_reject(c, t->status, t->reason);
        return t->status;
    }
    l->conn = c;
    l->gw = gw;
    l->fd = fd;
    l->type = type;
    l->framing = gw->framing;
    l->h.handle.data = l;
    snprintf(l->name, sizeof l->name, "%s", t->name);
    snprintf(l->protocol, sizeof l->protocol, "%s", t->protocol);
    snprintf(l->address, sizeof l->address, "%s", address);
    l->port = (uint16_t)port;
    struct stat st;
    if (stat(t->target, &st) == 0 && (l->target = strdup(t->target)) != NULL) {
        l->target_dev = st.st_dev;
        l->target_ino = st.st_ino;
    }
    uv_loop_t *loop = c->srv->loop;
    int r = 0;
    if (gw->direct) {
        l->flags |= LINK_DIRECT;
    } else if (type == SOCK_STREAM) {
        r = uv_pipe_init(loop, &l->h.pipe, 0);
        if (r == 0) {
            l->flags |= LINK_HANDLE_OPEN;
            r = uv_pipe_open(&l->h.pipe, fd);
            if (r == 0) r = uv_read_start((uv_stream_t *)&l->h.pipe, on_stream_alloc, on_stream_read);
        }
    } else {
        r = uv_poll_init_socket(loop, &l->h.poll, fd);
        if (r == 0) {
            l->flags |= LINK_HANDLE_OPEN;
            l->poll_events = UV_READABLE | UV_DISCONNECT;
            r = uv_poll_start(&l->h.poll, l->poll_events, on_poll);
        }
    }
    l->h.handle.data = l;
    rare->gw = l;
    if (r != 0) {
        refuse(t, 503, "gateway: cannot watch the connection to service '%s'", t->name);
        ws_conn_reject(c, t->status, t->reason);
        return t->status;
    }
    int saved_deflate = c->srv->cfg.deflate;
    if (gw->direct) c->srv->cfg.deflate = 0; /* the service speaks plain frames: offer no extension */
    r = ws_conn_accept(c, t->protocol[0] ? t->protocol : NULL, strlen(t->protocol), extensions, extensions_cap);
    c->srv->cfg.deflate = saved_deflate;
    if (r != 0) return -1;
    if (gw->direct) { /* what the client sends next stays in the socket for the service */
        ws_conn_read_pause(c, 1);
        ws_server_mark_dirty(c->srv, c); /* the flush hands it off once the 101 is written */
    }
    return 0;
}

/* ---- direct mode ---------------------------------------------------- */

int ws_gateway_is_direct(const ws_gw_link *l) {
    return (l->flags & LINK_DIRECT) != 0;
}

int ws_gateway_direct_bytes(ws_gw_link *l, const uint8_t *p, size_t n) {
    if (l->in.len + n > WS_GW_DIRECT_MAX_PENDING) return -1;
    return ws_bytes_append(&l->in, p, n);
}

int ws_gateway_hand_off(ws_gw_link *l, int client_fd, uint64_t max_payload) {
    ws_gw_direct d = {
        .flags = 0,
        .port = l->port,
        .address = l->address, .address_len = strlen(l->address),
        .protocol = l->protocol, .protocol_len = strlen(l->protocol),
        .name = l->name, .name_len = strlen(l->name),
        .pending = l->in.data, .pending_len = l->in.len,
        .max_payload = max_payload,
    };
    /* The service gets the socket in blocking mode, as ouistiti gives it (file status flags travel with it;
     * this server does no more I/O on it). */
    int fl = fcntl(client_fd, F_GETFL);
    if (fl >= 0) fcntl(client_fd, F_SETFL, fl & ~O_NONBLOCK);
    size_t size = ws_gw_direct_size(&d);
    uint8_t *rec = size ? malloc(size) : NULL;
    if (!rec) return -1;
    ws_gw_direct_encode(rec, size, &d);
    struct iovec iov = {.iov_base = rec, .iov_len = size};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space, .msg_controllen = sizeof ctl.space};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &client_fd, sizeof(int));
    /* The record is small (bounded by WS_GW_DIRECT_MAX) and the socket fresh: one send takes it or it fails. */
    ssize_t r;
    do r = sendmsg(l->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    free(rec);
    return r == (ssize_t)size ? 0 : -1;
}
