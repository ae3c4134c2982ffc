//! TBF header parsing: every field, every TLV, every error.

mod common;

use common::{fix_checksum, storage_tlv, u32s, TbfBuilder};
use kernel::tbf::{
    tlv, Footer, KernelVersion, TbfError, TbfHeader, WriteableRegion, BASE_HEADER_SIZE,
};

fn parse(bytes: &[u8]) -> Result<TbfHeader<'_>, TbfError> {
    TbfHeader::parse(bytes)
}

#[test]
fn minimal_app_fields_and_entry_facts() {
    let tbf = TbfBuilder::app("hello").build();
    let h = parse(&tbf).unwrap();
    // 16 base + Program (4 + 20) + name (4 + 5 -> 8) + kernel version (4 + 4).
    assert_eq!(h.header_size(), 16 + 24 + 12 + 8);
    assert_eq!(h.total_size() as usize, tbf.len());
    assert_eq!(h.total_size(), h.header_size() + 0x80);
    assert!(h.enabled());
    assert!(!h.sticky());
    assert!(!h.is_padding());
    assert!(h.has_program());
    assert_eq!(h.init_fn_offset(), 0x10);
    assert_eq!(h.protected_trailer_size(), 0x20);
    assert_eq!(h.protected_size(), h.header_size() + 0x20);
    assert_eq!(h.minimum_ram_size(), 4096);
    assert_eq!(h.binary_end_offset(), h.total_size());
    assert_eq!(h.app_version(), 7);
    assert_eq!(h.package_name(), Some("hello"));
    assert_eq!(h.kernel_version(), Some(KernelVersion::new(2, 0)));
    assert_eq!(h.fixed_ram_address(), None);
    assert_eq!(h.fixed_flash_address(), None);
    assert_eq!(h.writeable_regions().count(), 0);
    assert_eq!(h.command_permitted(1, 1), None);
    assert_eq!(h.storage_permissions(), None);
    assert_eq!(h.short_id(), None);
    assert_eq!(h.footers().count(), 0);

    // Spec §5 entry facts.
    let start = 0x8010_0000;
    assert_eq!(h.entry_point(start), start + h.header_size() + 0x10);
    assert_eq!(h.app_binary_start(start), start + h.header_size() + 0x20);
}

#[test]
fn flags() {
    for (flags, enabled, sticky) in [
        (0, false, false),
        (1, true, false),
        (2, false, true),
        (3, true, true),
    ] {
        let tbf = TbfBuilder::app("f").flags(flags | 0xF0).build();
        let h = parse(&tbf).unwrap();
        assert_eq!(h.flags(), flags | 0xF0);
        assert_eq!((h.enabled(), h.sticky()), (enabled, sticky));
    }
}

#[test]
fn padding_object() {
    let tbf = TbfBuilder::padding(64).build();
    assert_eq!(tbf.len(), 64);
    let h = parse(&tbf).unwrap();
    assert!(h.is_padding());
    assert_eq!(h.header_size() as usize, BASE_HEADER_SIZE);
    assert_eq!(h.total_size(), 64);
    assert!(!h.has_program());
    // Defaults without a program.
    assert_eq!(h.init_fn_offset(), 0);
    assert_eq!(h.protected_trailer_size(), 0);
    assert_eq!(h.minimum_ram_size(), 0);
    assert_eq!(h.binary_end_offset(), 64);
    assert_eq!(h.app_version(), 0);
}

#[test]
fn header_only_slice_parses() {
    let tbf = TbfBuilder::app("x").credentials(0, &[0; 8]).build();
    let header_size = parse(&tbf).unwrap().header_size() as usize;
    let h = parse(&tbf[..header_size]).unwrap();
    assert_eq!(h.total_size() as usize, tbf.len());
    // The footers are not in the bytes given.
    assert_eq!(h.footers().count(), 0);
    // Extra bytes beyond total_size are not kept.
    let mut longer = tbf.clone();
    longer.extend([0xAA; 32]);
    let h = parse(&longer).unwrap();
    assert_eq!(h.footers().collect::<Vec<_>>().len(), 1);
}

#[test]
fn checksum_is_xor_of_words_except_the_checksum() {
    let tbf = TbfBuilder::app("sum").build();
    let header_size = usize::from(u16::from_le_bytes([tbf[2], tbf[3]]));
    let mut expected = 0u32;
    for (i, w) in tbf[..header_size].chunks(4).enumerate() {
        if i != 3 {
            expected ^= u32::from_le_bytes(w.try_into().unwrap());
        }
    }
    assert_eq!(
        u32::from_le_bytes(tbf[12..16].try_into().unwrap()),
        expected
    );

    let bad = TbfBuilder::app("sum").corrupt_checksum().build();
    assert_eq!(
        parse(&bad),
        Err(TbfError::ChecksumMismatch {
            stored: expected ^ 0x0100_0000,
            computed: expected
        })
    );
    // A flipped bit anywhere in the header (outside the checksum) is caught;
    // binary bytes are not covered.
    for i in (0..header_size).filter(|i| !(12..16).contains(i)) {
        let mut m = tbf.clone();
        m[i] ^= 0x10;
        assert!(parse(&m).is_err(), "flip at {i}");
    }
    let mut m = tbf.clone();
    m[header_size] ^= 0xFF;
    assert!(parse(&m).is_ok());
}

#[test]
fn base_header_errors() {
    assert_eq!(
        parse(&[]),
        Err(TbfError::TooShort {
            needed: 16,
            available: 0
        })
    );
    let tbf = TbfBuilder::app("e").build();
    assert_eq!(
        parse(&tbf[..15]),
        Err(TbfError::TooShort {
            needed: 16,
            available: 15
        })
    );
    assert_eq!(
        parse(&tbf[..20]),
        Err(TbfError::TooShort {
            needed: 56,
            available: 20
        })
    );
    assert_eq!(
        parse(&TbfBuilder::app("e").version(1).build()),
        Err(TbfError::UnsupportedVersion(1))
    );
    assert_eq!(
        parse(&[0xFF; 64]),
        Err(TbfError::UnsupportedVersion(0xFFFF))
    );
    for size in [0u16, 4, 12, 15, 17, 18, 62] {
        assert_eq!(
            parse(&TbfBuilder::app("e").header_size(size).build()),
            Err(TbfError::BadHeaderSize(size)),
            "header size {size}"
        );
    }
    assert_eq!(
        parse(&TbfBuilder::app("e").total_size(55).build()),
        Err(TbfError::BadTotalSize(55))
    );
    // total_size equal to header_size is fine (a header-only app).
    assert!(parse(&TbfBuilder::new().kernel_version(2, 0).build()).is_ok());
}

#[test]
fn tlv_overruns() {
    // A TLV whose data runs past header_size.
    let mut tbf = TbfBuilder::new().tlv(77, &[1, 2, 3, 4]).binary(16).build();
    tbf[18..20].copy_from_slice(&8u16.to_le_bytes());
    fix_checksum(&mut tbf);
    assert_eq!(parse(&tbf), Err(TbfError::TlvOverrun { offset: 16 }));

    // header_size cuts a TLV header in half is impossible (multiple of 4),
    // but a header_size that ends right after a TLV header with a non-zero
    // length is an overrun at that TLV.
    let mut tbf = TbfBuilder::new()
        .kernel_version(2, 0)
        .tlv(77, &[])
        .binary(16)
        .build();
    tbf[26..28].copy_from_slice(&1u16.to_le_bytes());
    fix_checksum(&mut tbf);
    assert_eq!(parse(&tbf), Err(TbfError::TlvOverrun { offset: 24 }));
}

#[test]
fn unknown_tlvs_are_ignored() {
    let tbf = TbfBuilder::app("u")
        .tlv(4, &[9; 5])
        .tlv(0, &[])
        .tlv(0xBEEF, &[1; 13])
        .tlv(11, &[0; 3])
        .build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.package_name(), Some("u"));
    assert!(h.has_program());
}

#[test]
fn main_tlv_alone() {
    let tbf = TbfBuilder::new()
        .main(0x40, 0x30, 2048)
        .kernel_version(2, 0)
        .binary(0x100)
        .build();
    let h = parse(&tbf).unwrap();
    assert!(h.has_program());
    assert_eq!(h.init_fn_offset(), 0x40);
    assert_eq!(h.protected_trailer_size(), 0x30);
    assert_eq!(h.minimum_ram_size(), 2048);
    assert_eq!(h.binary_end_offset(), h.total_size());
    assert_eq!(h.app_version(), 0);
}

#[test]
fn program_takes_precedence_over_main_in_either_order() {
    let after = TbfBuilder::new()
        .main(0x40, 0x30, 2048)
        .program(0x10, 0x20, 4096, 3)
        .binary(0x100)
        .credentials(0, &[0; 4])
        .build();
    let before = TbfBuilder::new()
        .program(0x10, 0x20, 4096, 3)
        .main(0x40, 0x30, 2048)
        .binary(0x100)
        .credentials(0, &[0; 4])
        .build();
    for tbf in [after, before] {
        let h = parse(&tbf).unwrap();
        assert_eq!(h.init_fn_offset(), 0x10);
        assert_eq!(h.protected_trailer_size(), 0x20);
        assert_eq!(h.minimum_ram_size(), 4096);
        assert_eq!(h.app_version(), 3);
        assert_eq!(h.binary_end_offset(), h.header_size() + 0x100);
        assert!(h.binary_end_offset() < h.total_size());
    }
}

#[test]
fn main_and_program_errors() {
    // Wrong lengths.
    for len in [0usize, 8, 11, 13, 16] {
        let tbf = TbfBuilder::new()
            .tlv(tlv::MAIN, &vec![0; len])
            .binary(64)
            .build();
        assert_eq!(
            parse(&tbf),
            Err(TbfError::MalformedTlv(1)),
            "main len {len}"
        );
    }
    for len in [0usize, 12, 16, 19, 24] {
        let tbf = TbfBuilder::new()
            .tlv(tlv::PROGRAM, &vec![0; len])
            .binary(64)
            .build();
        assert_eq!(
            parse(&tbf),
            Err(TbfError::MalformedTlv(9)),
            "program len {len}"
        );
    }
    // Main: protected region or entry point past the TBF.
    let bad_main = [(0x100, 0, 0), (0, 0x100, 0), (0x41, 0, 0), (0, 0x41, 0)];
    for (init, trailer, ram) in bad_main {
        // header 16 + 16 = 32, binary 0x40 -> total 0x60: 0x20 + 0x40 = total.
        let tbf = TbfBuilder::new()
            .main(init, trailer, ram)
            .binary(0x40)
            .build();
        let expect = if init >= 0x40 || trailer > 0x40 {
            Err(TbfError::MalformedTlv(1))
        } else {
            Ok(())
        };
        assert_eq!(parse(&tbf).map(|_| ()), expect, "{init} {trailer}");
    }
    // Boundaries that are still fine: protected region = whole binary,
    // entry at the last byte.
    let ok = TbfBuilder::new().main(0x3F, 0x40, 0).binary(0x40).build();
    assert!(parse(&ok).is_ok());
    // Program: binary end past total_size, or before the protected region,
    // or the entry not before the binary end.
    let base = || TbfBuilder::new().program(0, 0x10, 0, 0).binary(0x40);
    let total = base().build().len() as u32;
    let header = total - 0x40;
    for (end, ok) in [
        (total, true),
        (total + 1, false),
        (header + 0x10, true),
        (header + 0x0F, false),
        (u32::MAX, false),
    ] {
        let tbf = base().binary_end(end).build();
        let got = parse(&tbf).map(|h| h.binary_end_offset());
        if ok {
            assert_eq!(got, Ok(end));
        } else {
            assert_eq!(got, Err(TbfError::MalformedTlv(9)), "end {end}");
        }
    }
    let tbf = TbfBuilder::new()
        .program(0x40, 0, 0, 0)
        .binary(0x40)
        .build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(9)));
    let tbf = TbfBuilder::new()
        .program(u32::MAX, u32::MAX, 0, 0)
        .binary(0x40)
        .build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(9)));
}

#[test]
fn package_name() {
    let tbf = TbfBuilder::app("kv_unit_tests").build();
    assert_eq!(parse(&tbf).unwrap().package_name(), Some("kv_unit_tests"));
    let tbf = TbfBuilder::app("").build();
    assert_eq!(parse(&tbf).unwrap().package_name(), Some(""));
    let tbf = TbfBuilder::app("näme").build();
    assert_eq!(parse(&tbf).unwrap().package_name(), Some("näme"));
    let tbf = TbfBuilder::new()
        .tlv(tlv::PACKAGE_NAME, &[b'a', 0xFF, b'b'])
        .build();
    assert_eq!(parse(&tbf), Err(TbfError::InvalidPackageName));
    // Last name wins.
    let tbf = TbfBuilder::app("first").name("second").build();
    assert_eq!(parse(&tbf).unwrap().package_name(), Some("second"));
}

#[test]
fn fixed_addresses() {
    let tbf = TbfBuilder::app("f").fixed(0x8030_0000, 0x8010_0080).build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.fixed_ram_address(), Some(0x8030_0000));
    assert_eq!(h.fixed_flash_address(), Some(0x8010_0080));
    let tbf = TbfBuilder::app("f").fixed(0xFFFF_FFFF, 0xFFFF_FFFF).build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.fixed_ram_address(), None);
    assert_eq!(h.fixed_flash_address(), None);
    let tbf = TbfBuilder::app("f").fixed(0x2001_0000, 0xFFFF_FFFF).build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.fixed_ram_address(), Some(0x2001_0000));
    assert_eq!(h.fixed_flash_address(), None);
    for len in [0usize, 4, 7, 9, 12] {
        let tbf = TbfBuilder::app("f")
            .tlv(tlv::FIXED_ADDRESSES, &vec![0; len])
            .build();
        assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(5)), "len {len}");
    }
}

#[test]
fn writeable_regions_from_several_tlvs() {
    let tbf = TbfBuilder::app("w")
        .regions(&[(0x80, 0x10), (0x90, 0x20)])
        .short_id(5)
        .regions(&[])
        .regions(&[(0xB0, 0)])
        .pad_to(0x200)
        .build();
    let h = parse(&tbf).unwrap();
    let regions: Vec<WriteableRegion> = h.writeable_regions().collect();
    assert_eq!(
        regions,
        vec![
            WriteableRegion {
                offset: 0x80,
                size: 0x10
            },
            WriteableRegion {
                offset: 0x90,
                size: 0x20
            },
            WriteableRegion {
                offset: 0xB0,
                size: 0
            },
        ]
    );
    assert_eq!(h.writeable_region_count(), 3);

    for len in [4usize, 7, 9, 12] {
        let tbf = TbfBuilder::app("w")
            .tlv(tlv::WRITEABLE_FLASH_REGIONS, &vec![0; len])
            .build();
        assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(2)), "len {len}");
    }
    // A region must lie inside the TBF.
    let tbf = TbfBuilder::app("w")
        .regions(&[(0, 0x200)])
        .pad_to(0x200)
        .build();
    assert!(parse(&tbf).is_ok());
    let tbf = TbfBuilder::app("w")
        .regions(&[(0, 0x201)])
        .pad_to(0x200)
        .build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(2)));
    let tbf = TbfBuilder::app("w")
        .regions(&[(u32::MAX, u32::MAX)])
        .build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(2)));
}

#[test]
fn command_permissions() {
    let tbf = TbfBuilder::app("p")
        .permissions(&[
            (1, 0, 0b0110),         // console: commands 1 and 2
            (0x50003, 0, u64::MAX), // KV: 0..=63
            (0x50003, 2, 1 << 5),   // KV: 133
            (8, 1, 1 << 63),        // low-level debug: 127
        ])
        .build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.command_permitted(1, 0), Some(false));
    assert_eq!(h.command_permitted(1, 1), Some(true));
    assert_eq!(h.command_permitted(1, 2), Some(true));
    assert_eq!(h.command_permitted(1, 3), Some(false));
    assert_eq!(h.command_permitted(1, 65), Some(false));
    for c in 0..64 {
        assert_eq!(h.command_permitted(0x50003, c), Some(true));
    }
    assert_eq!(h.command_permitted(0x50003, 64), Some(false));
    assert_eq!(h.command_permitted(0x50003, 133), Some(true));
    assert_eq!(h.command_permitted(0x50003, 134), Some(false));
    assert_eq!(h.command_permitted(8, 127), Some(true));
    assert_eq!(h.command_permitted(8, 63), Some(false));
    // A driver with no record is denied once the TLV exists.
    assert_eq!(h.command_permitted(0, 1), Some(false));
    assert_eq!(h.command_permitted(2, u32::MAX), Some(false));

    // An empty permissions TLV denies everything.
    let tbf = TbfBuilder::app("p").permissions(&[]).build();
    assert_eq!(parse(&tbf).unwrap().command_permitted(1, 1), Some(false));

    // Length must match the count exactly.
    let mut data = 2u16.to_le_bytes().to_vec();
    data.extend([0; 16]);
    let tbf = TbfBuilder::app("p").tlv(tlv::PERMISSIONS, &data).build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(6)));
    data.extend([0; 17]);
    let tbf = TbfBuilder::app("p").tlv(tlv::PERMISSIONS, &data).build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(6)));
    for short in [&[][..], &[0][..]] {
        let tbf = TbfBuilder::app("p").tlv(tlv::PERMISSIONS, short).build();
        assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(6)));
    }
}

#[test]
fn storage_permissions() {
    // One read id makes everything after it unaligned.
    let tbf = TbfBuilder::app("s").storage(0x1234, &[7], &[8, 9]).build();
    let h = parse(&tbf).unwrap();
    let s = h.storage_permissions().unwrap();
    assert_eq!(s.write_id().map(|id| id.get()), Some(0x1234));
    assert_eq!(s.read_ids().collect::<Vec<_>>(), vec![7]);
    assert_eq!(s.modify_ids().collect::<Vec<_>>(), vec![8, 9]);
    assert_eq!(s.read_ids().len(), 1);
    assert!(s.modify_ids().contains(9));
    assert!(!s.modify_ids().contains(7));
    assert!(!s.read_ids().is_empty());

    let tbf = TbfBuilder::app("s").storage(0, &[], &[]).build();
    let s = parse(&tbf).unwrap().storage_permissions().unwrap();
    assert_eq!(s.write_id(), None);
    assert!(s.read_ids().is_empty());
    assert_eq!(s.modify_ids().count(), 0);

    let many: Vec<u32> = (1..=20).collect();
    let tbf = TbfBuilder::app("s").storage(3, &many, &many[..3]).build();
    let s = parse(&tbf).unwrap().storage_permissions().unwrap();
    assert_eq!(s.read_ids().collect::<Vec<_>>(), many);
    assert_eq!(s.modify_ids().collect::<Vec<_>>(), vec![1, 2, 3]);

    // Length checks: every truncation and any extra byte is malformed.
    let good = storage_tlv(1, &[2, 3], &[4]);
    for len in 0..good.len() {
        let tbf = TbfBuilder::app("s")
            .tlv(tlv::STORAGE_PERMISSIONS, &good[..len])
            .build();
        assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(7)), "len {len}");
    }
    let mut long = good.clone();
    long.push(0);
    let tbf = TbfBuilder::app("s")
        .tlv(tlv::STORAGE_PERMISSIONS, &long)
        .build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(7)));
    // Counts that claim more than there is.
    let mut lying = good.clone();
    lying[4] = 200;
    let tbf = TbfBuilder::app("s")
        .tlv(tlv::STORAGE_PERMISSIONS, &lying)
        .build();
    assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(7)));
}

#[test]
fn kernel_version_tlv() {
    let tbf = TbfBuilder::app("k").kernel_version(3, 9).build();
    // Last one wins.
    assert_eq!(
        parse(&tbf).unwrap().kernel_version(),
        Some(KernelVersion { major: 3, minor: 9 })
    );
    for len in [0usize, 2, 3, 5, 8] {
        let tbf = TbfBuilder::app("k")
            .tlv(tlv::KERNEL_VERSION, &vec![0; len])
            .build();
        assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(8)), "len {len}");
    }
    let app = KernelVersion::new(2, 1);
    assert!(app.is_compatible_with(KernelVersion::new(2, 1)));
    assert!(app.is_compatible_with(KernelVersion::new(2, 5)));
    assert!(!app.is_compatible_with(KernelVersion::new(2, 0)));
    assert!(!app.is_compatible_with(KernelVersion::new(3, 1)));
    assert!(!app.is_compatible_with(KernelVersion::new(1, 9)));
}

#[test]
fn short_id_tlv() {
    let tbf = TbfBuilder::app("i").short_id(0xDEAD_BEEF).build();
    assert_eq!(
        parse(&tbf).unwrap().short_id().map(|i| i.get()),
        Some(0xDEAD_BEEF)
    );
    let tbf = TbfBuilder::app("i").short_id(0).build();
    assert_eq!(parse(&tbf).unwrap().short_id(), None);
    for len in [0usize, 3, 5, 8] {
        let tbf = TbfBuilder::app("i")
            .tlv(tlv::SHORT_ID, &vec![0; len])
            .build();
        assert_eq!(parse(&tbf), Err(TbfError::MalformedTlv(10)), "len {len}");
    }
}

#[test]
fn footers() {
    let tbf = TbfBuilder::app("c")
        .credentials(3, &[1, 2, 3, 4, 5]) // 9 bytes of data: unaligned
        .footer(200, &[9, 9])
        .credentials(0, &[])
        .build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.binary_end_offset(), h.header_size() + 0x80);
    let footers: Vec<_> = h.footers().collect();
    assert_eq!(
        footers,
        vec![
            Ok(Footer::Credentials {
                format: 3,
                data: &[1, 2, 3, 4, 5]
            }),
            Ok(Footer::Other {
                kind: 200,
                data: &[9, 9]
            }),
            Ok(Footer::Credentials {
                format: 0,
                data: &[]
            }),
        ]
    );

    // A footer running past total_size.
    let tbf = TbfBuilder::app("c")
        .credentials(1, &[0; 4])
        .raw_footer_bytes(&[128, 0, 50, 0, 0, 0])
        .build();
    let h = parse(&tbf).unwrap();
    let end = h.binary_end_offset() as usize;
    let footers: Vec<_> = h.footers().collect();
    assert_eq!(footers.len(), 2);
    assert!(footers[0].is_ok());
    assert_eq!(
        footers[1],
        Err(TbfError::MalformedFooter { offset: end + 12 })
    );

    // Fewer than 4 bytes left after the last footer.
    let tbf = TbfBuilder::app("c").raw_footer_bytes(&[1, 2, 3]).build();
    let h = parse(&tbf).unwrap();
    let end = h.binary_end_offset() as usize;
    assert_eq!(
        h.footers().collect::<Vec<_>>(),
        vec![Err(TbfError::MalformedFooter { offset: end })]
    );

    // A credentials footer too short for its format word.
    let tbf = TbfBuilder::app("c").footer(128, &[1, 2]).build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.footers().count(), 1);
    assert!(h.footers().next().unwrap().is_err());

    // A footer that fits total_size but was not part of the bytes given.
    let tbf = TbfBuilder::app("c").credentials(1, &[0; 16]).build();
    let h = parse(&tbf[..tbf.len() - 3]).unwrap();
    assert!(h.footers().next().unwrap().is_err());
}

#[test]
fn elf2tab_like_header_layout() {
    // Main and Program both present with identical values, as elf2tab
    // writes them, plus every other TLV and a reserved credentials footer
    // filling the rest of a power-of-two total size.
    let tbf = TbfBuilder::new()
        .main(0x60, 0x40, 8192)
        .program(0x60, 0x40, 8192, 1)
        .name("kv")
        .regions(&[(0x400, 0x100)])
        .fixed(0x8030_0000, 0x8010_0080)
        .permissions(&[(1, 0, 0xFF)])
        .storage(0x1234, &[0x1234, 0x5678], &[0x1234])
        .kernel_version(2, 0)
        .short_id(42)
        .binary(0x600)
        .credentials(0, &[0; 100])
        .pad_to(0x800)
        .build();
    let h = parse(&tbf).unwrap();
    assert_eq!(h.total_size(), 0x800);
    assert_eq!(h.package_name(), Some("kv"));
    assert_eq!(h.writeable_region_count(), 1);
    assert_eq!(h.fixed_flash_address(), Some(0x8010_0080));
    assert_eq!(h.command_permitted(1, 7), Some(true));
    assert_eq!(h.storage_permissions().unwrap().read_ids().len(), 2);
    assert_eq!(h.short_id().unwrap().get(), 42);
    let mut footers = h.footers();
    assert!(matches!(
        footers.next(),
        Some(Ok(Footer::Credentials { format: 0, .. }))
    ));
    // The zero padding after it reads as footers of type 0, length 0.
    assert!(footers.all(|f| f == Ok(Footer::Other { kind: 0, data: &[] })));
}

#[test]
fn error_messages_are_clear() {
    let cases = [
        (TbfError::UnsupportedVersion(3), "version 3"),
        (
            TbfError::TooShort {
                needed: 16,
                available: 2,
            },
            "too short",
        ),
        (TbfError::BadHeaderSize(5), "header size 5"),
        (TbfError::BadTotalSize(7), "total size 7"),
        (
            TbfError::ChecksumMismatch {
                stored: 1,
                computed: 2,
            },
            "checksum",
        ),
        (TbfError::TlvOverrun { offset: 20 }, "offset 20"),
        (TbfError::MalformedTlv(7), "type 7"),
        (TbfError::InvalidPackageName, "UTF-8"),
        (TbfError::MalformedFooter { offset: 9 }, "footer"),
    ];
    for (e, needle) in cases {
        let text = e.to_string();
        assert!(text.contains(needle), "{text}");
    }
    assert_eq!(KernelVersion::new(2, 1).to_string(), "2.1");
}

#[test]
fn tlv_numbers_match_the_spec() {
    assert_eq!(
        [
            tlv::MAIN,
            tlv::WRITEABLE_FLASH_REGIONS,
            tlv::PACKAGE_NAME,
            tlv::FIXED_ADDRESSES,
            tlv::PERMISSIONS,
            tlv::STORAGE_PERMISSIONS,
            tlv::KERNEL_VERSION,
            tlv::PROGRAM,
            tlv::SHORT_ID
        ],
        [1, 2, 3, 5, 6, 7, 8, 9, 10]
    );
    assert_eq!(kernel::tbf::FOOTER_CREDENTIALS, 128);
    // And the builder's helpers produce what the spec describes.
    assert_eq!(u32s(&[1, 2]), vec![1, 0, 0, 0, 2, 0, 0, 0]);
}
