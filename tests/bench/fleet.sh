#!/bin/bash
# The fleet benchmark: what N in-guest agents cost the real Keystone + Heat (+ Swift,
# Zaqar) of tests/e2e, heat-agent and the Python reference agent side by side, for each
# poll transport. Installs and starts the e2e services (tests/e2e/install.sh,
# services.sh), runs fleet.py, prints the table and the scaling model, stops the
# services. Documentation: docs/performance.md ("Fleet").
#
#   tests/bench/fleet.sh
#
# Environment (defaults in brackets):
#   FLEET_N [20]             agents of each kind per transport
#   FLEET_MINUTES [10]       steady-state window per transport and agent kind
#   FLEET_POLL [10]          the agents' polling interval, seconds
#   FLEET_TRANSPORTS         [POLL_SERVER_HEAT POLL_SERVER_CFN POLL_TEMP_URL ZAQAR_MESSAGE]
#   FLEET_AGENTS             [heat-agent python]
#   FLEET_HERD               [POLL_SERVER_HEAT] transports that also get the update-latency
#                            and the heat-api outage measurements
#   FLEET_OUTAGE_S [120]     how long heat-api and heat-api-cfn are down
#   FLEET_IDLE_S [60]        the services' idle CPU, measured first and subtracted
#   FLEET_SIGNAL_WAIT_S [300] after the outage, how long to wait for every queued signal
#   E2E_AGENT_BIN            the heat-agent binary [this tree's target/release/heat-agent]
#   E2E_BASE, E2E_*_PORT, E2E_*_VENV: as for tests/e2e (see tests/e2e/lib.sh)
#   E2E_KEEP=1               leave the services running
# Results: $E2E_BASE/results/fleet/{fleet.json,table.md}
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
export E2E_AGENT_BIN=${E2E_AGENT_BIN:-$BENCH_DIR/../../target/release/heat-agent}
. "$BENCH_DIR/../e2e/lib.sh"
if [ ! -x "$E2E_AGENT_BIN" ] && [ "$E2E_AGENT_BIN" = "$BENCH_DIR/../../target/release/heat-agent" ]; then
    (cd "$E2E_REPO" && cargo build --release --quiet)
fi
[ -x "$E2E_AGENT_BIN" ] || { echo "E2E_AGENT_BIN=$E2E_AGENT_BIN: no such executable" >&2; exit 1; }
cleanup() {
    local f
    for f in "$E2E_RUN"/fleet-*.pid; do
        [ -e "$f" ] && E2E_AGENT_NAME=$(basename "$f" .pid) "$E2E_DIR/guest.sh" stop || true
    done
    if [ "${E2E_KEEP:-0}" != 1 ]; then "$E2E_DIR/services.sh" stop || true; fi
}
trap cleanup EXIT
rm -f "$E2E_BASE/bin/heat-agent" # guest.sh copies E2E_AGENT_BIN once per run
"$E2E_DIR/install.sh"
"$E2E_DIR/services.sh" start
"$E2E_SRV_VENV/bin/python" "$BENCH_DIR/fleet.py"
"$E2E_SRV_VENV/bin/python" "$BENCH_DIR/fleet_report.py" "$E2E_RESULTS/fleet/fleet.json" |
    tee "$E2E_RESULTS/fleet/table.md"
