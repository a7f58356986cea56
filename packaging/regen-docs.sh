#!/bin/bash
# Regenerates the checked-in man pages (packaging/man) and shell completions
# (packaging/completions) from the clap definitions. Run after changing any command's flags;
# tests/packaging_docs.rs fails while they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
rm -rf packaging/man packaging/completions
target/debug/heat-agent gen-man packaging/man
target/debug/heat-agent gen-completions packaging/completions
echo "regenerated packaging/man and packaging/completions" >&2
