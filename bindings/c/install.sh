#!/usr/bin/env bash
# Installs liblago for C programs under PREFIX (default /usr/local):
# include/lago.h; lib/liblago.so.<VERSION>, with the soname link
# liblago.so.<ABI> (ABI: 0.<MINOR> before 1.0, then <MAJOR>) and the
# link liblago.so; lib/liblago.a; and lib/pkgconfig/lago.pc.
# Build first: cargo build --release -p lago-ffi
#
#   bindings/c/install.sh [PREFIX] [PROFILE]   # PROFILE: release (default) or debug
#
# Then the dynamic loader must find liblago.so.<ABI>: run as root into a
# folder the loader searches (/usr/local/lib on most distributions), the
# install runs ldconfig; otherwise it says what to do.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=${1:-/usr/local}
profile=${2:-release}
lib_dir=${CARGO_TARGET_DIR:-$root/target}/$profile
pkgid=$(cd "$root" && cargo pkgid -p lago-ffi)
version=${pkgid##*[#@]}
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
if [ "$major" = 0 ]; then abi=0.$minor; else abi=$major; fi

if [ "$profile" = release ]; then build="cargo build --release -p lago-ffi"; else build="cargo build -p lago-ffi"; fi
for f in "$lib_dir/liblago.so" "$lib_dir/liblago.a"; do
    [ -f "$f" ] || { echo "install.sh: $f is missing: run '$build' first" >&2; exit 1; }
done

install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 0644 "$root/include/lago.h" "$prefix/include/lago.h"
install -m 0755 "$lib_dir/liblago.so" "$prefix/lib/liblago.so.$version"
ln -sfn "liblago.so.$version" "$prefix/lib/liblago.so.$abi"
ln -sfn "liblago.so.$abi" "$prefix/lib/liblago.so"
install -m 0644 "$lib_dir/liblago.a" "$prefix/lib/liblago.a"
# the placeholders are filled in outside comment lines only
sed -e "/^#/!s|@PREFIX@|$prefix|g" -e "/^#/!s|@VERSION@|$version|g" \
    "$root/bindings/c/lago.pc.in" > "$prefix/lib/pkgconfig/lago.pc"
echo "installed liblago $version (soname liblago.so.$abi) under $prefix"

# Can the dynamic loader find it?
libdir=$(cd "$prefix/lib" && pwd -P)
searched=false
if command -v ldconfig >/dev/null 2>&1; then
    while read -r dir; do
        [ "$(cd "$dir" 2>/dev/null && pwd -P)" = "$libdir" ] && searched=true
    done < <(ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p')
fi
if $searched && [ "$(id -u)" = 0 ]; then
    ldconfig
    echo "ran ldconfig: programs find liblago.so.$abi in $libdir"
elif $searched; then
    echo "note: run 'sudo ldconfig' so that programs find liblago.so.$abi in $libdir"
else
    echo "note: the dynamic loader does not search $libdir: link with -Wl,-rpath,$libdir," \
        "set LD_LIBRARY_PATH=$libdir, or add it to /etc/ld.so.conf.d/ and run ldconfig;" \
        "or link liblago.a with pkg-config --static --cflags --libs lago"
fi
