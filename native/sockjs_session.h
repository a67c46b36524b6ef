/* SockJS sessions on the loop: the HTTP transports of sockjs.c carried by
 * the engine's connections. A session is a connection JS knows like any
 * other (a slot, send, close, subscribe, backpressure), with no socket of
 * its own: what JS queues on it waits in its write queue (bounded like any
 * queue) until a receiving request (xhr, xhr_streaming, eventsource,
 * htmlfile, jsonp) takes it as SockJS frames. A session with no receiver for
 * sjs_disconnect_ms ends; heartbeats go out every sjs_heartbeat_ms. */
#ifndef WS_SOCKJS_SESSION_H
#define WS_SOCKJS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "handshake.h"
#include "http.h"
#include "server.h"

enum {
    WS_SJS_ROLE_NONE = 0,
    WS_SJS_ROLE_SESSION,   /* the session's connection (no socket) */
    WS_SJS_ROLE_RECEIVER,  /* an HTTP request taking the session's frames */
    WS_SJS_ROLE_WEBSOCKET, /* /<server>/<session>/websocket: SockJS frames over WebSocket */
    WS_SJS_ROLE_PROBE,     /* /info, iframe.html or the greeting, waiting for JS to find its resource */
};

typedef struct ws_sjs_session ws_sjs_session;
typedef struct ws_sjs_table ws_sjs_table;

/* A request head under the SockJS prefix (srv->cfg.sjs_prefix). Returns 0
 * when it is not a SockJS URL, or is one of its WebSocket URLs (hs then
 * names the resource and the transport, and the upgrade goes on as usual);
 * 1 when it was answered here or is kept (a session's receiver, or a send
 * whose body is still to come). head_len: bytes of the head in c->in. */
int ws_sjs_request(ws_conn *c, const ws_http_request *req, ws_handshake *hs, size_t head_len);

/* The session connection's side of the engine's calls. */
int ws_sjs_accept(ws_conn *session);
int ws_sjs_reject(ws_conn *session, int status, const char *reason);
/* A probe's verdict: status 0 sends the answer it keeps, else status and reason. */
int ws_sjs_probe_answer(ws_conn *c, int status, const char *reason);
void ws_sjs_close(ws_conn *session, uint16_t code, const char *reason, size_t len);
void ws_sjs_flush(ws_conn *session);
/* Deadlines of a session or a receiver. */
void ws_sjs_sweep(ws_conn *c, uint32_t now);
/* A session or a receiver connection ends. */
void ws_sjs_conn_gone(ws_conn *c);

/* Frees sessions that ended more than sjs_disconnect_ms ago. */
void ws_sjs_table_sweep(ws_server *srv, uint32_t now);
void ws_sjs_table_free(ws_server *srv);

#endif
