/* Buffers: blocks (pooled by size class, bounded), byte vectors over them,
 * and the refcounted write buffers. */
#include "buffer.h"

#include <stdint.h>

#include "harness.h"

static void test_blocks(void) {
    size_t cap = 0;
    uint8_t *small = ws_block_alloc(100, &cap);
    test_cond("a small block is exact", small && cap == 100);
    memset(small, 1, cap);
    ws_block_free(small);

    uint8_t *b = ws_block_alloc(65536, &cap);
    test_cond("64 KiB rounds to its class with slack", b && cap == 65536 + WS_BLOCK_SLACK);
    memset(b, 2, cap); /* ASan: all of cap is usable */
    ws_block_free(b);
    uint8_t *again = ws_block_alloc(40000, &cap);
    test_cond("a freed block of the class is reused", again == b && cap == 65536 + WS_BLOCK_SLACK);
    ws_block_free(again);

    b = ws_block_alloc(WS_BLOCK_POOLED_MIN, &cap);
    test_cond("the smallest class", b && cap == WS_BLOCK_POOLED_MIN + WS_BLOCK_SLACK);
    ws_block_free(b);
    b = ws_block_alloc(WS_BLOCK_POOLED_MAX + WS_BLOCK_SLACK + 1, &cap);
    test_cond("past the largest class: exact, not pooled", b && cap == WS_BLOCK_POOLED_MAX + WS_BLOCK_SLACK + 1);
    ws_block_free(b);
    ws_block_free(NULL);

    /* The pool keeps at most WS_BLOCK_POOL_BYTES: free more than that, then
     * take them back; LeakSanitizer checks the rest went back to malloc. */
    enum { N = (WS_BLOCK_POOL_BYTES / (1u << 20)) + 4 };
    uint8_t *big[N];
    for (int i = 0; i < N; i++) big[i] = ws_block_alloc(1u << 20, &cap);
    for (int i = 0; i < N; i++) ws_block_free(big[i]);
    int reused = 0;
    for (int i = 0; i < N; i++) {
        uint8_t *p = ws_block_alloc(1u << 20, &cap);
        for (int j = 0; j < N; j++) reused += p == big[j];
        big[i] = p;
    }
    test_cond("the pool is bounded", reused > 0 && reused < N);
    for (int i = 0; i < N; i++) ws_block_free(big[i]);
}

static void test_bytes(void) {
    ws_bytes v = {0};
    test_cond("append to empty", ws_bytes_append(&v, "abc", 3) == 0 && v.len == 3 && memcmp(v.data, "abc", 3) == 0);
    uint8_t chunk[5000];
    for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (uint8_t)i;
    for (int i = 0; i < 40; i++) ws_bytes_append(&v, chunk, sizeof chunk); /* crosses into pooled classes */
    int same = v.len == 3 + 40 * sizeof chunk && memcmp(v.data, "abc", 3) == 0;
    for (int i = 0; same && i < 40; i++) same = memcmp(v.data + 3 + i * sizeof chunk, chunk, sizeof chunk) == 0;
    test_cond("growth keeps every byte", same);
    ws_bytes_free(&v);
    test_cond("free empties", !v.data && !v.len && !v.cap);

    uint8_t *room = ws_bytes_reserve_exact(&v, 70000);
    test_cond("reserve_exact allocates what is asked", room && v.cap == 70000);
    ws_bytes_free(&v);

    /* A vector's block can change hands: the receiver frees it as a block. */
    ws_bytes_append(&v, chunk, sizeof chunk);
    ws_bytes_reserve(&v, 30000);
    uint8_t *taken = v.data;
    v = (ws_bytes){0};
    ws_block_free(taken);
}

static void test_bufs(void) {
    ws_buf *a = ws_buf_new(10);
    test_cond("small buffers have the pooled size", a && a->cap == WS_BUF_SMALL && a->refs == 1);
    ws_buf_ref(a);
    ws_buf_unref(a);
    test_cond("a reference keeps it", a->refs == 1);
    ws_buf_unref(a);
    ws_buf *b = ws_buf_new(20);
    test_cond("a freed small buffer is reused", b == a);
    ws_buf_unref(b);
    ws_buf *large = ws_buf_new(100000);
    test_cond("large buffers are sized to fit", large && large->cap == 100000);
    ws_buf_unref(large);
}

int main(void) {
    test_blocks();
    test_bytes();
    test_bufs();
    return test_report();
}
