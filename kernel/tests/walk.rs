//! The loading walk over an app flash area: every rule of spec §5.

mod common;

use common::TbfBuilder;
use kernel::tbf::{AppWalk, KernelVersion, Outcome, Refusal, TbfError, WalkEnd, WalkItem};

const BASE: u32 = 0x8010_0000;
const KERNEL: KernelVersion = KernelVersion::new(2, 1);

/// Concatenates TBFs and fills the rest of a `size`-byte area with 0xFF.
fn area(tbfs: &[Vec<u8>], size: usize) -> Vec<u8> {
    let mut a: Vec<u8> = tbfs.concat();
    assert!(a.len() <= size);
    a.resize(size, 0xFF);
    a
}

fn walk(area: &[u8]) -> (Vec<WalkItem<'_>>, WalkEnd) {
    let mut w = AppWalk::new(area, BASE, KERNEL);
    let items: Vec<_> = w.by_ref().collect();
    let end = w.end().expect("ended");
    // Fused: nothing more after the end.
    assert!(w.next().is_none());
    assert_eq!(w.end(), Some(end));
    (items, end)
}

fn short(outcome: &Outcome<'_>) -> String {
    match outcome {
        Outcome::Load(h) => format!("load {}", h.package_name().unwrap_or("?")),
        Outcome::Padding => "padding".into(),
        Outcome::Disabled(h) => format!("disabled {}", h.package_name().unwrap_or("?")),
        Outcome::Invalid(e) => format!("invalid {e:?}"),
        Outcome::Refused(h, r) => format!("refused {} {r:?}", h.package_name().unwrap_or("?")),
    }
}

#[test]
fn empty_and_erased_areas() {
    let (items, end) = walk(&[]);
    assert!(items.is_empty());
    assert_eq!(end, WalkEnd::EndOfArea);

    let erased = vec![0xFF; 4096];
    let (items, end) = walk(&erased);
    assert!(items.is_empty());
    assert_eq!(end, WalkEnd::NotATbf { version: 0xFFFF });

    let zeros = vec![0; 4096];
    let (items, end) = walk(&zeros);
    assert!(items.is_empty());
    assert_eq!(end, WalkEnd::NotATbf { version: 0 });
}

#[test]
fn consecutive_apps_with_addresses_and_lengths() {
    let a = TbfBuilder::app("a").pad_to(0x200).build();
    let b = TbfBuilder::app("b").pad_to(0x400).build();
    let c = TbfBuilder::app("c").build();
    let flash = area(&[a.clone(), b.clone(), c.clone()], 0x1000);
    let (items, end) = walk(&flash);
    assert_eq!(end, WalkEnd::NotATbf { version: 0xFFFF });
    let got: Vec<_> = items
        .iter()
        .map(|i| (i.address, i.length, short(&i.outcome)))
        .collect();
    assert_eq!(
        got,
        vec![
            (BASE, 0x200, "load a".to_string()),
            (BASE + 0x200, 0x400, "load b".to_string()),
            (BASE + 0x600, c.len() as u32, "load c".to_string()),
        ]
    );
    assert_eq!(items[1].bytes, &b[..]);
    assert_eq!(items[0].bytes.len(), 0x200);
    // Entry facts computed from the walk's address.
    if let Outcome::Load(h) = items[1].outcome {
        assert_eq!(
            h.entry_point(items[1].address),
            BASE + 0x200 + h.header_size() + 0x10
        );
        assert_eq!(
            h.app_binary_start(items[1].address),
            BASE + 0x200 + h.header_size() + 0x20
        );
    } else {
        panic!("not loaded");
    }
}

#[test]
fn area_ending_exactly_after_the_last_tbf() {
    let a = TbfBuilder::app("a").pad_to(0x100).build();
    let flash = area(&[a.clone(), a.clone()], 0x200);
    let mut w = AppWalk::new(&flash, BASE, KERNEL);
    assert_eq!(w.position(), BASE);
    assert_eq!(w.by_ref().count(), 2);
    assert_eq!(w.end(), Some(WalkEnd::EndOfArea));
    assert_eq!(w.position(), BASE + 0x200);
}

#[test]
fn invalid_tbfs_are_skipped_with_the_reason() {
    let bad_sum = TbfBuilder::app("x")
        .corrupt_checksum()
        .pad_to(0x100)
        .build();
    let bad_tlv = TbfBuilder::app("y")
        .tlv(8, &[1, 2, 3])
        .pad_to(0x100)
        .build();
    let bad_name = TbfBuilder::app("z").tlv(3, &[0xC3]).pad_to(0x100).build();
    let bad_header_size = TbfBuilder::app("h").header_size(14).pad_to(0x100).build();
    // header_size 0x30 > total_size 0x20, and exactly 0x20 bytes long.
    let bad_total = TbfBuilder::new()
        .kernel_version(2, 0)
        .binary(8)
        .header_size(0x30)
        .build();
    assert_eq!(bad_total.len(), 0x20);
    let good = TbfBuilder::app("ok").build();
    let flash = area(
        &[bad_sum, bad_tlv, bad_name, bad_header_size, bad_total, good],
        0x1000,
    );
    let (items, end) = walk(&flash);
    assert_eq!(end, WalkEnd::NotATbf { version: 0xFFFF });
    let outcomes: Vec<_> = items.iter().map(|i| i.outcome).collect();
    assert!(matches!(
        outcomes[0],
        Outcome::Invalid(TbfError::ChecksumMismatch { .. })
    ));
    assert_eq!(outcomes[1], Outcome::Invalid(TbfError::MalformedTlv(8)));
    assert_eq!(outcomes[2], Outcome::Invalid(TbfError::InvalidPackageName));
    assert_eq!(outcomes[3], Outcome::Invalid(TbfError::BadHeaderSize(14)));
    assert_eq!(outcomes[4], Outcome::Invalid(TbfError::BadTotalSize(0x20)));
    assert_eq!(short(&outcomes[5]), "load ok");
    assert_eq!(items[4].address, BASE + 0x400);
    assert_eq!(items[5].address, BASE + 0x420);
}

#[test]
fn padding_and_disabled_are_skipped() {
    let pad = TbfBuilder::padding(0x80).build();
    let off = TbfBuilder::app("off").flags(0).build();
    let sticky_off = TbfBuilder::app("so").flags(2).build();
    let on = TbfBuilder::app("on").flags(3).build();
    let flash = area(&[pad, off, sticky_off, on], 0x800);
    let (items, _) = walk(&flash);
    let got: Vec<_> = items.iter().map(|i| short(&i.outcome)).collect();
    assert_eq!(got, ["padding", "disabled off", "disabled so", "load on"]);
    assert_eq!(items[0].length, 0x80);
    assert_eq!(items[1].address, BASE + 0x80);
}

#[test]
fn kernel_version_rules() {
    let none = TbfBuilder::new()
        .program(0, 0, 0, 0)
        .name("none")
        .binary(16)
        .build();
    let older_major = TbfBuilder::app("m1").kernel_version(1, 0).build();
    let newer_major = TbfBuilder::app("m3").kernel_version(3, 0).build();
    let newer_minor = TbfBuilder::app("n2").kernel_version(2, 2).build();
    let same = TbfBuilder::app("same").kernel_version(2, 1).build();
    let older_minor = TbfBuilder::app("old").build(); // 2.0
    let flash = area(
        &[
            none,
            older_major,
            newer_major,
            newer_minor,
            same,
            older_minor,
        ],
        0x1000,
    );
    let (items, _) = walk(&flash);
    let got: Vec<_> = items.iter().map(|i| short(&i.outcome)).collect();
    assert_eq!(
        got,
        [
            "refused none NoKernelVersion",
            "refused m1 IncompatibleKernel { required: KernelVersion { major: 1, minor: 0 }, kernel: KernelVersion { major: 2, minor: 1 } }",
            "refused m3 IncompatibleKernel { required: KernelVersion { major: 3, minor: 0 }, kernel: KernelVersion { major: 2, minor: 1 } }",
            "refused n2 IncompatibleKernel { required: KernelVersion { major: 2, minor: 2 }, kernel: KernelVersion { major: 2, minor: 1 } }",
            "load same",
            "load old",
        ]
    );
}

#[test]
fn header_without_program_is_refused() {
    let tbf = TbfBuilder::new()
        .name("noprog")
        .kernel_version(2, 0)
        .binary(32)
        .build();
    let flash = area(&[tbf], 0x100);
    let (items, _) = walk(&flash);
    assert_eq!(short(&items[0].outcome), "refused noprog NoProgram");
}

#[test]
fn fixed_flash_address_must_match_the_binary_start() {
    // The binary of the second TBF starts at BASE + 0x100 + header + 0x20.
    let first = TbfBuilder::app("first").pad_to(0x100).build();
    let probe = TbfBuilder::app("fixed").fixed(0x8030_0000, 0).build();
    let header = u32::from(u16::from_le_bytes([probe[2], probe[3]]));
    let actual = BASE + 0x100 + header + 0x20;
    let right = TbfBuilder::app("fixed").fixed(0x8030_0000, actual).build();
    let wrong = TbfBuilder::app("fixed")
        .fixed(0x8030_0000, BASE + 0x100)
        .build();
    let unfixed = TbfBuilder::app("fixed")
        .fixed(0x8030_0000, 0xFFFF_FFFF)
        .build();

    let flash = area(&[first.clone(), right], 0x400);
    assert_eq!(short(&walk(&flash).0[1].outcome), "load fixed");

    let flash = area(&[first.clone(), wrong], 0x400);
    let outcome = walk(&flash).0[1].outcome;
    assert!(
        matches!(
            outcome,
            Outcome::Refused(_, Refusal::WrongFlashAddress { fixed, actual: a })
                if fixed == BASE + 0x100 && a == actual
        ),
        "{outcome:?}"
    );

    let flash = area(&[first, unfixed], 0x400);
    assert_eq!(short(&walk(&flash).0[1].outcome), "load fixed");
}

#[test]
fn insane_total_size_ends_the_walk() {
    let good = TbfBuilder::app("g").pad_to(0x100).build();
    for (total, end) in [
        (0u32, WalkEnd::BadTotalSize { total_size: 0 }),
        (8, WalkEnd::BadTotalSize { total_size: 8 }),
        (15, WalkEnd::BadTotalSize { total_size: 15 }),
        (0x301, WalkEnd::BadTotalSize { total_size: 0x301 }),
        (
            u32::MAX,
            WalkEnd::BadTotalSize {
                total_size: u32::MAX,
            },
        ),
    ] {
        let broken = TbfBuilder::app("b").total_size(total).build();
        let flash = area(&[good.clone(), broken, good.clone()], 0x400);
        let (items, got) = walk(&flash);
        assert_eq!(items.len(), 1, "total {total}");
        assert_eq!(got, end);
    }
    // A bad checksum does not matter once total_size is insane: stop.
    let broken = TbfBuilder::app("b")
        .total_size(0)
        .corrupt_checksum()
        .build();
    let flash = area(&[broken], 0x100);
    let (items, end) = walk(&flash);
    assert!(items.is_empty());
    assert_eq!(end, WalkEnd::BadTotalSize { total_size: 0 });
}

#[test]
fn a_tbf_running_past_the_area_ends_the_walk() {
    let good = TbfBuilder::app("g").pad_to(0x100).build();
    let big = TbfBuilder::app("big").pad_to(0x200).build();
    let mut flash = area(&[good, big], 0x300);
    flash.truncate(0x250);
    let (items, end) = walk(&flash);
    assert_eq!(items.len(), 1);
    assert_eq!(end, WalkEnd::BadTotalSize { total_size: 0x200 });
}

#[test]
fn stray_bytes_at_the_end() {
    let good = TbfBuilder::app("g").pad_to(0x100).build();
    for (extra, end) in [
        (vec![2u8], WalkEnd::Truncated { remaining: 1 }),
        (vec![2, 0, 0x40, 0], WalkEnd::Truncated { remaining: 4 }),
        (vec![0xFF], WalkEnd::Truncated { remaining: 1 }),
        (vec![0xFF, 0xFF, 0], WalkEnd::NotATbf { version: 0xFFFF }),
        (
            vec![2, 0, 0x10, 0, 0x20, 0, 0, 0, 0],
            WalkEnd::BadTotalSize { total_size: 0x20 },
        ),
    ] {
        let mut flash = good.clone();
        flash.extend(&extra);
        let (items, got) = walk(&flash);
        assert_eq!(items.len(), 1);
        assert_eq!(got, end, "{extra:?}");
    }
}

#[test]
fn addresses_never_overflow() {
    let tbf = TbfBuilder::app("top").pad_to(0x100).build();
    let flash = area(&[tbf.clone(), tbf.clone()], 0x200);
    // The area ends exactly at the top of the address space.
    let mut w = AppWalk::new(&flash, 0u32.wrapping_sub(0x200), KERNEL);
    assert_eq!(w.by_ref().count(), 2);
    assert_eq!(w.end(), Some(WalkEnd::EndOfArea));
    // One byte further and the second TBF would not fit.
    let mut w = AppWalk::new(&flash, 0u32.wrapping_sub(0x1FF), KERNEL);
    assert_eq!(w.by_ref().count(), 1);
    assert_eq!(w.end(), Some(WalkEnd::AddressOverflow));
    assert_eq!(w.position(), 0u32.wrapping_sub(0xFF));
}

#[test]
fn refusal_and_end_messages() {
    let r = Refusal::WrongFlashAddress {
        fixed: 0x8010_0080,
        actual: 0x8010_0100,
    };
    assert!(r.to_string().contains("0x80100080"));
    assert!(Refusal::IncompatibleKernel {
        required: KernelVersion::new(3, 0),
        kernel: KERNEL
    }
    .to_string()
    .contains("3.0"));
    assert!(!Refusal::NoKernelVersion.to_string().is_empty());
    assert!(!Refusal::NoProgram.to_string().is_empty());
    for end in [
        WalkEnd::EndOfArea,
        WalkEnd::Truncated { remaining: 3 },
        WalkEnd::NotATbf { version: 0xFFFF },
        WalkEnd::BadTotalSize { total_size: 0 },
        WalkEnd::AddressOverflow,
    ] {
        assert!(!end.to_string().is_empty());
    }
}
