# Shared settings and helpers of the remote test host scripts (sourced, not
# run): two libvirt hosts, each in its own network and mount namespace with
# its own virtlogd, libvirtd and sshd, joined to a client namespace by one
# veth pair each. See docs/testing.md, "Remote test hosts".
#
#   client ns lago-client          host ns lago-rhN (N = 1, 2)
#   lc-rhN 10.231.N.1/30  <-veth->  eth0 10.231.N.2/30
#
# Everything the scripts keep lives in $LAGO_TEST_REMOTE_DIR (default
# /var/lib/lago-tests/remote): the client's key, known_hosts and ssh
# configuration, and one folder per host (rhN/) with the host's private
# /etc/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and
# the pid files of what remote-up started.
# shellcheck shell=bash
here=${here:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
# shellcheck source=common.sh
. "$here/common.sh"

LAGO_TEST_CLIENT_NETNS=${LAGO_TEST_CLIENT_NETNS:-lago-client}
export LAGO_TEST_CLIENT_NETNS
# the hosts' numbers: host N is namespace lago-rhN at 10.231.N.2
# shellcheck disable=SC2034 # used by the scripts that source this file
REMOTE_HOSTS=(1 2)

rh_ns() { echo "lago-rh$1"; }
rh_dir() { echo "$LAGO_TEST_REMOTE_DIR/rh$1"; }
rh_addr() { echo "10.231.$1.2"; }
rh_client_addr() { echo "10.231.$1.1"; }
rh_client_if() { echo "lc-rh$1"; }

# true while process $1 exists and is not a zombie (the daemons remote-up
# starts outlive it: this machine's PID 1 reaps them 1-2 s after they exit)
proc_running() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${st%% *}" != Z ]
}

# live_pid (common.sh) that does not count a zombie as live
rlive_pid() {
    local pid
    pid=$(live_pid "$1" "$2")
    [ -n "$pid" ] && proc_running "$pid" && echo "$pid"
    return 0
}

netns_exists() { ip netns list | awk '{ print $1 }' | grep -qx "$1"; }

# pid of host N's namespace holder (the process that keeps its mount
# namespace alive), or nothing
rh_holder() { rlive_pid "$(rh_dir "$1")/holder.pid" sleep; }

# Run a command inside host N's network and mount namespaces.
rh_exec() {
    local n=$1 holder
    shift
    holder=$(rh_holder "$n")
    [ -n "$holder" ] || host_die "remote host $n is not up (no namespace holder): run tests/host/remote-up"
    nsenter -t "$holder" --net --mount -- "$@"
}

# virsh against host N's own libvirtd, from inside the host
rh_virsh() {
    local n=$1
    shift
    rh_exec "$n" virsh -q -c qemu:///system "$@"
}
