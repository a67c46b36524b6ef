/* Flash socket-policy: see policy.h. */
#include "policy.h"

#include <string.h>

ws_policy_match ws_policy_detect(const char *buf, size_t len) {
    /* sizeof includes the terminating NUL, which is part of the request. */
    static const char request[] = WS_POLICY_REQUEST;
    _Static_assert(sizeof request == WS_POLICY_REQUEST_LEN, "request length");
    size_t n = len < WS_POLICY_REQUEST_LEN ? len : WS_POLICY_REQUEST_LEN;
    if (n == 0) return WS_POLICY_MAYBE;
    if (memcmp(buf, request, n) != 0) return WS_POLICY_NO;
    return n == WS_POLICY_REQUEST_LEN ? WS_POLICY_YES : WS_POLICY_MAYBE;
}

typedef struct {
    char *p;
    size_t cap, len;
    int ok;
} policy_buf;

static void policy_put(policy_buf *b, const char *s, size_t n) {
    if (!b->ok || n > b->cap - b->len) {
        b->ok = 0;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void policy_puts(policy_buf *b, const char *s) { policy_put(b, s, strlen(s)); }

static void policy_put_escaped(policy_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': policy_puts(b, "&amp;"); break;
        case '<': policy_puts(b, "&lt;"); break;
        case '>': policy_puts(b, "&gt;"); break;
        case '"': policy_puts(b, "&quot;"); break;
        case '\'': policy_puts(b, "&apos;"); break;
        default: policy_put(b, s + i, 1);
        }
    }
}

/* The host part of an origin: "http://host:port" -> "host",
 * "http://[::1]:8080" -> "[::1]", "host:port" -> "host", "*" -> "*". */
static void policy_domain(const char *origin, const char **host, size_t *len) {
    const char *p = strstr(origin, "://");
    p = p ? p + 3 : origin;
    const char *end = p;
    if (*end == '[') {
        while (*end && *end != ']') end++;
        if (*end == ']') end++;
    } else {
        while (*end && *end != ':' && *end != '/') end++;
    }
    *host = p;
    *len = (size_t)(end - p);
}

static void policy_allow(policy_buf *b, const char *domain, size_t domain_len, const char *ports) {
    policy_puts(b, "  <allow-access-from domain=\"");
    policy_put_escaped(b, domain, domain_len);
    policy_puts(b, "\" to-ports=\"");
    policy_puts(b, ports);
    policy_puts(b, "\"/>\n");
}

/* An origin whose host part is empty is left out rather than widened to
 * "*". A port outside 1-65535 is written as to-ports="*". */
size_t ws_policy_document(char *out, size_t cap, const char *const *origins, size_t n, int port) {
    char ports[8] = "*";
    if (port > 0 && port <= 65535) {
        char digits[8];
        size_t i = sizeof digits;
        for (int v = port; v; v /= 10) digits[--i] = (char)('0' + v % 10);
        memcpy(ports, digits + i, sizeof digits - i);
        ports[sizeof digits - i] = '\0';
    }

    policy_buf b = {out, cap, 0, 1};
    policy_puts(&b, "<?xml version=\"1.0\"?>\n"
                    "<!DOCTYPE cross-domain-policy SYSTEM "
                    "\"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\">\n"
                    "<cross-domain-policy>\n");
    if (n == 0) policy_allow(&b, "*", 1, ports);
    for (size_t i = 0; i < n; i++) {
        const char *domain;
        size_t domain_len;
        if (strcmp(origins[i], "*") == 0) {
            domain = "*";
            domain_len = 1;
        } else {
            policy_domain(origins[i], &domain, &domain_len);
        }
        if (domain_len) policy_allow(&b, domain, domain_len, ports);
    }
    policy_puts(&b, "</cross-domain-policy>\n");
    policy_put(&b, "", 1);
    return b.ok ? b.len : 0;
}
