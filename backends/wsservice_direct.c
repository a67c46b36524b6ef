/* Direct mode: the service speaks RFC 6455 (server side) itself on the
 * client socket the gateway passed, with the project's codec
 * (native/frame.c): frames unmasked and checked as they are parsed, text
 * checked as UTF-8 (1007), messages over the limit refused from their header
 * (1009), pings answered, the close handshake echoed, protocol errors
 * closed with 1002. The bytes the gateway had read after the request
 * (the record's pending bytes) are parsed before the socket is read. */
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "wsservice_int.h"

/* A control frame, unmasked, queued whole. */
static int send_control(wss_client *c, int opcode, const uint8_t *payload, size_t len) {
    uint8_t hdr[WS_MAX_HEADER];
    size_t h = ws_frame_header(hdr, 1, 0, opcode, len, NULL);
    return wss_queue(c, hdr, h, payload, len, NULL, 0);
}

void wss_direct_close(wss_client *c, uint16_t code, const char *reason) {
    if (c->close_sent || c->dead) return;
    uint8_t p[WS_MAX_CONTROL];
    size_t n = 0;
    if (code != 0 && code != WS_CLOSE_NO_STATUS) {
        if (!ws_close_code_valid(code)) code = WS_CLOSE_NORMAL;
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t r = reason ? strlen(reason) : 0;
        if (r > WS_MAX_CONTROL - 2) r = WS_MAX_CONTROL - 2;
        /* cut at a character boundary, so the reason stays UTF-8 */
        while (r > 0 && !ws_utf8_is_valid((const uint8_t *)reason, r)) r--;
        memcpy(p + 2, reason, r);
        n += r;
    }
    c->close_sent = 1;
    send_control(c, WS_OP_CLOSE, p, n);
    wss_begin_close(c);
}

void wss_direct_start(wss_client *c, const wss_handoff *h, int refuse) {
    uint64_t max = c->s->cfg.max_message;
    if (h->max_payload && (max == 0 || h->max_payload < max)) max = h->max_payload;
    ws_parser_init(&c->parser, max, 1);
    c->parser_ready = 1;
    if (refuse) {
        wss_direct_close(c, 1013, "too many clients");
        return;
    }
    c->open = 1;
    c->s->nopen++;
    if (c->s->h.on_open) c->s->h.on_open(c, c->s->user);
    if (h->pending_len && !c->closing && !c->dead)
        wss_direct_input(c, (uint8_t *)(uintptr_t)h->pending, h->pending_len);
}

static int append_msg(wss_client *c, const uint8_t *p, size_t n) {
    if (c->msg_len + n > c->msg_cap) {
        size_t cap = c->msg_cap ? c->msg_cap : 4096;
        while (cap < c->msg_len + n) cap *= 2;
        uint8_t *m = realloc(c->msg, cap);
        if (m == NULL) return -1;
        c->msg = m;
        c->msg_cap = cap;
    }
    memcpy(c->msg + c->msg_len, p, n);
    c->msg_len += n;
    return 0;
}

void wss_direct_input(wss_client *c, uint8_t *buf, size_t len) {
    size_t off = 0;
    for (;;) {
        if (c->dead || c->closing) return; /* after a close: the rest is discarded */
        ws_event ev;
        ssize_t n = ws_parser_next(&c->parser, buf + off, len - off, &ev);
        if (n < 0) {
            wss_direct_close(c, c->parser.close_code, c->parser.errstr);
            return;
        }
        off += (size_t)n;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
            return;
        case WS_EV_DATA:
            if (ev.first && ev.last && c->msg_len == 0) {
                c->whole = ev.data; /* still valid at the MESSAGE event, which consumes nothing */
                c->whole_len = ev.len;
            } else if (append_msg(c, ev.data, ev.len) != 0) {
                wss_direct_close(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
                return;
            }
            break;
        case WS_EV_MESSAGE:
            if (c->whole) {
                const uint8_t *d = c->whole;
                c->whole = NULL;
                wss_deliver(c, ev.opcode, d, c->whole_len);
            } else {
                wss_deliver(c, ev.opcode, c->msg ? c->msg : (const uint8_t *)"", c->msg_len);
                c->msg_len = 0;
                /* a big message's buffer is not kept for the next */
                if (c->msg_cap > 1u << 20) {
                    free(c->msg);
                    c->msg = NULL;
                    c->msg_cap = 0;
                }
            }
            break;
        case WS_EV_PING:
            send_control(c, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_PONG:
            break;
        case WS_EV_CLOSE: {
            /* echo the code (none when the peer sent none) */
            char reason[WS_MAX_CONTROL + 1];
            size_t r = ev.len < WS_MAX_CONTROL ? ev.len : WS_MAX_CONTROL;
            if (r) memcpy(reason, ev.data, r);
            reason[r] = '\0';
            wss_direct_close(c, ev.close_code, reason);
            return;
        }
        }
    }
}

int wss_direct_send(wss_client *c, int opcode, const void *data, size_t len) {
    uint8_t hdr[WS_MAX_HEADER];
    size_t h = ws_frame_header(hdr, 1, 0, opcode, len, NULL);
    return wss_queue(c, hdr, h, data, len, NULL, 0);
}

void wss_direct_free(wss_client *c) {
    if (c->parser_ready) ws_parser_free(&c->parser);
    c->parser_ready = 0;
    free(c->msg);
    c->msg = NULL;
    c->msg_len = c->msg_cap = 0;
}
