#include "deflate.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#define WS_DEFLATE_SHARED_MAX 4   /* shared compressors per thread (distinct window/level/memLevel) */
#define WS_INFLATE_ROOM_MIN 1024  /* first output room of an inflate */
#define WS_DEFLATE_ROOM_MIN 64    /* output room for each deflate call (> 6: see zlib on flushes) */
#define WS_DICT_MAX 32768         /* the largest window: 1 << 15 */

static const uint8_t TAIL[4] = {0x00, 0x00, 0xff, 0xff};

struct ws_deflate {
    z_stream *inf;       /* decompressor; NULL until a chunked message arrives, and after trim */
    z_stream *def;       /* compressor with context takeover; NULL until used (never with
                            server_no_context_takeover: the shared one serves) */
    size_t held;         /* bytes: this struct, the z_streams, zlib's allocations */
    uint64_t inf_out;    /* bytes inflated so far in the message in progress */
    uint8_t inf_busy;    /* payload bytes of the message in progress were fed */
    uint8_t inf_ended;   /* the stream ended (BFINAL): more input starts a new one */
    int8_t level;
    uint8_t mem_level;
    ws_deflate_params params;
};

/* ---- errors and configuration ---- */

const char *ws_deflate_strerror(int err) {
    switch (err) {
    case WS_DEFLATE_TOO_BIG: return "inflated message too big";
    case WS_DEFLATE_DATA_ERROR: return "invalid compressed data";
    case WS_DEFLATE_NO_MEMORY: return "out of memory";
    default: return "compression error";
    }
}

uint16_t ws_deflate_close_code(int err) {
    switch (err) {
    case WS_DEFLATE_TOO_BIG: return 1009;
    case WS_DEFLATE_DATA_ERROR: return 1007;
    default: return 1011;
    }
}

void ws_deflate_config_init(ws_deflate_config *cfg) {
    cfg->threshold = 1024;
    cfg->server_no_context_takeover = 0;
    cfg->client_no_context_takeover = 0;
    cfg->server_max_window_bits = 15;
    cfg->client_max_window_bits = 15;
    cfg->mem_level = 8;
    cfg->level = -1;
}

const char *ws_deflate_config_check(const ws_deflate_config *cfg) {
    if (cfg->server_no_context_takeover > 1)
        return "perMessageDeflate.serverNoContextTakeover must be true or false";
    if (cfg->client_no_context_takeover > 1)
        return "perMessageDeflate.clientNoContextTakeover must be true or false";
    if (cfg->server_max_window_bits < 8 || cfg->server_max_window_bits > 15)
        return "perMessageDeflate.serverMaxWindowBits must be an integer from 8 to 15";
    if (cfg->client_max_window_bits < 8 || cfg->client_max_window_bits > 15)
        return "perMessageDeflate.clientMaxWindowBits must be an integer from 8 to 15";
    if (cfg->mem_level < 1 || cfg->mem_level > 9)
        return "perMessageDeflate.memLevel must be an integer from 1 to 9";
    if (cfg->level < -1 || cfg->level > 9)
        return "perMessageDeflate.level must be an integer from 0 to 9, or -1 for the default";
    return NULL;
}

static uint8_t clamp_bits(unsigned bits) {
    return (uint8_t)(bits < 8 ? 8 : bits > 15 ? 15 : bits);
}

/* ---- negotiation ---- */

static int is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

typedef struct {
    const char *s;
    size_t len, pos;
} cursor;

static void skip_ows(cursor *c) {
    while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t')) c->pos++;
}

static int peek(const cursor *c) {
    return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

/* A token at the cursor; its length (0 when there is none). */
static size_t take_token(cursor *c, const char **start) {
    *start = c->s + c->pos;
    size_t from = c->pos;
    while (c->pos < c->len && is_tchar((unsigned char)c->s[c->pos])) c->pos++;
    return c->pos - from;
}

static int token_is(const char *t, size_t n, const char *name) {
    size_t i;
    for (i = 0; i < n && name[i]; i++) {
        char a = t[i], b = name[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != b) return 0;
    }
    return i == n && name[i] == 0;
}

#define VALUE_KEEP 4 /* value bytes kept: window bits need 2; more is invalid anyway */

typedef struct {
    char v[VALUE_KEEP];
    size_t n; /* full length (may exceed VALUE_KEEP) */
} param_value;

/* A parameter value after '=' (and OWS): a token or a quoted-string whose
 * unescaped content is a token. 0, or -1 when malformed. */
static int take_value(cursor *c, param_value *out) {
    out->n = 0;
    if (peek(c) == '"') {
        c->pos++;
        for (;;) {
            int ch = peek(c);
            if (ch < 0) return -1; /* unbalanced quote */
            c->pos++;
            if (ch == '"') break;
            if (ch == '\\') {
                ch = peek(c);
                if (ch < 0) return -1;
                c->pos++;
            }
            if (!is_tchar((unsigned char)ch)) return -1;
            if (out->n < VALUE_KEEP) out->v[out->n] = (char)ch;
            out->n++;
        }
    } else {
        const char *t;
        size_t n = take_token(c, &t);
        memcpy(out->v, t, n < VALUE_KEEP ? n : VALUE_KEEP);
        out->n = n;
    }
    return out->n ? 0 : -1;
}

/* Window bits written as RFC 7692 wants: 8..15, no leading zeros. -1 if not. */
static int window_bits_value(const param_value *v) {
    if (v->n == 1 && (v->v[0] == '8' || v->v[0] == '9')) return v->v[0] - '0';
    if (v->n == 2 && v->v[0] == '1' && v->v[1] >= '0' && v->v[1] <= '5') return 10 + v->v[1] - '0';
    return -1;
}

enum { P_SNCT, P_CNCT, P_SMWB, P_CMWB, P_COUNT };
static const char *const PARAM_NAMES[P_COUNT] = {
    "server_no_context_takeover", "client_no_context_takeover",
    "server_max_window_bits", "client_max_window_bits",
};

typedef struct {
    uint8_t ok;           /* still acceptable */
    uint8_t seen[P_COUNT];
    int8_t smwb;          /* offered value; 0 = not offered */
    int8_t cmwb;          /* offered value; 0 = offered without one; -1 = not offered */
} pmd_offer;

/* Applies one parameter of a permessage-deflate offer; marks the offer not ok
 * (declined) when the parameter is unknown, repeated or badly valued. */
static void offer_param(pmd_offer *o, const char *name, size_t name_len, const param_value *v) {
    int which = -1, bits = -1;
    for (int i = 0; i < P_COUNT; i++)
        if (token_is(name, name_len, PARAM_NAMES[i])) which = i;
    if (which < 0 || o->seen[which]) {
        o->ok = 0;
        return;
    }
    o->seen[which] = 1;
    if (v) bits = window_bits_value(v);
    switch (which) {
    case P_SNCT:
    case P_CNCT:
        if (v) o->ok = 0;
        break;
    case P_SMWB:
        if (bits < 0) o->ok = 0;
        else o->smwb = (int8_t)bits;
        break;
    case P_CMWB:
        if (v && bits < 0) o->ok = 0;
        else o->cmwb = (int8_t)(v ? bits : 0);
        break;
    }
}

/* Appends s and a NUL; out has room (WS_DEFLATE_RESPONSE_MAX is the longest response). */
static void put_str(char *out, size_t cap, size_t *n, const char *s) {
    size_t l = strlen(s);
    assert(l < cap - *n);
    (void)cap;
    memcpy(out + *n, s, l);
    *n += l;
    out[*n] = 0;
}

static void put_bits(char *out, size_t cap, size_t *n, const char *name, unsigned bits) {
    char num[3] = {0};
    if (bits >= 10) num[0] = '1', num[1] = (char)('0' + bits - 10);
    else num[0] = (char)('0' + bits);
    put_str(out, cap, n, name);
    put_str(out, cap, n, num);
}

int ws_deflate_negotiate(const ws_deflate_config *cfg, const char *value, size_t len,
                         ws_deflate_params *params, char *response, size_t cap, size_t *response_len) {
    cursor c = {value, len, 0};
    pmd_offer accepted = {0};
    int have = 0;

    for (;;) {
        const char *name;
        size_t name_len;
        pmd_offer o = {1, {0}, 0, -1};
        int is_pmd;

        skip_ows(&c);
        if (peek(&c) < 0) break;
        if (peek(&c) == ',') { /* an empty list element */
            c.pos++;
            continue;
        }
        name_len = take_token(&c, &name);
        if (name_len == 0) return -1;
        is_pmd = token_is(name, name_len, "permessage-deflate");
        skip_ows(&c);
        while (peek(&c) == ';') {
            const char *pname;
            size_t pname_len;
            param_value v;
            int has_value = 0;
            c.pos++;
            skip_ows(&c);
            pname_len = take_token(&c, &pname);
            if (pname_len == 0) return -1;
            skip_ows(&c);
            if (peek(&c) == '=') {
                c.pos++;
                skip_ows(&c);
                if (take_value(&c, &v) < 0) return -1;
                has_value = 1;
                skip_ows(&c);
            }
            if (is_pmd && o.ok) offer_param(&o, pname, pname_len, has_value ? &v : NULL);
        }
        if (peek(&c) >= 0 && peek(&c) != ',') return -1;
        if (is_pmd && o.ok && !have) accepted = o, have = 1;
    }
    if (!have) return 0;

    ws_deflate_params p;
    uint8_t cfg_smwb = clamp_bits(cfg->server_max_window_bits);
    uint8_t cfg_cmwb = clamp_bits(cfg->client_max_window_bits);
    p.server_no_context_takeover = accepted.seen[P_SNCT] || cfg->server_no_context_takeover;
    p.client_no_context_takeover = accepted.seen[P_CNCT] || cfg->client_no_context_takeover;
    p.server_max_window_bits = accepted.smwb && accepted.smwb < cfg_smwb ? (uint8_t)accepted.smwb : cfg_smwb;
    if (accepted.cmwb < 0) p.client_max_window_bits = 15;
    else p.client_max_window_bits = accepted.cmwb && accepted.cmwb < cfg_cmwb ? (uint8_t)accepted.cmwb : cfg_cmwb;

    char buf[WS_DEFLATE_RESPONSE_MAX];
    size_t n = 0;
    put_str(buf, sizeof buf, &n, "permessage-deflate");
    if (p.server_no_context_takeover) put_str(buf, sizeof buf, &n, "; server_no_context_takeover");
    if (p.client_no_context_takeover) put_str(buf, sizeof buf, &n, "; client_no_context_takeover");
    if (accepted.smwb || p.server_max_window_bits < 15)
        put_bits(buf, sizeof buf, &n, "; server_max_window_bits=", p.server_max_window_bits);
    if (accepted.cmwb >= 0 && p.client_max_window_bits < 15)
        put_bits(buf, sizeof buf, &n, "; client_max_window_bits=", p.client_max_window_bits);
    if (n >= cap) return 0; /* no room for it and its NUL */
    memcpy(response, buf, n + 1);
    *params = p;
    *response_len = n;
    return 1;
}

/* ---- zlib streams with counted memory ---- */

#define ALLOC_HEADER ((size_t)_Alignof(max_align_t)) /* holds the size; keeps alignment */

static voidpf counted_alloc(voidpf opaque, uInt items, uInt size) {
    size_t *held = opaque;
    if (size && items > (SIZE_MAX - ALLOC_HEADER) / size) return Z_NULL;
    size_t n = (size_t)items * size + ALLOC_HEADER;
    unsigned char *p = malloc(n);
    if (!p) return Z_NULL;
    memcpy(p, &n, sizeof n);
    *held += n;
    return p + ALLOC_HEADER;
}

static void counted_free(voidpf opaque, voidpf ptr) {
    size_t *held = opaque, n;
    unsigned char *p = (unsigned char *)ptr - ALLOC_HEADER;
    memcpy(&n, p, sizeof n);
    *held -= n;
    free(p);
}

static z_stream *stream_alloc(size_t *held) {
    z_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->zalloc = counted_alloc;
    s->zfree = counted_free;
    s->opaque = held;
    *held += sizeof *s;
    return s;
}

static void stream_release(z_stream *s, size_t *held) {
    free(s);
    *held -= sizeof *s;
}

/* zlib's deflate refuses 8 for raw streams; 9 keeps distances <= 250 (see deflate.h). */
static z_stream *deflater_open(size_t *held, unsigned bits, int level, int mem_level) {
    z_stream *s = stream_alloc(held);
    if (!s) return NULL;
    if (deflateInit2(s, level, Z_DEFLATED, -(int)(bits < 9 ? 9 : bits), mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
        stream_release(s, held);
        return NULL;
    }
    return s;
}

static void deflater_close(z_stream **ps, size_t *held) {
    if (!*ps) return;
    deflateEnd(*ps);
    stream_release(*ps, held);
    *ps = NULL;
}

static z_stream *inflater_open(size_t *held, unsigned bits) {
    z_stream *s = stream_alloc(held);
    if (!s) return NULL;
    if (inflateInit2(s, -(int)bits) != Z_OK) {
        stream_release(s, held);
        return NULL;
    }
    return s;
}

static void inflater_close(z_stream **ps, size_t *held) {
    if (!*ps) return;
    inflateEnd(*ps);
    stream_release(*ps, held);
    *ps = NULL;
}

/* ---- compressing ---- */

/* One whole message through s with Z_SYNC_FLUSH, appended to out without the
 * 00 00 ff ff tail. s keeps its window (the caller resets it if need be). */
static int deflate_message(z_stream *s, const uint8_t *in, size_t len, ws_bytes *out) {
    size_t start = out->len, left = len;

    if (len == 0) return ws_bytes_append(out, "", 1) ? WS_DEFLATE_NO_MEMORY : 0;
    s->next_in = in;
    s->avail_in = 0;
    for (;;) {
        if (s->avail_in == 0 && left) {
            uInt piece = left > UINT_MAX ? UINT_MAX : (uInt)left;
            s->avail_in = piece;
            left -= piece;
        }
        int flush = left ? Z_NO_FLUSH : Z_SYNC_FLUSH;
        if (out->cap - out->len < WS_DEFLATE_ROOM_MIN) {
            size_t want = (size_t)deflateBound(s, (uLong)s->avail_in + left) + 16;
            if (want < WS_DEFLATE_ROOM_MIN) want = WS_DEFLATE_ROOM_MIN;
            if (!ws_bytes_reserve(out, want)) {
                out->len = start;
                return WS_DEFLATE_NO_MEMORY;
            }
        }
        size_t room = out->cap - out->len;
        if (room > UINT_MAX) room = UINT_MAX;
        s->next_out = out->data + out->len;
        s->avail_out = (uInt)room;
        int ret = deflate(s, flush);
        out->len += room - s->avail_out;
        if (ret != Z_OK && ret != Z_BUF_ERROR) { /* not reached: the stream is valid */
            out->len = start;
            return WS_DEFLATE_NO_MEMORY;
        }
        if (flush == Z_SYNC_FLUSH && s->avail_out != 0) break;
    }
    assert(out->len - start >= 4 && memcmp(out->data + out->len - 4, TAIL, 4) == 0);
    out->len -= 4;
    return 0;
}

typedef struct {
    z_stream *s;
    uint8_t bits, mem_level;
    int8_t level;
    unsigned long last_use;
} shared_deflater;

static _Thread_local shared_deflater shared_def[WS_DEFLATE_SHARED_MAX];
static _Thread_local z_stream *shared_inf; /* window 15: decodes any negotiated window */
static _Thread_local size_t shared_held;
static _Thread_local unsigned long shared_clock;

static int8_t clamp_level(int level) {
    return (int8_t)(level < -1 || level > 9 ? -1 : level);
}

static uint8_t clamp_mem_level(unsigned m) {
    return (uint8_t)(m < 1 ? 1 : m > 9 ? 9 : m);
}

static int compress_shared(unsigned bits, int level, unsigned mem_level, const uint8_t *in, size_t len,
                           ws_bytes *out) {
    shared_deflater *e = NULL, *victim = &shared_def[0];
    if (len == 0) return ws_bytes_append(out, "", 1) ? WS_DEFLATE_NO_MEMORY : 0;
    bits = bits < 9 ? 9 : clamp_bits(bits);
    for (int i = 0; i < WS_DEFLATE_SHARED_MAX; i++) {
        shared_deflater *x = &shared_def[i];
        if (x->s && x->bits == bits && x->level == level && x->mem_level == mem_level) e = x;
        if (!x->s || (victim->s && x->last_use < victim->last_use)) victim = x;
    }
    if (!e) {
        e = victim;
        deflater_close(&e->s, &shared_held);
        e->s = deflater_open(&shared_held, bits, level, (int)mem_level);
        if (!e->s) return WS_DEFLATE_NO_MEMORY;
        e->bits = (uint8_t)bits;
        e->level = (int8_t)level;
        e->mem_level = (uint8_t)mem_level;
    }
    e->last_use = ++shared_clock;
    int r = deflate_message(e->s, in, len, out);
    deflateReset(e->s);
    return r;
}

int ws_deflate_compress_shared(const ws_deflate_config *cfg, uint8_t window_bits, const uint8_t *in,
                               size_t len, ws_bytes *out) {
    return compress_shared(window_bits, clamp_level(cfg->level), clamp_mem_level(cfg->mem_level), in, len,
                           out);
}

int ws_deflate_compress(ws_deflate *d, const uint8_t *in, size_t len, ws_bytes *out) {
    if (d->params.server_no_context_takeover)
        return compress_shared(d->params.server_max_window_bits, d->level, d->mem_level, in, len, out);
    if (len == 0) return ws_bytes_append(out, "", 1) ? WS_DEFLATE_NO_MEMORY : 0;
    if (!d->def) {
        d->def = deflater_open(&d->held, d->params.server_max_window_bits, d->level, d->mem_level);
        if (!d->def) return WS_DEFLATE_NO_MEMORY;
    }
    int r = deflate_message(d->def, in, len, out);
    if (r) deflater_close(&d->def, &d->held); /* its window no longer matches the peer's */
    return r;
}

void ws_deflate_forget(ws_deflate *d) {
    deflater_close(&d->def, &d->held);
}

/* ---- inflating ---- */

/* A stream that ended with a BFINAL block and has more input: a new raw
 * stream follows, which may refer to the old one's window. */
static int inflater_restart(z_stream *s) {
    uint8_t *dict = malloc(WS_DICT_MAX);
    uInt n = 0;
    if (!dict) return WS_DEFLATE_NO_MEMORY;
    inflateGetDictionary(s, dict, &n);
    inflateReset(s);
    if (n) inflateSetDictionary(s, dict, n);
    free(dict);
    return 0;
}

/* Room after out->len, at most `allowed` bytes, grown geometrically. */
static int grow_bounded(ws_bytes *out, size_t hint, uint64_t allowed) {
    size_t want = out->cap > hint ? out->cap : hint;
    if (want < WS_INFLATE_ROOM_MIN) want = WS_INFLATE_ROOM_MIN;
    if (want > allowed) want = (size_t)allowed;
    return ws_bytes_reserve_exact(out, want) ? 0 : -1;
}

typedef struct {
    z_stream *s;
    uint64_t *msg_out; /* inflated bytes of this message so far (<= max) */
    uint8_t *ended;
} inflate_job;

/* Feeds in[0..len) and appends what it inflates, never more than max bytes
 * for the message: at the limit, inflate gets a one-byte probe, and output
 * there means the message is too big. */
static int inflate_feed(const inflate_job *j, const uint8_t *in, size_t len, ws_bytes *out, uint64_t max) {
    z_stream *s = j->s;
    size_t left = len;
    int filled = 0; /* the last call used all its output room: it may have more */

    s->next_in = in;
    s->avail_in = 0;
    for (;;) {
        if (s->avail_in == 0 && left) {
            uInt piece = left > UINT_MAX ? UINT_MAX : (uInt)left;
            s->avail_in = piece;
            left -= piece;
        }
        if (s->avail_in == 0 && !filled) return 0;
        if (*j->ended) {
            int r = inflater_restart(s);
            if (r) return r;
            *j->ended = 0;
        }
        uint64_t allowed = max ? max - *j->msg_out : UINT64_MAX;
        uint8_t probe;
        size_t room;
        if (allowed == 0) {
            s->next_out = &probe;
            room = 1;
        } else {
            if (out->cap == out->len) {
                size_t hint = s->avail_in + left;
                hint = hint > SIZE_MAX / 4 ? SIZE_MAX : hint * 4;
                if (grow_bounded(out, hint, allowed)) return WS_DEFLATE_NO_MEMORY;
            }
            room = out->cap - out->len;
            if (room > allowed) room = (size_t)allowed;
            if (room > UINT_MAX) room = UINT_MAX;
            s->next_out = out->data + out->len;
        }
        s->avail_out = (uInt)room;
        int ret = inflate(s, Z_SYNC_FLUSH);
        size_t got = room - s->avail_out;
        if (allowed == 0) {
            if (got) return WS_DEFLATE_TOO_BIG;
        } else {
            out->len += got;
            *j->msg_out += got;
        }
        filled = s->avail_out == 0;
        switch (ret) {
        case Z_OK:
        case Z_BUF_ERROR: /* no progress possible: out of input (or of room, given next) */
            break;
        case Z_STREAM_END:
            *j->ended = 1;
            filled = 0;
            break;
        case Z_MEM_ERROR:
            return WS_DEFLATE_NO_MEMORY;
        default: /* Z_DATA_ERROR; Z_NEED_DICT and Z_STREAM_ERROR do not happen on raw streams */
            return WS_DEFLATE_DATA_ERROR;
        }
    }
}

/* The end of a message: the tail, unless the payload was empty or ended with
 * a BFINAL block, then a check that inflate stopped at a block boundary. */
static int inflate_finish(const inflate_job *j, int fed, ws_bytes *out, uint64_t max) {
    if (!fed || *j->ended) return 0;
    int r = inflate_feed(j, TAIL, sizeof TAIL, out, max);
    if (r) return r;
    /* data_type has 128 when inflate waits for a block header (zlib.h, Z_BLOCK). */
    return j->s->data_type & 128 ? 0 : WS_DEFLATE_DATA_ERROR;
}

static void inflate_message_done(ws_deflate *d, int failed) {
    if (d->inf && (failed || d->params.client_no_context_takeover)) {
        inflateReset(d->inf);
        d->inf_ended = 0;
    }
    d->inf_out = 0;
    d->inf_busy = 0;
}

int ws_deflate_inflate_chunk(ws_deflate *d, const uint8_t *in, size_t len, ws_bytes *out, uint64_t max) {
    if (len == 0) return 0;
    if (!d->inf) {
        d->inf = inflater_open(&d->held, d->params.client_max_window_bits);
        if (!d->inf) return WS_DEFLATE_NO_MEMORY;
        d->inf_ended = 0;
    }
    d->inf_busy = 1;
    inflate_job j = {d->inf, &d->inf_out, &d->inf_ended};
    int r = inflate_feed(&j, in, len, out, max);
    if (r) inflate_message_done(d, 1);
    return r;
}

int ws_deflate_inflate_end(ws_deflate *d, ws_bytes *out, uint64_t max) {
    int r = 0;
    if (d->inf_busy) {
        inflate_job j = {d->inf, &d->inf_out, &d->inf_ended};
        r = inflate_finish(&j, 1, out, max);
    }
    inflate_message_done(d, r != 0);
    return r;
}

int ws_deflate_inflate_message(ws_deflate *d, const uint8_t *in, size_t len, ws_bytes *out, uint64_t max) {
    if (!d->params.client_no_context_takeover || d->inf_busy) {
        int r = ws_deflate_inflate_chunk(d, in, len, out, max);
        return r ? r : ws_deflate_inflate_end(d, out, max);
    }
    if (len == 0) return 0;
    if (!shared_inf) {
        shared_inf = inflater_open(&shared_held, 15);
        if (!shared_inf) return WS_DEFLATE_NO_MEMORY;
    }
    uint64_t msg_out = 0;
    uint8_t ended = 0;
    inflate_job j = {shared_inf, &msg_out, &ended};
    int r = inflate_feed(&j, in, len, out, max);
    if (!r) r = inflate_finish(&j, 1, out, max);
    inflateReset(shared_inf);
    return r;
}

/* ---- per connection ---- */

ws_deflate *ws_deflate_new(const ws_deflate_params *params, const ws_deflate_config *cfg) {
    ws_deflate *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->held = sizeof *d;
    d->params.server_no_context_takeover = params->server_no_context_takeover ? 1 : 0;
    d->params.client_no_context_takeover = params->client_no_context_takeover ? 1 : 0;
    d->params.server_max_window_bits = clamp_bits(params->server_max_window_bits);
    d->params.client_max_window_bits = clamp_bits(params->client_max_window_bits);
    d->level = clamp_level(cfg->level);
    d->mem_level = clamp_mem_level(cfg->mem_level);
    return d;
}

void ws_deflate_free(ws_deflate *d) {
    if (!d) return;
    inflater_close(&d->inf, &d->held);
    deflater_close(&d->def, &d->held);
    free(d);
}

const ws_deflate_params *ws_deflate_get_params(const ws_deflate *d) {
    return &d->params;
}

void ws_deflate_trim(ws_deflate *d) {
    if (d->params.client_no_context_takeover && !d->inf_busy) inflater_close(&d->inf, &d->held);
}

size_t ws_deflate_memory(const ws_deflate *d) {
    return d->held;
}

size_t ws_deflate_shared_memory(void) {
    return shared_held;
}

void ws_deflate_shared_free(void) {
    for (int i = 0; i < WS_DEFLATE_SHARED_MAX; i++) deflater_close(&shared_def[i].s, &shared_held);
    inflater_close(&shared_inf, &shared_held);
    shared_clock = 0;
}
