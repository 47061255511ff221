/* check.h — the soft assertion of the plain-C tests: CHECK(cond, fmt, ...) reports the file,
 * line and message of a failed condition and counts it in `failures`, so one run lists every
 * mismatch; the test's main returns failures != 0. */
#ifndef LORATTY_TESTS_CHECK_H
#define LORATTY_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

#endif
