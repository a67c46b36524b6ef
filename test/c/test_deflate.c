/* Tests of native/deflate.c. The peer at the other end is plain zlib, used
 * the obvious way (raw deflate with Z_SYNC_FLUSH and the tail stripped; raw
 * inflate with the tail appended), so every message is checked against an
 * independent implementation, with the window sizes and context rules the
 * negotiation put in force. Negotiation headers and compressed payloads are
 * exact-size copies, so an over-read faults under ASan. */
#include <stdint.h>

#define ZLIB_CONST
#include <zlib.h>

#include "deflate.h"
#include "harness.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

enum { KIND_TEXT, KIND_MIXED, KIND_RANDOM, KIND_COUNT };
static const char *const KIND_NAMES[KIND_COUNT] = {"text", "mixed", "random"};

/* A message of len bytes: English-like words, binary with repeats, or noise. */
static uint8_t *make_message(int kind, size_t len) {
    static const char *const words[] = {"the ", "socket ", "frame ", "deflate ", "window ", "of ",
                                        "message ", "server ", "client ", "and ", "a ", "context ",
                                        "takeover ", "zlib ", "bits, ", "Node. ", "\n"};
    uint8_t *m = malloc(len ? len : 1);
    size_t i = 0;
    if (!m) abort();
    while (i < len) {
        if (kind == KIND_TEXT) {
            const char *w = words[rng() % (sizeof words / sizeof *words)];
            for (; *w && i < len; w++) m[i++] = (uint8_t)*w;
        } else if (kind == KIND_MIXED) {
            size_t run = 1 + rng() % 40;
            if (i > 300 && rng() % 2) { /* repeat something seen before */
                size_t from = rng() % (i - run < 1 ? 1 : i - run);
                for (size_t k = 0; k < run && i < len; k++) m[i++] = m[from + k];
            } else {
                for (size_t k = 0; k < run && i < len; k++) m[i++] = (uint8_t)rng();
            }
        } else {
            m[i++] = (uint8_t)rng();
        }
    }
    return m;
}

static int bytes_eq(const ws_bytes *b, const uint8_t *m, size_t len) {
    return b->len == len && (len == 0 || memcmp(b->data, m, len) == 0);
}

static const uint8_t TAIL[4] = {0x00, 0x00, 0xff, 0xff};

/* ---- the zlib peer (a client, from the server's point of view) ---- */

typedef struct {
    z_stream def; /* client -> server, window client_max_window_bits */
    z_stream inf; /* server -> client, window server_max_window_bits */
    ws_deflate_params p;
} peer;

static void peer_init(peer *c, const ws_deflate_params *p) {
    memset(c, 0, sizeof *c);
    c->p = *p;
    int cbits = p->client_max_window_bits < 9 ? 9 : p->client_max_window_bits;
    if (deflateInit2(&c->def, 6, Z_DEFLATED, -cbits, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    if (inflateInit2(&c->inf, -(int)p->server_max_window_bits) != Z_OK) abort();
}

static void peer_free(peer *c) {
    deflateEnd(&c->def);
    inflateEnd(&c->inf);
}

/* Raw deflate of a whole message with Z_SYNC_FLUSH, tail removed. */
static void z_compress(z_stream *s, const uint8_t *m, size_t len, ws_bytes *out) {
    out->len = 0;
    s->next_in = m;
    s->avail_in = (uInt)len;
    for (;;) {
        uint8_t *dst = ws_bytes_reserve(out, 65536);
        if (!dst) abort();
        s->next_out = dst;
        s->avail_out = 65536;
        int r = deflate(s, Z_SYNC_FLUSH);
        out->len += 65536 - s->avail_out;
        if (r != Z_OK && r != Z_BUF_ERROR) abort();
        if (s->avail_out != 0) break;
    }
    if (len == 0 && out->len == 0) { /* zlib had nothing to flush: send an empty stored block */
        if (ws_bytes_append(out, "", 1)) abort();
        return;
    }
    if (out->len < 4 || memcmp(out->data + out->len - 4, TAIL, 4) != 0) abort();
    out->len -= 4;
}

static void peer_compress(peer *c, const uint8_t *m, size_t len, ws_bytes *out) {
    z_compress(&c->def, m, len, out);
    if (c->p.client_no_context_takeover) deflateReset(&c->def);
}

static int z_inflate_some(z_stream *s, const uint8_t *in, size_t len, ws_bytes *out) {
    s->next_in = in;
    s->avail_in = (uInt)len;
    for (;;) {
        uint8_t *dst = ws_bytes_reserve(out, 65536);
        if (!dst) abort();
        s->next_out = dst;
        s->avail_out = 65536;
        int r = inflate(s, Z_SYNC_FLUSH);
        out->len += 65536 - s->avail_out;
        if (r != Z_OK && r != Z_BUF_ERROR) return -1;
        if (s->avail_in == 0 && s->avail_out != 0) return 0;
    }
}

/* Payload + tail through raw inflate; -1 when zlib rejects it. */
static int peer_inflate(peer *c, const uint8_t *payload, size_t len, ws_bytes *out) {
    out->len = 0;
    int r = z_inflate_some(&c->inf, payload, len, out);
    if (r == 0) r = z_inflate_some(&c->inf, TAIL, 4, out);
    if (c->p.server_no_context_takeover) inflateReset(&c->inf);
    return r;
}

/* Feeds a payload to ws_deflate_inflate_chunk in pieces of `chunk` bytes
 * (each an exact-size copy), then ws_deflate_inflate_end. */
static int inflate_in_chunks(ws_deflate *d, const uint8_t *payload, size_t len, size_t chunk,
                             ws_bytes *out, uint64_t max) {
    for (size_t pos = 0; pos < len;) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        uint8_t *piece = test_exact_copy(payload + pos, n);
        int r = ws_deflate_inflate_chunk(d, piece, n, out, max);
        free(piece);
        if (r) return r;
        pos += n;
    }
    return ws_deflate_inflate_end(d, out, max);
}

static int inflate_whole(ws_deflate *d, const uint8_t *payload, size_t len, ws_bytes *out, uint64_t max) {
    uint8_t *copy = test_exact_copy(payload, len);
    int r = ws_deflate_inflate_message(d, copy, len, out, max);
    free(copy);
    return r;
}

static ws_deflate_config default_config(void) {
    ws_deflate_config cfg;
    ws_deflate_config_init(&cfg);
    return cfg;
}

static ws_deflate_params make_params(int snct, int cnct, int sbits, int cbits) {
    ws_deflate_params p = {(uint8_t)snct, (uint8_t)cnct, (uint8_t)sbits, (uint8_t)cbits};
    return p;
}

static void put_hex(ws_bytes *b, const char *hex) {
    int hi = -1;
    for (; *hex; hex++) {
        int v;
        if (*hex == ' ') continue;
        v = *hex <= '9' ? *hex - '0' : (*hex | 0x20) - 'a' + 10;
        if (hi < 0) {
            hi = v;
        } else {
            uint8_t byte = (uint8_t)(hi << 4 | v);
            if (ws_bytes_append(b, &byte, 1)) abort();
            hi = -1;
        }
    }
}

static int bytes_hex_eq(const ws_bytes *b, const char *hex) {
    ws_bytes want = {0};
    put_hex(&want, hex);
    int eq = b->len == want.len && memcmp(b->data, want.data, want.len) == 0;
    ws_bytes_free(&want);
    return eq;
}

/* ---- negotiation ---- */

typedef struct {
    const ws_deflate_config *cfg;
    const char *header;
    int result;
    const char *response; /* result 1 */
    int snct, cnct, sbits, cbits;
} nego_case;

static void test_negotiation(void) {
    ws_deflate_config def = default_config();
    ws_deflate_config snct = def, cnct = def, sbits10 = def, cbits10 = def, all = def;
    snct.server_no_context_takeover = 1;
    cnct.client_no_context_takeover = 1;
    sbits10.server_max_window_bits = 10;
    cbits10.client_max_window_bits = 10;
    all.server_no_context_takeover = all.client_no_context_takeover = 1;
    all.server_max_window_bits = all.client_max_window_bits = 9;

    const nego_case cases[] = {
        /* One offer, parameters with and without values. */
        {&def, "permessage-deflate", 1, "permessage-deflate", 0, 0, 15, 15},
        {&def, "permessage-deflate; client_max_window_bits", 1, "permessage-deflate", 0, 0, 15, 15},
        {&def, "permessage-deflate; client_max_window_bits=10", 1,
         "permessage-deflate; client_max_window_bits=10", 0, 0, 15, 10},
        {&def, "permessage-deflate; client_max_window_bits=\"10\"", 1,
         "permessage-deflate; client_max_window_bits=10", 0, 0, 15, 10},
        {&def, "permessage-deflate; client_max_window_bits=\"1\\0\"", 1,
         "permessage-deflate; client_max_window_bits=10", 0, 0, 15, 10},
        {&def, "permessage-deflate; client_max_window_bits=15", 1, "permessage-deflate", 0, 0, 15, 15},
        {&def, "permessage-deflate; server_max_window_bits=10", 1,
         "permessage-deflate; server_max_window_bits=10", 0, 0, 10, 15},
        {&def, "permessage-deflate; server_max_window_bits=15", 1,
         "permessage-deflate; server_max_window_bits=15", 0, 0, 15, 15},
        {&def, "permessage-deflate; server_max_window_bits=8", 1,
         "permessage-deflate; server_max_window_bits=8", 0, 0, 8, 15},
        {&def, "permessage-deflate; server_no_context_takeover", 1,
         "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
        {&def, "permessage-deflate; client_no_context_takeover", 1,
         "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15},
        {&def,
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=9; client_max_window_bits=8",
         1,
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=9; client_max_window_bits=8",
         1, 1, 9, 8},
        /* Names are case-insensitive; whitespace around ; = , is allowed. */
        {&def, "PerMessage-Deflate; Server_No_Context_Takeover", 1,
         "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
        {&def, "  permessage-deflate ;server_max_window_bits = 11\t,\tfoo  ", 1,
         "permessage-deflate; server_max_window_bits=11", 0, 0, 11, 15},
        /* Offers declined, not errors. */
        {&def, "permessage-deflate; server_max_window_bits", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_max_window_bits=7", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_max_window_bits=16", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_max_window_bits=08", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_max_window_bits=010", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_max_window_bits=+9", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_max_window_bits=abc", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits=0", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits=\"16\"", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_no_context_takeover=1", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_no_context_takeover=\"x\"", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; foo", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; foo=bar", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", 0, NULL, 0,
         0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits; client_max_window_bits=10", 0, NULL, 0, 0,
         0, 0},
        {&def, "permessage-deflate; server_max_window_bits=10; Server_Max_Window_Bits=10", 0, NULL, 0,
         0, 0, 0},
        /* Several offers: the first acceptable one wins. */
        {&def, "permessage-deflate; foo, permessage-deflate; server_no_context_takeover", 1,
         "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
        {&def,
         "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=12, "
         "permessage-deflate",
         1, "permessage-deflate; server_max_window_bits=12", 0, 0, 12, 15},
        {&def, "permessage-deflate; client_max_window_bits=9, permessage-deflate", 1,
         "permessage-deflate; client_max_window_bits=9", 0, 0, 15, 9},
        {&def, "permessage-deflate; a, permessage-deflate; b", 0, NULL, 0, 0, 0, 0},
        /* Other extensions are ignored (but must be well-formed). */
        {&def, "x-webkit-deflate-frame, permessage-deflate", 1, "permessage-deflate", 0, 0, 15, 15},
        {&def, "foo; bar=\"baz\"; q, permessage-deflate; client_max_window_bits", 1,
         "permessage-deflate", 0, 0, 15, 15},
        {&def, "deflate-frame; server_max_window_bits=99", 0, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate-x, xpermessage-deflate", 0, NULL, 0, 0, 0, 0},
        /* Empty values and empty list elements. */
        {&def, "", 0, NULL, 0, 0, 0, 0},
        {&def, "  \t ", 0, NULL, 0, 0, 0, 0},
        {&def, ", ,", 0, NULL, 0, 0, 0, 0},
        {&def, ",permessage-deflate,,", 1, "permessage-deflate", 0, 0, 15, 15},
        /* Malformed headers: -1. */
        {&def, "permessage-deflate; client_max_window_bits=\"10", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits=\"10\\", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits=\"\"", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits=\"1 0\"", -1, NULL, 0, 0, 0, 0},
        {&def, "foo; bar=\"a,b\", permessage-deflate", -1, NULL, 0, 0, 0, 0},
        {&def, "; server_no_context_takeover", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate, ; x", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate;", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; ", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate;; server_no_context_takeover", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; =10", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits=", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; client_max_window_bits==10", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate; a=b\"c\"", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate x", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage deflate", -1, NULL, 0, 0, 0, 0},
        {&def, "a=b", -1, NULL, 0, 0, 0, 0},
        {&def, "\"permessage-deflate\"", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate\r\n", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate, caf\xc3\xa9", -1, NULL, 0, 0, 0, 0},
        {&def, "permessage-deflate, (x)", -1, NULL, 0, 0, 0, 0},
        /* The configuration: forcing, and smaller windows. */
        {&snct, "permessage-deflate", 1, "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
        {&cnct, "permessage-deflate", 1, "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15},
        {&sbits10, "permessage-deflate", 1, "permessage-deflate; server_max_window_bits=10", 0, 0, 10, 15},
        {&sbits10, "permessage-deflate; server_max_window_bits=12", 1,
         "permessage-deflate; server_max_window_bits=10", 0, 0, 10, 15},
        {&sbits10, "permessage-deflate; server_max_window_bits=9", 1,
         "permessage-deflate; server_max_window_bits=9", 0, 0, 9, 15},
        {&cbits10, "permessage-deflate", 1, "permessage-deflate", 0, 0, 15, 15},
        {&cbits10, "permessage-deflate; client_max_window_bits", 1,
         "permessage-deflate; client_max_window_bits=10", 0, 0, 15, 10},
        {&cbits10, "permessage-deflate; client_max_window_bits=12", 1,
         "permessage-deflate; client_max_window_bits=10", 0, 0, 15, 10},
        {&cbits10, "permessage-deflate; client_max_window_bits=9", 1,
         "permessage-deflate; client_max_window_bits=9", 0, 0, 15, 9},
        {&all, "permessage-deflate; client_max_window_bits", 1,
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=9; client_max_window_bits=9",
         1, 1, 9, 9},
        /* Autobahn section 13's offers (its client, as generated by autobahn's
         * PerMessageDeflateOffer: 13.1-13.6 one offer each, 13.7 a list). */
        {&def, "permessage-deflate; client_no_context_takeover; client_max_window_bits", 1,
         "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15},
        {&def,
         "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
         "server_no_context_takeover",
         1, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", 1, 1, 15, 15},
        {&def, "permessage-deflate; client_max_window_bits; server_max_window_bits=8", 1,
         "permessage-deflate; server_max_window_bits=8", 0, 0, 8, 15},
        {&def, "permessage-deflate; client_max_window_bits; server_max_window_bits=15", 1,
         "permessage-deflate; server_max_window_bits=15", 0, 0, 15, 15},
        {&def,
         "permessage-deflate; client_max_window_bits; server_no_context_takeover; "
         "server_max_window_bits=8",
         1, "permessage-deflate; server_no_context_takeover; server_max_window_bits=8", 1, 0, 8, 15},
        {&def,
         "permessage-deflate; client_max_window_bits; server_no_context_takeover; "
         "server_max_window_bits=15",
         1, "permessage-deflate; server_no_context_takeover; server_max_window_bits=15", 1, 0, 15, 15},
        {&def,
         "permessage-deflate; client_max_window_bits; server_no_context_takeover; "
         "server_max_window_bits=8, permessage-deflate; client_max_window_bits; "
         "server_no_context_takeover, permessage-deflate; client_max_window_bits",
         1, "permessage-deflate; server_no_context_takeover; server_max_window_bits=8", 1, 0, 8, 15},
        /* What browsers send. */
        {&def, "permessage-deflate; client_max_window_bits", 1, "permessage-deflate", 0, 0, 15, 15},
        {&def, "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame", 1,
         "permessage-deflate", 0, 0, 15, 15},
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const nego_case *c = &cases[i];
        size_t len = strlen(c->header);
        char *h = (char *)test_exact_copy(c->header, len);
        char resp[WS_DEFLATE_RESPONSE_MAX];
        size_t resp_len = 12345;
        ws_deflate_params p = {99, 99, 99, 99};
        int r = ws_deflate_negotiate(c->cfg, h, len, &p, resp, sizeof resp, &resp_len);
        int ok = r == c->result;
        if (ok && r == 1) {
            ok = resp_len == strlen(c->response) && memcmp(resp, c->response, resp_len) == 0 &&
                 resp[resp_len] == 0 && p.server_no_context_takeover == c->snct &&
                 p.client_no_context_takeover == c->cnct && p.server_max_window_bits == c->sbits &&
                 p.client_max_window_bits == c->cbits;
        } else if (ok) {
            ok = resp_len == 12345 && p.server_max_window_bits == 99; /* untouched */
        }
        if (!ok) {
            fprintf(stderr, "negotiate [%s] -> %d", c->header, r);
            if (r == 1) fprintf(stderr, " [%.*s] %d %d %d %d", (int)resp_len, resp, p.server_no_context_takeover,
                                p.client_no_context_takeover, p.server_max_window_bits, p.client_max_window_bits);
            fprintf(stderr, ", expected %d [%s]\n", c->result, c->response ? c->response : "");
        }
        test_cond("each Sec-WebSocket-Extensions value is answered as the RFC says", ok);
        free(h);
    }

    /* The longest response fits WS_DEFLATE_RESPONSE_MAX exactly; a smaller
     * buffer declines rather than truncating. */
    const char *full = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                       "server_max_window_bits=10; client_max_window_bits=10";
    char big[WS_DEFLATE_RESPONSE_MAX];
    size_t n = 0;
    ws_deflate_params p;
    test_cond("the longest response fits in WS_DEFLATE_RESPONSE_MAX",
              ws_deflate_negotiate(&def, full, strlen(full), &p, big, sizeof big, &n) == 1 &&
                  n == WS_DEFLATE_RESPONSE_MAX - 1 && strcmp(big, full) == 0);
    memset(big, 'x', sizeof big);
    test_cond("a response buffer one byte short declines instead of truncating, and is left untouched",
              ws_deflate_negotiate(&def, full, strlen(full), &p, big, sizeof big - 1, &n) == 0 && big[0] == 'x' &&
                  big[sizeof big - 2] == 'x');
    test_cond("a zero-size response buffer declines",
              ws_deflate_negotiate(&def, "permessage-deflate", 18, &p, big, 0, &n) == 0);
    test_cond("a malformed header is -1 even when an offer before it was acceptable",
              ws_deflate_negotiate(&def, "permessage-deflate, ;", 21, &p, big, sizeof big, &n) == -1);
    test_cond("the length bounds the value (no NUL needed)",
              ws_deflate_negotiate(&def, "permessage-deflate; garbage\"", 18, &p, big, sizeof big, &n) == 1);
}

static void test_config(void) {
    ws_deflate_config cfg = default_config();
    test_cond("the default configuration: threshold 1024, windows 15, memLevel 8, level -1, takeover on",
              cfg.threshold == 1024 && cfg.server_max_window_bits == 15 && cfg.client_max_window_bits == 15 &&
                  cfg.mem_level == 8 && cfg.level == -1 && !cfg.server_no_context_takeover &&
                  !cfg.client_no_context_takeover);
    test_cond("the default configuration is valid", ws_deflate_config_check(&cfg) == NULL);
    ws_deflate_config bad = cfg;
    bad.server_max_window_bits = 16;
    test_cond("a bad serverMaxWindowBits is named",
              ws_deflate_config_check(&bad) && strstr(ws_deflate_config_check(&bad), "serverMaxWindowBits"));
    bad = cfg, bad.client_max_window_bits = 7;
    test_cond("a bad clientMaxWindowBits is named",
              ws_deflate_config_check(&bad) && strstr(ws_deflate_config_check(&bad), "clientMaxWindowBits"));
    bad = cfg, bad.mem_level = 0;
    test_cond("a bad memLevel is named", ws_deflate_config_check(&bad) && strstr(ws_deflate_config_check(&bad), "memLevel"));
    bad = cfg, bad.level = 10;
    test_cond("a bad level is named", ws_deflate_config_check(&bad) && strstr(ws_deflate_config_check(&bad), "level"));
    test_cond("errors map to close codes 1009, 1007, 1011",
              ws_deflate_close_code(WS_DEFLATE_TOO_BIG) == 1009 && ws_deflate_close_code(WS_DEFLATE_DATA_ERROR) == 1007 &&
                  ws_deflate_close_code(WS_DEFLATE_NO_MEMORY) == 1011);
    test_cond("errors have one-line messages",
              strcmp(ws_deflate_strerror(WS_DEFLATE_TOO_BIG), "inflated message too big") == 0 &&
                  strlen(ws_deflate_strerror(WS_DEFLATE_DATA_ERROR)) > 0 &&
                  strlen(ws_deflate_strerror(WS_DEFLATE_NO_MEMORY)) > 0);
}

/* ---- RFC 7692 7.2.3's examples ---- */

static void test_rfc_examples(void) {
    ws_deflate_config cfg = default_config();
    ws_deflate_params p = make_params(0, 0, 15, 15);
    ws_deflate *d = ws_deflate_new(&p, &cfg);
    ws_bytes out = {0}, in = {0};

    test_cond("\"Hello\" compresses to f2 48 cd c9 c9 07 00 (7.2.3.1)",
              ws_deflate_compress(d, (const uint8_t *)"Hello", 5, &out) == 0 &&
                  bytes_hex_eq(&out, "f2 48 cd c9 c9 07 00"));
    out.len = 0;
    test_cond("a second \"Hello\" with context takeover is f2 00 11 00 00 (7.2.3.2)",
              ws_deflate_compress(d, (const uint8_t *)"Hello", 5, &out) == 0 &&
                  bytes_hex_eq(&out, "f2 00 11 00 00"));
    out.len = 0;
    test_cond("an empty message compresses to the single byte 00 (7.2.3.6)",
              ws_deflate_compress(d, (const uint8_t *)"", 0, &out) == 0 && bytes_hex_eq(&out, "00"));

    static const char *const inflates_to_hello[] = {
        "f2 48 cd c9 c9 07 00",                               /* 7.2.3.1 */
        "00 05 00 fa ff 48 65 6c 6c 6f 00",                   /* 7.2.3.3: no compression */
        "f3 48 cd c9 c9 07 00 00",                            /* 7.2.3.4: BFINAL set */
        "f2 48 05 00 00 00 ff ff ca c9 c9 07 00",             /* 7.2.3.5: two blocks */
    };
    for (size_t i = 0; i < sizeof inflates_to_hello / sizeof *inflates_to_hello; i++) {
        for (int whole = 0; whole < 2; whole++) {
            for (size_t chunk = 1; chunk <= 16; chunk += 15) {
                ws_deflate *e = ws_deflate_new(&p, &cfg);
                in.len = out.len = 0;
                put_hex(&in, inflates_to_hello[i]);
                int r = whole ? inflate_whole(e, in.data, in.len, &out, 0)
                              : inflate_in_chunks(e, in.data, in.len, chunk, &out, 0);
                test_cond("each example of 7.2.3 inflates to \"Hello\", whole and in pieces",
                          r == 0 && bytes_eq(&out, (const uint8_t *)"Hello", 5));
                /* And the stream goes on: a second message refers to the first. */
                in.len = out.len = 0;
                put_hex(&in, "f2 00 11 00 00");
                r = inflate_in_chunks(e, in.data, in.len, chunk, &out, 0);
                test_cond("after each example the context carries into the next message (7.2.3.2)",
                          r == 0 && bytes_eq(&out, (const uint8_t *)"Hello", 5));
                ws_deflate_free(e);
            }
        }
    }
    in.len = out.len = 0;
    put_hex(&in, "00");
    test_cond("the payload 00 inflates to an empty message",
              inflate_in_chunks(d, in.data, in.len, 1, &out, 0) == 0 && out.len == 0);
    test_cond("an empty payload is an empty message", ws_deflate_inflate_end(d, &out, 0) == 0 && out.len == 0);
    test_cond("an empty payload is an empty message (whole)",
              ws_deflate_inflate_message(d, (const uint8_t *)"", 0, &out, 0) == 0 && out.len == 0);
    in.len = out.len = 0;
    put_hex(&in, "f2 48 cd c9 c9 07 00");
    test_cond("and the stream still works after empty messages",
              inflate_in_chunks(d, in.data, in.len, 3, &out, 0) == 0 && bytes_eq(&out, (const uint8_t *)"Hello", 5));
    ws_deflate_free(d);
    ws_bytes_free(&out);
    ws_bytes_free(&in);
}

/* ---- round trips against the zlib peer ---- */

static long roundtrip_failures;

/* One message each way between a ws_deflate with params p and the zlib peer. */
static void exchange(ws_deflate *d, peer *c, const uint8_t *m, size_t len, int how) {
    ws_bytes wire = {0}, got = {0};
    uint8_t *copy = test_exact_copy(m, len);

    /* Server -> client. */
    if (ws_deflate_compress(d, copy, len, &wire) != 0 || wire.len == 0 || peer_inflate(c, wire.data, wire.len, &got) != 0 ||
        !bytes_eq(&got, m, len)) {
        if (roundtrip_failures++ < 10)
            fprintf(stderr, "server->client failed: %zu bytes, params %d %d %d %d\n", len, c->p.server_no_context_takeover,
                    c->p.client_no_context_takeover, c->p.server_max_window_bits, c->p.client_max_window_bits);
    }
    /* Client -> server, in pieces of a size chosen by `how`, or whole. */
    peer_compress(c, m, len, &wire);
    got.len = 0;
    static const size_t chunks[] = {1, 2, 7, 100, 1000, 4096, 65536};
    int r;
    if (how % 4 == 0) {
        r = inflate_whole(d, wire.data, wire.len, &got, len);
    } else {
        size_t chunk = chunks[(size_t)how % (sizeof chunks / sizeof *chunks)];
        if (chunk < 100 && wire.len > 20000) chunk = 997;
        r = inflate_in_chunks(d, wire.data, wire.len, chunk, &got, len); /* max = the exact size */
    }
    if (r != 0 || !bytes_eq(&got, m, len)) {
        if (roundtrip_failures++ < 10)
            fprintf(stderr, "client->server failed (%d): %zu bytes, how %d, params %d %d %d %d\n", r, len, how,
                    c->p.server_no_context_takeover, c->p.client_no_context_takeover, c->p.server_max_window_bits,
                    c->p.client_max_window_bits);
    }
    free(copy);
    ws_bytes_free(&wire);
    ws_bytes_free(&got);
}

/* The valgrind build (test/c `make valgrind`, 50x slower) walks the corners
 * of the window bits only, 8, 9 and 15; the ASan build walks them all. */
#ifdef WS_TEST_VALGRIND
#define NEXT_BITS(b) ((b) == 9 ? 15 : (b) + 1)
#define BITS_COMBOS 36
#else
#define NEXT_BITS(b) ((b) + 1)
#define BITS_COMBOS 256
#endif

static void test_round_trips(void) {
    static const size_t sizes[] = {0, 1, 2, 3, 17, 100, 255, 256, 257, 1000, 1023, 1024, 1025, 4096, 16384, 65535, 65536};
    ws_deflate_config cfg = default_config();
    uint8_t *msgs[KIND_COUNT][sizeof sizes / sizeof *sizes];
    int combos = 0;

    for (int k = 0; k < KIND_COUNT; k++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) msgs[k][i] = make_message(k, sizes[i]);

    for (int snct = 0; snct < 2; snct++)
        for (int cnct = 0; cnct < 2; cnct++)
            for (int sbits = 8; sbits <= 15; sbits = NEXT_BITS(sbits))
                for (int cbits = 8; cbits <= 15; cbits = NEXT_BITS(cbits)) {
                    ws_deflate_params p = make_params(snct, cnct, sbits, cbits);
                    ws_deflate *d = ws_deflate_new(&p, &cfg);
                    peer c;
                    int how = 0;
                    peer_init(&c, &p);
                    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
                        for (int k = 0; k < KIND_COUNT; k++) exchange(d, &c, msgs[k][i], sizes[i], how++);
                    /* The same messages again, now that the windows are full. */
                    for (size_t i = sizeof sizes / sizeof *sizes; i-- > 0;)
                        exchange(d, &c, msgs[KIND_TEXT][i], sizes[i], how++);
                    peer_free(&c);
                    ws_deflate_free(d);
                    combos++;
                }
    test_cond("messages of 0 B to 64 KiB of text, mixed and random data make the round trip with the zlib peer "
              "under every combination of context takeover and window bits 8..15",
              roundtrip_failures == 0 && combos == BITS_COMBOS);

    /* Big messages, for the corners of the parameter space. */
    static const size_t big[] = {262144, 1048576};
    roundtrip_failures = 0;
    for (int snct = 0; snct < 2; snct++)
        for (int cnct = 0; cnct < 2; cnct++)
            for (int bits = 9; bits <= 15; bits += 6) {
                ws_deflate_params p = make_params(snct, cnct, bits, 24 - bits);
                ws_deflate *d = ws_deflate_new(&p, &cfg);
                peer c;
                peer_init(&c, &p);
                for (size_t i = 0; i < 2; i++)
                    for (int k = 0; k < KIND_COUNT; k++) {
                        uint8_t *m = make_message(k, big[i]);
                        exchange(d, &c, m, big[i], k + (int)i);
                        free(m);
                    }
                peer_free(&c);
                ws_deflate_free(d);
            }
    test_cond("messages of 256 KiB and 1 MiB make the round trip too", roundtrip_failures == 0);

    for (int k = 0; k < KIND_COUNT; k++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) free(msgs[k][i]);
    (void)KIND_NAMES;
}

/* Other levels and memLevels: still what zlib inflates. */
static void test_levels(void) {
    uint8_t *m = make_message(KIND_TEXT, 50000);
    int ok = 1;
    for (int level = -1; level <= 9; level++)
        for (int mem = 1; mem <= 9; mem += 4) {
            ws_deflate_config cfg = default_config();
            cfg.level = (int8_t)level;
            cfg.mem_level = (uint8_t)mem;
            for (int snct = 0; snct < 2; snct++) {
                ws_deflate_params p = make_params(snct, 0, 12, 15);
                ws_deflate *d = ws_deflate_new(&p, &cfg);
                peer c;
                peer_init(&c, &p);
                for (int i = 0; i < 3; i++) {
                    ws_bytes wire = {0}, got = {0};
                    ok &= ws_deflate_compress(d, m, 50000, &wire) == 0 && peer_inflate(&c, wire.data, wire.len, &got) == 0 &&
                          bytes_eq(&got, m, 50000);
                    if (level == 0) ok &= wire.len > 50000; /* stored */
                    ws_bytes_free(&wire);
                    ws_bytes_free(&got);
                }
                peer_free(&c);
                ws_deflate_free(d);
            }
        }
    test_cond("every level 0..9 (and -1) and memLevel compresses what zlib inflates", ok);
    free(m);
}

/* ---- context takeover ---- */

static void test_context_takeover(void) {
    ws_deflate_config cfg = default_config();
    uint8_t *m = make_message(KIND_MIXED, 2000);
    size_t first[2], second[2];

    for (int snct = 0; snct < 2; snct++) {
        ws_deflate_params p = make_params(snct, 0, 15, 15);
        ws_deflate *d = ws_deflate_new(&p, &cfg);
        ws_bytes out = {0};
        ws_deflate_compress(d, m, 2000, &out);
        first[snct] = out.len;
        out.len = 0;
        ws_deflate_compress(d, m, 2000, &out);
        second[snct] = out.len;
        ws_bytes_free(&out);
        ws_deflate_free(d);
    }
    printf("  a 2000-byte message twice: %zu then %zu bytes with context takeover, %zu then %zu without\n", first[0],
           second[0], first[1], second[1]);
    test_cond("with context takeover a repeated message compresses to a few bytes", second[0] < first[0] / 20);
    test_cond("without context takeover it compresses the same each time", second[1] == first[1] && first[1] == first[0]);

    /* The decompressor: the peer compresses the message twice with context. */
    for (int cnct = 0; cnct < 2; cnct++) {
        ws_deflate_params with_ctx = make_params(0, 0, 15, 15), p = make_params(0, cnct, 15, 15);
        ws_deflate *d = ws_deflate_new(&p, &cfg);
        peer c;
        ws_bytes w1 = {0}, w2 = {0}, got = {0};
        peer_init(&c, &with_ctx);
        peer_compress(&c, m, 2000, &w1);
        peer_compress(&c, m, 2000, &w2);
        int r1 = inflate_in_chunks(d, w1.data, w1.len, 100, &got, 0);
        int ok1 = r1 == 0 && bytes_eq(&got, m, 2000);
        got.len = 0;
        int r2 = inflate_in_chunks(d, w2.data, w2.len, 100, &got, 0);
        if (!cnct) {
            test_cond("with client context takeover, a message referring to the previous one inflates",
                      ok1 && r2 == 0 && bytes_eq(&got, m, 2000));
        } else {
            test_cond("with client_no_context_takeover the window is dropped: a client that refers to the "
                      "previous message anyway gets DATA_ERROR",
                      ok1 && r2 == WS_DEFLATE_DATA_ERROR);
        }
        peer_free(&c);
        ws_bytes_free(&w1);
        ws_bytes_free(&w2);
        ws_bytes_free(&got);
        ws_deflate_free(d);
    }
    free(m);
}

/* ---- inflate bombs ---- */

/* Raw deflate of `total` zero bytes at level 9, tail removed. */
static void make_bomb(uint64_t total, ws_bytes *out) {
    z_stream s;
    static uint8_t zeros[1 << 20];
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    out->len = 0;
    for (uint64_t done = 0; done < total;) {
        size_t n = total - done < sizeof zeros ? (size_t)(total - done) : sizeof zeros;
        done += n;
        s.next_in = zeros;
        s.avail_in = (uInt)n;
        int flush = done == total ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            uint8_t *dst = ws_bytes_reserve(out, 65536);
            if (!dst) abort();
            s.next_out = dst;
            s.avail_out = 65536;
            deflate(&s, flush);
            out->len += 65536 - s.avail_out;
        } while (s.avail_out == 0);
    }
    deflateEnd(&s);
    out->len -= 4;
}

static void test_bombs(void) {
    ws_deflate_config cfg = default_config();
    ws_deflate_params p = make_params(0, 0, 15, 15);
    ws_bytes bomb = {0}, out = {0};

    /* Deflate cannot beat about 1032:1, so 1 KiB inflates to about 1 MiB. */
    make_bomb(1 << 20, &bomb);
    printf("  bombs: 1 MiB of zeros compresses to %zu bytes", bomb.len);
    {
        ws_deflate *d = ws_deflate_new(&p, &cfg);
        int r = inflate_whole(d, bomb.data, bomb.len, &out, 65536);
        test_cond("a ~1 KiB message inflating to 1 MiB, max 64 KiB: TOO_BIG, and the output never grew past 64 KiB",
                  bomb.len < 1100 && r == WS_DEFLATE_TOO_BIG && out.cap <= 65536);
        ws_bytes_free(&out);
        r = inflate_in_chunks(d, bomb.data, bomb.len, 1, &out, 65536);
        test_cond("the same fed byte by byte: TOO_BIG, output capacity <= 64 KiB",
                  r == WS_DEFLATE_TOO_BIG && out.cap <= 65536);
        ws_bytes_free(&out);
        test_cond("exactly max: accepted", inflate_whole(d, bomb.data, bomb.len, &out, 1 << 20) == 0 && out.len == 1 << 20 &&
                                               out.cap <= 1 << 20);
        ws_bytes_free(&out);
        test_cond("max one byte less: TOO_BIG",
                  inflate_in_chunks(d, bomb.data, bomb.len, 333, &out, (1 << 20) - 1) == WS_DEFLATE_TOO_BIG &&
                      out.cap <= (1 << 20) - 1);
        ws_bytes_free(&out);
        /* Output that already held data: the bound is on this message's bytes. */
        ws_bytes_append(&out, "prefix", 6);
        test_cond("the bound counts this message only, after what out already held",
                  inflate_whole(d, bomb.data, bomb.len, &out, 1 << 20) == 0 && out.len == 6 + (1 << 20) &&
                      memcmp(out.data, "prefix", 6) == 0);
        ws_bytes_free(&out);
        ws_deflate_free(d);
    }

    /* 100 MiB of zeros, max 1 MiB, in network-sized chunks. */
    make_bomb(100u << 20, &bomb);
    printf("; 100 MiB of zeros to %zu bytes\n", bomb.len);
    for (int cnct = 0; cnct < 2; cnct++) {
        ws_deflate_params q = make_params(0, cnct, 15, 15);
        ws_deflate *d = ws_deflate_new(&q, &cfg);
        size_t peak = 0, pos = 0;
        int r = 0;
        while (pos < bomb.len && r == 0) {
            size_t n = bomb.len - pos < 16384 ? bomb.len - pos : 16384;
            r = ws_deflate_inflate_chunk(d, bomb.data + pos, n, &out, 1 << 20);
            pos += n;
            if (ws_deflate_memory(d) > peak) peak = ws_deflate_memory(d);
        }
        printf("  100 MiB bomb: refused after %zu of %zu compressed bytes, output capacity %zu, zlib memory peak %zu\n", pos,
               bomb.len, out.cap, peak);
        test_cond("a message inflating to 100 MiB with max 1 MiB is TOO_BIG within its first 16 KiB chunk, output capped at 1 MiB",
                  r == WS_DEFLATE_TOO_BIG && out.cap <= 1 << 20 && pos <= 16384);
        test_cond("and zlib's memory stayed that of one decompressor (< 48 KiB)", peak < 48 * 1024);
        ws_bytes_free(&out);
        ws_deflate_free(d);
    }
    {
        ws_deflate_params q = make_params(0, 1, 15, 15);
        ws_deflate *d = ws_deflate_new(&q, &cfg);
        int r = inflate_whole(d, bomb.data, bomb.len, &out, 1 << 20);
        test_cond("the shared decompressor refuses it the same way", r == WS_DEFLATE_TOO_BIG && out.cap <= 1 << 20);
        ws_bytes_free(&out);
        ws_deflate_free(d);
    }
    ws_bytes_free(&bomb);
}

/* ---- corrupt data ---- */

static int inflate_hex(ws_deflate *d, const char *hex, size_t chunk, ws_bytes *out) {
    ws_bytes in = {0};
    put_hex(&in, hex);
    out->len = 0;
    int r = chunk ? inflate_in_chunks(d, in.data, in.len, chunk, out, 0) : inflate_whole(d, in.data, in.len, out, 0);
    ws_bytes_free(&in);
    return r;
}

static void test_corrupt(void) {
    ws_deflate_config cfg = default_config();
    static const char *const corrupt[] = {
        "ff",                         /* BTYPE 11: reserved */
        "07",                         /* BFINAL, BTYPE 11 */
        "00 05 00 00 00 48 65 6c 6c 6f", /* stored block whose NLEN is not ~LEN */
        "f2 48 cd c9 c9 07",          /* "Hello" cut before its empty stored block */
        "f2 48 cd c9",                /* cut in the middle */
        "00 05 00 fa ff 48 65",       /* a stored block cut short */
        "f2 00 11 00 00",             /* a back-reference with nothing before it */
        "ed c0 81 00 00 00 00 80 90 fe af ee", /* a dynamic block cut short */
    };
    ws_bytes out = {0};
    for (size_t i = 0; i < sizeof corrupt / sizeof *corrupt; i++)
        for (int mode = 0; mode < 3; mode++) {
            for (int cnct = 0; cnct < 2; cnct++) {
                ws_deflate_params p = make_params(0, cnct, 15, 15);
                ws_deflate *d = ws_deflate_new(&p, &cfg);
                int r = inflate_hex(d, corrupt[i], mode == 0 ? 0 : mode == 1 ? 1 : 100, &out);
                if (r != WS_DEFLATE_DATA_ERROR) fprintf(stderr, "corrupt #%zu mode %d cnct %d -> %d\n", i, mode, cnct, r);
                test_cond("corrupt or truncated compressed data is DATA_ERROR, whole or in pieces", r == WS_DEFLATE_DATA_ERROR);
                /* The struct stays usable: a good message in a fresh context works. */
                r = inflate_hex(d, "f2 48 cd c9 c9 07 00", 2, &out);
                test_cond("after DATA_ERROR the next message starts from a clean stream",
                          r == 0 && bytes_eq(&out, (const uint8_t *)"Hello", 5));
                ws_deflate_free(d);
            }
        }

    /* A client that uses a bigger window than it negotiated. */
    {
        ws_deflate_params big = make_params(0, 0, 15, 15), small = make_params(0, 0, 15, 9);
        uint8_t *m = malloc(40000);
        uint8_t *noise = make_message(KIND_RANDOM, 20000);
        memcpy(m, noise, 20000);
        memcpy(m + 20000, noise, 20000); /* a repeat 20000 bytes back */
        peer c;
        ws_bytes wire = {0};
        ws_deflate *d = ws_deflate_new(&small, &cfg);
        peer_init(&c, &big);
        peer_compress(&c, m, 40000, &wire);
        test_cond("a distance beyond the negotiated client window (9 bits) is DATA_ERROR",
                  inflate_in_chunks(d, wire.data, wire.len, 4096, &out, 0) == WS_DEFLATE_DATA_ERROR);
        ws_deflate_free(d);
        peer_free(&c);
        ws_bytes_free(&wire);
        free(m);
        free(noise);
    }
    /* Random bytes: any result but a crash, and never output past max. */
    {
        ws_deflate_params p = make_params(0, 1, 15, 15);
        ws_deflate *d = ws_deflate_new(&p, &cfg);
        int ok = 1;
        for (int i = 0; i < 2000; i++) {
            size_t n = rng() % 64;
            uint8_t *junk = malloc(n ? n : 1);
            for (size_t k = 0; k < n; k++) junk[k] = (uint8_t)rng();
            out.len = 0;
            int r = i % 2 ? inflate_whole(d, junk, n, &out, 100) : inflate_in_chunks(d, junk, n, 1 + i % 5, &out, 100);
            ok &= (r == 0 || r == WS_DEFLATE_DATA_ERROR || r == WS_DEFLATE_TOO_BIG) && out.len <= 100;
            free(junk);
        }
        test_cond("random bytes give 0, DATA_ERROR or TOO_BIG, and never more output than max", ok);
        ws_deflate_free(d);
    }
    ws_bytes_free(&out);
}

/* ---- shared compression (multicast) ---- */

static void test_shared(void) {
    ws_deflate_config cfg = default_config();
    uint8_t *a = make_message(KIND_TEXT, 5000), *b = make_message(KIND_MIXED, 5000);
    ws_bytes shared = {0}, got = {0}, wire = {0};

    /* Compressed once at window 10: every peer with window >= 10 and
     * server_no_context_takeover takes it. */
    test_cond("a shared frame compresses once", ws_deflate_compress_shared(&cfg, 10, a, 5000, &shared) == 0);
    int ok = 1;
    for (int bits = 10; bits <= 15; bits++) {
        ws_deflate_params p = make_params(1, 0, bits, 15);
        peer c;
        peer_init(&c, &p);
        for (int i = 0; i < 3; i++) ok &= peer_inflate(&c, shared.data, shared.len, &got) == 0 && bytes_eq(&got, a, 5000);
        peer_free(&c);
    }
    test_cond("the shared frame inflates for every peer whose server window is at least its window", ok);
    ws_bytes again = {0};
    ws_deflate_compress_shared(&cfg, 10, a, 5000, &again);
    test_cond("the shared compressor keeps no context: the same message gives the same bytes",
              again.len == shared.len && memcmp(again.data, shared.data, shared.len) == 0);
    ws_bytes_free(&again);
    {
        ws_deflate_params p = make_params(1, 0, 10, 15);
        ws_deflate *d = ws_deflate_new(&p, &cfg);
        ws_deflate_compress(d, a, 5000, &again);
        test_cond("a connection with server_no_context_takeover compresses exactly as the shared compressor",
                  again.len == shared.len && memcmp(again.data, shared.data, shared.len) == 0);
        test_cond("and owns no compressor for it", ws_deflate_memory(d) < 100);
        ws_bytes_free(&again);
        ws_deflate_free(d);
    }

    /* A connection with context takeover: message a of its own, then the
     * shared frame of b, then a again. With ws_deflate_forget after the shared
     * frame the peer inflates all three; without it, the third refers to the
     * wrong bytes. */
    for (int forget = 1; forget >= 0; forget--) {
        ws_deflate_params p = make_params(0, 0, 15, 15);
        ws_deflate *d = ws_deflate_new(&p, &cfg);
        peer c;
        int ok1, ok2, ok3;
        peer_init(&c, &p);
        wire.len = 0;
        ws_deflate_compress(d, a, 5000, &wire);
        ok1 = peer_inflate(&c, wire.data, wire.len, &got) == 0 && bytes_eq(&got, a, 5000);
        shared.len = 0;
        ws_deflate_compress_shared(&cfg, 15, b, 5000, &shared);
        ok2 = peer_inflate(&c, shared.data, shared.len, &got) == 0 && bytes_eq(&got, b, 5000);
        if (forget) ws_deflate_forget(d);
        wire.len = 0;
        ws_deflate_compress(d, a, 5000, &wire);
        ok3 = peer_inflate(&c, wire.data, wire.len, &got) == 0 && bytes_eq(&got, a, 5000);
        if (forget)
            test_cond("a context-takeover connection sent a shared frame stays in step after ws_deflate_forget",
                      ok1 && ok2 && ok3);
        else
            test_cond("(and without ws_deflate_forget it would not: the peer gets the wrong bytes)", ok1 && ok2 && !ok3);
        peer_free(&c);
        ws_deflate_free(d);
    }

    /* Several keys in turn: windows 9..15 at two levels (more than the cache holds). */
    ok = 1;
    for (int round = 0; round < 3; round++)
        for (int bits = 8; bits <= 15; bits++)
            for (int level = 1; level <= 9; level += 8) {
                ws_deflate_config c2 = cfg;
                ws_deflate_params p = make_params(1, 0, bits, 15);
                peer c;
                c2.level = (int8_t)level;
                shared.len = 0;
                ok &= ws_deflate_compress_shared(&c2, (uint8_t)bits, b, 5000, &shared) == 0;
                peer_init(&c, &p);
                ok &= peer_inflate(&c, shared.data, shared.len, &got) == 0 && bytes_eq(&got, b, 5000);
                peer_free(&c);
            }
    test_cond("the shared compressors serve many window/level keys in turn", ok);
    printf("  shared streams of this thread now: %zu bytes\n", ws_deflate_shared_memory());
    ws_deflate_shared_free();
    test_cond("ws_deflate_shared_free releases every shared stream", ws_deflate_shared_memory() == 0);
    ws_bytes_free(&shared);
    ws_bytes_free(&got);
    ws_bytes_free(&wire);
    free(a);
    free(b);
}

/* ---- memory ---- */

/* One message each way, then idle and trimmed: the bytes held at each step. */
static void measure(const char *label, const char *offer, const ws_deflate_config *cfg, int whole) {
    ws_deflate_params p;
    char resp[WS_DEFLATE_RESPONSE_MAX];
    size_t n;
    if (ws_deflate_negotiate(cfg, offer, strlen(offer), &p, resp, sizeof resp, &n) != 1) abort();
    ws_deflate *d = ws_deflate_new(&p, cfg);
    uint8_t *m = make_message(KIND_TEXT, 4000);
    ws_bytes wire = {0}, got = {0};
    peer c;
    size_t fresh = ws_deflate_memory(d), sent, received, trimmed;

    peer_init(&c, &p);
    ws_deflate_compress(d, m, 4000, &wire);
    sent = ws_deflate_memory(d);
    peer_compress(&c, m, 4000, &wire);
    if (whole) inflate_whole(d, wire.data, wire.len, &got, 0);
    else inflate_in_chunks(d, wire.data, wire.len, 512, &got, 0);
    received = ws_deflate_memory(d);
    ws_deflate_trim(d);
    trimmed = ws_deflate_memory(d);
    printf("  %-52s new %6zu  +sent %6zu  +received %6zu  idle after trim %6zu  (%s)\n", label, fresh, sent, received,
           trimmed, resp);
    test_cond("a connection holds only its struct until it compresses or inflates", fresh < 100);
    if (p.client_no_context_takeover)
        test_cond("with no context takeover both ways, an idle trimmed connection holds only its struct",
                  !p.server_no_context_takeover || trimmed == fresh);
    else
        test_cond("with context takeover the streams are kept after trim", trimmed == received);
    peer_free(&c);
    ws_bytes_free(&wire);
    ws_bytes_free(&got);
    free(m);
    ws_deflate_free(d);
}

static void test_memory(void) {
    ws_deflate_config cfg = default_config();
    printf("  memory per connection, bytes (zlib %s):\n", zlibVersion());
    measure("defaults (15/15 bits, memLevel 8, context takeover)", "permessage-deflate; client_max_window_bits", &cfg, 0);
    measure("no context takeover both ways (chunked inflate)",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover", &cfg, 0);
    measure("no context takeover both ways (whole messages)",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover", &cfg, 1);
    measure("server_no_context_takeover only", "permessage-deflate; server_no_context_takeover", &cfg, 0);
    ws_deflate_config small = cfg;
    small.server_max_window_bits = 10;
    small.client_max_window_bits = 10;
    small.mem_level = 4;
    measure("windows 10/10 bits, memLevel 4, context takeover", "permessage-deflate; client_max_window_bits", &small, 0);
    small.mem_level = 1;
    small.server_max_window_bits = small.client_max_window_bits = 9;
    measure("windows 9/9 bits, memLevel 1, context takeover", "permessage-deflate; client_max_window_bits", &small, 0);
    printf("  shared streams of this thread (compressor 15 bits memLevel 8 + decompressor): %zu bytes\n",
           ws_deflate_shared_memory());

    /* Exactness: the counters return to the struct alone once streams go. */
    ws_deflate_params p = make_params(0, 1, 15, 15);
    ws_deflate *d = ws_deflate_new(&p, &cfg);
    size_t base = ws_deflate_memory(d);
    ws_bytes out = {0};
    ws_deflate_compress(d, (const uint8_t *)"hello hello hello", 17, &out);
    ws_deflate_forget(d);
    ws_deflate_inflate_chunk(d, (const uint8_t *)"\xf2\x48\xcd\xc9\xc9\x07\x00", 7, &out, 0);
    ws_deflate_trim(d);
    test_cond("trim keeps a decompressor in the middle of a message", ws_deflate_memory(d) > base);
    ws_deflate_inflate_end(d, &out, 0);
    ws_deflate_trim(d);
    test_cond("the memory count is exact: back to the struct alone after forget and trim", ws_deflate_memory(d) == base);
    ws_bytes_free(&out);
    ws_deflate_free(d);
    ws_deflate_shared_free();
}

int main(void) {
    test_config();
    test_negotiation();
    test_rfc_examples();
    test_round_trips();
    test_levels();
    test_context_takeover();
    test_bombs();
    test_corrupt();
    test_shared();
    test_memory();
    ws_deflate_shared_free();
    return test_report();
}
