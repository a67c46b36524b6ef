/* The table a JSON-RPC method library exports to websocket_jsonrpc.
 *
 * A library is a shared object loaded with dlopen (`-L <library>`). It
 * exports one symbol, `jsonrpc_library`, of type `struct jsonrpc_library`:
 *
 *     #include "jsonrpc_methods.h"
 *     static json_t *hello(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
 *         (void)params; (void)lib; (void)err;
 *         return json_sprintf("hello %s", c->address);
 *     }
 *     static const struct jsonrpc_method methods[] = { {"hello", hello}, {NULL, NULL} };
 *     const struct jsonrpc_library jsonrpc_library = {
 *         .version = JSONRPC_LIBRARY_VERSION, .methods = methods,
 *     };
 *
 * built with `cc -shared -fPIC -o libhello.so hello.c -ljansson`. Every
 * callback runs on the service's one thread (no locking needed), between
 * two messages: a slow method delays every client of the service.
 */
#ifndef WS_JSONRPC_METHODS_H
#define WS_JSONRPC_METHODS_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* The value of .version this header describes; the loader refuses others. */
#define JSONRPC_LIBRARY_VERSION 1

/* The error codes of JSON-RPC 2.0. A method sets JSONRPC_INVALID_PARAMS for
 * bad params, or a code of its own: -32000 to -32099 are reserved for
 * implementation-defined server errors, any other integer outside
 * -32768..-32000 is free for the application. */
#define JSONRPC_PARSE_ERROR -32700
#define JSONRPC_INVALID_REQUEST -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS -32602
#define JSONRPC_INTERNAL_ERROR -32603

#define JSONRPC_ERROR_MESSAGE_MAX 256

/* What a method fills in when it fails (returns NULL). */
typedef struct {
    int code;                                /* 0 on entry; left 0 -> -32603 "internal error" */
    char message[JSONRPC_ERROR_MESSAGE_MAX]; /* the error's "message", NUL-terminated, UTF-8 */
} jsonrpc_error;

/* One WebSocket client of the service, the same object for all its messages. */
typedef struct {
    const char *address; /* the client's numeric address ("unknown" when the gateway did not say) */
    int port;            /* the client's port (0 when unknown) */
    void *state;         /* the library's per-client state: NULL at first, set by methods at will, released by client_close */
} jsonrpc_client;

/* A method. params is the request's "params" (an array or an object; NULL
 * when the request has none), borrowed: take a reference (json_incref) to
 * keep any part of it. lib is what init stored. Returns a new reference to
 * the result (any JSON value: json_true(), json_object(), ...), or NULL
 * with err->code and err->message set (jsonrpc_set_error helps). For a
 * notification the method runs the same and its result is discarded. */
typedef json_t *(*jsonrpc_method_fn)(json_t *params, void *lib, jsonrpc_client *client, jsonrpc_error *err);

struct jsonrpc_method {
    const char *name; /* the "method" string, matched exactly (byte for byte) */
    jsonrpc_method_fn fn;
};

struct jsonrpc_library {
    int version; /* JSONRPC_LIBRARY_VERSION */
    /* Called once before the service listens, with the -C argument (NULL
     * when none was given). Stores the library's state in *lib. Returns 0,
     * or -1 with a one-line message in err: the service prints it and
     * exits 1. May be NULL. */
    int (*init)(const char *config, void **lib, char *err, size_t errlen);
    /* Called once when the service stops. May be NULL. */
    void (*destroy)(void *lib);
    /* Called when a client goes away, to release client->state. May be NULL. */
    void (*client_close)(void *lib, jsonrpc_client *client);
    /* The methods, ended by an entry whose name is NULL. */
    const struct jsonrpc_method *methods;
};

/* Sets err's code and printf-style message; returns NULL, so that a method
 * can `return jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params.user: ...")`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline json_t *jsonrpc_set_error(jsonrpc_error *err, int code, const char *fmt, ...);
static inline json_t *jsonrpc_set_error(jsonrpc_error *err, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return NULL;
}

#endif
