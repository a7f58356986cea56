#!/bin/bash
# The built-in demo: heat-agent's main job end to end, no cloud needed.
#   metadata dir (local collector) -> cache + change detection -> os-refresh-config phases
#   -> os-apply-config renders templates -> a `script` deployment runs -> its CFN-style signal
#   is delivered to a local receiver -> results printed.
# Prerequisites: cargo (Rust toolchain), python3 and bash. Everything happens in a temp
# directory, left in place for `heat-agent status` afterwards (the last lines say how to remove
# it); nothing outside it is touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
for tool in python3 ${HEAT_AGENT_DEMO_BIN:-cargo}; do
    command -v "$tool" >/dev/null || { echo "demo: $tool not found (prerequisites: cargo, python3, bash)" >&2; exit 1; }
done
if [ -n "${HEAT_AGENT_DEMO_BIN:-}" ]; then
    bin=$HEAT_AGENT_DEMO_BIN # a binary built already (the test suite's)
    echo "== using $bin"
else
    echo "== building heat-agent (cargo build; the first build takes a few minutes)"
    cargo build --manifest-path "$repo/Cargo.toml"
    bin="$repo/target/debug/heat-agent"
fi

DEMO_ROOT=$(mktemp -d /tmp/heat-agent-demo.XXXXXX)
export DEMO_ROOT
finish() {
    rc=$?
    kill "$receiver" 2>/dev/null || true
    if [ "$rc" != 0 ]; then
        echo "demo failed (exit $rc); its files are in $DEMO_ROOT (remove with: rm -rf $DEMO_ROOT)" >&2
    fi
}
receiver=
trap finish EXIT
mkdir -p "$DEMO_ROOT/bin" "$DEMO_ROOT/local-data" "$DEMO_ROOT/root"
chmod 700 "$DEMO_ROOT/local-data"
for name in heat-agent os-collect-config os-apply-config os-refresh-config dib-run-parts heat-config-notify; do
    ln -s "$bin" "$DEMO_ROOT/bin/$name"
done
cp -r "$here/os-refresh-config" "$DEMO_ROOT/os-refresh-config"

# A tiny loopback receiver standing in for heat-api-cfn: records each signal it gets.
python3 - "$DEMO_ROOT" <<'PY' &
import http.server, json, os, sys
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(os.path.join(root, "signals.jsonl"), "ab") as f:
            f.write(json.dumps({"method": "POST", "path": self.path.split("?")[0],
                                "content_type": self.headers.get("Content-Type"),
                                "body": json.loads(body or b"{}")}).encode() + b"\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
# systemd's notify socket stand-in: the agent's STATUS= lines (what `systemctl status` shows)
import socket, threading
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(os.path.join(root, "notify.sock"))
def statuses():
    while True:
        for line in notify.recv(65536).decode(errors="replace").splitlines():
            if line.startswith("STATUS="):
                with open(os.path.join(root, "status.log"), "a") as f:
                    f.write(line[len("STATUS="):] + "\n")
threading.Thread(target=statuses, daemon=True).start()
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(os.path.join(root, "port"), "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY
receiver=$!
for _ in $(seq 100); do [ -s "$DEMO_ROOT/port" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$DEMO_ROOT/port")/v1/signal/demo?Signature=not-a-real-signature"
sed "s|@SIGNAL_URL@|$url|" "$here/local-data/demo.json.in" > "$DEMO_ROOT/local-data/demo.json"

export PATH="$DEMO_ROOT/bin:$PATH"
export OS_REFRESH_CONFIG_BASE_DIR="$DEMO_ROOT/os-refresh-config"
export OS_CONFIG_APPLIER_TEMPLATES="$here/templates"
export HEAT_SHELL_CONFIG="$DEMO_ROOT/root/var/run/heat-config/heat-config"
export HEAT_CONFIG_DEPLOYED="$DEMO_ROOT/deployed"
export HEAT_CONFIG_DEPLOYED_OLD="$DEMO_ROOT/deployed-old"
export HEAT_CONFIG_HOOKS="$DEMO_ROOT/hooks"
export HEAT_SCRIPT_WORKING="$DEMO_ROOT/heat-config-script"
export HEAT_SCRIPT_OUTPUTS="$DEMO_ROOT/heat-config-script-outputs"
export HEAT_AGENT_STATE_DIR="$DEMO_ROOT/state"
export HEAT_AGENT_CONFIG_DIR="$DEMO_ROOT/etc-heat-agent"

collect() {
    : >"$DEMO_ROOT/status.log"
    NOTIFY_SOCKET="$DEMO_ROOT/notify.sock" os-collect-config --one-time --config-file /dev/null \
        --cachedir "$DEMO_ROOT/cache" --backup-cachedir "$DEMO_ROOT/cache-backup" \
        --local-path "$DEMO_ROOT/local-data" \
        --command "os-refresh-config --lockfile $DEMO_ROOT/refresh.lock" local
    for _ in $(seq 20); do [ -s "$DEMO_ROOT/status.log" ] && break; sleep 0.05; done
    echo
    echo "== collect step (the agent's status line, as \`systemctl status heat-agent\` shows it)"
    cat "$DEMO_ROOT/status.log"
}

echo "== os-collect-config --one-time (local collector -> os-refresh-config)"
collect

echo
echo "== rendered $DEMO_ROOT/root/etc/demo/motd"
cat "$DEMO_ROOT/root/etc/demo/motd"
echo
echo "== signal received by the loopback receiver"
cat "$DEMO_ROOT/signals.jsonl"
echo
echo "== heat-agent status --state-dir $DEMO_ROOT/state"
heat-agent status --state-dir "$DEMO_ROOT/state" || true
echo
echo "== second run: nothing changed, nothing runs"
collect
echo "signals received: $(wc -l < "$DEMO_ROOT/signals.jsonl") (still one)"
echo
echo "Look at the result again with:"
echo "    $bin status --state-dir $DEMO_ROOT/state"
echo "The demo's files are in $DEMO_ROOT; remove them with: rm -rf $DEMO_ROOT"
