# Builds every userland app and its flash images, for every board with a
# slot table.
#
#   userland/build.sh            (from anywhere in the checkout)
#
# Slot tables: userland/layout.toml (qemu_rv32_virt, the default board)
# and userland/layout-<board>.toml (other boards: qemu_ast1030,
# opentitan_earlgrey, nrf52840dk). For each
# app in a table, in target/userland/ (the default board) or
# target/userland/<board>/:
#   <app>.elf   the linked app (release: opt-level z, LTO)
#   <app>.tbf   elf2tab's TBF (flags from the table)
#   <app>.bin   an app flash image holding only this app
# and for each [images] entry of the table (e.g. `apps`):
#   <image>.bin an app flash image with those apps
# For each app, whatever boards build it, one TAB for tockloader:
#   target/userland/tabs/<app>.tab
# holding one TBF per slot table, named <arch>.<TBF start>.<RAM start>.tbf
# (`rv32imac.0x80100000.0x80300000.tbf` for hello, two `cortex-m4.*.tbf` for
# qemu_ast1030 and nrf52840dk, ...): the same file installs on every
# board (tockloader takes the board's architecture and, among several,
# the TBF whose RAM lies in the process RAM the kernel's attributes
# name). An app's elf2tab flags must then agree between tables.
#
# An image is loaded at the start of the board's app flash area
# (0x8010_0000 on the QEMU virt board):
#   qemu-system-riscv32 ... -device loader,file=IMAGE,addr=0x80100000
#
# Needs cargo with the riscv32imac, riscv32imc and thumbv7em-none-eabi
# targets and elf2tab (tools/scripts/setup.sh installs them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf 'userland: %s\n' "$*"; }
die() { printf 'userland: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found (run tools/scripts/setup.sh)"
command -v elf2tab >/dev/null || die "elf2tab not found (run tools/scripts/setup.sh)"

# One run at a time: runs for two boards at once (make hwci runs the QEMU
# boards in parallel) would copy an ELF while the other's elf2tab reads it.
mkdir -p "$root/target/userland"
exec 9>"$root/target/userland/.build.lock"
if command -v flock >/dev/null; then flock 9; fi

# The table tool (a host binary of the root workspace), built once;
# APP_IMAGE names one already built (a test of the root workspace that
# runs this script gives its own, rather than build into the target
# folder its cargo is using).
if [ -n "${APP_IMAGE:-}" ]; then
    app_image=$APP_IMAGE
else
    (cd "$root" && CARGO_TARGET_DIR="$root/target" cargo build --quiet -p app-image)
    app_image="$root/target/debug/app-image"
fi

layouts=()
for layout in "$root/userland/layout.toml" "$root"/userland/layout-*.toml; do
    [ -e "$layout" ] && layouts+=("$layout")
done

# The output folder of a slot table.
out_dir() {
    local sub
    sub=$("$app_image" out-dir --layout "$1")
    sub=${sub%/}
    printf '%s\n' "$root/target/userland${sub:+/$sub}"
}

# Phase 1: compiles and links the apps of one slot table.
build_board() {
    local layout=$1
    local target out elf_dir
    target=$("$app_image" target --layout "$layout")
    out=$(out_dir "$layout")
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
    done
}

# Phase 2: one elf2tab run per app over its ELFs of every board: a TBF
# next to each ELF and the TAB with all of them.
pack_tabs() {
    local tabs="$root/target/userland/tabs"
    mkdir -p "$tabs"
    local -A inputs=() flags=() first=()
    local layout app out args
    for layout in "${layouts[@]}"; do
        out=$(out_dir "$layout")
        while read -r app; do
            args=$("$app_image" elf2tab-args --layout "$layout" "$app")
            if [ -z "${flags[$app]+set}" ]; then
                flags[$app]=$args
                first[$app]=$layout
            elif [ "${flags[$app]}" != "$args" ]; then
                die "$app: its elf2tab flags differ between ${first[$app]#"$root"/} and ${layout#"$root"/} (one TAB carries every architecture: make them agree)"
            fi
            inputs[$app]+=" $out/$app.elf,$("$app_image" tab-name --layout "$layout" "$app")"
        done < <("$app_image" apps --layout "$layout")
    done
    for app in "${!inputs[@]}"; do
        mapfile -t args <<<"${flags[$app]}"
        # shellcheck disable=SC2086 # the ELF list is split on purpose
        if ! log=$(elf2tab "${args[@]}" -o "$tabs/$app.tab" ${inputs[$app]} 2>&1); then
            printf '%s\n' "$log" >&2
            die "elf2tab failed for $app"
        fi
    done
    say "done: ${#inputs[@]} TABs in ${tabs#"$root"/}"
}

# Phase 3: the app flash images of one slot table.
pack_images() {
    local layout=$1
    local out
    out=$(out_dir "$layout")
    while read -r app; do
        "$app_image" pack --layout "$layout" -o "$out/$app.bin" "$out/$app.tbf" >/dev/null
    done < <("$app_image" apps --layout "$layout")
    while read -r image members; do
        [ -n "$image" ] || continue
        tbfs=()
        for app in $members; do tbfs+=("$out/$app.tbf"); done
        "$app_image" pack --layout "$layout" -o "$out/$image.bin" "${tbfs[@]}" | sed 's/^/userland: /'
    done < <("$app_image" images --layout "$layout")
    say "done: TBFs and images in ${out#"$root"/}"
}

for layout in "${layouts[@]}"; do build_board "$layout"; done
pack_tabs
for layout in "${layouts[@]}"; do pack_images "$layout"; done
