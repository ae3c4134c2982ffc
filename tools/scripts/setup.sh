#!/usr/bin/env bash
# Installs what `make test` and `make run` need, and nothing that is already
# there. Safe to run any number of times. Later parts of the project (the
# QEMU board, apps, tockloader) add their tools here.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf 'setup: %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install rustup first (https://rustup.rs)" >&2
    exit 1
fi

# The toolchain pinned in rust-toolchain.toml, with rustfmt and clippy.
# rustup installs a missing pinned toolchain on first use; make it explicit.
channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^${channel}"; then
    say "installing Rust ${channel}"
    rustup toolchain install "${channel}" --profile minimal --component rustfmt,clippy
fi
for c in rustfmt clippy; do
    if ! rustup component list --toolchain "${channel}" --installed | grep -q "^${c}"; then
        say "adding ${c}"
        rustup component add --toolchain "${channel}" "${c}"
    fi
done
say "ready (Rust ${channel})"
