/* Flash socket-policy (native/policy.c): detection and the XML document. */
#include "harness.h"
#include "policy.h"

static ws_policy_match detect(const void *data, size_t len) {
    unsigned char *copy = test_exact_copy(data, len);
    ws_policy_match m = ws_policy_detect((const char *)copy, len);
    free(copy);
    return m;
}

static void test_detection(void) {
    static const char req[] = "<policy-file-request/>"; /* sizeof includes the NUL */
    test_cond("the request with its NUL is YES", detect(req, sizeof req) == WS_POLICY_YES);
    test_cond("bytes after the request do not matter", detect("<policy-file-request/>\0GET", 26) == WS_POLICY_YES);
    int all = 1;
    for (size_t i = 0; i < sizeof req; i++) {
        if (detect(req, i) != WS_POLICY_MAYBE) {
            fprintf(stderr, "  prefix of %zu bytes is not MAYBE\n", i);
            all = 0;
        }
    }
    test_cond("every strict prefix (the empty one too) is MAYBE", all);
    test_cond("the request without its NUL but followed by a newline is NO",
              detect("<policy-file-request/>\n", 23) == WS_POLICY_NO);
    test_cond("an HTTP request is NO", detect("GET / HTTP/1.1\r\n", 16) == WS_POLICY_NO);
    test_cond("a first byte that differs is NO", detect("G", 1) == WS_POLICY_NO);
    test_cond("a late difference is NO", detect("<policy-file-request/ >", 23) == WS_POLICY_NO);
    test_cond("upper case is NO", detect("<POLICY", 7) == WS_POLICY_NO);
    test_cond("a NULL empty buffer is MAYBE", ws_policy_detect(NULL, 0) == WS_POLICY_MAYBE);
}

static const char head[] = "<?xml version=\"1.0\"?>\n"
                           "<!DOCTYPE cross-domain-policy SYSTEM "
                           "\"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\">\n"
                           "<cross-domain-policy>\n";
static const char tail[] = "</cross-domain-policy>\n";

/* Checks that out[0..n) is head + lines + tail + NUL. */
static int document_is(const char *out, size_t n, const char *lines) {
    char want[2048];
    int wn = snprintf(want, sizeof want, "%s%s%s", head, lines, tail);
    if (wn < 0 || (size_t)wn + 1 != n || memcmp(out, want, (size_t)wn) != 0 || out[wn] != '\0') {
        fprintf(stderr, "  got:\n%.*s\n  want:\n%s\n", (int)n, out, want);
        return 0;
    }
    return 1;
}

static void test_documents(void) {
    char out[2048];
    size_t n = ws_policy_document(out, sizeof out, NULL, 0, 8080);
    test_cond("no origins allow every domain",
              document_is(out, n, "  <allow-access-from domain=\"*\" to-ports=\"8080\"/>\n"));

    const char *const origins[] = {"http://example.com:8080", "https://www.example.org", "*", "http://[::1]:81",
                                   "example.net:9"};
    n = ws_policy_document(out, sizeof out, origins, 5, 443);
    test_cond("one line per origin with its host",
              document_is(out, n,
                          "  <allow-access-from domain=\"example.com\" to-ports=\"443\"/>\n"
                          "  <allow-access-from domain=\"www.example.org\" to-ports=\"443\"/>\n"
                          "  <allow-access-from domain=\"*\" to-ports=\"443\"/>\n"
                          "  <allow-access-from domain=\"[::1]\" to-ports=\"443\"/>\n"
                          "  <allow-access-from domain=\"example.net\" to-ports=\"443\"/>\n"));

    const char *const nasty[] = {"http://a&b<c>d\"e'f:1"};
    n = ws_policy_document(out, sizeof out, nasty, 1, 1);
    test_cond("domains are XML-escaped",
              document_is(out, n, "  <allow-access-from domain=\"a&amp;b&lt;c&gt;d&quot;e&apos;f\" to-ports=\"1\"/>\n"));

    const char *const empty[] = {"http://", "http://:80"};
    n = ws_policy_document(out, sizeof out, empty, 2, 65535);
    test_cond("origins without a host are left out, not widened", document_is(out, n, ""));

    const char *const wild[] = {"http://*.example.com"};
    n = ws_policy_document(out, sizeof out, wild, 1, 0);
    test_cond("a wildcard domain is kept; port 0 is any port",
              document_is(out, n, "  <allow-access-from domain=\"*.example.com\" to-ports=\"*\"/>\n"));

    size_t full = ws_policy_document(out, sizeof out, origins, 5, 443);
    test_cond("an exact-size buffer suffices", ws_policy_document(out, full, origins, 5, 443) == full);
    test_cond("one byte short returns 0", ws_policy_document(out, full - 1, origins, 5, 443) == 0);
    test_cond("a zero-size buffer returns 0", ws_policy_document(out, 0, NULL, 0, 80) == 0);
}

int main(void) {
    test_detection();
    test_documents();
    return test_report();
}
