/* SockJS sessions: see sockjs_session.h. */
#include "sockjs_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connection.h"
#include "sockjs.h"

struct ws_sjs_session {
    ws_sjs_session *next; /* hash chain */
    ws_conn *conn;        /* the session's connection; NULL once it ended */
    ws_conn *recv;        /* the request receiving frames now, or NULL */
    uint32_t t_idle;      /* ms since when no receiver has been attached */
    uint32_t t_out;       /* ms of the last frame to a receiver */
    uint32_t sent;        /* bytes to the current streaming receiver */
    uint8_t transport;    /* the receiver's */
    uint8_t head_sent;    /* the receiver's response head is out */
    char *cb;             /* htmlfile / jsonp callback of the receiver; owned */
    char *close_frame;    /* c[code,"reason"] once closed; owned */
    uint8_t http10;       /* the receiver spoke HTTP/1.0 */
    char *head;           /* the first receiver's response head, written on accept; owned */
    size_t head_len;
    size_t key_len;
    char key[];           /* resource, NUL, session id */
};

struct ws_sjs_table {
    ws_sjs_session **buckets;
    size_t n_buckets, n;
};

static const char GO_AWAY[] = "c[3000,\"Go away!\"]";
static const char STILL_OPEN[] = "c[2010,\"Another connection still open\"]";
#define SJS_PRELUDE 2048

/* ---- the table ------------------------------------------------------ */

static uint64_t hash(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static ws_sjs_table *table(ws_server *srv) {
    if (!srv->sjs) {
        srv->sjs = calloc(1, sizeof *srv->sjs);
        if (!srv->sjs) return NULL;
    }
    ws_sjs_table *t = srv->sjs;
    if (t->n >= t->n_buckets) { /* grow: at most one session per bucket on average */
        size_t nb = t->n_buckets ? t->n_buckets * 2 : 256;
        ws_sjs_session **b = calloc(nb, sizeof *b);
        if (!b) return t->buckets ? t : NULL;
        for (size_t i = 0; i < t->n_buckets; i++) {
            for (ws_sjs_session *s = t->buckets[i], *next; s; s = next) {
                next = s->next;
                size_t k = hash(s->key, s->key_len) & (nb - 1);
                s->next = b[k];
                b[k] = s;
            }
        }
        free(t->buckets);
        t->buckets = b;
        t->n_buckets = nb;
    }
    return t;
}

static size_t make_key(char *key, const ws_sjs_route *r) {
    memcpy(key, r->resource, r->resource_len);
    key[r->resource_len] = 0;
    memcpy(key + r->resource_len + 1, r->session, r->session_len);
    return r->resource_len + 1 + r->session_len;
}

static ws_sjs_session *lookup(ws_server *srv, const char *key, size_t key_len) {
    ws_sjs_table *t = srv->sjs;
    if (!t || !t->n_buckets) return NULL;
    for (ws_sjs_session *s = t->buckets[hash(key, key_len) & (t->n_buckets - 1)]; s; s = s->next)
        if (s->key_len == key_len && memcmp(s->key, key, key_len) == 0) return s;
    return NULL;
}

static void session_free(ws_sjs_session *s) {
    free(s->head);
    free(s->cb);
    free(s->close_frame);
    free(s);
}

void ws_sjs_table_sweep(ws_server *srv, uint32_t now) {
    ws_sjs_table *t = srv->sjs;
    if (!t) return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        for (ws_sjs_session **pp = &t->buckets[i]; *pp;) {
            ws_sjs_session *s = *pp;
            if (!s->conn && !s->recv && now - s->t_idle >= srv->cfg.sjs_disconnect_ms) {
                *pp = s->next;
                t->n--;
                session_free(s);
            } else {
                pp = &s->next;
            }
        }
    }
}

void ws_sjs_table_free(ws_server *srv) {
    ws_sjs_table *t = srv->sjs;
    if (!t) return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        for (ws_sjs_session *s = t->buckets[i], *next; s; s = next) {
            next = s->next; /* every connection is gone by now */
            session_free(s);
        }
    }
    free(t->buckets);
    free(t);
    srv->sjs = NULL;
}

/* ---- answers -------------------------------------------------------- */

typedef struct {
    char *p;
    size_t cap, len;
    int ok;
} out_buf;

static void put(out_buf *b, const char *s, size_t n) {
    if (!b->ok || b->len + n > b->cap) {
        b->ok = 0;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(out_buf *b, const char *s) {
    put(b, s, strlen(s));
}

static void putf(out_buf *b, const char *fmt, const char *a, size_t n) {
    char tmp[1200];
    int k = snprintf(tmp, sizeof tmp, fmt, (int)n, a);
    if (k < 0 || (size_t)k >= sizeof tmp) b->ok = 0;
    else put(b, tmp, (size_t)k);
}

static const ws_http_header *header(const ws_http_request *req, const char *name) {
    return ws_http_find(req, name);
}

/* Access-Control-Allow-Origin (the request's Origin, or * when there is
 * none or it is "null"), -Credentials, and -Allow-Headers echoing the
 * request's Access-Control-Request-Headers. */
static void cors(out_buf *b, const ws_http_request *req) {
    const ws_http_header *o = header(req, "origin");
    if (o && !(o->value_len == 4 && memcmp(o->value, "null", 4) == 0) && o->value_len < 1000)
        putf(b, "Access-Control-Allow-Origin: %.*s\r\n", o->value, o->value_len);
    else puts_(b, "Access-Control-Allow-Origin: *\r\n");
    puts_(b, "Access-Control-Allow-Credentials: true\r\n");
    const ws_http_header *h = header(req, "access-control-request-headers");
    if (h && h->value_len < 1000) putf(b, "Access-Control-Allow-Headers: %.*s\r\n", h->value, h->value_len);
}

static void no_cache(out_buf *b) {
    puts_(b, "Cache-Control: no-store, no-cache, no-transform, must-revalidate, max-age=0\r\n");
}

static void cache_for_a_year(out_buf *b) {
    puts_(b, "Cache-Control: public, max-age=31536000\r\nExpires: Fri, 01 Jan 2100 00:00:00 GMT\r\n");
}

/* JSESSIONID when cookie_needed: the client's own value, else "dummy". */
static void cookie(out_buf *b, ws_server *srv, const ws_http_request *req) {
    if (!srv->cfg.sjs_cookie_needed) return;
    const ws_http_header *h = header(req, "cookie");
    const char *v = "dummy";
    size_t n = 5;
    if (h) {
        const char *at = NULL;
        for (size_t i = 0; i + 11 <= h->value_len; i++)
            if (memcmp(h->value + i, "JSESSIONID=", 11) == 0 && (i == 0 || h->value[i - 1] == ' ' || h->value[i - 1] == ';')) {
                at = h->value + i + 11;
                break;
            }
        if (at) {
            size_t k = 0;
            while (at + k < h->value + h->value_len && at[k] != ';' && k < 64) k++;
            if (k) v = at, n = k;
        }
    }
    putf(b, "Set-Cookie: JSESSIONID=%.*s; path=/\r\n", v, n);
}

/* A whole answer: status, headers, Content-Length, body; the connection
 * closes after it. */
static void answer(ws_conn *c, const ws_http_request *req, int status, const char *extra, const char *type,
                   const char *body, size_t body_len, int with_cors) {
    char head[4096];
    out_buf b = {head, sizeof head, 0, 1};
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, ws_http_status_phrase(status));
    puts_(&b, line);
    if (type) putf(&b, "Content-Type: %.*s\r\n", type, strlen(type));
    if (with_cors && req) cors(&b, req);
    if (extra) puts_(&b, extra);
    if (status != 204 && status != 304) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", body_len);
        puts_(&b, line);
    }
    puts_(&b, "Connection: close\r\n\r\n");
    if (!body || status == 304) body_len = 0;
    if (c->rare && c->rare->sjs_role == WS_SJS_ROLE_PROBE && !c->rare->sjs_answer) { /* kept for ws_sjs_probe_answer */
        char *a = b.ok ? malloc(b.len + body_len) : NULL;
        if (!a) {
            ws_conn_finish(c);
            return;
        }
        memcpy(a, head, b.len);
        if (body_len) memcpy(a + b.len, body, body_len);
        c->rare->sjs_answer = a;
        c->rare->sjs_answer_len = (uint32_t)(b.len + body_len);
        c->rare->sjs_answer_status = (uint16_t)status;
        return;
    }
    ws_stats_status(&c->srv->stats, status);
    if (!b.ok || ws_conn_write_raw(c, head, b.len) != 0 ||
        (body_len && status != 304 && ws_conn_write_raw(c, body, body_len) != 0)) {
        ws_conn_finish(c);
        return;
    }
    ws_conn_end_response(c);
}

static void text(ws_conn *c, const ws_http_request *req, int status, const char *body) {
    answer(c, req, status, NULL, "text/plain; charset=UTF-8", body, strlen(body), 1);
}

static void preflight(ws_conn *c, const ws_http_request *req, const char *methods) {
    char extra[256];
    out_buf b = {extra, sizeof extra - 1, 0, 1};
    cache_for_a_year(&b);
    puts_(&b, "Access-Control-Max-Age: 31536000\r\nAccess-Control-Allow-Methods: ");
    puts_(&b, methods);
    puts_(&b, "\r\n");
    extra[b.ok ? b.len : 0] = 0;
    answer(c, req, 204, extra, NULL, NULL, 0, 1);
}

static void not_allowed(ws_conn *c, const ws_http_request *req, const char *methods) {
    char extra[128];
    snprintf(extra, sizeof extra, "Allow: %s\r\n", methods);
    answer(c, req, 405, extra, NULL, NULL, 0, 1);
}

static int method_is(const ws_http_request *req, const char *m) {
    return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

static void info(ws_conn *c, const ws_http_request *req) {
    ws_server *srv = c->srv;
    char body[512];
    uint32_t entropy;
    uv_random(NULL, NULL, &entropy, sizeof entropy, 0, NULL);
    snprintf(body, sizeof body, "{\"websocket\":%s,\"cookie_needed\":%s,\"origins\":[\"*:*\"],\"entropy\":%u}",
             srv->cfg.sjs_websocket ? "true" : "false", srv->cfg.sjs_cookie_needed ? "true" : "false", (unsigned)entropy);
    char extra[160];
    out_buf b = {extra, sizeof extra - 1, 0, 1};
    no_cache(&b);
    extra[b.ok ? b.len : 0] = 0;
    answer(c, req, 200, extra, "application/json; charset=UTF-8", body, strlen(body), 1);
}

static void iframe(ws_conn *c, const ws_http_request *req) {
    const char *url = c->srv->cfg.sjs_url ? c->srv->cfg.sjs_url : "";
    char body[2048];
    int n = snprintf(body, sizeof body,
                     "<!DOCTYPE html>\n<html>\n<head>\n"
                     "  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n"
                     "  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n"
                     "  <script>\n    document.domain = document.domain;\n"
                     "    _sockjs_onload = function(){SockJS.bootstrap_iframe();};\n  </script>\n"
                     "  <script src=\"%s\"></script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n"
                     "  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>",
                     url);
    if (n < 0 || (size_t)n >= sizeof body) {
        text(c, req, 500, "sockjsUrl too long");
        return;
    }
    char etag[24];
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)hash(body, (size_t)n));
    char extra[256];
    out_buf b = {extra, sizeof extra - 1, 0, 1};
    cache_for_a_year(&b);
    puts_(&b, "ETag: ");
    puts_(&b, etag);
    puts_(&b, "\r\n");
    extra[b.ok ? b.len : 0] = 0;
    const ws_http_header *inm = header(req, "if-none-match");
    if (inm && inm->value_len == strlen(etag) && memcmp(inm->value, etag, inm->value_len) == 0) {
        answer(c, req, 304, extra, NULL, NULL, 0, 0);
        return;
    }
    answer(c, req, 200, extra, "text/html; charset=UTF-8", body, (size_t)n, 0);
}

/* The greeting, /info and iframe.html answer only for a resource that
 * exists: the answer is made now and kept, and JS, asked as for a session,
 * accepts (it goes out) or rejects (its status goes out instead). */
static void probe(ws_conn *c, const ws_http_request *req, ws_handshake *hs, const ws_sjs_route *rt) {
    ws_conn_rare *rare = ws_conn_rare_fields(c);
    if (!rare) {
        ws_conn_finish(c);
        return;
    }
    rare->sjs_role = WS_SJS_ROLE_PROBE;
    if (rt->kind == WS_SJS_INFO) info(c, req);
    else if (rt->kind == WS_SJS_IFRAME) iframe(c, req);
    else text(c, req, 200, "Welcome to SockJS!\n");
    if (!rare->sjs_answer) return; /* out of memory: finished */
    hs->path = rt->resource;
    hs->path_len = rt->resource_len;
    hs->transport = "sockjs-probe";
    c->state = WS_CONN_PENDING;
    c->t_state = ws_server_now(c->srv);
    ws_conn_upgrade_hook(c, req, hs);
}

int ws_sjs_probe_answer(ws_conn *c, int status, const char *reason) {
    ws_conn_rare *rare = c->rare;
    if (!rare || rare->sjs_role != WS_SJS_ROLE_PROBE || !rare->sjs_answer || c->state != WS_CONN_PENDING) return -1;
    c->flags &= (uint16_t)~WS_CONN_F_JS; /* JS keeps nothing for it: no close event */
    rare->sjs_role = WS_SJS_ROLE_NONE;
    char *a = rare->sjs_answer;
    size_t len = rare->sjs_answer_len;
    int kept_status = rare->sjs_answer_status;
    rare->sjs_answer = NULL;
    c->state = WS_CONN_HANDSHAKE; /* answered as any other HTTP request */
    if (status) {
        free(a);
        char body[256];
        snprintf(body, sizeof body, "%s", reason && *reason ? reason : ws_http_status_phrase(status));
        text(c, NULL, status, body);
        return 0;
    }
    ws_stats_status(&c->srv->stats, kept_status);
    int failed = ws_conn_write_raw(c, a, len);
    free(a);
    if (failed) ws_conn_finish(c);
    else ws_conn_end_response(c);
    return 0;
}

/* ---- receivers ------------------------------------------------------ */

static ws_sjs_session *of(const ws_conn *c) {
    return c->rare ? c->rare->sjs : NULL;
}

static void detach(ws_sjs_session *s) {
    ws_conn *r = s->recv;
    if (!r) return;
    s->recv = NULL;
    s->head_sent = 0;
    s->sent = 0;
    free(s->cb);
    s->cb = NULL;
    s->t_idle = ws_server_now(r->srv);
    if (r->rare) r->rare->sjs = NULL;
}

/* The receiver's response head and the transport's prelude, into b. */
static void build_head(ws_sjs_session *s, ws_server *srv, const ws_http_request *req, out_buf *b_) {
    out_buf b = *b_;
    const char *type = "application/javascript; charset=UTF-8";
    if (s->transport == WS_SJS_T_EVENTSOURCE) type = "text/event-stream; charset=UTF-8";
    else if (s->transport == WS_SJS_T_HTMLFILE) type = "text/html; charset=UTF-8";
    puts_(&b, "HTTP/1.1 200 OK\r\nContent-Type: ");
    puts_(&b, type);
    puts_(&b, "\r\n");
    no_cache(&b);
    cors(&b, req);
    cookie(&b, srv, req);
    puts_(&b, "Connection: close\r\n\r\n");
    if (s->transport == WS_SJS_T_XHR_STREAMING) {
        char prelude[SJS_PRELUDE + 1];
        memset(prelude, 'h', SJS_PRELUDE);
        prelude[SJS_PRELUDE] = '\n';
        put(&b, prelude, sizeof prelude);
    } else if (s->transport == WS_SJS_T_EVENTSOURCE) {
        puts_(&b, "\r\n");
    } else if (s->transport == WS_SJS_T_HTMLFILE) {
        char doc[1400];
        int n = snprintf(doc, sizeof doc,
                         "<!doctype html>\n<html><head>\n"
                         "  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n"
                         "  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n"
                         "</head><body><h2>Don't panic!</h2>\n  <script>\n    document.domain = document.domain;\n"
                         "    var c = parent.%s;\n    c.start();\n    function p(d) {c.message(d);};\n"
                         "    window.onload = function() {c.stop();};\n  </script>",
                         s->cb ? s->cb : "");
        if (n < 0 || (size_t)n >= sizeof doc - 2) n = 0, b.ok = 0;
        while (n < 1024) doc[n++] = ' '; /* old browsers render nothing before 1 KiB */
        doc[n++] = '\r';
        doc[n++] = '\n';
        put(&b, doc, (size_t)n);
    }
    *b_ = b;
}

static int write_head(ws_sjs_session *s, const char *head, size_t len) {
    ws_stats_status(&s->recv->srv->stats, 200);
    if (ws_conn_write_raw(s->recv, head, len) != 0) return -1;
    s->head_sent = 1;
    return 0;
}

static int send_head(ws_sjs_session *s, const ws_http_request *req) {
    char head[8192];
    out_buf b = {head, sizeof head, 0, 1};
    build_head(s, s->recv->srv, req, &b);
    return b.ok ? write_head(s, head, b.len) : -1;
}

/* One frame to the receiver; a polling one ends with it, a streaming one
 * past the response limit. */
static void send_frame(ws_sjs_session *s, const uint8_t *frame, size_t len) {
    ws_conn *r = s->recv;
    if (!r || !s->head_sent) return;
    size_t cb_len = s->cb ? strlen(s->cb) : 0;
    size_t cap = ws_sjs_wrap_bound(len, cb_len);
    uint8_t small[512];
    uint8_t *w = cap <= sizeof small ? small : malloc(cap);
    if (!w) {
        ws_conn_finish(r);
        return;
    }
    size_t n = ws_sjs_wrap(w, (ws_sjs_transport)s->transport, s->cb, cb_len, frame, len);
    int failed = ws_conn_write_raw(r, w, n) != 0;
    if (w != small) free(w);
    s->t_out = ws_server_now(r->srv);
    s->sent += (uint32_t)(n > UINT32_MAX - s->sent ? UINT32_MAX - s->sent : n);
    if (failed) {
        ws_conn_finish(r);
        return;
    }
    if (!ws_sjs_streams((ws_sjs_transport)s->transport) || s->sent >= r->srv->cfg.sjs_response_limit) {
        detach(s);
        ws_conn_end_response(r);
    }
}

/* A frame to a request that is not the session's receiver, then the end. */
static void send_once(ws_conn *c, const ws_http_request *req, ws_sjs_transport t, const char *cb, const char *frame) {
    ws_sjs_session tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.recv = c;
    tmp.transport = (uint8_t)t;
    tmp.cb = (char *)cb;
    if (send_head(&tmp, req) != 0) {
        ws_conn_finish(c);
        return;
    }
    uint8_t w[2048];
    size_t n = ws_sjs_wrap(w, t, cb, cb ? strlen(cb) : 0, (const uint8_t *)frame, strlen(frame));
    if (ws_conn_write_raw(c, w, n) != 0) {
        ws_conn_finish(c);
        return;
    }
    ws_conn_end_response(c);
}

typedef struct {
    ws_bytes *out;
    int failed;
} gather;

static void add_message(void *ctx, const uint8_t *payload, size_t len) {
    gather *g = ctx;
    if (g->failed) return;
    uint8_t sep = g->out->len ? ',' : '[';
    if (ws_bytes_append(g->out, &sep, 1) != 0 || ws_bytes_append(g->out, payload, len) != 0) g->failed = 1;
}

void ws_sjs_flush(ws_conn *c) {
    ws_sjs_session *s = of(c);
    if (!s || !s->recv || !s->head_sent || !ws_conn_buffered(c)) return;
    ws_bytes frame = {0};
    gather g = {&frame, 0};
    ws_bytes_append(&frame, "a", 1);
    frame.len = 0; /* room kept; 'a' is put back below */
    ws_conn_take_queue(c, add_message, &g);
    if (g.failed || !frame.len || ws_bytes_append(&frame, "]", 1) != 0) {
        ws_bytes_free(&frame);
        ws_conn_finish(s->recv);
        return;
    }
    /* frame is "[...]": send "a[...]" */
    uint8_t *a = malloc(frame.len + 1);
    if (a) {
        a[0] = 'a';
        memcpy(a + 1, frame.data, frame.len);
        send_frame(s, a, frame.len + 1);
        free(a);
    } else {
        ws_conn_finish(s->recv);
    }
    ws_bytes_free(&frame);
}

/* ---- the session's life --------------------------------------------- */

int ws_sjs_accept(ws_conn *c) {
    ws_sjs_session *s = of(c);
    if (!s || c->state != WS_CONN_PENDING) return -1;
    c->state = WS_CONN_OPEN;
    c->t_state = c->t_read = ws_server_now(c->srv);
    if (s->recv && !s->head_sent && s->head) {
        int failed = write_head(s, s->head, s->head_len);
        free(s->head);
        s->head = NULL;
        if (failed) {
            ws_conn_finish(s->recv);
        } else {
            send_frame(s, (const uint8_t *)"o", 1);
        }
    }
    return 0;
}

int ws_sjs_reject(ws_conn *c, int status, const char *reason) {
    ws_sjs_session *s = of(c);
    if (!s || c->state != WS_CONN_PENDING) return -1;
    c->flags &= (uint16_t)~WS_CONN_F_JS; /* JS decided: no close event */
    ws_conn *r = s->recv;
    if (r) {
        detach(s);
        char body[256];
        snprintf(body, sizeof body, "%s", reason ? reason : ws_http_status_phrase(status));
        text(r, NULL, status, body);
    }
    ws_conn_finish(c);
    return 0;
}

void ws_sjs_close(ws_conn *c, uint16_t code, const char *reason, size_t len) {
    ws_sjs_session *s = of(c);
    if (!s || s->close_frame) return;
    char frame[400];
    size_t n = ws_sjs_close_frame(frame, sizeof frame - 1, code, reason, len > 123 ? 123 : len);
    if (!n) n = (size_t)snprintf(frame, sizeof frame, "%s", GO_AWAY);
    frame[n] = 0;
    ws_sjs_flush(c); /* what JS sent before closing goes first */
    s->close_frame = strdup(frame);
    if (s->recv && s->head_sent) {
        send_frame(s, (const uint8_t *)frame, n);
        if (s->recv) { /* a streaming receiver: the session is over, so is its response */
            ws_conn *r = s->recv;
            detach(s);
            ws_conn_end_response(r);
        }
    }
    ws_conn_set_closed(c, code, reason, len);
    ws_conn_finish(c);
}

void ws_sjs_conn_gone(ws_conn *c) {
    ws_sjs_session *s = of(c);
    if (!s) return;
    if (c->rare->sjs_role == WS_SJS_ROLE_RECEIVER) {
        if (s->recv == c) detach(s);
        c->rare->sjs = NULL;
        return;
    }
    /* the session's connection: it ended without a close from JS (timeout, abort, shutdown) */
    if (!s->close_frame) s->close_frame = strdup(GO_AWAY);
    if (s->recv && s->head_sent && s->close_frame) {
        ws_conn *r = s->recv;
        send_frame(s, (const uint8_t *)s->close_frame, strlen(s->close_frame));
        if (s->recv == r) {
            detach(s);
            ws_conn_end_response(r);
        }
    } else if (s->recv) {
        ws_conn *r = s->recv;
        detach(s);
        ws_conn_finish(r);
    }
    s->conn = NULL;
    s->t_idle = ws_server_now(c->srv);
    c->rare->sjs = NULL;
}

void ws_sjs_sweep(ws_conn *c, uint32_t now) {
    ws_sjs_session *s = of(c);
    const ws_server_config *cfg = &c->srv->cfg;
    if (!s || c->rare->sjs_role != WS_SJS_ROLE_SESSION) {
        if (c->state >= WS_CONN_CLOSING && now - c->t_state >= cfg->close_timeout_ms) ws_conn_finish(c);
        return;
    }
    if (c->state == WS_CONN_PENDING) {
        if (now - c->t_state >= cfg->handshake_timeout_ms) ws_sjs_reject(c, 503, "Upgrade decision timed out");
        return;
    }
    if (s->recv) {
        if (s->head_sent && now - s->t_out >= cfg->sjs_heartbeat_ms) send_frame(s, (const uint8_t *)"h", 1);
    } else if (now - s->t_idle >= cfg->sjs_disconnect_ms) {
        static const char reason[] = "session timed out";
        ws_conn_set_closed(c, WS_CLOSE_GOING_AWAY, reason, sizeof reason - 1);
        ws_conn_finish(c);
    }
}

/* ---- requests ------------------------------------------------------- */

typedef struct {
    ws_conn *session;
    int failed;
} emit_ctx;

static int emit_one(void *ctx, const uint8_t *m, size_t len) {
    emit_ctx *e = ctx;
    if (ws_conn_emit_text(e->session, m, len) != 0) {
        e->failed = 1;
        return -2;
    }
    return 0;
}

/* Content-Length's value; 0 when absent, -1 when malformed. */
static long content_length(const ws_http_request *req) {
    const ws_http_header *h = header(req, "content-length");
    if (!h) return 0;
    long v = 0;
    if (!h->value_len || h->value_len > 12) return -1;
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9') return -1;
        v = v * 10 + (h->value[i] - '0');
    }
    return v;
}

static void on_send(ws_conn *c, const ws_http_request *req, const ws_sjs_route *rt, const uint8_t *body, size_t len) {
    char key[WS_SJS_SESSION_MAX + 1200];
    ws_sjs_session *s = rt->resource_len < 1000 ? lookup(c->srv, key, make_key(key, rt)) : NULL;
    if (!s || !s->conn || s->conn->state != WS_CONN_OPEN || s->close_frame) {
        text(c, req, 404, "Not Found");
        return;
    }
    const uint8_t *json = body;
    size_t json_len = len;
    char *form = NULL;
    if (rt->transport == WS_SJS_T_JSONP_SEND) {
        const ws_http_header *ct = header(req, "content-type");
        if (ct && ct->value_len >= 33 && strncasecmp(ct->value, "application/x-www-form-urlencoded", 33) == 0) {
            form = malloc(len + 1);
            long n = form ? ws_sjs_form_value((const char *)body, len, "d", form) : -1;
            if (n <= 0) {
                free(form);
                text(c, req, 500, "Payload expected.");
                return;
            }
            json = (const uint8_t *)form;
            json_len = (size_t)n;
        }
    }
    if (!json_len) {
        free(form);
        text(c, req, 500, "Payload expected.");
        return;
    }
    uint8_t *out = malloc(3 * json_len);
    if (!out) {
        free(form);
        text(c, req, 500, "Out of memory");
        return;
    }
    if (ws_sjs_decode(json, json_len, out, NULL, NULL) < 0) { /* all or nothing: check first */
        free(out);
        free(form);
        text(c, req, 500, "Broken JSON encoding.");
        return;
    }
    emit_ctx e = {s->conn, 0};
    ws_sjs_decode(json, json_len, out, emit_one, &e);
    free(out);
    free(form);
    if (e.failed) {
        text(c, req, 500, "Out of memory");
        return;
    }
    char extra[96] = "";
    out_buf b = {extra, sizeof extra - 1, 0, 1};
    cookie(&b, c->srv, req);
    extra[b.ok ? b.len : 0] = 0;
    if (rt->transport == WS_SJS_T_JSONP_SEND) answer(c, req, 200, extra, "text/plain; charset=UTF-8", "ok", 2, 1);
    else answer(c, req, 204, extra, "text/plain; charset=UTF-8", NULL, 0, 1);
}

static int attach(ws_conn *c, ws_sjs_session *s, ws_sjs_transport t, const char *cb, size_t cb_len) {
    ws_conn_rare *rare = ws_conn_rare_fields(c);
    if (!rare) return -1;
    if (cb) {
        s->cb = malloc(cb_len + 1);
        if (!s->cb) return -1;
        memcpy(s->cb, cb, cb_len);
        s->cb[cb_len] = 0;
    }
    rare->sjs = s;
    rare->sjs_role = WS_SJS_ROLE_RECEIVER;
    s->recv = c;
    s->transport = (uint8_t)t;
    s->sent = 0;
    s->head_sent = 0;
    s->t_out = ws_server_now(c->srv);
    c->state = WS_CONN_OPEN; /* not known to JS: only the session is */
    return 0;
}

static void on_receive(ws_conn *c, const ws_http_request *req, ws_handshake *hs, const ws_sjs_route *rt) {
    ws_server *srv = c->srv;
    char cb[300];
    size_t cb_len = 0;
    if (rt->transport == WS_SJS_T_HTMLFILE || rt->transport == WS_SJS_T_JSONP) {
        long n = hs->query && hs->query_len < sizeof cb ? ws_sjs_form_value(hs->query, hs->query_len, "c", cb) : -1;
        if (n < 0 && hs->query && hs->query_len >= sizeof cb) n = 0;
        if (n <= 0) {
            text(c, req, 500, "\"callback\" parameter required");
            return;
        }
        if (!ws_sjs_callback_ok(cb, (size_t)n)) {
            text(c, req, 500, "invalid \"callback\" parameter");
            return;
        }
        cb_len = (size_t)n;
        cb[cb_len] = 0;
    }
    const char *cbp = cb_len ? cb : NULL;
    char key[WS_SJS_SESSION_MAX + 1200];
    if (rt->resource_len >= 1000) {
        text(c, req, 404, "Not Found");
        return;
    }
    size_t key_len = make_key(key, rt);
    ws_sjs_session *s = lookup(srv, key, key_len);
    if (s && s->close_frame) {
        send_once(c, req, rt->transport, cbp, s->close_frame);
        return;
    }
    if (s && s->recv) {
        send_once(c, req, rt->transport, cbp, STILL_OPEN);
        return;
    }
    if (s) {
        if (attach(c, s, rt->transport, cbp, cb_len) != 0 || send_head(s, req) != 0) {
            ws_conn_finish(c);
            return;
        }
        if (ws_conn_buffered(s->conn)) ws_sjs_flush(s->conn);
        ws_bytes_free(&c->in); /* the head is no longer needed */
        return;
    }
    if (srv->shutting_down) {
        text(c, req, 503, "Server shutting down");
        return;
    }
    ws_sjs_table *t = table(srv);
    ws_conn *sc = t ? ws_server_add_virtual(srv) : NULL;
    s = sc ? calloc(1, sizeof *s + key_len) : NULL;
    ws_conn_rare *rare = s ? ws_conn_rare_fields(sc) : NULL;
    char addr[64] = "";
    int port = 0;
    ws_conn_peer(c, addr, sizeof addr, &port);
    if (!rare || !(rare->peer = strdup(addr)) || attach(c, s, rt->transport, cbp, cb_len) != 0) {
        if (sc) ws_conn_finish(sc);
        free(s);
        text(c, req, 500, "Out of memory");
        return;
    }
    rare->peer_port = (uint16_t)port;
    rare->sjs = s;
    rare->sjs_role = WS_SJS_ROLE_SESSION;
    s->conn = sc;
    s->key_len = key_len;
    memcpy(s->key, key, key_len);
    size_t b = hash(key, key_len) & (t->n_buckets - 1);
    s->next = t->buckets[b];
    t->buckets[b] = s;
    t->n++;
    /* the head goes out on accept (made now, from this request); a reject answers this request instead */
    char head[8192];
    out_buf hb = {head, sizeof head, 0, 1};
    build_head(s, srv, req, &hb);
    if (!hb.ok || !(s->head = malloc(hb.len))) {
        text(c, req, 500, "Out of memory");
        ws_conn_finish(sc);
        return;
    }
    memcpy(s->head, head, hb.len);
    s->head_len = hb.len;
    hs->path = rt->resource;
    hs->path_len = rt->resource_len;
    hs->transport = ws_sjs_transport_name(rt->transport);
    sc->state = WS_CONN_PENDING;
    sc->t_state = ws_server_now(srv);
    ws_conn_upgrade_hook(sc, req, hs);
    ws_bytes_free(&c->in); /* req pointed into it until now */
}

int ws_sjs_request(ws_conn *c, const ws_http_request *req, ws_handshake *hs, size_t head_len) {
    ws_server *srv = c->srv;
    const char *path = req->target;
    size_t path_len = req->target_len;
    const char *q = memchr(path, '?', path_len);
    if (q) path_len = (size_t)(q - path);
    ws_sjs_route rt;
    ws_sjs_route_parse(path, path_len, srv->cfg.sjs_prefix, strlen(srv->cfg.sjs_prefix), &rt);
    if (rt.kind == WS_SJS_NOT_OURS) return 0;
    hs->query = q ? q + 1 : NULL;
    hs->query_len = q ? req->target_len - path_len - 1 : 0;
    const ws_http_header *origin = header(req, "origin");
    if (origin && srv->cfg.n_origins &&
        !ws_origin_allowed(origin->value, origin->value_len, (const char *const *)srv->cfg.origins, srv->cfg.n_origins)) {
        text(c, req, 403, "Origin not allowed");
        return 1;
    }
    int options = method_is(req, "OPTIONS");
    switch (rt.kind) {
    case WS_SJS_ROOT:
    case WS_SJS_IFRAME:
        if (method_is(req, "GET")) probe(c, req, hs, &rt);
        else not_allowed(c, req, "GET");
        return 1;
    case WS_SJS_INFO:
        if (options) preflight(c, req, "OPTIONS, GET");
        else if (method_is(req, "GET")) probe(c, req, hs, &rt);
        else not_allowed(c, req, "OPTIONS, GET");
        return 1;
    case WS_SJS_RAW_WEBSOCKET:
    case WS_SJS_SESSION:
        if (rt.kind == WS_SJS_RAW_WEBSOCKET || rt.transport == WS_SJS_T_WEBSOCKET) {
            if (!srv->cfg.sjs_websocket) {
                text(c, req, 404, "Not Found");
                return 1;
            }
            if (!method_is(req, "GET")) {
                not_allowed(c, req, "GET");
                return 1;
            }
            if (hs->kind == WS_HS_PLAIN_GET) {
                text(c, req, 400, "Can \"Upgrade\" only to \"WebSocket\".");
                return 1;
            }
            if (hs->kind == WS_HS_UPGRADE) {
                hs->path = rt.resource;
                hs->path_len = rt.resource_len;
                if (rt.kind == WS_SJS_SESSION) {
                    ws_conn_rare *rare = ws_conn_rare_fields(c);
                    if (!rare) {
                        ws_conn_finish(c);
                        return 1;
                    }
                    rare->sjs_role = WS_SJS_ROLE_WEBSOCKET;
                    hs->transport = "sockjs-websocket";
                }
            }
            return 0; /* a bad upgrade gets the engine's own answer */
        }
        break;
    default:
        text(c, req, 404, "Not Found");
        return 1;
    }
    int posts = rt.transport == WS_SJS_T_XHR || rt.transport == WS_SJS_T_XHR_SEND ||
                rt.transport == WS_SJS_T_XHR_STREAMING || rt.transport == WS_SJS_T_JSONP_SEND;
    if (options && (rt.transport == WS_SJS_T_XHR || rt.transport == WS_SJS_T_XHR_SEND || rt.transport == WS_SJS_T_XHR_STREAMING)) {
        preflight(c, req, "OPTIONS, POST");
        return 1;
    }
    if (!method_is(req, posts ? "POST" : "GET")) {
        not_allowed(c, req, posts ? "OPTIONS, POST" : "GET");
        return 1;
    }
    if (!ws_sjs_receives(rt.transport)) {
        const ws_http_header *te = header(req, "transfer-encoding");
        if (te && ws_http_list_has(te->value, te->value_len, "chunked") && !header(req, "content-length")) {
            const uint8_t *raw = c->in.data + head_len;
            size_t raw_len = c->in.len - head_len;
            uint8_t *body = malloc(raw_len ? raw_len : 1);
            long d = body ? ws_sjs_dechunk(raw, raw_len, body, srv->cfg.max_payload) : WS_SJS_BROKEN;
            if (d == WS_SJS_INCOMPLETE && raw_len <= 2 * srv->cfg.max_payload + 4096) {
                free(body);
                return 1; /* the rest of the body is on its way */
            }
            if (d >= 0) on_send(c, req, &rt, body, (size_t)d);
            else if (d == WS_SJS_BROKEN) text(c, req, 400, "Malformed chunked body");
            else text(c, req, 413, "Payload too large");
            free(body);
            return 1;
        }
        long n = content_length(req);
        if (n < 0 || te) {
            text(c, req, n < 0 ? 400 : 411, n < 0 ? "Malformed Content-Length" : "Content-Length required");
            return 1;
        }
        if ((uint64_t)n > srv->cfg.max_payload) {
            text(c, req, 413, "Payload too large");
            return 1;
        }
        if (c->in.len < head_len + (size_t)n) return 1; /* the rest of the body is on its way */
        on_send(c, req, &rt, c->in.data + head_len, (size_t)n);
        return 1;
    }
    on_receive(c, req, hs, &rt);
    return 1;
}
