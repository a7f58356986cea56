#!/bin/bash
# The real diskimage-builder test of elements/heat-agent (long: a debootstrap and a kernel
# package; ~10-20 min). One command, as root:
#
#     tests/dib/build-and-check.sh
#
# 1. builds `debian-minimal heat-agent` with disk-image-create (diskimage-builder from PyPI in
#    target/dib-venv, created when missing; output type tar, so no loop devices);
# 2. unpacks the tree and checks files, modes, symlinks and the enabled unit;
# 3. chroots into it and runs `heat-agent collect --one-time` against a loopback metadata server
#    (tests/dib/metadata-server.py): a `script` deployment must run and its signal arrive.
#
# Needs: root, debootstrap, python3-venv, network access to PyPI and the Debian mirror (read
# from this machine's apt sources by tests/dib/apt-mirrors.sh).
# Knobs: HEAT_AGENT_BINARY (default: the static build, made with packaging/build-static.sh when
# missing), DIB_RELEASE (bookworm), HEAT_AGENT_DIB_WORK (target/dib-check),
# HEAT_AGENT_DIB_VENV (target/dib-venv), HEAT_AGENT_DIB_EXTRA_ELEMENTS (e.g.
# "heat-agent-puppet heat-agent-ansible": their hook and tool are checked too),
# HEAT_AGENT_DIB_REUSE=1 (check the image built by an
# earlier run again, with HEAT_AGENT_BINARY copied into it: iterate on the agent or the checks
# without a rebuild). The summary goes to $HEAT_AGENT_DIB_WORK/result.txt.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${HEAT_AGENT_DIB_WORK:-$repo/target/dib-check}
venv=${HEAT_AGENT_DIB_VENV:-$repo/target/dib-venv}
binary=${HEAT_AGENT_BINARY:-$repo/target/x86_64-unknown-linux-musl/release/heat-agent}
die() { echo "build-and-check.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
if [ ! -x "$venv/bin/disk-image-create" ]; then
    log "installing diskimage-builder into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check diskimage-builder
fi
if [ ! -x "$binary" ]; then
    log "building the static binary"
    "$repo/packaging/build-static.sh"
fi

root=$work/root
extra_elements=${HEAT_AGENT_DIB_EXTRA_ELEMENTS:-}
if [ "${HEAT_AGENT_DIB_REUSE:-0}" = 1 ] && [ -f "$work/image.tar" ]; then
    log "reusing $work/image.tar (HEAT_AGENT_DIB_REUSE=1)"
else
    rm -rf "$work"
    mkdir -p "$work"
    log "disk-image-create debian-minimal heat-agent (log: $work/build.log)"
    (
        export PATH=$venv/bin:$PATH
        export ELEMENTS_PATH=$repo/elements
        export DIB_RELEASE=${DIB_RELEASE:-bookworm}
        export DIB_HEAT_AGENT_BINARY=$binary
        # the mirrors this machine's apt already uses (no host name in the repository)
        . "$repo/tests/dib/apt-mirrors.sh"
        apt_mirrors_export "$DIB_RELEASE"
        # shellcheck disable=SC2086 # a word list
        disk-image-create -a amd64 -t tar -o "$work/image" debian-minimal heat-agent $extra_elements
    ) >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "disk-image-create failed"; }
fi

rm -rf "$root"
mkdir -p "$root"
tar --numeric-owner -xpf "$work/image.tar" -C "$root"
if [ "${HEAT_AGENT_DIB_REUSE:-0}" = 1 ] && ! cmp -s "$binary" "$root/usr/local/bin/heat-agent"; then
    # iterate on the agent without rebuilding the image
    log "installing $binary into the reused image"
    install -m 0755 "$binary" "$root/usr/local/bin/heat-agent"
fi

passed=0
failed=0
check() { # description, command...
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then
        passed=$((passed + 1))
        echo "ok   $what"
    else
        failed=$((failed + 1))
        echo "FAIL $what"
    fi
}
# stat inside the root: absolute symlinks there (/var/run -> /run) must not reach the host
mode_is() { [ "$(in_root stat -c %a "$1")" = "$2" ]; }
link_is() { [ "$(readlink "$root$1")" = "$2" ]; }
contains() { grep -qF -- "$2" "$root$1"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

log "checking the image tree"
check "binary installed 0755" mode_is /usr/local/bin/heat-agent 755
check "binary runs in the image" in_root heat-agent --version
for name in os-collect-config os-apply-config os-config-applier os-refresh-config heat-config-notify; do
    check "legacy name $name -> heat-agent" link_is /usr/local/bin/$name heat-agent
done
check "unit installed" contains /usr/lib/systemd/system/heat-agent.service "ExecStart=/usr/local/bin/heat-agent run"
check "unit is Type=notify" contains /usr/lib/systemd/system/heat-agent.service "Type=notify"
check "unit enabled (wants link)" test -L "$root/etc/systemd/system/multi-user.target.wants/heat-agent.service"
check "unit alias os-collect-config.service" test -L "$root/etc/systemd/system/os-collect-config.service"
check "systemctl is-enabled" in_root systemctl is-enabled heat-agent.service
check "tmpfiles.d installed" contains /usr/lib/tmpfiles.d/heat-agent.conf "/var/lib/heat-agent"
check "bootstrap config 0600" mode_is /etc/os-collect-config.conf 600
check "bootstrap config command" contains /etc/os-collect-config.conf "command = os-refresh-config"
for phase in pre-configure.d configure.d migration.d post-configure.d; do
    check "phase dir $phase" test -d "$root/usr/libexec/os-refresh-config/$phase"
done
check "20-os-apply-config shim 0755" mode_is /usr/libexec/os-refresh-config/configure.d/20-os-apply-config 755
check "20-os-apply-config runs apply" contains /usr/libexec/os-refresh-config/configure.d/20-os-apply-config "exec heat-agent apply"
check "55-heat-config shim 0755" mode_is /usr/libexec/os-refresh-config/configure.d/55-heat-config 755
check "55-heat-config runs deploy" contains /usr/libexec/os-refresh-config/configure.d/55-heat-config "exec heat-agent deploy"
t=/usr/libexec/os-apply-config/templates
check "template os-collect-config.conf" contains $t/etc/os-collect-config.conf "{{#os-collect-config}}"
check "template os-collect-config.conf.oac 0600" contains $t/etc/os-collect-config.conf.oac "mode: 0600"
check "template heat-config" contains $t/var/run/heat-config/heat-config "{{deployments}}"
check "template heat-config.oac 0600" contains $t/var/run/heat-config/heat-config.oac "mode: 0600"
check "script hook wrapper 0755" mode_is /var/lib/heat-config/hooks/script 755
check "script hook wrapper runs the built-in hook" contains /var/lib/heat-config/hooks/script "heat-agent hook script"
for element in $extra_elements; do
    hook=${element#heat-agent-}
    tool=$hook
    [ "$hook" = ansible ] && tool=ansible-playbook
    [ "$hook" = salt ] && tool=salt-call
    [ "$hook" = chef ] && tool=chef-client
    check "$element: $hook hook wrapper 0755" mode_is /var/lib/heat-config/hooks/$hook 755
    check "$element: $tool installed" in_root sh -c "command -v $tool"
done
check "state dir 0700" mode_is /var/lib/heat-agent 700
check "cache dir 0700" mode_is /var/lib/os-collect-config 700

log "running a deployment inside the image"
signals=$work/signals.log
: >"$signals"
python3 "$repo/tests/dib/metadata-server.py" "$signals" >"$work/port" 2>"$work/server.log" &
server=$!
mounted=()
cleanup() {
    kill "$server" 2>/dev/null || true
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
mkdir -p "$root/proc" "$root/dev"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
printf '[DEFAULT]\ncommand = os-refresh-config\ncollectors = request\n\n[request]\nmetadata_url = http://127.0.0.1:%s/metadata\n' \
    "$port" >"$root/etc/os-collect-config.conf"
chmod 0600 "$root/etc/os-collect-config.conf"
rc=0
timeout 300 chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    heat-agent collect --one-time >"$work/collect.log" 2>&1 || rc=$?
echo "heat-agent collect --one-time: exit $rc (output: $work/collect.log)"
check "collect --one-time exits 0" test "$rc" = 0
check "the deployment signalled" test -s "$signals"
signal_field() { # field expected: the last signal's JSON field equals the expected text
    python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1]); v=s.get(sys.argv[2]); sys.exit(0 if sys.argv[3] in str(v) else 1)' "$signals" "$1" "$2"
}
check "signal: status code 0" signal_field deploy_status_code 0
check "signal: stdout of the script" signal_field deploy_stdout "hello from"
check "signal: stdout has the input" signal_field deploy_stdout " hi"
check "signal: stderr of the script" signal_field deploy_stderr "to-stderr"
check "signal: output result" signal_field result "hi-done"
check "deployments file rendered 0600" mode_is /var/run/heat-config/heat-config 600
check "collector config re-rendered from the metadata" test -z "$(grep -F 'collectors = request' "$root/etc/os-collect-config.conf")"
check "collector config 0600" mode_is /etc/os-collect-config.conf 600

summary="dib build-and-check: $passed passed, $failed failed ($(date -u +%FT%TZ), image has: $(in_root heat-agent --version 2>&1))"
echo "$summary" | tee "$work/result.txt"
[ "$failed" = 0 ]
