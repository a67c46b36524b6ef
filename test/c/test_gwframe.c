/* The gateway's stream framings (native/gwframe.c): the same messages for
 * every split of the stream, boundaries, limits, and the wrapping of client
 * messages. */
#include "gwframe.h"

#include "gwproto.h"
#include "harness.h"

#define MAX_MSGS 64

typedef struct {
    size_t n;
    size_t len[MAX_MSGS];
    int type[MAX_MSGS];
    char data[MAX_MSGS][256];
    int error;
} parsed;

/* Parses in as a stream arriving in pieces of chunk bytes, keeping the
 * unconsumed tail the way the relay does. */
static void parse_chunked(ws_gw_framing f, const uint8_t *in, size_t len, size_t chunk, uint64_t max, parsed *out) {
    memset(out, 0, sizeof *out);
    uint8_t buf[4096];
    size_t have = 0, scanned = 0, fed = 0;
    while (fed < len && !out->error) {
        size_t n = len - fed < chunk ? len - fed : chunk;
        memcpy(buf + have, in + fed, n);
        have += n;
        fed += n;
        uint8_t *copy = test_exact_copy(buf, have); /* a read past the end faults */
        size_t off = 0;
        for (;;) {
            ws_gw_message m;
            long r = ws_gwframe_next(f, copy + off, have - off, max, &scanned, &m);
            if (r == 0) break;
            if (r < 0) {
                out->error = (int)r;
                break;
            }
            if (out->n < MAX_MSGS) {
                out->len[out->n] = m.len;
                out->type[out->n] = m.type;
                memcpy(out->data[out->n], m.data, m.len < 256 ? m.len : 256);
                out->n++;
            }
            off += (size_t)r;
        }
        memmove(buf, copy + off, have - off);
        have -= off;
        free(copy);
    }
}

static int same(const parsed *a, const parsed *b) {
    if (a->n != b->n || a->error != b->error) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || a->type[i] != b->type[i] || memcmp(a->data[i], b->data[i], a->len[i] < 256 ? a->len[i] : 256))
            return 0;
    return 1;
}

static void every_split(const char *name, ws_gw_framing f, const uint8_t *in, size_t len, uint64_t max, parsed *whole) {
    parse_chunked(f, in, len, len ? len : 1, max, whole);
    for (size_t chunk = 1; chunk < len; chunk++) {
        parsed p;
        parse_chunked(f, in, len, chunk, max, &p);
        test_cond(name, same(&p, whole));
    }
}

static void test_line(void) {
    static const uint8_t in[] = "first\r\nsecond\n\nthird\xff\n\r\nunfinished";
    parsed p;
    every_split("line: any split gives the same messages", WS_GW_FRAMING_LINE, in, sizeof in - 1, 100, &p);
    test_cond("line: five complete lines", p.n == 5);
    test_cond("line: a trailing CR is dropped", p.len[0] == 5 && memcmp(p.data[0], "first", 5) == 0);
    test_cond("line: a bare LF ends a line", p.len[1] == 6 && memcmp(p.data[1], "second", 6) == 0);
    test_cond("line: an empty line is an empty message", p.len[2] == 0 && p.type[2] == WS_GW_TEXT);
    test_cond("line: invalid UTF-8 goes as binary", p.type[3] == WS_GW_BINARY && p.len[3] == 6);
    test_cond("line: CRLF alone is an empty message", p.len[4] == 0);
    test_cond("line: no error", p.error == 0);

    static const uint8_t big[] = "0123456789\n";
    every_split("line: too big, on any split", WS_GW_FRAMING_LINE, big, sizeof big - 1, 9, &p);
    test_cond("line: a line over max is an error", p.error == WS_GWFRAME_TOO_BIG && p.n == 0);
    every_split("line: exactly max", WS_GW_FRAMING_LINE, big, sizeof big - 1, 10, &p);
    test_cond("line: a line of exactly max passes", p.error == 0 && p.n == 1 && p.len[0] == 10);
    static const uint8_t crlf[] = "0123456789\r\n";
    every_split("line: CR not counted", WS_GW_FRAMING_LINE, crlf, sizeof crlf - 1, 10, &p);
    test_cond("line: the dropped CR does not count against max", p.error == 0 && p.n == 1 && p.len[0] == 10);
    static const uint8_t endless[] = "0123456789abcdef";
    every_split("line: an unterminated line over max", WS_GW_FRAMING_LINE, endless, sizeof endless - 1, 8, &p);
    test_cond("line: an unterminated line past max fails before its end", p.error == WS_GWFRAME_TOO_BIG);
}

static void test_nul(void) {
    static const uint8_t in[] = "a\0bc\r\0\0rest";
    parsed p;
    every_split("nul: any split", WS_GW_FRAMING_NUL, in, sizeof in - 1, 100, &p);
    test_cond("nul: three strings", p.n == 3);
    test_cond("nul: CR is kept", p.len[1] == 3 && memcmp(p.data[1], "bc\r", 3) == 0);
    test_cond("nul: an empty string", p.len[2] == 0);
}

static void test_length(void) {
    uint8_t in[64];
    size_t n = 0;
    ws_gw_len_header(in + n, WS_GW_TEXT, 3);
    memcpy(in + n + 5, "abc", 3);
    n += 8;
    ws_gw_len_header(in + n, WS_GW_BINARY, 0);
    n += 5;
    ws_gw_len_header(in + n, WS_GW_BINARY, 4);
    memcpy(in + n + 5, "\n\0\xff\r", 4);
    n += 9;
    ws_gw_len_header(in + n, WS_GW_TEXT, 20); /* incomplete */
    n += 7;
    parsed p;
    every_split("length: any split", WS_GW_FRAMING_LENGTH, in, n, 100, &p);
    test_cond("length: three records", p.n == 3 && p.error == 0);
    test_cond("length: the type is the header's", p.type[0] == WS_GW_TEXT && p.type[1] == WS_GW_BINARY);
    test_cond("length: binary-safe", p.len[2] == 4 && memcmp(p.data[2], "\n\0\xff\r", 4) == 0);
    test_cond("length: an empty record", p.len[1] == 0);

    uint8_t bad[6] = {9, 0, 0, 0, 1, 'x'};
    every_split("length: bad type", WS_GW_FRAMING_LENGTH, bad, sizeof bad, 100, &p);
    test_cond("length: a type other than text or binary is an error", p.error == WS_GWFRAME_BAD_TYPE);
    uint8_t huge[5];
    ws_gw_len_header(huge, WS_GW_BINARY, 0xffffffffu);
    every_split("length: too big", WS_GW_FRAMING_LENGTH, huge, sizeof huge, 1000, &p);
    test_cond("length: a record over max fails from its header", p.error == WS_GWFRAME_TOO_BIG);
}

static void test_ouistiti(void) {
    size_t scanned = 0;
    ws_gw_message m;
    const uint8_t text[] = "h\xc3\xa9llo", bin[] = {0xff, 0};
    test_cond("ouistiti: nothing is no message", ws_gwframe_next(WS_GW_FRAMING_OUISTITI, text, 0, 10, &scanned, &m) == 0);
    test_cond("ouistiti: a read is one message", ws_gwframe_next(WS_GW_FRAMING_OUISTITI, text, 6, 10, &scanned, &m) == 6 &&
                                                     m.len == 6 && m.type == WS_GW_TEXT);
    test_cond("ouistiti: binary when not UTF-8", ws_gwframe_next(WS_GW_FRAMING_OUISTITI, bin, 2, 10, &scanned, &m) == 2 &&
                                                     m.type == WS_GW_BINARY);
    test_cond("ouistiti: over max", ws_gwframe_next(WS_GW_FRAMING_OUISTITI, text, 6, 5, &scanned, &m) == WS_GWFRAME_TOO_BIG);
}

static void test_wrap(void) {
    uint8_t head[5], tail;
    size_t hl, tl;
    test_cond("wrap line: text gets a newline",
              ws_gwframe_wrap(WS_GW_FRAMING_LINE, WS_GW_TEXT, (const uint8_t *)"ab", 2, head, &hl, &tail, &tl) == 0 &&
                  hl == 0 && tl == 1 && tail == '\n');
    test_cond("wrap line: a newline inside is refused",
              ws_gwframe_wrap(WS_GW_FRAMING_LINE, WS_GW_TEXT, (const uint8_t *)"a\nb", 3, head, &hl, &tail, &tl) == -1);
    test_cond("wrap line: binary is refused",
              ws_gwframe_wrap(WS_GW_FRAMING_LINE, WS_GW_BINARY, (const uint8_t *)"ab", 2, head, &hl, &tail, &tl) == -1);
    test_cond("wrap nul: a NUL inside is refused",
              ws_gwframe_wrap(WS_GW_FRAMING_NUL, WS_GW_TEXT, (const uint8_t *)"a\0b", 3, head, &hl, &tail, &tl) == -1);
    test_cond("wrap length: a header", ws_gwframe_wrap(WS_GW_FRAMING_LENGTH, WS_GW_BINARY, (const uint8_t *)"\n", 1, head,
                                                       &hl, &tail, &tl) == 0 &&
                                           hl == 5 && tl == 0 && head[0] == WS_GW_BINARY && head[4] == 1);
    test_cond("wrap ouistiti: as it is",
              ws_gwframe_wrap(WS_GW_FRAMING_OUISTITI, WS_GW_BINARY, (const uint8_t *)"\n", 1, head, &hl, &tail, &tl) == 0 &&
                  hl == 0 && tl == 0);
    test_cond("names", ws_gwframe_parse_name("line") == WS_GW_FRAMING_LINE && ws_gwframe_parse_name("length") ==
                                                                                 WS_GW_FRAMING_LENGTH &&
                           ws_gwframe_parse_name("LINE") == -1);
}

int main(void) {
    test_line();
    test_nul();
    test_length();
    test_ouistiti();
    test_wrap();
    return test_report();
}
