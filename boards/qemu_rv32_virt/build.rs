//! Links the kernel with this board's memory layout.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/layout.ld");
    println!("cargo:rerun-if-changed={dir}/layout.ld");
}
