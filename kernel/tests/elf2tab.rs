//! Interoperability: parse a TBF produced by the real elf2tab.
//!
//! The test writes a tiny RV32 ELF by hand (no cross toolchain needed),
//! packs it with `elf2tab` and checks every field our parser reads.
//! `make setup` installs elf2tab; without it this test fails.

use std::path::PathBuf;
use std::process::Command;

use kernel::tbf::{AppWalk, Footer, KernelVersion, Outcome, TbfHeader};

const FLASH: u32 = 0x8010_0000;
/// The binary (and entry point) sits after a 0x80-byte protected region,
/// as libtock-rs links apps for QEMU virt.
const ENTRY: u32 = FLASH + 0x80;
const CODE_LEN: u32 = 16;

/// A minimal ELF32 little-endian RISC-V executable: one executable PT_LOAD
/// segment holding `.text` at `ENTRY`, and a section string table.
fn tiny_elf() -> Vec<u8> {
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
    h32(&mut e, ENTRY);
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
    for v in [1, TEXT_OFF, ENTRY, ENTRY, CODE_LEN, CODE_LEN, 5, 4] {
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
    for v in [1, 1, 6, ENTRY, TEXT_OFF, CODE_LEN, 0, 0, 4, 0] {
        h32(&mut e, v);
    }
    for v in [7, 3, 0, 0, strtab_off, SHSTRTAB.len() as u32, 0, 0, 1, 0] {
        h32(&mut e, v);
    }
    e
}

#[test]
fn parses_a_tbf_made_by_elf2tab() {
    let dir: PathBuf = std::env::temp_dir().join(format!("kernel-elf2tab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let elf = dir.join("tiny.elf");
    std::fs::write(&elf, tiny_elf()).unwrap();
    let run = Command::new("elf2tab")
        .current_dir(&dir)
        .args([
            "-o",
            "tiny.tab",
            "-n",
            "tiny",
            "--stack",
            "1024",
            "--app-heap",
            "512",
            "--kernel-heap",
            "256",
            "--kernel-major",
            "2",
            "--kernel-minor",
            "0",
            "--short-id",
            "77",
            "--write_id",
            "7",
            "--read_ids",
            "7",
            "8",
            "--access_ids",
            "7",
            "--sha256",
            "--app-version",
            "3",
        ])
        .arg(&elf)
        .output();
    let output = match run {
        Ok(output) => output,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("elf2tab is not available ({e}): run `make setup` (cargo install elf2tab)");
        }
    };
    assert!(
        output.status.success(),
        "elf2tab failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tbf = std::fs::read(dir.join("tiny.tbf")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let h = TbfHeader::parse(&tbf).unwrap();
    assert_eq!(h.total_size() as usize, tbf.len());
    assert!(h.enabled());
    assert!(!h.sticky());
    assert_eq!(h.package_name(), Some("tiny"));
    assert_eq!(h.kernel_version(), Some(KernelVersion::new(2, 0)));
    assert_eq!(h.short_id().map(|i| i.get()), Some(77));
    let s = h.storage_permissions().unwrap();
    assert_eq!(s.write_id().map(|i| i.get()), Some(7));
    assert_eq!(s.read_ids().collect::<Vec<_>>(), [7, 8]);
    assert_eq!(s.modify_ids().collect::<Vec<_>>(), [7]);
    assert_eq!(h.app_version(), 3);
    assert_eq!(h.protected_size(), 0x80);
    // elf2tab appends a u32 relocation-data length (0 here) to the binary.
    assert_eq!(h.binary_end_offset(), 0x80 + CODE_LEN + 4);
    assert_eq!(h.minimum_ram_size(), 1024 + 512 + 256);
    assert_eq!(h.fixed_flash_address(), Some(ENTRY));
    assert_eq!(h.fixed_ram_address(), None);
    assert_eq!(h.writeable_region_count(), 0);
    assert_eq!(h.entry_point(FLASH), ENTRY);
    assert_eq!(h.app_binary_start(FLASH), ENTRY);
    assert_eq!(&tbf[0x80..0x84], &[0x6F, 0, 0, 0]);
    let footers: Vec<_> = h.footers().collect::<Result<_, _>>().unwrap();
    assert!(
        footers
            .iter()
            .any(|f| matches!(f, Footer::Credentials { format: 3, data } if data.len() == 32)),
        "{footers:?}"
    );

    // In an app flash area at its linked address, the walk loads it.
    let mut area = tbf.clone();
    area.resize(tbf.len() + 256, 0xFF);
    let mut walk = AppWalk::new(&area, FLASH, KernelVersion::new(2, 0));
    let item = walk.next().unwrap();
    assert!(matches!(item.outcome, Outcome::Load(_)), "{item:?}");
    assert!(walk.next().is_none());
    // One page further, its fixed flash address no longer matches.
    let mut walk = AppWalk::new(&area, FLASH + 0x100, KernelVersion::new(2, 0));
    assert!(matches!(
        walk.next().unwrap().outcome,
        Outcome::Refused(_, kernel::tbf::Refusal::WrongFlashAddress { .. })
    ));
}
