#!/bin/bash
# Builds the static, stripped x86_64 musl binary of heat-agent (rustls, no OpenSSL):
#
#     packaging/build-static.sh            # -> target/x86_64-unknown-linux-musl/release/heat-agent
#     packaging/build-static.sh --out DIR  # also copies it to DIR/heat-agent
#
# Needs: cargo + rustup (or a toolchain that already has the musl rust-std), and a C compiler
# for musl because `ring` (rustls' crypto) has C and assembly parts: Debian/Ubuntu `musl-tools`
# (musl-gcc), Fedora `musl-gcc`, Alpine: the native gcc. The release profile in Cargo.toml is
# size-optimised (opt-level s, LTO, one codegen unit, panic=abort, strip); the script fails if the
# result is not static or larger than HEAT_AGENT_MAX_BYTES (default 8 MiB).
set -euo pipefail

target=x86_64-unknown-linux-musl
max_bytes=${HEAT_AGENT_MAX_BYTES:-8388608}
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --out=*) out=${1#--out=}; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-static.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
die() { echo "build-static.sh: $*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs, or your distribution's cargo)"

sysroot=$(rustc --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/$target/lib" ]; then
    if command -v rustup >/dev/null 2>&1; then
        echo "build-static.sh: installing the $target standard library with rustup" >&2
        if ! rustup target add "$target"; then
            die "rustup could not add $target (offline, or the dist server unreachable).
  Options:
   - retry with network access: rustup target add $target
   - offline: on a connected machine download
       https://static.rust-lang.org/dist/rust-std-$(rustc --version | cut -d' ' -f2)-$target.tar.xz
     copy it here, unpack it and run: ./install.sh --prefix=$sysroot
   - or build inside an Alpine container (rust + cargo from apk target musl natively)."
        fi
    else
        die "the Rust standard library for $target is missing in $sysroot and rustup is not installed.
  Install it (rust-std-<version>-$target from static.rust-lang.org, ./install.sh --prefix=$sysroot)
  or build with a rustup-managed toolchain."
    fi
fi

# ring compiles C/assembly for the target: it needs a musl C compiler.
cc_var=CC_${target//-/_}
if [ -z "${!cc_var:-}" ]; then
    if command -v musl-gcc >/dev/null 2>&1; then
        export "$cc_var=musl-gcc"
    elif command -v x86_64-linux-musl-gcc >/dev/null 2>&1; then
        export "$cc_var=x86_64-linux-musl-gcc"
    elif [ -f /etc/alpine-release ]; then
        : # the native compiler targets musl
    else
        die "no musl C compiler found (needed by ring, the TLS crypto library).
  Debian/Ubuntu: apt-get install musl-tools    Fedora: dnf install musl-gcc
  or point $cc_var at one."
    fi
fi

cargo build --release --locked --target "$target"

bin=target/$target/release/heat-agent
[ -x "$bin" ] || die "cargo did not produce $bin"

# A static executable has no program interpreter (PT_INTERP) and no NEEDED libraries.
if command -v readelf >/dev/null 2>&1; then
    if readelf -lW "$bin" | grep -q 'Requesting program interpreter'; then
        die "$bin is dynamically linked (has a program interpreter)"
    fi
    if readelf -dW "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
        die "$bin needs shared libraries: $(readelf -dW "$bin" | grep NEEDED | tr -s ' ')"
    fi
fi

size=$(stat -c %s "$bin")
if [ "$size" -gt "$max_bytes" ]; then
    die "$bin is $size bytes, over the limit of $max_bytes"
fi

# The allocator's compile-time options (.cargo/config.toml) keep peak RSS small; a build that
# lost them (e.g. a builder's own CFLAGS for the target) would use twice the memory.
alloc_options=$(MIMALLOC_VERBOSE=1 "$bin" --version 2>&1)
if ! grep -q "option 'arena_eager_commit': 0" <<<"$alloc_options"; then
    die "$bin: mimalloc was built without -DMI_DEFAULT_ARENA_EAGER_COMMIT=0 (see .cargo/config.toml)"
fi

version=$("$bin" --version)
echo "build-static.sh: $bin ($size bytes, static): $version" >&2

if [ -n "$out" ]; then
    mkdir -p "$out"
    install -m 0755 "$bin" "$out/heat-agent"
    echo "build-static.sh: copied to $out/heat-agent" >&2
fi
