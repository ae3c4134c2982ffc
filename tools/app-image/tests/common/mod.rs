//! What the kernel image tests share: running a tool, and building a
//! board's kernel and its raw image as users make them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cmd`; its output (stdout, then stderr), or why it failed.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd:?} failed:\n{text}"))
    }
}

/// A board's kernel as built for users (release, no features): the ELF
/// and the raw image `llvm-objcopy -O binary` makes of it, which spans
/// the kernel area from its start to the end of the kernel attributes.
pub struct Built {
    /// The linked kernel.
    #[allow(dead_code)] // each test binary compiles this module; not all read it
    pub elf: PathBuf,
    /// The raw image, in `dir`.
    pub bin: PathBuf,
}

/// Builds `board`'s kernel from its folder (its `.cargo/config.toml`
/// names the target) into `target/boards/<target_dir>` (where
/// qemu-runner's run kernels or the real boards' Makefiles build it, so
/// the work is shared), then makes the raw image in `dir`.
pub fn build_kernel(board: &str, target_dir: &str, dir: &Path) -> Result<Built, String> {
    let board_dir = root().join("boards").join(board);
    let description =
        app_layout::BoardFile::load(&board_dir.join("board.toml")).map_err(|e| e.to_string())?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = root().join("target/boards").join(target_dir);
    run(Command::new(cargo)
        .current_dir(&board_dir)
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release", "--quiet"]))?;
    // A QEMU board names its kernel's target; a real board's kernel is
    // built for its apps' (the nRF52840's Cortex-M4).
    let rust_target = match &description.qemu {
        Some(q) => q.kernel_target.clone(),
        None => description
            .app_target()
            .ok_or(format!("{board}: no Rust target"))?
            .to_string(),
    };
    let elf = target.join(rust_target).join("release").join(board);
    let sysroot = run(Command::new("rustc").args(["--print", "sysroot"]))?;
    let objcopy =
        Path::new(sysroot.trim()).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy");
    let bin = dir.join(format!("{board}.bin"));
    run(Command::new(objcopy)
        .args(["-O", "binary"])
        .arg(&elf)
        .arg(&bin))?;
    Ok(Built { elf, bin })
}
