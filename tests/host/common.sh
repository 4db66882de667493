# Shared settings of the test host scripts (sourced, not run).
# The namespace and state folder can be moved with LAGO_TEST_NETNS and
# LAGO_TEST_STATE, e.g. to run two checkouts' hosts one after the other.
# shellcheck shell=bash
LAGO_TEST_NETNS=${LAGO_TEST_NETNS:-lago-test}
LAGO_TEST_STATE=${LAGO_TEST_STATE:-/run/lago-test-host}
LAGO_TEST_ROOT=${LAGO_TEST_ROOT:-/var/lib/lago-tests}
# The one subnet lease folder of every test that starts networks: tests and
# runs sharing the namespace then never pick the same subnet.
LAGO_TEST_LEASES=${LAGO_TEST_LEASES:-$LAGO_TEST_ROOT/leases}
export LAGO_TEST_NETNS LAGO_TEST_STATE LAGO_TEST_ROOT LAGO_TEST_LEASES

# Debian packages the test host and the template build need.
LAGO_TEST_PACKAGES=(
    qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev
    dnsmasq-base libguestfs-tools iproute2 iptables procps psmisc
    busybox-static dropbear-bin openssh-sftp-server openssh-client openssh-server netcat-openbsd
    syslinux syslinux-common mtools dosfstools fdisk e2fsprogs cpio kmod faketime debootstrap
    python3 pkg-config gcc g++ valgrind libxml2-utils libssl-dev zlib1g-dev xz-utils
    sasl2-bin libsasl2-modules tini graphviz
)

host_log() { printf 'test-host: %s\n' "$*" >&2; }
host_die() { host_log "error: $*"; exit 1; }

# pid of a live process named $2 recorded in file $1, or nothing
live_pid() {
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
    return 0
}

# Starts libvirtd in the namespace, under `tini -s` (a child subreaper, in
# the foreground: the guests' QEMU processes, daemonized by libvirtd, are
# reaped the moment they exit; orphans otherwise go to this machine's PID 1,
# which reaps them 1-2 s late, and libvirtd's destroy waits until the zombie
# is gone), with the configuration and SASL folder `up` wrote; returns once
# it wrote its pid file.
# Closes every descriptor above 2 of the current (sub)shell. No descriptor
# of the caller may live on in a daemon: run under `flock
# /run/lago-testhost.lock`, a daemon would hold the test host's lock for as
# long as it runs.
close_inherited_fds() {
    local f
    for f in "/proc/$BASHPID/fd"/*; do
        f=${f##*/}
        if [ "$f" -gt 2 ]; then eval "exec $f>&-" 2>/dev/null || true; fi
    done
}

start_libvirtd() {
    rm -f "$LAGO_TEST_STATE/libvirtd.pid"
    (
        close_inherited_fds
        exec ip netns exec "$LAGO_TEST_NETNS" env SASL_CONF_PATH="$LAGO_TEST_STATE/sasl2" setsid tini -s -- \
            libvirtd --listen -f "$LAGO_TEST_STATE/libvirtd.conf" -p "$LAGO_TEST_STATE/libvirtd.pid"
    ) < /dev/null >> "$LAGO_TEST_STATE/libvirtd.out" 2>&1 &
    for _ in $(seq 100); do [ -s "$LAGO_TEST_STATE/libvirtd.pid" ] && break; sleep 0.1; done
    [ -s "$LAGO_TEST_STATE/libvirtd.pid" ] || host_die "libvirtd did not start (see $LAGO_TEST_STATE/libvirtd.out)"
    host_log "libvirtd started in namespace $LAGO_TEST_NETNS (pid $(cat "$LAGO_TEST_STATE/libvirtd.pid"))"
}

# Waits (30 s at most) until `virsh -c qemu:///system` answers in the namespace.
wait_for_virsh() {
    for _ in $(seq 300); do
        ip netns exec "$LAGO_TEST_NETNS" virsh -q -c qemu:///system version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    host_die "virsh -c qemu:///system does not answer after 30 s"
}

# The remote test hosts (tests/host/remote-up, remote.sh) keep their state
# here; the main host's scripts only read their pid files, to leave their
# daemons alone.
LAGO_TEST_REMOTE_DIR=${LAGO_TEST_REMOTE_DIR:-$LAGO_TEST_ROOT/remote}
export LAGO_TEST_REMOTE_DIR

# Pids of the live daemons the remote test hosts' remote-up started
# (libvirtd, virtlogd, sshd, the namespace holder), one a line.
remote_daemon_pids() {
    local f name
    for f in "$LAGO_TEST_REMOTE_DIR"/rh*/*.pid; do
        [ -f "$f" ] || continue
        name=$(basename "$f" .pid)
        [ "$name" = holder ] && name="sleep"
        live_pid "$f" "$name"
    done
    return 0
}
