/* The opening handshake (native/handshake.c): validation of parsed requests,
 * origin matching, the accept key and the responses. */
#include "handshake.h"
#include "harness.h"

typedef struct {
    unsigned char *copy;
    size_t len;
    ws_http_request req;
    ws_handshake hs;
} checked;

/* Parses the head (from an exact-size copy) and checks it. */
static void check(const char *head, checked *c) {
    size_t len = strlen(head);
    c->copy = test_exact_copy(head, len);
    c->len = len;
    int r = ws_http_parse_request((const char *)c->copy, len, &c->req);
    if (r != (int)len) {
        fprintf(stderr, "  test request did not parse (%d): %s\n", r, head);
        abort();
    }
    memset(&c->hs, 0xa5, sizeof c->hs); /* check must set every field */
    ws_handshake_check(&c->req, &c->hs);
}

static int str_is(const char *p, size_t len, const char *want) {
    return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

#define UPGRADE_HEADERS                   \
    "Host: server.example.com\r\n"        \
    "Upgrade: websocket\r\n"              \
    "Connection: Upgrade\r\n"             \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
    "Sec-WebSocket-Version: 13\r\n"

/* Expects a rejection with this status and a reason naming the problem. */
static void expect_reject(const char *name, const char *head, int status, const char *reason_part) {
    checked c;
    check(head, &c);
    int ok = c.hs.kind == WS_HS_REJECT && c.hs.status == status && c.hs.reason && c.hs.reason[0] &&
             strstr(c.hs.reason, reason_part) != NULL && strchr(c.hs.reason, '\n') == NULL;
    if (!ok)
        fprintf(stderr, "  %s: kind %d status %d reason %s\n", name, (int)c.hs.kind, c.hs.status,
                c.hs.kind == WS_HS_REJECT && c.hs.reason ? c.hs.reason : "(none)");
    test_cond(name, ok);
    free(c.copy);
}

static void expect_upgrade(const char *name, const char *head) {
    checked c;
    check(head, &c);
    int ok = c.hs.kind == WS_HS_UPGRADE;
    if (!ok) fprintf(stderr, "  %s: kind %d status %d reason %s\n", name, (int)c.hs.kind, c.hs.status,
                     c.hs.kind == WS_HS_REJECT ? c.hs.reason : "");
    test_cond(name, ok);
    free(c.copy);
}

static void test_a_valid_upgrade_is_accepted(void) {
    checked c;
    check("GET /chat?room=1&x=%20 HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", &c);
    test_cond("kind is UPGRADE", c.hs.kind == WS_HS_UPGRADE);
    test_cond("key points at the header value", str_is(c.hs.key, c.hs.key_len, "dGhlIHNhbXBsZSBub25jZQ=="));
    test_cond("key lies inside the request buffer",
              (const unsigned char *)c.hs.key > c.copy && (const unsigned char *)c.hs.key + c.hs.key_len <= c.copy + c.len);
    test_cond("path without the query", str_is(c.hs.path, c.hs.path_len, "/chat"));
    test_cond("query without the '?'", str_is(c.hs.query, c.hs.query_len, "room=1&x=%20"));
    free(c.copy);

    check("GET / HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", &c);
    test_cond("a target without query: path", str_is(c.hs.path, c.hs.path_len, "/"));
    test_cond("a target without query: query is NULL", c.hs.query == NULL && c.hs.query_len == 0);
    free(c.copy);

    check("GET /a?b?c HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", &c);
    test_cond("split at the first '?': path", str_is(c.hs.path, c.hs.path_len, "/a"));
    test_cond("split at the first '?': query", str_is(c.hs.query, c.hs.query_len, "b?c"));
    free(c.copy);

    check("GET /a? HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", &c);
    test_cond("an empty query is present but empty", c.hs.query != NULL && c.hs.query_len == 0);
    free(c.copy);
}

static void test_header_variants_that_are_valid(void) {
    expect_upgrade("Connection: keep-alive, Upgrade passes",
                   "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    expect_upgrade("tokens are case-insensitive",
                   "GET / HTTP/1.1\r\nHOST: a\r\nupgrade: WebSocket\r\nconnection: UPGRADE\r\n"
                   "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n");
    expect_upgrade("Upgrade lists several protocols",
                   "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    expect_upgrade("the upgrade token in a second Connection header",
                   "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    expect_upgrade("the websocket token in a second Upgrade header",
                   "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    expect_upgrade("version with surrounding whitespace",
                   "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: \t13 \r\n\r\n");
    expect_upgrade("HTTP/1.9 is later than 1.1", "GET / HTTP/1.9\r\n" UPGRADE_HEADERS "\r\n");
}

static void test_every_rejection_has_its_status_and_reason(void) {
    expect_reject("POST is 405", "POST / HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", 405, "GET");
    expect_reject("POST without Upgrade is 405", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", 405, "Method Not Allowed");
    expect_reject("HEAD with Upgrade is 405", "HEAD / HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", 405, "GET");
    expect_reject("lower-case get is 405", "get / HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", 405, "GET");
    expect_reject("an absolute-form target is 400", "GET http://a/ HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", 400, "/");
    expect_reject("an asterisk target is 400", "GET * HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n", 400, "/");
    expect_reject("HTTP/1.0 is 400", "GET / HTTP/1.0\r\n" UPGRADE_HEADERS "\r\n", 400, "HTTP/1.1 or later is required");
    expect_reject("missing Host is 400",
                  "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  400, "Host");
    expect_reject("empty Host is 400", "GET / HTTP/1.1\r\nHost: \r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "Host");
    expect_reject("two Host headers are 400", "GET / HTTP/1.1\r\nHost: b\r\n" UPGRADE_HEADERS "\r\n", 400, "Host");
    expect_reject("Upgrade without websocket is 400",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  400, "Missing or invalid Upgrade header");
    expect_reject("Upgrade: websockets is 400",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  400, "Upgrade");
    expect_reject("missing Connection is 400",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  400, "Missing Connection: Upgrade");
    expect_reject("Connection: keep-alive only is 400",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  400, "Connection");
    expect_reject("missing version is 426",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                  426, "Unsupported WebSocket version: use 13");
    expect_reject("version 8 is 426",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
                  426, "13");
    expect_reject("version 130 is 426",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 130\r\n\r\n",
                  426, "13");
    expect_reject("version list \"13, 8\" is 426",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13, 8\r\n\r\n",
                  426, "13");
    expect_reject("two version headers are 426",
                  "GET / HTTP/1.1\r\n" UPGRADE_HEADERS "Sec-WebSocket-Version: 13\r\n\r\n", 426, "13");
    expect_reject("missing key is 400",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n",
                  400, "Missing or invalid Sec-WebSocket-Key");
    expect_reject("two keys are 400",
                  "GET / HTTP/1.1\r\n" UPGRADE_HEADERS "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n", 400,
                  "Sec-WebSocket-Key");
}

static void test_the_checks_run_in_the_documented_order(void) {
    /* Everything wrong at once: the method is reported. */
    expect_reject("method before target", "PUT * HTTP/1.0\r\nUpgrade: x\r\n\r\n", 405, "GET");
    expect_reject("target before version", "GET * HTTP/1.0\r\nUpgrade: x\r\n\r\n", 400, "/");
    expect_reject("version before Host", "GET / HTTP/1.0\r\nUpgrade: x\r\n\r\n", 400, "HTTP/1.1");
    expect_reject("Host before Upgrade token", "GET / HTTP/1.1\r\nUpgrade: x\r\n\r\n", 400, "Host");
    expect_reject("Upgrade token before Connection", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\n\r\n", 400, "Upgrade");
    expect_reject("Connection before version",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", 400, "Connection");
    expect_reject("version before key",
                  "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 426, "13");
}

static void test_plain_gets_are_not_upgrades(void) {
    checked c;
    check("GET /index.html?v=2 HTTP/1.1\r\nHost: a\r\n\r\n", &c);
    test_cond("GET without Upgrade is PLAIN_GET", c.hs.kind == WS_HS_PLAIN_GET);
    test_cond("its path", str_is(c.hs.path, c.hs.path_len, "/index.html"));
    test_cond("its query", str_is(c.hs.query, c.hs.query_len, "v=2"));
    free(c.copy);
    check("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &c);
    test_cond("HEAD without Upgrade is PLAIN_GET", c.hs.kind == WS_HS_PLAIN_GET);
    free(c.copy);
    check("GET / HTTP/1.0\r\n\r\n", &c);
    test_cond("an HTTP/1.0 GET without Host is PLAIN_GET", c.hs.kind == WS_HS_PLAIN_GET);
    free(c.copy);
    check("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", &c);
    test_cond("WebSocket headers without Upgrade are PLAIN_GET", c.hs.kind == WS_HS_PLAIN_GET);
    free(c.copy);
}

static void expect_key(const char *name, const char *key, int valid) {
    char head[512];
    snprintf(head, sizeof head,
             "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
             key);
    if (valid)
        expect_upgrade(name, head);
    else
        expect_reject(name, head, 400, "Sec-WebSocket-Key");
}

static void test_key_validation(void) {
    expect_key("the RFC example key", "dGhlIHNhbXBsZSBub25jZQ==", 1);
    expect_key("all zero bytes", "AAAAAAAAAAAAAAAAAAAAAA==", 1);
    expect_key("all one bits", "/////////////////////w==", 1);
    expect_key("every alphabet class", "aZ09+/aZ09+/aZ09+/aZ0g==", 1);
    expect_key("22nd char with low bits set", "AAAAAAAAAAAAAAAAAAAAAB==", 0);
    expect_key("22nd char 'x' has low bits set", "dGhlIHNhbXBsZSBub25jZx==", 0);
    expect_key("23 chars", "dGhlIHNhbXBsZSBub25jZQ=", 0);
    expect_key("25 chars", "dGhlIHNhbXBsZSBub25jZQ===", 0);
    expect_key("no padding", "dGhlIHNhbXBsZSBub25jZQAA", 0);
    expect_key("one '=' of padding (17 bytes)", "dGhlIHNhbXBsZSBub25jZQA=", 0);
    expect_key("'=' in the middle", "dGhlIHNhbXBs=SBub25jZQ==", 0);
    expect_key("URL-safe alphabet", "dGhlIHNhbXBsZSBub25jZ-_==", 0);
    expect_key("a space inside", "dGhlIHNhbXBs ZSBub25jZQ==", 0);
    expect_key("a 16-char key", "dGhlIHNhbXBsZSBu", 0);
    expect_key("an empty key", "", 0);
    expect_key("a long key", "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==", 0);
}

static void test_accept_key(void) {
    char out[WS_ACCEPT_LEN];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    test_cond("the RFC 6455 example", memcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WS_ACCEPT_LEN) == 0);
    /* Second vector computed with Python's hashlib: base64(sha1(key + GUID)). */
    ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
    test_cond("a second key", memcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=", WS_ACCEPT_LEN) == 0);
    /* Only key_len bytes are read. */
    unsigned char *copy = test_exact_copy("dGhlIHNhbXBsZSBub25jZQ==", 24);
    ws_accept_key((const char *)copy, 24, out);
    test_cond("reads exactly key_len bytes", memcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WS_ACCEPT_LEN) == 0);
    free(copy);
}

static void test_origin_matching(void) {
    static const char *const one[] = {"http://example.com"};
    static const char *const ported[] = {"http://example.com:8080"};
    static const char *const secure[] = {"https://example.com"};
    static const char *const wild[] = {"https://*.example.com"};
    static const char *const wild_port[] = {"http://*.example.com:8080"};
    static const char *const star[] = {"http://nope.example", "*"};
    static const char *const nul[] = {"null"};
    static const char *const several[] = {"http://a.example", "http://b.example:81", "https://c.example"};
    static const char *const hostonly[] = {"example.com"};
    static const char *const hostwild[] = {"*.example.com"};
    static const char *const hostport[] = {"example.com:8080"};
    static const char *const slash[] = {"http://example.com/"};
    static const char *const v6[] = {"http://[::1]:8080"};
    const struct {
        const char *name;
        const char *origin;
        const char *const *patterns;
        size_t n;
        int allowed;
    } cases[] = {
        {"exact match", "http://example.com", one, 1, 1},
        {"host case differs", "http://EXAMPLE.com", one, 1, 1},
        {"scheme case differs", "HTTP://example.com", one, 1, 1},
        {"explicit default port on the origin", "http://example.com:80", one, 1, 1},
        {"explicit default port on the pattern", "http://example.com", (const char *const[]){"http://example.com:80"}, 1, 1},
        {"https default port", "https://example.com:443", secure, 1, 1},
        {"other port", "http://example.com:8080", one, 1, 0},
        {"port 443 on http", "http://example.com:443", one, 1, 0},
        {"other scheme", "https://example.com", one, 1, 0},
        {"other host", "http://example.org", one, 1, 0},
        {"a suffix of the host", "http://evil-example.com", one, 1, 0},
        {"a subdomain of an exact pattern", "http://www.example.com", one, 1, 0},
        {"a longer host", "http://example.com.evil.net", one, 1, 0},
        {"a path on the origin", "http://example.com/", one, 1, 0},
        {"userinfo on the origin", "http://user@example.com", one, 1, 0},
        {"an origin without scheme", "example.com", one, 1, 0},
        {"an empty origin", "", one, 1, 0},
        {"an empty port", "http://example.com:", one, 1, 0},
        {"a non-numeric port", "http://example.com:8o", one, 1, 0},
        {"a port above 65535", "http://example.com:65616", (const char *const[]){"http://example.com:80"}, 1, 0},
        {"pattern port matches", "http://example.com:8080", ported, 1, 1},
        {"pattern port, origin default", "http://example.com", ported, 1, 0},
        {"wildcard matches a subdomain", "https://www.example.com", wild, 1, 1},
        {"wildcard matches a deep subdomain", "https://a.b.example.com", wild, 1, 1},
        {"wildcard with case", "https://WWW.Example.COM:443", wild, 1, 1},
        {"wildcard does not match the bare domain", "https://example.com", wild, 1, 0},
        {"wildcard needs a dot", "https://wwwexample.com", wild, 1, 0},
        {"wildcard needs the same scheme", "http://www.example.com", wild, 1, 0},
        {"wildcard needs the same port", "https://www.example.com:8443", wild, 1, 0},
        {"wildcard does not match an empty label", "https://.example.com", wild, 1, 0},
        {"wildcard with port", "http://a.example.com:8080", wild_port, 1, 1},
        {"wildcard with port, default port", "http://a.example.com", wild_port, 1, 0},
        {"'*' allows anything", "http://anything.example:1234", star, 2, 1},
        {"'*' allows null", "null", star, 2, 1},
        {"null matches a null pattern", "null", nul, 1, 1},
        {"null does not match a host pattern", "null", one, 1, 0},
        {"a null pattern does not match a host", "http://null", nul, 1, 0},
        {"second of several", "http://b.example:81", several, 3, 1},
        {"third of several", "https://c.example", several, 3, 1},
        {"none of several", "http://b.example", several, 3, 0},
        {"host-only pattern, any scheme", "https://example.com", hostonly, 1, 1},
        {"host-only pattern, any port", "http://example.com:9000", hostonly, 1, 1},
        {"host-only pattern, other host", "https://www.example.com", hostonly, 1, 0},
        {"host-only wildcard", "https://www.example.com:8443", hostwild, 1, 1},
        {"host-only wildcard, bare domain", "https://example.com", hostwild, 1, 0},
        {"host-only pattern with port", "https://example.com:8080", hostport, 1, 1},
        {"host-only pattern with port, other port", "https://example.com", hostport, 1, 0},
        {"a pattern written with a trailing slash", "http://example.com", slash, 1, 1},
        {"IPv6 origin", "http://[::1]:8080", v6, 1, 1},
        {"IPv6 origin, other port", "http://[::1]:8081", v6, 1, 0},
        {"ws scheme default port", "ws://example.com:80", (const char *const[]){"ws://example.com"}, 1, 1},
        {"wss scheme default port", "wss://example.com", (const char *const[]){"wss://example.com:443"}, 1, 1},
        {"unknown scheme without ports", "chrome-extension://abc", (const char *const[]){"chrome-extension://abc"}, 1, 1},
        {"no patterns allow all", "http://evil.example", NULL, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].origin);
        unsigned char *copy = test_exact_copy(cases[i].origin, len);
        int got = ws_origin_allowed((const char *)copy, len, cases[i].patterns, cases[i].n);
        free(copy);
        if (got != cases[i].allowed) fprintf(stderr, "  origin case: %s\n", cases[i].name);
        test_cond("origin table", got == cases[i].allowed);
    }
    test_cond("a request without Origin is allowed", ws_origin_allowed(NULL, 0, one, 1));
}

static void test_the_101_response_is_byte_exact(void) {
    char out[512];
    const char *accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    static const char plain[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                "\r\n";
    size_t n = ws_handshake_response(out, sizeof out, accept, NULL, 0, NULL, 0);
    test_cond("without protocol or extensions", n == sizeof plain - 1 && memcmp(out, plain, n) == 0);

    static const char full[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                               "Sec-WebSocket-Protocol: chat\r\n"
                               "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
                               "\r\n";
    const char *ext = "permessage-deflate; server_no_context_takeover";
    n = ws_handshake_response(out, sizeof out, accept, "chatXX", 4, ext, strlen(ext));
    test_cond("with protocol and extensions (lengths respected)", n == sizeof full - 1 && memcmp(out, full, n) == 0);

    n = ws_handshake_response(out, sizeof full - 1, accept, "chat", 4, ext, strlen(ext));
    test_cond("an exact-size buffer suffices", n == sizeof full - 1);
    test_cond("one byte short returns 0", ws_handshake_response(out, sizeof full - 2, accept, "chat", 4, ext, strlen(ext)) == 0);
    test_cond("a zero-size buffer returns 0", ws_handshake_response(out, 0, accept, NULL, 0, NULL, 0) == 0);
    test_cond("a protocol with CRLF is refused",
              ws_handshake_response(out, sizeof out, accept, "a\r\nSet-Cookie: x", 17, NULL, 0) == 0);
    test_cond("extensions with LF are refused", ws_handshake_response(out, sizeof out, accept, NULL, 0, "a\nb", 3) == 0);
}

static void test_error_responses_are_byte_exact(void) {
    char out[512];
    static const char r400[] = "HTTP/1.1 400 Bad Request\r\n"
                               "Connection: close\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 28\r\n"
                               "\r\n"
                               "Missing Connection: Upgrade\n";
    size_t n = ws_http_error_response(out, sizeof out, 400, "Missing Connection: Upgrade");
    test_cond("400 response", n == sizeof r400 - 1 && memcmp(out, r400, n) == 0);

    static const char r426[] = "HTTP/1.1 426 Upgrade Required\r\n"
                               "Connection: close\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 38\r\n"
                               "Sec-WebSocket-Version: 13\r\n"
                               "\r\n"
                               "Unsupported WebSocket version: use 13\n";
    n = ws_http_error_response(out, sizeof out, 426, "Unsupported WebSocket version: use 13");
    test_cond("426 response names the version", n == sizeof r426 - 1 && memcmp(out, r426, n) == 0);

    static const char r405[] = "HTTP/1.1 405 Method Not Allowed\r\n"
                               "Connection: close\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 4\r\n"
                               "Allow: GET, HEAD\r\n"
                               "\r\n"
                               "use\n";
    n = ws_http_error_response(out, sizeof out, 405, "use");
    test_cond("405 response lists the allowed methods", n == sizeof r405 - 1 && memcmp(out, r405, n) == 0);

    static const char r404[] = "HTTP/1.1 404 Not Found\r\n"
                               "Connection: close\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 10\r\n"
                               "\r\n"
                               "Not Found\n";
    n = ws_http_error_response(out, sizeof out, 404, NULL);
    test_cond("a NULL reason uses the phrase", n == sizeof r404 - 1 && memcmp(out, r404, n) == 0);

    n = ws_http_error_response(out, sizeof r404 - 1, 404, NULL);
    test_cond("an exact-size buffer suffices", n == sizeof r404 - 1);
    test_cond("one byte short returns 0", ws_http_error_response(out, sizeof r404 - 2, 404, NULL) == 0);

    n = ws_http_error_response(out, sizeof out, 42, "x");
    test_cond("an impossible status is sent as 500", n > 0 && memcmp(out, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0);

    /* A long reason: Content-Length with several digits. */
    char big[300];
    memset(big, 'r', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    n = ws_http_error_response(out, sizeof out, 431, big);
    test_cond("a 300-byte body has Content-Length 300", n > 0 && strstr(out, "Content-Length: 300\r\n") != NULL);
}

static void test_status_phrases(void) {
    static const struct {
        int status;
        const char *phrase;
    } phrases[] = {
        {400, "Bad Request"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {413, "Payload Too Large"},
        {426, "Upgrade Required"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
        {599, "Error"},
    };
    for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
        test_cond("status phrase", strcmp(ws_http_status_phrase(phrases[i].status), phrases[i].phrase) == 0);
}

int main(void) {
    test_a_valid_upgrade_is_accepted();
    test_header_variants_that_are_valid();
    test_every_rejection_has_its_status_and_reason();
    test_the_checks_run_in_the_documented_order();
    test_plain_gets_are_not_upgrades();
    test_key_validation();
    test_accept_key();
    test_origin_matching();
    test_the_101_response_is_byte_exact();
    test_error_responses_are_byte_exact();
    test_status_phrases();
    return test_report();
}
