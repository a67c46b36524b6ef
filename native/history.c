#include "history.h"

#include <stdlib.h>
#include <string.h>

ws_history *ws_history_new(ws_history_limits limits) {
    if (!limits.messages) return NULL;
    ws_history *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->ring = calloc(limits.messages, sizeof *h->ring);
    if (!h->ring) {
        free(h);
        return NULL;
    }
    h->limits = limits;
    return h;
}

static void drop_oldest(ws_history *h) {
    ws_history_entry *e = &h->ring[h->head];
    h->bytes -= e->len;
    free(e->data);
    memset(e, 0, sizeof *e);
    h->head = (h->head + 1) % h->limits.messages;
    h->n--;
}

void ws_history_free(ws_history *h) {
    if (!h) return;
    while (h->n) drop_oldest(h);
    free(h->ring);
    free(h);
}

void ws_history_expire(ws_history *h, uint64_t now_ms) {
    if (!h->limits.ms) return;
    while (h->n && now_ms - h->ring[h->head].at_ms > h->limits.ms) drop_oldest(h);
}

int ws_history_push(ws_history *h, uint64_t seq, uint64_t now_ms, int opcode, const void *p, size_t len) {
    ws_history_expire(h, now_ms);
    if (len > h->limits.bytes) { /* cannot be kept: nothing before it can be replayed in order either */
        while (h->n) drop_oldest(h);
        return 0;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) { /* held seqs must stay consecutive: a hole becomes a gap for everyone */
        while (h->n) drop_oldest(h);
        return -1;
    }
    if (len) memcpy(copy, p, len);
    while (h->n && (h->n == h->limits.messages || h->bytes + len > h->limits.bytes)) drop_oldest(h);
    ws_history_entry *e = &h->ring[(h->head + h->n) % h->limits.messages];
    *e = (ws_history_entry){seq, now_ms, (uint8_t)opcode, len, copy};
    h->n++;
    h->bytes += len;
    return 0;
}

const ws_history_entry *ws_history_at(const ws_history *h, uint32_t i) {
    return i < h->n ? &h->ring[(h->head + i) % h->limits.messages] : NULL;
}

long ws_history_from(const ws_history *h, uint64_t last, uint64_t current) {
    if (last == current) return WS_HISTORY_NOTHING;
    if (last > current || !h->n) return WS_HISTORY_GAP;
    uint64_t oldest = h->ring[h->head].seq;
    if (last + 1 < oldest) return WS_HISTORY_GAP;
    /* seqs held are consecutive and end at current */
    return (long)(last + 1 - oldest);
}
