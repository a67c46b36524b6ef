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

/* ---- blocks ---------------------------------------------------------- */

typedef struct block {
    size_t cap;
    struct block *next_free;
} block; /* 16 bytes: the data after it stays 16-byte aligned */

#define BLOCK_CLASSES 7 /* 16 KiB .. 1 MiB, each plus WS_BLOCK_SLACK */
static _Thread_local block *block_pool[BLOCK_CLASSES];
static _Thread_local size_t block_pooled; /* bytes */

/* The pool class of a capacity, or -1 for sizes not pooled. */
static int block_class(size_t cap) {
    if (cap < WS_BLOCK_POOLED_MIN + WS_BLOCK_SLACK || cap > WS_BLOCK_POOLED_MAX + WS_BLOCK_SLACK) return -1;
    size_t size = cap - WS_BLOCK_SLACK;
    if (size & (size - 1)) return -1;
    int k = 0;
    for (size_t c = WS_BLOCK_POOLED_MIN; c < size; c <<= 1) k++;
    return k;
}

static uint8_t *block_new(size_t cap) {
    int k = block_class(cap);
    block *b = k >= 0 ? block_pool[k] : NULL;
    if (b) {
        block_pool[k] = b->next_free;
        block_pooled -= b->cap;
        return (uint8_t *)(b + 1);
    }
    if (cap > SIZE_MAX - sizeof(block)) return NULL;
    b = malloc(sizeof(block) + (cap ? cap : 1));
    if (!b) return NULL;
    b->cap = cap;
    return (uint8_t *)(b + 1);
}

uint8_t *ws_block_alloc(size_t n, size_t *cap) {
    size_t want = n;
    if (n >= WS_BLOCK_POOLED_MIN && n <= WS_BLOCK_POOLED_MAX + WS_BLOCK_SLACK) { /* round up to a pooled size */
        want = WS_BLOCK_POOLED_MIN;
        while (want + WS_BLOCK_SLACK < n) want <<= 1;
        want += WS_BLOCK_SLACK;
    }
    uint8_t *p = block_new(want);
    if (p) *cap = want;
    return p;
}

void ws_block_free(uint8_t *p) {
    if (!p) return;
    block *b = (block *)p - 1;
    int k = block_class(b->cap);
    if (k >= 0 && block_pooled + b->cap <= WS_BLOCK_POOL_BYTES) {
        b->next_free = block_pool[k];
        block_pool[k] = b;
        block_pooled += b->cap;
        return;
    }
    free(b);
}

void ws_buffer_pools_release(void) {
    for (int k = 0; k < BLOCK_CLASSES; k++) {
        while (block_pool[k]) {
            block *b = block_pool[k];
            block_pool[k] = b->next_free;
            free(b);
        }
    }
    block_pooled = 0;
    while (pool_head) {
        ws_buf *b = pool_head;
        pool_head = b->next_free;
        free(b);
    }
    pool_count = 0;
}

/* Moves v into a block of cap bytes, or more unless exact. */
static int bytes_regrow(ws_bytes *v, size_t cap, int exact) {
    size_t got = cap;
    uint8_t *p = exact ? block_new(cap) : ws_block_alloc(cap, &got);
    if (!p) return -1;
    if (v->len) memcpy(p, v->data, v->len);
    ws_block_free(v->data);
    v->data = p;
    v->cap = got;
    return 0;
}

/* ---- byte vectors ---------------------------------------------------- */

uint8_t *ws_bytes_reserve(ws_bytes *v, size_t n) {
    if (n > SIZE_MAX - v->len) return NULL;
    if (v->len + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->len + n) cap = cap > SIZE_MAX / 2 ? v->len + n : cap * 2;
        if (bytes_regrow(v, cap, 0) != 0) return NULL;
    }
    return v->data + v->len;
}

uint8_t *ws_bytes_reserve_exact(ws_bytes *v, size_t n) {
    if (n > SIZE_MAX - v->len) return NULL;
    if (v->len + n > v->cap && bytes_regrow(v, v->len + n, 1) != 0) return NULL;
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
    ws_block_free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}
