#!/bin/bash
# The built-in demo: heat-agent's main job end to end, no cloud needed.
#   metadata dir (local collector) -> cache + change detection -> os-refresh-config phases
#   -> os-apply-config renders templates -> a `script` deployment runs -> its CFN-style signal
#   is delivered to a local receiver -> results printed.
# Everything happens in a temp directory; nothing outside it is touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
echo "== building heat-agent"
cargo build --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/debug/heat-agent"

DEMO_ROOT=$(mktemp -d /tmp/heat-agent-demo.XXXXXX)
export DEMO_ROOT
trap 'kill $receiver 2>/dev/null || true' EXIT
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

echo "== os-collect-config --one-time (local collector -> os-refresh-config)"
os-collect-config --one-time --config-file /dev/null \
    --cachedir "$DEMO_ROOT/cache" --backup-cachedir "$DEMO_ROOT/cache-backup" \
    --local-path "$DEMO_ROOT/local-data" \
    --command "os-refresh-config --lockfile $DEMO_ROOT/refresh.lock" local

echo
echo "== rendered $DEMO_ROOT/root/etc/demo/motd"
cat "$DEMO_ROOT/root/etc/demo/motd"
echo
echo "== signal received by the loopback receiver"
cat "$DEMO_ROOT/signals.jsonl"
echo
echo "== heat-agent status"
heat-agent status || true
echo
echo "== second run: nothing changed, nothing runs"
os-collect-config --one-time --config-file /dev/null \
    --cachedir "$DEMO_ROOT/cache" --backup-cachedir "$DEMO_ROOT/cache-backup" \
    --local-path "$DEMO_ROOT/local-data" \
    --command "os-refresh-config --lockfile $DEMO_ROOT/refresh.lock" local
echo "signals received: $(wc -l < "$DEMO_ROOT/signals.jsonl") (still one)"
echo
echo "demo files left in $DEMO_ROOT"
