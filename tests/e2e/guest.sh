#!/bin/bash
# The "guest": the in-guest agent laid out under a relocated root ($E2E_GUEST) the way
# an image would carry it, relocated only through the agents' own environment
# variables, and started the way a VM starts it.
#   guest.sh setup            lay out the guest root for $E2E_AGENT (heat-agent | python)
#   guest.sh configure FILE   give the agent what Heat gave the server: FILE is the
#                             server's os_collect_config attribute (JSON), written as
#                             local-data (what the deployed-server bootstrap does)
#   guest.sh start | stop     run os-collect-config in the background / stop it
#   guest.sh kill             SIGKILL the agent and everything it started (a crash)
#   guest.sh metrics          CPU seconds (agent + waited-for children) and peak RSS, JSON
#   guest.sh reset            stop + wipe the guest root
#   guest.sh env              print the agent's environment
# Several guests side by side (tests/bench/fleet.sh): E2E_GUEST (the root) and E2E_AGENT_NAME
# (pid file and log name, default "agent") per guest.
# heat-agent: $E2E_AGENT_BIN copied to usr/bin/heat-agent, the legacy names as symlinks,
# phase shims 20-os-apply-config (heat-agent apply) and 55-heat-config (heat-agent
# deploy), hook wrappers (heat-agent hook NAME). python: the reference tools from
# venv-guest and the heat-agents element files.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
G=$E2E_GUEST
HA=$E2E_BASE/src/heat_agents-$E2E_AGENTS_VERSION
ORC=$G/usr/libexec/os-refresh-config
OAC=$G/usr/libexec/os-apply-config/templates
GREL=${G#/} # os-apply-config renders to "/": templates mirror the guest root's absolute path

agent_env() {
    export PATH=$G/usr/bin:$G/opt/tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    export OS_REFRESH_CONFIG_BASE_DIR=$ORC
    export OS_CONFIG_APPLIER_TEMPLATES=$OAC
    export HEAT_CONFIG_HOOKS=$G/var/lib/heat-config/hooks
    export HEAT_CONFIG_DEPLOYED=$G/var/lib/heat-config/deployed
    export HEAT_CONFIG_DEPLOYED_OLD=$G/var/run/heat-config/deployed
    export HEAT_SHELL_CONFIG=$G/var/run/heat-config/heat-config
    export HEAT_CONFIG_NOTIFY=$G/usr/bin/heat-config-notify
    export HEAT_SCRIPT_WORKING=$G/var/lib/heat-config/heat-config-script
    export HEAT_SCRIPT_OUTPUTS=$G/var/run/heat-config/heat-config-script
    export HEAT_ANSIBLE_WORKING=$G/var/lib/heat-config/heat-config-ansible
    export HEAT_ANSIBLE_OUTPUTS=$G/var/run/heat-config/heat-config-ansible
    export HEAT_PUPPET_WORKING=$G/var/lib/heat-config/heat-config-puppet
    export HEAT_PUPPET_OUTPUTS=$G/var/run/heat-config/heat-config-puppet
    export HEAT_PUPPET_HIERA_DATADIR=$G/etc/puppet/hieradata
    export HEAT_PUPPET_CMD=$G/opt/tools/bin/puppet
    export HEAT_SALT_WORKING=$G/var/lib/heat-config/heat-config-salt
    export SALT_MINION_CONFIG=$G/etc/salt/minion
    export HEAT_AGENT_STATE_DIR=$G/var/lib/heat-agent
    export HEAT_AGENT_SYSCONFDIR=$G/etc
    export HEAT_AGENT_CONFIG_DIR=$G/etc/heat-agent
    export HEAT_AGENT_LOG_LEVEL=${HEAT_AGENT_LOG_LEVEL:-debug}
    export ANSIBLE_LOCAL_TEMP=$G/tmp/ansible ANSIBLE_HOME=$G/var/lib/ansible
    # the python tools' locale handling: plain C + UTF-8 mode (no locales installed)
    export LC_ALL=C PYTHONCOERCECLOCALE=0 PYTHONUTF8=1
    unset LANG OS_AUTH_URL OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_USER_DOMAIN_NAME \
        OS_PROJECT_DOMAIN_NAME OS_REGION_NAME OS_INTERFACE OS_IDENTITY_API_VERSION
}

occ_args() {
    OCC_ARGS=(--config-file "$G/etc/os-collect-config.conf"
        --cachedir "$G/var/lib/os-collect-config"
        --backup-cachedir "$G/var/run/os-collect-config"
        --local-path "$G/var/lib/os-collect-config/local-data"
        --keystone-cache_dir "$G/var/cache/os-collect-config"
        --polling-interval "$E2E_AGENT_POLL"
        --command "os-refresh-config --lockfile $G/var/run/os-refresh-config.lock"
        --debug)
}

shim() { # path command...
    local path=$1
    shift
    printf '#!/bin/sh\nexec %s\n' "$*" >"$path"
    chmod 0755 "$path"
}

setup() {
    [ -d "$HA/heat-config" ] || "$E2E_DIR/install.sh"
    mkdir -p "$G/etc/heat-agent" "$G/var/lib/os-collect-config/local-data" "$G/var/run" "$G/tmp" \
        "$G/var/cache/os-collect-config" "$G/usr/bin" "$G/var/lib/heat-config/hooks" \
        "$G/opt/tools/bin" "$G/etc/puppet/hieradata" "$G/var/lib/heat-agent"
    chmod 700 "$G/var/lib/os-collect-config/local-data"
    # guest tools the hooks call
    # (ansible needs a UTF-8 locale; the python agent's tools need LC_ALL=C, see agent_env)
    printf '#!/bin/sh\nLC_ALL=C.UTF-8 exec %s "$@"\n' "$E2E_GUEST_VENV/bin/ansible-playbook" \
        >"$G/opt/tools/bin/ansible-playbook"
    # puppet keeps its state inside the guest root
    printf '#!/bin/sh\nsub=$1; shift\nexec %s "$sub" --vardir %s --confdir %s --codedir %s --logdir %s --rundir %s "$@"\n' \
        "$(command -v puppet)" "$G/var/lib/puppet" "$G/etc/puppet" "$G/etc/puppet/code" "$G/var/log/puppet" \
        "$G/var/run/puppet" >"$G/opt/tools/bin/puppet"
    chmod 755 "$G/opt/tools/bin/puppet" "$G/opt/tools/bin/ansible-playbook"
    # salt-call from venv-salt; salt keeps its state inside the guest root (root_dir)
    ln -sf "$E2E_SALT_VENV/bin/salt-call" "$G/opt/tools/bin/salt-call"
    mkdir -p "$G/etc/salt"
    printf 'root_dir: %s\nid: e2e-guest\n' "$G" >"$G/etc/salt/minion"
    # os-apply-config templates of the heat-config element + the suite's own
    mkdir -p "$OAC/$GREL/etc" "$OAC/$GREL/var/run/heat-config"
    cp "$HA/heat-config/os-apply-config/etc/os-collect-config.conf" "$OAC/$GREL/etc/os-collect-config.conf"
    cp "$HA/heat-config/os-apply-config/var/run/heat-config/heat-config" "$OAC/$GREL/var/run/heat-config/heat-config"
    cp -r "$E2E_DIR/templates/oac/." "$OAC/$GREL/"
    local d
    for d in pre-configure.d configure.d migration.d post-configure.d; do install -m 0755 -d "$ORC/$d"; done
    if [ "$E2E_AGENT" = python ]; then
        local t
        for t in os-collect-config os-refresh-config os-apply-config dib-run-parts; do
            ln -sf "$E2E_GUEST_VENV/bin/$t" "$G/usr/bin/$t"
        done
        install -m 0700 "$HA/heat-config/os-refresh-config/configure.d/20-os-apply-config" "$ORC/configure.d/"
        install -m 0700 "$HA/heat-config/os-refresh-config/configure.d/55-heat-config" "$ORC/configure.d/"
        install -m 0755 "$HA/heat-config/bin/heat-config-notify" "$G/usr/bin/heat-config-notify"
        sed -i "1s|.*|#!$E2E_GUEST_VENV/bin/python|" "$G/usr/bin/heat-config-notify" "$ORC/configure.d/55-heat-config"
        for t in script ansible puppet; do
            install -m 0755 "$HA/heat-config-$t/install.d/hook-$t.py" "$G/var/lib/heat-config/hooks/$t"
            sed -i "1s|.*|#!$E2E_GUEST_VENV/bin/python|" "$G/var/lib/heat-config/hooks/$t"
        done
        # hook-salt.py imports salt: venv-salt's python
        install -m 0755 "$HA/heat-config-salt/install.d/hook-salt.py" "$G/var/lib/heat-config/hooks/salt"
        sed -i "1s|.*|#!$E2E_SALT_VENV/bin/python|" "$G/var/lib/heat-config/hooks/salt"
    else
        [ -x "$E2E_AGENT_BIN" ] || { echo "E2E_AGENT_BIN=$E2E_AGENT_BIN is not an executable" >&2; exit 1; }
        # one copy per suite run (run.sh drops it), so a rebuild mid-run changes nothing
        [ -x "$E2E_BASE/bin/heat-agent" ] || install -D -m 0755 "$E2E_AGENT_BIN" "$E2E_BASE/bin/heat-agent"
        ln -f "$E2E_BASE/bin/heat-agent" "$G/usr/bin/heat-agent"
        local n
        for n in os-collect-config os-refresh-config os-apply-config dib-run-parts heat-config-notify; do
            ln -sf heat-agent "$G/usr/bin/$n"
        done
        shim "$ORC/configure.d/20-os-apply-config" heat-agent apply
        shim "$ORC/configure.d/55-heat-config" heat-agent deploy
        # the project's shipped hook wrappers where the tree has them (as packages install them)
        for n in script ansible puppet salt; do
            if [ -f "$E2E_REPO/hooks/$n" ]; then
                install -m 0755 "$E2E_REPO/hooks/$n" "$G/var/lib/heat-config/hooks/$n"
            else
                shim "$G/var/lib/heat-config/hooks/$n" heat-agent hook "$n"
            fi
        done
    fi
    # first os-collect-config.conf: local collector only (the default list starts with
    # ec2, which would poll 169.254.169.254). Heat's template replaces it on first run.
    [ -f "$G/etc/os-collect-config.conf" ] ||
        printf '[DEFAULT]\ncommand = os-refresh-config\ncollectors = local\n' >"$G/etc/os-collect-config.conf"
}

configure() { # occ-json
    setup
    "$E2E_SRV_VENV/bin/python" - "$1" "$G/var/lib/os-collect-config/local-data/deployed-server.json" <<'EOF'
import json, os, sys
occ = json.load(open(sys.argv[1]))
tmp = sys.argv[2] + '.tmp'
with os.fdopen(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), 'w') as f:
    json.dump({'os-collect-config': occ}, f, indent=2, sort_keys=True)
os.rename(tmp, sys.argv[2])
EOF
}

metrics() {
    local pid
    pid=$(cat "$E2E_RUN/$E2E_AGENT_NAME.pid" 2>/dev/null) || { echo '{}'; return; }
    [ -r "/proc/$pid/stat" ] || { echo '{}'; return; }
    # stat fields 14-17: utime stime cutime cstime (clock ticks); children = waited-for descendants
    awk -v hz="$(getconf CLK_TCK)" -v hwm="$(awk '/VmHWM/{print $2}' "/proc/$pid/status")" \
        -v rss="$(awk '/VmRSS/{print $2}' "/proc/$pid/status")" '{
        sub(/^.*\) /, ""); # drop "pid (comm) " so fields shift by 2
        printf "{\"agent_cpu_s\": %.2f, \"children_cpu_s\": %.2f, \"agent_peak_rss_kib\": %d, \"agent_rss_kib\": %d}\n",
            ($12 + $13) / hz, ($14 + $15) / hz, hwm, rss }' "/proc/$pid/stat"
}

case "${1:-}" in
    setup) setup ;;
    configure) configure "$2" ;;
    env)
        agent_env
        env | grep -E '^(PATH|OS_|HEAT_)' | sort
        ;;
    start)
        agent_env
        occ_args
        e2e_start_bg "$E2E_AGENT_NAME" "$E2E_LOGS/$E2E_AGENT_NAME.log" os-collect-config "${OCC_ARGS[@]}" ||
            echo "agent already running" >&2
        ;;
    stop) e2e_stop "$E2E_AGENT_NAME" ;;
    kill)
        # everything in the agent's session (hooks run in process groups of their own)
        sid=$(cat "$E2E_RUN/$E2E_AGENT_NAME.pid")
        # shellcheck disable=SC2046
        kill -KILL $(ps -o pid= -s "$sid") 2>/dev/null || true
        rm -f "$E2E_RUN/$E2E_AGENT_NAME.pid"
        ;;
    metrics) metrics ;;
    reset)
        e2e_stop "$E2E_AGENT_NAME"
        rm -rf "$G"
        ;;
    *) sed -n 2,18p "$0" >&2; exit 2 ;;
esac
