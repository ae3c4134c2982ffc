//! Links the kernel with this board's memory layout, from `board.toml`
//! (the one description of the board): see
//! `app_layout::board::kernel_build_script`.

fn main() {
    app_layout::board::kernel_build_script();
}
