/* The legacy drafts hixie-75 and hixie-76 (what browsers spoke before RFC
 * 6455, and node.websocket.js itself): the 76 key challenge, the 101
 * answers, and the 0x00 <UTF-8> 0xFF framing. Pure functions, no I/O. */
#ifndef WS_HIXIE_H
#define WS_HIXIE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"

#define WS_HIXIE_BODY_LEN 8    /* the 76 client's challenge after its head */
#define WS_HIXIE_ANSWER_LEN 16 /* the MD5 the server sends after its head */

/* Which draft a request speaks, once RFC 6455's checks found it has no
 * Sec-WebSocket-Version: 76 (Sec-WebSocket-Key1 and -Key2, once each, both
 * valid), 75 (neither, and no Sec-WebSocket-Key), 0 (neither draft:
 * answer 426), or -1 (a 76 request with a missing, repeated or invalid key:
 * answer 400). */
int ws_hixie_detect(const ws_http_request *req);

/* A 76 key's number: its digits read as a base-ten integer divided by its
 * count of spaces. Returns 0, or -1 when it has no space, no digit, a number
 * past 2^32 - 1, or a number that is not a multiple of the spaces. */
int ws_hixie_key_number(const char *key, size_t len, uint32_t *out);

/* The 76 answer: MD5(part1 big-endian, part2 big-endian, body). Returns 0,
 * or -1 for an invalid key (or an OpenSSL failure). */
int ws_hixie_answer(const char *key1, size_t key1_len, const char *key2, size_t key2_len,
                    const uint8_t body[WS_HIXIE_BODY_LEN], uint8_t out[WS_HIXIE_ANSWER_LEN]);

/* The 101 answer (no NUL) for draft 75 or 76: origin may be NULL (no
 * Origin header: none is echoed), protocol may be NULL; location is
 * ws[s]://host + resource. answer (16 bytes) follows the head for 76.
 * Returns the length, or 0 when cap is too small or a value holds a byte
 * outside HTAB and 0x20-0x7E. */
size_t ws_hixie_response(char *out, size_t cap, int version, int secure, const char *origin, size_t origin_len,
                         const char *host, size_t host_len, const char *resource, size_t resource_len,
                         const char *protocol, size_t protocol_len, const uint8_t answer[WS_HIXIE_ANSWER_LEN]);

/* Framing out: a text message is 0x00 <UTF-8> 0xFF; a binary one (76's
 * length-prefixed form, which clients read and discard) is 0x80, the length
 * in base-128 digits (high bit set on all but the last), the bytes. */
#define WS_HIXIE_MAX_HEADER 11
#define WS_HIXIE_CLOSE "\xff\x00"
size_t ws_hixie_header_size(int binary, size_t len);
size_t ws_hixie_header(uint8_t *out, int binary, size_t len); /* returns its size */
static inline size_t ws_hixie_trailer_size(int binary) { return binary ? 0 : 1; }

/* Framing in, incremental: any split, any byte value. Text frames of type
 * 0x00 are delivered; other text types (high bit clear) and length-prefixed
 * frames are read and discarded, as draft 76 says; 0xFF 0x00 is the close.
 * Every length (a text frame's bytes so far, a prefixed length) is bounded
 * by max. */
typedef struct {
    uint64_t len; /* text bytes so far, the length being read, or bytes left to skip */
    uint8_t state;
    uint8_t type;
} ws_hixie_parser;

typedef enum {
    WS_HX_NEED_MORE = 0,
    WS_HX_TEXT,  /* data/len: a chunk of a 0x00 frame; first: its first chunk; last: the 0xFF was read */
    WS_HX_CLOSE, /* 0xFF 0x00: the parser reads nothing more */
} ws_hixie_event_type;

typedef struct {
    int type;
    const uint8_t *data;
    size_t len;
    int first, last;
} ws_hixie_event;

enum {
    WS_HX_ERR_TOO_BIG = -1, /* a frame longer than max */
    WS_HX_ERR_CLOSED = -2,  /* bytes after the close */
};

static inline void ws_hixie_parser_init(ws_hixie_parser *p) {
    p->len = 0;
    p->state = 0;
    p->type = 0;
}

/* Consumes bytes of buf[0..n) up to and including the next event, which it
 * writes to *ev (NEED_MORE once all n are consumed without one). Returns
 * the bytes consumed, or a WS_HX_ERR_* code. */
ssize_t ws_hixie_parse(ws_hixie_parser *p, const uint8_t *buf, size_t n, uint64_t max, ws_hixie_event *ev);

/* 1 at a frame boundary (nothing of a frame read yet). */
static inline int ws_hixie_at_rest(const ws_hixie_parser *p) { return p->state == 0; }

#endif
