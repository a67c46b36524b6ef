/* Tests of native/hixie.c: the draft-76 examples for the key challenge, key
 * parsing edge cases, the 101 answers, and the frame parser fed a stream of
 * frames at every split point and byte by byte. */
#include <stdint.h>

#include "harness.h"
#include "hixie.h"

static void test_answer(void) {
    /* Draft 76 section 1.3 (the opening handshake's example). */
    uint8_t out[16];
    const char *k1 = "18x 6]8vM;54 *(5:  {   U1]8  z [  8", *k2 = "1_ tx7X d  <  nw  334J702) 7]o}` 0";
    test_cond("example answer", ws_hixie_answer(k1, strlen(k1), k2, strlen(k2), (const uint8_t *)"Tm[K T2u", out) == 0);
    test_cond("example answer bytes", memcmp(out, "fQJ,fN/4F4!~K~MH", 16) == 0);
    /* Draft 76 section 5.2 (the server's handshake example). */
    const char *a1 = "4 @1  46546xW%0l 1 5", *a2 = "12998 5 Y3 1  .P00";
    test_cond("second example", ws_hixie_answer(a1, strlen(a1), a2, strlen(a2), (const uint8_t *)"^n:ds[4U", out) == 0);
    test_cond("second example bytes", memcmp(out, "8jKS'y:G*Co,Wxa-", 16) == 0);
    uint32_t n = 0;
    test_cond("key1 number", ws_hixie_key_number(k1, strlen(k1), &n) == 0 && n == 155712099u);
    test_cond("key2 number", ws_hixie_key_number(k2, strlen(k2), &n) == 0 && n == 173347027u);
    test_cond("bad key refused by answer", ws_hixie_answer("12", 2, k2, strlen(k2), (const uint8_t *)"12345678", out) != 0);
}

static int key(const char *s, uint32_t *n) { return ws_hixie_key_number(s, strlen(s), n); }

static void test_keys(void) {
    uint32_t n = 7;
    test_cond("no space refused", key("12345", &n) == -1);
    test_cond("no digit refused", key("a b c", &n) == -1);
    test_cond("empty refused", key("", &n) == -1);
    test_cond("digits around a space", key("1 0", &n) == 0 && n == 10);
    test_cond("exact division", key("1 2", &n) == 0 && n == 12);
    test_cond("7 over 2 spaces refused", key(" 7 ", &n) == -1);
    test_cond("8 over 2 spaces", key(" 8 ", &n) == 0 && n == 4);
    test_cond("max number", key("4294967295 ", &n) == 0 && n == 4294967295u);
    test_cond("past 2^32 - 1 refused", key("4294967296 ", &n) == -1);
    test_cond("long digits refused", key("99999999999999999999999 ", &n) == -1);
    test_cond("zero", key("0 ", &n) == 0 && n == 0);
    test_cond("tabs are not spaces", key("1\t2", &n) == -1);
    test_cond("bytes >= 0x80 ignored", key("\xff" "4 \x80", &n) == 0 && n == 4);
}

static void test_response(void) {
    char out[512];
    uint8_t answer[16];
    memcpy(answer, "8jKS'y:G*Co,Wxa-", 16);
    size_t n = ws_hixie_response(out, sizeof out, 76, 0, "http://example.com", 18, "example.com", 11, "/demo", 5,
                                 "sample", 6, answer);
    const char *want = "HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Location: ws://example.com/demo\r\n"
                       "Sec-WebSocket-Protocol: sample\r\n\r\n8jKS'y:G*Co,Wxa-";
    test_cond("76 response", n == strlen(want) && memcmp(out, want, n) == 0);
    n = ws_hixie_response(out, sizeof out, 75, 1, "http://example.com", 18, "example.com", 11, "/demo", 5, NULL, 0,
                          NULL);
    want = "HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
           "WebSocket-Origin: http://example.com\r\nWebSocket-Location: wss://example.com/demo\r\n\r\n";
    test_cond("75 response", n == strlen(want) && memcmp(out, want, n) == 0);
    test_cond("CR in a value refused", ws_hixie_response(out, sizeof out, 75, 0, "a\r\nb", 4, "h", 1, "/", 1, NULL,
                                                         0, NULL) == 0);
    test_cond("small buffer refused", ws_hixie_response(out, 20, 75, 0, NULL, 0, "h", 1, "/", 1, NULL, 0, NULL) == 0);
}

static void test_headers(void) {
    uint8_t h[WS_HIXIE_MAX_HEADER];
    test_cond("text header", ws_hixie_header(h, 0, 5) == 1 && h[0] == 0);
    test_cond("binary 0", ws_hixie_header(h, 1, 0) == 2 && h[0] == 0x80 && h[1] == 0);
    test_cond("binary 127", ws_hixie_header(h, 1, 127) == 2 && h[1] == 127);
    test_cond("binary 128", ws_hixie_header(h, 1, 128) == 3 && h[1] == 0x81 && h[2] == 0);
    test_cond("binary 300", ws_hixie_header(h, 1, 300) == 3 && h[1] == 0x82 && h[2] == 0x2c);
    test_cond("size matches", ws_hixie_header_size(1, 1u << 20) == ws_hixie_header(h, 1, 1u << 20));
}

/* Parses the stream cut at the given points (and byte by byte when cut is 0
 * = every byte), collecting delivered messages joined by '|' into out.
 * Returns the last status: 1 close seen, 0 need more, <0 error. */
static int run(const uint8_t *s, size_t n, size_t cut, uint64_t max, char *out, size_t cap) {
    ws_hixie_parser p;
    ws_hixie_parser_init(&p);
    size_t o = 0;
    int status = 0;
    size_t pos = 0;
    while (pos < n) {
        size_t end = cut ? (pos < cut ? cut : n) : pos + 1;
        if (end > n) end = n;
        unsigned char *piece = test_exact_copy(s + pos, end - pos);
        size_t off = 0, len = end - pos;
        while (off < len) {
            ws_hixie_event ev;
            ssize_t r = ws_hixie_parse(&p, piece + off, len - off, max, &ev);
            if (r < 0) {
                free(piece);
                return (int)r;
            }
            off += (size_t)r;
            if (ev.type == WS_HX_TEXT) {
                if (o + ev.len + 1 < cap) {
                    memcpy(out + o, ev.data, ev.len);
                    o += ev.len;
                    if (ev.last) out[o++] = '|';
                }
            } else if (ev.type == WS_HX_CLOSE) {
                status = 1;
                if (off < len) status = 2; /* bytes after the close in this piece */
                off = len;
            } else if (ev.type == WS_HX_NEED_MORE) {
                test_cond("need more consumed all", off == len);
            }
        }
        free(piece);
        pos = end;
        if (status) break;
    }
    out[o] = 0;
    return status;
}

static void test_parser(void) {
    /* Messages, an empty one, a binary frame (skipped), a text frame of
     * another type (skipped), UTF-8, then the close. */
    uint8_t stream[300];
    size_t n = 0;
    memcpy(stream, "\x00hello\xff\x00\xff\x80\x81\x00", 12); /* then 128 bytes of a binary frame */
    n = 12;
    memset(stream + n, 0xff, 128); /* any byte value in a skipped frame */
    n += 128;
    static const char tail[] = "\x7fignored\xff\x80\x00\x00\xc3\xa9t\xc3\xa9\xff\xff\x00";
    memcpy(stream + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    char out[256];
    test_cond("whole", run(stream, n, n, 1000, out, sizeof out) == 1 && strcmp(out, "hello||\xc3\xa9t\xc3\xa9|") == 0);
    test_cond("byte by byte", run(stream, n, 0, 1000, out, sizeof out) == 1 && strcmp(out, "hello||\xc3\xa9t\xc3\xa9|") == 0);
    int all = 1;
    for (size_t cut = 1; cut < n; cut++) {
        if (run(stream, n, cut, 1000, out, sizeof out) != 1 || strcmp(out, "hello||\xc3\xa9t\xc3\xa9|") != 0) all = 0;
    }
    test_cond("every split", all);

    /* Bounds: a text frame of exactly max passes, one more byte fails, split or not. */
    static const uint8_t five[] = "\x00" "abcde\xff";
    test_cond("text at max", run(five, 7, 7, 5, out, sizeof out) == 0 && strcmp(out, "abcde|") == 0);
    test_cond("text past max", run(five, 7, 7, 4, out, sizeof out) == WS_HX_ERR_TOO_BIG);
    test_cond("text past max split", run(five, 7, 0, 4, out, sizeof out) == WS_HX_ERR_TOO_BIG);
    static const uint8_t open[] = "\x00" "abcdefgh"; /* no terminator yet: refused once past max */
    test_cond("unterminated past max", run(open, 9, 0, 4, out, sizeof out) == WS_HX_ERR_TOO_BIG);
    static const uint8_t big[] = "\x80\x81\x00"; /* 128 bytes announced */
    test_cond("binary length past max", run(big, 3, 3, 100, out, sizeof out) == WS_HX_ERR_TOO_BIG);
    static const uint8_t huge[] = "\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
    test_cond("endless length", run(huge, sizeof huge - 1, 0, UINT64_MAX, out, sizeof out) == WS_HX_ERR_TOO_BIG);
    static const uint8_t after[] = "\xff\x00\x00x\xff";
    test_cond("bytes after close", run(after, 5, 5, 100, out, sizeof out) == 2);
    ws_hixie_parser p;
    ws_hixie_parser_init(&p);
    ws_hixie_event ev;
    test_cond("close", ws_hixie_parse(&p, (const uint8_t *)"\xff\x00", 2, 10, &ev) == 2 && ev.type == WS_HX_CLOSE);
    test_cond("after close refused", ws_hixie_parse(&p, (const uint8_t *)"\x00", 1, 10, &ev) == WS_HX_ERR_CLOSED);
    ws_hixie_parser_init(&p);
    test_cond("partial is not at rest", ws_hixie_parse(&p, (const uint8_t *)"\x00", 1, 10, &ev) == 1 &&
                                            ev.type == WS_HX_NEED_MORE && !ws_hixie_at_rest(&p));
    test_cond("first chunk of a split frame", ws_hixie_parse(&p, (const uint8_t *)"ab", 2, 10, &ev) == 2 &&
                                                  ev.type == WS_HX_TEXT && ev.first && !ev.last && ev.len == 2);
    test_cond("last chunk", ws_hixie_parse(&p, (const uint8_t *)"c\xff", 2, 10, &ev) == 2 && ev.type == WS_HX_TEXT &&
                                !ev.first && ev.last && ev.len == 1 && ws_hixie_at_rest(&p));
}

int main(void) {
    test_answer();
    test_keys();
    test_response();
    test_headers();
    test_parser();
    return test_report();
}
