/* Small assertion helpers shared by the C test programs of liblago. */
#ifndef LAGO_TEST_CHECK_H
#define LAGO_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lago.h"

static int check_failures = 0;

/* Records a failure (with location) when COND is false. */
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            check_failures++;                                                \
        }                                                                    \
    } while (0)

/* Calls a fallible lago function (last argument &err), checks it returned
 * WANT and, on failure, that the error's code matches; frees the error. */
#define CHECK_STATUS(want, call)                                             \
    do {                                                                     \
        lago_error *err = NULL;                                              \
        lago_status got = (call);                                            \
        if (got != (want)) {                                                 \
            fprintf(stderr, "%s:%d: %s returned %d, want %d: %s\n",         \
                    __FILE__, __LINE__, #call, (int)got, (int)(want),        \
                    err ? lago_error_message(err) : "(no error)");           \
            check_failures++;                                                \
        } else if (got != LAGO_STATUS_OK &&                                  \
                   (err == NULL || lago_error_code(err) != got)) {           \
            fprintf(stderr, "%s:%d: %s: no matching lago_error\n", __FILE__, \
                    __LINE__, #call);                                        \
            check_failures++;                                                \
        }                                                                    \
        lago_error_free(err);                                                \
    } while (0)

/* As CHECK_STATUS(LAGO_STATUS_OK, call), and stops the program on failure:
 * later steps depend on it. */
#define REQUIRE_OK(call)                                                     \
    do {                                                                     \
        lago_error *err = NULL;                                              \
        lago_status got = (call);                                            \
        if (got != LAGO_STATUS_OK) {                                         \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__,         \
                    __LINE__, #call, (int)got,                               \
                    err ? lago_error_message(err) : "(no error)");           \
            lago_error_free(err);                                            \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

/* Exit status of a test program. */
static int check_report(const char *name) {
    if (check_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
