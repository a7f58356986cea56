#!/bin/bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (see
# tests/setup.sh), then the formatting and lint gates, then every test. CI runs exactly this.
#
# It always ends with one `total: N passed, M failed` line, whatever failed on the way (a gate
# that fails counts as one failed test), and exits non-zero when M > 0.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
gate_failures=0
gate() {
    local name=$1
    shift
    echo "== $name"
    if ! "$@"; then
        echo "== $name: FAILED" >&2
        gate_failures=$((gate_failures + 1))
        return 1
    fi
}

if ! gate "tests/setup.sh" tests/setup.sh; then
    echo "total: 0 passed, 1 failed"
    exit 1
fi
export HEAT_AGENT_TEST_VENV="$PWD/tests/.venv"
# differential and real-tool tests fail (instead of skipping) when a reference is missing
export HEAT_AGENT_REQUIRE_REFERENCE=1
gate "cargo fmt --check" cargo fmt --all -- --check
gate "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
# tee's status is not cargo's: keep cargo's from PIPESTATUS
cargo test --all-targets --no-fail-fast 2>&1 | tee target/test-output.txt
cargo_status=${PIPESTATUS[0]}
# one closing line for the whole run
tests/summarize.sh target/test-output.txt "$cargo_status" "$gate_failures"
