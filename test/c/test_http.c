/* The request-head parser (native/http.c), in the manner of picohttpparser's
 * tests: every input is copied to an allocation of exactly its length, so a
 * read past the end faults under AddressSanitizer. */
#include "harness.h"
#include "http.h"

#include <stdint.h>

/* Parses s[0..len) from an exact-size copy. The header pointers point into
 * freed memory afterwards, so callers that inspect them use parse_keep. */
static int parse_len(const char *s, size_t len) {
    ws_http_request req;
    unsigned char *copy = test_exact_copy(s, len);
    int r = ws_http_parse_request((const char *)copy, len, &req);
    free(copy);
    return r;
}

static int parse(const char *s) { return parse_len(s, strlen(s)); }

/* The exact copy stays alive (in *copy) while the caller inspects req. */
static int parse_keep(const char *s, ws_http_request *req, unsigned char **copy) {
    size_t len = strlen(s);
    *copy = test_exact_copy(s, len);
    return ws_http_parse_request((const char *)*copy, len, req);
}

static int str_is(const char *p, size_t len, const char *want) {
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

/* Every strict prefix of a complete request is INCOMPLETE. */
static int all_prefixes_incomplete(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (parse_len(s, i) != WS_HTTP_INCOMPLETE) {
            fprintf(stderr, "  prefix of %zu bytes did not return INCOMPLETE\n", i);
            return 0;
        }
    }
    return 1;
}

static const char browser_request[] =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cache-Control: no-cache\r\n"
    "Pragma: no-cache\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

static void test_a_browser_upgrade_request_is_parsed(void) {
    ws_http_request req;
    unsigned char *copy;
    int r = parse_keep(browser_request, &req, &copy);
    test_cond("the whole head is consumed", r == (int)strlen(browser_request));
    test_cond("method is GET", str_is(req.method, req.method_len, "GET"));
    test_cond("target is kept with its query", str_is(req.target, req.target_len, "/chat?room=1"));
    test_cond("minor version 1", req.minor_version == 1);
    test_cond("13 headers", req.num_headers == 13);
    test_cond("first header name", str_is(req.headers[0].name, req.headers[0].name_len, "Host"));
    test_cond("first header value", str_is(req.headers[0].value, req.headers[0].value_len, "server.example.com"));
    test_cond("last header value",
              str_is(req.headers[12].value, req.headers[12].value_len, "permessage-deflate; client_max_window_bits"));
    const ws_http_header *h = ws_http_find(&req, "sec-websocket-key");
    test_cond("find is case-insensitive", h && str_is(h->value, h->value_len, "dGhlIHNhbXBsZSBub25jZQ=="));
    test_cond("find returns NULL for an absent header", ws_http_find(&req, "Cookie") == NULL);
    test_cond("find does not match a prefix of a name", ws_http_find(&req, "Hos") == NULL);
    test_cond("find does not match a longer name", ws_http_find(&req, "Hostname") == NULL);
    test_cond("count of Host is 1", ws_http_count(&req, "HOST") == 1);
    test_cond("count of an absent header is 0", ws_http_count(&req, "X-None") == 0);
    free(copy);
}

static void test_bytes_after_the_head_are_not_consumed(void) {
    static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n\x81\x85garbage";
    test_cond("returns the head length only", parse_len(s, sizeof s - 1) == (int)strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
}

static void test_every_strict_prefix_is_incomplete(void) {
    test_cond("browser request", all_prefixes_incomplete(browser_request, strlen(browser_request)));
    static const char lf[] = "GET / HTTP/1.0\nA: b\nC:\n\n";
    test_cond("bare LF request", all_prefixes_incomplete(lf, strlen(lf)));
    test_cond("bare LF request is complete", parse(lf) == (int)strlen(lf));
    static const char ws[] = "\r\n\nGET /x HTTP/1.1\r\nA: \t b \t \r\nB:\r\n\r\n";
    test_cond("request with leading empty lines and trimmed values", all_prefixes_incomplete(ws, strlen(ws)));
    test_cond("that request is complete", parse(ws) == (int)strlen(ws));
    static const char none[] = "GET / HTTP/1.1\r\n\r\n";
    test_cond("request without headers", all_prefixes_incomplete(none, strlen(none)));
}

static void test_bare_lf_line_ends_are_accepted(void) {
    ws_http_request req;
    unsigned char *copy;
    int r = parse_keep("GET / HTTP/1.1\nHost: a\r\nX: y\n\n", &req, &copy);
    test_cond("mixed LF and CRLF is complete", r == (int)strlen("GET / HTTP/1.1\nHost: a\r\nX: y\n\n"));
    test_cond("two headers", req.num_headers == 2);
    test_cond("value before a bare LF", str_is(req.headers[1].value, req.headers[1].value_len, "y"));
    free(copy);
}

static void test_header_values_are_trimmed(void) {
    ws_http_request req;
    unsigned char *copy;
    int r = parse_keep("GET / HTTP/1.1\r\n"
                       "A:   spaced out   \r\n"
                       "B:\t\ttabs\t\r\n"
                       "C:\r\n"
                       "D:    \r\n"
                       "E: inner  space\tand\ttab \r\n"
                       "F:x\r\n"
                       "\r\n",
                       &req, &copy);
    test_cond("complete", r > 0);
    test_cond("six headers", req.num_headers == 6);
    test_cond("spaces trimmed", str_is(req.headers[0].value, req.headers[0].value_len, "spaced out"));
    test_cond("tabs trimmed", str_is(req.headers[1].value, req.headers[1].value_len, "tabs"));
    test_cond("empty value", req.headers[2].value_len == 0);
    test_cond("whitespace-only value is empty", req.headers[3].value_len == 0);
    test_cond("inner whitespace kept", str_is(req.headers[4].value, req.headers[4].value_len, "inner  space\tand\ttab"));
    test_cond("no space after colon", str_is(req.headers[5].value, req.headers[5].value_len, "x"));
    free(copy);
}

static void test_obs_text_is_accepted_in_values(void) {
    ws_http_request req;
    unsigned char *copy;
    int r = parse_keep("GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9 \xff\x80\r\n\r\n", &req, &copy);
    test_cond("complete", r > 0);
    test_cond("value kept byte for byte", str_is(req.headers[0].value, req.headers[0].value_len, "caf\xc3\xa9 \xff\x80"));
    free(copy);
}

static void test_methods_versions_and_targets(void) {
    ws_http_request req;
    unsigned char *copy;
    int r = parse_keep("M-SEARCH * HTTP/1.0\r\n\r\n", &req, &copy);
    test_cond("a token method and asterisk target parse", r > 0);
    test_cond("method", str_is(req.method, req.method_len, "M-SEARCH"));
    test_cond("target", str_is(req.target, req.target_len, "*"));
    test_cond("minor version 0", req.minor_version == 0);
    free(copy);
    r = parse_keep("GET http://a.example/~x?y=%20&z=[1]#f HTTP/1.9\r\n\r\n", &req, &copy);
    test_cond("an absolute-form target with visible ASCII parses", r > 0);
    test_cond("target kept", str_is(req.target, req.target_len, "http://a.example/~x?y=%20&z=[1]#f"));
    test_cond("minor version 9", req.minor_version == 9);
    free(copy);
}

static void test_malformed_requests_are_refused(void) {
    static const char *const bad[] = {
        " GET / HTTP/1.1\r\n\r\n",              /* leading space */
        "GET  / HTTP/1.1\r\n\r\n",              /* two spaces */
        "GET / HTTP/1.1 \r\n\r\n",              /* trailing space */
        "GET /  HTTP/1.1\r\n\r\n",              /* two spaces before version */
        "GET\t/ HTTP/1.1\r\n\r\n",              /* tab separator */
        "G(T / HTTP/1.1\r\n\r\n",               /* non-token in method */
        "GET /a b HTTP/1.1\r\n\r\n",            /* space in target: "b" is not a version */
        "GET /\x7f HTTP/1.1\r\n\r\n",           /* DEL in target */
        "GET /\x80 HTTP/1.1\r\n\r\n",           /* non-ASCII in target */
        "GET /\x01 HTTP/1.1\r\n\r\n",           /* control in target */
        "GET / HTTP/2.0\r\n\r\n",               /* HTTP/2 */
        "GET / HTTP/1.1x\r\n\r\n",              /* junk after version */
        "GET / HTTP/1.10\r\n\r\n",              /* two-digit minor */
        "GET / HTTP/1.\r\n\r\n",                /* missing minor */
        "GET / http/1.1\r\n\r\n",               /* lower-case protocol */
        "GET / HTTP/1.1\r\r\n\r\n",             /* CR CR LF */
        "GET / HTTP/1.1\rX: y\r\n\r\n",         /* bare CR */
        "GET /\r\n\r\n",                        /* HTTP/0.9 request line */
        "\rGET / HTTP/1.1\r\n\r\n",             /* bare CR before the request line */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",   /* space before colon */
        "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",  /* tab before colon */
        "GET / HTTP/1.1\r\n: a\r\n\r\n",        /* empty name */
        "GET / HTTP/1.1\r\nHo st: a\r\n\r\n",   /* space in name */
        "GET / HTTP/1.1\r\nHost a\r\n\r\n",     /* no colon */
        "GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n",  /* non-token in name */
        "GET / HTTP/1.1\r\nH\xc3\xa9: a\r\n\r\n", /* non-ASCII in name */
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", /* obs-fold with space */
        "GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", /* obs-fold with tab */
        "GET / HTTP/1.1\r\n x: b\r\n\r\n",      /* first header line starts with space */
        "GET / HTTP/1.1\r\nA: b\x01c\r\n\r\n",  /* control in value */
        "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",   /* DEL in value */
        "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",    /* bare CR in value */
        "GET / HTTP/1.1\r\nA: b\r\n\r\r\n",     /* CR CR ending the head */
        "GET / HTTP/1.1\r\nA: b\x1b[31m\r\n\r\n", /* escape sequence */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = parse(bad[i]);
        if (r != WS_HTTP_MALFORMED) fprintf(stderr, "  case %zu returned %d\n", i, r);
        test_cond("malformed request refused", r == WS_HTTP_MALFORMED);
    }
}

static void test_a_nul_anywhere_is_malformed(void) {
    static const char s[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t len = sizeof s - 1;
    int all = 1;
    /* Replace each byte of the head (except the final line end) with NUL. */
    for (size_t i = 0; i + 2 < len; i++) {
        char tmp[sizeof s];
        memcpy(tmp, s, sizeof s);
        tmp[i] = '\0';
        int r = parse_len(tmp, len);
        if (r != WS_HTTP_MALFORMED) {
            fprintf(stderr, "  NUL at %zu returned %d\n", i, r);
            all = 0;
        }
    }
    test_cond("a NUL at any position of the head is malformed", all);
}

static void test_every_control_character_in_a_value_is_refused(void) {
    int all = 1;
    for (int c = 0; c < 256; c++) {
        char s[64];
        int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nA: x%cy\r\n\r\n", c == 0 ? 'Z' : c);
        if (c == 0) s[strlen("GET / HTTP/1.1\r\nA: x")] = '\0';
        int r = parse_len(s, (size_t)n);
        int want_ok = c == '\t' || (c >= 0x20 && c != 0x7f);
        if (c == '\r' || c == '\n') continue; /* they end the line: checked elsewhere */
        if ((r > 0) != want_ok) {
            fprintf(stderr, "  byte 0x%02x in a value returned %d\n", c, r);
            all = 0;
        }
    }
    test_cond("only HTAB, SP-~ and obs-text are allowed in values", all);
}

static void test_every_byte_of_a_header_name_is_classified(void) {
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    int all = 1;
    for (int c = 1; c < 256; c++) {
        char s[64];
        int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nA%cB: v\r\n\r\n", c);
        int r = parse_len(s, (size_t)n);
        int is_token = c != 0 && strchr(tchar, c) != NULL;
        if (c == ':') continue; /* ends the name */
        if ((r > 0) != is_token) {
            fprintf(stderr, "  byte 0x%02x in a name returned %d\n", c, r);
            all = 0;
        }
    }
    test_cond("header names are tokens exactly", all);
}

/* Builds a request with n headers "H<i>: v<i>". */
static size_t build_headers(char *buf, size_t cap, size_t n) {
    size_t len = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\n");
    for (size_t i = 0; i < n; i++) len += (size_t)snprintf(buf + len, cap - len, "H%zu: v%zu\r\n", i, i);
    len += (size_t)snprintf(buf + len, cap - len, "\r\n");
    return len;
}

static void test_header_count_limits(void) {
    static char buf[8192];
    ws_http_request req;
    size_t len = build_headers(buf, sizeof buf, WS_HTTP_MAX_HEADERS);
    unsigned char *copy = test_exact_copy(buf, len);
    int r = ws_http_parse_request((const char *)copy, len, &req);
    test_cond("64 headers are accepted", r == (int)len);
    test_cond("all 64 recorded", req.num_headers == WS_HTTP_MAX_HEADERS);
    test_cond("the last one is right",
              str_is(req.headers[63].name, req.headers[63].name_len, "H63") &&
                  str_is(req.headers[63].value, req.headers[63].value_len, "v63"));
    free(copy);
    test_cond("every prefix of the 64-header request is incomplete", all_prefixes_incomplete(buf, len));

    len = build_headers(buf, sizeof buf, WS_HTTP_MAX_HEADERS + 1);
    test_cond("65 headers are too many", parse_len(buf, len) == WS_HTTP_TOO_MANY_HEADERS);
    len = build_headers(buf, sizeof buf, 200);
    test_cond("200 headers are too many", parse_len(buf, len) == WS_HTTP_TOO_MANY_HEADERS);

    /* Reported once the 65th line is complete, before the end of the head. */
    len = build_headers(buf, sizeof buf, WS_HTTP_MAX_HEADERS + 1);
    size_t head_end = len - 2;                       /* before the final CRLF */
    test_cond("65 complete lines without the empty line are too many",
              parse_len(buf, head_end) == WS_HTTP_TOO_MANY_HEADERS);
    test_cond("the 65th line cut short is still incomplete", parse_len(buf, head_end - 3) == WS_HTTP_INCOMPLETE);
}

static void test_incomplete_inputs(void) {
    test_cond("empty input", parse_len("", 0) == WS_HTTP_INCOMPLETE);
    test_cond("only empty lines", parse("\r\n\r\n\n") == WS_HTTP_INCOMPLETE);
    test_cond("a header value running to the end", parse("GET / HTTP/1.1\r\nHost: a b c") == WS_HTTP_INCOMPLETE);
    test_cond("CR at the end", parse("GET / HTTP/1.1\r\nHost: a\r\n\r") == WS_HTTP_INCOMPLETE);
}

static void test_list_has(void) {
    test_cond("single token", ws_http_list_has("Upgrade", 7, "upgrade"));
    test_cond("token in a list", ws_http_list_has("keep-alive, Upgrade", 19, "upgrade"));
    test_cond("whitespace around elements", ws_http_list_has(" a ,\t upgrade\t , b", 18, "Upgrade"));
    test_cond("empty elements", ws_http_list_has(",,upgrade,", 10, "upgrade"));
    test_cond("absent token", !ws_http_list_has("keep-alive, close", 17, "upgrade"));
    test_cond("a longer element is not the token", !ws_http_list_has("upgrades", 8, "upgrade"));
    test_cond("a shorter element is not the token", !ws_http_list_has("upgrad", 6, "upgrade"));
    test_cond("inner space is not trimmed", !ws_http_list_has("up grade", 8, "upgrade"));
    test_cond("an empty value", !ws_http_list_has("", 0, "upgrade"));
    /* The length bounds the value: a match past it is not seen. */
    unsigned char *copy = test_exact_copy("close, upgrade", 14);
    test_cond("the length bounds the value", !ws_http_list_has((const char *)copy, 5, "upgrade"));
    test_cond("an exact-size value", ws_http_list_has((const char *)copy, 14, "upgrade"));
    free(copy);
}

int main(void) {
    test_a_browser_upgrade_request_is_parsed();
    test_bytes_after_the_head_are_not_consumed();
    test_every_strict_prefix_is_incomplete();
    test_bare_lf_line_ends_are_accepted();
    test_header_values_are_trimmed();
    test_obs_text_is_accepted_in_values();
    test_methods_versions_and_targets();
    test_malformed_requests_are_refused();
    test_a_nul_anywhere_is_malformed();
    test_every_control_character_in_a_value_is_refused();
    test_every_byte_of_a_header_name_is_classified();
    test_header_count_limits();
    test_incomplete_inputs();
    test_list_has();
    return test_report();
}
