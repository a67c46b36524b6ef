/* The JSON-RPC 2.0 core: see jsonrpc.h. */
#include "jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reply when nothing else can be built (out of memory). */
static const char oom_reply[] =
    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":\"internal error: out of memory\"},\"id\":null}";

/* A JSON string from a message that should be UTF-8: a message cut by
 * vsnprintf in the middle of a character loses the partial character; one
 * that is not UTF-8 at all is replaced. */
static json_t *message_string(const char *s) {
    size_t n = strlen(s);
    for (int cut = 0; cut < 4 && cut <= (int)n; cut++) {
        json_t *v = json_stringn(s, n - (size_t)cut);
        if (v) return v;
    }
    return json_string("(error message is not UTF-8)");
}

static int id_is_valid(const json_t *id) {
    return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/* {"jsonrpc":"2.0","error":{"code":..,"message":..},"id":id}; id borrowed, NULL -> null. */
static json_t *error_reply(json_t *id, int code, const char *message) {
    json_t *r = json_object(), *err = json_object();
    if (!r || !err) {
        json_decref(r);
        json_decref(err);
        return NULL;
    }
    /* json_object_set_new takes its value even when it fails: r owns err from here. */
    int bad = json_object_set_new(r, "jsonrpc", json_string("2.0")) < 0;
    bad |= json_object_set_new(r, "error", err) < 0;
    if (bad || json_object_set_new(err, "code", json_integer(code)) < 0 ||
        json_object_set_new(err, "message", message_string(message)) < 0 ||
        json_object_set_new(r, "id", id ? json_incref(id) : json_null()) < 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* {"jsonrpc":"2.0","result":result,"id":id}; result stolen, id borrowed. */
static json_t *result_reply(json_t *id, json_t *result) {
    json_t *r = json_object();
    if (!r) {
        json_decref(result);
        return NULL;
    }
    if (json_object_set_new(r, "jsonrpc", json_string("2.0")) < 0 || json_object_set_new(r, "result", result) < 0 ||
        json_object_set_new(r, "id", json_incref(id)) < 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static jsonrpc_method_fn find_method(const jsonrpc_dispatch *d, const char *name, size_t len) {
    if (!d->methods) return NULL;
    for (const struct jsonrpc_method *m = d->methods; m->name; m++)
        if (strlen(m->name) == len && memcmp(m->name, name, len) == 0) return m->fn;
    return NULL;
}

/* One request object (or whatever stands in its place in a batch). Returns
 * the reply, or NULL when none is due. *oom is set when a reply that was
 * due could not be built. */
static json_t *handle_one(const jsonrpc_dispatch *d, jsonrpc_client *client, json_t *req, int *oom) {
    json_t *reply;
    if (!json_is_object(req)) {
        reply = error_reply(NULL, JSONRPC_INVALID_REQUEST, "invalid request: not an object");
        goto out;
    }
    json_t *id = json_object_get(req, "id");
    int notification = id == NULL;
    if (id && !id_is_valid(id)) {
        reply = error_reply(NULL, JSONRPC_INVALID_REQUEST, "invalid request: id must be a string, a number or null");
        goto out;
    }
    json_t *version = json_object_get(req, "jsonrpc");
    if (!json_is_string(version) || json_string_length(version) != 3 || memcmp(json_string_value(version), "2.0", 3) != 0) {
        reply = error_reply(id, JSONRPC_INVALID_REQUEST, "invalid request: jsonrpc must be \"2.0\"");
        goto out;
    }
    json_t *method = json_object_get(req, "method");
    if (!json_is_string(method)) {
        reply = error_reply(id, JSONRPC_INVALID_REQUEST, "invalid request: method must be a string");
        goto out;
    }
    json_t *params = json_object_get(req, "params");
    if (params && !json_is_array(params) && !json_is_object(params)) {
        reply = error_reply(id, JSONRPC_INVALID_REQUEST, "invalid request: params must be an array or an object");
        goto out;
    }
    jsonrpc_method_fn fn = find_method(d, json_string_value(method), json_string_length(method));
    if (!fn) {
        if (notification) return NULL;
        reply = error_reply(id, JSONRPC_METHOD_NOT_FOUND, "method not found");
        goto out;
    }
    jsonrpc_error err = {0};
    json_t *result = fn(params, d->lib, client, &err);
    if (notification) {
        json_decref(result);
        return NULL;
    }
    if (result) {
        reply = result_reply(id, result);
    } else if (err.code == 0) {
        reply = error_reply(id, JSONRPC_INTERNAL_ERROR, "internal error");
    } else {
        err.message[sizeof err.message - 1] = '\0';
        reply = error_reply(id, err.code, err.message[0] ? err.message : "error");
    }
out:
    if (!reply) *oom = 1;
    return reply;
}

/* A growing output buffer. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} outbuf;

static void out_put(outbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (n + 1 > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (n + 1 > cap - b->len) {
            if (cap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Writes one reply (stolen); a reply that cannot be serialized becomes an
 * internal error with the same id. */
static void out_reply(outbuf *b, json_t *reply) {
    char *s = json_dumps(reply, JSON_COMPACT);
    if (!s) {
        json_t *e = error_reply(json_object_get(reply, "id"), JSONRPC_INTERNAL_ERROR, "internal error: the result could not be serialized");
        s = e ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
    }
    json_decref(reply);
    if (!s) {
        b->failed = 1;
        return;
    }
    out_put(b, s, strlen(s));
    free(s);
}

static int finish(outbuf *b, char **out, size_t *out_len) {
    if (b->failed) {
        free(b->p);
        *out = malloc(sizeof oom_reply);
        if (!*out) return -1;
        memcpy(*out, oom_reply, sizeof oom_reply);
        *out_len = sizeof oom_reply - 1;
        return 0;
    }
    *out = b->p;
    *out_len = b->len;
    return 0;
}

int jsonrpc_handle(const jsonrpc_dispatch *d, jsonrpc_client *client, const uint8_t *in, size_t len,
                   char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    outbuf b = {0};
    int oom = 0;
    json_error_t jerr;
    json_t *msg = json_loadb((const char *)in, len, JSON_DECODE_ANY, &jerr);
    if (!msg) {
        char text[JSONRPC_ERROR_MESSAGE_MAX];
        snprintf(text, sizeof text, "parse error: %s at byte %d", jerr.text, jerr.position);
        json_t *r = error_reply(NULL, JSONRPC_PARSE_ERROR, text);
        if (!r) b.failed = 1;
        else out_reply(&b, r);
        return finish(&b, out, out_len);
    }
    if (!json_is_array(msg)) {
        json_t *r = handle_one(d, client, msg, &oom);
        if (r) out_reply(&b, r);
        if (oom) b.failed = 1;
        json_decref(msg);
        if (!b.p && !b.failed) return 0;
        return finish(&b, out, out_len);
    }
    size_t n = json_array_size(msg);
    size_t max = d->max_batch ? d->max_batch : JSONRPC_DEFAULT_MAX_BATCH;
    if (n == 0 || n > max) {
        char text[96];
        if (n == 0) snprintf(text, sizeof text, "invalid request: empty batch");
        else snprintf(text, sizeof text, "invalid request: batch of %zu entries (at most %zu)", n, max);
        json_decref(msg);
        json_t *r = error_reply(NULL, JSONRPC_INVALID_REQUEST, text);
        if (!r) b.failed = 1;
        else out_reply(&b, r);
        return finish(&b, out, out_len);
    }
    int replies = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = handle_one(d, client, json_array_get(msg, i), &oom);
        if (!r) continue;
        out_put(&b, replies ? "," : "[", 1);
        out_reply(&b, r);
        replies++;
    }
    json_decref(msg);
    if (oom) b.failed = 1;
    if (!replies && !b.failed) return 0;
    out_put(&b, "]", 1);
    return finish(&b, out, out_len);
}
