#include "pubsub.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "connection.h"
#include "deflate.h"
#include "frame.h"
#include "history.h"
#include "server.h"

static uint64_t hash_name(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

ws_topic *ws_pubsub_find(ws_pubsub *ps, const char *name, size_t len) {
    if (!ps->n_buckets) return NULL;
    uint64_t h = hash_name(name, len);
    for (ws_topic *t = ps->buckets[h & (ps->n_buckets - 1)]; t; t = t->next)
        if (t->hash == h && t->name_len == len && memcmp(t->name, name, len) == 0) return t;
    return NULL;
}

static int grow_buckets(ws_pubsub *ps) {
    size_t n = ps->n_buckets ? ps->n_buckets * 2 : 64;
    ws_topic **b = calloc(n, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < ps->n_buckets; i++) {
        for (ws_topic *t = ps->buckets[i], *next; t; t = next) {
            next = t->next;
            t->next = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
        }
    }
    free(ps->buckets);
    ps->buckets = b;
    ps->n_buckets = n;
    return 0;
}

static ws_topic *find_or_create(ws_pubsub *ps, const char *name, size_t len) {
    ws_topic *t = ws_pubsub_find(ps, name, len);
    if (t) return t;
    if (ps->n_topics >= ps->n_buckets && grow_buckets(ps) != 0) return NULL;
    t = calloc(1, sizeof *t + len);
    if (!t) return NULL;
    t->hash = hash_name(name, len);
    t->name_len = len;
    memcpy(t->name, name, len);
    ws_topic **head = &ps->buckets[t->hash & (ps->n_buckets - 1)];
    t->next = *head;
    *head = t;
    ps->n_topics++;
    return t;
}

/* An empty topic with nothing to remember is freed. */
static void maybe_free(ws_pubsub *ps, ws_topic *t) {
    if (t->n_subs || t->policy != WS_BACKPRESSURE_DEFAULT || t->history) return;
    ws_topic **p = &ps->buckets[t->hash & (ps->n_buckets - 1)];
    while (*p != t) p = &(*p)->next;
    *p = t->next;
    ps->n_topics--;
    free(t->subs);
    free(t);
}

/* The resume envelope, the message's own opcode: "m<seq> <name>\n<payload>",
 * the name percent-encoded as encodeURIComponent does, without the app
 * scope (what precedes the last NUL). The notice: "g<seq> <name>\n". */
static size_t envelope_head(char *out, char kind, uint64_t seq, const char *name, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = len; i > 0; i--) {
        if (name[i - 1] == '\0') {
            name += i;
            len -= i;
            break;
        }
    }
    char digits[24];
    size_t nd = 0;
    do digits[nd++] = (char)('0' + seq % 10); while ((seq /= 10));
    size_t o = 0;
    out[o++] = kind;
    while (nd) out[o++] = digits[--nd];
    out[o++] = ' ';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-_.!~*'()", ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o++] = '\n';
    return o;
}

#define ENVELOPE_HEAD_MAX(len) (24 + 3 * (len))

static ws_buf *make_envelope(char kind, uint64_t seq, const char *name, size_t len, int opcode, const void *payload,
                             size_t payload_len) {
    char *head = malloc(ENVELOPE_HEAD_MAX(len));
    if (!head) return NULL;
    size_t hl = envelope_head(head, kind, seq, name, len);
    size_t total = hl + payload_len;
    ws_buf *frame = ws_buf_new(ws_frame_header_size(total, 0) + total);
    if (frame) {
        size_t h = ws_frame_header(frame->data, 1, 0, opcode, total, NULL);
        memcpy(frame->data + h, head, hl);
        if (payload_len) memcpy(frame->data + h + hl, payload, payload_len);
        frame->len = h + total;
    }
    free(head);
    return frame;
}

int ws_pubsub_subscribe(ws_server *srv, ws_conn *c, const char *name, size_t len) {
    uint16_t n = c->subs ? c->subs->n : 0;
    for (uint16_t i = 0; i < n; i++) {
        ws_topic *t = c->subs->items[i].topic;
        if (t->name_len == len && memcmp(t->name, name, len) == 0) return 0;
    }
    if (n == UINT16_MAX) return -1;
    ws_topic *t = find_or_create(&srv->pubsub, name, len);
    if (!t) return -1;
    if (t->n_subs == t->cap_subs) {
        uint32_t cap = t->cap_subs ? t->cap_subs * 2 : 8;
        ws_conn **s = realloc(t->subs, cap * sizeof *s);
        if (!s) goto fail;
        t->subs = s;
        t->cap_subs = cap;
    }
    if (!c->subs || n == c->subs->cap) {
        uint16_t cap = n ? (uint16_t)(n * 2 > UINT16_MAX ? UINT16_MAX : n * 2) : 2;
        ws_sub_list *l = realloc(c->subs, sizeof *l + cap * sizeof l->items[0]);
        if (!l) goto fail;
        l->n = n;
        l->cap = cap;
        c->subs = l;
    }
    c->subs->items[c->subs->n++] = (ws_sub){t, t->n_subs};
    t->subs[t->n_subs++] = c;
    return 1;
fail:
    maybe_free(&srv->pubsub, t);
    return -1;
}

/* Removes c's i-th subscription: swap-remove on both sides. */
static void remove_sub(ws_server *srv, ws_conn *c, uint16_t i) {
    ws_sub_list *l = c->subs;
    ws_topic *t = l->items[i].topic;
    uint32_t at = l->items[i].index;
    ws_conn *moved = t->subs[--t->n_subs];
    if (at != t->n_subs) {
        t->subs[at] = moved;
        for (uint16_t k = 0; k < moved->subs->n; k++) {
            if (moved->subs->items[k].topic == t) {
                moved->subs->items[k].index = at;
                break;
            }
        }
    }
    l->items[i] = l->items[--l->n];
    maybe_free(&srv->pubsub, t);
}

int ws_pubsub_unsubscribe(ws_server *srv, ws_conn *c, const char *name, size_t len) {
    for (uint16_t i = 0; c->subs && i < c->subs->n; i++) {
        ws_topic *t = c->subs->items[i].topic;
        if (t->name_len == len && memcmp(t->name, name, len) == 0) {
            remove_sub(srv, c, i);
            if (!c->subs->n) { /* none left: hold no list */
                free(c->subs);
                c->subs = NULL;
            }
            return 1;
        }
    }
    return 0;
}

void ws_pubsub_unsubscribe_all(ws_server *srv, ws_conn *c) {
    while (c->subs && c->subs->n) remove_sub(srv, c, (uint16_t)(c->subs->n - 1));
    free(c->subs);
    c->subs = NULL;
}

int ws_pubsub_set_policy(ws_server *srv, const char *name, size_t len, int policy) {
    ws_topic *t = find_or_create(&srv->pubsub, name, len);
    if (!t) return -1;
    t->policy = (uint8_t)policy;
    maybe_free(&srv->pubsub, t);
    return 0;
}

static ws_buf *make_frame(int opcode, int rsv, const void *payload, size_t payload_len) {
    size_t frame_len = ws_frame_header_size(payload_len, 0) + payload_len;
    ws_buf *frame = ws_buf_new(frame_len);
    if (!frame) return NULL;
    size_t h = ws_frame_header(frame->data, 1, rsv, opcode, payload_len, NULL);
    if (payload_len) memcpy(frame->data + h, payload, payload_len);
    frame->len = frame_len;
    return frame;
}

/* The same message in the legacy drafts' framing, for their subscribers. */
static ws_buf *make_hixie_frame(int opcode, const void *payload, size_t payload_len) {
    int binary = opcode != WS_OP_TEXT;
    size_t h = ws_hixie_header_size(binary, payload_len), t = ws_hixie_trailer_size(binary);
    ws_buf *frame = ws_buf_new(h + payload_len + t);
    if (!frame) return NULL;
    ws_hixie_header(frame->data, binary, payload_len);
    if (payload_len) memcpy(frame->data + h, payload, payload_len);
    if (t) frame->data[h + payload_len] = 0xff;
    frame->len = h + payload_len + t;
    return frame;
}

/* Subscribers with permessage-deflate and no server context takeover share
 * one compressed frame, made at the smallest window any of them negotiated.
 * The others get the plain frame: an uncompressed message never enters the
 * peer's window, so a connection's own compressor stays in step. */
static int takes_shared_compressed(const ws_conn *c) {
    return c->deflate && ws_deflate_get_params(c->deflate)->server_no_context_takeover;
}

static ws_buf *compressed_frame(ws_server *srv, ws_topic *t, int opcode, const void *payload, size_t payload_len) {
    if (!srv->cfg.deflate || payload_len < srv->cfg.deflate_cfg.threshold) return NULL;
    uint8_t window = 16;
    for (uint32_t i = 0; i < t->n_subs; i++) {
        const ws_conn *c = t->subs[i];
        if (!(c->flags & WS_CONN_F_EXCLUDED) && takes_shared_compressed(c)) {
            uint8_t w = ws_deflate_get_params(c->deflate)->server_max_window_bits;
            if (w < window) window = w;
        }
    }
    if (window == 16) return NULL;
    ws_bytes *z = &srv->scratch;
    z->len = 0;
    if (ws_deflate_compress_shared(&srv->cfg.deflate_cfg, window, payload, payload_len, z) != 0) return NULL;
    return make_frame(opcode, WS_RSV1, z->data, z->len);
}

long ws_pubsub_multicast(ws_server *srv, const char *name, size_t len, int opcode, const void *payload,
                         size_t payload_len) {
    ws_topic *t = ws_pubsub_find(&srv->pubsub, name, len);
    srv->stats.multicasts++;
    uint64_t seq = 0;
    if (t && t->history) { /* kept even when nobody is subscribed: everyone may be reconnecting */
        seq = ++t->seq;
        ws_history_push(t->history, seq, uv_now(srv->loop), opcode, payload, payload_len);
    }
    if (!t || !t->n_subs) return 0;
    ws_buf *frame = make_frame(opcode, 0, payload, payload_len);
    if (!frame) return -1;
    ws_buf *zframe = compressed_frame(srv, t, opcode, payload, payload_len);
    ws_buf *hframe = NULL;
    ws_buf *rframe = NULL; /* the resume envelope, built once on the first resumable subscriber */

    int policy = t->policy ? t->policy : srv->cfg.backpressure_policy;
    long queued = 0;
    ws_conn **slow = NULL; /* closed after the walk: closing may change the subscriber array */
    uint32_t n_slow = 0;
    for (uint32_t i = 0; i < t->n_subs; i++) {
        ws_conn *c = t->subs[i];
        if (c->flags & WS_CONN_F_EXCLUDED) continue;
        ws_buf *f = zframe && takes_shared_compressed(c) ? zframe : frame;
        if (ws_conn_legacy(c)) { /* built once, on the first legacy subscriber */
            if (!hframe && !(hframe = make_hixie_frame(opcode, payload, payload_len))) continue;
            f = hframe;
        } else if (ws_conn_resume(c)) {
            if (!rframe && !(rframe = make_envelope('m', seq, name, len, opcode, payload, payload_len))) continue;
            f = rframe;
        }
        int r = ws_conn_send_shared(c, f, srv->cfg.max_backpressure);
        if (r > 0) {
            queued++;
        } else if (r == 0) { /* past maxBackpressure */
            if (policy == WS_BACKPRESSURE_CLOSE) {
                if (!slow) slow = malloc(t->n_subs * sizeof *slow);
                if (slow) slow[n_slow++] = c;
            } else {
                ws_conn_rare *r = ws_conn_rare_fields(c);
                if (r) r->dropped++;
                t->dropped++;
                srv->stats.dropped++;
            }
        }
    }
    ws_buf_unref(frame);
    if (zframe) ws_buf_unref(zframe);
    if (hframe) ws_buf_unref(hframe);
    if (rframe) ws_buf_unref(rframe);
    srv->stats.deliveries += (uint64_t)queued;
    srv->stats.messages_out += (uint64_t)queued;
    srv->stats.payload_out += (uint64_t)queued * payload_len;
    srv->stats.closed_slow += n_slow;
    for (uint32_t i = 0; i < n_slow; i++) ws_conn_close_slow(slow[i]);
    free(slow);
    return queued;
}

int ws_pubsub_set_history(ws_server *srv, const char *name, size_t len, uint32_t messages, uint64_t bytes,
                          uint64_t ms, uint64_t base) {
    ws_topic *t = messages ? find_or_create(&srv->pubsub, name, len) : ws_pubsub_find(&srv->pubsub, name, len);
    if (!t) return messages ? -1 : 0;
    ws_history *h = NULL;
    if (messages && !(h = ws_history_new((ws_history_limits){messages, bytes, ms}))) {
        maybe_free(&srv->pubsub, t);
        return -1;
    }
    /* new limits start a new ring: seqs go on, so a client past the old one is told it missed too much */
    ws_history_free(t->history);
    t->history = h;
    if (h && !t->seq) t->seq = base;
    maybe_free(&srv->pubsub, t);
    return 0;
}

long ws_pubsub_replay(ws_server *srv, ws_conn *c, const char *name, size_t len, uint64_t last) {
    ws_topic *t = ws_pubsub_find(&srv->pubsub, name, len);
    uint64_t current = t ? t->seq : 0;
    long from = WS_HISTORY_GAP;
    if (t && t->history) {
        ws_history_expire(t->history, uv_now(srv->loop));
        from = ws_history_from(t->history, last, current);
    }
    if (from == WS_HISTORY_NOTHING) return 0;
    if (from == WS_HISTORY_GAP) {
        ws_buf *g = make_envelope('g', current, name, len, WS_OP_TEXT, NULL, 0);
        if (!g) return -2;
        ws_conn_send_shared(c, g, UINT64_MAX);
        ws_buf_unref(g);
        return -1;
    }
    long n = 0;
    /* the ring is bounded by its bytes: no backpressure bound, or a replay would lose what it exists to keep */
    for (const ws_history_entry *e; (e = ws_history_at(t->history, (uint32_t)(from + n))); n++) {
        ws_buf *f = make_envelope('m', e->seq, name, len, e->opcode, e->data, e->len);
        if (!f) return -2;
        ws_conn_send_shared(c, f, UINT64_MAX);
        ws_buf_unref(f);
    }
    return n;
}

void ws_pubsub_free(ws_pubsub *ps) {
    for (size_t i = 0; i < ps->n_buckets; i++) {
        for (ws_topic *t = ps->buckets[i], *next; t; t = next) {
            next = t->next;
            ws_history_free(t->history);
            free(t->subs);
            free(t);
        }
    }
    free(ps->buckets);
    memset(ps, 0, sizeof *ps);
}
