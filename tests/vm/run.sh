#!/bin/bash
# The VM suite: heat-agent baked into a diskimage-builder image, booted under QEMU, bootstrapped
# by cloud-init from a config drive and driven by the real Keystone + Heat of tests/e2e.
# One command, as root (docs/vm.md):
#
#     tests/vm/run.sh            # every scenario
#     tests/vm/run.sh smoke      # boot + scenario 1 (create) only
#     tests/vm/run.sh work,journal   # boot + create + the named scenarios
#     tests/vm/run.sh python     # Python agents vs heat-agent, then the in-place switch
#     tests/vm/run.sh switch     # the in-place switch only (tests/vm/python.sh)
#
# It installs what it needs (apt: qemu-system-x86, xorriso, debootstrap, sudo, socat, musl-tools;
# pip: diskimage-builder into its own venv), builds the static binary and the image, starts the
# tests/e2e control plane (services.sh) and runs tests/vm/scenarios.py. Last line:
# `vm: N passed, M failed`; exit 0 only when nothing failed.
# Knobs: HEAT_AGENT_VM_WORK (target/vm), HEAT_AGENT_VM_REUSE_IMAGE=1 (keep an image built by an
# earlier run when the binary is unchanged), HEAT_AGENT_VM_ACCEL (kvm|tcg: skip the probe),
# HEAT_AGENT_VM_IDLE_S (600: the idle scenario's wait), DIB_RELEASE (this machine's Debian
# release). Sourced, it only defines its steps (install_tools, build_static, build_image,
# extract_kernel, make_qcow2, probe_accel, start_control_plane, run_scenarios) for another
# image's suite; HEAT_AGENT_VM_ELEMENTS and HEAT_AGENT_VM_BINARY choose that image's contents.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${HEAT_AGENT_VM_WORK:-$repo/target/vm}
venv=$work/dib-venv
binary=${HEAT_AGENT_VM_BINARY:-$repo/target/x86_64-unknown-linux-musl/release/heat-agent}
# the image's elements after debian-minimal (another image, e.g. with other agents, sets its own)
elements=${HEAT_AGENT_VM_ELEMENTS:-cloud-init cloud-init-datasources heat-agent heat-agent-ansible}
log() { echo "[vm $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "$*"; echo "vm: 0 passed, 1 failed"; exit 1; }
figures=$work/figures.env
figure() { echo "$1=$2" >>"$figures"; log "figure $1 = $2"; }

# ---------------------------------------------------------------- host tools
install_tools() {
    local missing=() cmd pkg
    for cmd in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils xorriso:xorriso \
        debootstrap:debootstrap sudo:sudo socat:socat musl-gcc:musl-tools ssh:openssh-client \
        losetup:mount python3:python3-venv; do
        command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd##*:}")
    done
    python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
    # qemu-system-x86 and qemu-utils come from one release: installing the system emulator next
    # to a backported qemu-utils (some machine images ship one) removes qemu-img, so whenever
    # either is missing both are installed, qemu-utils pinned to the emulator's version
    local qemu_version
    if [[ " ${missing[*]} " == *" qemu-system-x86 "* ]] || [[ " ${missing[*]} " == *" qemu-utils "* ]]; then
        qemu_version=$(apt-cache policy qemu-system-x86 2>/dev/null | awk '/Candidate:/ {print $2}')
        missing=("${missing[@]/qemu-utils/}")
        missing+=(qemu-system-x86 "qemu-utils${qemu_version:+=$qemu_version}")
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')
    fi
    [ ${#missing[@]} = 0 ] && return 0
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q --allow-downgrades "${missing[@]}" >"$work/apt.log" 2>&1 ||
        { tail -20 "$work/apt.log" >&2; die "apt-get install failed (log: $work/apt.log)"; }
    for cmd in qemu-system-x86_64 qemu-img xorriso debootstrap; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after apt-get install (log: $work/apt.log)"
    done
}

# ---------------------------------------------------------------- image
release=${DIB_RELEASE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
image=$work/image.raw
build_image() {
    # a venv copied from elsewhere keeps its creator's paths in the scripts' #! lines
    if [ ! -x "$venv/bin/disk-image-create" ] ||
        [ ! -x "$(head -1 "$venv/bin/disk-image-create" | cut -c3-)" ]; then
        log "installing diskimage-builder into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check diskimage-builder
    fi
    local stamp=$work/image.binary.sha256 sum
    sum=$(sha256sum "$binary" | cut -d' ' -f1)
    if [ "${HEAT_AGENT_VM_REUSE_IMAGE:-0}" = 1 ] && [ -f "$image" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
        log "reusing $image (same binary)"
        figure build_seconds reused
        return 0
    fi
    rm -f "$image" "$stamp" "$work/image.qcow2"
    # No `vm` element: it partitions the disk through kpartx/device-mapper, which containers
    # like the CI machines do not have. One loop device and one filesystem need only loop
    # devices; QEMU boots the image's own kernel directly (docs/vm.md).
    local t0=$SECONDS
    log "disk-image-create ($release, log: $work/build.log)"
    (
        export PATH=$venv/bin:$PATH
        export ELEMENTS_PATH=$repo/elements
        export DIB_RELEASE=$release
        export DIB_HEAT_AGENT_BINARY=$binary
        export DIB_CLOUD_INIT_DATASOURCES=ConfigDrive
        # the suite's own cache (debootstrap tarball, apt archives): DIB bind-mounts the apt
        # cache into the chroot, and another image build on this machine holding its lock
        # fails ours ("Could not get lock /var/cache/apt/archives/lock")
        export DIB_IMAGE_CACHE=$work/dib-cache
        export DIB_BLOCK_DEVICE_CONFIG='
- local_loop:
    name: image0
- mkfs:
    name: root_fs
    base: image0
    type: ext4
    label: cloudimg-rootfs
    mount:
      mount_point: /
      fstab:
        options: "defaults"
        fsck-passno: 1
'
        . "$repo/tests/dib/apt-mirrors.sh"
        apt_mirrors_export "$release"
        # ifupdown + a DHCP client: what cloud-init renders the config drive's
        # network_data.json to on Debian (debian-minimal has no network manager)
        disk-image-create -a amd64 -t raw -o "$work/image" -p openssh-server,ifupdown,isc-dhcp-client \
            debian-minimal $elements
    ) >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "disk-image-create failed (log: $work/build.log)"; }
    figure build_seconds $((SECONDS - t0))
    echo "$sum" >"$stamp"
}

# the image's kernel and initrd, for QEMU's direct kernel boot
extract_kernel() {
    local mnt=$work/mnt dev
    mkdir -p "$mnt"
    dev=$(losetup --find --show --read-only "$image")
    if ! mount -o ro,noload "$dev" "$mnt"; then
        losetup -d "$dev"
        die "cannot mount $image"
    fi
    # the newest kernel the image has
    local k
    k=$(find "$mnt/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -1)
    cp "$k" "$work/vmlinuz"
    cp "$mnt/boot/initrd.img-${k##*/vmlinuz-}" "$work/initrd.img"
    umount "$mnt"
    losetup -d "$dev"
}

# ---------------------------------------------------------------- accelerator
probe_accel() {
    if [ -n "${HEAT_AGENT_VM_ACCEL:-}" ]; then
        echo "$HEAT_AGENT_VM_ACCEL"
        return
    fi
    if [ -w /dev/kvm ]; then
        # a kernel with no root file system panics within seconds when KVM works; nested KVM
        # here can abort at start (MSR assertion) or hang: both mean TCG
        timeout 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -no-reboot \
            -serial "file:$work/kvm-probe.log" -kernel "$work/vmlinuz" \
            -append "console=ttyS0 panic=-1" >/dev/null 2>&1 || true
        if grep -q "Kernel panic" "$work/kvm-probe.log" 2>/dev/null; then
            echo kvm
            return
        fi
    fi
    echo tcg
}

# ---------------------------------------------------------------- control plane
# The guest reaches the host's 127.0.0.1 services only through QEMU guestfwd forwards to
# $guest_host_ip. Heat puts URLs into what it gives the server (auth_url, signal URLs, the
# catalog), so every URL names $vm_host: 127.0.0.1 on the host (/etc/hosts, restored on exit),
# the forwarded address in the guest (written by cloud-init from the user data).
export E2E_PUBLIC_HOST=heat-agent-vm-host.test
export E2E_SWIFT=0 E2E_ZAQAR=0
hosts_marker="# heat-agent tests/vm (removed when run.sh exits)"
hosts_add() {
    hosts_remove
    printf '127.0.0.1 %s %s\n' "$E2E_PUBLIC_HOST" "$hosts_marker" >>/etc/hosts
}
hosts_remove() {
    # rewrite in place: /etc/hosts may be a bind mount that cannot be renamed over
    if grep -qF "$hosts_marker" /etc/hosts; then
        local rest
        rest=$(grep -vF "$hosts_marker" /etc/hosts)
        printf '%s\n' "$rest" >/etc/hosts
    fi
}

cleanup() {
    if [ -f "$work/qemu.pid" ]; then
        kill "$(cat "$work/qemu.pid")" 2>/dev/null || true
        rm -f "$work/qemu.pid"
    fi
    if [ "${HEAT_AGENT_VM_KEEP_SERVICES:-0}" != 1 ]; then
        "$repo/tests/e2e/services.sh" stop >/dev/null 2>&1 || true
    fi
    hosts_remove
}

# ---------------------------------------------------------------- steps
build_static() {
    if [ ! -x "$binary" ] || [ -n "$(find "$repo/src" "$repo/Cargo.toml" "$repo/Cargo.lock" -newer "$binary" -print -quit)" ]; then
        log "building the static binary (packaging/build-static.sh)"
        "$repo/packaging/build-static.sh" >"$work/build-static.log" 2>&1 ||
            { tail -20 "$work/build-static.log" >&2; die "build-static.sh failed"; }
    fi
}

# the booted image: $work/image.qcow2 (compressed; each boot runs on an overlay of it)
make_qcow2() {
    if [ ! -f "$work/image.qcow2" ] || [ "$image" -nt "$work/image.qcow2" ]; then
        qemu-img convert -O qcow2 -c "$image" "$work/image.qcow2"
    fi
    figure qcow2_bytes "$(stat -c %s "$work/image.qcow2")"
}

# Keystone + Heat of tests/e2e (default E2E_BASE and ports), stopped by cleanup
start_control_plane() {
    . "$repo/tests/e2e/lib.sh"
    [ -x "$E2E_SRV_VENV/bin/python" ] || "$repo/tests/e2e/install.sh"
    trap cleanup EXIT
    hosts_add
    log "starting Keystone + Heat (tests/e2e/services.sh, base $E2E_BASE)"
    "$repo/tests/e2e/services.sh" stop >/dev/null 2>&1 || true
    "$repo/tests/e2e/services.sh" start >"$work/services.log" 2>&1 ||
        { tail -30 "$work/services.log" >&2; die "services.sh start failed"; }
}

# SCRIPT (tests/vm/scenarios.py or another suite's) with venv-srv's python and what it reads
run_scenarios() {
    local script=$1 selection=$2
    export HEAT_AGENT_VM_WORK=$work HEAT_AGENT_VM_ACCEL_CHOSEN=$accel HEAT_AGENT_VM_FIGURES=$figures
    export HEAT_AGENT_VM_REPO=$repo HEAT_AGENT_VM_BINARY=$binary
    "$E2E_SRV_VENV/bin/python" "$script" "$selection"
}

main() {
    local selection=${1:-all}
    case "$selection" in
        -h | --help) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        # the Python agents side by side, and the in-place switch (tests/vm/python.sh)
        python | switch) exec "$repo/tests/vm/python.sh" "$selection" ;;
        all | smoke | [a-z]*) ;;
        *) echo "run.sh: unknown selection '$selection' (all | smoke | NAME[,NAME...])" >&2; exit 2 ;;
    esac
    [ "$(id -u)" = 0 ] || die "run as root (debootstrap, loop devices, /etc/hosts)"
    # a failing step still ends with the closing line
    set -E
    trap 'die "failed (line $LINENO): $BASH_COMMAND"' ERR
    mkdir -p "$work"
    : >"$figures"
    install_tools
    build_static
    build_image
    extract_kernel
    make_qcow2
    accel=$(probe_accel)
    log "accelerator: $accel"
    figure accelerator "$accel"
    start_control_plane
    local rc=0
    run_scenarios "$repo/tests/vm/scenarios.py" "$selection" || rc=$?
    exit "$rc"
}

# sourced (another image's suite reuses the steps above): define only
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
