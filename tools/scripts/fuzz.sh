#!/usr/bin/env bash
# Coverage-guided fuzzing of the storage engine on the stable toolchain:
# libFuzzer (from the libfuzzer-sys crate) with the same coverage
# instrumentation cargo-fuzz uses, passed as stable -C flags (no nightly,
# no address sanitizer: the engine has no unsafe code). Each target runs
# for SECONDS (default 20) on its corpus in libraries/tickv/fuzz/corpus/,
# which the run extends, so the next run starts where this one stopped.
# A crash, a panic or a hang (over 10 s on one input) fails the script and
# leaves the input in target/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
host=$(rustc -vV | sed -n 's/^host: //p')
target_dir="$PWD/target/fuzz"
artifacts="$target_dir/artifacts"
mkdir -p "$artifacts"
# --target keeps these flags off build scripts and proc macros.
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
CARGO_TARGET_DIR="$target_dir" \
    cargo build --quiet --release --bins --target "$host" --manifest-path libraries/tickv/fuzz/Cargo.toml
for t in image ops; do
    corpus="libraries/tickv/fuzz/corpus/$t"
    mkdir -p "$corpus"
    echo "fuzz: $t for ${seconds} s, corpus $corpus ($(ls "$corpus" | wc -l) inputs)"
    "$target_dir/$host/release/$t" -max_total_time="$seconds" -timeout=10 \
        -artifact_prefix="$artifacts/$t-" -print_final_stats=1 "$corpus" 2>"$target_dir/$t.log" \
        || { tail -n 40 "$target_dir/$t.log"; echo "fuzz: $t FAILED (input in $artifacts)"; exit 1; }
    grep -E '^stat::number_of_executed_units|^Done' "$target_dir/$t.log" | sed "s/^/fuzz: $t: /"
done
echo "fuzz: no crash"
