/* The bridge between the C engine and JS: the only file that speaks
 * Node-API. JS gets a handle per server and calls in for listen, the
 * upgrade decision, sends and closes; C calls JS once per upgrade request
 * and once per loop iteration with every event of that iteration. */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connection.h"
#include "gateway.h"
#include "server.h"
#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>

#include "redis.h"
#endif

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

/* Header names common in upgrade requests. In the headers string JS keeps
 * per connection, each is written as one character, its index + 1: a
 * control character, which no header name (a token) can contain. JS reads
 * the table as headerNames. */
static const char *const common_headers[] = {
    "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "origin", "user-agent", "pragma",
    "cache-control", "accept-encoding", "accept-language", "cookie", "authorization",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded",
    "accept", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest",
};
#define N_COMMON_HEADERS (sizeof common_headers / sizeof common_headers[0])

static int common_header(const char *name, size_t len) {
    for (size_t i = 0; i < N_COMMON_HEADERS; i++)
        if (strlen(common_headers[i]) == len && strncasecmp(common_headers[i], name, len) == 0) return (int)i;
    return -1;
}

/* The next connection id: 1, 2, 3... in one process; with workers, worker i
 * of N hands out i + 1, i + 1 + N, ... so ids stay unique across them (and
 * exact in a double far beyond any uptime). */
static double connection_id(ws_server *srv) {
    uint64_t k = srv->next_id++;
    return (double)(k * srv->cfg.id_stride + srv->cfg.id_offset + 1);
}

static void hook_upgrade(void *ctx, ws_conn *c, const ws_http_request *req, const ws_handshake *hs) {
    addon_server *as = ctx;
    napi_env env = as->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);

    /* The headers as one string, "name\0value\0name\0value\0" with names
     * lower-cased (or coded, see common_headers): one allocation for JS to
     * keep instead of two per header. */
    size_t total = 0;
    for (size_t i = 0; i < req->num_headers; i++) total += req->headers[i].name_len + req->headers[i].value_len + 2;
    char small[4096];
    char *flat = total <= sizeof small ? small : malloc(total);
    napi_value headers;
    if (!flat) {
        napi_get_undefined(env, &headers);
    } else {
        char *w = flat;
        for (size_t i = 0; i < req->num_headers; i++) {
            const ws_http_header *h = &req->headers[i];
            int common = common_header(h->name, h->name_len);
            if (common >= 0) *w++ = (char)(common + 1);
            else
                for (size_t k = 0; k < h->name_len; k++) *w++ = (char)tolower((unsigned char)h->name[k]);
            *w++ = 0;
            memcpy(w, h->value, h->value_len);
            w += h->value_len;
            *w++ = 0;
        }
        headers = make_string(env, flat, (size_t)(w - flat));
        if (flat != small) free(flat);
    }
    char addr[64] = "";
    int port = 0;
    ws_conn_peer(c, addr, sizeof addr, &port);
    napi_value socket_addr = undefined(env); /* the real peer, when a PROXY header named another */
    if (c->rare && c->rare->peer) {
        char real[64] = "";
        int real_port = 0;
        char *proxied = c->rare->peer;
        c->rare->peer = NULL;
        if (ws_conn_peer(c, real, sizeof real, &real_port) == 0) socket_addr = make_string(env, real, strlen(real));
        c->rare->peer = proxied;
    }
    /* An IPv4 address as its number (a small integer in JS, where a string
     * costs 32 bytes per connection); other addresses as text. */
    napi_value address;
    struct in_addr v4;
    if (inet_pton(AF_INET, addr, &v4) == 1) napi_create_int32(env, (int32_t)ntohl(v4.s_addr), &address);
    else address = make_string(env, addr, strlen(addr));
    napi_value argv[9] = {
        number(env, c->slot),
        make_string(env, hs->path, hs->path_len),
        hs->query ? make_string(env, hs->query, hs->query_len) : undefined(env),
        headers,
        address,
        number(env, port),
        number(env, connection_id(as->srv)), /* numbered here: the engine keeps no id per connection */
        socket_addr,
        hs->transport ? make_string(env, hs->transport, strlen(hs->transport)) : undefined(env), /* SockJS */
    };
    call_js(as, as->on_upgrade, 9, argv);
    napi_close_handle_scope(env, scope);
}

static void free_events_buffer(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    free(data);
}

static void free_block(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    ws_block_free(data);
}

typedef struct {
    napi_env env;
    napi_value array; /* NULL: could not be made; the buffers are freed */
    uint32_t n;
} owned_list;

/* A large message in its own block: a string (the block is freed now) or
 * a Buffer over it (freed by GC), in batch order. */
static void take_owned(void *ctx, uint8_t kind, uint8_t *data, size_t len) {
    owned_list *list = ctx;
    napi_value v = NULL;
    if (!list->array) {
        ws_block_free(data);
        return;
    }
    if (kind == WS_EVENT_TEXT) {
        if (napi_create_string_utf8(list->env, (const char *)data, len, &v) != napi_ok) v = NULL;
        ws_block_free(data);
    } else if (napi_create_external_buffer(list->env, len, data, free_block, NULL, &v) != napi_ok) {
        ws_block_free(data);
        v = NULL;
    }
    napi_set_element(list->env, list->array, list->n++, v ? v : undefined(list->env));
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
        if (events->has_binary) ws_events_fit(events);
        if (napi_create_external_arraybuffer(env, events->data, events->cap, free_events_buffer, NULL, &ab) !=
            napi_ok) {
            owned_list none = {env, NULL, 0};
            ws_events_each_owned(events, n, take_owned, &none); /* frees them */
            napi_close_handle_scope(env, scope);
            return;
        }
        napi_create_reference(env, ab, 1, &as->events_ab);
        as->events_data = events->data;
        events->shared = 1;
    }
    napi_value owned = undefined(env);
    if (events->owned) {
        owned_list list = {env, NULL, 0};
        if (napi_create_array(env, &list.array) != napi_ok) list.array = NULL;
        ws_events_each_owned(events, n, take_owned, &list);
        if (list.array) owned = list.array;
    }
    napi_value argv[3] = {ab, number(env, (double)n), owned};
    call_js(as, as->on_events, 3, argv);
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

/* The arguments of a call whose first argument is a server handle: the
 * server, or NULL with an exception pending. */
static addon_server *server_call(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
    if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) { /* fills missing ones with undefined */
        throw_last(env, "napi_get_cb_info");
        return NULL;
    }
    return get_server(env, argv[0]);
}

static ws_conn *get_conn(napi_env env, addon_server *as, napi_value slot_v) {
    uint32_t slot;
    if (napi_get_value_uint32(env, slot_v, &slot) != napi_ok) return NULL;
    return ws_server_conn(as->srv, slot);
}

/* The arguments of a call whose arguments start (server handle, slot): the
 * connection, or NULL when the slot holds none; *as is NULL with an
 * exception pending when the handle is bad. */
static ws_conn *conn_call(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, addon_server **as) {
    *as = server_call(env, info, argc, argv);
    return *as ? get_conn(env, *as, argv[1]) : NULL;
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


/* A JS array of strings as a malloc'd list (NULL-free), *n set; -1 when out of memory. */
static int string_list(napi_env env, napi_value obj, const char *key, char ***out, size_t *n) {
    napi_value v;
    bool is_array = false;
    *out = NULL;
    *n = 0;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_is_array(env, v, &is_array) != napi_ok ||
        !is_array)
        return 0;
    uint32_t len;
    napi_get_array_length(env, v, &len);
    *out = calloc(len ? len : 1, sizeof **out);
    if (!*out) return -1;
    for (uint32_t i = 0; i < len; i++) {
        napi_value e;
        napi_get_element(env, v, i, &e);
        char *s = get_string(env, e);
        if (s) (*out)[(*n)++] = s;
    }
    return 0;
}

static void free_strings(char **list, size_t n) {
    for (size_t i = 0; list && i < n; i++) free(list[i]);
    free(list);
}

/* cfg.gateway { services, allow, deny, framing, direct } (checked by JS) into *out; -1 with an exception pending. */
static int make_gateway(napi_env env, napi_value cfg_v, struct ws_gateway **out) {
    napi_value g;
    napi_valuetype t = napi_undefined;
    *out = NULL;
    if (napi_get_named_property(env, cfg_v, "gateway", &g) == napi_ok) napi_typeof(env, g, &t);
    if (t != napi_object) return 0;
    napi_value v;
    char *services = napi_get_named_property(env, g, "services", &v) == napi_ok ? get_string(env, v) : NULL;
    char *framing = napi_get_named_property(env, g, "framing", &v) == napi_ok ? get_string(env, v) : NULL;
    bool direct = false;
    if (napi_get_named_property(env, g, "direct", &v) == napi_ok) napi_get_value_bool(env, v, &direct);
    ws_gateway_config gc = {0};
    char **allow = NULL, **deny = NULL;
    int fr = framing ? ws_gwframe_parse_name(framing) : WS_GW_FRAMING_OUISTITI;
    char err[PATH_MAX + 200] = "";
    if (!services) snprintf(err, sizeof err, "gateway.services: a directory is required");
    else if (fr < 0) snprintf(err, sizeof err, "gateway.framing: '%s' is none of ouistiti, line, nul, length", framing);
    else if (string_list(env, g, "allow", &allow, &gc.n_allow) != 0 || string_list(env, g, "deny", &deny, &gc.n_deny) != 0)
        snprintf(err, sizeof err, "out of memory");
    if (!err[0]) {
        gc.services = services;
        gc.allow = allow;
        gc.deny = deny;
        gc.framing = (ws_gw_framing)fr;
        gc.direct = direct;
        *out = ws_gateway_new(&gc, err, sizeof err);
    }
    free(services);
    free(framing);
    free_strings(allow, gc.n_allow);
    free_strings(deny, gc.n_deny);
    if (*out) return 0;
    napi_throw_error(env, "WS_ERR_INVALID_OPTION", err);
    return -1;
}

/* ---- the functions JS calls ----------------------------------------- */

/* createServer(config, onUpgrade(slot, path, query, headers, address, port, id, socketAddress), onEvents(arrayBuffer, length));
 * address: an IPv4 address as a 32-bit integer, any other as text */
static int typeof_is(napi_env env, napi_value v, napi_valuetype want) {
    napi_valuetype t;
    return napi_typeof(env, v, &t) == napi_ok && t == want;
}

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
    cfg.max_backpressure = (uint64_t)get_number(env, cfg_v, "maxBackpressure", 1024.0 * 1024);
    cfg.backpressure_policy = (int)get_number(env, cfg_v, "backpressurePolicy", WS_BACKPRESSURE_DROP);
    cfg.proxy_protocol = get_number(env, cfg_v, "proxyProtocol", 0) != 0;
    cfg.legacy_drafts = get_number(env, cfg_v, "legacyDrafts", 0) != 0;
    cfg.id_stride = (uint32_t)get_number(env, cfg_v, "idStride", 1);
    if (cfg.id_stride < 1) cfg.id_stride = 1;
    cfg.id_offset = (uint32_t)get_number(env, cfg_v, "idOffset", 0) % cfg.id_stride;
    napi_value deflate;
    napi_valuetype deflate_type = napi_undefined;
    if (napi_get_named_property(env, cfg_v, "perMessageDeflate", &deflate) == napi_ok)
        napi_typeof(env, deflate, &deflate_type);
    if (deflate_type == napi_object) {
        cfg.deflate = 1;
        cfg.deflate_cfg.threshold = (uint32_t)get_number(env, deflate, "threshold", 1024);
        cfg.deflate_cfg.server_no_context_takeover = get_number(env, deflate, "serverNoContextTakeover", 0) != 0;
        cfg.deflate_cfg.client_no_context_takeover = get_number(env, deflate, "clientNoContextTakeover", 0) != 0;
        cfg.deflate_cfg.server_max_window_bits = (uint8_t)get_number(env, deflate, "serverMaxWindowBits", 15);
        cfg.deflate_cfg.client_max_window_bits = (uint8_t)get_number(env, deflate, "clientMaxWindowBits", 15);
        cfg.deflate_cfg.mem_level = (uint8_t)get_number(env, deflate, "memLevel", 8);
        cfg.deflate_cfg.level = (int8_t)get_number(env, deflate, "level", 6);
    }

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
    napi_value client_js;
    if (napi_get_named_property(env, cfg_v, "clientJs", &client_js) == napi_ok) cfg.client_js = get_string(env, client_js);
    napi_value sockjs;
    if (napi_get_named_property(env, cfg_v, "sockjs", &sockjs) == napi_ok && typeof_is(env, sockjs, napi_object)) {
        napi_value v;
        if (napi_get_named_property(env, sockjs, "prefix", &v) == napi_ok) cfg.sjs_prefix = get_string(env, v);
        if (napi_get_named_property(env, sockjs, "url", &v) == napi_ok) cfg.sjs_url = get_string(env, v);
        cfg.sjs_heartbeat_ms = (uint32_t)get_number(env, sockjs, "heartbeat", 25000);
        cfg.sjs_disconnect_ms = (uint32_t)get_number(env, sockjs, "disconnectDelay", 5000);
        cfg.sjs_response_limit = (uint32_t)get_number(env, sockjs, "responseLimit", 131072);
        cfg.sjs_websocket = get_number(env, sockjs, "websocket", 1) != 0;
        cfg.sjs_cookie_needed = get_number(env, sockjs, "cookieNeeded", 0) != 0;
    }
    if (make_gateway(env, cfg_v, &cfg.gateway) != 0) {
        for (size_t i = 0; i < cfg.n_origins; i++) free(cfg.origins[i]);
        free(cfg.origins);
        free(cfg.docroot);
        free(cfg.client_js);
        free(cfg.sjs_prefix);
        free(cfg.sjs_url);
        return NULL;
    }

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

/* listen(server, address, port, policy, reusePort) -> bound port */
static napi_value js_listen(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    char address[128];
    size_t len;
    CHECK(napi_get_value_string_utf8(env, argv[1], address, sizeof address, &len));
    int32_t port;
    CHECK(napi_get_value_int32(env, argv[2], &port));
    bool policy = false;
    napi_get_value_bool(env, argv[3], &policy);
    bool reuse_port = false;
    if (argc >= 5) napi_get_value_bool(env, argv[4], &reuse_port); /* undefined: leaves false */
    int r = ws_server_listen(as->srv, address, port, policy ? WS_LISTENER_POLICY : WS_LISTENER_WEBSOCKET, reuse_port);
    if (r < 0) return throw_uv(env, r, "listen", address, port);
    return number(env, r);
}

/* accept(server, slot, protocol?) -> the negotiated extensions ('' when none), or false when the client already left */
static napi_value js_accept(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    char protocol[513];
    size_t plen = 0;
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_string) CHECK(napi_get_value_string_utf8(env, argv[2], protocol, sizeof protocol, &plen));
    char extensions[512] = "";
    if (!c || ws_conn_accept(c, plen ? protocol : NULL, plen, extensions, sizeof extensions) != 0 ||
        c->state == WS_CONN_CLOSED)
        return boolean(env, false);
    napi_value ext;
    CHECK(napi_create_string_utf8(env, extensions, NAPI_AUTO_LENGTH, &ext));
    return ext;
}

/* The gateway target for (raw name, protocol header): 0, or -1 with an exception pending. */
static int gateway_target(napi_env env, addon_server *as, napi_value name_v, napi_value protocols_v, ws_gw_target *t) {
    ws_gateway *gw = as->srv->cfg.gateway;
    if (!gw) {
        napi_throw_error(env, "WS_ERR_NO_GATEWAY", "no gateway is configured");
        return -1;
    }
    char raw[1024], protocols[2048];
    size_t raw_len = 0, protocols_len = 0;
    napi_valuetype type;
    napi_typeof(env, name_v, &type);
    if (type != napi_string || napi_get_value_string_utf8(env, name_v, raw, sizeof raw, &raw_len) != napi_ok) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG", "gateway name must be a string");
        return -1;
    }
    if (raw_len >= sizeof raw - 1) raw_len = sizeof raw; /* too long for a name: refused by the decoder */
    napi_typeof(env, protocols_v, &type);
    if (type == napi_string) napi_get_value_string_utf8(env, protocols_v, protocols, sizeof protocols, &protocols_len);
    ws_gateway_resolve(gw, raw, raw_len > sizeof raw - 1 ? sizeof raw - 1 : raw_len, protocols_len ? protocols : NULL,
                       protocols_len, t);
    if (raw_len == sizeof raw && t->status == 0) { /* never reached: a name over 255 bytes is refused */
        t->status = 404;
        snprintf(t->reason, sizeof t->reason, "gateway: invalid service name");
    }
    return 0;
}

static napi_value refusal(napi_env env, const ws_gw_target *t) {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "status", number(env, t->status));
    napi_set_named_property(env, o, "reason", make_string(env, t->reason, strlen(t->reason)));
    return o;
}

/* gatewayResolve(server, rawName, protocolHeader?) -> { name, protocol } or { status, reason } */
static napi_value js_gateway_resolve(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    ws_gw_target *t = malloc(sizeof *t);
    if (!t) {
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    if (gateway_target(env, as, argv[1], argv[2], t) != 0) {
        free(t);
        return NULL;
    }
    napi_value o;
    if (t->status) {
        o = refusal(env, t);
    } else {
        napi_create_object(env, &o);
        napi_set_named_property(env, o, "name", make_string(env, t->name, strlen(t->name)));
        napi_set_named_property(env, o, "protocol", make_string(env, t->protocol, strlen(t->protocol)));
    }
    free(t);
    return o;
}

/* gatewayAccept(server, slot, rawName, protocolHeader, address, port, id) -> the negotiated extensions ('' when
 * none), { status, reason } when the backend could not be reached (the client was refused with it), or false
 * when the client already left. */
static napi_value js_gateway_accept(napi_env env, napi_callback_info info) {
    size_t argc = 7;
    napi_value argv[7];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    if (!c) return boolean(env, false);
    ws_gw_target *t = malloc(sizeof *t);
    if (!t) {
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    if (gateway_target(env, as, argv[2], argv[3], t) != 0) {
        free(t);
        return NULL;
    }
    napi_value result;
    if (!t->status && ws_conn_legacy(c)) { /* services speak RFC 6455 frames, which a legacy client cannot */
        t->status = 426;
        snprintf(t->reason, sizeof t->reason, "the gateway needs RFC 6455 (Sec-WebSocket-Version: 13)");
    }
    if (t->status) {
        result = ws_conn_reject(c, t->status, t->reason) == 0 ? refusal(env, t) : boolean(env, false);
        free(t);
        return result;
    }
    char address[64] = "";
    size_t alen;
    napi_valuetype type;
    napi_typeof(env, argv[4], &type);
    if (type == napi_string) napi_get_value_string_utf8(env, argv[4], address, sizeof address, &alen);
    int32_t port = 0;
    napi_get_value_int32(env, argv[5], &port);
    double id = 0;
    napi_get_value_double(env, argv[6], &id);
    char extensions[512] = "";
    int r = ws_gateway_open(as->srv->cfg.gateway, c, t, address, port, (uint64_t)id, extensions, sizeof extensions);
    if (r > 0) result = refusal(env, t);
    else if (r < 0 || c->state == WS_CONN_CLOSED) result = boolean(env, false);
    else napi_create_string_utf8(env, extensions, NAPI_AUTO_LENGTH, &result);
    free(t);
    return result;
}

/* reject(server, slot, status, reason) */
static napi_value js_reject(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    int32_t status;
    CHECK(napi_get_value_int32(env, argv[2], &status));
    char reason[256];
    size_t len;
    CHECK(napi_get_value_string_utf8(env, argv[3], reason, sizeof reason, &len));
    for (size_t i = 0; i < len; i++) /* one line: no header injection */
        if (reason[i] == '\r' || reason[i] == '\n') reason[i] = ' ';
    return boolean(env, c && ws_conn_reject(c, status, reason) == 0);
}

/* The bytes of a Buffer, typed array, DataView or ArrayBuffer; 0 when v is none of them. */
static int binary_of(napi_env env, napi_value v, void **data, size_t *len) {
    bool is = false;
    if (napi_is_buffer(env, v, &is) == napi_ok && is) return napi_get_buffer_info(env, v, data, len) == napi_ok;
    if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
        napi_typedarray_type type;
        size_t count, offset;
        napi_value ab;
        if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok) return 0;
        static const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
        *len = count * (type < sizeof sizes / sizeof sizes[0] ? sizes[type] : 1);
        return 1;
    }
    if (napi_is_dataview(env, v, &is) == napi_ok && is) {
        napi_value ab;
        size_t offset;
        return napi_get_dataview_info(env, v, len, data, &ab, &offset) == napi_ok;
    }
    if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) return napi_get_arraybuffer_info(env, v, data, len) == napi_ok;
    return 0;
}

/* Strings up to this many UTF-16 units are written straight into the write
 * queue with room for the worst case (3 bytes a unit); longer ones are
 * measured first so the reservation stays exact. */
#define WS_STRING_DIRECT_MAX 65536

/* send(server, slot, data) -> 1 sent, 0 sent but back off until drain, -1 not open */
static napi_value js_send(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
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
        if (!binary_of(env, argv[2], &data, &len)) {
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
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
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
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
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
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    if (c) ws_conn_abort(c);
    return undefined(env);
}

/* bufferedAmount(server, slot) */
static napi_value js_buffered(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    return number(env, c ? (double)ws_conn_buffered(c) : 0);
}

/* shutdown(server): stop listening, close everyone with 1001 */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    ws_server_shutdown(as->srv);
    return undefined(env);
}

/* release(server): drop whatever is left and free the engine */
static napi_value js_release(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    addon_server *as = server_call(env, info, &argc, argv);
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

/* ---- connections made elsewhere: adoption, streams, TLS --------------- */

/* adopt(server, fd, head) -> slot, or -1. fd >= 0: a TCP socket the engine
 * duplicates and owns from now on; fd < 0: a stream connection fed by feed(). */
static napi_value js_adopt(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    int32_t fd;
    CHECK(napi_get_value_int32(env, argv[1], &fd));
    void *head = NULL;
    size_t len = 0;
    if (!binary_of(env, argv[2], &head, &len)) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "adopt() takes the request head as a Buffer");
        return NULL;
    }
    ws_conn *c = ws_server_adopt(as->srv, fd, head, len);
    return number(env, c ? (double)c->slot : -1);
}

/* feed(server, slot, buffer): bytes from a stream connection's socket */
static napi_value js_feed(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    void *data = NULL;
    size_t len = 0;
    if (c && (c->flags & WS_CONN_F_STREAM) && binary_of(env, argv[2], &data, &len)) ws_conn_feed(c, data, len);
    return undefined(env);
}

/* feedEnd(server, slot): a stream connection's socket ended */
static napi_value js_feed_end(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    if (c && (c->flags & WS_CONN_F_STREAM)) ws_conn_feed_end(c);
    return undefined(env);
}

/* A PEM field of a certificate object: a Buffer, or absent. */
static void pem_of(napi_env env, napi_value obj, const char *key, const char **pem, size_t *len) {
    napi_value v;
    void *data = NULL;
    *pem = NULL;
    *len = 0;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok) return;
    if (binary_of(env, v, &data, len)) *pem = data;
}

static char *passphrase_of(napi_env env, napi_value obj) {
    napi_value v;
    napi_valuetype t;
    if (napi_get_named_property(env, obj, "passphrase", &v) != napi_ok) return NULL;
    napi_typeof(env, v, &t);
    return t == napi_string ? get_string(env, v) : NULL;
}

static void cert_of(napi_env env, napi_value obj, ws_tls_cert *cert, char **passphrase) {
    pem_of(env, obj, "cert", &cert->cert_pem, &cert->cert_len);
    pem_of(env, obj, "key", &cert->key_pem, &cert->key_len);
    pem_of(env, obj, "ca", &cert->ca_pem, &cert->ca_len);
    *passphrase = passphrase_of(env, obj);
    cert->passphrase = *passphrase;
}

/* setTls(server, { cert, key, ca?, passphrase?, minVersion, sni: [{ name, cert, key, passphrase? }] }):
 * builds the TLS context new connections get; throws WS_ERR_TLS with the reason. */
static napi_value js_set_tls(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    ws_tls_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char *passphrases[65] = {0};
    cert_of(env, argv[1], &cfg.main, &passphrases[0]);
    cfg.min_version = (int)get_number(env, argv[1], "minVersion", 0x0303);
    napi_value sni;
    bool is_array = false;
    uint32_t n = 0;
    if (napi_get_named_property(env, argv[1], "sni", &sni) == napi_ok && napi_is_array(env, sni, &is_array) == napi_ok &&
        is_array)
        napi_get_array_length(env, sni, &n);
    if (n > 64) n = 64;
    const char *names[64];
    char *name_storage[64] = {0};
    ws_tls_cert certs[64];
    memset(certs, 0, sizeof certs);
    for (uint32_t i = 0; i < n; i++) {
        napi_value e, name_v;
        napi_get_element(env, sni, i, &e);
        napi_get_named_property(env, e, "name", &name_v);
        name_storage[i] = get_string(env, name_v);
        names[i] = name_storage[i] ? name_storage[i] : "";
        cert_of(env, e, &certs[i], &passphrases[i + 1]);
    }
    cfg.sni_names = names;
    cfg.sni_certs = certs;
    cfg.n_sni = n;
    char err[512] = "";
    ws_tls_ctx *ctx = ws_tls_ctx_new(&cfg, err, sizeof err);
    for (uint32_t i = 0; i < n; i++) free(name_storage[i]);
    for (size_t i = 0; i < sizeof passphrases / sizeof passphrases[0]; i++) free(passphrases[i]);
    if (!ctx) {
        napi_throw_error(env, "WS_ERR_TLS", err[0] ? err : "TLS setup failed");
        return NULL;
    }
    ws_server_set_tls(as->srv, ctx);
    return undefined(env);
}

/* ---- subscriptions -------------------------------------------------- */

/* Bytes of a JS string (UTF-8) in buf when they fit, else in a malloc'd
 * copy; *heap tells the caller to free it. NULL when v is not a string. */
static char *utf8_of(napi_env env, napi_value v, char *buf, size_t cap, size_t *len, int *heap) {
    *heap = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, len) != napi_ok) return NULL;
    if (*len < cap) {
        napi_get_value_string_utf8(env, v, buf, cap, len);
        return buf;
    }
    char *p = malloc(*len + 1);
    if (!p) return NULL;
    napi_get_value_string_utf8(env, v, p, *len + 1, len);
    *heap = 1;
    return p;
}

#define WS_NAME_MAX 4096

static napi_value subscription_call(napi_env env, napi_callback_info info, int subscribe) {
    size_t argc = 4;
    napi_value argv[4];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    char name[WS_NAME_MAX];
    size_t len;
    if (napi_get_value_string_utf8(env, argv[2], name, sizeof name, &len) != napi_ok || len >= sizeof name - 1) {
        napi_throw_range_error(env, "WS_ERR_INVALID_SUBSCRIPTION", "a subscription name is a string of at most 4094 bytes");
        return NULL;
    }
    if (!c || c->state >= WS_CONN_LINGER) return boolean(env, false);
    int r = subscribe ? ws_pubsub_subscribe(as->srv, c, name, len) : ws_pubsub_unsubscribe(as->srv, c, name, len);
    double last = -1; /* subscribe(..., lastSeq): a resuming client, replayed what it missed */
    if (r == 1 && subscribe && argc > 3 && napi_get_value_double(env, argv[3], &last) == napi_ok && last >= 0 &&
        ws_pubsub_replay(as->srv, c, name, len, (uint64_t)last) == -2)
        r = -1;
    if (r < 0) {
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    return boolean(env, r == 1);
}

/* subscribe(server, slot, name) -> true when newly subscribed */
static napi_value js_subscribe(napi_env env, napi_callback_info info) {
    return subscription_call(env, info, 1);
}

/* unsubscribe(server, slot, name) -> true when it was subscribed */
static napi_value js_unsubscribe(napi_env env, napi_callback_info info) {
    return subscription_call(env, info, 0);
}

/* subscriptions(server, slot) -> names */
static napi_value js_subscriptions(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    napi_value out;
    CHECK(napi_create_array(env, &out));
    for (uint16_t i = 0; c && c->subs && i < c->subs->n; i++) {
        const ws_topic *t = c->subs->items[i].topic;
        napi_value s;
        CHECK(napi_create_string_utf8(env, t->name, t->name_len, &s));
        CHECK(napi_set_element(env, out, i, s));
    }
    return out;
}

static ws_topic *topic_arg(napi_env env, addon_server *as, napi_value v) {
    char name[WS_NAME_MAX];
    size_t len;
    if (napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok) return NULL;
    return ws_pubsub_find(&as->srv->pubsub, name, len);
}

/* stats(server, name) -> [subscribers, dropped, policy] or null */
static napi_value js_stats(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    ws_topic *t = topic_arg(env, as, argv[1]);
    if (!t) {
        napi_value n;
        napi_get_null(env, &n);
        return n;
    }
    napi_value out;
    CHECK(napi_create_array_with_length(env, 3, &out));
    napi_set_element(env, out, 0, number(env, t->n_subs));
    napi_set_element(env, out, 1, number(env, (double)t->dropped));
    napi_set_element(env, out, 2, number(env, t->policy));
    return out;
}

/* setPolicy(server, name, policy) */
static napi_value js_set_policy(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    char name[WS_NAME_MAX];
    size_t len;
    int32_t policy;
    CHECK(napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len));
    CHECK(napi_get_value_int32(env, argv[2], &policy));
    if (ws_pubsub_set_policy(as->srv, name, len, policy) != 0) napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
    return undefined(env);
}

/* setHistory(server, name, messages, bytes, ms, base): messages 0 stops keeping one */
static napi_value js_set_history(napi_env env, napi_callback_info info) {
    size_t argc = 6;
    napi_value argv[6];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    char name[WS_NAME_MAX];
    size_t len;
    double messages, bytes, ms, base;
    CHECK(napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len));
    CHECK(napi_get_value_double(env, argv[2], &messages));
    CHECK(napi_get_value_double(env, argv[3], &bytes));
    CHECK(napi_get_value_double(env, argv[4], &ms));
    CHECK(napi_get_value_double(env, argv[5], &base));
    if (ws_pubsub_set_history(as->srv, name, len, (uint32_t)messages, (uint64_t)bytes, (uint64_t)ms,
                              (uint64_t)base) != 0)
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
    return undefined(env);
}

/* resumable(server, slot): multicasts reach the connection in the resume envelope */
static napi_value js_resumable(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    ws_conn_rare *r = c && !ws_conn_legacy(c) ? ws_conn_rare_fields(c) : NULL;
    if (r) r->resume = 1;
    return boolean(env, r != NULL);
}

/* dropped(server, slot) */
static napi_value js_dropped(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as;
    ws_conn *c = conn_call(env, info, &argc, argv, &as);
    if (!as) return NULL;
    return number(env, c && c->rare ? c->rare->dropped : 0);
}

static void mark_excluded(napi_env env, addon_server *as, napi_value slots, uint32_t n, int on) {
    for (uint32_t i = 0; i < n; i++) {
        napi_value sv;
        napi_get_element(env, slots, i, &sv);
        ws_conn *c = get_conn(env, as, sv);
        if (!c) continue;
        if (on) c->flags |= WS_CONN_F_EXCLUDED;
        else c->flags &= (uint16_t)~WS_CONN_F_EXCLUDED;
    }
}

/* multicast(server, name, data, binary, excludeSlots?) -> recipients */
static napi_value js_multicast(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    char name[WS_NAME_MAX];
    size_t name_len;
    CHECK(napi_get_value_string_utf8(env, argv[1], name, sizeof name, &name_len));
    bool binary = false;
    napi_get_value_bool(env, argv[3], &binary);

    char small[4096];
    void *data = NULL;
    size_t len = 0;
    int heap = 0;
    int opcode = WS_OP_BINARY;
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t == napi_string) {
        data = utf8_of(env, argv[2], small, sizeof small, &len, &heap);
        if (!data) {
            napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
            return NULL;
        }
        if (!binary) opcode = WS_OP_TEXT;
    } else if (!binary_of(env, argv[2], &data, &len)) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE",
                              "multicast() takes a string, a Buffer, a typed array, a DataView or an ArrayBuffer");
        return NULL;
    }

    /* Mark the excluded connections for the walk, then unmark them. */
    bool is_array = false;
    uint32_t n_exclude = 0;
    if (argc > 4 && napi_is_array(env, argv[4], &is_array) == napi_ok && is_array)
        napi_get_array_length(env, argv[4], &n_exclude);
    mark_excluded(env, as, argv[4], n_exclude, 1);
    long r = ws_pubsub_multicast(as->srv, name, name_len, opcode, data, len);
    mark_excluded(env, as, argv[4], n_exclude, 0);
    if (heap) free(data);
    if (r < 0) {
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    return number(env, (double)r);
}

/* subscribers(server, name) -> count */
static napi_value js_subscribers(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    ws_topic *t = topic_arg(env, as, argv[1]);
    return number(env, t ? t->n_subs : 0);
}

/* ---- metrics -------------------------------------------------------- */

/* readStats(server, Float64Array) -> fields written: the engine's counters
 * and gauges copied into JS's own array, so a scrape makes no JS objects.
 * The layout is statNames, then one entry per HTTP status from statusMin. */
static napi_value js_read_stats(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_server *as = server_call(env, info, &argc, argv);
    if (!as) return NULL;
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_float64_array) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "readStats() takes a Float64Array");
        return NULL;
    }
    size_t n = length < WS_STAT_N ? length : WS_STAT_N;
    ws_server_stats_read(as->srv, data, n);
    return number(env, (double)n);
}

/* ---- single frames, as NaviServer's ws::build_msg / decode_msg -------- */

/* buildMessage(payload, opcode, fin, maskBuffer|undefined) -> Buffer */
static napi_value js_build_message(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    char small[4096];
    void *data = NULL;
    size_t len = 0;
    int heap = 0;
    napi_valuetype t;
    napi_typeof(env, argv[0], &t);
    int ok;
    if (t == napi_string) {
        data = utf8_of(env, argv[0], small, sizeof small, &len, &heap);
        ok = data != NULL;
    } else {
        ok = binary_of(env, argv[0], &data, &len); /* an empty buffer has a NULL data pointer */
    }
    if (!ok) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "buildMessage() takes a string or binary data");
        return NULL;
    }
    int32_t opcode;
    bool fin;
    CHECK(napi_get_value_int32(env, argv[1], &opcode));
    CHECK(napi_get_value_bool(env, argv[2], &fin));
    void *mask = NULL;
    size_t mask_len = 0;
    bool is = false;
    if (napi_is_buffer(env, argv[3], &is) == napi_ok && is) CHECK(napi_get_buffer_info(env, argv[3], &mask, &mask_len));
    if (mask && mask_len != 4) mask = NULL;
    size_t h = ws_frame_header_size(len, mask != NULL);
    void *out;
    napi_value result;
    if (napi_create_buffer(env, h + len, &out, &result) != napi_ok) {
        if (heap) free(data);
        return throw_last(env, "napi_create_buffer");
    }
    ws_frame_header(out, fin, 0, opcode, len, mask);
    if (len) memcpy((uint8_t *)out + h, data, len);
    if (mask) ws_mask((uint8_t *)out + h, len, mask, 0);
    if (heap) free(data);
    return result;
}

/* decodeMessage(buffer) -> [fin, opcode, payloadBuffer, bytesUsed] or null */
static napi_value js_decode_message(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    void *data;
    size_t len;
    if (!binary_of(env, argv[0], &data, &len)) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "decodeMessage() takes a Buffer or a Uint8Array");
        return NULL;
    }
    /* Decode a copy: the caller's buffer is not unmasked behind its back. */
    void *copy;
    napi_value copy_v;
    CHECK(napi_create_buffer_copy(env, len, data, &copy, &copy_v));
    int fin, rsv, opcode;
    uint8_t *payload;
    uint64_t payload_len;
    ssize_t used = ws_frame_decode(copy, len, &fin, &rsv, &opcode, &payload, &payload_len);
    if (used < 0) {
        napi_throw_error(env, "WS_ERR_INVALID_FRAME", "malformed frame header");
        return NULL;
    }
    if (used == 0) {
        napi_value n;
        napi_get_null(env, &n);
        return n;
    }
    napi_value out;
    CHECK(napi_create_array_with_length(env, 5, &out));
    napi_set_element(env, out, 0, boolean(env, fin));
    napi_set_element(env, out, 1, number(env, opcode));
    napi_set_element(env, out, 2, number(env, (double)(payload - (uint8_t *)copy)));
    napi_set_element(env, out, 3, number(env, (double)payload_len));
    napi_set_element(env, out, 4, copy_v);
    (void)rsv;
    return out;
}

/* ---- Redis (native/redis.c), when built with hiredis ------------------ */

#ifdef HAVE_HIREDIS
/* The JS side of one Redis connection: its events go to one JS function,
 * onEvent(kind, a, b):
 *   1 up       (ok, error text)
 *   2 down     (error text; '' after disconnect())
 *   3 reply    (tag, value: string, number, null, array, or an Error)
 *   4 message  (channel, payload Buffer) on a subscribed connection */
typedef struct {
    napi_env env;
    ws_redis *r;
    napi_ref on_event;
    napi_async_context async_context;
} addon_redis;

enum { REDIS_EV_UP = 1, REDIS_EV_DOWN = 2, REDIS_EV_REPLY = 3, REDIS_EV_MESSAGE = 4 };

static void redis_call_js(addon_redis *ar, size_t argc, napi_value *argv) {
    napi_env env = ar->env;
    napi_value fn, recv;
    napi_get_reference_value(env, ar->on_event, &fn);
    napi_get_global(env, &recv);
    napi_status st = napi_make_callback(env, ar->async_context, recv, fn, argc, argv, NULL);
    if (st == napi_pending_exception) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);
    }
}

static napi_value redis_error(napi_env env, const char *code, const char *text, size_t len) {
    napi_value c, m, e;
    napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
    napi_create_string_utf8(env, text, len, &m);
    napi_create_error(env, c, m, &e);
    return e;
}

/* A reply as a JS value; hiredis bounds its nesting (7 levels). */
static napi_value redis_value(napi_env env, const redisReply *rep) {
    napi_value v;
    switch (rep->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        napi_create_string_utf8(env, rep->str, rep->len, &v);
        return v;
    case REDIS_REPLY_INTEGER:
        return number(env, (double)rep->integer);
    case REDIS_REPLY_ERROR:
        return redis_error(env, "WS_ERR_REDIS", rep->str, rep->len);
    case REDIS_REPLY_ARRAY:
        napi_create_array_with_length(env, rep->elements, &v);
        for (size_t i = 0; i < rep->elements; i++) napi_set_element(env, v, (uint32_t)i, redis_value(env, rep->element[i]));
        return v;
    default:
        napi_get_null(env, &v);
        return v;
    }
}

static void redis_hook_up(void *ctx, int ok, const char *err) {
    addon_redis *ar = ctx;
    napi_handle_scope scope;
    napi_open_handle_scope(ar->env, &scope);
    napi_value argv[3] = {number(ar->env, REDIS_EV_UP), boolean(ar->env, ok), NULL};
    napi_create_string_utf8(ar->env, err, NAPI_AUTO_LENGTH, &argv[2]);
    redis_call_js(ar, 3, argv);
    napi_close_handle_scope(ar->env, scope);
}

static void redis_hook_down(void *ctx, const char *err) {
    addon_redis *ar = ctx;
    napi_handle_scope scope;
    napi_open_handle_scope(ar->env, &scope);
    napi_value argv[2] = {number(ar->env, REDIS_EV_DOWN), NULL};
    napi_create_string_utf8(ar->env, err, NAPI_AUTO_LENGTH, &argv[1]);
    redis_call_js(ar, 2, argv);
    napi_close_handle_scope(ar->env, scope);
}

static void redis_hook_reply(void *ctx, uint32_t tag, const redisReply *reply) {
    addon_redis *ar = ctx;
    napi_env env = ar->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    static const char lost[] = "the connection to Redis was lost before the reply";
    napi_value argv[3] = {number(env, REDIS_EV_REPLY), number(env, tag),
                          reply ? redis_value(env, reply) : redis_error(env, "WS_ERR_REDIS_LOST", lost, sizeof lost - 1)};
    redis_call_js(ar, 3, argv);
    napi_close_handle_scope(env, scope);
}

static void redis_hook_message(void *ctx, const char *channel, size_t channel_len, const char *payload,
                               size_t payload_len) {
    addon_redis *ar = ctx;
    napi_env env = ar->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[3] = {number(env, REDIS_EV_MESSAGE), NULL, NULL};
    void *copy;
    napi_create_string_utf8(env, channel, channel_len, &argv[1]);
    if (napi_create_buffer_copy(env, payload_len, payload, &copy, &argv[2]) == napi_ok) redis_call_js(ar, 3, argv);
    napi_close_handle_scope(env, scope);
}

/* The environment ends (a worker thread's, or the process): close the
 * connection while the loop still exists. */
static void redis_teardown(void *arg) {
    addon_redis *ar = arg;
    if (ar->r) ws_redis_free(ar->r);
    ar->r = NULL;
}

static void finalize_redis(napi_env env, void *data, void *hint) {
    (void)hint;
    addon_redis *ar = data;
    napi_remove_env_cleanup_hook(env, redis_teardown, ar);
    redis_teardown(ar);
    napi_delete_reference(env, ar->on_event);
    napi_async_destroy(env, ar->async_context);
    free(ar);
}

static addon_redis *redis_call(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
    if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) return NULL;
    addon_redis *ar = NULL;
    if (*argc < 1 || napi_get_value_external(env, argv[0], (void **)&ar) != napi_ok || !ar) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "not a Redis handle");
        return NULL;
    }
    if (!ar->r) {
        napi_throw_error(env, "WS_ERR_REDIS_CLOSED", "this Redis handle was freed");
        return NULL;
    }
    return ar;
}

/* redisCreate(onEvent) -> handle */
static napi_value js_redis_create(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    uv_loop_t *loop;
    CHECK(napi_get_uv_event_loop(env, &loop));
    addon_redis *ar = calloc(1, sizeof *ar);
    if (!ar) {
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    ar->env = env;
    ws_redis_hooks hooks = {ar, redis_hook_up, redis_hook_down, redis_hook_reply, redis_hook_message};
    ar->r = ws_redis_new(loop, &hooks);
    if (!ar->r) {
        free(ar);
        napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
        return NULL;
    }
    napi_value name, handle;
    napi_create_string_utf8(env, "node.websocket.redis", NAPI_AUTO_LENGTH, &name);
    if (napi_create_reference(env, argv[0], 1, &ar->on_event) != napi_ok ||
        napi_async_init(env, NULL, name, &ar->async_context) != napi_ok ||
        napi_create_external(env, ar, finalize_redis, NULL, &handle) != napi_ok) {
        ws_redis_free(ar->r);
        free(ar);
        return throw_last(env, "redisCreate");
    }
    napi_add_env_cleanup_hook(env, redis_teardown, ar);
    return handle;
}

/* redisConnect(handle, ip, port) or redisConnect(handle, socketPath); throws when it fails at once */
static napi_value js_redis_connect(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_redis *ar = redis_call(env, info, &argc, argv);
    if (!ar) return NULL;
    char where[4096], err[256] = "";
    size_t len;
    if (argc < 2 || napi_get_value_string_utf8(env, argv[1], where, sizeof where, &len) != napi_ok ||
        len >= sizeof where - 1) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "redisConnect() takes an address or a socket path");
        return NULL;
    }
    int32_t port = -1;
    if (argc > 2) napi_get_value_int32(env, argv[2], &port);
    int r = port >= 0 ? ws_redis_connect_tcp(ar->r, where, port, err, sizeof err)
                      : ws_redis_connect_unix(ar->r, where, err, sizeof err);
    if (r < 0) {
        napi_throw_error(env, "WS_ERR_REDIS", err[0] ? err : ws_redis_strerror(r));
        return NULL;
    }
    return undefined(env);
}

/* redisCommand(handle, tag, parts) -> false when not connected; parts are strings or Buffers */
static napi_value js_redis_command(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_redis *ar = redis_call(env, info, &argc, argv);
    if (!ar) return NULL;
    uint32_t tag = 0, n = 0;
    bool is_array = false;
    napi_get_value_uint32(env, argv[1], &tag);
    if (argc < 3 || napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array ||
        napi_get_array_length(env, argv[2], &n) != napi_ok || n == 0 || n > 1048576) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "a Redis command is an array of 1 to 1048576 parts");
        return NULL;
    }
    /* Strings are copied into one block; Buffers are read in place. */
    const char **parts = calloc(n, sizeof *parts);
    size_t *lens = calloc(n, sizeof *lens);
    uint8_t *is_string = calloc(n, 1);
    napi_value *values = calloc(n, sizeof *values);
    char *block = NULL;
    napi_value result = NULL;
    if (!parts || !lens || !is_string || !values) goto nomem;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        napi_get_element(env, argv[2], i, &values[i]);
        napi_valuetype t;
        napi_typeof(env, values[i], &t);
        if (t == napi_string) {
            napi_get_value_string_utf8(env, values[i], NULL, 0, &lens[i]);
            is_string[i] = 1;
            total += lens[i] + 1;
        } else {
            void *data;
            if (!binary_of(env, values[i], &data, &lens[i])) {
                napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "a Redis command part is a string or a Buffer");
                goto out;
            }
            parts[i] = data ? data : "";
        }
    }
    block = malloc(total ? total : 1);
    if (!block) goto nomem;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!is_string[i]) continue;
        napi_get_value_string_utf8(env, values[i], block + off, lens[i] + 1, &lens[i]);
        parts[i] = block + off;
        off += lens[i] + 1;
    }
    int r = ws_redis_command(ar->r, tag, (int)n, parts, lens);
    if (r == WS_REDIS_E_NOMEM) goto nomem;
    result = boolean(env, r == WS_REDIS_OK);
    goto out;
nomem:
    napi_throw_error(env, "WS_ERR_NO_MEMORY", "out of memory");
out:
    free(parts);
    free(lens);
    free(is_string);
    free(values);
    free(block);
    return result;
}

/* redisSubscribe(handle, channel, on) -> false when not connected */
static napi_value js_redis_subscribe(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    addon_redis *ar = redis_call(env, info, &argc, argv);
    if (!ar) return NULL;
    char small[4096];
    size_t len;
    int heap;
    char *channel = argc > 1 ? utf8_of(env, argv[1], small, sizeof small, &len, &heap) : NULL;
    if (!channel) {
        napi_throw_type_error(env, "WS_ERR_INVALID_ARG_TYPE", "a Redis channel is a string");
        return NULL;
    }
    bool on = true;
    if (argc > 2) napi_get_value_bool(env, argv[2], &on);
    int r = ws_redis_subscribe(ar->r, channel, len, on);
    if (heap) free(channel);
    return boolean(env, r == WS_REDIS_OK);
}

/* redisDisconnect(handle, now?): after the pending replies, and 'down' follows if it was up;
 * with now, at once and with no event (the pending replies are never reported) */
static napi_value js_redis_disconnect(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    addon_redis *ar = redis_call(env, info, &argc, argv);
    if (!ar) return NULL;
    bool now = false;
    if (argc > 1) napi_get_value_bool(env, argv[1], &now);
    ws_redis_disconnect(ar->r, now);
    return undefined(env);
}

/* redisFree(handle): at once, no event follows */
static napi_value js_redis_free(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    addon_redis *ar = redis_call(env, info, &argc, argv);
    if (!ar) return NULL;
    redis_teardown(ar);
    return undefined(env);
}
#endif

/* The environment ends with its thread (a worker's): the pools go with it. */
static void release_pools(void *arg) {
    (void)arg;
    ws_conn_pools_release();
    ws_buffer_pools_release();
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
        {"subscribe", js_subscribe},        {"unsubscribe", js_unsubscribe},
        {"subscriptions", js_subscriptions}, {"subscribers", js_subscribers},
        {"multicast", js_multicast},        {"stats", js_stats},
        {"setHistory", js_set_history},     {"resumable", js_resumable},
        {"setPolicy", js_set_policy},       {"dropped", js_dropped},
        {"buildMessage", js_build_message}, {"decodeMessage", js_decode_message},
        {"adopt", js_adopt},                {"feed", js_feed},
        {"feedEnd", js_feed_end},           {"setTls", js_set_tls},
        {"gatewayResolve", js_gateway_resolve}, {"gatewayAccept", js_gateway_accept},
        {"readStats", js_read_stats},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        napi_value f;
        if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
        if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
    }
#ifdef HAVE_HIREDIS
    static const struct {
        const char *name;
        napi_callback fn;
    } redis_fns[] = {
        {"redisCreate", js_redis_create},       {"redisConnect", js_redis_connect},
        {"redisCommand", js_redis_command},     {"redisSubscribe", js_redis_subscribe},
        {"redisDisconnect", js_redis_disconnect}, {"redisFree", js_redis_free},
    };
    for (size_t i = 0; i < sizeof redis_fns / sizeof redis_fns[0]; i++) {
        napi_value f;
        if (napi_create_function(env, redis_fns[i].name, NAPI_AUTO_LENGTH, redis_fns[i].fn, NULL, &f) != napi_ok) return NULL;
        if (napi_set_named_property(env, exports, redis_fns[i].name, f) != napi_ok) return NULL;
    }
    napi_value have_redis = boolean(env, true);
#else
    napi_value have_redis = boolean(env, false);
#endif
    if (napi_set_named_property(env, exports, "redisAvailable", have_redis) != napi_ok) return NULL;
    napi_value names;
    if (napi_create_array_with_length(env, N_COMMON_HEADERS, &names) != napi_ok) return NULL;
    for (uint32_t i = 0; i < N_COMMON_HEADERS; i++) {
        napi_value name;
        if (napi_create_string_latin1(env, common_headers[i], NAPI_AUTO_LENGTH, &name) != napi_ok ||
            napi_set_element(env, names, i, name) != napi_ok)
            return NULL;
    }
    if (napi_set_named_property(env, exports, "headerNames", names) != napi_ok) return NULL;
    napi_value stat_names, stats_layout;
    if (napi_create_array_with_length(env, WS_STAT_N_FIXED, &stat_names) != napi_ok) return NULL;
    for (uint32_t i = 0; i < WS_STAT_N_FIXED; i++) {
        napi_value name;
        if (napi_create_string_latin1(env, ws_stat_names[i], NAPI_AUTO_LENGTH, &name) != napi_ok ||
            napi_set_element(env, stat_names, i, name) != napi_ok)
            return NULL;
    }
    if (napi_create_object(env, &stats_layout) != napi_ok ||
        napi_set_named_property(env, stats_layout, "names", stat_names) != napi_ok ||
        napi_set_named_property(env, stats_layout, "statusMin", number(env, WS_STATS_STATUS_MIN)) != napi_ok ||
        napi_set_named_property(env, stats_layout, "length", number(env, WS_STAT_N)) != napi_ok ||
        napi_set_named_property(env, exports, "statsLayout", stats_layout) != napi_ok)
        return NULL;
    if (napi_add_env_cleanup_hook(env, release_pools, NULL) != napi_ok) return NULL;
    return exports;
}
