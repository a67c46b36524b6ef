/* A tiny test harness in the manner of hiredis' test.c. Each test file has
 * main() call its tests and end with `return test_report();`. */
#ifndef WS_TEST_HARNESS_H
#define WS_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_count, test_failed;

#define test_cond(name, cond)                                                        \
    do {                                                                             \
        test_count++;                                                                \
        if (!(cond)) {                                                               \
            test_failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, name, #cond); \
        }                                                                            \
    } while (0)

/* Copies len bytes into a fresh allocation of exactly len bytes, so that a
 * read past the end faults under AddressSanitizer (as picohttpparser's tests
 * do). Free with free(). */
static inline unsigned char *test_exact_copy(const void *data, size_t len) {
    unsigned char *p = malloc(len ? len : 1);
    if (!p) abort();
    if (len) memcpy(p, data, len);
    return p;
}

static inline int test_report(void) {
    printf("%d passed, %d failed\n", test_count - test_failed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
