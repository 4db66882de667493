// Compile-and-run check of include/lago.h from C++17: the header's
// extern "C" guards must give C linkage, and including it twice is a no-op.
// Built and run by bindings/c/check-header.sh.
#include <lago.h>
#include <lago.h>

#include <cstdio>
#include <string>

#ifndef LAGO_EXPECTED_VERSION
#error "compile with -DLAGO_EXPECTED_VERSION=\"x.y.z\""
#endif

int main()
{
    int failures = 0;
    auto check = [&failures](bool ok, const char *what) {
        if (!ok) {
            std::fprintf(stderr, "check.cpp: FAILED: %s\n", what);
            ++failures;
        }
    };

    const char *version = lago_version();
    check(version != nullptr, "lago_version() is not NULL");
    const std::string got = version != nullptr ? version : "";
    check(got == LAGO_EXPECTED_VERSION, "lago_version() equals the Cargo version");
    const std::string from_macros = std::to_string(LAGO_VERSION_MAJOR) + "." +
                                    std::to_string(LAGO_VERSION_MINOR) + "." +
                                    std::to_string(LAGO_VERSION_PATCH);
    check(from_macros == LAGO_EXPECTED_VERSION,
          "LAGO_VERSION_MAJOR.MINOR.PATCH equal the Cargo version");

    const lago_status status = lago_error_code(nullptr);
    check(status == LAGO_STATUS_NULL_ARGUMENT,
          "lago_error_code(nullptr) is LAGO_STATUS_NULL_ARGUMENT");
    check(lago_error_message(nullptr) == nullptr, "lago_error_message(nullptr) is NULL");
    lago_error_free(nullptr);
    lago_string_free(nullptr);

    if (failures == 0) {
        std::printf("check.cpp: liblago %s OK\n", got.c_str());
    }
    return failures == 0 ? 0 : 1;
}
