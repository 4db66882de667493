#!/usr/bin/env bash
# Checks the C face of lago, from any directory:
#   bash bindings/c/check-header.sh
#
# 1. include/lago.h is exactly what the pinned cbindgen generates (no drift);
# 2. liblago.so has the soname liblago.so.<ABI> (0.<MINOR> before 1.0, then <MAJOR>);
# 3. a C11 and a C++17 program that include lago.h twice build with all
#    warnings as errors against the shared library, found through lago.pc
#    (made from bindings/c/lago.pc.in), and run: lago_version() and the
#    LAGO_VERSION_* macros equal the Cargo version;
# 4. the C program also links statically (liblago.a + Libs.private, through
#    pkg-config --static --cflags --libs) and runs.
#
# Needs: cbindgen at the version in lago-ffi/CBINDGEN_VERSION
# (cargo install cbindgen --version "$(cat lago-ffi/CBINDGEN_VERSION)" --locked),
# gcc, g++, pkg-config, readelf.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
step() {
    local name=$1
    shift
    if "$@"; then
        echo "ok:   $name"
        passed=$((passed + 1))
    else
        echo "FAIL: $name" >&2
        failed=$((failed + 1))
    fi
}

regen_cmd="cbindgen --config lago-ffi/cbindgen.toml --crate lago-ffi --output include/lago.h"
want_cbindgen=$(tr -d '[:space:]' < lago-ffi/CBINDGEN_VERSION)

header_is_current() {
    local have
    if ! have=$(cbindgen --version 2>/dev/null); then
        echo "cbindgen not found; install: cargo install cbindgen --version $want_cbindgen --locked" >&2
        return 1
    fi
    if [ "${have##* }" != "$want_cbindgen" ]; then
        echo "found $have, need $want_cbindgen (point releases change the output):" >&2
        echo "  cargo install cbindgen --version $want_cbindgen --locked" >&2
        return 1
    fi
    if ! cbindgen --config lago-ffi/cbindgen.toml --crate lago-ffi \
        --output "$tmp/lago.h" 2> "$tmp/cbindgen.log"; then
        cat "$tmp/cbindgen.log" >&2
        return 1
    fi
    if ! diff -u include/lago.h "$tmp/lago.h" >&2; then
        echo "include/lago.h is out of date; regenerate from the repository root with:" >&2
        echo "  $regen_cmd" >&2
        return 1
    fi
}

step "include/lago.h matches cbindgen $want_cbindgen output" header_is_current

# The Cargo version, e.g. "path+file:///src/lago-ffi#0.1.0" -> 0.1.0.
pkgid=$(cargo pkgid -p lago-ffi)
version=${pkgid##*[#@]}
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
if [ "$major" = 0 ]; then abi=0.$minor; else abi=$major; fi
target_dir=${CARGO_TARGET_DIR:-$root/target}
lib_dir=$target_dir/debug

cargo build --quiet -p lago-ffi

soname_is_abi() {
    local soname
    soname=$(readelf -d "$lib_dir/liblago.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    if [ "$soname" != "liblago.so.$abi" ]; then
        echo "soname of liblago.so is '$soname', want liblago.so.$abi" >&2
        return 1
    fi
}
step "liblago.so soname is liblago.so.$abi" soname_is_abi

# Install-like prefixes, described by lago.pc made from the template.
make_prefix() { # make_prefix DIR shared|static
    local prefix=$1
    mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
    cp include/lago.h "$prefix/include/"
    if [ "$2" = shared ]; then
        cp "$lib_dir/liblago.so" "$prefix/lib/liblago.so.$version"
        ln -s "liblago.so.$version" "$prefix/lib/liblago.so.$abi"
        ln -s "liblago.so.$abi" "$prefix/lib/liblago.so"
    else
        ln -s "$lib_dir/liblago.a" "$prefix/lib/liblago.a"
    fi
    sed -e "/^#/!s|@PREFIX@|$prefix|g" -e "/^#/!s|@VERSION@|$version|g" \
        bindings/c/lago.pc.in > "$prefix/lib/pkgconfig/lago.pc"
}
make_prefix "$tmp/shared" shared
make_prefix "$tmp/static" static

define_version=(-DLAGO_EXPECTED_VERSION="\"$version\"")
warnings=(-Wall -Wextra -Wpedantic -Werror)

build_and_run() { # build_and_run shared|static COMPILER STD SOURCE
    local kind=$1 cc=$2 std=$3 src=$4 exe cflags libs
    exe="$tmp/$(basename "$src").$kind"
    export PKG_CONFIG_PATH="$tmp/$kind/lib/pkgconfig"
    if [ "$(pkg-config --modversion lago)" != "$version" ]; then
        echo "lago.pc reports version $(pkg-config --modversion lago), want $version" >&2
        return 1
    fi
    if [ "$kind" = shared ]; then
        cflags=$(pkg-config --cflags lago)
        libs="$(pkg-config --libs lago) -Wl,-rpath,$tmp/shared/lib"
    else
        cflags=
        libs=$(pkg-config --static --cflags --libs lago)
    fi
    # shellcheck disable=SC2086 # pkg-config output is a list of words
    "$cc" "-std=$std" "${warnings[@]}" "${define_version[@]}" $cflags \
        "$src" -o "$exe" $libs || return 1
    local needed
    needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(liblago[^]]*\)\].*/\1/p')
    if [ "$kind" = shared ] && [ "$needed" != "liblago.so.$abi" ]; then
        echo "$exe needs '$needed', want liblago.so.$abi" >&2
        return 1
    fi
    if [ "$kind" = static ] && [ -n "$needed" ]; then
        echo "$exe should not need a shared liblago, needs $needed" >&2
        return 1
    fi
    "$exe"
}

step "C11 program, shared liblago" build_and_run shared gcc c11 bindings/c/check/check.c
step "C++17 program, shared liblago" build_and_run shared g++ c++17 bindings/c/check/check.cpp
step "C11 program, static liblago" build_and_run static gcc c11 bindings/c/check/check.c

echo "check-header: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
