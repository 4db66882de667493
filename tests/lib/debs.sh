# Debian package helpers shared by the test host and template scripts (sourced).
# Needs: $debs (a cache folder) and a die() function in the caller.
# shellcheck shell=bash

# candidate version of a package, as apt would install it
deb_candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && !seen++ { print $2 }'
}

# path of package $1 at version $2 in the cache, downloading it if missing
deb_fetch() {
    local pkg=$1 ver=$2 f
    deb_cached() {
        find "$debs" -maxdepth 1 -name "${pkg}_*.deb" -print | while read -r d; do
            [ "$(dpkg-deb -f "$d" Version)" = "$ver" ] && echo "$d"
        done | awk 'NR == 1'
    }
    mkdir -p "$debs"
    f=$(deb_cached)
    if [ -z "$f" ]; then
        (cd "$debs" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1) ||
            die "apt-get download $pkg=$ver failed"
        f=$(deb_cached)
    fi
    [ -n "$f" ] || die "no .deb for $pkg=$ver in $debs"
    echo "$f"
}

# "package version" of the versioned kernel image the cloud kernel meta
# package depends on (e.g. "linux-image-6.1.0-56-cloud-amd64 6.1.192-2")
deb_cloud_kernel() {
    local meta ver
    ver=$(deb_candidate linux-image-cloud-amd64)
    [ -n "$ver" ] && [ "$ver" != "(none)" ] ||
        die "apt knows no version of linux-image-cloud-amd64: run 'apt-get update' first"
    meta=$(deb_fetch linux-image-cloud-amd64 "$ver")
    dpkg-deb -f "$meta" Depends | tr ',' '\n' |
        sed -n 's/^ *\(linux-image-[0-9][^ ]*\) (= \(.*\))$/\1 \2/p' | awk 'NR == 1'
}
