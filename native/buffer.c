#include "buffer.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* One pool per thread: each loop (main thread, workers) runs on its own. */
static _Thread_local ws_buf *pool_head;
static _Thread_local unsigned pool_count;

ws_buf *ws_buf_new(size_t cap) {
    ws_buf *b;
    if (cap <= WS_BUF_SMALL && pool_head) {
        b = pool_head;
        pool_head = b->next_free;
        pool_count--;
    } else {
        size_t want = cap <= WS_BUF_SMALL ? WS_BUF_SMALL : cap;
        if (want > SIZE_MAX - sizeof(ws_buf)) return NULL;
        b = malloc(sizeof(ws_buf) + want);
        if (!b) return NULL;
        b->cap = want;
    }
    b->refs = 1;
    b->len = 0;
    b->next_free = NULL;
    return b;
}

void ws_buf_ref(ws_buf *b) {
    b->refs++;
}

void ws_buf_unref(ws_buf *b) {
    assert(b->refs > 0);
    if (--b->refs) return;
    if (b->cap == WS_BUF_SMALL && pool_count < WS_BUF_POOL_MAX) {
        b->next_free = pool_head;
        pool_head = b;
        pool_count++;
    } else {
        free(b);
    }
}

uint8_t *ws_bytes_reserve(ws_bytes *v, size_t n) {
    if (n > SIZE_MAX - v->len) return NULL;
    if (v->len + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->len + n) cap = cap > SIZE_MAX / 2 ? v->len + n : cap * 2;
        uint8_t *p = realloc(v->data, cap);
        if (!p) return NULL;
        v->data = p;
        v->cap = cap;
    }
    return v->data + v->len;
}

int ws_bytes_append(ws_bytes *v, const void *p, size_t n) {
    uint8_t *dst = ws_bytes_reserve(v, n);
    if (!dst) return -1;
    if (n) memcpy(dst, p, n);
    v->len += n;
    return 0;
}

void ws_bytes_free(ws_bytes *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}
