//! ROM and static RAM on Cortex-M4F: builds the size-probe programs in
//! `tools/kv-bench/rom/` for thumbv7em-none-eabihf (opt-level "s", LTO) and
//! reads their section sizes from the ELF files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target the probes are built for.
pub const TARGET: &str = "thumbv7em-none-eabihf";
/// Probe programs: the baseline first, then one per store.
pub const PROGRAMS: [&str; 5] = ["baseline", "ours", "upstream", "seqstore", "ekv"];
/// The name under which the `ours` probe built with the engine's `filter`
/// feature is reported.
pub const OURS_FILTER: &str = "ours+filter";

/// Section sizes of one program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// `.text*` plus `.rodata*`.
    pub rom: u64,
    /// `.data*` plus `.bss*`.
    pub ram: u64,
}

/// Sums the sizes of an ELF32 little-endian file's sections by name.
pub fn elf_sizes(elf: &[u8]) -> Result<Sizes, String> {
    let u16_at = |o: usize| -> Result<u64, String> {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64)
            .ok_or_else(|| "truncated ELF".to_string())
    };
    let u32_at = |o: usize| -> Result<u64, String> {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
            .ok_or_else(|| "truncated ELF".to_string())
    };
    if elf.get(..6) != Some(&[0x7F, b'E', b'L', b'F', 1, 1][..]) {
        return Err("not a 32-bit little-endian ELF file".into());
    }
    let shoff = u32_at(0x20)? as usize;
    let shentsize = u16_at(0x2E)? as usize;
    let shnum = u16_at(0x30)? as usize;
    let shstrndx = u16_at(0x32)? as usize;
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(header(shstrndx) + 16)? as usize;
    let mut sizes = Sizes::default();
    for i in 0..shnum {
        let h = header(i);
        let name_at = strtab + u32_at(h)? as usize;
        let name_end = elf
            .get(name_at..)
            .and_then(|rest| rest.iter().position(|&b| b == 0))
            .ok_or("bad section name")?;
        let name = std::str::from_utf8(&elf[name_at..name_at + name_end]).unwrap_or("");
        let size = u32_at(h + 20)?;
        if name.starts_with(".text") || name.starts_with(".rodata") {
            sizes.rom += size;
        } else if name.starts_with(".data") || name.starts_with(".bss") {
            sizes.ram += size;
        }
    }
    Ok(sizes)
}

/// The probes' sizes, in `PROGRAMS` order.
pub struct Report {
    /// One entry per program.
    pub sizes: Vec<(&'static str, Sizes)>,
}

impl Report {
    /// A program's sizes.
    pub fn get(&self, program: &str) -> Sizes {
        self.sizes
            .iter()
            .find(|(p, _)| *p == program)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    /// A program's sizes over the baseline.
    pub fn over_baseline(&self, program: &str) -> Sizes {
        let b = self.get("baseline");
        let s = self.get(program);
        Sizes {
            rom: s.rom.saturating_sub(b.rom),
            ram: s.ram.saturating_sub(b.ram),
        }
    }
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the probes (in `target_dir`, with the probe crate's `features`,
/// only `bins` if not empty) and returns the path of their release folder.
fn build(target_dir: &Path, features: &str, bins: &[&str]) -> Result<PathBuf, String> {
    let dir = repo_root().join("tools/kv-bench/rom");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir)
        .args(["build", "--release", "--quiet", "--target", TARGET])
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if !features.is_empty() {
        cmd.args(["--features", features]);
    }
    for b in bins {
        cmd.args(["--bin", b]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.contains("target may not be installed")
            || err.contains("can't find crate for `core`")
        {
            format!(" (run `rustup target add {TARGET}`)")
        } else {
            String::new()
        };
        return Err(format!(
            "building the probes failed{hint}: {}",
            err.lines().take(6).collect::<Vec<_>>().join(" / ")
        ));
    }
    Ok(target_dir.join(TARGET).join("release"))
}

fn sizes_of(dir: &Path, program: &str) -> Result<Sizes, String> {
    let path = dir.join(program);
    let elf = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    elf_sizes(&elf).map_err(|e| format!("{program}: {e}"))
}

/// Builds the probes and measures them: every program, then the `ours`
/// probe again with the key filters (reported as [`OURS_FILTER`]; the
/// baseline of that build is the same program as the first).
pub fn measure() -> Result<Report, String> {
    let target = repo_root().join("target");
    let dir = build(&target.join("kv-bench-rom"), "", &[])?;
    let mut sizes = Vec::new();
    for p in PROGRAMS {
        sizes.push((p, sizes_of(&dir, p)?));
    }
    let dir = build(&target.join("kv-bench-rom-filter"), "filter", &["ours"])?;
    sizes.push((OURS_FILTER, sizes_of(&dir, "ours")?));
    Ok(Report { sizes })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF32 with sections "", .text (100), .rodata.x (20),
    /// .bss (300), .comment (7) and .shstrtab.
    fn tiny_elf() -> Vec<u8> {
        let names = b"\0.text\0.rodata.x\0.bss\0.comment\0.shstrtab\0";
        let name_off = [0u32, 1, 7, 17, 22, 31];
        let sizes = [0u32, 100, 20, 300, 7, names.len() as u32];
        let mut elf = vec![0u8; 52];
        elf[..6].copy_from_slice(&[0x7F, b'E', b'L', b'F', 1, 1]);
        let strtab_off = elf.len() as u32;
        elf.extend_from_slice(names);
        let shoff = elf.len() as u32;
        elf[0x20..0x24].copy_from_slice(&shoff.to_le_bytes());
        elf[0x2E..0x30].copy_from_slice(&40u16.to_le_bytes());
        elf[0x30..0x32].copy_from_slice(&6u16.to_le_bytes());
        elf[0x32..0x34].copy_from_slice(&5u16.to_le_bytes());
        for i in 0..6 {
            let mut h = [0u8; 40];
            h[..4].copy_from_slice(&name_off[i].to_le_bytes());
            let off = if i == 5 { strtab_off } else { 0 };
            h[16..20].copy_from_slice(&off.to_le_bytes());
            h[20..24].copy_from_slice(&sizes[i].to_le_bytes());
            elf.extend_from_slice(&h);
        }
        elf
    }

    #[test]
    fn sums_sections_by_name() {
        assert_eq!(elf_sizes(&tiny_elf()), Ok(Sizes { rom: 120, ram: 300 }));
    }

    #[test]
    fn rejects_other_files() {
        assert!(elf_sizes(b"not an elf").is_err());
        assert!(elf_sizes(&tiny_elf()[..60]).is_err());
    }

    #[test]
    fn subtracts_the_baseline() {
        let r = Report {
            sizes: vec![
                ("baseline", Sizes { rom: 1000, ram: 8 }),
                (
                    "ours",
                    Sizes {
                        rom: 5000,
                        ram: 508,
                    },
                ),
            ],
        };
        assert_eq!(
            r.over_baseline("ours"),
            Sizes {
                rom: 4000,
                ram: 500
            }
        );
    }
}
