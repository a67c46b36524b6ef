/* libFuzzer target for the JSON-RPC 2.0 core (backends/jsonrpc.c).
 * Invariants: jsonrpc_handle returns 0; a reply, when there is one, is
 * valid JSON: one reply object or a non-empty array of them, never more
 * entries than the batch had; each reply object has "jsonrpc":"2.0", an
 * "id" that is a string, a number or null, and exactly one of "result"
 * and "error" (an error with an integer code and a string message); input
 * that is not JSON gets -32700 with id null. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/jsonrpc.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) abort(); \
    } while (0)

static json_t *m_echo(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)lib; (void)c; (void)err;
    return params ? json_incref(params) : json_null();
}

static json_t *m_sum(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)lib; (void)c;
    size_t i;
    json_t *v;
    json_int_t s = 0;
    if (!json_is_array(params)) return jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params: an array");
    json_array_foreach(params, i, v) {
        if (!json_is_integer(v)) return jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params[%zu]: not an integer", i);
        s += json_integer_value(v) & 0xffff; /* no signed overflow */
    }
    return json_integer(s);
}

static json_t *m_fail(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)params; (void)lib; (void)c;
    return jsonrpc_set_error(err, -32001, "failed");
}

static json_t *m_null(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)params; (void)lib; (void)c; (void)err;
    return NULL;
}

static const struct jsonrpc_method methods[] = {
    {"echo", m_echo}, {"sum", m_sum}, {"fail", m_fail}, {"null", m_null}, {NULL, NULL},
};

static void check_reply(json_t *r) {
    CHECK(json_is_object(r));
    json_t *v = json_object_get(r, "jsonrpc");
    CHECK(json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0);
    json_t *id = json_object_get(r, "id");
    CHECK(json_is_string(id) || json_is_number(id) || json_is_null(id));
    json_t *result = json_object_get(r, "result"), *error = json_object_get(r, "error");
    CHECK((result == NULL) != (error == NULL));
    if (error) {
        CHECK(json_is_integer(json_object_get(error, "code")));
        CHECK(json_is_string(json_object_get(error, "message")));
    }
    CHECK(json_object_size(r) == 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const jsonrpc_dispatch d = {methods, NULL, 16};
    jsonrpc_client client = {"127.0.0.1", 1, NULL};
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy);
    if (size) memcpy(copy, data, size);
    char *out = NULL;
    size_t out_len = 0;
    CHECK(jsonrpc_handle(&d, &client, copy, size, &out, &out_len) == 0);
    json_t *in = json_loadb((const char *)copy, size, JSON_DECODE_ANY, NULL);
    free(copy);
    if (!out) {
        CHECK(out_len == 0);
        CHECK(in != NULL); /* only a parsed message can go unanswered */
        json_decref(in);
        return 0;
    }
    CHECK(strlen(out) == out_len);
    json_error_t e;
    json_t *r = json_loadb(out, out_len, 0, &e);
    CHECK(r);
    if (!in) {
        check_reply(r);
        CHECK(json_integer_value(json_object_get(json_object_get(r, "error"), "code")) == JSONRPC_PARSE_ERROR);
        CHECK(json_is_null(json_object_get(r, "id")));
    } else if (json_is_array(r)) {
        CHECK(json_is_array(in));
        CHECK(json_array_size(r) >= 1 && json_array_size(r) <= json_array_size(in));
        size_t i;
        json_t *v;
        json_array_foreach(r, i, v) check_reply(v);
    } else {
        check_reply(r);
    }
    json_decref(r);
    json_decref(in);
    free(out);
    return 0;
}
