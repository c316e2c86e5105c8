#!/usr/bin/env bash
# Coverage-guided fuzzing of the image readers with libFuzzer: real images
# of sample workloads (a process tree with a zombie and shared memory,
# System V IPC, eight threads in UTS, IPC, network, cgroup and time namespaces of their
# own (the IPC one holding System V objects, the network one's loopback
# up and a veth device into the host's, with an address and a route), a
# dump on top of a pre-dump, a capture program's TPACKET_V2 receive ring
# holding frames it has not read) are damaged one
# file at a time and checked as `crtool restore --check-only` checks them.
# A crash, a hang or a damaged file accepted without its checksums is a
# failure: libFuzzer saves the input and this script exits 1, naming it;
# `crtool-fuzz FILE` (the plain build) runs it again.
#
#   scripts/fuzz.sh [SECONDS]      fuzz for SECONDS (default 60). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
swift build
bin=.build/debug
swift build --scratch-path .build/fuzz --product crtool-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DLIBFUZZER
fuzzer=.build/fuzz/debug/crtool-fuzz

work=$(mktemp -d /tmp/crtool-fuzz.XXXXXX)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null || true; rm -rf "$work/images" "$work/data"' EXIT
mkdir -p "$work/images" "$work/data"

launcher=()
# Starts a workload in a session of its own with no inherited descriptors
# (through the command in the array $launcher, when set) and waits until it has printed "ready" (or
# a second has passed). The workload is fixture-NAME, or with NAME.py one
# of fixtures/python run by python3.
start() {
    local name=$1; shift
    local program=("$bin/fixture-$name")
    [[ $name == *.py ]] && program=(python3 "fixtures/python/$name")
    (
        for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
        exec setsid "${launcher[@]}" "${program[@]}" "$@" >"$work/data/$name.log" 2>&1 </dev/null
    ) &
    pid=$!
    disown "$pid"
    pids+=("$pid")
    for _ in $(seq 50); do grep -qs ready "$work/data/$name.log" && break; sleep 0.1; done
    sleep 0.3
}

mkdir -p "$work/data/tree" "$work/data/sysvipc"
start tree "$work/data/tree"
"$bin/crtool" dump -q -t "$pid" -D "$work/images/tree" --compress none
start sysvipc "$work/data/sysvipc"
"$bin/crtool" dump -q -t "$pid" -D "$work/images/sysvipc"
# System V objects outlive the workload: removed once the image holds
# them, or each run leaves a set behind whose key a later run's fixture
# may be given again (ftok of a reused inode), which it then cannot make.
read -r _ _ shm _ sem _ msg < <(grep -m1 '^ipc ' "$work/data/sysvipc.log")
ipcrm -m "$shm" -s "$sem" -q "$msg"
# In UTS, IPC, network, cgroup and time namespaces of its own, the IPC one holding
# objects nobody maps, both that and the network one with a sysctl set,
# the network one with a veth device whose other end is in the host's
# (left down: the dump removes it): namespaces.json then lists them, with
# a page file.
launcher=(unshare --uts --ipc --net --cgroup --time --monotonic 500 /bin/sh -c 'ip link set lo up && echo 77 > /proc/sys/net/core/somaxconn && echo 77 > /proc/sys/kernel/msgmni && ipcmk -M 8192 >/dev/null && ipcmk -Q >/dev/null && ipcmk -S 2 >/dev/null && ip link add eth0 type veth peer name crfz$$ netns 1 && ip address add 10.217.0.2/24 dev eth0 && ip link set eth0 up && ip route add 10.218.0.0/16 via 10.217.0.1 && exec "$0" "$@"')
start threads
launcher=()
"$bin/crtool" dump -q -t "$pid" -D "$work/images/threads" --compress zlib:1
start counter --heap-mib 1
"$bin/crtool" pre-dump -q -t "$pid" -D "$work/images/counter-pre"
sleep 0.2
"$bin/crtool" dump -q -t "$pid" -D "$work/images/counter" --prev-images-dir ../counter-pre
# A pipe full of packets: process-PID.json has their lengths.
start pipe --packet
"$bin/crtool" dump -q -t "$pid" -D "$work/images/packetpipe"
# Held (it reads nothing while the file exists) with three frames in its
# ring: process-PID.json has the ring and the VMA that maps it.
touch "$work/data/hold"
start packetring.py "$work/data/hold" 2
python3 -c 'import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.bind(("lo", 0x88B5))
for n in range(3): s.send(bytes(12) + b"\x88\xb5" + b"frame %d" % n + bytes(60))'
"$bin/crtool" dump -q -t "$pid" -D "$work/images/packetring"

export CRTOOL_FUZZ_IMAGES="$work/images/tree:$work/images/sysvipc:$work/images/threads:$work/images/counter:$work/images/packetpipe:$work/images/packetring"
"$bin/crtool-fuzz" --seeds "$work/seeds"
largest=$(stat -c %s "$work"/seeds/* | sort -n | tail -n 1)
mkdir -p "$work/corpus"
echo "fuzzing for $seconds s; inputs that crash are saved in $work"
status=0
SWIFT_BACKTRACE=enable=no "$fuzzer" -seed=1 -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
    -max_len=$((largest + 4096)) -artifact_prefix="$work/" -print_final_stats=1 \
    "$work/corpus" "$work/seeds" || status=$?
if [ "$status" -ne 0 ]; then
    echo "crtool-fuzz failed; the input that did it: $(ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | tr '\n' ' ')"
    exit 1
fi
rm -rf "$work"
