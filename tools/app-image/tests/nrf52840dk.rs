//! The nRF52840-DK image as users make it: builds the board's kernel
//! (which links only if it fits below its attributes and the app area),
//! turns it into a raw image, writes it into a flash file with
//! `tockloader flash --board nrf52dk --flash-file F --address 0`, installs
//! apps with `tockloader install --board nrf52dk --flash-file F`, and walks
//! the app area of the file with the kernel's own loader under the
//! board's MPU, as the board does at boot: every app is accepted, at the
//! flash address its fixed-address TLV names, with its RAM at its fixed
//! RAM address inside process RAM and coverable by the PMSAv7 MPU.
//!
//! The apps: each of libtock-rs's `nrf52840` example TABs, and our own
//! (`userland/layout-nrf52840dk.toml`), one by one and all together, from
//! the TABs `userland/build.sh` makes (which it runs). Our TABs carry two
//! Cortex-M4 TBFs, the DK's and qemu_ast1030's: tockloader must install
//! the one whose RAM is the board's, which it learns from the kernel
//! attributes. The same TAB on qemu_ast1030's kernel gets that board's
//! TBF, and on a kernel without attributes tockloader takes the DK's (the
//! lowest flash address), which is why the attributes are needed.
//!
//! A custom harness: without the third-party fixtures
//! (`../shared/fixtures/libtock-rs/nrf52840`, or `$TOCK_FIXTURES`) their
//! part prints `SKIP` and why, and reports nothing as passed. Needs the
//! thumbv7em-none-eabi target, llvm-tools, elf2tab and tockloader (`make
//! setup`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use app_layout::{BoardFile, Layout};
use cortexm::mpu::{cover, ram_regions, Region};
use cortexm::{CortexM, Mpu};
use kernel::process::Process;
use kernel::storage_permissions::{TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::tbf::{Outcome, TbfHeader};
use kernel::{AppMemory, Kernel, LoadEvent, LoadPolicy};

use common::{build_kernel, root, run};

/// Builds the kernel (the link fails if it does not fit) and makes the
/// raw image, the whole kernel area ending with its attributes.
fn kernel_image(board: &BoardFile, dir: &Path) -> Result<PathBuf, String> {
    let built = build_kernel("nrf52840dk", "hw", dir)?;
    let bin = std::fs::read(&built.bin).map_err(|e| e.to_string())?;
    let attributes = app_image::kernel_attributes(&bin).map_err(|e| e.to_string())?;
    let (_, len) = attributes
        .kernel_binary
        .ok_or("the kernel attributes do not give the image's length")?;
    if bin.len() != board.kernel.size as usize {
        return Err(format!(
            "the raw image is {} bytes; the layout gives the kernel {:#x}",
            bin.len(),
            board.kernel.size
        ));
    }
    println!(
        "nrf52840dk: kernel image {len} bytes ({:.0}% of the {} KiB below the app area)",
        100.0 * f64::from(len) / f64::from(board.kernel.size),
        board.kernel.size / 1024
    );
    Ok(built.bin)
}

/// The flash file with the kernel and `tabs` installed, as tockloader
/// makes it.
fn flash_file(
    bin: &Path,
    tabs: &[PathBuf],
    dir: &Path,
    tockloader_board: &str,
) -> Result<Vec<u8>, String> {
    let file = dir.join(format!("flash-{}.bin", tabs.len()));
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
        .args(tabs))?;
    let image = std::fs::read(&file).map_err(|e| e.to_string())?;
    let kernel = std::fs::read(bin).map_err(|e| e.to_string())?;
    if image.get(..kernel.len()) != Some(&kernel[..]) {
        return Err("the flash file does not start with the kernel image".into());
    }
    Ok(image)
}

/// Walks the app area of `image` with the kernel's loader under the
/// board's policy and MPU; a line per app, or what is wrong.
fn walk(board: &BoardFile, image: &[u8], name: &str, expected: usize) -> Result<String, String> {
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
            } => Ok(Some((name.to_string(), *flash, *ram))),
            // tockloader fills the gap before an app with padding.
            LoadEvent::Skipped {
                outcome: Outcome::Padding,
                ..
            } => Ok(None),
            other => Err(other.to_string()),
        })
    });
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for event in events {
        match event {
            Ok(None) => {}
            Err(e) => problems.push(format!("refused: {e}")),
            Ok(Some((app, flash, ram))) => {
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
    if loaded != expected {
        problems.push(format!(
            "{loaded} processes loaded from {name}, expected {expected}"
        ));
    }
    if problems.is_empty() {
        Ok(lines.join("\n"))
    } else {
        Err(problems.join("\n"))
    }
}

/// The first app (not padding) of the app area of `image` from
/// `start`: its TBF start, fixed flash and fixed RAM addresses.
fn first_app(image: &[u8], start: u32) -> Result<(u32, Option<u32>, Option<u32>), String> {
    let mut at = start;
    loop {
        let header = TbfHeader::parse(image.get(at as usize..).unwrap_or_default())
            .map_err(|e| format!("no app from {start:#x} (at {at:#x}: {e:?})"))?;
        if !header.is_padding() {
            return Ok((at, header.fixed_flash_address(), header.fixed_ram_address()));
        }
        at += header.total_size();
    }
}

/// Our apps on qemu_ast1030's kernel: `tab` (which holds the DK's TBF
/// too) installed with that board's `--arch`/`--app-address`, the way
/// qemu-runner and the hwci module do it; the TBF tockloader installs
/// must be qemu_ast1030's. With the kernel attributes cut off, tockloader
/// has no RAM address to choose by and takes the lowest flash address:
/// the DK's TBF, which that kernel would refuse.
fn on_qemu_ast1030(tab: &Path, dir: &Path) -> Result<String, String> {
    let ast = Layout::load(&root().join("userland/layout-qemu_ast1030.toml"))
        .map_err(|e| e.to_string())?;
    let name = tab.file_stem().unwrap_or_default().to_string_lossy();
    let slot = ast.app(&name).ok_or(format!("no {name} on qemu_ast1030"))?;
    let built = build_kernel("qemu_ast1030", "run", dir)?;
    let kernel = std::fs::read(&built.bin).map_err(|e| e.to_string())?;
    let install = |image: &[u8], file: &str| -> Result<(u32, Option<u32>, Option<u32>), String> {
        let file = dir.join(file);
        std::fs::write(&file, image).map_err(|e| e.to_string())?;
        run(Command::new("tockloader")
            .args(["install", "--arch", &ast.board.arch])
            .arg("--app-address")
            .arg(format!("{:#x}", ast.board.flash_start))
            .arg("--flash-file")
            .arg(&file)
            .arg(tab))?;
        first_app(
            &std::fs::read(&file).map_err(|e| e.to_string())?,
            ast.board.flash_start,
        )
    };
    let (at, _, ram) = install(&kernel, "ast-flash.bin")?;
    if (at, ram) != (slot.flash, Some(slot.ram)) {
        return Err(format!(
            "qemu_ast1030: tockloader installed {name} at {at:#x} with RAM {ram:#x?}, not its slot {:#x} / {:#x}",
            slot.flash, slot.ram
        ));
    }
    let mut blind = kernel.clone();
    let n = blind.len();
    blind[n - app_layout::board::KERNEL_ATTRIBUTES_LEN as usize..].fill(0xFF);
    let (blind_at, _, blind_ram) = install(&blind, "ast-blind.bin")?;
    if (blind_at, blind_ram) == (at, ram) {
        return Err(format!(
            "qemu_ast1030 without attributes: tockloader still chose {name}'s TBF at {at:#x}: the test no longer shows what the attributes are for"
        ));
    }
    Ok(format!(
        "{name} on qemu_ast1030: {at:#x}, RAM {:#x} (without the kernel attributes tockloader takes the one at {blind_at:#x}, RAM {:#x})",
        ram.unwrap_or(0),
        blind_ram.unwrap_or(0)
    ))
}

/// Our apps: `userland/build.sh` builds the TABs; each app of the DK's
/// slot table is installed alone, then all together. Failures counted.
fn ours(board: &BoardFile, bin: &Path, dir: &Path, tockloader_board: &str) -> (usize, usize) {
    let built = run(Command::new("bash")
        .arg(root().join("userland/build.sh"))
        .env("APP_IMAGE", env!("CARGO_BIN_EXE_app-image")));
    if let Err(e) = built {
        println!(
            "FAIL userland/build.sh\n     {}",
            e.replace('\n', "\n     ")
        );
        return (1, 1);
    }
    let layout = match Layout::load(&root().join("userland/layout-nrf52840dk.toml")) {
        Ok(l) => l,
        Err(e) => {
            println!("FAIL {e}");
            return (1, 1);
        }
    };
    let tabs_dir = root().join("target/userland/tabs");
    let tab = |app: &str| tabs_dir.join(format!("{app}.tab"));
    let mut cases: Vec<(String, Vec<PathBuf>)> = layout
        .apps
        .iter()
        .map(|a| (format!("ours/{}", a.name), vec![tab(&a.name)]))
        .collect();
    cases.push((
        "ours, all together".to_string(),
        layout.apps.iter().map(|a| tab(&a.name)).collect(),
    ));
    let mut failed = 0;
    for (name, tabs) in &cases {
        let result = flash_file(bin, tabs, dir, tockloader_board).and_then(|image| {
            let lines = walk(board, &image, name, tabs.len())?;
            // Each app sits in its slot of the DK's table.
            for slot in layout.apps.iter() {
                if tabs.contains(&tab(&slot.name)) {
                    let header = TbfHeader::parse(&image[slot.flash as usize..]).map_err(|e| {
                        format!("{}: not at its slot {:#x}: {e:?}", slot.name, slot.flash)
                    })?;
                    if header.package_name() != Some(slot.name.as_str())
                        || header.fixed_ram_address() != Some(slot.ram)
                    {
                        return Err(format!(
                            "{}: the TBF at {:#x} is {:?} with RAM {:#x?}",
                            slot.name,
                            slot.flash,
                            header.package_name(),
                            header.fixed_ram_address()
                        ));
                    }
                }
            }
            Ok(lines)
        });
        match result {
            Ok(lines) => println!("ok   {name}\n     {}", lines.replace('\n', "\n     ")),
            Err(e) => {
                failed += 1;
                println!("FAIL {name}\n     {}", e.replace('\n', "\n     "));
            }
        }
    }
    match on_qemu_ast1030(&tab(&layout.apps[0].name), dir) {
        Ok(line) => println!("ok   {line}"),
        Err(e) => {
            failed += 1;
            println!("FAIL {e}");
        }
    }
    (cases.len() + 1, failed)
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
    let (ours_run, ours_failed) = ours(&board, &bin, &dir, &tockloader_board);
    let mut tabs: Vec<PathBuf> = Vec::new();
    match app_layout::fixtures_dir(&root(), "libtock-rs/nrf52840") {
        Ok(fixtures) => {
            tabs = std::fs::read_dir(&fixtures)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            tabs.retain(|p| p.extension().is_some_and(|x| x == "tab"));
            tabs.sort();
        }
        Err(why) => {
            println!("nrf52840dk image: SKIP libtock-rs's apps - not run: {why} (the skipped part did NOT pass)");
        }
    }
    let mut failed = 0;
    for tab in &tabs {
        let name = tab.file_name().unwrap_or_default().to_string_lossy();
        let result = flash_file(&bin, std::slice::from_ref(tab), &dir, &tockloader_board)
            .and_then(|image| walk(&board, &image, &name, 1));
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
        "nrf52840dk image: {} libtock-rs TABs and {ours_run} cases of our own installed with tockloader and checked, {} ok, {} failed",
        tabs.len(),
        tabs.len() + ours_run - failed - ours_failed,
        failed + ours_failed
    );
    if failed + ours_failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
