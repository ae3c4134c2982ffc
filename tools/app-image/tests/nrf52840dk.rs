//! The nRF52840-DK image as users make it: builds the board's kernel
//! (which links only if it fits below the app area), turns it into a raw
//! image, writes it into a flash file with `tockloader flash --board
//! nrf52dk --flash-file F --address 0`, installs each of libtock-rs's
//! `nrf52840` example TABs with `tockloader install --board nrf52dk
//! --flash-file F`, and walks the app area of the file with the kernel's
//! own loader under the board's MPU, as the board does at boot: every app
//! is accepted, at the flash address its fixed-address TLV names, with
//! its RAM at its fixed RAM address inside process RAM and coverable by
//! the PMSAv7 MPU.
//!
//! A custom harness: without the third-party fixtures
//! (`../shared/fixtures/libtock-rs/nrf52840`, or `$TOCK_FIXTURES`) it
//! prints `SKIP` and why, and reports nothing as passed. Needs the
//! thumbv7em-none-eabi target, llvm-tools and tockloader (`make setup`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use app_layout::BoardFile;
use cortexm::mpu::{cover, ram_regions, Region};
use cortexm::{CortexM, Mpu};
use kernel::process::Process;
use kernel::storage_permissions::{TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::tbf::TbfHeader;
use kernel::{AppMemory, Kernel, LoadEvent, LoadPolicy};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> Result<String, String> {
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

/// Builds the kernel (the link fails if it does not fit) and makes the
/// raw image; its size.
fn kernel_image(board: &BoardFile, dir: &Path) -> Result<PathBuf, String> {
    let board_dir = root().join("boards/nrf52840dk");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Where the board's Makefile builds it (beside qemu-runner's kernels).
    let target = root().join("target/boards/hw");
    run(Command::new(cargo)
        .current_dir(&board_dir)
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release", "--quiet"]))?;
    let elf = target.join("thumbv7em-none-eabi/release/nrf52840dk");
    let sysroot = run(Command::new("rustc").args(["--print", "sysroot"]))?;
    let objcopy =
        Path::new(sysroot.trim()).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy");
    let bin = dir.join("nrf52840dk.bin");
    run(Command::new(objcopy)
        .args(["-O", "binary"])
        .arg(&elf)
        .arg(&bin))?;
    let len = std::fs::metadata(&bin).map_err(|e| e.to_string())?.len();
    if len == 0 || len > u64::from(board.kernel.size) {
        return Err(format!(
            "the kernel image is {len} bytes; the layout gives it {:#x}",
            board.kernel.size
        ));
    }
    println!(
        "nrf52840dk: kernel image {len} bytes ({:.0}% of the {} KiB below the app area)",
        100.0 * len as f64 / f64::from(board.kernel.size),
        board.kernel.size / 1024
    );
    Ok(bin)
}

/// The flash file with the kernel and `tab` installed, as tockloader
/// makes it.
fn flash_file(
    bin: &Path,
    tab: &Path,
    dir: &Path,
    tockloader_board: &str,
) -> Result<Vec<u8>, String> {
    let file = dir.join(format!(
        "flash-{}.bin",
        tab.file_stem().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&file);
    let flash_file = file.to_string_lossy().into_owned();
    run(Command::new("tockloader")
        .args([
            "flash",
            "--board",
            tockloader_board,
            "--flash-file",
            &flash_file,
            "--address",
            "0x0",
        ])
        .arg(bin))?;
    run(Command::new("tockloader")
        .args([
            "install",
            "--board",
            tockloader_board,
            "--flash-file",
            &flash_file,
        ])
        .arg(tab))?;
    let image = std::fs::read(&file).map_err(|e| e.to_string())?;
    let kernel = std::fs::read(bin).map_err(|e| e.to_string())?;
    if image.get(..kernel.len()) != Some(&kernel[..]) {
        return Err("the flash file does not start with the kernel image".into());
    }
    Ok(image)
}

/// Walks the app area of `image` with the kernel's loader under the
/// board's policy and MPU; a line per app, or what is wrong.
fn walk(board: &BoardFile, image: &[u8], name: &str) -> Result<String, String> {
    let (flash_start, flash_len) = (board.app_flash.start, board.app_flash.size as usize);
    let mut area = vec![0xFFu8; flash_len];
    let start = flash_start as usize;
    let present = image.len().saturating_sub(start).min(flash_len);
    area[..present].copy_from_slice(&image[start..start + present]);
    let flash: &'static [u8] = Box::leak(area.into_boxed_slice());
    let ram: &'static mut [u8] =
        Box::leak(vec![0u8; board.app_ram.size as usize].into_boxed_slice());
    let processes: &'static [Process] = Box::leak(Box::new([const { Process::new() }; 4]));
    let kernel: &'static Kernel = Box::leak(Box::new(Kernel::new(processes)));
    let memory = AppMemory {
        flash,
        flash_start,
        ram,
        ram_start: board.app_ram.start,
    };
    // The board's policy (components::loading::load_with_development_policy).
    let policy = LoadPolicy::trusting(&TlvElseCrc, &TlvElseSelfOnlyPolicy);
    let mut events = Vec::new();
    let loaded = kernel.load_processes(memory, &policy, &CortexM, &Mpu::new(), &mut |e| {
        events.push(match e {
            LoadEvent::Loaded {
                name, flash, ram, ..
            } => Ok((name.to_string(), *flash, *ram)),
            other => Err(other.to_string()),
        })
    });
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for event in events {
        match event {
            Err(e) if e.contains("padding") => {}
            Err(e) => problems.push(format!("refused: {e}")),
            Ok((app, flash, ram)) => {
                let at = (flash.start - flash_start) as usize;
                let header = TbfHeader::parse(&image[start + at..])
                    .map_err(|e| format!("{app}: header does not parse again: {e:?}"))?;
                let fixed_flash = header.fixed_flash_address();
                let fixed_ram = header.fixed_ram_address();
                if fixed_flash != Some(flash.start + header.protected_size()) {
                    problems.push(format!(
                        "{app}: at {:#x}, binary at {:#x}, but its fixed flash address is {fixed_flash:#x?}",
                        flash.start,
                        flash.start + header.protected_size()
                    ));
                }
                if fixed_ram != Some(ram.start) {
                    problems.push(format!(
                        "{app}: RAM at {:#x}, but its fixed RAM address is {fixed_ram:#x?}",
                        ram.start
                    ));
                }
                let window = board.app_ram;
                if ram.start < window.start || ram.start + ram.len > window.start + window.size {
                    problems.push(format!("{app}: RAM {ram:?} outside process RAM"));
                }
                if ram_regions(ram.start, ram.len).is_none() {
                    problems.push(format!("{app}: the MPU cannot cover RAM {ram:?}"));
                }
                let mut regions = [Region::default(); 2];
                if !cover(flash.start, flash.start + flash.len, &mut regions) {
                    problems.push(format!("{app}: the MPU cannot cover flash {flash:?}"));
                }
                lines.push(format!(
                    "{app}: flash {:#x}+{:#x} (fixed {:#x}), RAM {:#x}+{:#x} (fixed {:#x})",
                    flash.start,
                    flash.len,
                    fixed_flash.unwrap_or(0),
                    ram.start,
                    ram.len,
                    fixed_ram.unwrap_or(0)
                ));
            }
        }
    }
    if loaded != 1 {
        problems.push(format!("{loaded} processes loaded from {name}, expected 1"));
    }
    if problems.is_empty() {
        Ok(lines.join("\n"))
    } else {
        Err(problems.join("\n"))
    }
}

fn main() -> ExitCode {
    let board_file = root().join("boards/nrf52840dk/board.toml");
    let board = match BoardFile::load(&board_file) {
        Ok(b) => b,
        Err(e) => {
            println!("nrf52840dk image: FAIL {e}");
            return ExitCode::FAILURE;
        }
    };
    let fixtures = match app_layout::fixtures_dir(&root(), "libtock-rs/nrf52840") {
        Ok(dir) => dir,
        Err(why) => {
            println!("nrf52840dk image: SKIP - not run: {why}");
            println!("nrf52840dk image: 0 run, 0 ok (the skipped test did NOT pass)");
            return ExitCode::SUCCESS;
        }
    };
    let Some(tockloader_board) = board.tockloader_board.clone() else {
        println!("nrf52840dk image: FAIL board.toml names no tockloader_board");
        return ExitCode::FAILURE;
    };
    let dir = std::env::temp_dir().join(format!("nrf52840dk-image-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let bin = match kernel_image(&board, &dir) {
        Ok(bin) => bin,
        Err(e) => {
            println!("nrf52840dk image: FAIL {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut tabs: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    tabs.retain(|p| p.extension().is_some_and(|x| x == "tab"));
    tabs.sort();
    let mut failed = 0;
    for tab in &tabs {
        let name = tab.file_name().unwrap_or_default().to_string_lossy();
        let result = flash_file(&bin, tab, &dir, &tockloader_board)
            .and_then(|image| walk(&board, &image, &name));
        match result {
            Ok(lines) => println!("ok   {name}\n     {}", lines.replace('\n', "\n     ")),
            Err(e) => {
                failed += 1;
                println!("FAIL {name}\n     {}", e.replace('\n', "\n     "));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "nrf52840dk image: {} TABs installed with tockloader and walked, {} ok, {failed} failed",
        tabs.len(),
        tabs.len() - failed
    );
    if tabs.is_empty() || failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
