#!/bin/sh
# Scenario 4 of tests/vm: real work in one script deployment under the shipped unit.
set -eu
echo "written by the vm-test deployment" > /etc/vm-test.conf
id vmtest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin vmtest
# a local .deb, installed with dpkg
d=$(mktemp -d)
mkdir -p "$d/pkg/DEBIAN" "$d/pkg/usr/share/vm-test-pkg"
printf 'Package: vm-test-pkg\nVersion: 1.0\nArchitecture: all\nMaintainer: vm test <root@localhost>\nDescription: local package of the VM suite\n' >"$d/pkg/DEBIAN/control"
echo hello >"$d/pkg/usr/share/vm-test-pkg/hello"
dpkg-deb --root-owner-group --build "$d/pkg" "$d/vm-test-pkg.deb" >/dev/null
dpkg -i "$d/vm-test-pkg.deb"
# a systemd service: written, daemon-reload, enabled and started
cat >/etc/systemd/system/vm-test.service <<UNIT
[Unit]
Description=vm-test service started by a Heat deployment
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now vm-test.service
sysctl -w vm.swappiness=17
# a background daemon the usual careless way: no redirection, so it inherits the hook's
# stdout/stderr; it must outlive the deployment without holding it open
printf '#!/bin/sh\nwhile :; do sleep 60; done\n' >/usr/local/bin/vm-test-daemon
chmod 0755 /usr/local/bin/vm-test-daemon
nohup /usr/local/bin/vm-test-daemon &
echo "real work done"
