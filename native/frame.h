/* RFC 6455 frame codec: an incremental parser and a builder. Pure functions
 * over byte buffers, no I/O. The parser is safe on any split of its input
 * and any byte value; between calls it keeps at most one partial header (14
 * bytes) and one partial control payload: the 125 bytes for that are
 * allocated the first time a control frame arrives split across calls (a
 * parser that never sees one never allocates), and ws_parser_free releases
 * them. */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "utf8.h"

#define WS_MAX_HEADER 14      /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_MAX_CONTROL 125

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

#define WS_RSV1 0x40
#define WS_RSV2 0x20
#define WS_RSV3 0x10

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,     /* never sent: "the close frame had no code" */
    WS_CLOSE_ABNORMAL = 1006,      /* never sent: "the TCP connection dropped" */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL_ERROR = 1011,
};

/* Parser errors, negative and grouped by kind (as in wslay). The parser is
 * dead after returning one; p->close_code and p->errstr say what to answer. */
enum ws_parse_error {
    WS_ERR_PROTOCOL = -200,     /* -> close 1002 */
    WS_ERR_INVALID_UTF8 = -201, /* -> close 1007 */
    WS_ERR_TOO_BIG = -202,      /* -> close 1009 */
    WS_ERR_NO_MEMORY = -500,    /* -> close 1011 */
};

typedef enum {
    WS_EV_NEED_MORE = 0, /* all input consumed, no event completed */
    WS_EV_DATA,          /* a chunk (len > 0) of the current data message */
    WS_EV_MESSAGE,       /* the current data message is complete */
    WS_EV_PING,          /* data/len: the ping payload (<= 125 bytes); see ws_event.data */
    WS_EV_PONG,          /* data/len: the pong payload (<= 125 bytes) */
    WS_EV_CLOSE,         /* close_code (1005 when absent), data/len: the reason */
} ws_event_type;

typedef struct {
    ws_event_type type;
    uint8_t opcode;      /* DATA, MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
    uint8_t first;       /* DATA: first chunk of this message */
    uint8_t last;        /* DATA: the message completes with this chunk (a MESSAGE event follows next) */
    uint8_t rsv;         /* DATA, MESSAGE: RSV bits of the message's first frame (0 unless allowed_rsv) */
    uint16_t close_code; /* CLOSE */
    const uint8_t *data; /* DATA: points into the caller's buffer, already unmasked in place.
                            PING/PONG/CLOSE: into the caller's buffer (unmasked in place) when the
                            frame came whole, else into the parser; valid until the next call. */
    size_t len;          /* DATA, PING, PONG, CLOSE: bytes at data; MESSAGE: the message's total
                            payload length (data is NULL) */
} ws_event;

typedef struct {
    /* Configuration: set by ws_parser_init, may be changed between calls. */
    uint64_t max_payload;  /* max size of one message, summed over its fragments; 0 = no limit */
    uint8_t expect_masked; /* 1 on a server (client frames must be masked), 0 on a client */
    uint8_t allowed_rsv;   /* RSV bits a negotiated extension allows on a message's first
                              frame (WS_RSV1 for permessage-deflate); 0 = none */

    /* Set when a call returns an error. */
    uint16_t close_code;
    const char *errstr; /* one line, static storage, fit for a close reason */

    /* Private state. */
    uint8_t state;
    uint8_t hdr[WS_MAX_HEADER];
    uint8_t hdr_len;
    uint8_t fin, opcode, frame_rsv, masked;
    uint8_t mask[4];
    uint8_t mask_pos;
    uint64_t remaining;     /* payload bytes left in the current frame */
    uint8_t msg_opcode;     /* opcode of the data message in progress, 0 = none */
    uint8_t msg_rsv;
    uint8_t msg_started;    /* a DATA event with first=1 was already emitted */
    uint64_t msg_len;       /* payload bytes of the message so far */
    ws_utf8_state utf8;
    uint8_t *ctrl;         /* a control payload split across calls; NULL until one is */
    uint8_t ctrl_len;
} ws_parser;

/* Prepares a parser. expect_masked: 1 for a server, 0 for a client. A
 * parser that was used must be released with ws_parser_free first. */
void ws_parser_init(ws_parser *p, uint64_t max_payload, int expect_masked);

/* Releases what the parser allocated (see above); it may then be initialized again. */
void ws_parser_free(ws_parser *p);

/* 1 when the parser is between frames with no message in progress: a
 * freshly initialized one (same configuration) would go on the same way.
 * Lets a caller keep no parser state at all between frames. */
int ws_parser_at_rest(const ws_parser *p);

/* Consumes bytes of buf[0..len) up to and including the next event and
 * returns how many it consumed (0..len), with *ev filled in. When it
 * returns len with ev->type == WS_EV_NEED_MORE, everything was consumed and
 * no event completed. After a DATA event with last = 1, the next call
 * returns the MESSAGE event and consumes nothing, even when len is 0. On a
 * violation it returns a negative enum ws_parse_error and sets
 * p->close_code and p->errstr.
 *
 * Payload bytes are unmasked in place, so buf must be writable. A DATA
 * event's data points into buf; the caller copies it before reusing buf.
 *
 * Checks, each where the field is read: RSV bits not allowed -> 1002;
 * unknown opcode -> 1002; masking not as expected -> 1002; a control frame
 * longer than 125 (or in the 16/64-bit length form) or fragmented -> 1002;
 * a continuation with no message in progress, or a new data frame while one
 * is in progress -> 1002; a 64-bit length with the top bit set -> 1002; a
 * message over max_payload -> 1009 (checked from the header, before the
 * payload arrives); text that is not UTF-8 -> 1007 on the first bad chunk
 * (skipped for messages whose RSV1 is set: compressed text is validated by
 * the caller after inflating); a close payload of 1 byte, an invalid close
 * code -> 1002, a close reason that is not UTF-8 -> 1007. Data frame
 * lengths in a longer form than needed are accepted. Messages and their
 * events are never reordered. */
ssize_t ws_parser_next(ws_parser *p, uint8_t *buf, size_t len, ws_event *ev);

/* Payload bytes still to come in the data frame being read; 0 between
 * frames and in control frames. A caller may read that many straight into
 * the place the message is reassembled and pass them from there. */
uint64_t ws_parser_payload_left(const ws_parser *p);

/* Writes a frame header into out (room for WS_MAX_HEADER bytes) and returns
 * its length. rsv is a mask of WS_RSV*; mask NULL sends unmasked. */
size_t ws_frame_header(uint8_t *out, int fin, int rsv, int opcode, uint64_t payload_len,
                       const uint8_t mask[4]);

/* Length of the header ws_frame_header would write. */
size_t ws_frame_header_size(uint64_t payload_len, int masked);

/* XORs buf with the 4-byte mask, starting at position offset (0..3) of the
 * mask; a machine word at a time. Used for masking and unmasking. */
void ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t offset);

/* 1 when code may appear in a close frame on the wire (RFC 6455 7.4):
 * 1000-1003, 1007-1014, 3000-4999. */
int ws_close_code_valid(unsigned code);

/* Whole-frame decoding for the JS helper decodeMessage: parses one frame at
 * the start of buf without validating UTF-8 or masking direction. Returns
 * bytes used (header + payload), 0 when buf holds less than one frame, or
 * WS_ERR_PROTOCOL for a malformed header. On success *fin, *rsv, *opcode,
 * *payload, *payload_len are set; a masked payload is unmasked in place. */
ssize_t ws_frame_decode(uint8_t *buf, size_t len, int *fin, int *rsv, int *opcode,
                        uint8_t **payload, uint64_t *payload_len);

#endif
