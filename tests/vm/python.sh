#!/bin/bash
# tests/vm/run.sh python | switch (docs/vm.md "The Python agents: side by side, and the switch"):
#
#   python   both images (the Python agents' elements, and ours with the same base), one stack
#            each, booted together: create, update, an idle window; the side-by-side figures;
#            then the in-place switch of the Python guest (install our .deb, update, reboot,
#            rollback)
#   switch   the Python image only, and the in-place switch
#
# As root, after run.sh has installed its host tools once. Its own work dir and /etc/hosts line,
# so it can run next to run.sh (give it its own E2E_BASE and ports). Last line:
# `vm: N passed, M failed`. Knobs: HEAT_AGENT_VM_WORK (target/vm-py), HEAT_AGENT_VM_REUSE_IMAGE=1
# (keep both images when their inputs are unchanged), HEAT_AGENT_VM_IDLE_S (600: the idle
# window), HEAT_AGENT_VM_ACCEL (kvm|tcg), DIB_RELEASE.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-python}
case "$mode" in python | switch) ;; *) echo "python.sh: python | switch" >&2; exit 2 ;; esac
work=${HEAT_AGENT_VM_WORK:-$repo/target/vm-py}
venv=$work/dib-venv
binary=$repo/target/x86_64-unknown-linux-musl/release/heat-agent
release=${DIB_RELEASE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
log() { echo "[vm-py $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "$*"; echo "vm: 0 passed, 1 failed"; exit 1; }
# a failing step still ends with the closing line
set -E
trap 'die "failed (line $LINENO): $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, loop devices, /etc/hosts)"
mkdir -p "$work"
# the host tools, installed the way run.sh does (its steps, sourced in a subshell)
(HEAT_AGENT_VM_WORK=$work && . "$repo/tests/vm/run.sh" && install_tools) || exit 1
figures=$work/figures.env
: >"$figures"
figure() { echo "$1=$2" >>"$figures"; log "figure $1 = $2"; }
. "$repo/tests/e2e/lib.sh"

# ---------------------------------------------------------------- inputs
if [ ! -x "$binary" ] || [ -n "$(find "$repo/src" "$repo/Cargo.toml" "$repo/Cargo.lock" -newer "$binary" -print -quit)" ]; then
    log "building the static binary (packaging/build-static.sh)"
    "$repo/packaging/build-static.sh" >"$work/build-static.log" 2>&1 ||
        { tail -20 "$work/build-static.log" >&2; die "build-static.sh failed"; }
fi
deb=$("$repo/packaging/deb/build-deb.sh" "$binary" "$work/deb") || die "build-deb.sh failed"
if [ ! -x "$venv/bin/disk-image-create" ]; then
    log "installing diskimage-builder into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check diskimage-builder
fi
# what the elements pip-install, from PyPI through this machine's pip (tests/vm/image.sh)
mkdir -p "$work/wheels"
pip3 download -q -d "$work/wheels" os-collect-config os-refresh-config os-apply-config \
    python-heatclient python-zaqarclient python-keystoneclient pip setuptools pbr wheel ||
    die "pip download of the Python agents failed"
export VM_PIP_WHEELS=$work/wheels
# The Python agents' elements: tripleo-image-elements (os-collect-config, os-refresh-config,
# os-apply-config) and heat-agents (heat-config, heat-config-script), both PyPI sdists
tie=$work/src/tripleo-image-elements-15.0.0
if [ ! -d "$tie/elements" ]; then
    mkdir -p "$work/src"
    "$venv/bin/pip" download -q --no-deps --no-binary :all: tripleo-image-elements==15.0.0 -d "$work/src"
    tar xzf "$work/src/tripleo-image-elements-15.0.0.tar.gz" -C "$work/src"
fi
agents=$E2E_BASE/src/heat_agents-$E2E_AGENTS_VERSION
[ -d "$agents/heat-config" ] || "$repo/tests/e2e/install.sh"
export VM_EXTRA_ELEMENTS_PATH=$tie/elements:$agents

# ---------------------------------------------------------------- images
. "$repo/tests/vm/image.sh"
python_elements=(os-collect-config os-refresh-config os-apply-config heat-config heat-config-script
    python-agents-bookworm)
ours_elements=(heat-agent)
# image NAME ELEMENTS...: build unless reusable (same elements, same binary)
image() {
    local name=$1 stamp sum
    shift
    stamp=$work/$name.inputs
    sum=$( (echo "$*"; sha256sum "$binary" | cut -d' ' -f1) | sha256sum | cut -d' ' -f1)
    if [ "${HEAT_AGENT_VM_REUSE_IMAGE:-0}" = 1 ] && [ -f "$work/$name.qcow2" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
        log "reusing $work/$name.qcow2"
        return 0
    fi
    log "disk-image-create $name: ${vm_image_base[*]} $* (log: $work/$name.build.log)"
    local secs
    secs=$(vm_image_build "$name" "$@") || { tail -30 "$work/$name.build.log" >&2; die "disk-image-create $name failed"; }
    echo "$secs" >"$work/$name.build_seconds"
    echo "$sum" >"$stamp"
}
# HEAT_AGENT_VM_IMAGES: a subset ("python", "ours") when the two halves run apart
images=${HEAT_AGENT_VM_IMAGES:-$([ "$mode" = python ] && echo "python ours" || echo python)}
case " $images " in *" python "*) image python "${python_elements[@]}" ;; esac
case " $images " in *" ours "*) image ours "${ours_elements[@]}" ;; esac

# What each image holds for its agent (mounted read-only): figures <name>_agent_bytes etc.
measure() {
    local name=$1 mnt=$work/mnt-$1 dev
    figure "${name}_build_s" "$(cat "$work/$name.build_seconds" 2>/dev/null || echo reused)"
    figure "${name}_qcow2_bytes" "$(stat -c %s "$work/$name.qcow2")"
    mkdir -p "$mnt"
    dev=$(losetup --find --show --read-only "$work/$name.raw")
    mount -o ro,noload "$dev" "$mnt" || { losetup -d "$dev"; return 1; }
    figure "${name}_rootfs_used_bytes" "$(du -sxb "$mnt" | cut -f1)"
    # the interpreter both images carry (cloud-init is Python)
    figure "${name}_python3_bytes" "$(du -scb "$mnt"/usr/lib/python3.[0-9]* "$mnt"/usr/bin/python3.[0-9]* 2>/dev/null | tail -1 | cut -f1)"
    if [ "$name" = python ]; then
        # venvs, pip-installed system packages (heatclient & co.), entry points, phase
        # scripts, templates, hooks
        figure python_agent_bytes "$(du -scb "$mnt"/opt/stack "$mnt"/usr/local/lib/python3* \
            "$mnt"/usr/local/bin "$mnt"/usr/libexec/os-refresh-config "$mnt"/usr/libexec/os-apply-config \
            "$mnt"/var/lib/heat-config 2>/dev/null | tail -1 | cut -f1)"
    else
        # the element with a binary installs it in /usr/local/bin (legacy names: symlinks)
        figure ours_agent_bytes "$(du -scb "$mnt"/usr/local/bin "$mnt"/usr/libexec/os-refresh-config \
            "$mnt"/usr/libexec/os-apply-config "$mnt"/var/lib/heat-config 2>/dev/null | tail -1 | cut -f1)"
    fi
    chroot "$mnt" dpkg-query -W -f '${Package} ${Installed-Size}\n' 2>/dev/null | sort >"$work/$name.packages" || true
    umount "$mnt"
    losetup -d "$dev"
}
for name in $images; do measure "$name"; done
if [ "$images" = "python ours" ]; then
    # Debian packages only the Python image has (pulled in by its elements) and their size
    join -v1 "$work/python.packages" "$work/ours.packages" >"$work/python-only.packages"
    figure python_only_packages "$(wc -l <"$work/python-only.packages")"
    figure python_only_packages_bytes "$(awk '{s += $2} END {print s * 1024}' "$work/python-only.packages")"
fi

# ---------------------------------------------------------------- control plane
export E2E_PUBLIC_HOST=heat-agent-vm-host.test
export E2E_SWIFT=0 E2E_ZAQAR=0
# our own marker: run.sh (and other runs of this script) add and remove only their own line
hosts_marker="# heat-agent tests/vm/python.sh $E2E_BASE (removed when it exits)"
hosts_remove() {
    if grep -qF "$hosts_marker" /etc/hosts; then
        local rest
        rest=$(grep -vF "$hosts_marker" /etc/hosts)
        printf '%s\n' "$rest" >/etc/hosts
    fi
}
cleanup() {
    local p
    for p in "$work"/*.qemu.pid; do
        [ -f "$p" ] || continue
        kill "$(cat "$p")" 2>/dev/null || true
        rm -f "$p"
    done
    [ "${HEAT_AGENT_VM_KEEP_SERVICES:-0}" = 1 ] || "$repo/tests/e2e/services.sh" stop >/dev/null 2>&1 || true
    hosts_remove
}
[ -x "$E2E_SRV_VENV/bin/python" ] || "$repo/tests/e2e/install.sh"
trap cleanup EXIT
hosts_remove
printf '127.0.0.1 %s %s\n' "$E2E_PUBLIC_HOST" "$hosts_marker" >>/etc/hosts
log "starting Keystone + Heat (base $E2E_BASE, Keystone port $E2E_KEYSTONE_PORT)"
"$repo/tests/e2e/services.sh" stop >/dev/null 2>&1 || true
"$repo/tests/e2e/services.sh" start >"$work/services.log" 2>&1 ||
    { tail -30 "$work/services.log" >&2; die "services.sh start failed"; }

accel=${HEAT_AGENT_VM_ACCEL:-tcg}
[ -n "${HEAT_AGENT_VM_ACCEL:-}" ] || log "accelerator: tcg (set HEAT_AGENT_VM_ACCEL=kvm where KVM works; run.sh probes it)"
figure accelerator "$accel"
export HEAT_AGENT_VM_WORK=$work HEAT_AGENT_VM_ACCEL_CHOSEN=$accel HEAT_AGENT_VM_FIGURES=$figures
export HEAT_AGENT_VM_REPO=$repo HEAT_AGENT_VM_DEB=$deb HEAT_AGENT_VM_IMAGES=$images
rc=0
"$E2E_SRV_VENV/bin/python" "$repo/tests/vm/switch.py" "$mode" || rc=$?
exit "$rc"
