#!/bin/bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (see
# tests/setup.sh), then the formatting and lint gates, then every test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
export HEAT_AGENT_TEST_VENV="$PWD/tests/.venv"
# differential and real-tool tests fail (instead of skipping) when a reference is missing
export HEAT_AGENT_REQUIRE_REFERENCE=1
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --all-targets --no-fail-fast 2>&1 | tee target/test-output.txt
# one closing line for the whole run
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f; exit (f > 0) }' target/test-output.txt
