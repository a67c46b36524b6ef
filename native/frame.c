/* RFC 6455 frame codec. The receive side is an explicit state machine in the
 * manner of wslay: a run of `if (state == X)` blocks that each consume what
 * they can and fall through to the next state, or return "need more". */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

/* Parser states (p->state). */
enum {
    RECV_HEADER = 0, /* accumulating the frame header into p->hdr */
    RECV_PAYLOAD,    /* data frame payload: handed out in place as DATA events */
    RECV_CONTROL,    /* control frame payload: gathered into p->ctrl */
    RECV_MESSAGE,    /* the final DATA chunk was handed out: MESSAGE is due */
    RECV_ERROR,      /* dead: every call returns the error again */
};

#define WS_FIN 0x80
#define WS_MASK_BIT 0x80
#define WS_RSV_ALL (WS_RSV1 | WS_RSV2 | WS_RSV3)

void ws_parser_init(ws_parser *p, uint64_t max_payload, int expect_masked) {
    memset(p, 0, sizeof(*p));
    p->max_payload = max_payload;
    p->expect_masked = expect_masked ? 1 : 0;
    p->state = RECV_HEADER;
    p->utf8 = WS_UTF8_ACCEPT;
}

void ws_parser_free(ws_parser *p) {
    free(p->ctrl);
    p->ctrl = NULL;
}

int ws_parser_at_rest(const ws_parser *p) {
    return p->state == RECV_HEADER && p->hdr_len == 0 && p->msg_opcode == 0;
}

static ssize_t parser_fail(ws_parser *p, ssize_t err, const char *errstr) {
    p->state = RECV_ERROR;
    p->errstr = errstr;
    p->close_code = err == WS_ERR_INVALID_UTF8 ? WS_CLOSE_INVALID_DATA
                    : err == WS_ERR_TOO_BIG    ? WS_CLOSE_TOO_BIG
                    : err == WS_ERR_NO_MEMORY  ? WS_CLOSE_INTERNAL_ERROR
                                               : WS_CLOSE_PROTOCOL_ERROR;
    return err;
}

static ssize_t parser_error_again(const ws_parser *p) {
    switch (p->close_code) {
    case WS_CLOSE_INVALID_DATA: return WS_ERR_INVALID_UTF8;
    case WS_CLOSE_TOO_BIG: return WS_ERR_TOO_BIG;
    case WS_CLOSE_INTERNAL_ERROR: return WS_ERR_NO_MEMORY;
    default: return WS_ERR_PROTOCOL;
    }
}

static int opcode_is_control(unsigned op) {
    return op >= WS_OP_CLOSE;
}

/* Validates text unless the message is compressed (RSV1): the caller checks
 * the inflated text itself. */
static int message_needs_utf8(const ws_parser *p) {
    return p->msg_opcode == WS_OP_TEXT && !(p->msg_rsv & WS_RSV1);
}

static void message_reset(ws_parser *p) {
    p->msg_opcode = 0;
    p->msg_rsv = 0;
    p->msg_started = 0;
    p->msg_len = 0;
    p->utf8 = WS_UTF8_ACCEPT;
}

/* Checks the first header byte as soon as it arrives. */
static ssize_t check_byte0(ws_parser *p, uint8_t b0) {
    unsigned op = b0 & 0x0F, rsv = b0 & WS_RSV_ALL;

    if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
        op != WS_OP_PING && op != WS_OP_PONG)
        return parser_fail(p, WS_ERR_PROTOCOL, "unknown opcode");
    /* RSV bits an extension allows are legal on a message's first frame only. */
    if (rsv && (op == WS_OP_CONTINUATION || opcode_is_control(op) || (rsv & ~p->allowed_rsv)))
        return parser_fail(p, WS_ERR_PROTOCOL, "reserved bits set");
    if (opcode_is_control(op)) {
        if (!(b0 & WS_FIN)) return parser_fail(p, WS_ERR_PROTOCOL, "fragmented control frame");
    } else if (op == WS_OP_CONTINUATION) {
        if (!p->msg_opcode) return parser_fail(p, WS_ERR_PROTOCOL, "unexpected continuation frame");
    } else if (p->msg_opcode) {
        return parser_fail(p, WS_ERR_PROTOCOL, "expected continuation frame");
    }
    return 0;
}

/* Checks the second header byte as soon as it arrives. */
static ssize_t check_byte1(ws_parser *p, uint8_t b0, uint8_t b1) {
    int masked = (b1 & WS_MASK_BIT) != 0;

    if (masked != (p->expect_masked != 0))
        return parser_fail(p, WS_ERR_PROTOCOL,
                           masked ? "masked server frame" : "unmasked client frame");
    if (opcode_is_control(b0 & 0x0F) && (b1 & 0x7F) > WS_MAX_CONTROL)
        return parser_fail(p, WS_ERR_PROTOCOL, "control frame too long");
    return 0;
}

/* Header length announced by the first two bytes. */
static size_t header_size(uint8_t b1) {
    unsigned len7 = b1 & 0x7F;
    return 2u + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) + ((b1 & WS_MASK_BIT) ? 4u : 0u);
}

/* Reads the payload length from a complete header. Non-minimal encodings
 * (say, 5 in the 16-bit form) are accepted for data frames: RFC 6455 5.2
 * binds senders to the minimal form but does not require receivers to fail
 * the connection, and the length itself is unambiguous. Control frames are
 * the exception, refused as soon as their 7-bit length says 126 or 127
 * (as ws does), since their payload must fit in 125 bytes. Returns -1 for a 64-bit length with
 * the most significant bit set. */
static int header_payload_len(const uint8_t *hdr, uint64_t *out, size_t *mask_at) {
    unsigned len7 = hdr[1] & 0x7F;
    if (len7 < 126) {
        *out = len7;
        *mask_at = 2;
    } else if (len7 == 126) {
        *out = (uint64_t)hdr[2] << 8 | hdr[3];
        *mask_at = 4;
    } else {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | hdr[2 + i];
        if (v >> 63) return -1;
        *out = v;
        *mask_at = 10;
    }
    return 0;
}

static void emit(ws_event *ev, ws_event_type type) {
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
}

static ssize_t emit_message(ws_parser *p, ws_event *ev, size_t consumed) {
    emit(ev, WS_EV_MESSAGE);
    ev->opcode = p->msg_opcode;
    ev->rsv = p->msg_rsv;
    ev->len = (size_t)p->msg_len;
    message_reset(p);
    p->state = RECV_HEADER;
    return (ssize_t)consumed;
}

/* A complete, unmasked control payload: check it and hand it out. */
static ssize_t emit_control(ws_parser *p, ws_event *ev, size_t consumed, const uint8_t *payload, size_t len) {
    uint8_t op = p->opcode;
    p->state = RECV_HEADER;
    if (op == WS_OP_CLOSE) {
        unsigned code = WS_CLOSE_NO_STATUS;
        if (len == 1) return parser_fail(p, WS_ERR_PROTOCOL, "invalid close frame payload");
        if (len >= 2) {
            code = (unsigned)payload[0] << 8 | payload[1];
            if (!ws_close_code_valid(code)) return parser_fail(p, WS_ERR_PROTOCOL, "invalid close code");
            if (!ws_utf8_is_valid(payload + 2, len - 2u))
                return parser_fail(p, WS_ERR_INVALID_UTF8, "invalid UTF-8 in close reason");
        }
        emit(ev, WS_EV_CLOSE);
        ev->close_code = (uint16_t)code;
        ev->data = payload + (len >= 2 ? 2 : 0);
        ev->len = len >= 2 ? len - 2u : 0;
        return (ssize_t)consumed;
    }
    emit(ev, op == WS_OP_PING ? WS_EV_PING : WS_EV_PONG);
    ev->data = payload;
    ev->len = len;
    return (ssize_t)consumed;
}

uint64_t ws_parser_payload_left(const ws_parser *p) {
    return p->state == RECV_PAYLOAD ? p->remaining : 0;
}

ssize_t ws_parser_next(ws_parser *p, uint8_t *buf, size_t len, ws_event *ev) {
    size_t pos = 0;

    if (p->state == RECV_ERROR) return parser_error_again(p);
    if (p->state == RECV_MESSAGE) return emit_message(p, ev, 0);

    for (;;) {
        if (p->state == RECV_HEADER) {
            size_t need, mask_at;
            uint64_t plen;

            if (p->hdr_len < 2) {
                while (p->hdr_len < 2 && pos < len) {
                    uint8_t b = buf[pos++];
                    p->hdr[p->hdr_len++] = b;
                    ssize_t rc = p->hdr_len == 1 ? check_byte0(p, b) : check_byte1(p, p->hdr[0], b);
                    if (rc < 0) return rc;
                }
                if (p->hdr_len < 2) break;
            }
            need = header_size(p->hdr[1]);
            if (p->hdr_len < need) {
                size_t n = need - p->hdr_len;
                if (n > len - pos) n = len - pos;
                if (n) memcpy(p->hdr + p->hdr_len, buf + pos, n);
                p->hdr_len = (uint8_t)(p->hdr_len + n);
                pos += n;
                if (p->hdr_len < need) break;
            }

            /* The header is complete. */
            if (header_payload_len(p->hdr, &plen, &mask_at) < 0)
                return parser_fail(p, WS_ERR_PROTOCOL, "invalid frame length");
            p->fin = (p->hdr[0] & WS_FIN) != 0;
            p->opcode = p->hdr[0] & 0x0F;
            p->frame_rsv = p->hdr[0] & WS_RSV_ALL;
            p->masked = (p->hdr[1] & WS_MASK_BIT) != 0;
            if (p->masked) memcpy(p->mask, p->hdr + mask_at, 4);
            p->mask_pos = 0;
            p->remaining = plen;
            p->hdr_len = 0;

            if (opcode_is_control(p->opcode)) {
                p->ctrl_len = 0;
                if (plen == 0) return emit_control(p, ev, pos, buf + pos, 0);
                p->state = RECV_CONTROL;
                continue;
            }

            /* A data frame: text, binary or continuation. The size limit is
             * checked now, before any of the payload is read (and written
             * so that the subtraction cannot wrap, even if max_payload was
             * lowered in the middle of a message). */
            if (p->max_payload && (p->msg_len > p->max_payload || plen > p->max_payload - p->msg_len))
                return parser_fail(p, WS_ERR_TOO_BIG, "message exceeds maxPayload");
            if (p->opcode != WS_OP_CONTINUATION) {
                p->msg_opcode = p->opcode;
                p->msg_rsv = p->frame_rsv;
                p->msg_started = 0;
                p->msg_len = 0;
                p->utf8 = WS_UTF8_ACCEPT;
            }
            if (plen == 0) {
                if (!p->fin) continue; /* an empty fragment: nothing to report */
                if (message_needs_utf8(p) && p->utf8 != WS_UTF8_ACCEPT)
                    return parser_fail(p, WS_ERR_INVALID_UTF8, "invalid UTF-8 in text message");
                return emit_message(p, ev, pos);
            }
            p->state = RECV_PAYLOAD;
        }

        if (p->state == RECV_PAYLOAD) {
            size_t n = len - pos;
            uint8_t *chunk;

            if (n == 0) break;
            chunk = buf + pos;
            if (n > p->remaining) n = (size_t)p->remaining;
            if (p->masked) {
                ws_mask(chunk, n, p->mask, p->mask_pos);
                p->mask_pos = (uint8_t)((p->mask_pos + n) & 3);
            }
            pos += n;
            p->remaining -= n;
            p->msg_len += n;
            if (message_needs_utf8(p)) {
                p->utf8 = ws_utf8_validate(p->utf8, chunk, n);
                if (p->utf8 == WS_UTF8_REJECT ||
                    (p->remaining == 0 && p->fin && p->utf8 != WS_UTF8_ACCEPT))
                    return parser_fail(p, WS_ERR_INVALID_UTF8, "invalid UTF-8 in text message");
            }
            emit(ev, WS_EV_DATA);
            ev->opcode = p->msg_opcode;
            ev->rsv = p->msg_rsv;
            ev->first = !p->msg_started;
            ev->data = chunk;
            ev->len = n;
            p->msg_started = 1;
            if (p->remaining == 0) {
                if (p->fin) {
                    ev->last = 1;
                    p->state = RECV_MESSAGE;
                } else {
                    p->state = RECV_HEADER;
                }
            }
            return (ssize_t)pos;
        }

        if (p->state == RECV_CONTROL) {
            size_t n = len - pos;

            if (n == 0) break;
            if (n > p->remaining) n = (size_t)p->remaining;
            if (p->ctrl_len == 0 && n == p->remaining) { /* whole: no copy, unmask in place */
                uint8_t *payload = buf + pos;
                if (p->masked) ws_mask(payload, n, p->mask, 0);
                p->remaining = 0;
                pos += n;
                return emit_control(p, ev, pos, payload, n);
            }
            if (!p->ctrl && !(p->ctrl = malloc(WS_MAX_CONTROL)))
                return parser_fail(p, WS_ERR_NO_MEMORY, "out of memory");
            memcpy(p->ctrl + p->ctrl_len, buf + pos, n);
            if (p->masked) ws_mask(p->ctrl + p->ctrl_len, n, p->mask, p->ctrl_len & 3u);
            p->ctrl_len = (uint8_t)(p->ctrl_len + n);
            p->remaining -= n;
            pos += n;
            if (p->remaining) break;
            return emit_control(p, ev, pos, p->ctrl, p->ctrl_len);
        }
    }

    emit(ev, WS_EV_NEED_MORE);
    return (ssize_t)pos;
}

size_t ws_frame_header_size(uint64_t payload_len, int masked) {
    size_t n = payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10;
    return n + (masked ? 4 : 0);
}

size_t ws_frame_header(uint8_t *out, int fin, int rsv, int opcode, uint64_t payload_len,
                       const uint8_t mask[4]) {
    size_t n = 2;
    uint8_t mbit = mask ? WS_MASK_BIT : 0;

    out[0] = (uint8_t)((fin ? WS_FIN : 0) | (rsv & WS_RSV_ALL) | (opcode & 0x0F));
    if (payload_len < 126) {
        out[1] = (uint8_t)(mbit | payload_len);
    } else if (payload_len <= 0xFFFF) {
        out[1] = mbit | 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        n = 4;
    } else {
        out[1] = mbit | 127;
        for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t offset) {
    uint8_t m[12];
    uint64_t w;
    size_t i = 0;

    offset &= 3;
    /* Long buffers: a byte loop up to an 8-byte boundary first, so the word
     * loop works on aligned memory (for short ones this costs more than it
     * saves; memcpy keeps unaligned words well defined either way). */
    if (len >= 256) {
        size_t head = (size_t)(-(uintptr_t)buf & 7u);
        for (; i < head; i++) buf[i] ^= mask[(offset + i) & 3];
        buf += head;
        len -= head;
        offset = (offset + head) & 3;
        i = 0;
    }
    /* The key three times over: 8 bytes read from m + offset are the key
     * rotated to this offset and repeated, in memory order on any machine. */
    memcpy(m, mask, 4);
    memcpy(m + 4, mask, 4);
    memcpy(m + 8, mask, 4);
    memcpy(&w, m + offset, 8);
    for (; len - i >= 32; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, buf + i, 8);
        memcpy(&b, buf + i + 8, 8);
        memcpy(&c, buf + i + 16, 8);
        memcpy(&d, buf + i + 24, 8);
        a ^= w;
        b ^= w;
        c ^= w;
        d ^= w;
        memcpy(buf + i, &a, 8);
        memcpy(buf + i + 8, &b, 8);
        memcpy(buf + i + 16, &c, 8);
        memcpy(buf + i + 24, &d, 8);
    }
    for (; len - i >= 8; i += 8) {
        uint64_t a;
        memcpy(&a, buf + i, 8);
        a ^= w;
        memcpy(buf + i, &a, 8);
    }
    /* Tail: i is a multiple of 8 here, so byte i takes key byte offset + i % 4. */
    for (; i < len; i++) buf[i] ^= m[offset + (i & 3)];
}

int ws_close_code_valid(unsigned code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

ssize_t ws_frame_decode(uint8_t *buf, size_t len, int *fin, int *rsv, int *opcode,
                        uint8_t **payload, uint64_t *payload_len) {
    size_t hsize, mask_at;
    uint64_t plen;

    if (len < 2) return 0;
    /* As in the parser, a control frame must use the 7-bit length form. */
    if (opcode_is_control(buf[0] & 0x0F) && (buf[1] & 0x7F) > WS_MAX_CONTROL) return WS_ERR_PROTOCOL;
    hsize = header_size(buf[1]);
    if (len < hsize) return 0;
    if (header_payload_len(buf, &plen, &mask_at) < 0) return WS_ERR_PROTOCOL;
    if (plen > len - hsize) return 0;

    *fin = (buf[0] & WS_FIN) != 0;
    *rsv = buf[0] & WS_RSV_ALL;
    *opcode = buf[0] & 0x0F;
    *payload = buf + hsize;
    *payload_len = plen;
    if (buf[1] & WS_MASK_BIT) ws_mask(buf + hsize, (size_t)plen, buf + mask_at, 0);
    return (ssize_t)(hsize + plen);
}
