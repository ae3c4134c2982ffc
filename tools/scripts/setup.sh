#!/usr/bin/env bash
# Installs what `make test` and `make run` need, and nothing that is already
# there. Safe to run any number of times. Later parts of the project (the
# QEMU board, apps) add their tools here.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf 'setup: %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install rustup first (https://rustup.rs)" >&2
    exit 1
fi

# The toolchain pinned in rust-toolchain.toml, with rustfmt and clippy.
# rustup installs a missing pinned toolchain on first use; make it explicit.
channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^${channel}"; then
    say "installing Rust ${channel}"
    rustup toolchain install "${channel}" --profile minimal --component rustfmt,clippy,llvm-tools
fi
for c in rustfmt clippy llvm-tools; do
    if ! rustup component list --toolchain "${channel}" --installed | grep -q "^${c}"; then
        say "adding ${c}"
        rustup component add --toolchain "${channel}" "${c}"
    fi
done
# Targets: Cortex-M (the qemu_ast1030 board and its apps, soft-float;
# kv-bench ROM probes and the kernel's no_std check, hard-float) and RV32
# (the qemu_rv32_virt board and its apps: imac; opentitan_earlgrey and its
# apps: imc, Ibex has no atomics).
for t in thumbv7em-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf; do
    if ! rustup target list --toolchain "${channel}" --installed | grep -q "^${t}\$"; then
        say "adding target ${t}"
        rustup target add --toolchain "${channel}" "${t}"
    fi
done

# QEMU for the RISC-V and Cortex-M boards, from bookworm-backports
# (bookworm's own 7.2 conflicts with the preinstalled backports qemu-utils;
# see doc/platforms.md).
qemu_missing=()
command -v qemu-system-riscv32 >/dev/null 2>&1 || qemu_missing+=(qemu-system-riscv)
command -v qemu-system-arm >/dev/null 2>&1 || qemu_missing+=(qemu-system-arm)
if [ "${#qemu_missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: ${qemu_missing[*]} missing and no apt-get: install QEMU >= 8 yourself" >&2
        exit 1
    fi
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
        uri=${uri:-http://deb.debian.org/debian}
        say "adding bookworm-backports (${uri})"
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "${uri}" | as_root tee /etc/apt/sources.list.d/backports.sources >/dev/null
    fi
    say "installing ${qemu_missing[*]} from bookworm-backports"
    as_root apt-get -o DPkg::Lock::Timeout=600 -qq update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y \
        --no-install-recommends -t bookworm-backports "${qemu_missing[@]}" >/dev/null
fi

# A C++ compiler: libFuzzer (libfuzzer-sys) is C++ (the fuzz run of make
# test).
if ! command -v c++ >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: no C++ compiler and no apt-get: install g++ yourself" >&2
        exit 1
    fi
    say "installing g++"
    as_root apt-get -o DPkg::Lock::Timeout=600 -qq update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq install -y \
        --no-install-recommends g++ >/dev/null
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
# What upstream's tock-hardware-ci harness imports when it drives our QEMU
# board modules (tools/hwci): pexpect, pyserial, PyYAML. Not its GPIO
# packages (gpiozero, lgpio): only a Raspberry Pi lab needs those.
if ! python3 -c "import pexpect, serial, yaml" 2>/dev/null; then
    say "installing pexpect, pyserial and PyYAML (tock-hardware-ci)"
    python3 -m pip install --quiet --disable-pip-version-check "pexpect>=4.8" "pyserial>=3.5" "PyYAML>=6"
fi

say "ready (Rust ${channel}, elf2tab ${want_elf2tab}, tockloader ${want_tockloader}, $(qemu-system-riscv32 --version | head -n 1), qemu-system-arm too)"
