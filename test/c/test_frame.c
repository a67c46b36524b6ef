/* Tests of native/frame.c. Inputs are literal frames (hex, as in ws' tests)
 * or frames built here by a naive encoder; each one is fed whole, cut at
 * every split point and byte by byte, every piece an exact-size copy so an
 * over-read faults under ASan, and must read the same every way. */
#include <stdarg.h>
#include <stdint.h>

#include "frame.h"
#include "harness.h"

/* ---- byte strings ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *data, size_t len) {
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (len) memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void put_byte(bytes *b, uint8_t v) {
    put(b, &v, 1);
}

/* Appends bytes written as hex digits; spaces are ignored. */
static void put_hex(bytes *b, const char *hex) {
    int hi = -1;
    for (; *hex; hex++) {
        int v;
        if (*hex == ' ') continue;
        v = *hex <= '9' ? *hex - '0' : (*hex | 0x20) - 'a' + 10;
        if (hi < 0) hi = v;
        else put_byte(b, (uint8_t)(hi << 4 | v)), hi = -1;
    }
}

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d}; /* the key of RFC 6455 5.7 */

enum { LEN7 = 7, LEN16 = 16, LEN64 = 64, LEN_MIN = 0 };

/* A naive encoder, independent of ws_frame_header: b0 is FIN|RSV|opcode,
 * form the length encoding (LEN_MIN for the shortest), declared the length
 * written in the header. */
static void put_frame_as(bytes *b, uint8_t b0, int form, uint64_t declared, const void *payload,
                         size_t len, int masked) {
    uint8_t mbit = masked ? 0x80 : 0;
    if (form == LEN_MIN) form = declared < 126 ? LEN7 : declared < 65536 ? LEN16 : LEN64;
    put_byte(b, b0);
    if (form == LEN7) {
        put_byte(b, (uint8_t)(mbit | declared));
    } else if (form == LEN16) {
        put_byte(b, mbit | 126);
        put_byte(b, (uint8_t)(declared >> 8));
        put_byte(b, (uint8_t)declared);
    } else {
        put_byte(b, mbit | 127);
        for (int shift = 56; shift >= 0; shift -= 8) put_byte(b, (uint8_t)(declared >> shift));
    }
    if (masked) put(b, MASK, 4);
    for (size_t i = 0; i < len; i++)
        put_byte(b, (uint8_t)(((const uint8_t *)payload)[i] ^ (masked ? MASK[i % 4] : 0)));
}

/* A frame with the shortest length form; masked as a client sends. */
static void put_frame(bytes *b, uint8_t b0, const char *payload, size_t len) {
    put_frame_as(b, b0, LEN_MIN, len, payload, len, 1);
}
#define PUT(b, b0, lit) put_frame(b, b0, lit, sizeof(lit) - 1)

#define FIN 0x80

/* ---- running the parser and writing down what it reports ---- */

typedef struct {
    uint64_t max_payload;
    int expect_masked;
    uint8_t allowed_rsv;
} config;

static const config SERVER = {0, 1, 0};
static const config CLIENT = {0, 0, 0};

static long invariant_failures;
#define INVARIANT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            if (invariant_failures++ < 20)                                               \
                fprintf(stderr, "invariant broken at line %d: %s\n", __LINE__, #cond);   \
        }                                                                                \
    } while (0)

typedef struct {
    char *s;
    size_t n, cap;
} text;

static void say(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(text *t, const char *fmt, ...) {
    va_list ap;
    int need;
    va_start(ap, fmt);
    need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->n + (size_t)need + 1 > t->cap) {
        t->cap = (t->n + (size_t)need + 1) * 2;
        t->s = realloc(t->s, t->cap);
        if (!t->s) abort();
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    t->n += (size_t)need;
}

/* Short payloads are written out ("Hello", with \xHH for other bytes);
 * long ones as their length and an FNV-1a hash. */
static void say_payload(text *t, const uint8_t *d, size_t len) {
    if (len > 48) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < len; i++) h = (h ^ d[i]) * 16777619u;
        say(t, "<%zu bytes %08x>", len, h);
        return;
    }
    say(t, "\"");
    for (size_t i = 0; i < len; i++) {
        if (d[i] >= 0x20 && d[i] < 0x7F && d[i] != '"' && d[i] != '\\') say(t, "%c", d[i]);
        else say(t, "\\x%02x", d[i]);
    }
    say(t, "\"");
}

static void say_event(text *t, const char *what) {
    if (t->n) say(t, "; ");
    say(t, "%s", what);
}

#define WHOLE ((size_t)0)
#define BYTE_BY_BYTE ((size_t)-1)

/* Feeds `in` whole, cut once at `split`, or BYTE_BY_BYTE, checks the
 * invariants every event must keep, and returns a log of what a user would
 * see: each complete message and control frame, then the error if any, as
 * `text "Hello"; ping ""; close 1000 "bye"; error 1002 reserved bits set`. */
static char *parse_log(const config *c, const uint8_t *in, size_t n, size_t split) {
    ws_parser p;
    text log = {0};
    bytes msg = {0};
    int in_msg = 0, message_due = 0, dead = 0;
    uint8_t msg_op = 0, msg_rsv = 0;
    size_t pos = 0;

    ws_parser_init(&p, c->max_payload, c->expect_masked);
    p.allowed_rsv = c->allowed_rsv;
    say(&log, "%s", "");
    do {
        size_t plen = split == WHOLE ? n : split == BYTE_BY_BYTE ? 1 : pos == 0 ? split : n - pos;
        uint8_t *piece;
        size_t off = 0;

        if (plen > n - pos) plen = n - pos;
        piece = test_exact_copy(in + pos, plen);
        for (long guard = 0;; guard++) {
            ws_event ev;
            ssize_t r = ws_parser_next(&p, piece + off, plen - off, &ev);

            INVARIANT(guard < 1000000);
            if (r < 0) {
                ws_event again;
                INVARIANT(r == WS_ERR_PROTOCOL || r == WS_ERR_INVALID_UTF8 || r == WS_ERR_TOO_BIG);
                INVARIANT(p.errstr != NULL);
                INVARIANT(p.close_code == (r == WS_ERR_PROTOCOL       ? 1002
                                           : r == WS_ERR_INVALID_UTF8 ? 1007
                                                                      : 1009));
                /* Once dead, always dead. */
                INVARIANT(ws_parser_next(&p, piece, plen, &again) == r);
                INVARIANT(ws_parser_next(&p, piece, 0, &again) == r);
                say_event(&log, "error");
                say(&log, " %u %s", p.close_code, p.errstr ? p.errstr : "(null)");
                dead = 1;
                break;
            }
            INVARIANT((size_t)r <= plen - off);
            if (message_due) INVARIANT(ev.type == WS_EV_MESSAGE && r == 0);
            switch (ev.type) {
            case WS_EV_NEED_MORE:
                INVARIANT(off + (size_t)r == plen);
                break;
            case WS_EV_DATA:
                INVARIANT(ev.len > 0);
                INVARIANT(ev.data >= piece + off && ev.data + ev.len == piece + off + (size_t)r);
                INVARIANT(ev.first == !in_msg);
                INVARIANT(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
                if (ev.first) msg_op = ev.opcode, msg_rsv = ev.rsv;
                INVARIANT(ev.opcode == msg_op && ev.rsv == msg_rsv);
                put(&msg, ev.data, ev.len);
                in_msg = 1;
                message_due = ev.last;
                break;
            case WS_EV_MESSAGE:
                if (in_msg) INVARIANT(ev.opcode == msg_op && ev.rsv == msg_rsv);
                INVARIANT(ev.len == msg.n);
                INVARIANT(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY);
                if (c->max_payload) INVARIANT(msg.n <= c->max_payload);
                if (ev.opcode == WS_OP_TEXT && !(ev.rsv & WS_RSV1))
                    INVARIANT(ws_utf8_is_valid(msg.p, msg.n));
                say_event(&log, ev.rsv & WS_RSV1 ? "rsv1 " : "");
                say(&log, "%s ", ev.opcode == WS_OP_TEXT ? "text" : "binary");
                say_payload(&log, msg.p, msg.n);
                msg.n = 0;
                in_msg = message_due = 0;
                break;
            case WS_EV_PING:
            case WS_EV_PONG:
                INVARIANT(ev.len <= WS_MAX_CONTROL);
                say_event(&log, ev.type == WS_EV_PING ? "ping " : "pong ");
                say_payload(&log, ev.data, ev.len);
                break;
            case WS_EV_CLOSE:
                INVARIANT(ev.len <= WS_MAX_CONTROL - 2);
                INVARIANT(ev.close_code == 1005 ? ev.len == 0 : ws_close_code_valid(ev.close_code));
                INVARIANT(ws_utf8_is_valid(ev.data, ev.len));
                say_event(&log, "close");
                say(&log, " %u ", ev.close_code);
                say_payload(&log, ev.data, ev.len);
                break;
            default:
                INVARIANT(!"unknown event type");
            }
            off += (size_t)r;
            if (ev.type == WS_EV_NEED_MORE) break;
        }
        free(piece);
        pos += plen;
    } while (!dead && pos < n);
    ws_parser_free(&p);
    free(msg.p);
    return log.s;
}

/* Every split point for short inputs; for long ones, the splits near both
 * ends and a spread in between. */
static int split_is_tested(size_t k, size_t n) {
    return n <= 1024 || k < 40 || n - k < 40 || k % 997 == 0;
}

static void expect_log(const char *name, const config *c, const bytes *in, const char *expected) {
    char *whole = parse_log(c, in->p, in->n, WHOLE), *other;
    int same = 1;

    if (strcmp(whole, expected) != 0)
        fprintf(stderr, "%s\n    got:      %s\n    expected: %s\n", name, whole, expected);
    test_cond(name, strcmp(whole, expected) == 0);

    other = parse_log(c, in->p, in->n, BYTE_BY_BYTE);
    if (strcmp(whole, other) != 0) {
        fprintf(stderr, "%s byte by byte\n    got:      %s\n    whole:    %s\n", name, other, whole);
        same = 0;
    }
    free(other);
    for (size_t k = 1; k < in->n && same; k++) {
        if (!split_is_tested(k, in->n)) continue;
        other = parse_log(c, in->p, in->n, k);
        if (strcmp(whole, other) != 0) {
            fprintf(stderr, "%s split at %zu\n    got:      %s\n    whole:    %s\n", name, k, other,
                    whole);
            same = 0;
        }
        free(other);
    }
    test_cond(name, same); /* ... and the same at every split point and byte by byte */
    free(whole);
}

static void expect_hex(const char *name, const config *c, const char *hex, const char *expected) {
    bytes b = {0};
    put_hex(&b, hex);
    expect_log(name, c, &b, expected);
    free(b.p);
}

/* ---- the RFC 6455 section 5.7 examples ---- */

static void test_rfc_examples(void) {
    expect_hex("a masked text frame from a client reads as one message", &SERVER,
               "81 85 37fa213d 7f9f4d5158", "text \"Hello\"");
    expect_hex("an unmasked text frame from a server reads as one message", &CLIENT,
               "81 05 48656c6c6f", "text \"Hello\"");
    expect_hex("a fragmented unmasked text message is joined", &CLIENT,
               "01 03 48656c  80 02 6c6f", "text \"Hello\"");
    expect_hex("an unmasked ping is reported with its payload", &CLIENT, "89 05 48656c6c6f",
               "ping \"Hello\"");
    expect_hex("a masked pong is reported unmasked", &SERVER, "8a 85 37fa213d 7f9f4d5158",
               "pong \"Hello\"");

    bytes b = {0};
    uint8_t big[65536];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (uint8_t)(i * 7 + 3);
    put_hex(&b, "82 7E 0100");
    put(&b, big, 256);
    {
        text want = {0};
        say(&want, "binary ");
        say_payload(&want, big, 256);
        expect_log("a 256-byte binary message in a single unmasked frame", &CLIENT, &b, want.s);
        free(want.s);
    }
    b.n = 0;
    put_hex(&b, "82 7F 0000000000010000");
    put(&b, big, 65536);
    {
        text want = {0};
        say(&want, "binary ");
        say_payload(&want, big, 65536);
        expect_log("a 64KiB binary message in a single unmasked frame", &CLIENT, &b, want.s);
        free(want.s);
    }
    free(b.p);
}

/* ---- length classes ---- */

static void test_lengths(void) {
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 124, 125, 126, 127, 128, 1000, 65535, 65536, 70000};
    static uint8_t payload[70000];
    for (size_t i = 0; i < sizeof(payload); i++) payload[i] = (uint8_t)(i * 31 + 17);
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        for (int masked = 0; masked <= 1; masked++) {
            bytes b = {0};
            text want = {0}, name = {0};
            put_frame_as(&b, FIN | WS_OP_BINARY, LEN_MIN, lens[li], payload, lens[li], masked);
            say(&want, "binary ");
            say_payload(&want, payload, lens[li]);
            say(&name, "a %s binary frame of %zu bytes (%s length) reads whole",
                masked ? "masked" : "unmasked", lens[li],
                lens[li] < 126 ? "7-bit" : lens[li] < 65536 ? "16-bit" : "64-bit");
            expect_log(name.s, masked ? &SERVER : &CLIENT, &b, want.s);
            free(b.p), free(want.s), free(name.s);
        }
    }

    bytes b = {0};
    put_frame_as(&b, FIN | WS_OP_TEXT, LEN16, 5, "Hello", 5, 1);
    put_frame_as(&b, FIN | WS_OP_TEXT, LEN64, 5, "world", 5, 1);
    expect_log("lengths in a longer form than needed are accepted", &SERVER, &b,
               "text \"Hello\"; text \"world\"");
    free(b.p);

    expect_hex("a 64-bit length with the top bit set is a protocol error", &SERVER,
               "82 FF 8000000000000000 37fa213d", "error 1002 invalid frame length");
    expect_hex("a 64-bit length of 2^63-1 is read (and waits for its payload)", &SERVER,
               "82 FF 7FFFFFFFFFFFFFFF 37fa213d 00", "");
}

/* ---- fragmentation ---- */

static void test_fragmentation(void) {
    bytes b = {0};

    PUT(&b, WS_OP_TEXT, "Hel");
    PUT(&b, FIN | WS_OP_PING, "x");
    PUT(&b, WS_OP_CONTINUATION, "");
    PUT(&b, FIN | WS_OP_PONG, "");
    PUT(&b, WS_OP_CONTINUATION, "l");
    PUT(&b, FIN | WS_OP_CLOSE, "\x03\xe8" "bye");
    PUT(&b, FIN | WS_OP_CONTINUATION, "o");
    PUT(&b, FIN | WS_OP_BINARY, "\x00\x01");
    expect_log("control frames between fragments come out in order, the message joined", &SERVER, &b,
               "ping \"x\"; pong \"\"; close 1000 \"bye\"; text \"Hello\"; binary \"\\x00\\x01\"");

    b.n = 0;
    PUT(&b, FIN | WS_OP_TEXT, "");
    PUT(&b, FIN | WS_OP_BINARY, "");
    PUT(&b, WS_OP_TEXT, "");
    PUT(&b, WS_OP_CONTINUATION, "");
    PUT(&b, FIN | WS_OP_CONTINUATION, "");
    expect_log("empty messages, single or fragmented, are reported", &SERVER, &b,
               "text \"\"; binary \"\"; text \"\"");

    b.n = 0;
    PUT(&b, WS_OP_BINARY, "ab");
    PUT(&b, FIN | WS_OP_CONTINUATION, "");
    PUT(&b, WS_OP_BINARY, "");
    PUT(&b, FIN | WS_OP_CONTINUATION, "cd");
    expect_log("an empty first or final fragment does not lose the others", &SERVER, &b,
               "binary \"ab\"; binary \"cd\"");

    b.n = 0;
    PUT(&b, WS_OP_TEXT, "\xE2");
    PUT(&b, WS_OP_CONTINUATION, "\x82");
    PUT(&b, FIN | WS_OP_CONTINUATION, "\xAC!");
    expect_log("a character split across fragments is valid text", &SERVER, &b,
               "text \"\\xe2\\x82\\xac!\"");

    b.n = 0;
    PUT(&b, FIN | WS_OP_CONTINUATION, "x");
    expect_log("a continuation with no message in progress is refused", &SERVER, &b,
               "error 1002 unexpected continuation frame");

    b.n = 0;
    PUT(&b, FIN | WS_OP_TEXT, "a");
    PUT(&b, FIN | WS_OP_CONTINUATION, "x");
    expect_log("a continuation after a finished message is refused", &SERVER, &b,
               "text \"a\"; error 1002 unexpected continuation frame");

    b.n = 0;
    PUT(&b, WS_OP_TEXT, "a");
    PUT(&b, FIN | WS_OP_BINARY, "b");
    expect_log("a new message while one is in progress is refused", &SERVER, &b,
               "error 1002 expected continuation frame");

    b.n = 0;
    PUT(&b, WS_OP_TEXT, "a");
    PUT(&b, WS_OP_PING, "b");
    expect_log("a fragmented ping is refused", &SERVER, &b, "error 1002 fragmented control frame");
    free(b.p);
}

/* The flags and pointers of DATA events, looked at one call at a time. */
static void test_data_events(void) {
    bytes b = {0};
    ws_parser p;
    ws_event ev;
    ssize_t r;
    uint8_t *buf;

    PUT(&b, WS_OP_TEXT, "Hel");
    PUT(&b, FIN | WS_OP_CONTINUATION, "lo");
    buf = test_exact_copy(b.p, b.n);
    ws_parser_init(&p, 0, 1);

    r = ws_parser_next(&p, buf, b.n, &ev);
    test_cond("the first chunk is consumed with its header", r == 9);
    test_cond("the first chunk is a DATA event", ev.type == WS_EV_DATA);
    test_cond("the first chunk is marked first and not last", ev.first == 1 && ev.last == 0);
    test_cond("the first chunk points into the buffer, unmasked in place",
              ev.data == buf + 6 && ev.len == 3 && memcmp(buf + 6, "Hel", 3) == 0);
    test_cond("the first chunk carries the message opcode", ev.opcode == WS_OP_TEXT);

    r = ws_parser_next(&p, buf + 9, b.n - 9, &ev);
    test_cond("the final chunk is consumed to the end", r == 8);
    test_cond("the final chunk is marked last, not first",
              ev.type == WS_EV_DATA && ev.first == 0 && ev.last == 1);
    test_cond("the final chunk is unmasked in place", ev.len == 2 && memcmp(ev.data, "lo", 2) == 0);
    test_cond("the final chunk still says text", ev.opcode == WS_OP_TEXT);

    r = ws_parser_next(&p, buf + b.n, 0, &ev);
    test_cond("with no input left, the due MESSAGE event comes out", r == 0 && ev.type == WS_EV_MESSAGE);
    test_cond("the MESSAGE event gives the opcode and total length",
              ev.opcode == WS_OP_TEXT && ev.len == 5 && ev.rsv == 0);
    r = ws_parser_next(&p, buf + b.n, 0, &ev);
    test_cond("with no input and nothing due, the parser needs more", r == 0 && ev.type == WS_EV_NEED_MORE);
    r = ws_parser_next(&p, NULL, 0, &ev);
    test_cond("a NULL buffer of length 0 is fine", r == 0 && ev.type == WS_EV_NEED_MORE);
    free(buf);

    /* A MESSAGE is due before any further input is looked at. */
    b.n = 0;
    PUT(&b, FIN | WS_OP_BINARY, "ab");
    PUT(&b, FIN | WS_OP_PING, "p");
    buf = test_exact_copy(b.p, b.n);
    ws_parser_init(&p, 0, 1);
    r = ws_parser_next(&p, buf, b.n, &ev);
    test_cond("a single-frame message is one DATA event, first and last",
              r == 8 && ev.type == WS_EV_DATA && ev.first && ev.last);
    r = ws_parser_next(&p, buf + 8, b.n - 8, &ev);
    test_cond("the MESSAGE event comes before the next frame is read", r == 0 && ev.type == WS_EV_MESSAGE);
    r = ws_parser_next(&p, buf + 8, b.n - 8, &ev);
    test_cond("then the ping", r == 7 && ev.type == WS_EV_PING && ev.len == 1 && ev.data[0] == 'p');
    free(buf);

    /* A payload cut short: the chunk that arrived is handed out at once. */
    b.n = 0;
    PUT(&b, FIN | WS_OP_BINARY, "abcdef");
    buf = test_exact_copy(b.p, 9);
    ws_parser_init(&p, 0, 1);
    r = ws_parser_next(&p, buf, 9, &ev);
    test_cond("a partial payload is handed out as soon as it arrives",
              r == 9 && ev.type == WS_EV_DATA && ev.len == 3 && ev.first && !ev.last &&
                  memcmp(ev.data, "abc", 3) == 0);
    r = ws_parser_next(&p, buf + 9, 0, &ev);
    test_cond("and then the parser needs more", r == 0 && ev.type == WS_EV_NEED_MORE);
    free(buf);
    buf = test_exact_copy(b.p + 9, 3);
    r = ws_parser_next(&p, buf, 3, &ev);
    test_cond("the rest of a payload continues the mask where it stopped",
              r == 3 && ev.type == WS_EV_DATA && !ev.first && ev.last && memcmp(ev.data, "def", 3) == 0);
    free(buf);

    /* A header split: nothing to report until it is whole. */
    buf = test_exact_copy(b.p, 4);
    ws_parser_init(&p, 0, 1);
    r = ws_parser_next(&p, buf, 4, &ev);
    test_cond("part of a header is consumed and kept", r == 4 && ev.type == WS_EV_NEED_MORE);
    free(buf);
    free(b.p);
}

/* ---- protocol violations ---- */

static void test_violations(void) {
    config rsv1 = SERVER;
    rsv1.allowed_rsv = WS_RSV1;
    bytes b = {0};

    expect_hex("an unmasked frame from a client is refused", &SERVER, "81 05 48656c6c6f",
               "error 1002 unmasked client frame");
    expect_hex("a masked frame from a server is refused", &CLIENT, "81 85 37fa213d 7f9f4d5158",
               "error 1002 masked server frame");
    expect_hex("RSV1 without an extension is refused", &SERVER, "c1 80 37fa213d",
               "error 1002 reserved bits set");
    expect_hex("RSV2 is refused", &rsv1, "a1 80 37fa213d", "error 1002 reserved bits set");
    expect_hex("RSV3 is refused", &rsv1, "91 80 37fa213d", "error 1002 reserved bits set");
    for (unsigned op = 3; op <= 0xF; op++) {
        char hex[32];
        if (op >= 8 && op <= 0xA) continue;
        snprintf(hex, sizeof(hex), "8%x 80 37fa213d", op);
        expect_hex("a reserved opcode is refused", &SERVER, hex, "error 1002 unknown opcode");
    }
    expect_hex("a ping of 126 bytes is refused from its header", &SERVER, "89 fe 007e",
               "error 1002 control frame too long");
    expect_hex("a close with a 64-bit length is refused from its header", &SERVER, "88 ff",
               "error 1002 control frame too long");
    expect_hex("a control frame using the 16-bit form for a short length is refused", &SERVER,
               "8a fe 0005 37fa213d 0000000000", "error 1002 control frame too long");

    PUT(&b, FIN | WS_OP_PING, "");
    PUT(&b, FIN | WS_OP_PONG, "");
    {
        uint8_t p125[125];
        memset(p125, 'z', sizeof(p125));
        put_frame_as(&b, FIN | WS_OP_PING, LEN_MIN, 125, p125, 125, 1);
        text want = {0};
        say(&want, "ping \"\"; pong \"\"; ping ");
        say_payload(&want, p125, 125);
        expect_log("pings and pongs of 0 and 125 bytes are fine", &SERVER, &b, want.s);
        free(want.s);
    }

    /* RSV1 with permessage-deflate */
    b.n = 0;
    PUT(&b, FIN | WS_RSV1 | WS_OP_TEXT, "\xff\xfe");
    PUT(&b, WS_RSV1 | WS_OP_BINARY, "x");
    PUT(&b, FIN | WS_OP_CONTINUATION, "y");
    expect_log("RSV1 on a first frame is allowed when negotiated, and compressed text is not checked",
               &rsv1, &b, "rsv1 text \"\\xff\\xfe\"; rsv1 binary \"xy\"");
    b.n = 0;
    PUT(&b, WS_RSV1 | WS_OP_TEXT, "x");
    PUT(&b, FIN | WS_RSV1 | WS_OP_CONTINUATION, "y");
    expect_log("RSV1 on a continuation is refused even when negotiated", &rsv1, &b,
               "error 1002 reserved bits set");
    b.n = 0;
    PUT(&b, FIN | WS_RSV1 | WS_OP_PING, "x");
    expect_log("RSV1 on a control frame is refused even when negotiated", &rsv1, &b,
               "error 1002 reserved bits set");
    b.n = 0;
    PUT(&b, FIN | WS_OP_TEXT, "\xff");
    expect_log("uncompressed text is still checked when RSV1 is negotiated", &rsv1, &b,
               "error 1007 invalid UTF-8 in text message");
    free(b.p);
}

static void test_utf8_in_text(void) {
    bytes b = {0};

    PUT(&b, FIN | WS_OP_TEXT, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5");
    expect_log("valid UTF-8 text is accepted", &SERVER, &b,
               "text \"\\xce\\xba\\xe1\\xbd\\xb9\\xcf\\x83\\xce\\xbc\\xce\\xb5\"");
    b.n = 0;
    PUT(&b, FIN | WS_OP_TEXT, "ok\xED\xA0\x80");
    expect_log("a surrogate in text is refused with 1007", &SERVER, &b,
               "error 1007 invalid UTF-8 in text message");
    b.n = 0;
    PUT(&b, FIN | WS_OP_TEXT, "ok\xE2\x82");
    expect_log("text ending in a cut-off character is refused with 1007", &SERVER, &b,
               "error 1007 invalid UTF-8 in text message");
    b.n = 0;
    PUT(&b, WS_OP_TEXT, "ok\xE2\x82");
    PUT(&b, FIN | WS_OP_CONTINUATION, "");
    expect_log("a cut-off character is refused when an empty final fragment ends the message", &SERVER,
               &b, "error 1007 invalid UTF-8 in text message");
    b.n = 0;
    PUT(&b, WS_OP_TEXT, "ok");
    PUT(&b, FIN | WS_OP_CONTINUATION, "\xC0\xAF");
    expect_log("an overlong form in a continuation is refused", &SERVER, &b,
               "error 1007 invalid UTF-8 in text message");
    b.n = 0;
    PUT(&b, FIN | WS_OP_BINARY, "\xff\xfe");
    expect_log("binary messages are not checked as text", &SERVER, &b, "binary \"\\xff\\xfe\"");

    /* Fail fast: the bad byte is reported before the rest of the frame. */
    {
        ws_parser p;
        ws_event ev;
        uint8_t *buf;
        b.n = 0;
        put_frame_as(&b, FIN | WS_OP_TEXT, LEN_MIN, 100, "ab\xF5", 3, 1);
        buf = test_exact_copy(b.p, b.n);
        ws_parser_init(&p, 0, 1);
        test_cond("invalid text fails on the first bad chunk, before the frame is complete",
                  ws_parser_next(&p, buf, b.n, &ev) == WS_ERR_INVALID_UTF8 && p.close_code == 1007);
        free(buf);
    }
    free(b.p);
}

static void test_max_payload(void) {
    config small = SERVER;
    small.max_payload = 10;
    bytes b = {0};

    PUT(&b, FIN | WS_OP_BINARY, "0123456789");
    PUT(&b, WS_OP_TEXT, "01234");
    PUT(&b, FIN | WS_OP_CONTINUATION, "56789");
    PUT(&b, FIN | WS_OP_PING, "0123456789ABCDEF");
    expect_log("messages of exactly maxPayload pass, and control frames are not counted", &small, &b,
               "binary \"0123456789\"; text \"0123456789\"; ping \"0123456789ABCDEF\"");

    b.n = 0;
    PUT(&b, FIN | WS_OP_BINARY, "0123456789A");
    expect_log("a single frame over maxPayload is refused with 1009", &small, &b,
               "error 1009 message exceeds maxPayload");
    b.n = 0;
    PUT(&b, WS_OP_BINARY, "012345");
    PUT(&b, WS_OP_CONTINUATION, "");
    PUT(&b, FIN | WS_OP_CONTINUATION, "6789A");
    expect_log("fragments summing over maxPayload are refused with 1009", &small, &b,
               "error 1009 message exceeds maxPayload");
    b.n = 0;
    PUT(&b, FIN | WS_OP_BINARY, "0123456789");
    PUT(&b, FIN | WS_OP_BINARY, "0123456789");
    expect_log("the limit is per message, not per connection", &small, &b,
               "binary \"0123456789\"; binary \"0123456789\"");

    expect_hex("a header announcing too much is refused before any payload arrives", &small,
               "82 ff 0000000100000000 37fa213d", "error 1009 message exceeds maxPayload");
    expect_hex("a huge length is accepted when there is no limit (it just waits)", &SERVER,
               "82 ff 0000000100000000 37fa213d", "");

    /* Lowering the limit in the middle of a message cannot wrap the check. */
    {
        ws_parser p;
        ws_event ev;
        uint8_t *buf;
        b.n = 0;
        PUT(&b, WS_OP_BINARY, "0123456789");
        PUT(&b, FIN | WS_OP_CONTINUATION, "");
        buf = test_exact_copy(b.p, b.n);
        ws_parser_init(&p, 100, 1);
        test_cond("the first fragment passes under the first limit",
                  ws_parser_next(&p, buf, 16, &ev) == 16 && ev.type == WS_EV_DATA);
        p.max_payload = 5;
        test_cond("a limit lowered below what was received refuses the next fragment",
                  ws_parser_next(&p, buf + 16, b.n - 16, &ev) == WS_ERR_TOO_BIG && p.close_code == 1009);
        free(buf);
    }
    free(b.p);
}

static void test_close_frames(void) {
    bytes b = {0};

    PUT(&b, FIN | WS_OP_CLOSE, "");
    expect_log("a close without a payload reports 1005 and no reason", &SERVER, &b, "close 1005 \"\"");
    b.n = 0;
    PUT(&b, FIN | WS_OP_CLOSE, "\x03\xe8");
    expect_log("a close with a code and no reason", &SERVER, &b, "close 1000 \"\"");
    b.n = 0;
    PUT(&b, FIN | WS_OP_CLOSE, "\x0f\xa0going \xE2\x82\xAC");
    expect_log("a close with a code and a UTF-8 reason", &SERVER, &b,
               "close 4000 \"going \\xe2\\x82\\xac\"");
    b.n = 0;
    PUT(&b, FIN | WS_OP_CLOSE, "\x03");
    expect_log("a close payload of one byte is refused", &SERVER, &b,
               "error 1002 invalid close frame payload");
    b.n = 0;
    PUT(&b, FIN | WS_OP_CLOSE, "\x03\xe8\xff");
    expect_log("a close reason that is not UTF-8 is refused with 1007", &SERVER, &b,
               "error 1007 invalid UTF-8 in close reason");
    b.n = 0;
    PUT(&b, FIN | WS_OP_CLOSE, "\x03\xe8\xe2\x82");
    expect_log("a close reason with a cut-off character is refused with 1007", &SERVER, &b,
               "error 1007 invalid UTF-8 in close reason");

    static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char pl[2] = {(char)(bad[i] >> 8), (char)bad[i]};
        b.n = 0;
        put_frame(&b, FIN | WS_OP_CLOSE, pl, 2);
        expect_log("a close code that may not be sent is refused", &SERVER, &b,
                   "error 1002 invalid close code");
    }
    static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char pl[2] = {(char)(good[i] >> 8), (char)good[i]}, want[32];
        b.n = 0;
        put_frame(&b, FIN | WS_OP_CLOSE, pl, 2);
        snprintf(want, sizeof(want), "close %u \"\"", good[i]);
        expect_log("a close code that may be sent is reported", &SERVER, &b, want);
    }
    free(b.p);

    long wrong = 0;
    for (unsigned code = 0; code < 70000; code++) {
        int expect = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                     (code >= 3000 && code <= 4999);
        wrong += ws_close_code_valid(code) != expect;
    }
    test_cond("ws_close_code_valid follows RFC 6455 7.4 for every code", wrong == 0);
}

static void test_sticky_error(void) {
    ws_parser p;
    ws_event ev;
    uint8_t good[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    uint8_t bad[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};

    ws_parser_init(&p, 0, 1);
    test_cond("an error is returned", ws_parser_next(&p, bad, sizeof(bad), &ev) == WS_ERR_PROTOCOL);
    test_cond("after an error, good input gets the same error",
              ws_parser_next(&p, good, sizeof(good), &ev) == WS_ERR_PROTOCOL);
    test_cond("after an error, no input gets the same error", ws_parser_next(&p, good, 0, &ev) == WS_ERR_PROTOCOL);
    test_cond("the close code and reason stay", p.close_code == 1002 && strcmp(p.errstr, "unmasked client frame") == 0);
}

/* ---- masking ---- */

static void naive_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t offset) {
    for (size_t i = 0; i < len; i++) buf[i] ^= mask[(offset + i) % 4];
}

static void test_mask(void) {
    static const uint8_t key[4] = {0xA1, 0x5B, 0x03, 0xFE};
    long wrong = 0, not_round_trip = 0;
    uint8_t src[1100], want[1100];

    for (size_t i = 0; i < sizeof(src); i++) src[i] = (uint8_t)(i * 13 + 5);
    for (size_t len = 0; len <= 1090; len += len < 140 ? 1 : 53) {
        for (size_t offset = 0; offset < 8; offset++) {
            for (size_t align = 0; align < 8; align++) {
                uint8_t *buf = test_exact_copy(src, len + align); /* buf + align ends the allocation */
                memcpy(want, src + align, len);
                naive_mask(want, len, key, offset);
                ws_mask(buf + align, len, key, offset);
                wrong += memcmp(buf + align, want, len) != 0;
                wrong += memcmp(buf, src, align) != 0; /* nothing before touched */
                ws_mask(buf + align, len, key, offset);
                not_round_trip += memcmp(buf + align, src + align, len) != 0;
                free(buf);
            }
        }
    }
    test_cond("ws_mask matches a byte loop at every offset, alignment and length", wrong == 0);
    test_cond("masking twice gives the original back", not_round_trip == 0);

    /* Masking in pieces continues the key where the last piece stopped. */
    uint8_t a[300], c[300];
    long piece_wrong = 0;
    for (size_t i = 0; i < sizeof(a); i++) a[i] = c[i] = (uint8_t)i;
    naive_mask(c, sizeof(c), key, 0);
    for (size_t cut = 0; cut <= sizeof(a); cut++) {
        uint8_t t[300];
        memcpy(t, a, sizeof(t));
        ws_mask(t, cut, key, 0);
        ws_mask(t + cut, sizeof(t) - cut, key, cut);
        piece_wrong += memcmp(t, c, sizeof(c)) != 0;
    }
    test_cond("masking in two pieces with the offset equals masking at once", piece_wrong == 0);
}

/* ---- the builder and the whole-frame decoder ---- */

static void test_builder_and_decoder(void) {
    static const int ops[] = {WS_OP_CONTINUATION, WS_OP_TEXT, WS_OP_BINARY, WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    static uint8_t bin[70000], ascii[70000];
    long bad_size = 0, bad_decode = 0, bad_parse = 0, bad_partial = 0;

    for (size_t i = 0; i < sizeof(bin); i++) bin[i] = (uint8_t)(i ^ (i >> 8)), ascii[i] = (uint8_t)(i % 95 + 32);
    for (size_t oi = 0; oi < sizeof(ops) / sizeof(ops[0]); oi++) {
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
            int op = ops[oi];
            const uint8_t *payload = op == WS_OP_TEXT ? ascii : bin;
            size_t len = (size_t)lens[li];
            if (op >= WS_OP_CLOSE && len > WS_MAX_CONTROL) continue;
            for (int masked = 0; masked <= 1; masked++) {
                for (int rsv = 0; rsv <= 0x70; rsv += 0x10) {
                    int fin = op >= WS_OP_CLOSE || rsv != 0x30, dfin, drsv, dop;
                    uint8_t hdr[WS_MAX_HEADER], *frame, *dpayload;
                    uint64_t dlen;
                    size_t hlen = ws_frame_header(hdr, fin, rsv, op, len, masked ? MASK : NULL);
                    ssize_t used;

                    bad_size += hlen != ws_frame_header_size(len, masked);
                    bad_size += hlen != (size_t)(len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
                    frame = malloc(hlen + len + 1);
                    memcpy(frame, hdr, hlen);
                    memcpy(frame + hlen, payload, len);
                    if (masked) naive_mask(frame + hlen, len, MASK, 0);

                    /* Every strict prefix is incomplete. */
                    for (size_t k = 0; k < hlen + len; k += (k < hlen + 2 ? 1 : 4099)) {
                        uint8_t *pre = test_exact_copy(frame, k);
                        bad_partial += ws_frame_decode(pre, k, &dfin, &drsv, &dop, &dpayload, &dlen) != 0;
                        free(pre);
                    }
                    {
                        uint8_t *pre = test_exact_copy(frame, hlen + len - (len ? 1 : 0));
                        if (len)
                            bad_partial += ws_frame_decode(pre, hlen + len - 1, &dfin, &drsv, &dop,
                                                           &dpayload, &dlen) != 0;
                        free(pre);
                    }

                    /* The decoder reads it back (with a spare byte after it). */
                    frame[hlen + len] = 0x42;
                    used = ws_frame_decode(frame, hlen + len + 1, &dfin, &drsv, &dop, &dpayload, &dlen);
                    bad_decode += used != (ssize_t)(hlen + len) || dfin != fin || drsv != rsv ||
                                  dop != op || dlen != len || dpayload != frame + hlen ||
                                  memcmp(dpayload, payload, len) != 0;

                    /* The parser reads a masked text/binary/control frame back. */
                    if (masked && rsv == 0 && fin && op != WS_OP_CONTINUATION && op != WS_OP_CLOSE) {
                        ws_parser p;
                        ws_event ev;
                        bytes got = {0};
                        size_t off = 0;
                        memcpy(frame, hdr, hlen);
                        memcpy(frame + hlen, payload, len);
                        naive_mask(frame + hlen, len, MASK, 0);
                        ws_parser_init(&p, 0, 1);
                        p.allowed_rsv = 0;
                        for (int guard = 0; guard < 10; guard++) {
                            ssize_t r = ws_parser_next(&p, frame + off, hlen + len - off, &ev);
                            if (r < 0) { bad_parse++; break; }
                            off += (size_t)r;
                            if (ev.type == WS_EV_DATA) put(&got, ev.data, ev.len);
                            if (ev.type == WS_EV_PING || ev.type == WS_EV_PONG) {
                                put(&got, ev.data, ev.len);
                                bad_parse += (ev.type == WS_EV_PING) != (op == WS_OP_PING);
                                break;
                            }
                            if (ev.type == WS_EV_MESSAGE) {
                                bad_parse += ev.opcode != op;
                                break;
                            }
                            if (ev.type == WS_EV_NEED_MORE) { bad_parse++; break; }
                        }
                        bad_parse += got.n != len || (len && memcmp(got.p, payload, len) != 0) ||
                                     off != hlen + len;
                        free(got.p);
                    }
                    free(frame);
                }
            }
        }
    }
    test_cond("ws_frame_header writes the length ws_frame_header_size predicts", bad_size == 0);
    test_cond("ws_frame_decode reads back every frame ws_frame_header builds", bad_decode == 0);
    test_cond("ws_frame_decode says 0 for every incomplete frame", bad_partial == 0);
    test_cond("ws_parser_next reads back every frame ws_frame_header builds", bad_parse == 0);

    {
        uint8_t hdr[WS_MAX_HEADER];
        size_t n = ws_frame_header(hdr, 1, 0, WS_OP_BINARY, 0x0102030405060708ull, NULL);
        test_cond("a 64-bit length is written big-endian",
                  n == 10 && hdr[0] == 0x82 && hdr[1] == 127 && hdr[2] == 1 && hdr[9] == 8);
        n = ws_frame_header(hdr, 0, WS_RSV1, WS_OP_TEXT, 300, MASK);
        test_cond("a 16-bit length, RSV1 and a mask key are written",
                  n == 8 && hdr[0] == 0x41 && hdr[1] == (0x80 | 126) && hdr[2] == 1 && hdr[3] == 44 &&
                      memcmp(hdr + 4, MASK, 4) == 0);
        test_cond("ws_frame_header_size knows the largest header", ws_frame_header_size(UINT64_MAX >> 1, 1) == 14);
    }
    {
        int fin, rsv, op;
        uint8_t *pl;
        uint64_t plen;
        uint8_t msb[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};
        uint8_t ctl[] = {0x89, 0x7E, 0x00, 0x05};
        uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
        test_cond("ws_frame_decode refuses a 64-bit length with the top bit set",
                  ws_frame_decode(msb, sizeof(msb), &fin, &rsv, &op, &pl, &plen) == WS_ERR_PROTOCOL);
        test_cond("ws_frame_decode refuses a control frame over 125 bytes",
                  ws_frame_decode(ctl, 2, &fin, &rsv, &op, &pl, &plen) == WS_ERR_PROTOCOL);
        test_cond("ws_frame_decode unmasks the RFC example in place",
                  ws_frame_decode(hello, sizeof(hello), &fin, &rsv, &op, &pl, &plen) == 11 && fin == 1 &&
                      op == 1 && plen == 5 && memcmp(pl, "Hello", 5) == 0);
        test_cond("ws_frame_decode says 0 for an empty buffer",
                  ws_frame_decode(hello, 0, &fin, &rsv, &op, &pl, &plen) == 0);
    }
}

static void test_client_mode(void) {
    bytes b = {0};
    put_frame_as(&b, FIN | WS_OP_TEXT, LEN_MIN, 2, "hi", 2, 0);
    put_frame_as(&b, FIN | WS_OP_CLOSE, LEN_MIN, 2, "\x03\xe9", 2, 0);
    expect_log("a client reads unmasked frames", &CLIENT, &b, "text \"hi\"; close 1001 \"\"");
    b.n = 0;
    put_frame_as(&b, FIN | WS_OP_PING, LEN_MIN, 0, "", 0, 1);
    expect_log("a client refuses a masked ping", &CLIENT, &b, "error 1002 masked server frame");
    free(b.p);
}

/* ws_parser_at_rest: true only between frames with no message in progress,
 * so a caller may drop the parser there and start a fresh one. */
static void test_at_rest(void) {
    bytes b = {0};
    ws_parser p;
    ws_event ev;
    uint8_t *buf;

    PUT(&b, WS_OP_TEXT, "Hel");
    PUT(&b, FIN | WS_OP_CONTINUATION, "lo");
    PUT(&b, FIN | WS_OP_PING, "p");
    buf = test_exact_copy(b.p, b.n);
    ws_parser_init(&p, 0, 1);
    test_cond("a fresh parser is at rest", ws_parser_at_rest(&p));
    ws_parser_next(&p, buf, 1, &ev);
    test_cond("half a header is not rest", !ws_parser_at_rest(&p));
    ws_parser_next(&p, buf + 1, 7, &ev);
    test_cond("part of a payload is not rest", !ws_parser_at_rest(&p));
    ws_parser_next(&p, buf + 8, 1, &ev);
    test_cond("between the fragments of a message is not rest", !ws_parser_at_rest(&p));
    ws_parser_next(&p, buf + 9, 8, &ev);
    test_cond("a due MESSAGE event is not rest", !ws_parser_at_rest(&p));
    ws_parser_next(&p, buf + 17, 0, &ev);
    test_cond("after the MESSAGE event the parser is at rest", ev.type == WS_EV_MESSAGE && ws_parser_at_rest(&p));
    ws_parser_next(&p, buf + 17, 6, &ev);
    test_cond("a control frame split across calls is not rest", !ws_parser_at_rest(&p));
    ws_parser_next(&p, buf + 23, 1, &ev);
    test_cond("after the control frame the parser is at rest", ev.type == WS_EV_PING && ws_parser_at_rest(&p));
    ws_parser_free(&p);
    free(buf);
    free(b.p);
}

int main(void) {
    test_rfc_examples();
    test_lengths();
    test_fragmentation();
    test_data_events();
    test_at_rest();
    test_violations();
    test_utf8_in_text();
    test_max_payload();
    test_close_frames();
    test_sticky_error();
    test_mask();
    test_builder_and_decoder();
    test_client_mode();
    test_cond("the parser kept its invariants on every input, split and event", invariant_failures == 0);
    return test_report();
}
