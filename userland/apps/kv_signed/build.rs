//! Links the app for its slot in userland/layout.toml.

fn main() {
    app_layout::build_script();
}
