#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs the local AWS emulator
# (moto, into ./.venv) when missing, then checks formatting and lints and runs
# every test. The emulator tests start their own moto on free loopback ports.
# The release binary is CI's business (.ci/run builds it after this).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-emulator.sh
# Deploy assets: hadolint, shellcheck, promtool (installs what is missing).
scripts/check-deploy.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
