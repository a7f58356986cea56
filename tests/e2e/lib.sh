# Settings and helpers for the end-to-end suite. Source it; do not execute.
# Everything lives under $E2E_BASE and every listener binds 127.0.0.1.
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export E2E_DIR
export E2E_REPO=${E2E_REPO:-$(cd "$E2E_DIR/../.." && pwd)}
export E2E_BASE=${E2E_BASE:-/var/tmp/heat-agent-e2e}
export E2E_SRV_VENV=${E2E_SRV_VENV:-$E2E_BASE/venv-srv}      # heat + keystone + clients
export E2E_GUEST_VENV=${E2E_GUEST_VENV:-$E2E_BASE/venv-guest}  # python agent + ansible-core (the "guest's" python tools)
export E2E_SALT_VENV=${E2E_SALT_VENV:-$E2E_BASE/venv-salt}    # salt (salt-call for group: salt)
export E2E_SWIFT_VENV=${E2E_SWIFT_VENV:-$E2E_BASE/venv-swift}  # OpenStack Swift (object store for the temp-URL transports)
export E2E_ZAQAR_VENV=${E2E_ZAQAR_VENV:-$E2E_BASE/venv-zaqar}  # OpenStack Zaqar (queues for the ZAQAR_* transports)
export E2E_ETC=$E2E_BASE/etc
export E2E_DATA=$E2E_BASE/data
export E2E_LOGS=$E2E_BASE/logs
export E2E_RUN=$E2E_BASE/run
export E2E_RESULTS=$E2E_BASE/results
export E2E_GUEST=${E2E_GUEST:-$E2E_BASE/guest} # relocated guest filesystem root
# the agent's name: its pid file $E2E_RUN/NAME.pid and log $E2E_LOGS/NAME.log (fleet: one per guest)
export E2E_AGENT_NAME=${E2E_AGENT_NAME:-agent}

# Agent under test: "heat-agent" (default) or "python" (the reference agent).
export E2E_AGENT=${E2E_AGENT:-heat-agent}
# default: the lead's build, else this tree's debug build (CI: set it explicitly)
if [ -z "${E2E_AGENT_BIN:-}" ]; then
    # this tree's own build (run.sh builds it when missing)
    E2E_AGENT_BIN=$E2E_REPO/target/debug/heat-agent
fi
export E2E_AGENT_BIN
export E2E_AGENT_POLL=${E2E_AGENT_POLL:-3}

# OpenStack release pins (2026.1 series and its upper-constraints).
export E2E_AGENTS_VERSION=13.0.0   # heat-agents sdist: element files of the python agent

# Ports (own defaults, so a real-heat/ setup on the standard ports can coexist).
export E2E_HOST=127.0.0.1
# The host name in every URL Heat hands out and registers (catalog, auth_url, signal URLs):
# 127.0.0.1 by default; tests/vm uses a name that resolves to 127.0.0.1 on the host and to
# its forwarded address inside the VM. Listeners always bind E2E_HOST.
export E2E_PUBLIC_HOST=${E2E_PUBLIC_HOST:-$E2E_HOST}
export E2E_KEYSTONE_PORT=${E2E_KEYSTONE_PORT:-15000}
export E2E_HEAT_API_PORT=${E2E_HEAT_API_PORT:-18004}
export E2E_HEAT_CFN_PORT=${E2E_HEAT_CFN_PORT:-18000}
export E2E_NOVA_PORT=${E2E_NOVA_PORT:-18774}
export E2E_PG_PORT=${E2E_PG_PORT:-15433}
export E2E_SWIFT_PORT=${E2E_SWIFT_PORT:-18080} # swift proxy
# swift object/container/account servers: BASE, BASE+1, BASE+2 (16010-16012)
export E2E_SWIFT_SERVERS_PORT=${E2E_SWIFT_SERVERS_PORT:-16010}
# 1 = run a real Swift (keystone auth + tempurl) so POLL_TEMP_URL and TEMP_URL_SIGNAL are tested
export E2E_SWIFT=${E2E_SWIFT:-1}
export E2E_ZAQAR_PORT=${E2E_ZAQAR_PORT:-18888}
export E2E_REDIS_PORT=${E2E_REDIS_PORT:-16379}
# 1 = run a real Zaqar (keystone auth, redis stores) so ZAQAR_MESSAGE and ZAQAR_SIGNAL are tested
export E2E_ZAQAR=${E2E_ZAQAR:-1}
export E2E_KEYSTONE_URL=http://$E2E_PUBLIC_HOST:$E2E_KEYSTONE_PORT
export E2E_REGION=RegionOne

# Throwaway local-only credentials.
export E2E_ADMIN_PASSWORD=adminpass
export E2E_SERVICE_PASSWORD=servicepass
export E2E_PG_PASSWORD=pgpass
export E2E_AUTH_ENCRYPTION_KEY=0123456789abcdef0123456789abcdef
export E2E_PGDATA=$E2E_BASE/pg

# Stack owner for the client (the "demo" user made by bootstrap.py).
export OS_AUTH_URL=$E2E_KEYSTONE_URL/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=demo
export OS_PASSWORD=$E2E_ADMIN_PASSWORD
export OS_PROJECT_NAME=demo
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$E2E_REGION
export OS_INTERFACE=public

e2e_log() { echo "[e2e $(date -u +%H:%M:%S)] $*" >&2; }
e2e_now() { date +%s.%N; }
e2e_elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
e2e_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
e2e_db_url() { echo "postgresql+psycopg2://postgres:$E2E_PG_PASSWORD@127.0.0.1:$E2E_PG_PORT/$1"; }

# e2e_pid_alive NAME -> 0 if $E2E_RUN/NAME.pid names a live process
e2e_pid_alive() {
    local f=$E2E_RUN/$1.pid
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# e2e_start_bg NAME LOG CMD... -> start CMD in its own session, record its pid
e2e_start_bg() {
    local name=$1 log=$2
    shift 2
    if e2e_pid_alive "$name"; then return 1; fi
    setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$E2E_RUN/$name.pid"
}

# e2e_stop NAME [SIG] -> signal the recorded process group, wait, SIGKILL if needed
e2e_stop() {
    local name=$1 sig=${2:-TERM} f=$E2E_RUN/$1.pid pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    fi
    rm -f "$f"
}

# e2e_wait_http URL SECONDS -> wait until URL answers with any HTTP status
e2e_wait_http() {
    local url=$1 t=${2:-60} i
    for ((i = 0; i < t * 5; i++)); do
        curl -s -o /dev/null -m 2 "$url" && return 0
        sleep 0.2
    done
    return 1
}

e2e_wait_port() {
    local p=$1 t=${2:-60} i
    for ((i = 0; i < t * 5; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
