#!/usr/bin/env bash
# Builds every userland app and its flash images.
#
#   userland/build.sh            (from anywhere in the checkout)
#
# For each app in userland/layout.toml:
#   target/userland/<app>.elf   the linked app (release: opt-level z, LTO)
#   target/userland/<app>.tbf   elf2tab's TBF (flags from the table)
#   target/userland/<app>.tab   the TAB, for tockloader
#   target/userland/<app>.bin   an app flash image holding only this app
# and for each [images] entry of the table (e.g. `apps`):
#   target/userland/<image>.bin an app flash image with those apps
#
# An image is loaded at the start of the app flash area (0x8010_0000 on the
# QEMU virt board): qemu-system-riscv32 ... -device loader,file=IMAGE,addr=0x80100000
#
# Needs cargo with the riscv32imac target and elf2tab (tools/scripts/setup.sh
# installs both).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/userland"
# The userland workspace's cargo output (also set in userland/.cargo/config.toml;
# exported so that a CARGO_TARGET_DIR in the environment cannot move it).
export CARGO_TARGET_DIR="$out/cargo"
elf_dir="$CARGO_TARGET_DIR/riscv32imac-unknown-none-elf/release"

say() { printf 'userland: %s\n' "$*"; }
die() { printf 'userland: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found (run tools/scripts/setup.sh)"
command -v elf2tab >/dev/null || die "elf2tab not found (run tools/scripts/setup.sh)"

# The table tool (a host binary of the root workspace), built once.
(cd "$root" && CARGO_TARGET_DIR="$root/target" cargo build --quiet -p app-image)
app_image="$root/target/debug/app-image"
layout="$root/userland/layout.toml"

mapfile -t apps < <("$app_image" apps --layout "$layout")
[ "${#apps[@]}" -gt 0 ] || die "no apps in $layout"

say "building ${apps[*]}"
(cd "$root/userland" && cargo build --quiet --release)

mkdir -p "$out"
for app in "${apps[@]}"; do
    cp "$elf_dir/$app" "$out/$app.elf"
    mapfile -t args < <("$app_image" elf2tab-args --layout "$layout" "$app")
    # elf2tab writes <app>.tbf next to the ELF and the TAB to -o.
    if ! log=$(cd "$out" && elf2tab "${args[@]}" -o "$app.tab" "$app.elf,rv32imac" 2>&1); then
        printf '%s\n' "$log" >&2
        die "elf2tab failed for $app"
    fi
    "$app_image" pack --layout "$layout" -o "$out/$app.bin" "$out/$app.tbf" >/dev/null
done

while read -r image members; do
    [ -n "$image" ] || continue
    tbfs=()
    for app in $members; do tbfs+=("$out/$app.tbf"); done
    "$app_image" pack --layout "$layout" -o "$out/$image.bin" "${tbfs[@]}" | sed 's/^/userland: /'
done < <("$app_image" images --layout "$layout")

say "done: TBFs, TABs and images in ${out#"$root"/}/"
