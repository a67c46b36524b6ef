/* The JSON-RPC 2.0 core of websocket_jsonrpc: one message's bytes in, the
 * reply's bytes out (or no reply). It calls the methods of a table
 * (jsonrpc_methods.h) and does no I/O of its own. */
#ifndef WS_JSONRPC_H
#define WS_JSONRPC_H

#include <stddef.h>
#include <stdint.h>

#include "jsonrpc_methods.h"

/* Default bound on the entries of one batch; a longer batch is answered
 * with one -32600 error and none of it runs. */
#define JSONRPC_DEFAULT_MAX_BATCH 1000

typedef struct {
    const struct jsonrpc_method *methods; /* ended by a NULL name */
    void *lib;                            /* handed to every method */
    size_t max_batch;                     /* 0 -> JSONRPC_DEFAULT_MAX_BATCH */
} jsonrpc_dispatch;

/* Handles one message (in[0..len), any bytes). Returns 0 with *out set to
 * the reply (a malloc'd JSON text of *out_len bytes, NUL-terminated, to
 * free()), or 0 with *out NULL when no reply is due (a notification, a
 * batch of notifications only). Returns -1 only when memory ran out even
 * for an error reply (*out NULL). Parse errors (-32700; nesting deeper than
 * jansson's JSON_PARSER_MAX_DEPTH, invalid UTF-8 and \u0000 included),
 * invalid requests (-32600), unknown methods (-32601) and the methods' own
 * errors are all answered in the reply. */
int jsonrpc_handle(const jsonrpc_dispatch *d, jsonrpc_client *client, const uint8_t *in, size_t len,
                   char **out, size_t *out_len);

#endif
