#!/bin/bash
# Builds heat-agent_<version>_amd64.deb with dpkg-deb from a built binary:
#
#     packaging/deb/build-deb.sh [BINARY] [OUTDIR]
#
# BINARY defaults to the static build (packaging/build-static.sh), OUTDIR to target/deb.
# The version comes from Cargo.toml (HEAT_AGENT_DEB_VERSION overrides it); HEAT_AGENT_DEB_COMPRESS
# picks the dpkg-deb compressor (xz; the tests use none).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$repo/target/x86_64-unknown-linux-musl/release/heat-agent}
outdir=${2:-$repo/target/deb}
version=${HEAT_AGENT_DEB_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)}
command -v dpkg-deb >/dev/null || { echo "build-deb.sh: dpkg-deb missing (apt-get install dpkg-dev)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
"$repo/packaging/stage.sh" "$binary" "$stage"
# Debian policy: installed binaries are stripped (the release build already is; a debug build
# packaged for tests is not).
if command -v strip >/dev/null; then
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/heat-agent"
fi
doc=$stage/usr/share/doc/heat-agent
install -D -m 0644 "$repo/packaging/deb/copyright" "$doc/copyright"
sed "s/@VERSION@/$version/" "$repo/packaging/deb/changelog" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
install -D -m 0644 "$repo/packaging/deb/lintian-overrides" "$stage/usr/share/lintian/overrides/heat-agent"

# every path the package ships, for the takeover block (packaging/deb/takeover.sh)
takeover_paths=$(cd "$stage" && find . \( -type f -o -type l \) -print | sed 's|^\.||' | sort | tr '\n' ' ')
install -d -m 0755 "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$repo/packaging/deb/control" >"$stage/DEBIAN/control"
for script in preinst postinst prerm postrm; do
    # the takeover block goes in at the line #TAKEOVER#, with the shipped paths
    sed -e "/^#TAKEOVER#\$/{r $repo/packaging/deb/takeover.sh" -e 'd;}' "$repo/packaging/deb/$script" |
        sed "s|@TAKEOVER_PATHS@|${takeover_paths% }|" >"$stage/DEBIAN/$script"
    chmod 0755 "$stage/DEBIAN/$script"
done
# No conffiles: the hook wrappers under /var/lib/heat-config/hooks belong to the package (a
# conffile outside /etc breaks Debian policy); a site replaces one with dpkg-divert.
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
    xargs md5sum) >"$stage/DEBIAN/md5sums"

mkdir -p "$outdir"
deb=$outdir/heat-agent_${version}_amd64.deb
dpkg-deb --root-owner-group -Z"${HEAT_AGENT_DEB_COMPRESS:-xz}" --build "$stage" "$deb" >/dev/null
echo "$deb"
