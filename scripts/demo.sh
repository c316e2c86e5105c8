#!/usr/bin/env bash
# Demonstration: start a sample workload, checkpoint it, kill it, restore
# it, and show that it carried on where it stopped. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
bin=.build/release
work=$(mktemp -d /tmp/crtool-demo.XXXXXX)
trap 'kill -9 "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== starting fixture-counter with a 256 MiB heap (half zero pages)"
# Descriptors this shell inherited (pipes of a CI runner, say) would be
# part of the process; crtool refuses kinds it does not support yet.
(
    for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
    exec setsid "$bin/fixture-counter" --heap-mib 256 --zero-half >"$work/out.log" 2>&1 </dev/null
) &
pid=$!
# The dump kills it: disowned, the shell reaps it without reporting that.
disown "$pid"
for _ in $(seq 150); do grep -qs ready "$work/out.log" && break; sleep 0.2; done
grep -qs ready "$work/out.log" || { echo "fixture-counter did not start:"; cat "$work/out.log" 2>/dev/null; exit 1; }
sleep 1
echo "   pid $pid, last lines:"; tail -n 2 "$work/out.log" | sed 's/^/     /'

echo "== crtool check"
"$bin/crtool" check | sed 's/^/   /'

echo "== crtool dump -t $pid -D $work/image"
"$bin/crtool" dump -t "$pid" -D "$work/image" --verbose | sed 's/^/   /'
for _ in $(seq 100); do ps -p "$pid" >/dev/null || break; sleep 0.05; done
echo "   the process is gone: $(ps -p "$pid" >/dev/null && echo 'still running?!' || echo 'yes')"
last=$(grep tick "$work/out.log" | tail -n 1)
echo "   its last line before the dump: $last"

echo "== crtool show $work/image"
"$bin/crtool" show "$work/image" | sed 's/^/   /'

echo "== crtool restore -D $work/image -d"
"$bin/crtool" restore -D "$work/image" -d | sed 's/^/   /'
sleep 1.5
kill -USR1 "$pid"
sleep 0.5
echo "   pid $pid is running again: $(ps -o pid=,comm= -p "$pid")"
echo "   lines after the restore (the tick continues, the heap checksum still verifies):"
sed -n "/^$last\$/,\$p" "$work/out.log" | head -n 4 | sed 's/^/     /'
grep verify "$work/out.log" | tail -n 1 | sed 's/^/     /'
grep -q FAIL "$work/out.log" && { echo "the workload reported a failure"; exit 1; }
echo "== done"
