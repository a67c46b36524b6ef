#include "events.h"

#include "buffer.h"

#include <stdlib.h>
#include <string.h>

#define WS_EVENTS_INITIAL 65536

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t record_size(size_t payload) {
    return WS_EVENT_HEADER + ((payload + 3) & ~(size_t)3);
}

/* Grows to hold `need` bytes. A buffer JS can see is never moved: the
 * records are copied to a new one and the old one stays with JS. */
static int grow(ws_events *e, size_t need) {
    size_t cap = e->cap ? e->cap : WS_EVENTS_INITIAL;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    uint8_t *p;
    if (e->shared) {
        p = malloc(cap);
        if (!p) return -1;
        memcpy(p, e->data, e->len);
        e->shared = 0; /* the old buffer is JS's to free */
    } else {
        p = realloc(e->data, cap);
        if (!p) return -1;
    }
    e->data = p;
    e->cap = cap;
    return 0;
}

uint8_t *ws_events_add(ws_events *e, uint8_t kind, uint8_t flags, uint16_t code, uint32_t slot,
                       size_t len) {
    if (len > UINT32_MAX) return NULL;
    size_t size = record_size(len);
    if (e->len + size > e->cap && grow(e, e->len + size) != 0) return NULL;
    uint8_t *r = e->data + e->len;
    r[0] = kind;
    r[1] = flags;
    put_u16(r + 2, code);
    put_u32(r + 4, slot);
    put_u32(r + 8, (uint32_t)len);
    e->len += size;
    if (kind == WS_EVENT_BINARY && !(flags & WS_EVENT_FLAG_OWNED)) e->has_binary = 1; /* owned: no view into the batch */
    if (kind == WS_EVENT_CLOSE) e->closes++;
    return r + WS_EVENT_HEADER;
}

typedef struct {
    uint8_t *data;
    size_t len;
} owned_payload;

int ws_events_add_owned(ws_events *e, uint8_t kind, uint32_t slot, uint8_t *data, size_t len) {
    uint8_t *dst = ws_events_add(e, kind, WS_EVENT_FLAG_OWNED, 0, slot, sizeof(owned_payload));
    if (!dst) {
        ws_block_free(data);
        return -1;
    }
    memcpy(dst, &(owned_payload){data, len}, sizeof(owned_payload));
    e->owned++;
    return 0;
}

static int is_owned(const uint8_t *r) {
    return (r[0] == WS_EVENT_TEXT || r[0] == WS_EVENT_BINARY) && (r[1] & WS_EVENT_FLAG_OWNED);
}

void ws_events_each_owned(const ws_events *e, size_t n,
                          void (*fn)(void *ctx, uint8_t kind, uint8_t *data, size_t len), void *ctx) {
    if (!e->owned) return;
    for (size_t off = 0; off < n;) {
        const uint8_t *r = e->data + off;
        if (is_owned(r)) {
            owned_payload m;
            memcpy(&m, r + WS_EVENT_HEADER, sizeof m);
            fn(ctx, r[0], m.data, m.len);
        }
        off += record_size(get_u32(r + 8));
    }
}

void ws_events_each_close(const ws_events *e, size_t n, void (*fn)(void *ctx, uint32_t slot),
                          void *ctx) {
    for (size_t off = 0; off < n;) {
        const uint8_t *r = e->data + off;
        if (r[0] == WS_EVENT_CLOSE) fn(ctx, get_u32(r + 4));
        off += record_size(get_u32(r + 8));
    }
}

int ws_events_consume(ws_events *e, size_t n, uint8_t **abandoned) {
    size_t rest = e->len - n;
    *abandoned = NULL;
    e->closes = 0;
    e->owned = 0;
    for (size_t off = n; off < e->len;) { /* recount what stays */
        const uint8_t *r = e->data + off;
        if (r[0] == WS_EVENT_CLOSE) e->closes++;
        if (is_owned(r)) e->owned++;
        off += record_size(get_u32(r + 8));
    }
    if (e->has_binary) {
        uint8_t *p = NULL;
        if (rest) {
            size_t cap = rest > WS_EVENTS_INITIAL ? rest : WS_EVENTS_INITIAL;
            p = malloc(cap);
            if (!p) return -1;
            memcpy(p, e->data + n, rest);
            e->cap = cap;
        } else {
            e->cap = 0;
        }
        *abandoned = e->data;
        e->data = p;
        e->len = rest;
        e->shared = 0;
        e->has_binary = 0;
        for (size_t off = 0; off < e->len;) {
            const uint8_t *r = e->data + off;
            if (r[0] == WS_EVENT_BINARY && !is_owned(r)) e->has_binary = 1;
            off += record_size(get_u32(r + 8));
        }
        return 0;
    }
    if (rest) memmove(e->data, e->data + n, rest);
    e->len = rest;
    return 0;
}

void ws_events_fit(ws_events *e) {
    if (e->shared || !e->len || e->len == e->cap) return;
    uint8_t *p = realloc(e->data, e->len);
    if (!p) return; /* keeps the larger buffer */
    e->data = p;
    e->cap = e->len;
}

static void free_owned(void *ctx, uint8_t kind, uint8_t *data, size_t len) {
    (void)ctx;
    (void)kind;
    (void)len;
    ws_block_free(data);
}

void ws_events_free(ws_events *e) {
    ws_events_each_owned(e, e->len, free_owned, NULL); /* never handed to JS */
    if (!e->shared) free(e->data);
    memset(e, 0, sizeof *e);
}
