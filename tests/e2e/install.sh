#!/bin/bash
# Install what the suite needs (idempotent; a second run takes ~1 s):
#  - Debian: postgresql (the database), curl, puppet (group: puppet hook), redis-server (Zaqar's store)
#  - venv-srv:   openstack-heat + keystone + gunicorn + the heat/openstack clients (pinned lock)
#  - venv-salt:  salt (salt-call, group: salt; its own venv as its pins are its own)
#  - venv-swift:   OpenStack Swift + keystonemiddleware (pinned lock; only with E2E_SWIFT=1)
#  - venv-zaqar:   OpenStack Zaqar + redis client (pinned lock; only with E2E_ZAQAR=1)
#  - venv-guest: the guest's python tools: ansible-core (group: ansible) and, for E2E_AGENT=python,
#                the reference agent (os-collect-config & co, pinned lock)
#  - the heat-agents sdist from PyPI, unpacked (element files: 55-heat-config, hooks, templates)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
t0=$(e2e_now)
mkdir -p "$E2E_BASE" "$E2E_LOGS" "$E2E_RUN" "$E2E_BASE/src"
PY=${E2E_PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11)' || {
    echo "need python >= 3.11 (heat 26 requires it)" >&2
    exit 1
}

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
[ -n "$(e2e_pg_bin)" ] || need_apt+=(postgresql)
command -v puppet >/dev/null || need_apt+=(puppet)
if [ "$E2E_ZAQAR" = 1 ]; then [ -x /usr/bin/redis-server ] || need_apt+=(redis-server); fi
"$PY" -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    e2e_log "apt-get install ${need_apt[*]}"
    apt-get update -qq
    # never let a package start a service bound to all interfaces
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" \
        >"$E2E_LOGS/apt-install.log" 2>&1 || { tail -20 "$E2E_LOGS/apt-install.log"; exit 1; }
    [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

install_venv() { # dir requirement-files...
    local dir=$1
    shift
    local stamp=$dir/.e2e-lock.sha want tv
    want=$(cat "$@" | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
    tv=$(e2e_now)
    [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
    local reqs=()
    for r in "$@"; do reqs+=(-r "$r"); done
    "$dir/bin/pip" install -q --disable-pip-version-check "${reqs[@]}" \
        >"$E2E_LOGS/pip-$(basename "$dir").log" 2>&1 ||
        { tail -30 "$E2E_LOGS/pip-$(basename "$dir").log"; exit 1; }
    echo "$want" >"$stamp"
    e2e_log "$(basename "$dir") installed in $(e2e_elapsed "$tv")s"
}
install_venv "$E2E_SRV_VENV" "$E2E_DIR/requirements-server.txt"
install_venv "$E2E_GUEST_VENV" "$E2E_DIR/requirements-python-agent.txt" "$E2E_DIR/requirements-guest.txt"
install_venv "$E2E_SALT_VENV" "$E2E_DIR/requirements-salt.txt"
if [ "$E2E_SWIFT" = 1 ]; then install_venv "$E2E_SWIFT_VENV" "$E2E_DIR/requirements-swift.txt"; fi
if [ "$E2E_ZAQAR" = 1 ]; then install_venv "$E2E_ZAQAR_VENV" "$E2E_DIR/requirements-zaqar.txt"; fi

# heat-agents element files (hooks, 55-heat-config, heat-config-notify, os-apply-config templates)
HA=$E2E_BASE/src/heat_agents-$E2E_AGENTS_VERSION
if [ ! -d "$HA/heat-config" ]; then
    tmp=$(mktemp -d)
    "$E2E_GUEST_VENV/bin/pip" download -q --disable-pip-version-check --no-deps \
        --no-binary :all: "heat-agents==$E2E_AGENTS_VERSION" -d "$tmp"
    tar xzf "$tmp/heat_agents-$E2E_AGENTS_VERSION.tar.gz" -C "$E2E_BASE/src"
    rm -rf "$tmp"
fi
e2e_log "install complete in $(e2e_elapsed "$t0")s"
