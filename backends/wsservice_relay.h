/* The message framings of relay connections on SOCK_STREAM (-f), as pure
 * functions over buffers: finding the next whole message in received bytes
 * and the bytes that go around a message sent. No I/O.
 *   ouistiti  no delimiter: the bytes of one read are one message (what
 *             ouistiti's own services do; boundaries hold for messages
 *             that arrive in one read only)
 *   line      each message followed by '\n'
 *   nul       each message followed by '\0'
 *   length    the gwproto header (type, u32 length, big-endian) first */
#ifndef WSSERVICE_RELAY_H
#define WSSERVICE_RELAY_H

#include <stddef.h>
#include <stdint.h>

enum {
    WSS_RELAY_TOO_BIG = -1,  /* a message over the maximum: close the client */
    WSS_RELAY_BAD_TYPE = -2, /* a length header whose type is neither text nor binary */
};

typedef struct {
    int opcode;          /* 1 text, 2 binary; line/nul/ouistiti: text when valid UTF-8 */
    const uint8_t *data; /* into the caller's buffer */
    size_t len;
} wss_relay_msg;

/* Finds the next whole message at the start of in[0..len). Returns the
 * bytes it takes (> 0, delimiter or header included) with *m set; 0 when
 * more bytes are needed; a negative WSS_RELAY_* error. *scan is the caller's
 * memory of how many bytes were already searched for a delimiter (0 to
 * start, and again after each message), so a long message arriving in many
 * reads is searched once. max bounds the payload (0: no bound). */
long wss_relay_parse(int framing, const uint8_t *in, size_t len, uint64_t max, size_t *scan,
                     wss_relay_msg *m);

/* The bytes before a message sent (up to 5: the length header) and after
 * it (up to 1: the delimiter); each returns how many it wrote. */
size_t wss_relay_prefix(int framing, int opcode, size_t len, uint8_t out[5]);
size_t wss_relay_suffix(int framing, uint8_t out[1]);

/* A framing's name for -f (ouistiti, line, nul, length) -> its WSS_FRAMING_*, or -1. */
int wss_relay_framing(const char *name);

#endif
