#!/usr/bin/env bash
# Builds driftd's release binary. This is the one build command that the
# container image (deploy/Dockerfile) and CI share, so that the binary CI
# tests is the binary the image ships.
#
# Usage: deploy/build-release.sh [OUT_DIR]
#   With OUT_DIR, the binary is also copied to OUT_DIR/driftd (the image
#   build needs this: its target directory is a cache mount that the next
#   stage cannot see).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin driftd
if [ $# -gt 0 ]; then
  install -D -m 0755 target/release/driftd "$1/driftd"
fi
