#!/usr/bin/env bash
# Builds everything (crtool, the restore stub, the fixtures) and runs the
# whole test suite: unit tests, image fuzzing, and end-to-end checkpoint
# and restore of real processes; then a minute of coverage-guided fuzzing
# of the image readers (scripts/fuzz.sh). Needs root (ptrace, clone3 with
# set_tid).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing
scripts/fuzz.sh 60
