#!/usr/bin/env bash
# Installs liblago for C programs under PREFIX (default /usr/local):
# include/lago.h, lib/liblago.so.<VERSION> with its soname link
# liblago.so.<MAJOR> and the link liblago.so, lib/liblago.a, and
# lib/pkgconfig/lago.pc. Build first: cargo build --release -p lago-ffi
#
#   bindings/c/install.sh [PREFIX] [PROFILE]   # PROFILE: release (default) or debug
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=${1:-/usr/local}
profile=${2:-release}
lib_dir=${CARGO_TARGET_DIR:-$root/target}/$profile
pkgid=$(cd "$root" && cargo pkgid -p lago-ffi)
version=${pkgid##*[#@]}
major=${version%%.*}

install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 0644 "$root/include/lago.h" "$prefix/include/lago.h"
install -m 0755 "$lib_dir/liblago.so" "$prefix/lib/liblago.so.$version"
ln -sf "liblago.so.$version" "$prefix/lib/liblago.so.$major"
ln -sf "liblago.so.$major" "$prefix/lib/liblago.so"
install -m 0644 "$lib_dir/liblago.a" "$prefix/lib/liblago.a"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" \
    "$root/bindings/c/lago.pc.in" > "$prefix/lib/pkgconfig/lago.pc"
echo "installed liblago $version under $prefix"
