/*
 * Compile-and-run check of include/lago.h from C11: the header must be
 * includable twice, compile warning-free, and agree with the library.
 * Built and run by bindings/c/check-header.sh with LAGO_EXPECTED_VERSION
 * set to the Cargo version.
 */
#include <lago.h>
#include <lago.h> /* the include guard must make this a no-op */

#include <stdio.h>
#include <string.h>

#ifndef LAGO_EXPECTED_VERSION
#error "compile with -DLAGO_EXPECTED_VERSION=\"x.y.z\""
#endif

static int failures = 0;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "check.c: FAILED: %s\n", what);
        failures++;
    }
}

int main(void)
{
    const char *version = lago_version();
    char from_macros[64];

    check(version != NULL, "lago_version() is not NULL");
    if (version != NULL) {
        check(strcmp(version, LAGO_EXPECTED_VERSION) == 0,
              "lago_version() equals the Cargo version");
    }
    snprintf(from_macros, sizeof from_macros, "%d.%d.%d", LAGO_VERSION_MAJOR,
             LAGO_VERSION_MINOR, LAGO_VERSION_PATCH);
    check(strcmp(from_macros, LAGO_EXPECTED_VERSION) == 0,
          "LAGO_VERSION_MAJOR.MINOR.PATCH equal the Cargo version");

    check(lago_error_code(NULL) == LAGO_STATUS_NULL_ARGUMENT,
          "lago_error_code(NULL) is LAGO_STATUS_NULL_ARGUMENT");
    check(lago_error_message(NULL) == NULL, "lago_error_message(NULL) is NULL");
    lago_error_free(NULL);
    lago_string_free(NULL);

    check(LAGO_STATUS_OK == 0, "LAGO_STATUS_OK is 0");
    check(LAGO_STATUS_PANIC == 199, "LAGO_STATUS_PANIC is 199");

    if (failures == 0) {
        printf("check.c: liblago %s OK\n", version);
    }
    return failures == 0 ? 0 : 1;
}
