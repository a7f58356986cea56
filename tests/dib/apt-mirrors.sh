# Debian mirrors for debootstrap/diskimage-builder, read from this machine's own apt sources
# (deb822 /etc/apt/sources.list.d/*.sources and one-line /etc/apt/sources.list{,.d/*.list}),
# so no mirror host is written into the repository. Source it; do not execute.
#   apt_mirrors_export RELEASE   exports DIB_DISTRIBUTION_MIRROR (the archive serving RELEASE)
#                                and DIB_DEBIAN_SECURITY_MIRROR (the one serving RELEASE-security,
#                                when the machine has one); fails when no source serves RELEASE.

# apt_mirror_for SUITE: the first enabled deb URI whose suites include SUITE exactly
apt_mirror_for() {
    local suite=$1 f
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            # one stanza per paragraph: print "URI SUITES..." for enabled deb stanzas
            awk 'BEGIN { RS = ""; FS = "\n" }
                 {
                     types = ""; uris = ""; suites = ""; enabled = "yes"
                     for (i = 1; i <= NF; i++) {
                         line = $i
                         if (line ~ /^#/) continue
                         split(line, kv, ":")
                         key = tolower(kv[1]); val = substr(line, length(kv[1]) + 2)
                         gsub(/^[ \t]+|[ \t]+$/, "", val)
                         if (key == "types") types = val
                         else if (key == "uris") uris = val
                         else if (key == "suites") suites = val
                         else if (key == "enabled") enabled = tolower(val)
                     }
                     if (enabled != "no" && (" " types " ") ~ / deb /) {
                         split(uris, u, /[ \t]+/)
                         print u[1], suites
                     }
                 }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            # deb [options] URI SUITE COMPONENTS...
            sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
        done
    } | awk -v s="$suite" '{ for (i = 2; i <= NF; i++) if ($i == s) { print $1; exit } }'
}

apt_mirrors_export() {
    local release=$1 main security
    main=$(apt_mirror_for "$release")
    if [ -z "$main" ]; then
        echo "apt-mirrors.sh: no apt source of this machine serves '$release' (looked in /etc/apt/sources.list and /etc/apt/sources.list.d/)" >&2
        return 1
    fi
    export DIB_DISTRIBUTION_MIRROR=${DIB_DISTRIBUTION_MIRROR:-${main%/}}
    security=$(apt_mirror_for "$release-security")
    if [ -n "$security" ]; then
        export DIB_DEBIAN_SECURITY_MIRROR=${DIB_DEBIAN_SECURITY_MIRROR:-${security%/}}
    fi
}
