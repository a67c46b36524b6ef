/* Reference-counted byte buffers, the unit of the write path: a frame made
 * once can sit in many connections' write queues and is freed after the
 * last write of it completes. Small buffers come from a free list so the
 * hot path does not call malloc per flush. */
#ifndef WS_BUFFER_H
#define WS_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#define WS_BUF_SMALL 16384 /* capacity of pooled buffers */
#define WS_BUF_POOL_MAX 256 /* pooled buffers kept free at most */

typedef struct ws_buf {
    uint32_t refs;
    size_t len; /* bytes used */
    size_t cap; /* bytes available in data */
    struct ws_buf *next_free;
    uint8_t data[];
} ws_buf;

/* A buffer with room for at least cap bytes and one reference, or NULL when
 * memory is exhausted. */
ws_buf *ws_buf_new(size_t cap);
void ws_buf_ref(ws_buf *b);
/* Drops a reference; the last one returns the buffer to the pool or frees it. */
void ws_buf_unref(ws_buf *b);

/* Blocks: heap memory that can change hands (a message's bytes go from
 * the connection to JS, which frees them with ws_block_free). Large blocks
 * are pooled per thread by power-of-two size, so a steady stream of large
 * messages neither makes malloc give memory back to the system and fault
 * it in again, nor calls malloc per message. */
#define WS_BLOCK_POOLED_MIN 16384u     /* smaller blocks are plain malloc */
#define WS_BLOCK_POOLED_MAX (1u << 20) /* larger ones too */
#define WS_BLOCK_POOL_BYTES (8u << 20) /* kept free at most, per thread */
#define WS_BLOCK_SLACK 64u /* pooled sizes are a power of two plus this: room to read a frame header past a payload */

/* At least n bytes (*cap gets how many), or NULL when memory is exhausted. */
uint8_t *ws_block_alloc(size_t n, size_t *cap);
void ws_block_free(uint8_t *p); /* NULL is fine */

/* Frees what this thread's pools keep (blocks and write buffers): for a
 * thread that is ending, such as a worker's. */
void ws_buffer_pools_release(void);

/* A growable byte vector owned by one place (a message being reassembled,
 * a request head being read), in a block. Empty vectors hold no memory. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} ws_bytes;

/* Appends n bytes; returns 0, or -1 when memory is exhausted. */
int ws_bytes_append(ws_bytes *v, const void *p, size_t n);
/* Makes room for n more bytes and returns where they go, or NULL. */
uint8_t *ws_bytes_reserve(ws_bytes *v, size_t n);
/* The same, allocating exactly what is asked: for callers that bound the size. */
uint8_t *ws_bytes_reserve_exact(ws_bytes *v, size_t n);
void ws_bytes_free(ws_bytes *v);

#endif
