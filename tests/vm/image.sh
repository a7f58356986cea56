# Image builds of tests/vm/python.sh: the same diskimage-builder call as run.sh's, with the
# agent's elements as the only difference. Source it; do not execute.
#   vm_image_build NAME ELEMENTS...   -> $work/NAME.raw, NAME.qcow2, NAME.vmlinuz, NAME.initrd.img,
#                                        NAME.build.log; prints the build seconds
# Needs: $repo, $work, $venv (diskimage-builder), $release.

# the base every image shares (docs/vm.md): only the agent's elements differ
vm_image_base=(debian-minimal cloud-init cloud-init-datasources)
vm_image_packages=openssh-server,ifupdown,isc-dhcp-client

vm_image_build() {
    local name=$1 t0=$SECONDS
    shift
    rm -f "$work/$name.raw" "$work/$name.qcow2"
    (
        export PATH=$venv/bin:$PATH
        # the Python agents' elements: tripleo-image-elements (PyPI sdist, unpacked under
        # $work) and heat-agents' (the sdist tests/e2e uses); our own elements too
        export ELEMENTS_PATH=$repo/elements:$repo/tests/vm/elements${VM_EXTRA_ELEMENTS_PATH:+:$VM_EXTRA_ELEMENTS_PATH}
        export DIB_RELEASE=$release
        export DIB_HEAT_AGENT_BINARY=$binary
        export DIB_CLOUD_INIT_DATASOURCES=ConfigDrive
        # a cache of its own: DIB's shared apt cache is locked by any other build running
        export DIB_IMAGE_CACHE=$work/dib-cache-$name
        # the Python agents from PyPI, the way their elements' source installs do it
        export DIB_DEFAULT_INSTALLTYPE=source
        # pip and virtualenv themselves from Debian (their source install fetches get-pip.py
        # from outside the package registries); Python 3 (dib-python picks 2 on Debian)
        export DIB_INSTALLTYPE_pip_and_virtualenv=package
        export DIB_PYTHON_VERSION=3
        export PIP_BREAK_SYSTEM_PACKAGES=1
        # the packages the elements pip-install, downloaded from PyPI on the host
        # (tests/vm/python.sh): pip in the chroot could not verify PyPI's certificate behind
        # this machine's TLS-inspecting proxy (element python-agents-bookworm)
        if [ -n "${VM_PIP_WHEELS:-}" ]; then
            export VM_PIP_WHEELS PIP_NO_INDEX=1 PIP_FIND_LINKS=/tmp/in_target.d/pip-wheels
        fi
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
        disk-image-create -a amd64 -t raw -o "$work/$name" -p "$vm_image_packages" \
            "${vm_image_base[@]}" "$@"
    ) >"$work/$name.build.log" 2>&1 || return 1
    local secs=$((SECONDS - t0))
    qemu-img convert -O qcow2 -c "$work/$name.raw" "$work/$name.qcow2"
    vm_image_kernel "$name"
    echo "$secs"
}

# the image's kernel and initrd (QEMU boots them directly, docs/vm.md)
vm_image_kernel() {
    local name=$1 mnt=$work/mnt-$1 dev k
    mkdir -p "$mnt"
    dev=$(losetup --find --show --read-only "$work/$name.raw")
    mount -o ro,noload "$dev" "$mnt" || { losetup -d "$dev"; return 1; }
    k=$(find "$mnt/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -1)
    cp "$k" "$work/$name.vmlinuz"
    cp "$mnt/boot/initrd.img-${k##*/vmlinuz-}" "$work/$name.initrd.img"
    umount "$mnt"
    losetup -d "$dev"
}
