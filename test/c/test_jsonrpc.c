/* Unit tests of backends/jsonrpc.c: the JSON-RPC 2.0 core, from a
 * message's bytes to the reply's bytes. */
#include "../../backends/jsonrpc.h"
#include "harness.h"

static int calls;

static json_t *m_echo(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)lib; (void)c; (void)err;
    calls++;
    return params ? json_incref(params) : json_string("no params");
}

static json_t *m_sum(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)lib; (void)c;
    calls++;
    if (!json_is_array(params)) return jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params: an array of integers");
    json_int_t s = 0;
    size_t i;
    json_t *v;
    json_array_foreach(params, i, v) {
        if (!json_is_integer(v)) return jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params[%zu]: not an integer", i);
        s += json_integer_value(v);
    }
    return json_integer(s);
}

static json_t *m_fail(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)params; (void)lib; (void)c;
    calls++;
    return jsonrpc_set_error(err, -32001, "it failed");
}

static json_t *m_null(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)params; (void)lib; (void)c; (void)err;
    calls++;
    return NULL;
}

/* A message cut in the middle of a UTF-8 character by the message bound. */
static json_t *m_long(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)params; (void)lib; (void)c;
    char msg[JSONRPC_ERROR_MESSAGE_MAX + 8];
    memset(msg, 'a', JSONRPC_ERROR_MESSAGE_MAX - 2);
    strcpy(msg + JSONRPC_ERROR_MESSAGE_MAX - 2, "\xc3\xa9\xc3\xa9");
    return jsonrpc_set_error(err, -32002, "%s", msg);
}

/* Remembers something per client and reads the library state. */
static json_t *m_who(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)params; (void)err;
    c->state = (void *)((char *)c->state + 1);
    return json_pack("{s:s, s:i, s:I, s:s}", "address", c->address, "port", c->port, "n",
                     (json_int_t)((char *)c->state - (char *)0), "lib", (const char *)lib);
}

static const struct jsonrpc_method methods[] = {
    {"echo", m_echo}, {"sum", m_sum}, {"fail", m_fail}, {"null", m_null},
    {"long", m_long}, {"who", m_who}, {NULL, NULL},
};

static jsonrpc_dispatch dispatch = {methods, "the-lib", 0};
static jsonrpc_client client = {"192.0.2.1", 4242, NULL};

/* Runs the core on a copy of s of exactly its length; returns the reply
 * (malloc'd; NULL when none). */
static char *call_n(const jsonrpc_dispatch *d, const char *s, size_t n) {
    unsigned char *in = test_exact_copy(s, n);
    char *out = (char *)1;
    size_t out_len = 99;
    int rc = jsonrpc_handle(d, &client, in, n, &out, &out_len);
    free(in);
    if (rc != 0) {
        fprintf(stderr, "jsonrpc_handle returned %d\n", rc);
        abort();
    }
    if (out && strlen(out) != out_len) {
        fprintf(stderr, "out_len %zu for %s\n", out_len, out);
        abort();
    }
    if (!out && out_len != 0) abort();
    return out;
}

static char *call(const char *s) { return call_n(&dispatch, s, strlen(s)); }

/* True when the reply to `in` is exactly `want` (NULL: no reply). */
static int replies(const char *in, const char *want) {
    char *got = call(in);
    int ok = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
    if (!ok) fprintf(stderr, "  in:   %s\n  want: %s\n  got:  %s\n", in, want ? want : "(no reply)", got ? got : "(no reply)");
    free(got);
    return ok;
}

/* The error code of a single error reply, or 0. */
static int error_code(const char *in) {
    char *got = call(in);
    int code = 0;
    json_t *r = got ? json_loads(got, 0, NULL) : NULL;
    json_t *e = json_object_get(r, "error");
    if (json_is_integer(json_object_get(e, "code"))) code = (int)json_integer_value(json_object_get(e, "code"));
    json_decref(r);
    free(got);
    return code;
}

static void test_calls(void) {
    test_cond("a call with array params gets its result with its id",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1,2,3],\"id\":1}",
                      "{\"jsonrpc\":\"2.0\",\"result\":6,\"id\":1}"));
    test_cond("a call with object params gets them back",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":[1,{\"b\":null}]},\"id\":\"x\"}",
                      "{\"jsonrpc\":\"2.0\",\"result\":{\"a\":[1,{\"b\":null}]},\"id\":\"x\"}"));
    test_cond("a call without params gives the method NULL",
              replies("{\"id\":2.5,\"method\":\"echo\",\"jsonrpc\":\"2.0\"}",
                      "{\"jsonrpc\":\"2.0\",\"result\":\"no params\",\"id\":2.5}"));
    test_cond("a call with a null id is answered with a null id",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[],\"id\":null}",
                      "{\"jsonrpc\":\"2.0\",\"result\":0,\"id\":null}"));
    test_cond("a string id with unicode is echoed exactly",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[],\"id\":\"\\u00e9\xe2\x82\xac\"}",
                      "{\"jsonrpc\":\"2.0\",\"result\":0,\"id\":\"\xc3\xa9\xe2\x82\xac\"}"));
    test_cond("whitespace around the request is allowed",
              replies(" \n\t{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[4],\"id\":7}\r\n ",
                      "{\"jsonrpc\":\"2.0\",\"result\":4,\"id\":7}"));
    test_cond("the method sees the client and the library state",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"who\",\"id\":1}",
                      "{\"jsonrpc\":\"2.0\",\"result\":{\"address\":\"192.0.2.1\",\"port\":4242,\"n\":1,\"lib\":\"the-lib\"},\"id\":1}"));
    test_cond("the per-client state persists between messages",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"who\",\"id\":1}",
                      "{\"jsonrpc\":\"2.0\",\"result\":{\"address\":\"192.0.2.1\",\"port\":4242,\"n\":2,\"lib\":\"the-lib\"},\"id\":1}"));
    client.state = NULL;
}

static void test_notifications(void) {
    calls = 0;
    test_cond("a notification gets no reply", replies("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1]}", NULL));
    test_cond("a notification runs its method", calls == 1);
    test_cond("a notification of an unknown method gets no reply", replies("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}", NULL));
    test_cond("a failing notification gets no reply", replies("{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}", NULL));
    test_cond("a notification with bad params gets no reply", replies("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":{}}", NULL));
    test_cond("an invalid notification is still answered (id null)",
              replies("{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}",
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: method must be a string\"},\"id\":null}"));
}

/* "[1,1,...,1]" with n entries (malloc'd). */
static char *batch_of_ones(size_t n, size_t *len) {
    char *s = malloc(2 * n + 2);
    size_t k = 0;
    s[k++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) s[k++] = ',';
        s[k++] = '1';
    }
    s[k++] = ']';
    *len = k;
    return s;
}

static void test_batches(void) {
    test_cond("a batch gets one reply per request, in order, notifications left out",
              replies("[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1,2],\"id\":\"a\"},"
                      "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[7]},"
                      "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":\"b\"},"
                      "{\"foo\":\"boo\"},"
                      "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[5],\"id\":\"c\"}]",
                      "[{\"jsonrpc\":\"2.0\",\"result\":3,\"id\":\"a\"},"
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"method not found\"},\"id\":\"b\"},"
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: jsonrpc must be \\\"2.0\\\"\"},\"id\":null},"
                      "{\"jsonrpc\":\"2.0\",\"result\":5,\"id\":\"c\"}]"));
    test_cond("a batch of notifications only gets no reply at all",
              replies("[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1]},{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}]", NULL));
    test_cond("an empty batch gets one -32600 error, not an array",
              replies("[]", "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: empty batch\"},\"id\":null}"));
    test_cond("a batch of non-objects gets one error per entry",
              replies("[1,2]",
                      "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: not an object\"},\"id\":null},"
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: not an object\"},\"id\":null}]"));
    test_cond("a batch inside a batch is an invalid request",
              replies("[[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1],\"id\":1}]]",
                      "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: not an object\"},\"id\":null}]"));

    /* The bound: max_batch entries run, one more is refused whole. */
    jsonrpc_dispatch small = {methods, NULL, 3};
    const char *three = "[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1],\"id\":1},"
                        "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[2],\"id\":2},"
                        "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[3],\"id\":3}]";
    const char *four = "[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1],\"id\":1},"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[2],\"id\":2},"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[3],\"id\":3},4]";
    char *r = call_n(&small, three, strlen(three));
    test_cond("a batch of exactly max_batch entries runs", r && strstr(r, "\"result\":3,\"id\":3"));
    free(r);
    calls = 0;
    r = call_n(&small, four, strlen(four));
    test_cond("a batch past max_batch is refused with -32600 naming the bound",
              r && strcmp(r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: batch of 4 entries (at most 3)\"},\"id\":null}") == 0);
    test_cond("no entry of a refused batch runs", calls == 0);
    free(r);

    /* The default bound is 1000. */
    size_t len;
    char *big = batch_of_ones(1001, &len);
    r = call_n(&dispatch, big, len);
    test_cond("the default batch bound is 1000 entries", r && strstr(r, "batch of 1001 entries (at most 1000)"));
    free(r);
    free(big);
    big = batch_of_ones(1000, &len);
    r = call_n(&dispatch, big, len);
    test_cond("a batch of 1000 entries is answered entry by entry", r && r[0] == '[' && !strstr(r, "at most"));
    free(r);
    free(big);
}

static void test_errors(void) {
    test_cond("bytes that are not JSON get -32700 with a null id", error_code("{\"jsonrpc\":\"2.0\",\"method\"") == -32700);
    test_cond("an empty message is a parse error", error_code("") == -32700);
    char *r = call("{\"jsonrpc\":\"2.0\",\"method\":\"foobar, \"params\":\"bar\", \"baz]");
    test_cond("a parse error's reply says so, with id null",
              r && strncmp(r, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"parse error: ", 64) == 0 &&
                  strstr(r, "\"id\":null}"));
    free(r);
    test_cond("trailing bytes after the request are a parse error", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"id\":1} x") == -32700);
    test_cond("invalid UTF-8 is a parse error", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"s\xff\",\"id\":1}") == -32700);
    test_cond("\\u0000 in a string is a parse error", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"sum\\u0000\",\"id\":1}") == -32700);
    test_cond("a number is not a request", error_code("5") == -32600);
    test_cond("a string is not a request", error_code("\"x\"") == -32600);
    test_cond("null is not a request", error_code("null") == -32600);
    test_cond("a missing jsonrpc member is invalid", error_code("{\"method\":\"sum\",\"id\":1}") == -32600);
    test_cond("jsonrpc \"1.0\" is invalid", error_code("{\"jsonrpc\":\"1.0\",\"method\":\"sum\",\"id\":1}") == -32600);
    test_cond("jsonrpc 2.0 as a number is invalid", error_code("{\"jsonrpc\":2.0,\"method\":\"sum\",\"id\":1}") == -32600);
    test_cond("a missing method is invalid", error_code("{\"jsonrpc\":\"2.0\",\"id\":1}") == -32600);
    test_cond("a method that is not a string is invalid", error_code("{\"jsonrpc\":\"2.0\",\"method\":[],\"id\":1}") == -32600);
    test_cond("an object id is invalid", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"id\":{}}") == -32600);
    test_cond("a boolean id is invalid", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"id\":true}") == -32600);
    test_cond("an array id is invalid", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"id\":[1]}") == -32600);
    test_cond("string params are invalid", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":\"1\",\"id\":1}") == -32600);
    test_cond("null params are invalid", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":null,\"id\":1}") == -32600);
    test_cond("an invalid request with a good id is answered with that id",
              replies("{\"jsonrpc\":\"1.0\",\"method\":\"sum\",\"id\":9}",
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: jsonrpc must be \\\"2.0\\\"\"},\"id\":9}"));
    test_cond("an invalid id is answered with a null id",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"id\":false}",
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"invalid request: id must be a string, a number or null\"},\"id\":null}"));
    test_cond("an unknown method gets -32601", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":1}") == -32601);
    test_cond("a method name is matched exactly, not by prefix", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"su\",\"id\":1}") == -32601);
    test_cond("a method name with a NUL-free longer name does not match", error_code("{\"jsonrpc\":\"2.0\",\"method\":\"summ\",\"id\":1}") == -32601);
    test_cond("bad params get the method's -32602 and message",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1,\"2\"],\"id\":3}",
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"params[1]: not an integer\"},\"id\":3}"));
    test_cond("a method's own error code and message reach the client",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":3}",
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32001,\"message\":\"it failed\"},\"id\":3}"));
    test_cond("a method that fails without saying why gets -32603",
              replies("{\"jsonrpc\":\"2.0\",\"method\":\"null\",\"id\":3}",
                      "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":\"internal error\"},\"id\":3}"));
    r = call("{\"jsonrpc\":\"2.0\",\"method\":\"long\",\"id\":3}");
    json_t *j = r ? json_loads(r, 0, NULL) : NULL;
    test_cond("an error message cut inside a UTF-8 character is still valid JSON, cut before it",
              j && json_string_length(json_object_get(json_object_get(j, "error"), "message")) == JSONRPC_ERROR_MESSAGE_MAX - 2);
    json_decref(j);
    free(r);
    jsonrpc_dispatch none = {NULL, NULL, 0};
    const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"id\":1}";
    r = call_n(&none, req, strlen(req));
    test_cond("a dispatch without methods answers -32601", r && strstr(r, "-32601"));
    free(r);
}

static void test_depth(void) {
    /* jansson refuses nesting past JSON_PARSER_MAX_DEPTH: a parse error, not a stack overflow. */
    size_t n = 200000;
    char *deep = malloc(n * 2);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    char *r = call_n(&dispatch, deep, n * 2);
    test_cond("nesting 200000 deep is a parse error", r && strstr(r, "-32700"));
    free(r);
    free(deep);
    char params[64 + 2 * 100];
    int len = snprintf(params, sizeof params, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":");
    for (int i = 0; i < 100; i++) params[len++] = '[';
    for (int i = 0; i < 100; i++) params[len++] = ']';
    params[len++] = '}';
    r = call_n(&dispatch, params, (size_t)len);
    test_cond("params nested 100 deep are handed to the method and echoed", r && strstr(r, "\"result\":[[[[") && !strstr(r, "error"));
    free(r);
}

int main(void) {
    test_calls();
    test_notifications();
    test_batches();
    test_errors();
    test_depth();
    return test_report();
}
