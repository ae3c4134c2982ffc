//! The flash image a user writes to the board: the libtock-rs fixtures of
//! the board's platform, each installed with `tockloader install
//! --flash-file` into a file that starts with the kernel, then walked on
//! the host by the kernel's own loader (`Kernel::load_processes`) over
//! the file's app area, with the board's RAM window, identity policies
//! and the RISC-V PMP's placement rules: every app must load, at the
//! flash address it is linked for and with its RAM inside process RAM at
//! the address it is linked for. No QEMU involved, so it holds for a
//! board QEMU cannot run apps from (and for the image
//! `make flash` writes).

use kernel::process::Process;
use kernel::storage_permissions::{TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::{AppMemory, Kernel, LoadEvent, LoadPolicy};

use super::Ctx;
use crate::{app_flash, board, ram_base, tockloader_flash_file};

/// The fixtures installed (one at a time: they are all linked for the
/// area's first slot).
const APPS: [&str; 3] = ["console", "low_level_debug", "kv"];

pub fn flash_image(ctx: &Ctx) -> Result<Vec<String>, String> {
    let dir = ctx.fixtures.clone().ok_or("no fixtures folder")?;
    let b = board();
    let mut problems = Vec::new();
    for app in APPS {
        let tab = dir.join(format!("{app}.tab"));
        let out = ctx.logs.join(format!("flash-image-{app}.bin"));
        tockloader_flash_file(&ctx.kernel, &[tab], &out)?;
        let image = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let start = (app_flash() - ram_base()) as usize;
        let mut area = image.get(start..).unwrap_or_default().to_vec();
        area.resize(b.app_flash.size as usize, 0xFF);
        let flash: &'static [u8] = area.leak();
        let ram: &'static mut [u8] = vec![0u8; b.app_ram.size as usize].leak();
        let processes: &'static [Process] = Box::leak(Box::new([const { Process::new() }; 4]));
        let kernel: &'static Kernel = Box::leak(Box::new(Kernel::new(processes)));
        let memory = AppMemory {
            flash,
            flash_start: b.app_flash.start,
            ram,
            ram_start: b.app_ram.start,
        };
        let policy = LoadPolicy::trusting(&TlvElseCrc, &TlvElseSelfOnlyPolicy);
        let pmp = rv32i::Pmp::new();
        let mut events = Vec::new();
        let loaded = kernel.load_processes(memory, &policy, &rv32i::Rv32i, &pmp, &mut |e| {
            events.push(format!("{e:?}"));
            if let LoadEvent::Loaded {
                name, flash, ram, ..
            } = e
            {
                let ram_end = u64::from(b.app_ram.start) + u64::from(b.app_ram.size);
                if *name != app {
                    problems.push(format!("{app}: loaded as {name:?}"));
                }
                if flash.start != b.app_flash.start {
                    problems.push(format!("{app}: flash at {:#x}", flash.start));
                }
                if ram.start != b.app_ram.start
                    || u64::from(ram.start) + u64::from(ram.len) > ram_end
                {
                    problems.push(format!(
                        "{app}: RAM {:#x}+{:#x} outside process RAM or not at its start",
                        ram.start, ram.len
                    ));
                }
            }
        });
        if loaded != 1 {
            problems.push(format!("{app}: {loaded} processes loaded: {events:?}"));
        }
    }
    Ok(problems)
}
