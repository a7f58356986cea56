#!/bin/bash
# The end-to-end suite against real Keystone + real Heat: install (idempotent), start
# the services on 127.0.0.1, run the scenarios, print "e2e: N passed, M failed",
# stop everything.
#
#   tests/e2e/run.sh [SCENARIO...]     default: all of
#       transports update fail ansible puppet salt structured delete fault-api fault-kill
#
# Environment:
#   E2E_AGENT=heat-agent|python   agent under test (default heat-agent)
#   E2E_AGENT_BIN=PATH            the heat-agent binary (default: this tree's target/debug/heat-agent, built if missing)
#   E2E_BASE=DIR                  all state (default /var/tmp/heat-agent-e2e)
#   E2E_KEEP=1                    leave the services running afterwards (stop: services.sh stop)
#   E2E_AGENT_POLL=N              the agent's polling interval in seconds (default 3)
#   E2E_SWIFT=0 / E2E_ZAQAR=0     no Swift / no Zaqar (their transport pairs are then skipped)
#   E2E_PAIRS=REGEX               only the transport pairs (e.g. POLL_SERVER_HEAT+HEAT_SIGNAL) matching it
# Results: $E2E_BASE/results/summary.json and one directory per scenario; logs in $E2E_BASE/logs.
# Documentation (scenarios, transport pairs, timings, CI): docs/e2e.md
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T0=$(e2e_now)
if [ "$E2E_AGENT" != python ] && [ ! -x "$E2E_AGENT_BIN" ] && [ "$E2E_AGENT_BIN" = "$E2E_REPO/target/debug/heat-agent" ]; then
    (cd "$E2E_REPO" && cargo build --quiet)
fi
if [ "$E2E_AGENT" != python ] && [ ! -x "$E2E_AGENT_BIN" ]; then
    echo "E2E_AGENT_BIN=$E2E_AGENT_BIN: no such executable (build it, or set E2E_AGENT_BIN / E2E_AGENT=python)" >&2
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi
cleanup() {
    "$E2E_DIR/guest.sh" stop || true
    if [ "${E2E_KEEP:-0}" != 1 ]; then "$E2E_DIR/services.sh" stop || true; fi
}
trap cleanup EXIT
rm -f "$E2E_RESULTS/summary.json" "$E2E_BASE/bin/heat-agent"
rc=0
if "$E2E_DIR/install.sh" && "$E2E_DIR/services.sh" start; then
    "$E2E_SRV_VENV/bin/python" "$E2E_DIR/scenarios.py" "$@" || rc=$?
else
    rc=1
fi
trap - EXIT
cleanup
e2e_log "suite finished in $(e2e_elapsed "$T0")s (agent: $E2E_AGENT); results in $E2E_RESULTS"
# the closing line: the counts from summary.json (a suite that could not start is one failure)
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("e2e: %d passed, %d failed" % (s["passed"], s["failed"]))' \
    "$E2E_RESULTS/summary.json" 2>/dev/null || { echo "e2e: 0 passed, 1 failed"; rc=1; }
exit $rc
