#!/bin/bash
# Benchmarks: heat-agent (the static musl binary) against the Python reference with the shared harness
# (../shared/bench), scenario by scenario back to back (ab.sh), then the ratio table.
#   tests/bench/run.sh                 # s1 s2 s4 s6 s5 s3
#   tests/bench/run.sh s1 s4           # a subset
# Knobs of the harness apply (RUNS_FAST, RUNS_SLOW, DURATION, ...). Results go to
# target/bench-results/{rust,python-ref}/; the table is printed and saved to
# target/bench-results/table.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
[ -x "$bench/ab.sh" ] || { echo "benchmark harness not found at $bench (set BENCH_DIR)" >&2; exit 1; }
# The binary operators ship: the static musl build (packaging/build-static.sh); when that
# cannot be built here, the glibc release build. BENCH_BIN=path overrides both.
if [ -n "${BENCH_BIN:-}" ]; then
    bin=$BENCH_BIN
elif "$repo/packaging/build-static.sh" >/dev/null 2>&1; then
    bin="$repo/target/x86_64-unknown-linux-musl/release/heat-agent"
else
    echo "static musl build unavailable; benchmarking the glibc release build" >&2
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
    bin="$repo/target/release/heat-agent"
fi
echo "benchmarking $bin ($(stat -c %s "$bin") bytes)" >&2
bindir="$repo/target/bench-bin"
rm -rf "$bindir"; mkdir -p "$bindir"
cp "$bin" "$bindir/heat-agent"
for n in os-collect-config os-apply-config os-refresh-config dib-run-parts heat-config-notify hook-script; do
    ln -s heat-agent "$bindir/$n"
done
"$bench/setup_pyref.sh" >/dev/null
cat > "$repo/target/rust.env" <<ENV
AGENT_LABEL=rust
AGENT_BIN=$bindir/heat-agent
. "$bench/impl/example-rust.env"
# our journal and outbox (the reference has none); kept across the runs of a scenario, which
# only makes heat-agent slower (more journal records to read at start)
export HEAT_AGENT_STATE_DIR="\${BENCH_STATE:-\${TMPDIR:-/tmp}/heat-agent-bench/state}/heat-agent-state"
ENV
export RESULTS_ROOT="$repo/target/bench-results"
mkdir -p "$RESULTS_ROOT"
"$bench/ab.sh" "$repo/target/rust.env" "$bench/impl/python.env" "${@:-s1 s2 s4 s6 s5 s3}" \
    | tee "$RESULTS_ROOT/table.md"
