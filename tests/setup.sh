#!/bin/bash
# Installs everything the test suite needs on a fresh Debian machine (idempotent):
#   - Debian packages: puppet (real `puppet apply`), util-linux (blkid), openssl, cloud-init,
#     systemd, groff-base, rpm, lintian, init-system-helpers, binutils (packaging tests)
#   - tests/.venv: the Python reference tools from PyPI (os-collect-config, os-apply-config,
#     os-refresh-config, dib-utils, websocket-client) for the differential tests, and ansible-core (real
#     `ansible-playbook`)
#   - tests/.venv/heat-agents: the heat-agents element scripts (55-heat-config,
#     heat-config-notify, hooks) from the heat-agents sdist
#   - tests/.venv-salt: salt from PyPI (real `salt-call` for the salt hook; its python runs the
#     reference hook-salt.py). A venv of its own: salt's pins are not the reference tools'.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${HEAT_AGENT_TEST_VENV:-$here/.venv}
log() { echo "tests/setup.sh: $*" >&2; }

need_apt=()
command -v puppet >/dev/null 2>&1 || need_apt+=(puppet)
command -v blkid >/dev/null 2>&1 || need_apt+=(util-linux)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# packaging tests: cloud-init schema, systemd-analyze/systemd-tmpfiles, man page checks, rpmbuild
command -v cloud-init >/dev/null 2>&1 || need_apt+=(cloud-init)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v groff >/dev/null 2>&1 || need_apt+=(groff-base)
command -v rpmbuild >/dev/null 2>&1 || need_apt+=(rpm)
command -v dpkg-deb >/dev/null 2>&1 || need_apt+=(dpkg)
# .deb policy checks and the maintainer scripts' helpers
command -v lintian >/dev/null 2>&1 || need_apt+=(lintian)
command -v deb-systemd-helper >/dev/null 2>&1 || need_apt+=(init-system-helpers)
command -v strip >/dev/null 2>&1 || need_apt+=(binutils)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "apt-get install ${need_apt[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    else
        log "missing ${need_apt[*]}: install them (as root: apt-get install ${need_apt[*]})"
        exit 1
    fi
fi

stamp=$venv/.complete-v1
if [ ! -f "$stamp" ]; then
    log "creating $venv (reference tools + ansible-core)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        os-collect-config==14.1.0 os-apply-config==14.1.0 os-refresh-config==14.1.0 \
        dib-utils ansible-core
    tmp=$(mktemp -d)
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
        heat-agents==13.0.0 -d "$tmp"
    tar -xzf "$tmp"/heat*agents-*.tar.gz -C "$tmp"
    rm -rf "$venv/heat-agents"
    mv "$tmp"/heat*agents-*/ "$venv/heat-agents"
    rm -rf "$tmp"
    touch "$stamp"
fi
# v2: websocket-client, so the reference zaqar collector can run its websocket mode
if [ ! -f "$venv/.complete-v2" ]; then
    "$venv/bin/pip" install -q --disable-pip-version-check websocket-client
    touch "$venv/.complete-v2"
fi
salt_venv=${HEAT_AGENT_TEST_SALT_VENV:-$here/.venv-salt}
if [ ! -f "$salt_venv/.complete-v1" ]; then
    log "creating $salt_venv (salt)"
    python3 -m venv "$salt_venv"
    "$salt_venv/bin/pip" install -q --disable-pip-version-check salt==3008.4
    touch "$salt_venv/.complete-v1"
fi
log "ready: venv $venv, salt venv $salt_venv, puppet $(puppet --version 2>/dev/null || echo missing)"
