/* The bridge between the C engine and JS: the only file that speaks
 * Node-API. JS gets a handle per server and calls in for listen, the
 * upgrade decision, sends and closes; C calls JS once per upgrade request
 * and once per loop iteration with every event of that iteration. */
#define NAPI_VERSION 8
#include <node_api.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "connection.h"
#include "server.h"

#define CHECK(call)                                                                 \
    do {                                                                            \
        if ((call) != napi_ok) return throw_last(env, #call);                       \
    } while (0)

typedef struct {
    napi_env env;
    ws_server *srv;
    napi_ref on_upgrade;
    napi_ref on_events;
    napi_async_context async_context;
    napi_ref events_ab;    /* JS ArrayBuffer over events_data, while C still writes to it */
    uint8_t *events_data;
    int released;
} addon_server;

static napi_value throw_last(napi_env env, const char *what) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, "WS_ERR_NATIVE", info && info->error_message ? info->error_message : what);
    return NULL;
}

static napi_value throw_uv(napi_env env, int err, const char *syscall, const char *address, int port) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s %s: %s %s:%d", syscall, uv_err_name(err), uv_strerror(err), address, port);
    napi_value code, message, error;
    napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_throw(env, error);
    return NULL;
}

static napi_value undefined(napi_env env) {
    napi_value v;
    napi_get_undefined(env, &v);
    return v;
}

static napi_value number(napi_env env, double d) {
    napi_value v;
    napi_create_double(env, d, &v);
    return v;
}

static napi_value boolean(napi_env env, bool b) {
    napi_value v;
    napi_get_boolean(env, b, &v);
    return v;
}

/* Calls a JS callback from libuv: a top-level call, so Node runs
 * process.nextTick callbacks and microtasks after it. An exception that
 * escapes becomes an uncaught exception, as it would from any I/O callback. */
static void call_js(addon_server *as, napi_ref fn_ref, size_t argc, napi_value *argv) {
    napi_env env = as->env;
    napi_value fn, recv;
    napi_get_reference_value(env, fn_ref, &fn);
    napi_get_global(env, &recv); /* napi_make_callback wants an object */
    napi_status st = napi_make_callback(env, as->async_context, recv, fn, argc, argv, NULL);
    if (st == napi_pending_exception) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);
    } else if (st != napi_ok) {
        napi_fatal_error("node.websocket", NAPI_AUTO_LENGTH, "calling into JS failed", NAPI_AUTO_LENGTH);
    }
}

/* ---- hooks from the engine ------------------------------------------ */

static napi_value make_string(napi_env env, const char *p, size_t len) {
    napi_value v;
    napi_create_string_latin1(env, p, len, &v); /* header bytes are octets, as in Node's http */
    return v;
}

static void hook_upgrade(void *ctx, ws_conn *c, const ws_http_request *req, const ws_handshake *hs) {
    addon_server *as = ctx;
    napi_env env = as->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);

    napi_value headers;
    napi_create_array_with_length(env, req->num_headers * 2, &headers);
    char name[256];
    for (size_t i = 0; i < req->num_headers; i++) {
        const ws_http_header *h = &req->headers[i];
        size_t n = h->name_len < sizeof name ? h->name_len : sizeof name;
        for (size_t k = 0; k < n; k++) name[k] = (char)tolower((unsigned char)h->name[k]);
        napi_set_element(env, headers, (uint32_t)(2 * i), make_string(env, name, n));
        napi_set_element(env, headers, (uint32_t)(2 * i + 1), make_string(env, h->value, h->value_len));
    }
    char addr[64] = "";
    int port = 0;
    ws_conn_peer(c, addr, sizeof addr, &port);
    napi_value argv[7] = {
        number(env, c->slot),
        make_string(env, hs->path, hs->path_len),
        hs->query ? make_string(env, hs->query, hs->query_len) : undefined(env),
        headers,
        make_string(env, addr, strlen(addr)),
        number(env, port),
        number(env, (double)c->id),
    };
    call_js(as, as->on_upgrade, 7, argv);
    napi_close_handle_scope(env, scope);
}

static void free_events_buffer(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    free(data);
}

static void hook_flush(void *ctx, ws_events *events, size_t n) {
    addon_server *as = ctx;
    napi_env env = as->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value ab = undefined(env);
    if (events->data != as->events_data) {
        /* A new buffer: JS gets an ArrayBuffer over it, freed by GC once
         * neither C nor any message view uses it. */
        if (as->events_ab) napi_delete_reference(env, as->events_ab);
        as->events_ab = NULL;
        if (napi_create_external_arraybuffer(env, events->data, events->cap, free_events_buffer, NULL, &ab) !=
            napi_ok) {
            napi_close_handle_scope(env, scope);
            return;
        }
        napi_create_reference(env, ab, 1, &as->events_ab);
        as->events_data = events->data;
        events->shared = 1;
    }
    napi_value argv[2] = {ab, number(env, (double)n)};
    call_js(as, as->on_events, 2, argv);
    napi_close_handle_scope(env, scope);
}

static void hook_abandon(void *ctx, uint8_t *data) {
    addon_server *as = ctx;
    if (data == as->events_data) {
        napi_delete_reference(as->env, as->events_ab); /* GC frees it with the last view */
        as->events_ab = NULL;
        as->events_data = NULL;
    } else {
        free(data); /* JS never saw it */
    }
}

/* ---- helpers for calls from JS -------------------------------------- */

static addon_server *get_server(napi_env env, napi_value v) {
    addon_server *as = NULL;
    if (napi_get_value_external(env, v, (void **)&as) != napi_ok || !as || as->released) {
        napi_throw_error(env, "WS_ERR_SERVER_CLOSED", "the server is closed");
        return NULL;
    }
    return as;
}

static ws_conn *get_conn(napi_env env, addon_server *as, napi_value slot_v) {
    uint32_t slot;
    if (napi_get_value_uint32(env, slot_v, &slot) != napi_ok) return NULL;
    return ws_server_conn(as->srv, slot);
}

static double get_number(napi_env env, napi_value obj, const char *key, double fallback) {
    napi_value v;
    double d;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok) return fallback;
    if (napi_get_value_double(env, v, &d) != napi_ok) return fallback;
    return d;
}

/* A JS string as a malloc'd C string, or NULL when v is not a string. */
static char *get_string(napi_env env, napi_value v) {
    size_t len;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
    char *s = malloc(len + 1);
    if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
    return s;
}

static void finalize_server(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    addon_server *as = data;
    if (!as->released) {
        as->released = 1;
        ws_server_release(as->srv);
    }
    free(as);
}

/* ---- the functions JS calls ----------------------------------------- */

/* createServer(config, onUpgrade(slot, path, query, headers, address, port, id), onEvents(arrayBuffer, length)) */
static napi_value js_create_server(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    napi_value cfg_v = argv[0];
    ws_server_config cfg;
    memset(&cfg, 0, sizeof cfg);
    double max_payload = get_number(env, cfg_v, "maxPayload", 100.0 * 1024 * 1024);
    cfg.max_payload = max_payload > (double)UINT32_MAX ? UINT32_MAX : (uint64_t)max_payload;
    cfg.max_header_size = (uint32_t)get_number(env, cfg_v, "maxHeaderSize", 8192);
    cfg.max_connections = (uint32_t)get_number(env, cfg_v, "maxConnections", 100000);
    cfg.handshake_timeout_ms = (uint32_t)get_number(env, cfg_v, "handshakeTimeout", 10000);
    cfg.ping_interval_ms = (uint32_t)get_number(env, cfg_v, "pingInterval", 30000);
    cfg.idle_timeout_ms = (uint32_t)get_number(env, cfg_v, "idleTimeout", 120000);
    cfg.close_timeout_ms = (uint32_t)get_number(env, cfg_v, "closeTimeout", 5000);
    cfg.max_buffered = (uint64_t)get_number(env, cfg_v, "maxBufferedAmount", 16.0 * 1024 * 1024);
    cfg.high_water_mark = (uint64_t)get_number(env, cfg_v, "highWaterMark", 65536);
    cfg.backlog = (int)get_number(env, cfg_v, "backlog", 511);

    napi_value origins;
    bool is_array = false;
    if (napi_get_named_property(env, cfg_v, "origins", &origins) == napi_ok &&
        napi_is_array(env, origins, &is_array) == napi_ok && is_array) {
        uint32_t n;
        napi_get_array_length(env, origins, &n);
        cfg.origins = calloc(n ? n : 1, sizeof *cfg.origins);
        for (uint32_t i = 0; cfg.origins && i < n; i++) {
            napi_value o;
            napi_get_element(env, origins, i, &o);
            char *s = get_string(env, o);
            if (s) cfg.origins[cfg.n_origins++] = s;
        }
    }
    napi_value docroot;
    if (napi_get_named_property(env, cfg_v, "docroot", &docroot) == napi_ok) cfg.docroot = get_string(env, docroot);

    addon_server *as = calloc(1, sizeof *as);
    if (!as) {
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    as->env = env;
    CHECK(napi_create_reference(env, argv[1], 1, &as->on_upgrade));
    CHECK(napi_create_reference(env, argv[2], 1, &as->on_events));
    napi_value resource_name;
    napi_create_string_utf8(env, "node.websocket", NAPI_AUTO_LENGTH, &resource_name);
    CHECK(napi_async_init(env, NULL, resource_name, &as->async_context));

    uv_loop_t *loop;
    CHECK(napi_get_uv_event_loop(env, &loop));
    ws_server_hooks hooks = {as, hook_upgrade, hook_flush, hook_abandon};
    as->srv = ws_server_new(loop, &cfg, &hooks);
    if (!as->srv) {
        free(as);
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    napi_value handle;
    CHECK(napi_create_external(env, as, finalize_server, NULL, &handle));
    return handle;
}

/* listen(server, address, port, policy) -> bound port */
static napi_value js_listen(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    char address[128];
    size_t len;
    CHECK(napi_get_value_string_utf8(env, argv[1], address, sizeof address, &len));
    int32_t port;
    CHECK(napi_get_value_int32(env, argv[2], &port));
    bool policy = false;
    napi_get_value_bool(env, argv[3], &policy);
    int r = ws_server_listen(as->srv, address, port, policy ? WS_LISTENER_POLICY : WS_LISTENER_WEBSOCKET);
    if (r < 0) return throw_uv(env, r, "listen", address, port);
    return number(env, r);
}

/* accept(server, slot, protocol?) -> false when the client already left */
static napi_value js_accept(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_conn *c = get_conn(env, as, argv[1]);
    char protocol[513];
    size_t plen = 0;
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_string) CHECK(napi_get_value_string_utf8(env, argv[2], protocol, sizeof protocol, &plen));
    return boolean(env, c && ws_conn_accept(c, plen ? protocol : NULL, plen) == 0);
}

/* reject(server, slot, status, reason) */
static napi_value js_reject(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_conn *c = get_conn(env, as, argv[1]);
    int32_t status;
    CHECK(napi_get_value_int32(env, argv[2], &status));
    char reason[256];
    size_t len;
    CHECK(napi_get_value_string_utf8(env, argv[3], reason, sizeof reason, &len));
    for (size_t i = 0; i < len; i++) /* one line: no header injection */
        if (reason[i] == '\r' || reason[i] == '\n') reason[i] = ' ';
    return boolean(env, c && ws_conn_reject(c, status, reason) == 0);
}

/* Strings up to this many UTF-16 units are written straight into the write
 * queue with room for the worst case (3 bytes a unit); longer ones are
 * measured first so the reservation stays exact. */
#define WS_STRING_DIRECT_MAX 65536

/* send(server, slot, data) -> 1 sent, 0 sent but back off until drain, -1 not open */
static napi_value js_send(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_conn *c = get_conn(env, as, argv[1]);
    if (!c) return number(env, -1);
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    int r;
    if (t == napi_string) {
        size_t units, max, written;
        CHECK(napi_get_value_string_utf16(env, argv[2], NULL, 0, &units));
        if (units <= WS_STRING_DIRECT_MAX) max = units * 3;
        else CHECK(napi_get_value_string_utf8(env, argv[2], NULL, 0, &max));
        ws_reservation res;
        uint8_t *dst = ws_conn_send_reserve(c, max + 1, &res); /* +1: napi writes a NUL */
        if (!dst) return number(env, -1);
        CHECK(napi_get_value_string_utf8(env, argv[2], (char *)dst, max + 1, &written));
        r = ws_conn_send_commit(c, &res, WS_OP_TEXT, written);
    } else {
        void *data = NULL;
        size_t len = 0;
        bool is;
        if (napi_is_buffer(env, argv[2], &is) == napi_ok && is) {
            CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
        } else if (napi_is_typedarray(env, argv[2], &is) == napi_ok && is) {
            napi_typedarray_type type;
            size_t count, offset;
            napi_value ab;
            CHECK(napi_get_typedarray_info(env, argv[2], &type, &count, &data, &ab, &offset));
            static const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
            len = count * (type < sizeof sizes / sizeof sizes[0] ? sizes[type] : 1);
        } else if (napi_is_dataview(env, argv[2], &is) == napi_ok && is) {
            napi_value ab;
            size_t offset;
            CHECK(napi_get_dataview_info(env, argv[2], &len, &data, &ab, &offset));
        } else if (napi_is_arraybuffer(env, argv[2], &is) == napi_ok && is) {
            CHECK(napi_get_arraybuffer_info(env, argv[2], &data, &len));
        } else {
            napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE",
                                  "send() takes a string, a Buffer, a typed array, a DataView or an ArrayBuffer");
            return NULL;
        }
        r = ws_conn_send(c, WS_OP_BINARY, data, len);
    }
    return number(env, r);
}

/* ping(server, slot, buffer?) */
static napi_value js_ping(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_conn *c = get_conn(env, as, argv[1]);
    void *data = NULL;
    size_t len = 0;
    bool is = false;
    if (argc > 2 && napi_is_buffer(env, argv[2], &is) == napi_ok && is)
        CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
    return boolean(env, c && ws_conn_ping(c, data, len) == 0);
}

/* close(server, slot, code, reasonBuffer) */
static napi_value js_close(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_conn *c = get_conn(env, as, argv[1]);
    uint32_t code;
    CHECK(napi_get_value_uint32(env, argv[2], &code));
    void *reason = NULL;
    size_t len = 0;
    bool is = false;
    if (napi_is_buffer(env, argv[3], &is) == napi_ok && is) CHECK(napi_get_buffer_info(env, argv[3], &reason, &len));
    if (c) ws_conn_close(c, (uint16_t)code, reason, len, 0);
    return undefined(env);
}

/* terminate(server, slot): drop the TCP connection at once */
static napi_value js_terminate(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_conn *c = get_conn(env, as, argv[1]);
    if (c) ws_conn_abort(c);
    return undefined(env);
}

/* bufferedAmount(server, slot) */
static napi_value js_buffered(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_conn *c = get_conn(env, as, argv[1]);
    return number(env, c ? (double)ws_conn_buffered(c) : 0);
}

/* shutdown(server): stop listening, close everyone with 1001 */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    ws_server_shutdown(as->srv);
    return undefined(env);
}

/* release(server): drop whatever is left and free the engine */
static napi_value js_release(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    addon_server *as = get_server(env, argv[0]);
    if (!as) return NULL;
    as->released = 1;
    ws_server_release(as->srv);
    napi_delete_reference(env, as->on_upgrade);
    napi_delete_reference(env, as->on_events);
    if (as->events_ab) napi_delete_reference(env, as->events_ab);
    as->events_ab = NULL;
    napi_async_destroy(env, as->async_context);
    return undefined(env);
}

NAPI_MODULE_INIT() {
    static const struct {
        const char *name;
        napi_callback fn;
    } fns[] = {
        {"createServer", js_create_server}, {"listen", js_listen},   {"accept", js_accept},
        {"reject", js_reject},              {"send", js_send},       {"ping", js_ping},
        {"close", js_close},                {"terminate", js_terminate}, {"bufferedAmount", js_buffered},
        {"shutdown", js_shutdown},          {"release", js_release},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        napi_value f;
        if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
        if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
    }
    return exports;
}
