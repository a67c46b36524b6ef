/* The gateway's framings of a SOCK_STREAM backend's bytes into messages:
 * "line" (each '\n'-terminated line, a trailing '\r' dropped), "nul" (each
 * NUL-terminated string) and "length" (gwproto.h's 5-byte header, then the
 * payload); "ouistiti" keeps no boundaries of its own (each read is one
 * message) and needs no parser. A pure function over buffers: the caller
 * keeps the bytes not yet consumed and calls again with more, so any split
 * of the stream gives the same messages. */
#ifndef WS_GWFRAME_H
#define WS_GWFRAME_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    WS_GW_FRAMING_OUISTITI = 0,
    WS_GW_FRAMING_LINE,
    WS_GW_FRAMING_NUL,
    WS_GW_FRAMING_LENGTH,
} ws_gw_framing;

enum {
    WS_GWFRAME_TOO_BIG = -1,  /* a message over max bytes */
    WS_GWFRAME_BAD_TYPE = -2, /* a length header whose type is neither text nor binary */
};

typedef struct {
    const uint8_t *data; /* into the caller's buffer */
    size_t len;
    int type; /* WS_GW_TEXT or WS_GW_BINARY (gwproto.h) */
} ws_gw_message;

/* The next message in in[0..len), of at most max payload bytes. Returns the
 * bytes it takes (> 0) with *m set; 0 when in holds no complete message yet
 * (nothing consumed; *scanned is how many leading bytes hold no delimiter, so
 * the next call with more bytes need not look at them again: pass it back,
 * 0 at first and after each message); or a WS_GWFRAME_* error. Text framings
 * give WS_GW_TEXT when the bytes are valid UTF-8, else WS_GW_BINARY. */
long ws_gwframe_next(ws_gw_framing framing, const uint8_t *in, size_t len, uint64_t max, size_t *scanned,
                     ws_gw_message *m);

/* Bytes that go around a client message of len bytes for the backend:
 * *head (up to 5 bytes) before it, *tail (0 or 1 byte) after. Returns 0, or
 * -1 when the message cannot be framed (line/nul: binary, or containing the
 * delimiter; length: over 4 GiB). */
int ws_gwframe_wrap(ws_gw_framing framing, int type, const uint8_t *data, size_t len, uint8_t head[5], size_t *head_len,
                    uint8_t *tail, size_t *tail_len);

/* The framing named by s (NUL-terminated), or -1. */
int ws_gwframe_parse_name(const char *s);

#endif
