#!/bin/bash
# Usage: tests/summarize.sh CARGO_TEST_OUTPUT CARGO_STATUS GATE_FAILURES
# Prints the suite's one closing line, `total: N passed, M failed`, from the `test result:` lines
# of cargo test's output, and exits non-zero when M > 0. A failed gate counts as one failed test;
# a cargo run that failed without any failed test (a build error, a crashed test binary) as one.
set -uo pipefail
output=$1 cargo_status=$2 gates=$3
awk -v gates="$gates" -v cargo_status="$cargo_status" '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    END {
        f += gates
        if (cargo_status != 0 && f == 0) f = 1
        printf "total: %d passed, %d failed\n", p, f
        exit (f > 0)
    }' "$output"
