/* Tests of native/history.c: each bound (messages, bytes, age) drops the
 * oldest entries first, a message larger than the byte bound empties the
 * ring, and ws_history_from says exactly what to replay or that the client
 * missed too much. Against a reference model: a plain array of all pushes. */
#include <stdint.h>

#include "harness.h"
#include "history.h"

static int payload_is(const ws_history_entry *e, uint64_t seq) {
    char want[32];
    int n = snprintf(want, sizeof want, "p%llu", (unsigned long long)seq);
    return e && e->seq == seq && e->len == (size_t)n && memcmp(e->data, want, (size_t)n) == 0;
}

static void push(ws_history *h, uint64_t seq, uint64_t at) {
    char p[32];
    int n = snprintf(p, sizeof p, "p%llu", (unsigned long long)seq);
    test_cond("push", ws_history_push(h, seq, at, 1, p, (size_t)n) == 0);
}

static void test_messages_bound(void) {
    ws_history *h = ws_history_new((ws_history_limits){5, 1 << 20, 0});
    test_cond("new", h != NULL);
    test_cond("empty: up to date", ws_history_from(h, 0, 0) == WS_HISTORY_NOTHING);
    test_cond("empty: behind is a gap", ws_history_from(h, 0, 3) == WS_HISTORY_GAP);
    for (uint64_t s = 1; s <= 12; s++) push(h, s, 0);
    test_cond("holds 5", h->n == 5);
    for (uint32_t i = 0; i < 5; i++) test_cond("oldest first", payload_is(ws_history_at(h, i), 8 + i));
    test_cond("past the end", ws_history_at(h, 5) == NULL);
    test_cond("from 7: all five", ws_history_from(h, 7, 12) == 0);
    test_cond("from 10: two", ws_history_from(h, 10, 12) == 3);
    test_cond("from 6: gap", ws_history_from(h, 6, 12) == WS_HISTORY_GAP);
    test_cond("from 12: nothing", ws_history_from(h, 12, 12) == WS_HISTORY_NOTHING);
    test_cond("from the future: gap", ws_history_from(h, 13, 12) == WS_HISTORY_GAP);
    test_cond("huge: gap", ws_history_from(h, UINT64_MAX, 12) == WS_HISTORY_GAP);
    ws_history_free(h);
}

static void test_bytes_bound(void) {
    ws_history *h = ws_history_new((ws_history_limits){100, 7, 0});
    push(h, 1, 0); /* "p1": 2 bytes */
    push(h, 2, 0);
    push(h, 3, 0);
    test_cond("6 bytes held", h->n == 3 && h->bytes == 6);
    push(h, 4, 0);
    test_cond("the oldest went", h->n == 3 && h->bytes == 6 && payload_is(ws_history_at(h, 0), 2));
    uint8_t big[8] = {0};
    test_cond("too large", ws_history_push(h, 5, 0, 2, big, sizeof big) == 0);
    test_cond("a message past the bound empties the ring", h->n == 0 && h->bytes == 0);
    test_cond("so resuming before it is a gap", ws_history_from(h, 4, 5) == WS_HISTORY_GAP);
    push(h, 6, 0);
    test_cond("after it: 6 replayable from 5", ws_history_from(h, 5, 6) == 0);
    test_cond("empty payloads count", ws_history_push(h, 7, 0, 1, NULL, 0) == 0 && h->n == 2);
    ws_history_free(h);
}

static void test_age_bound(void) {
    ws_history *h = ws_history_new((ws_history_limits){100, 1 << 20, 1000});
    push(h, 1, 0);
    push(h, 2, 500);
    push(h, 3, 1200); /* drops 1 (1200 ms old) */
    test_cond("aged out on push", h->n == 2 && payload_is(ws_history_at(h, 0), 2));
    ws_history_expire(h, 1500);
    test_cond("1000 ms is within", h->n == 2);
    ws_history_expire(h, 1501);
    test_cond("past it goes", h->n == 1);
    ws_history_expire(h, 10000);
    test_cond("all gone", h->n == 0 && h->bytes == 0);
    test_cond("resume is a gap", ws_history_from(h, 2, 3) == WS_HISTORY_GAP);
    ws_history_free(h);
}

/* Random pushes and bounds against the model: the ring holds a suffix of all
 * pushes, within every bound, and the longest such suffix. */
static void test_model(void) {
    uint32_t rnd = 12345;
    for (int round = 0; round < 200; round++) {
        rnd = rnd * 1103515245u + 12345u;
        uint32_t max_n = 1 + rnd % 16;
        uint64_t max_b = 4 + (rnd >> 8) % 64;
        ws_history *h = ws_history_new((ws_history_limits){max_n, max_b, 0});
        size_t lens[300];
        for (uint64_t s = 1; s <= 300; s++) {
            rnd = rnd * 1103515245u + 12345u;
            size_t len = (rnd >> 16) % 12;
            uint8_t buf[12];
            memset(buf, (int)(s & 0xff), len);
            lens[s - 1] = len;
            ws_history_push(h, s, 0, 2, buf, len);
            /* the model: the longest suffix within both bounds, empty if the last does not fit */
            uint32_t n = 0;
            uint64_t b = 0;
            for (uint64_t k = s; k >= 1 && n < max_n && b + lens[k - 1] <= max_b; k--) b += lens[k - 1], n++;
            if (len > max_b) n = 0, b = 0;
            int ok = h->n == n && h->bytes == b;
            for (uint32_t i = 0; ok && i < h->n; i++) {
                const ws_history_entry *e = ws_history_at(h, i);
                ok = e->seq == s - n + 1 + i && e->len == lens[e->seq - 1] && (!e->len || e->data[0] == (e->seq & 0xff));
            }
            if (!ok) {
                test_cond("ring matches the model", 0);
                break;
            }
        }
        test_count++;
        ws_history_free(h);
    }
}

int main(void) {
    test_cond("0 messages refused", ws_history_new((ws_history_limits){0, 10, 0}) == NULL);
    ws_history_free(NULL);
    test_messages_bound();
    test_bytes_bound();
    test_age_bound();
    test_model();
    return test_report();
}
