/* websocket_jsonrpc: a JSON-RPC 2.0 service behind the gateway. Each
 * WebSocket message is one request or one batch (jsonrpc.c); the methods
 * come from a shared library loaded with dlopen (-L, jsonrpc_methods.h),
 * whose init gets the -C argument.
 *
 *   websocket_jsonrpc -R <dir> -n <name> -L <library> [-C <config>] [-B <max batch>] [-M <max message>] [common options]
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "wsservice.h"

#define MAX_BATCH_LIMIT 100000
/* jansson holds a parsed message in some 20 to 50 times its size: the
 * message bound (-M) is what bounds a request's memory. */
#define DEFAULT_MAX_MESSAGE (1u << 20)
#define MAX_MESSAGE_LIMIT (16u << 20)

typedef struct {
    const char *library;
    const char *config;
    size_t max_batch;
    uint64_t max_message;
    const struct jsonrpc_library *lib;
    jsonrpc_dispatch dispatch;
} service;

static const char usage[] =
    "  -L <library>  the method library to load (a shared object exporting jsonrpc_library; required)\n"
    "  -C <config>   the argument handed to the library's init (for libauth.so: the SQLite database file)\n"
    "  -B <n>        the most entries one batch may hold, 1..100000 (default 1000)\n"
    "  -M <bytes>    the largest message accepted, 64..16777216 (default 1048576); a larger one closes the client\n";

/* A decimal integer in [min, max]; -1 when arg is not one. */
static int parse_bound(const char *arg, unsigned long min, unsigned long max, unsigned long *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || arg[0] == '+' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int on_opt(int opt, const char *arg, void *user) {
    service *s = user;
    unsigned long v;
    switch (opt) {
    case 'L': s->library = arg; return 0;
    case 'C': s->config = arg; return 0;
    case 'B':
        if (parse_bound(arg, 1, MAX_BATCH_LIMIT, &v) < 0) {
            fprintf(stderr, "websocket_jsonrpc: -B %s: the batch bound must be an integer from 1 to %d\n", arg, MAX_BATCH_LIMIT);
            return -1;
        }
        s->max_batch = v;
        return 0;
    case 'M':
        if (parse_bound(arg, 64, MAX_MESSAGE_LIMIT, &v) < 0) {
            fprintf(stderr, "websocket_jsonrpc: -M %s: the message bound must be an integer from 64 to %u (bytes)\n", arg,
                    MAX_MESSAGE_LIMIT);
            return -1;
        }
        s->max_message = v;
        return 0;
    }
    return -1;
}

static void on_open(wss_client *c, void *user) {
    (void)user;
    jsonrpc_client *jc = calloc(1, sizeof *jc);
    if (!jc) {
        wss_close(c, 1011, "out of memory");
        return;
    }
    jc->address = wss_client_address(c);
    jc->port = wss_client_port(c);
    wss_client_set_data(c, jc);
}

static void on_message(wss_client *c, int opcode, const uint8_t *data, size_t len, void *user) {
    (void)opcode; /* text or binary: both carry JSON */
    service *s = user;
    jsonrpc_client *jc = wss_client_data(c);
    if (!jc) return;
    char *out;
    size_t out_len;
    if (jsonrpc_handle(&s->dispatch, jc, data, len, &out, &out_len) < 0) {
        wss_close(c, 1011, "out of memory");
        return;
    }
    if (out) {
        wss_send(c, 1, out, out_len); /* on failure the client is closed by libwsservice */
        free(out);
    }
}

static void on_close(wss_client *c, void *user) {
    service *s = user;
    jsonrpc_client *jc = wss_client_data(c);
    if (!jc) return;
    if (s->lib->client_close) s->lib->client_close(s->dispatch.lib, jc);
    wss_client_set_data(c, NULL);
    free(jc);
}

int main(int argc, char **argv) {
    service s = {.max_message = DEFAULT_MAX_MESSAGE};
    wss_config cfg = {0};
    wss_parse_args(argc, argv, &cfg, "L:C:B:M:", usage, on_opt, &s);
    cfg.max_message = s.max_message;
    if (!s.library) {
        fprintf(stderr, "websocket_jsonrpc: -L <library> is required (the method library, e.g. libauth.so)\n");
        return 2;
    }
    /* A path without a slash would be searched in the library path: say ./x.so to mean the file. */
    void *h = dlopen(s.library, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "websocket_jsonrpc: -L %s: %s\n", s.library, dlerror());
        return 1;
    }
    s.lib = dlsym(h, "jsonrpc_library");
    if (!s.lib) {
        fprintf(stderr, "websocket_jsonrpc: -L %s: no jsonrpc_library symbol (see jsonrpc_methods.h)\n", s.library);
        return 1;
    }
    if (s.lib->version != JSONRPC_LIBRARY_VERSION) {
        fprintf(stderr, "websocket_jsonrpc: -L %s: library version %d, this program loads version %d\n", s.library,
                s.lib->version, JSONRPC_LIBRARY_VERSION);
        return 1;
    }
    if (!s.lib->methods) {
        fprintf(stderr, "websocket_jsonrpc: -L %s: the library has no method table\n", s.library);
        return 1;
    }
    char err[512] = "";
    void *state = NULL;
    /* init runs before listening, so that a bad config is reported on stderr with exit 1, before -D detaches. */
    if (s.lib->init && s.lib->init(s.config, &state, err, sizeof err) < 0) {
        fprintf(stderr, "websocket_jsonrpc: %s\n", err[0] ? err : "the library's init failed");
        return 1;
    }
    s.dispatch.methods = s.lib->methods;
    s.dispatch.lib = state;
    s.dispatch.max_batch = s.max_batch;

    wss_handlers handlers = {on_open, on_message, on_close};
    wss_server *srv = wss_listen(&cfg, &handlers, &s, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "websocket_jsonrpc: %s\n", err);
        if (s.lib->destroy) s.lib->destroy(state);
        return 1;
    }
    int rc = wss_run(srv);
    if (s.lib->destroy) s.lib->destroy(state);
    /* The library stays loaded until exit: clients' state may point into it. */
    return rc;
}
