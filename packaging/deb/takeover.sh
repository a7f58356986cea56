# ---- takeover of the Python agents (build-deb.sh inserts this block into preinst, postinst,
# prerm and postrm at the line `#TAKEOVER#`; docs/operators.md "Switching a running server").
# A server built with the Python agents' image elements has os-collect-config.service (a unit
# file no package owns) and unowned files at some of the paths this package ships (the
# os-refresh-config phase scripts, the os-apply-config templates, the hook wrappers). Installing
# this package stops and disables that unit, keeps those files aside, and starts heat-agent in
# its place; removing it puts them back and restores the unit as it was.
takeover_dir=/var/lib/heat-agent/python-agents
# every path this package ships (substituted by build-deb.sh)
takeover_paths='@TAKEOVER_PATHS@'

# The Python agents' unit file, when there is one that is not our Alias= link.
takeover_python_unit() {
    for d in /etc/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
        if [ -f "$d/os-collect-config.service" ] && [ ! -L "$d/os-collect-config.service" ]; then
            echo "$d/os-collect-config.service"
            return 0
        fi
    done
    return 1
}

# Is os-refresh-config (a configuration run, deployments included) running in the unit?
takeover_python_busy() {
    cg=$(systemctl show -p ControlGroup --value os-collect-config.service 2>/dev/null) || return 1
    [ -n "$cg" ] && [ -r "/sys/fs/cgroup$cg/cgroup.procs" ] || return 1
    for pid in $(cat "/sys/fs/cgroup$cg/cgroup.procs" 2>/dev/null); do
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'os-refresh-config'; then
            return 0
        fi
    done
    return 1
}

takeover_preinst() {
    [ "$1" = install ] || return 0
    takeover_python_unit >/dev/null || return 0
    mkdir -p "$takeover_dir"
    chmod 0700 "$takeover_dir"
    if [ -d /run/systemd/system ]; then
        # never stop it in the middle of a deployment: the hook would be killed unsignalled
        waited=0
        while takeover_python_busy && [ "$waited" -lt 600 ]; do
            [ "$waited" = 0 ] && echo "heat-agent: waiting for the running os-refresh-config of os-collect-config.service to finish (at most 600 s)"
            sleep 5
            waited=$((waited + 5))
        done
        takeover_python_busy &&
            echo "heat-agent: warning: os-refresh-config still running after 600 s; stopping os-collect-config.service anyway" >&2
        printf 'enabled=%s\nactive=%s\n' \
            "$(systemctl is-enabled os-collect-config.service 2>/dev/null || true)" \
            "$(systemctl is-active os-collect-config.service 2>/dev/null || true)" \
            >"$takeover_dir/unit-state"
        systemctl stop os-collect-config.service || true
    else
        printf 'enabled=%s\nactive=inactive\n' \
            "$(systemctl is-enabled os-collect-config.service 2>/dev/null || true)" >"$takeover_dir/unit-state"
    fi
    # disable before our Alias=os-collect-config.service link exists, or this would disable us
    systemctl disable os-collect-config.service >/dev/null 2>&1 || true
    : >"$takeover_dir/paths.new"
    for p in $takeover_paths; do
        [ -e "$p" ] || [ -L "$p" ] || continue
        dpkg-query -S "$p" >/dev/null 2>&1 && continue # another package's: dpkg decides
        mkdir -p "$takeover_dir/files${p%/*}"
        mv -f "$p" "$takeover_dir/files$p"
        echo "$p" >>"$takeover_dir/paths.new"
    done
    mv -f "$takeover_dir/paths.new" "$takeover_dir/paths"
    touch "$takeover_dir/start-pending"
    echo "heat-agent: took over from the Python agents: os-collect-config.service stopped and disabled; $(wc -l <"$takeover_dir/paths") file(s) kept in $takeover_dir/files"
}

takeover_postinst() {
    [ "$1" = configure ] && [ -e "$takeover_dir/start-pending" ] || return 0
    rm -f "$takeover_dir/start-pending"
    if [ -d /run/systemd/system ] && grep -q '^active=active' "$takeover_dir/unit-state" 2>/dev/null; then
        # the Python agent was running: heat-agent continues now, not at the next boot
        systemctl daemon-reload || true
        systemctl start --no-block heat-agent.service || true
    fi
}

# Signals heat-agent has queued but not delivered: deliver them now, or name them.
takeover_prerm() {
    [ "$1" = remove ] || return 0
    [ -x /usr/bin/heat-agent ] || return 0
    if ! HEAT_AGENT_NOTIFY_WAIT=${HEAT_AGENT_NOTIFY_WAIT:-60} /usr/bin/heat-agent notify --flush >/dev/null 2>&1; then
        echo "heat-agent: WARNING: signals not delivered to Heat (kept in /var/lib/heat-agent/outbox until purge; Heat waits for them until the deployment times out):" >&2
        /usr/bin/heat-agent status 2>/dev/null | grep -E 'queued|failed' >&2 || true
    fi
}

takeover_postrm() {
    case "$1" in remove | purge) ;; *) return 0 ;; esac
    [ -f "$takeover_dir/paths" ] || return 0
    # put the Python agents' files back (again on purge: the copies stay until then)
    while read -r p; do
        [ -e "$takeover_dir/files$p" ] || [ -L "$takeover_dir/files$p" ] || continue
        rm -f "$p"
        mkdir -p "${p%/*}"
        cp -a "$takeover_dir/files$p" "$p"
    done <"$takeover_dir/paths"
    if [ "$1" = remove ]; then
        # our Alias= link outlives the removal (the unit is masked, its links stay until a
        # purge): it would shadow the Python unit's name
        alias=/etc/systemd/system/os-collect-config.service
        if [ -L "$alias" ] && readlink "$alias" | grep -q 'heat-agent\.service$'; then
            rm -f "$alias"
            [ -d /run/systemd/system ] && systemctl daemon-reload || true
        fi
        if grep -q '^enabled=enabled' "$takeover_dir/unit-state" 2>/dev/null; then
            systemctl enable os-collect-config.service >/dev/null 2>&1 || true
        fi
        if [ -d /run/systemd/system ] && grep -q '^active=active' "$takeover_dir/unit-state" 2>/dev/null; then
            systemctl start --no-block os-collect-config.service || true
        fi
        echo "heat-agent: the Python agents' files are back; os-collect-config.service restored ($(tr '\n' ' ' <"$takeover_dir/unit-state"))"
    fi
}

# On purge after a takeover, /var/lib/os-collect-config is the Python agent's cache again.
takeover_keeps_collect_cache() {
    [ -f "$takeover_dir/paths" ]
}
# ---- end of the takeover block
