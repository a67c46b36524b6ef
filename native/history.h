/* A subscription's history: a bounded ring of its last multicasts (seq,
 * time, opcode, payload) so a client that reconnects can be sent exactly
 * the ones it missed. Bounded by a message count, a byte total and an age;
 * the oldest entries go first. Pure C over memory: no I/O, no clock (the
 * caller passes the time). */
#ifndef WS_HISTORY_H
#define WS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t messages; /* at most this many entries (>= 1) */
    uint64_t bytes;    /* at most this many payload bytes in all */
    uint64_t ms;       /* entries older than this are dropped; 0: no age bound */
} ws_history_limits;

typedef struct {
    uint64_t seq;
    uint64_t at_ms;
    uint8_t opcode;
    size_t len;
    uint8_t *data; /* malloc'd, owned by the ring */
} ws_history_entry;

typedef struct ws_history {
    ws_history_limits limits;
    ws_history_entry *ring; /* limits.messages slots */
    uint32_t head, n;       /* oldest entry's slot, entries held */
    uint64_t bytes;         /* payload bytes held */
} ws_history;

/* NULL when out of memory or limits.messages is 0. */
ws_history *ws_history_new(ws_history_limits limits);
void ws_history_free(ws_history *h);

/* Keeps a copy of one message; drops the oldest entries past any bound. A
 * message larger than limits.bytes is not kept (and empties the ring, so a
 * resume past it is told it missed too much). 0, or -1 out of memory. */
int ws_history_push(ws_history *h, uint64_t seq, uint64_t now_ms, int opcode, const void *p, size_t len);

/* Drops entries older than the age bound. */
void ws_history_expire(ws_history *h, uint64_t now_ms);

/* Where to replay from for a client whose last seen seq is last, with
 * current the subscription's latest seq: WS_HISTORY_NOTHING (up to date),
 * WS_HISTORY_GAP (some missed messages are no longer held, or last is
 * from the future), or the index (0 = oldest) of the first entry to send. */
#define WS_HISTORY_NOTHING (-1)
#define WS_HISTORY_GAP (-2)
long ws_history_from(const ws_history *h, uint64_t last, uint64_t current);

/* The i-th entry held, 0 = oldest. */
const ws_history_entry *ws_history_at(const ws_history *h, uint32_t i);

#endif
