//! Interoperability: parse a TBF produced by the real elf2tab.
//!
//! The test packs a tiny RV32 ELF written by hand (no cross toolchain
//! needed; `kernel_mock::elf2tab`) with `elf2tab` and checks every field
//! our parser reads.
//! `make setup` installs elf2tab; without it this test fails.

use kernel::tbf::{AppWalk, Footer, KernelVersion, Outcome, TbfHeader};
use kernel_mock::elf2tab::{pack, CODE_LEN, ENTRY, FLASH};

#[test]
fn parses_a_tbf_made_by_elf2tab() {
    let tbf = pack(
        "tiny",
        &[
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
        ],
    )
    .unwrap();

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
