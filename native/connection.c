#include "connection.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deflate.h"
#include "docroot.h"
#include "sockjs.h"
#include "sockjs_session.h"
#include "gateway.h"
#include "handshake.h"
#include "hixie.h"
#include "http.h"
#include "policy.h"
#include "proxy.h"
#include "tls.h"

#define WS_MAX_SERVER_HEADER 10 /* server frames are unmasked */
#define WS_WRITE_IOV 64
#define WS_SEND_DIRECT_MIN 16384 /* messages from this size on are written at once when they can be */

static void process_frames(ws_conn *c, uint8_t *p, size_t n);
static void finish(ws_conn *c);
static void linger(ws_conn *c);
static void resume_reading(ws_conn *c);

#define WS_PENDING_MAX_BYTES (1u << 20) /* bytes kept from a client while its upgrade is decided */
#define WS_DEFLATE_IDLE_MS 1000        /* a connection quiet this long gives back zlib state it need not keep */

/* ---- write queue ---------------------------------------------------- */

/* Write queues come and go with every burst of sends; their first array
 * is recycled through a per-thread free list rather than malloc'd each time. */
#define WS_CHUNKS_FIRST 16 /* a burst of multicasts: one array per subscriber per flush */
#define WS_CHUNKS_POOL_MAX 4096
static _Thread_local ws_chunk **chunk_pool;
static _Thread_local unsigned chunk_pool_count;

static ws_chunk *chunks_take(void) {
    if (chunk_pool) {
        ws_chunk **p = chunk_pool;
        chunk_pool = *(ws_chunk ***)p;
        chunk_pool_count--;
        return (ws_chunk *)p;
    }
    return malloc(WS_CHUNKS_FIRST * sizeof(ws_chunk));
}

void ws_conn_pools_release(void) {
    while (chunk_pool) {
        ws_chunk **p = chunk_pool;
        chunk_pool = *(ws_chunk ***)p;
        free(p);
    }
    chunk_pool_count = 0;
}

static void chunks_give(ws_chunk *a, uint16_t cap) {
    if (cap == WS_CHUNKS_FIRST && chunk_pool_count < WS_CHUNKS_POOL_MAX) {
        *(ws_chunk ***)a = chunk_pool;
        chunk_pool = (ws_chunk **)a;
        chunk_pool_count++;
    } else {
        free(a);
    }
}

static int push_chunk(ws_conn *c, ws_buf *b, size_t off, size_t len) {
    if (c->n_chunks == c->cap_chunks) {
        if (c->cap_chunks >= UINT16_MAX / 2) return -1;
        ws_chunk *p;
        if (!c->cap_chunks) {
            p = chunks_take();
        } else if (c->cap_chunks == WS_CHUNKS_FIRST) { /* leaving the pooled size */
            p = malloc(2 * WS_CHUNKS_FIRST * sizeof *p);
            if (p) {
                memcpy(p, c->chunks, c->n_chunks * sizeof *p);
                chunks_give(c->chunks, WS_CHUNKS_FIRST);
            }
        } else {
            p = realloc(c->chunks, 2u * c->cap_chunks * sizeof *p);
        }
        if (!p) return -1;
        c->chunks = p;
        c->cap_chunks = c->cap_chunks ? (uint16_t)(c->cap_chunks * 2) : WS_CHUNKS_FIRST;
    }
    c->chunks[c->n_chunks++] = (ws_chunk){b, (uint32_t)off, (uint32_t)len};
    return 0;
}

/* Room for n more bytes at the tail of the queue: appended to the last
 * buffer when it is ours alone and not being written, else a new one. */
static uint8_t *queue_space(ws_conn *c, size_t n) {
    if (n > UINT32_MAX) return NULL;
    if (c->n_chunks > c->inflight && c->n_chunks > c->sealed) {
        ws_chunk *last = &c->chunks[c->n_chunks - 1];
        ws_buf *b = last->buf;
        if (b->refs == 1 && last->off + last->len == b->len && b->cap - b->len >= n &&
            (uint64_t)last->len + n <= UINT32_MAX)
            return b->data + b->len;
    }
    ws_buf *b = ws_buf_new(n);
    if (!b) return NULL;
    if (push_chunk(c, b, 0, 0) != 0) {
        ws_buf_unref(b);
        return NULL;
    }
    return b->data;
}

/* The n bytes written at queue_space() are now part of the queue. */
static void queue_commit(ws_conn *c, size_t n) {
    ws_chunk *last = &c->chunks[c->n_chunks - 1];
    last->buf->len += n;
    last->len += (uint32_t)n;
    c->queued += n;
    ws_server_mark_dirty(c->srv, c);
}

static int queue_bytes(ws_conn *c, const void *p, size_t n) {
    uint8_t *dst = queue_space(c, n);
    if (!dst) return -1;
    memcpy(dst, p, n);
    queue_commit(c, n);
    return 0;
}

/* Drops `bytes` written bytes from the front of the queue. */
static void consume(ws_conn *c, size_t bytes) {
    uint16_t i = 0;
    c->queued -= bytes;
    while (bytes && i < c->n_chunks) {
        ws_chunk *ch = &c->chunks[i];
        if (bytes >= ch->len) {
            bytes -= ch->len;
            ws_buf_unref(ch->buf);
            i++;
        } else {
            ch->off += (uint32_t)bytes;
            ch->len -= (uint32_t)bytes;
            bytes = 0;
        }
    }
    if (i) {
        memmove(c->chunks, c->chunks + i, (c->n_chunks - i) * sizeof *c->chunks);
        c->n_chunks = (uint16_t)(c->n_chunks - i);
        c->sealed = c->sealed > i ? (uint16_t)(c->sealed - i) : 0;
    }
    if (!c->n_chunks && c->chunks) { /* an idle connection holds no write memory */
        chunks_give(c->chunks, c->cap_chunks);
        c->chunks = NULL;
        c->cap_chunks = 0;
    }
}

/* Drops queued bytes that are not being written (for a reader too slow to
 * keep: what is queued for it will never be read in time). */
static void drop_unsent(ws_conn *c) {
    while (c->n_chunks > c->inflight && c->n_chunks > c->sealed) { /* ciphertext stays: the TLS stream needs it */
        ws_chunk *ch = &c->chunks[--c->n_chunks];
        c->queued -= ch->len;
        ws_buf_unref(ch->buf);
    }
}

static void release_chunks(ws_conn *c) {
    for (uint16_t i = 0; i < c->n_chunks; i++) ws_buf_unref(c->chunks[i].buf);
    if (c->chunks) chunks_give(c->chunks, c->cap_chunks);
    c->chunks = NULL;
    c->n_chunks = c->cap_chunks = c->inflight = c->sealed = 0;
    c->queued = 0;
}

static int queue_frame_rsv(ws_conn *c, int opcode, int rsv, const void *payload, size_t len) {
    uint8_t *dst = queue_space(c, WS_MAX_SERVER_HEADER + len);
    if (!dst) return -1;
    size_t h = ws_frame_header(dst, 1, rsv, opcode, len, NULL);
    if (len) memcpy(dst + h, payload, len);
    queue_commit(c, h + len);
    return 0;
}

/* A legacy-draft frame: 0x00 <text> 0xFF, or 76's length-prefixed binary. */
static int queue_hixie(ws_conn *c, int opcode, const void *payload, size_t len) {
    int binary = opcode != WS_OP_TEXT;
    size_t t = ws_hixie_trailer_size(binary);
    uint8_t *dst = queue_space(c, WS_HIXIE_MAX_HEADER + len + t);
    if (!dst) return -1;
    size_t h = ws_hixie_header(dst, binary, len);
    if (len) memcpy(dst + h, payload, len);
    if (t) dst[h + len] = 0xff;
    queue_commit(c, h + len + t);
    return 0;
}

static int queue_frame(ws_conn *c, int opcode, const void *payload, size_t len) {
    if (ws_conn_legacy(c)) return opcode == WS_OP_TEXT || opcode == WS_OP_BINARY ? queue_hixie(c, opcode, payload, len) : 0;
    return queue_frame_rsv(c, opcode, 0, payload, len);
}

/* ---- SockJS ---------------------------------------------------------- */

static int sjs_role(const ws_conn *c) {
    return c->rare ? c->rare->sjs_role : WS_SJS_ROLE_NONE;
}

/* A message on a SockJS connection: a text frame whose payload is the
 * message as a JSON string (a session's queue: its receivers join them into
 * a[...]) or a[<string>] (the framed WebSocket). */
static int sjs_queue(ws_conn *c, const uint8_t *data, size_t len) {
    int ws = sjs_role(c) == WS_SJS_ROLE_WEBSOCKET;
    size_t bound = ws_sjs_quote_bound(len) + (ws ? 3 : 0);
    size_t hmax = ws_frame_header_size(bound, 0);
    uint8_t *dst = queue_space(c, hmax + bound);
    if (!dst) return -1;
    size_t n = 0;
    if (ws) {
        dst[hmax] = 'a';
        dst[hmax + 1] = '[';
        n = 2;
    }
    n += ws_sjs_quote(dst + hmax + n, data, len);
    if (ws) dst[hmax + n++] = ']';
    size_t h = ws_frame_header_size(n, 0);
    if (h < hmax) memmove(dst + h, dst + hmax, n);
    ws_frame_header(dst, 1, 0, WS_OP_TEXT, n, NULL);
    queue_commit(c, h + n);
    if (ws) c->rare->sjs_t_out = ws_server_now(c->srv);
    return 0;
}

/* The payload of a server frame (unmasked, well-formed: we built it). */
static const uint8_t *frame_payload(const uint8_t *p, size_t *len) {
    size_t n = p[1] & 0x7f, h = 2;
    if (n == 126) n = (size_t)p[2] << 8 | p[3], h = 4;
    else if (n == 127) {
        n = 0;
        for (int i = 0; i < 8; i++) n = n << 8 | p[2 + i];
        h = 10;
    }
    *len = n;
    return p + h;
}

/* permessage-deflate on a message we send: into the server's scratch
 * buffer. Once compressed it must go out compressed: with context takeover
 * the peer's inflater has to see every byte our deflater saw. */
static const ws_bytes *compressed(ws_conn *c, const uint8_t *p, size_t len) {
    if (!c->deflate || len < c->srv->cfg.deflate_cfg.threshold) return NULL;
    ws_bytes *out = &c->srv->scratch;
    out->len = 0;
    return ws_deflate_compress(c->deflate, p, len, out) == 0 ? out : NULL;
}

/* What the socket takes now, without blocking: bytes written (0 when it
 * takes none), or a negative error. On Linux a send()/sendmsg() of our own: the socket layer
 * directly, no write(2) file path, and no SIGPIPE. Only called while no
 * uv_write is pending, so libuv's queue is empty and order holds. */
static int try_write(ws_conn *c, uv_buf_t *bufs, unsigned n) {
#ifdef __linux__
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return UV_EBADF;
    ssize_t r;
    do {
        if (n == 1) {
            r = send(fd, bufs[0].base, bufs[0].len, MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            struct msghdr m = {.msg_iov = (struct iovec *)bufs, .msg_iovlen = n}; /* uv_buf_t is an iovec on Unix */
            r = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
        c->srv->stats.bytes_written += (uint64_t)r;
        return r > INT_MAX ? INT_MAX : (int)r;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
#else
    int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
    if (r > 0) c->srv->stats.bytes_written += (uint64_t)r;
    return r == UV_EAGAIN || r == UV_ENOSYS ? 0 : r;
#endif
}

/* The queue as iovecs (at most WS_WRITE_IOV); returns how many. */
static unsigned queue_iov(const ws_conn *c, uv_buf_t *bufs) {
    unsigned n = c->n_chunks < WS_WRITE_IOV ? c->n_chunks : WS_WRITE_IOV;
    for (unsigned i = 0; i < n; i++)
        bufs[i] = uv_buf_init((char *)c->chunks[i].buf->data + c->chunks[i].off, c->chunks[i].len);
    return n;
}

/* Writes the queue, then parts straight from the caller's memory, as far as
 * the socket takes them now; only the rest of parts is copied into the
 * queue. So a large send or a handshake answer needs no write buffer when
 * the socket keeps up. TLS and stream connections, and one with a write in
 * flight, queue it all. 0, or -1 (out of memory, or the socket failed: the
 * connection is finished). */
static int write_through(ws_conn *c, const uv_buf_t *parts, unsigned n_parts) {
    size_t total = 0, written = 0;
    for (unsigned i = 0; i < n_parts; i++) total += parts[i].len;
    if (!c->inflight && !c->tls && !(c->flags & WS_CONN_F_STREAM) && c->n_chunks + n_parts <= WS_WRITE_IOV) {
        uv_buf_t bufs[WS_WRITE_IOV];
        unsigned n = queue_iov(c, bufs);
        memcpy(bufs + n, parts, n_parts * sizeof *parts);
        int r = try_write(c, bufs, n + n_parts);
        if (r < 0) {
            finish(c);
            return -1;
        }
        size_t queued = c->queued;
        consume(c, (size_t)r < queued ? (size_t)r : queued);
        written = (size_t)r > queued ? (size_t)r - queued : 0; /* of parts */
        if (written == total && !c->n_chunks && (c->flags & WS_CONN_F_NEED_DRAIN))
            ws_server_mark_dirty(c->srv, c); /* the flush reports the drain */
    }
    if (written == total) return 0;
    uint8_t *dst = queue_space(c, total - written);
    if (!dst) { /* part of it may be out: nothing else may follow */
        finish(c);
        return -1;
    }
    size_t skip = written, at = 0;
    for (unsigned i = 0; i < n_parts; i++) {
        size_t len = parts[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(dst + at, parts[i].base + skip, len - skip);
        at += len - skip;
        skip = 0;
    }
    queue_commit(c, at);
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    ws_conn *c = req->handle->data;
    ws_server_req_free(c->srv, (ws_req *)req);
    (void)status; /* EOF from the peer, or the deadline, ends the linger */
}

/* The queue emptied: tell JS if it was waiting, and end a lingering
 * connection with a half-close so the peer sees every byte before EOF. */
static void hand_off(ws_conn *c);

static ws_gw_link *gateway_link(const ws_conn *c) {
    return c->rare ? c->rare->gw : NULL;
}

static void drained(ws_conn *c) {
    ws_gw_link *gw = gateway_link(c);
    if (gw && c->state == WS_CONN_OPEN) {
        if (ws_gateway_is_direct(gw)) {
            hand_off(c);
            return;
        }
        ws_gateway_client_drained(gw);
    }
    if ((c->flags & WS_CONN_F_NEED_DRAIN) && c->state == WS_CONN_OPEN) {
        c->flags &= (uint16_t)~WS_CONN_F_NEED_DRAIN;
        if (ws_events_add(&c->srv->events, WS_EVENT_DRAIN, 0, 0, c->slot, 0)) ws_server_wake(c->srv);
    }
    if (c->state == WS_CONN_LINGER && !(c->flags & WS_CONN_F_SHUTDOWN)) {
        if (c->tls && !(c->flags & WS_CONN_F_TLS_CLOSED)) {
            c->flags |= WS_CONN_F_TLS_CLOSED;
            ws_tls_shutdown(c->tls);
            ws_server_mark_dirty(c->srv, c); /* the close_notify goes out first */
            return;
        }
        c->flags |= WS_CONN_F_SHUTDOWN;
        if (c->flags & WS_CONN_F_STREAM) {
            if (ws_events_add(&c->srv->events, WS_EVENT_END, 0, 0, c->slot, 0)) ws_server_wake(c->srv);
            return;
        }
        ws_req *r = ws_server_req(c->srv);
        if (!r || uv_shutdown(&r->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
            if (r) ws_server_req_free(c->srv, r);
            finish(c);
        }
    }
}

static void on_write(uv_write_t *req, int status) {
    ws_conn *c = req->handle->data;
    ws_server_req_free(c->srv, (ws_req *)req);
    if (c->state == WS_CONN_CLOSED) return; /* cancelled by uv_close; on_closed frees the queue */
    size_t bytes = 0;
    for (uint16_t i = 0; i < c->inflight; i++) bytes += c->chunks[i].len;
    c->inflight = 0;
    if (status < 0) {
        finish(c);
        return;
    }
    c->srv->stats.bytes_written += bytes;
    consume(c, bytes);
    if (c->n_chunks) ws_conn_flush(c);
    else drained(c);
}

/* TLS: every plaintext chunk not yet sealed goes through the session, and
 * what comes out becomes one ciphertext chunk. */
static int seal(ws_conn *c) {
    int failed = 0;
    for (uint16_t i = c->sealed; i < c->n_chunks; i++) { /* the plaintext chunks are the last ones */
        ws_chunk *ch = &c->chunks[i];
        if (!failed && ws_tls_write(c->tls, ch->buf->data + ch->off, ch->len) != 0) failed = 1;
        c->queued -= ch->len;
        ws_buf_unref(ch->buf);
    }
    c->n_chunks = c->sealed;
    if (failed) return -1;
    size_t pending = ws_tls_pending(c->tls);
    if (!pending) return 0;
    ws_buf *b = ws_buf_new(pending);
    if (!b) return -1;
    b->len = ws_tls_take(c->tls, b->data, pending);
    if (push_chunk(c, b, 0, b->len) != 0) {
        ws_buf_unref(b);
        return -1;
    }
    c->queued += b->len;
    c->sealed = c->n_chunks;
    return 0;
}

/* A stream connection: the bytes go to JS, which writes them to its socket. */
static void hand_to_js(ws_conn *c) {
    for (uint16_t i = 0; i < c->n_chunks; i++) {
        ws_chunk *ch = &c->chunks[i];
        uint8_t *dst = ws_events_add(&c->srv->events, WS_EVENT_WRITE, 0, 0, c->slot, ch->len);
        if (!dst) {
            finish(c);
            return;
        }
        memcpy(dst, ch->buf->data + ch->off, ch->len);
    }
    ws_server_wake(c->srv);
    c->srv->stats.bytes_written += c->queued;
    consume(c, c->queued);
    drained(c);
}

void ws_conn_flush(ws_conn *c) {
    uv_buf_t bufs[WS_WRITE_IOV];
    if (c->state == WS_CONN_CLOSED || c->inflight) return;
    if (sjs_role(c) == WS_SJS_ROLE_SESSION) { /* its queue waits for a receiver */
        ws_sjs_flush(c);
        return;
    }
    if (c->tls && seal(c) != 0) {
        finish(c);
        return;
    }
    if (c->flags & WS_CONN_F_STREAM) {
        hand_to_js(c);
        return;
    }
    if (!c->n_chunks) {
        drained(c);
        return;
    }
    unsigned n;
    if (c->n_chunks > 1 && c->queued <= WS_GATHER_SIZE) { /* e.g. multicast frames: one copy beats many iovecs */
        uint8_t *g = c->srv->gather;
        size_t len = 0;
        for (uint16_t i = 0; i < c->n_chunks; i++) {
            memcpy(g + len, c->chunks[i].buf->data + c->chunks[i].off, c->chunks[i].len);
            len += c->chunks[i].len;
        }
        bufs[0] = uv_buf_init((char *)g, (unsigned)len);
        n = 1;
    } else {
        n = queue_iov(c, bufs);
    }
    int r = try_write(c, bufs, n);
    if (r < 0) {
        finish(c);
        return;
    }
    consume(c, (size_t)r);
    if (!c->n_chunks) {
        drained(c);
        return;
    }
    n = queue_iov(c, bufs);
    ws_req *req = ws_server_req(c->srv);
    if (!req || uv_write(&req->write, (uv_stream_t *)&c->tcp, bufs, n, on_write) != 0) {
        if (req) ws_server_req_free(c->srv, req);
        finish(c);
        return;
    }
    c->inflight = (uint16_t)n;
}

size_t ws_conn_buffered(const ws_conn *c) {
    return c->queued;
}

/* ---- sending -------------------------------------------------------- */

/* before: bytes queued before this message. The cap is for a reader that
 * falls behind, so it applies to what was already waiting: one message
 * larger than the cap still goes to a reader that keeps up. */
static int after_send(ws_conn *c, size_t before) {
    const ws_server_config *cfg = &c->srv->cfg;
    if (before > cfg->max_buffered) {
        drop_unsent(c);
        static const char reason[] = "send queue exceeded maxBufferedAmount";
        ws_conn_close(c, WS_CLOSE_POLICY, reason, sizeof reason - 1, 1);
        return 0;
    }
    if (c->queued >= cfg->high_water_mark) {
        c->flags |= WS_CONN_F_NEED_DRAIN;
        return 0;
    }
    return 1;
}

static void counted_out(ws_conn *c, size_t len) {
    c->srv->stats.messages_out++;
    c->srv->stats.payload_out += len;
}

static int can_send(const ws_conn *c) {
    return c->state == WS_CONN_OPEN && !(c->flags & WS_CONN_F_CLOSE_SENT);
}

/* A large message goes out through write_through: from the caller's memory
 * when the socket takes it. */
static int send_large(ws_conn *c, int opcode, const uint8_t *data, size_t len) {
    uint8_t header[WS_MAX_SERVER_HEADER];
    size_t h = ws_frame_header(header, 1, 0, opcode, len, NULL);
    uv_buf_t parts[2] = {uv_buf_init((char *)header, (unsigned)h), uv_buf_init((char *)data, (unsigned)len)};
    return write_through(c, parts, 2);
}

int ws_conn_send(ws_conn *c, int opcode, const void *data, size_t len) {
    if (!can_send(c)) return -1;
    size_t before = c->queued;
    if (sjs_role(c) == WS_SJS_ROLE_SESSION || sjs_role(c) == WS_SJS_ROLE_WEBSOCKET) { /* SockJS carries text */
        if (sjs_queue(c, data, len) != 0) return -1;
        counted_out(c, len);
        return after_send(c, before);
    }
    const ws_bytes *z = compressed(c, data, len);
    int r;
    if (z) r = queue_frame_rsv(c, opcode, WS_RSV1, z->data, z->len);
    else if (ws_conn_legacy(c)) r = queue_hixie(c, opcode, data, len);
    else if (len >= WS_SEND_DIRECT_MIN && len <= UINT_MAX) r = send_large(c, opcode, data, len);
    else r = queue_frame(c, opcode, data, len);
    if (r != 0) return -1;
    counted_out(c, len);
    return after_send(c, before);
}

uint8_t *ws_conn_send_reserve(ws_conn *c, size_t max_len, ws_reservation *r) {
    if (!can_send(c)) return NULL;
    if (sjs_role(c) == WS_SJS_ROLE_SESSION || sjs_role(c) == WS_SJS_ROLE_WEBSOCKET) { /* quoted on commit */
        ws_bytes *s = &c->srv->scratch;
        s->len = 0;
        uint8_t *p = ws_bytes_reserve(s, max_len);
        if (!p) return NULL;
        r->base = p;
        r->header = 0;
        return p;
    }
    r->base = queue_space(c, WS_MAX_SERVER_HEADER + max_len);
    if (!r->base) return NULL;
    r->header = ws_conn_legacy(c) ? 1 : ws_frame_header_size(max_len, 0); /* legacy: a text frame's 0x00 */
    return r->base + r->header;
}

int ws_conn_send_commit(ws_conn *c, const ws_reservation *r, int opcode, size_t len) {
    size_t before = c->queued;
    if (sjs_role(c) == WS_SJS_ROLE_SESSION || sjs_role(c) == WS_SJS_ROLE_WEBSOCKET) {
        if (sjs_queue(c, r->base, len) != 0) return -1;
        counted_out(c, len);
        return after_send(c, before);
    }
    const ws_bytes *z = compressed(c, r->base + r->header, len);
    if (z) { /* the reservation is left unused; the compressed frame goes after it */
        if (queue_frame_rsv(c, opcode, WS_RSV1, z->data, z->len) != 0) return -1;
        counted_out(c, len);
        return after_send(c, before);
    }
    counted_out(c, len);
    if (ws_conn_legacy(c)) { /* the reservation has room for the longest prefix and the 0xFF */
        int binary = opcode != WS_OP_TEXT;
        size_t h = ws_hixie_header_size(binary, len), t = ws_hixie_trailer_size(binary);
        if (h != r->header) memmove(r->base + h, r->base + r->header, len);
        ws_hixie_header(r->base, binary, len);
        if (t) r->base[h + len] = 0xff;
        queue_commit(c, h + len + t);
        return after_send(c, before);
    }
    size_t h = ws_frame_header_size(len, 0);
    if (h < r->header) memmove(r->base + h, r->base + r->header, len); /* keep the length minimal */
    ws_frame_header(r->base, 1, 0, opcode, len, NULL);
    queue_commit(c, h + len);
    return after_send(c, before);
}

int ws_conn_send_shared(ws_conn *c, ws_buf *frame, uint64_t limit) {
    if (!can_send(c)) return -1;
    if (c->queued > limit) return 0;
    if (sjs_role(c) == WS_SJS_ROLE_SESSION || sjs_role(c) == WS_SJS_ROLE_WEBSOCKET) { /* quoted for SockJS */
        size_t len;
        const uint8_t *p = frame_payload(frame->data, &len);
        return sjs_queue(c, p, len) == 0 ? 1 : -1;
    }
    if (push_chunk(c, frame, 0, frame->len) != 0) return -1;
    ws_buf_ref(frame);
    c->queued += frame->len;
    ws_server_mark_dirty(c->srv, c);
    return 1;
}

void ws_conn_close_slow(ws_conn *c) {
    drop_unsent(c);
    static const char reason[] = "subscriber too slow: exceeded maxBackpressure";
    ws_conn_close(c, WS_CLOSE_POLICY, reason, sizeof reason - 1, 1);
}

int ws_conn_ping(ws_conn *c, const void *data, size_t len) {
    if (sjs_role(c) == WS_SJS_ROLE_SESSION) return 0; /* no pings in SockJS's HTTP transports */
    if (!can_send(c) || len > WS_MAX_CONTROL) return -1;
    if (ws_conn_legacy(c)) return 0; /* the drafts have no ping */
    return queue_frame(c, WS_OP_PING, data, len);
}

/* ---- closing -------------------------------------------------------- */

ws_conn_rare *ws_conn_rare_fields(ws_conn *c) {
    if (!c->rare) c->rare = calloc(1, sizeof *c->rare);
    return c->rare;
}

/* Out of memory, the close event reports the code without its reason. */
static void set_close(ws_conn *c, uint16_t code, const char *reason, size_t len) {
    c->close_code = code;
    if (c->rare) {
        free(c->rare->close_reason);
        c->rare->close_reason = NULL;
    }
    if (len) {
        ws_conn_rare *r = ws_conn_rare_fields(c);
        char *copy = r ? malloc(len + 1) : NULL;
        if (copy) {
            memcpy(copy, reason, len);
            copy[len] = 0;
            r->close_reason = copy;
        }
    }
}

static void queue_close_frame(ws_conn *c, uint16_t code, const char *reason, size_t len) {
    if (ws_conn_legacy(c)) { /* the drafts' close carries no code or reason */
        c->flags |= WS_CONN_F_CLOSE_SENT;
        if (queue_bytes(c, WS_HIXIE_CLOSE, 2) != 0) finish(c);
        return;
    }
    uint8_t payload[WS_MAX_CONTROL] = {0};
    size_t n = 0;
    if (code != WS_CLOSE_NO_STATUS) {
        if (len > WS_MAX_CONTROL - 2) len = WS_MAX_CONTROL - 2;
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        if (len) memcpy(payload + 2, reason, len);
        n = 2 + len;
    }
    c->flags |= WS_CONN_F_CLOSE_SENT;
    if (queue_frame(c, WS_OP_CLOSE, payload, n) != 0) finish(c);
}

void ws_conn_close(ws_conn *c, uint16_t code, const char *reason, size_t len, int error) {
    if (c->state != WS_CONN_OPEN || (c->flags & WS_CONN_F_CLOSE_SENT)) return;
    if (len > WS_MAX_CONTROL - 2) len = WS_MAX_CONTROL - 2;
    if (sjs_role(c) == WS_SJS_ROLE_SESSION) {
        if (error) c->flags |= WS_CONN_F_ERROR;
        ws_sjs_close(c, code, reason, len);
        return;
    }
    if (sjs_role(c) == WS_SJS_ROLE_RECEIVER) { /* an HTTP response (shutdown): its session says why */
        linger(c);
        return;
    }
    if (sjs_role(c) == WS_SJS_ROLE_WEBSOCKET) { /* SockJS's own close frame first */
        char frame[400];
        size_t n = ws_sjs_close_frame(frame, sizeof frame, code, reason, len);
        if (n) queue_frame(c, WS_OP_TEXT, frame, n);
    }
    set_close(c, code, reason, len);
    if (error) c->flags |= WS_CONN_F_ERROR;
    c->state = WS_CONN_CLOSING;
    c->t_state = ws_server_now(c->srv);
    queue_close_frame(c, code, reason, len);
}

/* A violation: answer with the close code and stop reading frames (the
 * parser cannot resync); the socket lingers until the peer closes. */
static void fail(ws_conn *c, uint16_t code, const char *reason) {
    size_t len = reason ? strlen(reason) : 0;
    if (c->state == WS_CONN_OPEN && !(c->flags & WS_CONN_F_CLOSE_SENT)) {
        set_close(c, code, reason, len);
        queue_close_frame(c, code, reason, len);
    }
    c->flags |= WS_CONN_F_ERROR;
    linger(c);
}

static void on_close_frame(ws_conn *c, uint16_t code, const uint8_t *reason, size_t len) {
    c->flags |= WS_CONN_F_CLOSE_RECEIVED;
    if (!(c->flags & WS_CONN_F_CLOSE_SENT)) {
        /* The peer started it: the event reports its code; echo the code. */
        set_close(c, code, (const char *)reason, len);
        queue_close_frame(c, code, NULL, 0);
    }
    linger(c);
}

/* Stop reading frames; once the queue is written, half-close and wait for
 * the peer's EOF (bounded by closeTimeout), so the last bytes are not lost
 * to a reset. */
static void linger(ws_conn *c) {
    if (c->state >= WS_CONN_LINGER) return;
    c->state = WS_CONN_LINGER;
    c->t_state = ws_server_now(c->srv);
    ws_bytes_free(&c->in);
    if (c->flags & WS_CONN_F_IN_UPGRADE) return;
    resume_reading(c); /* to see the peer's EOF */
    ws_server_mark_dirty(c->srv, c);
}

void ws_conn_free_handle(uv_handle_t *h) {
    ws_conn *c = h->data;
    ws_server *srv = c->srv;
    release_chunks(c);
    if (c->parser) {
        ws_parser_free(c->parser);
        free(c->parser);
    }
    if (c->tls) ws_tls_free(c->tls);
    if (c->deflate) ws_deflate_free(c->deflate);
    ws_bytes_free(&c->in);
    if (c->rare) {
        free(c->rare->close_reason);
        free(c->rare->peer);
        free(c->rare->sjs_answer);
        free(c->rare);
    }
    free(c);
    ws_server_conn_freed(srv);
}

/* The end: report the close to JS (when JS knows the connection) and
 * close the socket. */
static void finish(ws_conn *c) {
    if (c->state == WS_CONN_CLOSED) return;
    ws_server *srv = c->srv;
    if (c->subs) ws_pubsub_unsubscribe_all(srv, c);
    if (gateway_link(c)) {
        ws_gateway_client_gone(c->rare->gw);
        c->rare->gw = NULL;
    }
    if (c->rare && c->rare->sjs) ws_sjs_conn_gone(c);
    if (c->flags & WS_CONN_F_JS) {
        uint16_t code = c->close_code ? c->close_code : WS_CLOSE_ABNORMAL;
        uint8_t flags = 0;
        if ((c->flags & WS_CONN_F_CLOSE_SENT) && (c->flags & WS_CONN_F_CLOSE_RECEIVED))
            flags |= WS_CLOSE_FLAG_CLEAN;
        if (c->flags & WS_CONN_F_ERROR) flags |= WS_CLOSE_FLAG_ERROR;
        const char *reason = c->rare ? c->rare->close_reason : NULL;
        size_t len = reason ? strlen(reason) : 0;
        uint8_t *dst = ws_events_add(&srv->events, WS_EVENT_CLOSE, flags, code, c->slot, len);
        if (dst && len) memcpy(dst, reason, len);
        ws_server_wake(srv);
    }
    ws_server_conn_finished(srv, c);
    c->state = WS_CONN_CLOSED;
    uv_close((uv_handle_t *)&c->tcp, ws_conn_free_handle);
}

void ws_conn_abort(ws_conn *c) {
    finish(c);
}

/* Direct mode: the 101 is written; the client's socket goes to the service
 * with the bytes it sent early, and we let go of it without a close frame
 * or shutdown() (the socket is the service's now). */
static void hand_off(ws_conn *c) {
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
        ws_gateway_hand_off(c->rare->gw, fd, c->srv->cfg.max_payload) != 0) {
        static const char reason[] = "gateway: the service did not take the connection";
        ws_gateway_client_gone(c->rare->gw);
        c->rare->gw = NULL;
        ws_conn_close(c, WS_CLOSE_INTERNAL_ERROR, reason, sizeof reason - 1, 1);
        resume_reading(c);
        return;
    }
    static const char reason[] = "handed to the service";
    set_close(c, WS_CLOSE_NORMAL, reason, sizeof reason - 1);
    c->flags |= WS_CONN_F_CLOSE_SENT | WS_CONN_F_CLOSE_RECEIVED; /* reported as clean: the service has it */
    finish(c);
}

void ws_conn_read_pause(ws_conn *c, int pause) {
    if ((c->flags & WS_CONN_F_STREAM) || c->state == WS_CONN_CLOSED) return;
    if (pause) {
        if (c->state == WS_CONN_OPEN) uv_read_stop((uv_stream_t *)&c->tcp);
    } else if (c->state != WS_CONN_PENDING && c->state != WS_CONN_HANDSHAKE) {
        resume_reading(c);
    }
}

/* ---- HTTP answers --------------------------------------------------- */

static void http_answer(ws_conn *c, const char *head, size_t head_len, const void *body, size_t body_len) {
    if (queue_bytes(c, head, head_len) != 0 || (body_len && queue_bytes(c, body, body_len) != 0)) {
        finish(c);
        return;
    }
    linger(c);
}

static void http_error(ws_conn *c, int status, const char *reason) {
    char out[1024];
    ws_stats_status(&c->srv->stats, status);
    size_t n = ws_http_error_response(out, sizeof out, status, reason);
    if (!n) {
        finish(c);
        return;
    }
    http_answer(c, out, n, NULL, 0);
}

void ws_conn_refuse(ws_conn *c, int status, const char *reason) {
    if (c->state == WS_CONN_HANDSHAKE || c->state == WS_CONN_PENDING) http_error(c, status, reason);
}

int ws_conn_reject(ws_conn *c, int status, const char *reason) {
    if (sjs_role(c) == WS_SJS_ROLE_SESSION) return ws_sjs_reject(c, status, reason);
    if (sjs_role(c) == WS_SJS_ROLE_PROBE) return ws_sjs_probe_answer(c, status, reason);
    if (c->state != WS_CONN_PENDING) return -1;
    /* JS decided: it expects no close event, unless it must learn when to drop its stream. */
    if (!(c->flags & WS_CONN_F_STREAM)) c->flags &= (uint16_t)~WS_CONN_F_JS;
    http_error(c, status, reason);
    return 0;
}

/* The browser client (lib/client/client.js), at a fixed path whatever the docroot. */
static const char client_js_path[] = "/node.websocket/client.js";

static void serve_document(ws_conn *c, const ws_http_request *req, const ws_handshake *hs) {
    const char *docroot = c->srv->cfg.docroot;
    char file[PATH_MAX];
    int r;
    if (c->srv->cfg.client_js && hs->path_len == sizeof client_js_path - 1 &&
        memcmp(hs->path, client_js_path, hs->path_len) == 0) {
        r = (size_t)snprintf(file, sizeof file, "%s", c->srv->cfg.client_js) < sizeof file ? WS_DOCROOT_OK : WS_DOCROOT_BAD_PATH;
    } else if (!docroot) {
        http_error(c, 426, "Upgrade Required: this server speaks WebSocket");
        return;
    } else {
        r = ws_docroot_resolve(docroot, hs->path, hs->path_len, file, sizeof file);
    }
    if (r == WS_DOCROOT_BAD_PATH) {
        http_error(c, 400, "Bad request path");
        return;
    }
    if (r != WS_DOCROOT_OK) {
        http_error(c, 404, "Not found");
        return;
    }
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WS_DOCROOT_MAX_FILE) {
        if (fd >= 0) close(fd);
        http_error(c, 404, "Not found");
        return;
    }
    size_t size = (size_t)st.st_size;
    int head_only = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                      "Connection: close\r\n\r\n",
                      ws_docroot_content_type(file), size);
    uint8_t *body = NULL;
    if (!head_only && size) {
        /* Demo documents are small: read them whole, bounded by WS_DOCROOT_MAX_FILE. */
        body = malloc(size);
        size_t got = 0;
        while (body && got < size) {
            ssize_t k = read(fd, body + got, size - got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            got += (size_t)k;
        }
        if (!body || got != size) {
            free(body);
            close(fd);
            http_error(c, 500, "Could not read the file");
            return;
        }
    }
    close(fd);
    ws_stats_status(&c->srv->stats, 200);
    http_answer(c, head, (size_t)hn, body, head_only ? 0 : size);
    free(body);
}

/* ---- the opening handshake ------------------------------------------ */

static const ws_http_header *find_origin(const ws_http_request *req) {
    const ws_http_header *h = ws_http_find(req, "origin");
    return h ? h : ws_http_find(req, "sec-websocket-origin");
}

/* Bytes after the request head are frames the client sent early: parse
 * them now that the connection is open. */
static void open_with_leftovers(ws_conn *c, uint32_t head_len) {
    ws_bytes head = c->in;
    c->in = (ws_bytes){0};
    if (head.len > head_len) process_frames(c, head.data + head_len, head.len - head_len);
    ws_bytes_free(&head);
}

static _Thread_local ws_handshake *upgrading_hs; /* the handshake inside the upgrade hook */
static _Thread_local const ws_http_request *upgrading_req;
static _Thread_local ws_conn *upgrading_conn;

/* permessage-deflate: the first acceptable offer among every
 * Sec-WebSocket-Extensions header. Returns the response value's length
 * (0: not negotiated), or -1 for a malformed header. */
static int negotiate_deflate(ws_conn *c, const ws_http_request *req, char *response, size_t cap) {
    const ws_server_config *cfg = &c->srv->cfg;
    if (!cfg->deflate) return 0;
    char offers[4096];
    size_t len = 0;
    for (size_t i = 0; i < req->num_headers; i++) {
        const ws_http_header *h = &req->headers[i];
        if (h->name_len != 24 || strncasecmp(h->name, "sec-websocket-extensions", 24) != 0) continue;
        if (len + h->value_len + 2 > sizeof offers) return -1;
        if (len) {
            memcpy(offers + len, ", ", 2);
            len += 2;
        }
        memcpy(offers + len, h->value, h->value_len);
        len += h->value_len;
    }
    if (!len) return 0;
    ws_deflate_params params;
    size_t response_len = 0;
    int r = ws_deflate_negotiate(&cfg->deflate_cfg, offers, len, &params, response, cap, &response_len);
    if (r <= 0) return r;
    c->deflate = ws_deflate_new(&params, &cfg->deflate_cfg);
    if (!c->deflate) return 0; /* out of memory: go on without compression */
    return (int)response_len;
}

/* Writes the 101 (n bytes of out; 0: it did not fit) and opens the connection; -1: the connection is finished. */
static int write_101(ws_conn *c, char *out, size_t n) {
    uv_buf_t answer = uv_buf_init(out, (unsigned)n);
    if (!n || write_through(c, &answer, 1) != 0) {
        finish(c);
        return -1;
    }
    ws_stats_status(&c->srv->stats, 101);
    c->state = WS_CONN_OPEN;
    c->t_state = c->t_read = ws_server_now(c->srv);
    return 0;
}

/* The 101 of a legacy draft, from the kept head (and 76's 8 bytes after it). */
static int accept_legacy(ws_conn *c, const char *protocol, size_t protocol_len, char *extensions_out,
                         size_t extensions_cap) {
    ws_http_request req;
    int head_len = ws_http_parse_request((const char *)c->in.data, c->in.len, &req);
    int version = ws_conn_legacy(c);
    uint32_t body_len = version == 76 ? WS_HIXIE_BODY_LEN : 0;
    if (head_len <= 0 || c->in.len < (size_t)head_len + body_len || protocol_len > 512) return -1;
    if (extensions_cap) extensions_out[0] = 0;
    uint8_t answer[WS_HIXIE_ANSWER_LEN];
    if (version == 76) {
        const ws_http_header *k1 = ws_http_find(&req, "Sec-WebSocket-Key1"), *k2 = ws_http_find(&req, "Sec-WebSocket-Key2");
        if (!k1 || !k2 || ws_hixie_answer(k1->value, k1->value_len, k2->value, k2->value_len,
                                          c->in.data + head_len, answer) != 0) {
            ws_conn_reject(c, 400, "Invalid Sec-WebSocket-Key1 or Sec-WebSocket-Key2");
            return -1;
        }
    }
    const ws_http_header *origin = ws_http_find(&req, "Origin");
    if (!origin) origin = ws_http_find(&req, "Sec-WebSocket-Origin");
    const ws_http_header *host = ws_http_find(&req, "Host");
    char out[2048];
    size_t n = ws_hixie_response(out, sizeof out, version, c->tls != NULL, origin ? origin->value : NULL,
                                 origin ? origin->value_len : 0, host->value, host->value_len, req.target,
                                 req.target_len, protocol, protocol_len, answer);
    if (write_101(c, out, n) != 0) return 0;
    if (!(c->flags & WS_CONN_F_IN_UPGRADE)) {
        resume_reading(c);
        open_with_leftovers(c, (uint32_t)head_len + body_len);
    }
    return 0;
}

/* extensions (extensions_cap bytes) receives the negotiated extensions, NUL-terminated ("" when none). */
int ws_conn_accept(ws_conn *c, const char *protocol, size_t protocol_len, char *extensions_out, size_t extensions_cap) {
    if (sjs_role(c) == WS_SJS_ROLE_SESSION) {
        if (extensions_cap) extensions_out[0] = 0;
        return ws_sjs_accept(c);
    }
    if (sjs_role(c) == WS_SJS_ROLE_PROBE) {
        if (extensions_cap) extensions_out[0] = 0;
        return ws_sjs_probe_answer(c, 0, NULL);
    }
    if (c->state != WS_CONN_PENDING) return -1;
    if (ws_conn_legacy(c)) return accept_legacy(c, protocol, protocol_len, extensions_out, extensions_cap);
    ws_http_request parsed;
    const ws_http_request *req = upgrading_conn == c ? upgrading_req : NULL;
    ws_handshake hs_copy;
    ws_handshake *hs = upgrading_conn == c ? upgrading_hs : NULL;
    if (!hs) { /* decided later: parse the kept head again */
        if (ws_http_parse_request((const char *)c->in.data, c->in.len, &parsed) <= 0) return -1;
        ws_handshake_check(&parsed, &hs_copy);
        hs = &hs_copy;
        req = &parsed;
    }
    if (protocol_len > 512) return -1;
    char extensions[512];
    int ext_len = sjs_role(c) == WS_SJS_ROLE_WEBSOCKET ? 0 : negotiate_deflate(c, req, extensions, sizeof extensions);
    if (ext_len < 0) {
        ws_conn_reject(c, 400, "Malformed Sec-WebSocket-Extensions header");
        return -1;
    }
    if (extensions_cap) snprintf(extensions_out, extensions_cap, "%.*s", ext_len, extensions);
    char accept[WS_ACCEPT_LEN];
    ws_accept_key(hs->key, hs->key_len, accept);
    char out[2048];
    size_t n = ws_handshake_response(out, sizeof out, accept, protocol, protocol_len, ext_len ? extensions : NULL,
                                     (size_t)ext_len);
    if (write_101(c, out, n) != 0) return 0;
    if (sjs_role(c) == WS_SJS_ROLE_WEBSOCKET) { /* the session is open */
        queue_frame(c, WS_OP_TEXT, "o", 1);
        c->rare->sjs_t_out = ws_server_now(c->srv);
    }
    if (!(c->flags & WS_CONN_F_IN_UPGRADE)) {
        uint32_t head_len = (uint32_t)ws_http_parse_request((const char *)c->in.data, c->in.len, &parsed);
        resume_reading(c);
        open_with_leftovers(c, head_len);
    }
    return 0;
}

static void on_head(ws_conn *c) {
    ws_server *srv = c->srv;
    ws_http_request req;
    int r = ws_http_parse_request((const char *)c->in.data, c->in.len, &req);
    if (r == WS_HTTP_INCOMPLETE) {
        if (c->in.len > srv->cfg.max_header_size) http_error(c, 431, "Request header fields too large");
        return;
    }
    if (r == WS_HTTP_MALFORMED) {
        http_error(c, 400, "Malformed HTTP request");
        return;
    }
    if (r == WS_HTTP_TOO_MANY_HEADERS || (uint32_t)r > srv->cfg.max_header_size) {
        http_error(c, 431, "Request header fields too large");
        return;
    }
    if (c->flags & WS_CONN_F_POLICY) {
        finish(c);
        return;
    }
    ws_handshake hs;
    ws_handshake_check(&req, &hs);
    hs.transport = NULL;
    if (srv->cfg.sjs_prefix && ws_sjs_request(c, &req, &hs, (size_t)r)) return;
    if (hs.kind == WS_HS_REJECT && hs.status == 426 && srv->cfg.legacy_drafts) { /* no version: a legacy draft? */
        int version = ws_hixie_detect(&req);
        if (version < 0) {
            http_error(c, 400, "Missing or invalid Sec-WebSocket-Key1 or Sec-WebSocket-Key2");
            return;
        }
        if (version == 76 && c->in.len < (size_t)r + WS_HIXIE_BODY_LEN) return; /* its 8 bytes are to come */
        if (version) {
            ws_conn_rare *rare = ws_conn_rare_fields(c);
            if (!rare) {
                finish(c);
                return;
            }
            rare->legacy = (uint8_t)version;
            ws_hixie_parser_init(&rare->hx);
            hs.kind = WS_HS_UPGRADE;
            if (version == 76) r += WS_HIXIE_BODY_LEN; /* frames start after them */
        }
    }
    if (hs.kind == WS_HS_REJECT) {
        http_error(c, hs.status, hs.reason);
        return;
    }
    if (hs.kind == WS_HS_PLAIN_GET) {
        serve_document(c, &req, &hs);
        return;
    }
    const ws_http_header *origin = find_origin(&req);
    if (origin && !ws_origin_allowed(origin->value, origin->value_len,
                                     (const char *const *)srv->cfg.origins, srv->cfg.n_origins)) {
        http_error(c, 403, "Origin not allowed");
        return;
    }
    if (srv->shutting_down) {
        http_error(c, 503, "Server shutting down");
        return;
    }
    c->state = WS_CONN_PENDING;
    c->flags |= WS_CONN_F_IN_UPGRADE | WS_CONN_F_JS;
    upgrading_conn = c;
    upgrading_hs = &hs;
    upgrading_req = &req;
    srv->hooks.upgrade(srv->hooks.ctx, c, &req, &hs);
    upgrading_conn = NULL;
    upgrading_hs = NULL;
    upgrading_req = NULL;
    c->flags &= (uint16_t)~WS_CONN_F_IN_UPGRADE;
    if (c->state == WS_CONN_OPEN || c->state == WS_CONN_CLOSING) { /* CLOSING: JS closed it in onConnect */
        open_with_leftovers(c, (uint32_t)r);
    } else if (c->state == WS_CONN_LINGER) {
        ws_server_mark_dirty(srv, c);
    }
}

/* A PROXY v1/v2 header from the load balancer in front: the client's
 * address replaces the socket's (JS then checks the peer is trusted). */
static int read_proxy_header(ws_conn *c) {
    ws_proxy_header h;
    int r = ws_proxy_parse(c->in.data, c->in.len, &h);
    if (r == WS_PROXY_INCOMPLETE) return 0;
    if (r < 0) {
        finish(c);
        return -1;
    }
    if (h.family) {
        ws_conn_rare *rare = ws_conn_rare_fields(c);
        if (!rare || !(rare->peer = strdup(h.src_addr))) { /* never fall back to the proxy's own address */
            finish(c);
            return -1;
        }
        rare->peer_port = h.src_port;
    }
    memmove(c->in.data, c->in.data + r, c->in.len - (size_t)r);
    c->in.len -= (size_t)r;
    c->flags |= WS_CONN_F_PROXY_DONE;
    return 1;
}

static void on_first_bytes(ws_conn *c, const uint8_t *p, size_t n) {
    if (ws_bytes_append(&c->in, p, n) != 0) {
        finish(c);
        return;
    }
    if (c->in.data[0] == '<' || (c->flags & WS_CONN_F_POLICY)) {
        ws_policy_match m = ws_policy_detect((const char *)c->in.data, c->in.len);
        if (m == WS_POLICY_MAYBE) return;
        if (m == WS_POLICY_YES) {
            char doc[8192];
            size_t len = ws_policy_document(doc, sizeof doc, (const char *const *)c->srv->cfg.origins,
                                            c->srv->cfg.n_origins, c->srv->port);
            if (!len) {
                finish(c);
                return;
            }
            http_answer(c, doc, len, NULL, 0);
            return;
        }
        if (c->flags & WS_CONN_F_POLICY) {
            finish(c);
            return;
        }
    }
    on_head(c);
}

/* ---- frames in ------------------------------------------------------ */

static int emitted(ws_conn *c, size_t len) {
    c->srv->stats.messages_in++;
    c->srv->stats.payload_in += len;
    if (len >= WS_EVENT_OWNED_MIN) c->flags |= WS_CONN_F_LARGE_IN;
    else c->flags &= (uint16_t)~WS_CONN_F_LARGE_IN;
    c->batch = c->srv->batch;
    ws_server_wake(c->srv);
    return 0;
}

/* A large message goes to JS in its own buffer rather than through the batch. */
static int emit_owned(ws_conn *c, int opcode, uint8_t *data, size_t len) {
    uint8_t kind = opcode == WS_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY;
    if (ws_events_add_owned(&c->srv->events, kind, c->slot, data, len) != 0) return -1;
    return emitted(c, len);
}

static int emit_message(ws_conn *c, int opcode, const uint8_t *data, size_t len);

static int sjs_emit_one(void *ctx, const uint8_t *m, size_t len) {
    ws_conn *c = ctx;
    c->rare->sjs_role = WS_SJS_ROLE_NONE; /* this one goes to JS as it is */
    int r = emit_message(c, WS_OP_TEXT, m, len);
    c->rare->sjs_role = WS_SJS_ROLE_WEBSOCKET;
    return r < 0 ? -2 : 0;
}

/* The framed WebSocket: a message is a JSON array of strings, each one
 * message for JS; an empty frame is nothing; broken JSON ends the session. */
static int sjs_emit(ws_conn *c, const uint8_t *data, size_t len) {
    if (!len) return 0;
    uint8_t small[1024];
    uint8_t *out = 3 * len <= sizeof small ? small : malloc(3 * len);
    if (!out) return -1;
    long r = ws_sjs_decode(data, len, out, NULL, NULL);
    if (r >= 0) r = ws_sjs_decode(data, len, out, sjs_emit_one, c);
    if (out != small) free(out);
    if (r == WS_SJS_BROKEN) {
        static const char reason[] = "Broken JSON encoding.";
        ws_conn_close(c, WS_CLOSE_PROTOCOL_ERROR, reason, sizeof reason - 1, 1);
        return 0;
    }
    return r < 0 ? -1 : 0;
}

static int emit_message(ws_conn *c, int opcode, const uint8_t *data, size_t len) {
    if (sjs_role(c) == WS_SJS_ROLE_WEBSOCKET) return sjs_emit(c, data, len);
    if (gateway_link(c)) { /* relayed in C: JS never sees it */
        ws_gateway_from_client(c->rare->gw, opcode, data, len);
        return 0;
    }
    uint8_t kind = opcode == WS_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY;
    if (len >= WS_EVENT_OWNED_MIN) {
        size_t cap;
        uint8_t *copy = ws_block_alloc(len, &cap);
        if (!copy) return -1;
        memcpy(copy, data, len);
        return emit_owned(c, opcode, copy, len);
    }
    uint8_t *dst = ws_events_add(&c->srv->events, kind, 0, 0, c->slot, len);
    if (!dst) return -1;
    if (len) memcpy(dst, data, len);
    return emitted(c, len);
}

/* The message reassembled in c->in: large ones hand the buffer over whole. */
static int emit_reassembled(ws_conn *c, int opcode) {
    if (c->in.len < WS_EVENT_OWNED_MIN || gateway_link(c)) return emit_message(c, opcode, c->in.data, c->in.len);
    ws_bytes m = c->in;
    c->in = (ws_bytes){0};
    return emit_owned(c, opcode, m.data, m.len);
}

/* A peer that pings and never reads would grow its queue without bound:
 * past maxBufferedAmount its pings go unanswered (RFC 6455 section 5.5.3
 * lets an endpoint answer only the latest of several pings). */
static int pong_fits(const ws_conn *c) {
    return c->queued <= c->srv->cfg.max_buffered;
}

/* JS has yet to see messages this connection sent before the frame at
 * hand: answers to that frame must wait until JS has handled them. */
static int behind_js(const ws_conn *c) {
    return c->batch == c->srv->batch;
}

void ws_conn_run_deferred(ws_conn *c, int kind, uint16_t code, const char *reason, const uint8_t *data, size_t len) {
    if (c->state != WS_CONN_OPEN && c->state != WS_CONN_CLOSING) return;
    switch (kind) {
    case WS_DEFER_PONG:
        if (can_send(c) && pong_fits(c)) queue_frame(c, WS_OP_PONG, data, len);
        break;
    case WS_DEFER_CLOSE_REPLY:
        if (!(c->flags & WS_CONN_F_CLOSE_SENT)) queue_close_frame(c, c->close_code, NULL, 0);
        linger(c);
        break;
    case WS_DEFER_FAIL:
        fail(c, code, reason);
        break;
    }
}

/* A violation: answered now, or after JS has handled the messages before it. */
static void violation(ws_conn *c, uint16_t code, const char *reason) {
    if (behind_js(c)) {
        c->flags |= WS_CONN_F_HOLD;
        if (ws_server_defer(c->srv, c, WS_DEFER_FAIL, code, reason, NULL, 0) == 0) return;
    }
    fail(c, code, reason);
}

static int inflate_failed(ws_conn *c, int err) {
    if (err == WS_DEFLATE_TOO_BIG) violation(c, WS_CLOSE_TOO_BIG, "message exceeds maxPayload");
    else if (err == WS_DEFLATE_DATA_ERROR) violation(c, WS_CLOSE_INVALID_DATA, "invalid compressed data");
    else violation(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
    return -1;
}

static int in_block(const ws_bytes *b, const uint8_t *p) {
    return b->data && p >= b->data && p <= b->data + b->cap;
}

/* p lies in c->in past the message's bytes: it was read there directly. */
static int in_spare_room(const ws_conn *c, const uint8_t *p) {
    return c->in.data && p >= c->in.data + c->in.len && p <= c->in.data + c->in.cap;
}

/* p may lie in c->in (read there directly): a message that completes in it
 * leaves c->in, and the rest of the read is parsed from its old block, which
 * *held keeps until then. */
static void parse_frames(ws_conn *c, ws_parser *parser, uint8_t *p, size_t n, ws_bytes *held) {
    ws_event ev;
    uint64_t max = c->srv->cfg.max_payload;
    while ((c->state == WS_CONN_OPEN || c->state == WS_CONN_CLOSING) && !(c->flags & WS_CONN_F_HOLD)) {
        ssize_t r = ws_parser_next(parser, p, n, &ev);
        if (r < 0) {
            violation(c, parser->close_code, parser->errstr);
            return;
        }
        p += r;
        n -= (size_t)r;
        int deliver = !(c->flags & WS_CONN_F_CLOSE_SENT);
        switch (ev.type) {
        case WS_EV_NEED_MORE:
            return;
        case WS_EV_DATA:
            if (!deliver) break;
            if (ev.rsv & WS_RSV1) { /* compressed: inflated as it arrives, bounded by maxPayload */
                int z;
                if (ev.first && ev.last) { /* whole: no per-connection inflater needed without context takeover */
                    z = ws_deflate_inflate_message(c->deflate, ev.data, ev.len, &c->in, max);
                    c->message_direct = 2;
                } else {
                    z = ws_deflate_inflate_chunk(c->deflate, ev.data, ev.len, &c->in, max);
                }
                if (z != 0 && inflate_failed(c, z)) return;
            } else if (in_spare_room(c, ev.data)) { /* read straight into place */
                if (ev.data != c->in.data + c->in.len) /* a header read with the previous payload sits between */
                    memmove(c->in.data + c->in.len, ev.data, ev.len);
                c->in.len += ev.len;
            } else if (ev.first && ev.last) {
                if (emit_message(c, ev.opcode, ev.data, ev.len) != 0) goto oom;
                c->message_direct = 1;
            } else {
                /* Room for the rest of this frame at once: no regrowth per read. */
                if (ev.first && !ws_bytes_reserve(&c->in, ev.len + parser->remaining)) goto oom;
                if (ws_bytes_append(&c->in, ev.data, ev.len) != 0) goto oom;
            }
            break;
        case WS_EV_MESSAGE:
            if (c->message_direct == 1) {
                c->message_direct = 0;
            } else if (deliver) {
                if (ev.rsv & WS_RSV1) { /* compressed text is checked once inflated */
                    int z = c->message_direct == 2 ? 0 : ws_deflate_inflate_end(c->deflate, &c->in, max);
                    if (z != 0 && inflate_failed(c, z)) return;
                    if (ev.opcode == WS_OP_TEXT && !ws_utf8_is_valid(c->in.data, c->in.len)) {
                        violation(c, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
                        return;
                    }
                }
                if (emit_reassembled(c, ev.opcode) != 0) goto oom;
            }
            c->message_direct = 0;
            if (in_block(&c->in, p)) { /* the rest of the read is in it: freed once parsed */
                *held = c->in;
                c->in = (ws_bytes){0};
            }
            ws_bytes_free(&c->in);
            break;
        case WS_EV_PING:
            if (!deliver) break;
            if (behind_js(c)) {
                if (ws_server_defer(c->srv, c, WS_DEFER_PONG, 0, NULL, ev.data, ev.len) != 0) goto oom;
            } else if (pong_fits(c) && queue_frame(c, WS_OP_PONG, ev.data, ev.len) != 0) {
                goto oom;
            }
            break;
        case WS_EV_PONG:
            break;
        case WS_EV_CLOSE:
            if (behind_js(c)) {
                c->flags |= WS_CONN_F_HOLD | WS_CONN_F_CLOSE_RECEIVED;
                if (!(c->flags & WS_CONN_F_CLOSE_SENT)) set_close(c, ev.close_code, (const char *)ev.data, ev.len);
                if (ws_server_defer(c->srv, c, WS_DEFER_CLOSE_REPLY, 0, NULL, NULL, 0) == 0) return;
            }
            on_close_frame(c, ev.close_code, ev.data, ev.len);
            return;
        }
    }
    return;
oom:
    fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
}

/* Legacy-draft frames: text messages reassembled in c->in when they span
 * reads, checked as UTF-8 (the draft would replace bad bytes; we close). */
static void process_hixie(ws_conn *c, uint8_t *p, size_t n) {
    ws_hixie_parser *hx = &c->rare->hx;
    uint64_t max = c->srv->cfg.max_payload;
    while ((c->state == WS_CONN_OPEN || c->state == WS_CONN_CLOSING) && !(c->flags & WS_CONN_F_HOLD)) {
        ws_hixie_event ev;
        ssize_t r = ws_hixie_parse(hx, p, n, max, &ev);
        if (r < 0) {
            if (r == WS_HX_ERR_TOO_BIG) violation(c, WS_CLOSE_TOO_BIG, "message exceeds maxPayload");
            else violation(c, WS_CLOSE_PROTOCOL_ERROR, "data after the close");
            return;
        }
        p += r;
        n -= (size_t)r;
        if (ev.type == WS_HX_NEED_MORE) return;
        if (ev.type == WS_HX_CLOSE) {
            if (behind_js(c)) {
                c->flags |= WS_CONN_F_HOLD | WS_CONN_F_CLOSE_RECEIVED;
                if (!(c->flags & WS_CONN_F_CLOSE_SENT)) set_close(c, WS_CLOSE_NO_STATUS, NULL, 0);
                if (ws_server_defer(c->srv, c, WS_DEFER_CLOSE_REPLY, 0, NULL, NULL, 0) == 0) return;
            }
            on_close_frame(c, WS_CLOSE_NO_STATUS, NULL, 0);
            return;
        }
        if (c->flags & WS_CONN_F_CLOSE_SENT) continue; /* closing: messages no longer delivered */
        const uint8_t *data = ev.data;
        size_t len = ev.len;
        int whole = ev.first && ev.last; /* in this read: no copy */
        if (!whole) {
            if (ws_bytes_append(&c->in, ev.data, ev.len) != 0) goto oom;
            if (!ev.last) continue;
            data = c->in.data;
            len = c->in.len;
        }
        if (!ws_utf8_is_valid(data, len)) {
            violation(c, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
            return;
        }
        if ((whole ? emit_message(c, WS_OP_TEXT, data, len) : emit_reassembled(c, WS_OP_TEXT)) != 0) goto oom;
        ws_bytes_free(&c->in);
    }
    return;
oom:
    fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
}

/* The parser's state stays with the connection only while a frame or a
 * fragmented message spans reads; at a frame boundary a fresh parser on the
 * stack does the work, so an idle connection holds none. */
static void process_frames(ws_conn *c, uint8_t *p, size_t n) {
    if (ws_conn_legacy(c)) {
        process_hixie(c, p, n);
        return;
    }
    ws_gw_link *gw = gateway_link(c);
    if (gw && c->state == WS_CONN_OPEN && ws_gateway_is_direct(gw)) { /* raw bytes for the service */
        if (ws_gateway_direct_bytes(gw, p, n) != 0) {
            static const char reason[] = "gateway: the client sent too much before the hand-off";
            ws_conn_close(c, WS_CLOSE_INTERNAL_ERROR, reason, sizeof reason - 1, 1);
        }
        return;
    }
    ws_parser local;
    ws_parser *parser = c->parser;
    if (!parser) {
        parser = &local;
        ws_parser_init(parser, c->srv->cfg.max_payload, 1);
        if (c->deflate) parser->allowed_rsv = WS_RSV1;
    }
    ws_bytes held = {0};
    parse_frames(c, parser, p, n, &held);
    ws_bytes_free(&held);
    if ((gw = gateway_link(c)) != NULL) ws_gateway_client_batch_end(gw); /* one write for the read's messages */
    if (ws_parser_at_rest(parser)) {
        ws_parser_free(parser);
        if (parser == c->parser) {
            free(c->parser);
            c->parser = NULL;
        }
    } else if (parser == &local) {
        c->parser = malloc(sizeof *c->parser);
        if (!c->parser) {
            ws_parser_free(&local);
            fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
            return;
        }
        *c->parser = local;
    }
}

/* ---- reading -------------------------------------------------------- */

/* The rest of a large uncompressed frame is read straight to where its
 * message is reassembled (it then goes to JS without a copy); after a large
 * message, the next header is read alone so its payload can follow suit. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    ws_conn *c = h->data;
    (void)suggested;
    const ws_parser *parser = c->parser; /* NULL at a frame boundary */
    if (!c->tls && !ws_conn_legacy(c) && (c->state == WS_CONN_OPEN || c->state == WS_CONN_CLOSING) &&
        !(parser && (parser->msg_rsv & WS_RSV1)) && (c->flags & WS_CONN_F_PROXY_DONE)) {
        uint64_t left = parser ? ws_parser_payload_left(parser) : 0;
        if (left >= WS_EVENT_OWNED_MIN && left <= UINT_MAX - WS_MAX_HEADER) {
            uint8_t *dst = ws_bytes_reserve(&c->in, (size_t)left);
            if (dst) { /* and the next header if it fits: a short read then ends libuv's read loop */
                size_t room = c->in.cap - c->in.len;
                if (room > left + WS_MAX_HEADER) room = (size_t)left + WS_MAX_HEADER;
                *buf = uv_buf_init((char *)dst, (unsigned)room);
                return;
            }
        } else if (!left && (c->flags & WS_CONN_F_LARGE_IN)) {
            *buf = uv_buf_init((char *)c->srv->slab, WS_MAX_HEADER);
            return;
        }
    }
    *buf = uv_buf_init((char *)c->srv->slab, WS_SLAB_SIZE);
}

static void on_bytes(ws_conn *c, uint8_t *p, size_t n);

/* wss://: ciphertext in, plaintext out into the same slab (the session has
 * copied the ciphertext), then whatever the session must answer. */
static void on_ciphertext(ws_conn *c, const uint8_t *p, size_t n) {
    if (ws_tls_feed(c->tls, p, n) != 0) {
        finish(c);
        return;
    }
    for (;;) {
        ssize_t r = ws_tls_read(c->tls, c->srv->slab, WS_SLAB_SIZE);
        if (r < 0) { /* failed (send the alert), or the peer's close_notify (answer it): then half-close */
            if (c->state >= WS_CONN_LINGER) return;
            if (r != WS_TLS_CLOSED) c->flags |= WS_CONN_F_TLS_CLOSED; /* no close_notify after a fatal alert */
            c->state = WS_CONN_LINGER;
            c->t_state = ws_server_now(c->srv);
            ws_bytes_free(&c->in);
            ws_server_mark_dirty(c->srv, c);
            return;
        }
        if (r == 0) break;
        on_bytes(c, c->srv->slab, (size_t)r);
        if (c->state == WS_CONN_CLOSED) return;
    }
    if (ws_tls_pending(c->tls)) ws_server_mark_dirty(c->srv, c);
}

static void on_wire_bytes(ws_conn *c, uint8_t *p, size_t n) {
    if (c->tls) on_ciphertext(c, p, n);
    else on_bytes(c, p, n);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    ws_conn *c = stream->data;
    if (nread == 0) return;
    if (nread < 0) { /* EOF or error: the peer is gone */
        finish(c);
        return;
    }
    c->srv->stats.bytes_read += (uint64_t)nread;
    if (!(c->flags & WS_CONN_F_PROXY_DONE)) { /* before anything else, TLS included */
        if (ws_bytes_append(&c->in, buf->base, (size_t)nread) != 0) {
            finish(c);
            return;
        }
        if (read_proxy_header(c) <= 0) return;
        ws_bytes rest = c->in;
        c->in = (ws_bytes){0};
        if (rest.len) on_wire_bytes(c, rest.data, rest.len);
        ws_bytes_free(&rest);
        return;
    }
    on_wire_bytes(c, (uint8_t *)buf->base, (size_t)nread);
}

void ws_conn_feed(ws_conn *c, uint8_t *p, size_t n) {
    c->srv->stats.bytes_read += n;
    if (c->state != WS_CONN_CLOSED && n) on_bytes(c, p, n);
}

void ws_conn_feed_end(ws_conn *c) {
    finish(c);
}

static void on_bytes(ws_conn *c, uint8_t *p, size_t n) {
    c->t_read = ws_server_now(c->srv);
    c->flags &= (uint16_t)~WS_CONN_F_PINGED;
    switch (c->state) {
    case WS_CONN_HANDSHAKE:
        on_first_bytes(c, p, n);
        break;
    case WS_CONN_PENDING: /* early frames wait for the decision, within a bound */
        if (c->in.len + n > WS_PENDING_MAX_BYTES || ws_bytes_append(&c->in, p, n) != 0) {
            if (c->flags & WS_CONN_F_STREAM) finish(c); /* a stream cannot be paused from here */
            else uv_read_stop((uv_stream_t *)&c->tcp);
        }
        break;
    case WS_CONN_OPEN:
    case WS_CONN_CLOSING:
        if (sjs_role(c) == WS_SJS_ROLE_RECEIVER) break; /* a SockJS receiver says nothing more that matters */
        process_frames(c, p, n);
        break;
    default: /* lingering: the bytes no longer matter */
        break;
    }
}

/* ---- life ----------------------------------------------------------- */

ws_conn *ws_conn_new(ws_server *srv, int policy_only) {
    ws_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = srv;
    c->tcp.data = c;
    if (policy_only) c->flags |= WS_CONN_F_POLICY;
    if (!srv->cfg.proxy_protocol || policy_only) c->flags |= WS_CONN_F_PROXY_DONE;
    c->t_state = c->t_read = ws_server_now(srv);
    if (uv_tcp_init(srv->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void ws_conn_start(ws_conn *c) {
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) finish(c);
}

static void resume_reading(ws_conn *c) {
    if (!(c->flags & WS_CONN_F_STREAM) && !uv_is_active((uv_handle_t *)&c->tcp)) uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

void ws_conn_sweep(ws_conn *c, uint32_t now) {
    const ws_server_config *cfg = &c->srv->cfg;
    uint32_t since_state = now - c->t_state;
    int role = sjs_role(c);
    if (role == WS_SJS_ROLE_SESSION || role == WS_SJS_ROLE_RECEIVER) {
        ws_sjs_sweep(c, now);
        return;
    }
    if (role == WS_SJS_ROLE_WEBSOCKET && c->state == WS_CONN_OPEN && now - c->rare->sjs_t_out >= cfg->sjs_heartbeat_ms) {
        queue_frame(c, WS_OP_TEXT, "h", 1);
        c->rare->sjs_t_out = now;
    }
    switch (c->state) {
    case WS_CONN_HANDSHAKE:
        if (since_state >= cfg->handshake_timeout_ms) {
            if (c->in.len) http_error(c, 408, "Handshake timed out");
            else finish(c); /* said nothing: nothing to answer */
        }
        break;
    case WS_CONN_PENDING:
        if (since_state >= cfg->handshake_timeout_ms) ws_conn_refuse(c, 503, "Upgrade decision timed out");
        break;
    case WS_CONN_OPEN: {
        uint32_t quiet = now - c->t_read;
        if (c->deflate && quiet >= WS_DEFLATE_IDLE_MS) ws_deflate_trim(c->deflate);
        if (cfg->idle_timeout_ms && quiet >= cfg->idle_timeout_ms) {
            static const char reason[] = "idle timeout";
            ws_conn_close(c, WS_CLOSE_GOING_AWAY, reason, sizeof reason - 1, 1);
        } else if (cfg->ping_interval_ms && quiet >= cfg->ping_interval_ms &&
                   (!(c->flags & WS_CONN_F_PINGED) || since_state >= cfg->ping_interval_ms)) {
            c->flags |= WS_CONN_F_PINGED;
            c->t_state = now;
            ws_conn_ping(c, NULL, 0);
        }
        break;
    }
    case WS_CONN_CLOSING:
    case WS_CONN_LINGER:
        if (since_state >= cfg->close_timeout_ms) finish(c);
        break;
    default:
        break;
    }
}

int ws_conn_peer(ws_conn *c, char *addr, size_t cap, int *port) {
    struct sockaddr_storage ss;
    if (c->rare && c->rare->peer) {
        snprintf(addr, cap, "%s", c->rare->peer);
        *port = c->rare->peer_port;
        return 0;
    }
    if (c->flags & WS_CONN_F_STREAM) return UV_ENOTCONN; /* JS knows the stream's address */
    int len = sizeof ss;
    int r = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
    if (r != 0) return r;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        *port = ntohs(a->sin6_port);
        r = uv_ip6_name(a, addr, cap);
        /* An IPv4 client on a dual-stack socket: report it as IPv4. */
        if (r == 0 && strncmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.'))
            memmove(addr, addr + 7, strlen(addr + 7) + 1);
        return r;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    *port = ntohs(a->sin_port);
    return uv_ip4_name(a, addr, cap);
}

/* ---- for sockjs_session.c -------------------------------------------- */

int ws_conn_write_raw(ws_conn *c, const void *p, size_t n) {
    return queue_bytes(c, p, n);
}

void ws_conn_end_response(ws_conn *c) {
    linger(c);
}

void ws_conn_finish(ws_conn *c) {
    finish(c);
}

void ws_conn_set_closed(ws_conn *c, uint16_t code, const char *reason, size_t len) {
    set_close(c, code, reason, len > WS_MAX_CONTROL - 2 ? WS_MAX_CONTROL - 2 : len);
    c->flags |= WS_CONN_F_CLOSE_SENT | WS_CONN_F_CLOSE_RECEIVED;
}

int ws_conn_emit_text(ws_conn *c, const uint8_t *p, size_t n) {
    return emit_message(c, WS_OP_TEXT, p, n);
}

void ws_conn_take_queue(ws_conn *c, void (*fn)(void *ctx, const uint8_t *payload, size_t len), void *ctx) {
    for (uint16_t i = 0; i < c->n_chunks; i++) {
        const uint8_t *p = c->chunks[i].buf->data + c->chunks[i].off, *end = p + c->chunks[i].len;
        while (p < end) { /* a chunk holds whole frames */
            size_t len;
            const uint8_t *payload = frame_payload(p, &len);
            fn(ctx, payload, len);
            p = payload + len;
        }
    }
    consume(c, c->queued);
    drained(c);
}

void ws_conn_upgrade_hook(ws_conn *c, const ws_http_request *req, const ws_handshake *hs) {
    c->flags |= WS_CONN_F_JS;
    c->srv->hooks.upgrade(c->srv->hooks.ctx, c, req, hs);
}
