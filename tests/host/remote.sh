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

# --- for scripts in the client namespace (tests/host/remote-run) ---------------

# virsh against host N over qemu+ssh, from the client
hv() { # N virsh-args...
    local n=$1
    shift
    virsh -q -c "qemu+ssh://root@$(rh_addr "$n")/system" "$@"
}
# a command on host N, from the client
hssh() { # N command...
    local n=$1
    shift
    # shellcheck disable=SC2029 # the command is meant to expand here
    ssh "root@$(rh_addr "$n")" "$@"
}

# Prints "IMAGE SHA1": the newest version of the tiny template in the test
# repository folder $1 (through its repo.metadata) and its hash.
tiny_template() { # REPO
    python3 - "$1" <<'PY'
import json, os, sys
repo = sys.argv[1]
meta = json.load(open(os.path.join(repo, "repo.metadata")))
versions = meta["templates"]["tiny"]["versions"]
ver = max(versions, key=lambda v: versions[v].get("timestamp", 0))
handle = versions[ver]["handle"]
root = meta["sources"][versions[ver]["source"]]["args"]["root"]
path = os.path.join(root, handle)
print(path, open(path + ".hash").read().split()[0])
PY
}

# Makes a NoCloud seed DIR.img (vfat labelled CIDATA; its files also in
# DIR/) setting the instance id, the hostname and root's authorized key.
nocloud_seed() { # DIR INSTANCE-ID HOSTNAME PUBKEY-FILE
    local s=$1 id=$2 name=$3 pub=$4
    mkdir -p "$s"
    printf 'instance-id: %s\nlocal-hostname: %s\n' "$id" "$name" > "$s/meta-data"
    printf '#cloud-config\nhostname: %s\nssh_authorized_keys:\n  - %s\n' "$name" "$(cat "$pub")" > "$s/user-data"
    mkfs.vfat -n CIDATA -C "$s.img" 1024 >/dev/null || { echo "mkfs.vfat of the seed failed" >&2; return 1; }
    MTOOLS_SKIP_CHECK=1 mcopy -i "$s.img" "$s/meta-data" "$s/user-data" :: || { echo "mcopy into the seed failed" >&2; return 1; }
}
