/* The batch of events for JS: every complete message, close and drain that
 * happened since the last flush, as records in one byte buffer, so that one
 * call into JS carries all of them. Record layout (little-endian):
 *   [0] u8 kind  [1] u8 flags  [2..3] u16 code  [4..7] u32 slot
 *   [8..11] u32 payload length  [12..] payload, padded to 4 bytes.
 * A large message is not copied into the batch: its record (flag
 * WS_EVENT_FLAG_OWNED) carries a pointer to its own block (buffer.h) and its
 * length, and whoever hands the batch to JS takes that buffer. */
#ifndef WS_EVENTS_H
#define WS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define WS_EVENT_HEADER 12

enum ws_event_kind {
    WS_EVENT_TEXT = 1,   /* payload: a UTF-8 message */
    WS_EVENT_BINARY = 2, /* payload: a binary message */
    WS_EVENT_CLOSE = 3,  /* code, flags (WS_CLOSE_FLAG_*), payload: the reason */
    WS_EVENT_DRAIN = 4,  /* the write queue emptied after send() returned false */
    WS_EVENT_SERVER_CLOSED = 5, /* the listeners and every connection are gone */
    WS_EVENT_WRITE = 6,  /* a stream connection: payload goes to its JS socket */
    WS_EVENT_END = 7,    /* a stream connection: end its JS socket after what was written */
    WS_EVENT_SHED = 8,   /* out of descriptors: flags 1 = shedding began (code: errno), 0 = over (slot: how many) */
};

enum {
    WS_EVENT_FLAG_OWNED = 1, /* TEXT/BINARY: the payload is {uint8_t *data; size_t len}, data a block */
};

/* Messages from this size on travel in their own buffer. */
#define WS_EVENT_OWNED_MIN 16384

enum {
    WS_CLOSE_FLAG_CLEAN = 1, /* both close frames were exchanged */
    WS_CLOSE_FLAG_ERROR = 2, /* the server closed it: protocol violation, limit, timeout */
};

typedef struct {
    uint8_t *data;
    size_t len, cap;
    uint8_t has_binary; /* a binary payload is in the batch: JS keeps views into it */
    uint8_t shared;     /* JS has an ArrayBuffer over data: never realloc it in place */
    uint32_t closes;    /* CLOSE records in the batch */
    uint32_t owned;     /* records with their own buffer in the batch */
} ws_events;

/* Appends a record and returns where its len payload bytes go (the caller
 * fills them), or NULL when memory is exhausted. */
uint8_t *ws_events_add(ws_events *e, uint8_t kind, uint8_t flags, uint16_t code, uint32_t slot,
                       size_t len);

/* Appends a TEXT or BINARY record for a message in data, a block (buffer.h)
 * the batch now owns (freed here on failure). 0, or -1 out of memory. */
int ws_events_add_owned(ws_events *e, uint8_t kind, uint32_t slot, uint8_t *data, size_t len);

/* Calls fn for each message with its own buffer among the first n bytes;
 * fn takes ownership of data. */
void ws_events_each_owned(const ws_events *e, size_t n,
                          void (*fn)(void *ctx, uint8_t kind, uint8_t *data, size_t len), void *ctx);

/* Drops the first n bytes of records (those JS has just handled), keeping
 * records appended since. When the handled part held binary payloads, JS
 * keeps views into it, so the kept records move to a new buffer and the old
 * one is left to JS: *abandoned is set to it (else NULL). */
int ws_events_consume(ws_events *e, size_t n, uint8_t **abandoned);

/* Gives back the unused tail of a buffer about to be handed to JS for the
 * last time (it holds binary messages, so it is left to JS after this
 * batch): GC then accounts only for the bytes in use. Anything appended
 * afterwards goes to a new buffer. */
void ws_events_fit(ws_events *e);

/* Calls fn(slot) for each CLOSE record among the first n bytes. */
void ws_events_each_close(const ws_events *e, size_t n, void (*fn)(void *ctx, uint32_t slot),
                          void *ctx);

void ws_events_free(ws_events *e);

#endif
