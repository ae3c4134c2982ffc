#!/usr/bin/env bash
# Builds every userland app and its flash images, for every board with a
# slot table.
#
#   userland/build.sh            (from anywhere in the checkout)
#
# Slot tables: userland/layout.toml (qemu_rv32_virt, the default board)
# and userland/layout-<board>.toml (other boards: qemu_ast1030). For each
# app in a table, in target/userland/ (the default board) or
# target/userland/<board>/:
#   <app>.elf   the linked app (release: opt-level z, LTO)
#   <app>.tbf   elf2tab's TBF (flags from the table)
#   <app>.tab   the TAB, for tockloader
#   <app>.bin   an app flash image holding only this app
# and for each [images] entry of the table (e.g. `apps`):
#   <image>.bin an app flash image with those apps
#
# An image is loaded at the start of the board's app flash area
# (0x8010_0000 on the QEMU virt board):
#   qemu-system-riscv32 ... -device loader,file=IMAGE,addr=0x80100000
#
# Needs cargo with the riscv32imac and thumbv7em-none-eabi targets and
# elf2tab (tools/scripts/setup.sh installs them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf 'userland: %s\n' "$*"; }
die() { printf 'userland: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found (run tools/scripts/setup.sh)"
command -v elf2tab >/dev/null || die "elf2tab not found (run tools/scripts/setup.sh)"

# The table tool (a host binary of the root workspace), built once.
(cd "$root" && CARGO_TARGET_DIR="$root/target" cargo build --quiet -p app-image)
app_image="$root/target/debug/app-image"

# Builds the apps of one slot table.
build_board() {
    local layout=$1
    local target arch sub out elf_dir
    target=$("$app_image" target --layout "$layout")
    arch=$("$app_image" arch --layout "$layout")
    sub=$("$app_image" out-dir --layout "$layout")
    out="$root/target/userland/${sub%/}"
    # Each board's cargo output apart (the apps' build scripts depend on
    # the table); exported so that a CARGO_TARGET_DIR in the environment
    # cannot move it.
    export CARGO_TARGET_DIR="$out/cargo"
    elf_dir="$CARGO_TARGET_DIR/$target/release"

    local apps
    mapfile -t apps < <("$app_image" apps --layout "$layout")
    [ "${#apps[@]}" -gt 0 ] || die "no apps in $layout"
    local packages=()
    for app in "${apps[@]}"; do packages+=(-p "$app"); done

    say "building for ${layout#"$root"/} ($target): ${apps[*]}"
    (cd "$root/userland" && TOCK_LAYOUT="$layout" cargo build --quiet --release \
        --target "$target" "${packages[@]}")

    mkdir -p "$out"
    for app in "${apps[@]}"; do
        cp "$elf_dir/$app" "$out/$app.elf"
        mapfile -t args < <("$app_image" elf2tab-args --layout "$layout" "$app")
        # elf2tab writes <app>.tbf next to the ELF and the TAB to -o.
        if ! log=$(cd "$out" && elf2tab "${args[@]}" -o "$app.tab" "$app.elf,$arch" 2>&1); then
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

    say "done: TBFs, TABs and images in ${out#"$root"/}"
}

for layout in "$root/userland/layout.toml" "$root"/userland/layout-*.toml; do
    [ -e "$layout" ] || continue
    build_board "$layout"
done
