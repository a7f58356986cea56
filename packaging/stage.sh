#!/bin/bash
# Lays out the installed file tree of heat-agent under DESTDIR (used by packaging/deb and the
# rpm spec):
#
#     packaging/stage.sh BINARY DESTDIR
#
# binary + legacy-name symlinks, systemd unit, tmpfiles.d, os-refresh-config phase dirs and
# shims, os-apply-config templates (the ones Heat relies on), hook wrappers, man pages, shell
# completions, the sample config and the operator docs. Paths: UNITDIR
# (/usr/lib/systemd/system), TMPFILESDIR (/usr/lib/tmpfiles.d).
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 BINARY DESTDIR" >&2; exit 2; }
binary=$1
dest=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
element=$repo/elements/heat-agent
unitdir=${UNITDIR:-/usr/lib/systemd/system}
tmpfilesdir=${TMPFILESDIR:-/usr/lib/tmpfiles.d}
[ -f "$binary" ] || { echo "stage.sh: $binary: no such file" >&2; exit 1; }

install -D -m 0755 "$binary" "$dest/usr/bin/heat-agent"
for name in os-collect-config os-apply-config os-config-applier os-refresh-config heat-config-notify; do
    ln -sfn heat-agent "$dest/usr/bin/$name"
done

# heat-config's marker rebuild tool (RDO ships it in /usr/bin): the native command does it
printf '#!/bin/sh\nexec /usr/bin/heat-agent deploy --mark-deployed-all "$@"\n' >"$dest/usr/bin/heat-config-rebuild-deployed"
chmod 0755 "$dest/usr/bin/heat-config-rebuild-deployed"

install -D -m 0644 "$repo/packaging/systemd/heat-agent.service" "$dest$unitdir/heat-agent.service"
install -D -m 0644 "$repo/packaging/tmpfiles.d/heat-agent.conf" "$dest$tmpfilesdir/heat-agent.conf"

orc=$dest/usr/libexec/os-refresh-config
for phase in pre-configure.d configure.d migration.d post-configure.d; do
    install -d -m 0755 "$orc/$phase"
done
for f in "$element"/os-refresh-config/*/*; do
    install -D -m 0755 "$f" "$orc/${f#"$element"/os-refresh-config/}"
done
templates=$dest/usr/libexec/os-apply-config/templates
(cd "$element/os-apply-config" && find . -type f) | while read -r f; do
    install -D -m 0644 "$element/os-apply-config/$f" "$templates/${f#./}"
done

install -d -m 0755 "$dest/var/lib/heat-config/hooks"
# one wrapper per built-in hook: the list and the text come from the binary itself
hooks=$("$dest/usr/bin/heat-agent" hook --list)
for hook in $hooks; do
    "$dest/usr/bin/heat-agent" hook --wrapper "$hook" --agent /usr/bin/heat-agent \
        >"$dest/var/lib/heat-config/hooks/$hook"
    chmod 0755 "$dest/var/lib/heat-config/hooks/$hook"
done

man=$dest/usr/share/man/man1
install -d -m 0755 "$man"
for page in "$repo"/packaging/man/*.1; do
    gzip -9n <"$page" >"$man/$(basename "$page").gz"
    chmod 0644 "$man/$(basename "$page").gz"
done
install -D -m 0644 "$repo/packaging/completions/heat-agent.bash" "$dest/usr/share/bash-completion/completions/heat-agent"
install -D -m 0644 "$repo/packaging/completions/_heat-agent" "$dest/usr/share/zsh/vendor-completions/_heat-agent"
install -D -m 0644 "$repo/packaging/completions/heat-agent.fish" "$dest/usr/share/fish/vendor_completions.d/heat-agent.fish"

doc=$dest/usr/share/doc/heat-agent
install -D -m 0644 "$repo/packaging/config.toml.example" "$doc/config.toml.example"
# every page --help points to (docs/NAME.md) is here on the box too
for f in README.md docs/operators.md docs/configuration.md docs/compatibility.md; do
    [ -f "$repo/$f" ] && install -D -m 0644 "$repo/$f" "$doc/$(basename "$f")"
done
true
