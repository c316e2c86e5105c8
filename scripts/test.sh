#!/usr/bin/env bash
# Builds everything (crtool, the restore stub, the fixtures) and runs the
# whole test suite: unit tests, image fuzzing, and end-to-end checkpoint
# and restore of real processes; then a minute of coverage-guided fuzzing
# of the image readers (scripts/fuzz.sh). Needs root (ptrace, clone3 with
# set_tid).
#
# The suite prints a few hundred kilobytes; when a test fails, the lines
# that name it are printed again at the end, so that a log cut to its
# last lines still says which test failed and where.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
log=$(mktemp --tmpdir crtool-tests.XXXXXX.log)
if ! swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"; then
    echo "== failed tests (whole output: $log) =="
    grep -E ": error: |' failed \(" "$log" || echo "(no test named a failure: the test run itself ended early)"
    exit 1
fi
rm -f "$log"
scripts/fuzz.sh 60
