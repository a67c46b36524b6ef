/* libFuzzer target for the frame parser (native/frame.c).
 *
 * Input: byte 0 configures the parser (bit 0: server, expecting masked
 * frames; bit 1: RSV1 allowed; bits 2-3: how byte 1 sets max_payload),
 * bytes 2-3 seed the split sizes, the rest is the stream. The stream is fed
 * whole, in random pieces and byte by byte, each piece an exact-size copy.
 *
 * Invariants: consumed <= len; NEED_MORE only when all is consumed; DATA
 * has len > 0 and lies inside the piece, right before the consumed point;
 * first/last flags and MESSAGE follow the documented order; no message
 * exceeds max_payload; plain text messages and close reasons are valid
 * UTF-8; an error stays an error. Differential: every way of feeding gives
 * the same complete events and the same error. ws_frame_decode never reads
 * past its buffer, and what it decodes ws_frame_header re-encodes; ws_mask
 * equals a byte loop. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant broken at line %d: %s\n", __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* One complete event as a user sees it: message, control frame or error. */
typedef struct {
    int type; /* ws_event_type, or the negative error */
    uint8_t opcode, rsv;
    uint16_t close_code;
    uint64_t len, hash;
    const char *errstr;
} record;

typedef struct {
    record *r;
    size_t n, cap;
} records;

static void add(records *rs, record r) {
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->r = realloc(rs->r, rs->cap * sizeof(record));
        if (!rs->r) abort();
    }
    rs->r[rs->n++] = r;
}

static uint64_t fnv(uint64_t h, const uint8_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 1099511628211ull;
    return h;
}

static uint64_t rng;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 17);
}

enum { WHOLE, RANDOM, BYTES };

static void run(const uint8_t *in, size_t n, uint64_t max_payload, int masked, uint8_t allowed_rsv,
                int how, records *out) {
    ws_parser p;
    uint8_t *msg = malloc(n + 1); /* a message is never longer than the stream */
    size_t msg_len = 0, pos = 0;
    int in_msg = 0, due = 0, dead = 0;
    uint8_t msg_op = 0, msg_rsv = 0;

    if (!msg) abort();
    ws_parser_init(&p, max_payload, masked);
    p.allowed_rsv = allowed_rsv;
    do {
        size_t plen = how == WHOLE ? n : how == BYTES ? 1 : (rnd() % 4 ? rnd() % 17 : rnd() % 300);
        uint8_t *piece;
        size_t off = 0;

        if (plen > n - pos) plen = n - pos;
        piece = malloc(plen ? plen : 1);
        if (!piece) abort();
        if (plen) memcpy(piece, in + pos, plen);
        for (size_t guard = 0;; guard++) {
            ws_event ev;
            ssize_t r = ws_parser_next(&p, piece + off, plen - off, &ev);
            CHECK(guard <= plen + 4);
            if (r < 0) {
                ws_event again;
                CHECK(r == WS_ERR_PROTOCOL || r == WS_ERR_INVALID_UTF8 || r == WS_ERR_TOO_BIG);
                CHECK(p.errstr != NULL && p.errstr[0]);
                CHECK(p.close_code == (r == WS_ERR_PROTOCOL ? 1002 : r == WS_ERR_INVALID_UTF8 ? 1007 : 1009));
                CHECK(ws_parser_next(&p, piece, plen, &again) == r);
                CHECK(ws_parser_next(&p, piece, 0, &again) == r);
                add(out, (record){.type = (int)r, .close_code = p.close_code, .errstr = p.errstr});
                dead = 1;
                break;
            }
            CHECK((size_t)r <= plen - off);
            if (due) CHECK(ev.type == WS_EV_MESSAGE && r == 0);
            switch (ev.type) {
            case WS_EV_NEED_MORE:
                CHECK(off + (size_t)r == plen);
                break;
            case WS_EV_DATA:
                CHECK(ev.len > 0);
                CHECK(ev.data >= piece + off && ev.data + ev.len == piece + off + (size_t)r);
                CHECK(ev.first == !in_msg);
                CHECK(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
                CHECK((ev.rsv & ~allowed_rsv) == 0);
                if (ev.first) msg_op = ev.opcode, msg_rsv = ev.rsv;
                CHECK(ev.opcode == msg_op && ev.rsv == msg_rsv);
                CHECK(msg_len + ev.len <= n);
                memcpy(msg + msg_len, ev.data, ev.len);
                msg_len += ev.len;
                if (max_payload) CHECK(msg_len <= max_payload);
                if (msg_op == WS_OP_TEXT && !(msg_rsv & WS_RSV1))
                    CHECK(ws_utf8_validate(WS_UTF8_ACCEPT, msg, msg_len) != WS_UTF8_REJECT);
                in_msg = 1;
                due = ev.last;
                break;
            case WS_EV_MESSAGE:
                CHECK(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
                if (in_msg) CHECK(ev.opcode == msg_op && ev.rsv == msg_rsv);
                CHECK(ev.len == msg_len);
                if (max_payload) CHECK(msg_len <= max_payload);
                if (ev.opcode == WS_OP_TEXT && !(ev.rsv & WS_RSV1)) CHECK(ws_utf8_is_valid(msg, msg_len));
                add(out, (record){.type = WS_EV_MESSAGE, .opcode = ev.opcode, .rsv = ev.rsv,
                                  .len = msg_len, .hash = fnv(14695981039346656037ull, msg, msg_len)});
                msg_len = 0;
                in_msg = due = 0;
                break;
            case WS_EV_PING:
            case WS_EV_PONG:
            case WS_EV_CLOSE:
                CHECK(ev.len <= WS_MAX_CONTROL);
                CHECK(ev.len == 0 || ev.data != NULL);
                if (ev.type == WS_EV_CLOSE) {
                    CHECK(ev.close_code == 1005 ? ev.len == 0 : ws_close_code_valid(ev.close_code));
                    CHECK(ws_utf8_is_valid(ev.data, ev.len));
                }
                add(out, (record){.type = (int)ev.type, .close_code = ev.close_code, .len = ev.len,
                                  .hash = fnv(14695981039346656037ull, ev.data, ev.len)});
                break;
            default:
                CHECK(!"unknown event type");
            }
            off += (size_t)r;
            if (ev.type == WS_EV_NEED_MORE) break;
        }
        free(piece);
        pos += plen;
    } while (!dead && pos < n);
    ws_parser_free(&p);
    free(msg);
}

static void same(const records *a, const records *b) {
    CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        const record *x = &a->r[i], *y = &b->r[i];
        CHECK(x->type == y->type && x->opcode == y->opcode && x->rsv == y->rsv);
        CHECK(x->close_code == y->close_code && x->len == y->len && x->hash == y->hash);
        CHECK(x->errstr == y->errstr || (x->errstr && y->errstr && !strcmp(x->errstr, y->errstr)));
    }
}

/* ws_frame_decode on the stream: in bounds, and consistent with the builder. */
static void check_decode(const uint8_t *in, size_t n) {
    uint8_t *buf = malloc(n ? n : 1), hdr[WS_MAX_HEADER];
    int fin, rsv, op, fin2, rsv2, op2;
    uint8_t *pl, *pl2;
    uint64_t plen, plen2;
    ssize_t r;

    if (!buf) abort();
    if (n) memcpy(buf, in, n);
    r = ws_frame_decode(buf, n, &fin, &rsv, &op, &pl, &plen);
    CHECK(r == 0 || r == WS_ERR_PROTOCOL || (r >= 2 && (size_t)r <= n));
    if (r > 0) {
        CHECK(pl >= buf + 2 && pl + plen == buf + r);
        CHECK((fin == 0 || fin == 1) && (rsv & ~0x70) == 0 && op >= 0 && op <= 15);
        size_t h = ws_frame_header(hdr, fin, rsv, op, plen, NULL);
        CHECK(h == ws_frame_header_size(plen, 0) && h <= (size_t)(pl - buf));
        uint8_t *again = malloc(h + (size_t)plen);
        if (!again) abort();
        memcpy(again, hdr, h);
        if (plen) memcpy(again + h, pl, (size_t)plen);
        CHECK(ws_frame_decode(again, h + (size_t)plen, &fin2, &rsv2, &op2, &pl2, &plen2) ==
              (ssize_t)(h + plen));
        CHECK(fin2 == fin && rsv2 == rsv && op2 == op && plen2 == plen);
        CHECK(plen == 0 || memcmp(pl2, pl, (size_t)plen) == 0);
        free(again);
    }
    free(buf);
}

/* ws_mask against a byte loop, with a key and offset from the input. */
static void check_mask(const uint8_t *in, size_t n, const uint8_t key[4], size_t offset) {
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    if (!a || !b) abort();
    for (size_t i = 0; i < n; i++) a[i] = in[i], b[i] = (uint8_t)(in[i] ^ key[(offset + i) % 4]);
    ws_mask(a, n, key, offset);
    CHECK(n == 0 || memcmp(a, b, n) == 0);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    records whole = {0}, split = {0}, bytes = {0};
    uint64_t max_payload = 0;
    int masked;
    uint8_t allowed_rsv;

    if (size < 4) return 0;
    masked = data[0] & 1;
    allowed_rsv = (data[0] & 2) ? WS_RSV1 : 0;
    switch (data[0] >> 2 & 3) {
    case 0: max_payload = 0; break;
    case 1: max_payload = data[1]; break;
    case 2: max_payload = (uint64_t)data[1] * 97; break;
    case 3: max_payload = (uint64_t)1 << (data[1] & 63); break;
    }
    check_mask(data + 4, size - 4, data, data[2] & 3);
    rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)data[2] << 8 | data[3]) * 0x100000001B3ull;
    data += 4;
    size -= 4;

    run(data, size, max_payload, masked, allowed_rsv, WHOLE, &whole);
    run(data, size, max_payload, masked, allowed_rsv, RANDOM, &split);
    same(&whole, &split);
    if (size <= 4096) {
        run(data, size, max_payload, masked, allowed_rsv, BYTES, &bytes);
        same(&whole, &bytes);
    }
    check_decode(data, size);
    free(whole.r);
    free(split.r);
    free(bytes.r);
    return 0;
}
