//! Property tests: the TBF parser and the loading walk never panic and the
//! walk always terminates, on random bytes, truncations and mutations.

mod common;

use common::{fix_checksum, Rng, TbfBuilder};
use kernel::tbf::{AppWalk, KernelVersion, Outcome, TbfHeader};

const KERNEL: KernelVersion = KernelVersion::new(2, 0);

/// A TBF using every TLV type and several footers.
fn rich() -> Vec<u8> {
    TbfBuilder::new()
        .main(0x30, 0x20, 4096)
        .program(0x30, 0x20, 4096, 9)
        .name("kv_unit_tests")
        .regions(&[(0x100, 0x40), (0x140, 0x40)])
        .regions(&[(0x180, 0x10)])
        .fixed(0x8030_0000, 0xFFFF_FFFF)
        .permissions(&[(1, 0, 0b110), (0x50003, 0, 0x7F)])
        .storage(0x1234, &[0x1234, 7], &[0x1234])
        .kernel_version(2, 0)
        .short_id(0x4242)
        .tlv(0x77, &[1, 2, 3])
        .binary(0x180)
        .credentials(0, &[0; 13])
        .footer(5, &[1])
        .pad_to(0x300)
        .build()
}

/// Calls every accessor and checks the invariants a parsed header promises.
fn exercise(h: &TbfHeader<'_>, rng: &mut Rng) {
    let total = u64::from(h.total_size());
    assert!(u64::from(h.header_size()) <= total);
    assert!(h.header_size() >= 16 && h.header_size() % 4 == 0);
    if h.has_program() {
        assert!(u64::from(h.protected_size()) <= u64::from(h.binary_end_offset()));
        assert!(
            u64::from(h.header_size()) + u64::from(h.init_fn_offset())
                < u64::from(h.binary_end_offset())
        );
    }
    assert!(u64::from(h.binary_end_offset()) <= total);
    for r in h.writeable_regions().take(10_000) {
        assert!(u64::from(r.offset) + u64::from(r.size) <= total);
    }
    let _ = h.writeable_region_count();
    let start = rng.next() as u32;
    let _ = (h.entry_point(start), h.app_binary_start(start));
    let _ = (h.enabled(), h.sticky(), h.is_padding(), h.flags());
    let _ = (h.minimum_ram_size(), h.app_version(), h.package_name());
    let _ = (h.fixed_ram_address(), h.fixed_flash_address());
    let _ = (h.kernel_version(), h.short_id());
    for _ in 0..4 {
        let _ = h.command_permitted(rng.next() as u32 % 4, rng.next() as u32);
    }
    let _ = h.command_permitted(0x50003, 1);
    if let Some(s) = h.storage_permissions() {
        let _ = s.write_id();
        assert!(s.read_ids().count() <= 0xFFFF);
        assert!(s.modify_ids().count() <= 0xFFFF);
        let _ = s.read_ids().contains(7);
    }
    // Every footer is at least 4 bytes, so this is bounded by the size.
    let footers = h.footers().take(0x10000).count();
    assert!(footers <= (h.total_size() as usize) / 4 + 1);
}

fn parse_and_exercise(bytes: &[u8], rng: &mut Rng) {
    if let Ok(h) = TbfHeader::parse(bytes) {
        exercise(&h, rng);
    }
}

/// Walks `area` and checks that it ends within the bound.
fn walk_terminates(area: &[u8], base: u32, rng: &mut Rng) -> usize {
    let cap = area.len() / 16 + 1;
    let mut walk = AppWalk::new(area, base, KERNEL);
    let mut n = 0;
    for item in walk.by_ref().take(cap + 1) {
        n += 1;
        assert!(item.length >= 16);
        assert_eq!(item.bytes.len(), item.length as usize);
        match item.outcome {
            Outcome::Load(h) | Outcome::Disabled(h) | Outcome::Refused(h, _) => exercise(&h, rng),
            Outcome::Padding | Outcome::Invalid(_) => {}
        }
    }
    assert!(
        n <= cap,
        "walk did not stop: {n} items for {} bytes",
        area.len()
    );
    assert!(walk.end().is_some(), "walk did not report its end");
    assert!(walk.next().is_none());
    n
}

#[test]
fn random_byte_strings() {
    let mut rng = Rng::new(1);
    for i in 0..20_000 {
        let len = rng.index(if i % 10 == 0 { 4096 } else { 300 });
        let mut bytes = rng.bytes(len);
        // Half of the inputs look like a version-2 header, to get past the
        // first check; some of those get a valid checksum too.
        if i % 2 == 0 && len >= 16 {
            bytes[0] = 2;
            bytes[1] = 0;
            let header_size = (rng.index(len.min(512) / 4 + 1) * 4) as u16;
            bytes[2..4].copy_from_slice(&header_size.to_le_bytes());
            let total = rng.index(len + 64) as u32;
            bytes[4..8].copy_from_slice(&total.to_le_bytes());
            if i % 4 == 0 {
                fix_checksum(&mut bytes);
            }
        }
        parse_and_exercise(&bytes, &mut rng);
        walk_terminates(&bytes, rng.next() as u32, &mut rng);
    }
}

#[test]
fn random_tlv_soup_with_valid_checksums() {
    // Valid base headers followed by random TLVs of known types with random
    // lengths and contents: exercises every TLV parser's checks.
    let mut rng = Rng::new(2);
    let kinds = [0u16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 128, 0xFFFF];
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut b = TbfBuilder::new();
        for _ in 0..rng.index(6) {
            let kind = kinds[rng.index(kinds.len())];
            let len = match rng.index(3) {
                0 => rng.index(8),
                1 => [4, 8, 12, 16, 20, 22, 24][rng.index(7)],
                _ => rng.index(64),
            };
            let mut data = rng.bytes(len);
            // Small counts so that permission TLVs are sometimes right.
            if (kind == 6 || kind == 7) && len >= 6 {
                data[if kind == 6 { 1 } else { 5 }] = 0;
                if kind == 6 {
                    data[0] = ((len - 2) / 16) as u8;
                }
            }
            b = b.tlv(kind, &data);
        }
        let tbf = b.binary(rng.index(256)).build();
        if let Ok(h) = TbfHeader::parse(&tbf) {
            parsed += 1;
            exercise(&h, &mut rng);
        }
        walk_terminates(&tbf, 0x2000_0000, &mut rng);
    }
    // The generator reaches successful parses, not only errors.
    assert!(parsed > 1000, "only {parsed} parsed");
}

#[test]
fn truncations_of_valid_tbfs() {
    let mut rng = Rng::new(3);
    let tbf = rich();
    assert!(TbfHeader::parse(&tbf).is_ok());
    let two = [tbf.clone(), tbf.clone()].concat();
    for len in 0..=two.len() {
        parse_and_exercise(&two[..len], &mut rng);
        let n = walk_terminates(&two[..len], 0x8010_0000, &mut rng);
        let expected = if len >= 2 * tbf.len() {
            2
        } else {
            usize::from(len >= tbf.len())
        };
        assert_eq!(n, expected, "len {len}");
    }
}

#[test]
fn single_byte_mutations() {
    let mut rng = Rng::new(4);
    let tbf = rich();
    let header_size = usize::from(u16::from_le_bytes([tbf[2], tbf[3]]));
    for pos in 0..tbf.len() {
        let originals = tbf[pos];
        let values = [
            0,
            0xFF,
            originals ^ 1,
            originals ^ 0x80,
            originals.wrapping_add(1),
            originals.wrapping_sub(1),
            rng.next() as u8,
            rng.next() as u8,
        ];
        for value in values {
            let mut m = tbf.clone();
            m[pos] = value;
            for fix in [false, true] {
                if fix {
                    // Re-validate the checksum so the mutation reaches the
                    // TLV parsers instead of failing the checksum.
                    if pos >= header_size || (12..16).contains(&pos) {
                        continue;
                    }
                    fix_checksum(&mut m);
                }
                parse_and_exercise(&m, &mut rng);
                // The mutated TBF between two good ones: the walk must end,
                // and the first one is always found.
                let area = [tbf.clone(), m.clone(), tbf.clone()].concat();
                let mut walk = AppWalk::new(&area, 0x8010_0000, KERNEL);
                assert!(matches!(
                    walk.next().map(|i| i.outcome),
                    Some(Outcome::Load(_))
                ));
                walk_terminates(&area, 0x8010_0000, &mut rng);
            }
        }
    }
}

#[test]
fn random_multi_byte_mutations_of_app_areas() {
    let mut rng = Rng::new(5);
    let base = [
        rich(),
        TbfBuilder::padding(0x40).build(),
        TbfBuilder::app("b").pad_to(0x100).build(),
        TbfBuilder::app("c").flags(0).build(),
    ]
    .concat();
    for _ in 0..5_000 {
        let mut area = base.clone();
        for _ in 0..1 + rng.index(8) {
            let pos = rng.index(area.len());
            area[pos] = rng.next() as u8;
        }
        if rng.index(2) == 0 {
            fix_checksum(&mut area);
        }
        let cut = rng.index(area.len() + 1);
        walk_terminates(&area[..cut], rng.next() as u32, &mut rng);
        walk_terminates(&area, 0xFFFF_F000, &mut rng);
    }
}
