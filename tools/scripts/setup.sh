#!/usr/bin/env bash
# Installs what `make test` and `make run` need, and nothing that is already
# there. Safe to run any number of times. Later parts of the project (the
# QEMU board, apps) add their tools here.
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
# The Cortex-M target: kv-bench builds its ROM probes for it.
if ! rustup target list --toolchain "${channel}" --installed | grep -q '^thumbv7em-none-eabihf$'; then
    say "adding target thumbv7em-none-eabihf"
    rustup target add --toolchain "${channel}" thumbv7em-none-eabihf
fi

# elf2tab (crates.io): packs apps into TBFs; the kernel's TBF tests use it.
want_elf2tab=0.13.0
if [ "$(elf2tab --version 2>/dev/null)" != "elf2tab ${want_elf2tab}" ]; then
    say "installing elf2tab ${want_elf2tab}"
    cargo install --quiet --locked elf2tab --version "${want_elf2tab}"
fi

# tockloader (PyPI): the interoperability tests write version-1 stores with it.
want_tockloader=1.19.0
if [ "$(tockloader --version 2>/dev/null | tail -n 1)" != "${want_tockloader}" ]; then
    say "installing tockloader ${want_tockloader}"
    python3 -m pip install --quiet --disable-pip-version-check "tockloader==${want_tockloader}"
    hash -r
    if ! command -v tockloader >/dev/null 2>&1; then
        echo "setup: tockloader installed but not on PATH ($(python3 -m site --user-base)/bin?)" >&2
        exit 1
    fi
fi
say "ready (Rust ${channel}, elf2tab ${want_elf2tab}, tockloader ${want_tockloader})"
