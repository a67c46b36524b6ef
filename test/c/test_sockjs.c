/* SockJS 0.3.3 pure parts: routes, quoting, transport framing, decoding. */
#include "harness.h"
#include "sockjs.h"

static ws_sjs_route route(const char *path) {
    ws_sjs_route r;
    unsigned char *p = test_exact_copy(path, strlen(path));
    ws_sjs_route_parse((const char *)p, strlen(path), "/sockjs", 7, &r);
    /* the pointers go into p: keep what the tests compare as offsets */
    if (r.resource) r.resource = path + (r.resource - (const char *)p);
    if (r.session) r.session = path + (r.session - (const char *)p);
    free(p);
    return r;
}

static int res_is(ws_sjs_route r, const char *s) {
    return r.resource && r.resource_len == strlen(s) && memcmp(r.resource, s, r.resource_len) == 0;
}

static void test_routes(void) {
    ws_sjs_route r = route("/sockjs/chat/000/abc/xhr_streaming");
    test_cond("session route", r.kind == WS_SJS_SESSION && r.transport == WS_SJS_T_XHR_STREAMING && res_is(r, "/chat") &&
                                   r.session_len == 3 && memcmp(r.session, "abc", 3) == 0);
    r = route("/sockjs/apps/room/1/x/websocket");
    test_cond("multi-segment resource", r.kind == WS_SJS_SESSION && r.transport == WS_SJS_T_WEBSOCKET && res_is(r, "/apps/room"));
    test_cond("info", route("/sockjs/chat/info").kind == WS_SJS_INFO && res_is(route("/sockjs/chat/info"), "/chat"));
    test_cond("iframe", route("/sockjs/chat/iframe.html").kind == WS_SJS_IFRAME);
    test_cond("versioned iframe", route("/sockjs/chat/iframe-a.b_1.html").kind == WS_SJS_IFRAME);
    test_cond("bad iframe", route("/sockjs/chat/iframeX.html").kind == WS_SJS_NOT_FOUND);
    test_cond("raw websocket", route("/sockjs/chat/websocket").kind == WS_SJS_RAW_WEBSOCKET);
    test_cond("root", route("/sockjs/chat").kind == WS_SJS_ROOT && route("/sockjs/chat/").kind == WS_SJS_ROOT);
    test_cond("not ours", route("/chat").kind == WS_SJS_NOT_OURS && route("/sockjsx/a").kind == WS_SJS_NOT_OURS &&
                              route("/sockjs").kind == WS_SJS_NOT_OURS);
    test_cond("dot in server id", route("/sockjs/echo/a./a/xhr").kind == WS_SJS_NOT_FOUND);
    test_cond("dot in session id", route("/sockjs/echo/a/a./xhr").kind == WS_SJS_NOT_FOUND);
    test_cond("empty ids", route("/sockjs/echo//a/xhr").kind == WS_SJS_NOT_FOUND);
    test_cond("unknown transport", route("/sockjs/echo/a/a/xhrx").kind == WS_SJS_NOT_FOUND);
    test_cond("empty resource segment", route("/sockjs//x/info").kind == WS_SJS_NOT_FOUND);
    test_cond("unknown url", route("/sockjs/echo/a/b").kind == WS_SJS_NOT_FOUND);
    char long_id[400] = "/sockjs/e/s/";
    memset(long_id + 12, 'a', 200);
    strcpy(long_id + 212, "/xhr");
    test_cond("too long a session id", route(long_id).kind == WS_SJS_NOT_FOUND);
}

static int quoted_is(const char *in, size_t n, const char *want) {
    uint8_t out[1024];
    unsigned char *p = test_exact_copy(in, n);
    size_t w = ws_sjs_quote(out, p, n);
    free(p);
    if (w > ws_sjs_quote_bound(n)) return 0;
    return w == strlen(want) && memcmp(out, want, w) == 0;
}

static void test_quote(void) {
    test_cond("plain", quoted_is("hello", 5, "\"hello\""));
    test_cond("quote and backslash", quoted_is("a\"b\\c", 5, "\"a\\\"b\\\\c\""));
    test_cond("controls", quoted_is("\x00\x01\n\x1f", 4, "\"\\u0000\\u0001\\u000a\\u001f\""));
    test_cond("DEL and C1", quoted_is("\x7f\xc2\x80\xc2\x9f", 5, "\"\\u007f\\u0080\\u009f\""));
    test_cond("U+200C and U+2028", quoted_is("\xe2\x80\x8c\xe2\x80\xa8", 6, "\"\\u200c\\u2028\""));
    test_cond("U+2060 and U+FFFF", quoted_is("\xe2\x81\xa0\xef\xbf\xbf", 6, "\"\\u2060\\uffff\""));
    test_cond("kept: U+00E9, U+20AC, U+1F600", quoted_is("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""));
    test_cond("invalid UTF-8", quoted_is("\xff\xc3", 2, "\"\\ufffd\\ufffd\""));
    test_cond("encoded surrogate", quoted_is("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""));
    uint8_t all[256], out[256 * 6 + 2];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    test_cond("bound", ws_sjs_quote(out, all, 256) <= ws_sjs_quote_bound(256));
}

static int wrapped_is(ws_sjs_transport t, const char *cb, const char *frame, const char *want) {
    uint8_t out[512];
    size_t n = ws_sjs_wrap(out, t, cb, cb ? strlen(cb) : 0, (const uint8_t *)frame, strlen(frame));
    return n <= ws_sjs_wrap_bound(strlen(frame), cb ? strlen(cb) : 0) && n == strlen(want) && memcmp(out, want, n) == 0;
}

static void test_wrap(void) {
    test_cond("xhr", wrapped_is(WS_SJS_T_XHR, NULL, "o", "o\n"));
    test_cond("xhr_streaming", wrapped_is(WS_SJS_T_XHR_STREAMING, NULL, "a[\"x\"]", "a[\"x\"]\n"));
    test_cond("eventsource", wrapped_is(WS_SJS_T_EVENTSOURCE, NULL, "h", "data: h\r\n\r\n"));
    test_cond("htmlfile", wrapped_is(WS_SJS_T_HTMLFILE, NULL, "a[\"x\"]", "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n"));
    test_cond("jsonp", wrapped_is(WS_SJS_T_JSONP, "cb.x", "o", "cb.x(\"o\");\r\n"));
    char c[64];
    size_t n = ws_sjs_close_frame(c, sizeof c, 3000, "Go away!", 8);
    test_cond("close frame", n == 18 && memcmp(c, "c[3000,\"Go away!\"]", 18) == 0);
    test_cond("close frame too long", ws_sjs_close_frame(c, 10, 3000, "Go away!", 8) == 0);
}

typedef struct {
    char got[8][64];
    size_t len[8];
    int n;
} collected;

static int collect(void *ctx, const uint8_t *m, size_t len) {
    collected *c = ctx;
    if (c->n < 8 && len < 64) {
        memcpy(c->got[c->n], m, len);
        c->len[c->n] = len;
    }
    c->n++;
    return 0;
}

static long decode(const char *in, collected *c) {
    size_t n = strlen(in);
    unsigned char *p = test_exact_copy(in, n);
    uint8_t *out = malloc(3 * n + 1);
    memset(c, 0, sizeof *c);
    long r = ws_sjs_decode(p, n, out, collect, c);
    free(p);
    free(out);
    return r;
}

static void test_decode(void) {
    collected c;
    test_cond("two strings", decode(" [\"a\", \"b\\\"c\"] ", &c) == 2 && c.len[0] == 1 && c.got[0][0] == 'a' &&
                                 c.len[1] == 3 && memcmp(c.got[1], "b\"c", 3) == 0);
    test_cond("empty array", decode("[]", &c) == 0);
    test_cond("escapes", decode("[\"\\u0041\\n\\/\\u00e9\"]", &c) == 1 && c.len[0] == 5 &&
                             memcmp(c.got[0], "A\n/\xc3\xa9", 5) == 0);
    test_cond("surrogate pair", decode("[\"\\ud83d\\ude00\"]", &c) == 1 && c.len[0] == 4 &&
                                    memcmp(c.got[0], "\xf0\x9f\x98\x80", 4) == 0);
    test_cond("lone surrogate", decode("[\"\\ud83d\"]", &c) == 1 && c.len[0] == 3 && memcmp(c.got[0], "\xef\xbf\xbd", 3) == 0);
    const char *broken[] = {"", "[", "[\"a", "[\"a\"", "[\"a\",]", "[1]", "{}", "\"a\"", "[\"a\"] x", "[\"\\x\"]",
                            "[\"\\u12\"]", "[\"a\nb\"]", "[\"a\" \"b\"]", "x"};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
        test_cond(broken[i], decode(broken[i], &c) == WS_SJS_BROKEN);
}

static void test_forms(void) {
    char out[64];
    const char *body = "x=1&d=%5B%22a+b%22%5D&z";
    long n = ws_sjs_form_value(body, strlen(body), "d", out);
    test_cond("form value", n == 7 && memcmp(out, "[\"a b\"]", 7) == 0);
    test_cond("absent key", ws_sjs_form_value(body, strlen(body), "q", out) == -1);
    test_cond("key at the end without value", ws_sjs_form_value("c", 1, "c", out) == -1);
    n = ws_sjs_form_value("c=%zz%4", 7, "c", out);
    test_cond("bad escapes kept", n == 5 && memcmp(out, "%zz%4", 5) == 0);
    test_cond("callback ok", ws_sjs_callback_ok("a.b_c-1", 7) && !ws_sjs_callback_ok("a(b)", 4) && !ws_sjs_callback_ok("", 0));
}

static long dechunk(const char *in, char *out, size_t max) {
    size_t n = strlen(in);
    unsigned char *p = test_exact_copy(in, n);
    long r = ws_sjs_dechunk(p, n, (uint8_t *)out, max);
    free(p);
    return r;
}

static void test_dechunk(void) {
    char out[64];
    test_cond("two chunks", dechunk("3\r\n[\"a\r\n2;x=1\r\n\"]\r\n0\r\n\r\n", out, 64) == 5 && memcmp(out, "[\"a\"]", 5) == 0);
    test_cond("trailer", dechunk("1\r\nx\r\n0\r\nA: b\r\n\r\n", out, 64) == 1);
    test_cond("incomplete", dechunk("3\r\nab", out, 64) == WS_SJS_INCOMPLETE && dechunk("3\r\nabc\r\n0\r\n", out, 64) == WS_SJS_INCOMPLETE &&
                                dechunk("", out, 64) == WS_SJS_INCOMPLETE);
    test_cond("too big", dechunk("ff\r\n", out, 64) == WS_SJS_TOO_BIG);
    test_cond("broken", dechunk("x\r\n", out, 64) == WS_SJS_BROKEN && dechunk("1\r\nab\r\n", out, 64) == WS_SJS_BROKEN &&
                            dechunk("123456789\r\n", out, 64) == WS_SJS_BROKEN);
}

int main(void) {
    test_dechunk();
    test_routes();
    test_quote();
    test_wrap();
    test_decode();
    test_forms();
    return test_report();
}
