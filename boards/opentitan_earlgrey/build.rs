//! Links the kernel with this board's memory layout, from `board.toml`
//! (the one description of the board), and records the kernel's version
//! in its attributes: see `app_layout::board::kernel_build_script`.

fn main() {
    let version = kernel::KERNEL_VERSION;
    app_layout::board::kernel_build_script((version.major, version.minor));
}
