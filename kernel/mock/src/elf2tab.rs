//! A tiny RV32 ELF written by hand and the real `elf2tab` run on it, so
//! host tests can check TBFs exactly as elf2tab makes them (credentials
//! included) without a cross toolchain. `make setup` installs elf2tab.

use std::path::PathBuf;
use std::process::Command;

/// Where [`tiny_elf`] is linked (the TBF start).
pub const FLASH: u32 = 0x8010_0000;
/// The binary (and entry point) sits after a 0x80-byte protected region,
/// as libtock-rs links apps for QEMU virt.
pub const ENTRY: u32 = FLASH + 0x80;
/// Bytes of code in the tiny app.
pub const CODE_LEN: u32 = 16;

/// A minimal ELF32 little-endian RISC-V executable: one executable PT_LOAD
/// segment holding `.text` at `ENTRY`, and a section string table.
pub fn tiny_elf() -> Vec<u8> {
    tiny_elf_at(FLASH)
}

/// [`tiny_elf`] linked for a TBF at `flash` (binary at `flash + 0x80`).
pub fn tiny_elf_at(flash: u32) -> Vec<u8> {
    let entry = flash + 0x80;
    const EHDR: u32 = 52;
    const PHDR: u32 = 32;
    const TEXT_OFF: u32 = 0x80;
    const SHSTRTAB: &[u8] = b"\0.text\0.shstrtab\0";
    let strtab_off = TEXT_OFF + CODE_LEN;
    let shoff = (strtab_off + SHSTRTAB.len() as u32).next_multiple_of(4);

    let mut e = Vec::new();
    let h16 = |e: &mut Vec<u8>, v: u16| e.extend(v.to_le_bytes());
    let h32 = |e: &mut Vec<u8>, v: u32| e.extend(v.to_le_bytes());
    // ELF header.
    e.extend([0x7F, b'E', b'L', b'F', 1, 1, 1, 0]);
    e.extend([0; 8]);
    h16(&mut e, 2); // ET_EXEC
    h16(&mut e, 243); // EM_RISCV
    h32(&mut e, 1); // EV_CURRENT
    h32(&mut e, entry);
    h32(&mut e, EHDR); // program headers right after
    h32(&mut e, shoff);
    h32(&mut e, 0); // flags
    h16(&mut e, EHDR as u16);
    h16(&mut e, PHDR as u16);
    h16(&mut e, 1);
    h16(&mut e, 40);
    h16(&mut e, 3);
    h16(&mut e, 2); // section name table index
    assert_eq!(e.len() as u32, EHDR);
    // Program header: PT_LOAD, R+X.
    for v in [1, TEXT_OFF, entry, entry, CODE_LEN, CODE_LEN, 5, 4] {
        h32(&mut e, v);
    }
    e.resize(TEXT_OFF as usize, 0);
    // .text: four `j .` instructions.
    for _ in 0..CODE_LEN / 4 {
        h32(&mut e, 0x0000_006F);
    }
    e.extend(SHSTRTAB);
    e.resize(shoff as usize, 0);
    // Section headers: null, .text, .shstrtab.
    for v in [0u32; 10] {
        h32(&mut e, v);
    }
    for v in [1, 1, 6, entry, TEXT_OFF, CODE_LEN, 0, 0, 4, 0] {
        h32(&mut e, v);
    }
    for v in [7, 3, 0, 0, strtab_off, SHSTRTAB.len() as u32, 0, 0, 1, 0] {
        h32(&mut e, v);
    }
    e
}

/// Packs [`tiny_elf`] with elf2tab, package name `name` and the extra
/// arguments `args` (paths in them are used as given), and returns the
/// TBF. An error says what failed (elf2tab missing, or its output).
pub fn pack(name: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    pack_at(name, FLASH, args)
}

/// [`pack`] of [`tiny_elf_at`]`(flash)`.
pub fn pack_at(name: &str, flash: u32, args: &[&str]) -> Result<Vec<u8>, String> {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "kernel-mock-elf2tab-{}-{name}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let elf = dir.join(format!("{name}.elf"));
    std::fs::write(&elf, tiny_elf_at(flash)).map_err(|e| e.to_string())?;
    let run = Command::new("elf2tab")
        .current_dir(&dir)
        .args(["-o", &format!("{name}.tab"), "-n", name])
        .args(args)
        .arg(&elf)
        .output();
    let result = match run {
        Err(e) => Err(format!(
            "elf2tab is not available ({e}): run `make setup` (cargo install elf2tab)"
        )),
        Ok(out) if !out.status.success() => Err(format!(
            "elf2tab failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Ok(_) => std::fs::read(dir.join(format!("{name}.tbf"))).map_err(|e| e.to_string()),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}
