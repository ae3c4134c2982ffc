//! Packing synthetic TBFs: placement, padding, termination and every
//! refusal, checked with the kernel's own TBF parser and loading walk.

use app_image::{
    kernel_attributes, pack, padding_tbf, place, tbf_for_board, tbf_from_tab, verify, Fill, Image,
    KernelAttributes, Options,
};
use app_layout::Layout;
use kernel::tbf::{AppWalk, Outcome, TbfHeader, WalkEnd};
use kernel::KERNEL_VERSION;
use kernel_mock::tbf::{fix_checksum, TbfBuilder};

const TABLE: &str = r#"
[board]
description = "../boards/qemu_rv32_virt/board.toml"
kernel_major = 2
kernel_minor = 0

[[app]]
name = "one"
flash = 0x8010_0000
flash_size = 0x1_0000
ram = 0x8030_0000
ram_size = 0x1_0000
stack = 2048
app_heap = 0
kernel_heap = 1024

[[app]]
name = "two"
flash = 0x8011_0000
flash_size = 0x1_0000
ram = 0x8031_0000
ram_size = 0x1_0000
stack = 2048
app_heap = 0
kernel_heap = 1024

[[app]]
name = "tight"
flash = 0x8012_0000
flash_size = 0x100
ram = 0x8032_0000
ram_size = 0x1_0000
stack = 2048
app_heap = 0
kernel_heap = 1024

[[app]]
name = "next"
flash = 0x8012_0100
flash_size = 0x1_0000
ram = 0x8033_0000
ram_size = 0x1_0000
stack = 2048
app_heap = 0
kernel_heap = 1024
"#;

fn layout() -> Layout {
    let userland = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../userland");
    Layout::parse(TABLE, &userland).unwrap()
}

/// A builder for an app linked at TBF start `tbf` and RAM `ram`, with a
/// 0x80-byte protected region (header + trailer) and `code` bytes of code
/// after it; the entry point is the binary start.
fn builder(name: &str, tbf: u32, ram: u32, code: usize, min_ram: u32) -> TbfBuilder {
    let make = |trailer: u32| {
        TbfBuilder::new()
            .program(trailer, trailer, min_ram, 0)
            .name(name)
            .kernel_version(2, 0)
            .fixed(ram, tbf + 0x80)
            .binary(trailer as usize + code)
    };
    let header_size = u32::from(u16::from_le_bytes(
        make(0).build()[2..4].try_into().unwrap(),
    ));
    make(0x80 - header_size)
}

fn app(name: &str, tbf: u32, ram: u32, code: usize) -> Vec<u8> {
    builder(name, tbf, ram, code, 4096).build()
}

fn inputs(tbfs: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    tbfs.iter()
        .enumerate()
        .map(|(i, t)| (format!("input{i}"), t.clone()))
        .collect()
}

fn pack_err(tbfs: &[Vec<u8>]) -> String {
    pack(&layout(), inputs(tbfs), Options::default())
        .unwrap_err()
        .0
}

#[test]
fn padding_objects_parse_as_padding() {
    for size in [16, 20, 0x1000, 0xE9EC] {
        let p = padding_tbf(size);
        assert_eq!(p.len(), size as usize);
        let h = TbfHeader::parse(&p).expect("a valid header");
        assert!(h.is_padding());
        assert_eq!(h.total_size(), size);
        assert_eq!(h.flags(), 0);
        assert_eq!(&p[0..4], &[2, 0, 16, 0], "version 2, header_size 16");
    }
}

#[test]
fn places_apps_at_their_slots_with_padding_between() {
    let one = app("one", 0x8010_0000, 0x8030_0000, 0x200);
    let two = app("two", 0x8011_0000, 0x8031_0000, 0x300);
    // Given out of order: the image is in flash order anyway.
    let image = pack(
        &layout(),
        inputs(&[two.clone(), one.clone()]),
        Options::default(),
    )
    .unwrap();
    assert_eq!(image.base, 0x8010_0000);
    assert_eq!(&image.bytes[..one.len()], &one[..]);
    assert_eq!(
        image.padding,
        vec![(0x8010_0000 + one.len() as u32, 0x1_0000 - one.len() as u32)]
    );
    let two_at = 0x1_0000;
    assert_eq!(&image.bytes[two_at..two_at + two.len()], &two[..]);
    // One terminating word that is not a TBF version.
    assert_eq!(image.bytes.len(), two_at + two.len() + 4);
    assert_eq!(&image.bytes[image.bytes.len() - 4..], &[0; 4]);

    // What the kernel's loader finds.
    let mut walk = AppWalk::new(&image.bytes, 0x8010_0000, KERNEL_VERSION);
    let found: Vec<(u32, &str)> = walk
        .by_ref()
        .map(|item| match item.outcome {
            Outcome::Load(h) => (item.address, h.package_name().unwrap()),
            Outcome::Padding => (item.address, "(padding)"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (0x8010_0000, "one"),
            (0x8010_0000 + one.len() as u32, "(padding)"),
            (0x8011_0000, "two"),
        ]
    );
    assert_eq!(walk.end(), Some(WalkEnd::NotATbf { version: 0 }));

    let p = &image.apps[1];
    assert_eq!(
        (p.name.as_str(), p.address, p.binary_start, p.entry),
        ("two", 0x8011_0000, 0x8011_0080, 0x8011_0080)
    );
    assert_eq!(p.ram, Some(0x8031_0000));
}

#[test]
fn an_app_alone_in_a_later_slot_gets_leading_padding() {
    let two = app("two", 0x8011_0000, 0x8031_0000, 0x40);
    let image = pack(&layout(), inputs(&[two]), Options::default()).unwrap();
    assert_eq!(image.padding, vec![(0x8010_0000, 0x1_0000)]);
    assert_eq!(image.apps[0].address, 0x8011_0000);
}

#[test]
fn fill_options() {
    let one = app("one", 0x8010_0000, 0x8030_0000, 0x40);
    let erased = pack(
        &layout(),
        inputs(std::slice::from_ref(&one)),
        Options {
            fill: Fill::Erased,
            pad_to_end: false,
        },
    )
    .unwrap();
    assert_eq!(&erased.bytes[one.len()..], &[0xFF; 4]);
    let full = pack(
        &layout(),
        inputs(&[one]),
        Options {
            fill: Fill::Zero,
            pad_to_end: true,
        },
    )
    .unwrap();
    assert_eq!(full.bytes.len(), 0x20_0000);
}

#[test]
fn refuses_a_tbf_linked_for_another_slot() {
    // Packaged as "two" but linked for one's slot.
    let e = pack_err(&[app("two", 0x8010_0000, 0x8031_0000, 0x40)]);
    assert!(
        e.contains("linked for flash 0x80100080") && e.contains("0x80110000"),
        "{e}"
    );
}

#[test]
fn refuses_a_wrong_fixed_ram_address() {
    let e = pack_err(&[app("one", 0x8010_0000, 0x8031_0000, 0x40)]);
    assert!(e.contains("linked for RAM 0x80310000"), "{e}");
}

#[test]
fn refuses_unknown_and_duplicate_apps() {
    let e = pack_err(&[app("three", 0x8010_0000, 0x8030_0000, 0x40)]);
    assert!(e.contains("package `three` has no slot"), "{e}");
    let one = app("one", 0x8010_0000, 0x8030_0000, 0x40);
    let e = pack_err(&[one.clone(), one]);
    assert!(e.contains("`one` is given twice"), "{e}");
}

#[test]
fn refuses_a_tbf_bigger_than_its_slot() {
    let e = pack_err(&[app("tight", 0x8012_0000, 0x8032_0000, 0x100)]);
    assert!(e.contains("more than its flash slot"), "{e}");
}

#[test]
fn refuses_a_gap_too_small_for_padding() {
    // 0x78 of 0x100 bytes used: 8 bytes left before the next slot.
    let tight = app("tight", 0x8012_0000, 0x8032_0000, 0xF8 - 0x80);
    assert_eq!(tight.len(), 0xF8);
    let next = app("next", 0x8012_0100, 0x8033_0000, 0x40);
    let e = pack_err(&[tight.clone(), next.clone()]);
    assert!(e.contains("gap of 8 bytes"), "{e}");
    // Exactly full: no gap, no padding needed.
    let full = app("tight", 0x8012_0000, 0x8032_0000, 0x80);
    let image = pack(&layout(), inputs(&[full, next]), Options::default()).unwrap();
    assert_eq!(image.padding, vec![(0x8010_0000, 0x2_0000)]);
}

#[test]
fn refuses_what_the_kernel_would_refuse() {
    let no_version = TbfBuilder::new()
        .program(0x50, 0x50, 4096, 0)
        .name("one")
        .fixed(0x8030_0000, 0x8010_0080)
        .binary(0x100)
        .build();
    let e = pack_err(&[no_version]);
    assert!(e.contains("no kernel version"), "{e}");

    let mut corrupt = app("one", 0x8010_0000, 0x8030_0000, 0x40);
    corrupt[20] ^= 1;
    let e = pack_err(&[corrupt.clone()]);
    assert!(
        e.contains("not a valid TBF") && e.contains("checksum"),
        "{e}"
    );
    fix_checksum(&mut corrupt);

    let mut short = app("one", 0x8010_0000, 0x8030_0000, 0x40);
    short.pop();
    let e = pack_err(&[short]);
    assert!(e.contains("total_size"), "{e}");

    let e = pack_err(&[padding_tbf(64)]);
    assert!(e.contains("padding"), "{e}");

    let future = TbfBuilder::new()
        .program(0x50, 0x50, 4096, 0)
        .name("one")
        .kernel_version(3, 0)
        .binary(0x100)
        .build();
    let e = pack_err(&[future]);
    assert!(e.contains("needs kernel 3.0"), "{e}");
}

#[test]
fn refuses_an_app_whose_ram_does_not_fit_its_slot() {
    let big = builder("one", 0x8010_0000, 0x8030_0000, 0x40, 0x1_0000).build();
    let e = pack_err(&[big]);
    assert!(e.contains("more than its RAM slot"), "{e}");
}

#[test]
fn refuses_a_different_protected_size() {
    // Linked with a 0x100-byte protected region.
    let make = |trailer: u32| {
        TbfBuilder::new()
            .program(trailer, trailer, 4096, 0)
            .name("one")
            .kernel_version(2, 0)
            .fixed(0x8030_0000, 0x8010_0100)
            .binary(trailer as usize + 0x40)
    };
    let hs = u32::from(u16::from_le_bytes(
        make(0).build()[2..4].try_into().unwrap(),
    ));
    let e = pack_err(&[make(0x100 - hs).build()]);
    assert!(e.contains("0x100-byte protected region"), "{e}");
}

#[test]
fn places_a_position_independent_app_by_name() {
    let pic = TbfBuilder::new()
        .program(0x40, 0x40, 4096, 0)
        .name("two")
        .kernel_version(2, 0)
        .binary(0x100);
    let hs = u32::from(u16::from_le_bytes(pic.build()[2..4].try_into().unwrap()));
    let pic = TbfBuilder::new()
        .program(0x80 - hs, 0x80 - hs, 4096, 0)
        .name("two")
        .kernel_version(2, 0)
        .binary(0x100)
        .build();
    let p = place(&layout(), "pic", pic).unwrap();
    assert_eq!((p.address, p.ram), (0x8011_0000, None));
}

#[test]
fn verify_catches_a_broken_image() {
    let one = app("one", 0x8010_0000, 0x8030_0000, 0x40);
    let mut image: Image = pack(&layout(), inputs(&[one]), Options::default()).unwrap();
    verify(&image).unwrap();
    image.bytes[0] = 0xFF; // version 0x00FF: the walk finds nothing
    assert!(verify(&image)
        .unwrap_err()
        .0
        .contains("would not reach `one`"));
}

/// A ustar archive of (name, data) entries.
fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        let size = format!("{:011o}\0", data.len());
        h[124..136].copy_from_slice(size.as_bytes());
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        out.extend(h);
        out.extend(*data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.extend([0u8; 1024]);
    out
}

#[test]
fn reads_the_tbf_of_an_architecture_from_a_tab() {
    let tbf = app("one", 0x8010_0000, 0x8030_0000, 0x40);
    let tab = tar(&[
        ("metadata.toml", b"tab-version = 1\n"),
        ("cortex-m4.tbf", b"not this one"),
        ("rv32imac.tbf", &tbf),
    ]);
    assert_eq!(tbf_from_tab(&tab, "rv32imac").unwrap(), tbf);
    let e = tbf_from_tab(&tab, "rv32imc").unwrap_err().0;
    assert!(
        e.contains("no rv32imc.tbf") && e.contains("cortex-m4.tbf, rv32imac.tbf"),
        "{e}"
    );
}

#[test]
fn picks_the_tbf_whose_ram_is_the_boards_among_several_of_one_architecture() {
    // Two Cortex-M4 TBFs, as our TABs carry for qemu_ast1030 and the DK.
    let ast = app("two", 0x5_0000, 0x8_8000, 0x40);
    let dk = app("two", 0x4_0000, 0x2001_0000, 0x40);
    let tab = tar(&[
        ("metadata.toml", b"tab-version = 1\n"),
        ("cortex-m4.0x00040000.0x20010000.tbf", &dk),
        ("cortex-m4.0x00050000.0x00088000.tbf", &ast),
    ]);
    let mut board = layout().board;
    board.arch = "cortex-m4".into();
    (board.ram_start, board.ram_end) = (0x8_0000, 0xC_0000);
    assert_eq!(tbf_for_board(&tab, &board).unwrap(), ast);
    (board.ram_start, board.ram_end) = (0x2001_0000, 0x2003_0000);
    assert_eq!(tbf_for_board(&tab, &board).unwrap(), dk);
    (board.ram_start, board.ram_end) = (0x1000_0000, 0x1001_0000);
    let e = tbf_for_board(&tab, &board).unwrap_err().0;
    assert!(e.contains("0 of the TAB's TBFs for cortex-m4"), "{e}");
    // Without a board to choose, two are one too many.
    let e = tbf_from_tab(&tab, "cortex-m4").unwrap_err().0;
    assert!(e.contains("several TBFs for cortex-m4"), "{e}");
}

#[test]
fn reads_kernel_attributes_backwards_from_the_end() {
    let mut area = vec![0xAAu8; 16];
    for (value, kind) in [
        (
            &[2u16, 3, 0, 0].map(u16::to_le_bytes).concat()[..],
            0x0103u16,
        ),
        (&[0u32, 0x1_9330].map(u32::to_le_bytes).concat()[..], 0x0102),
        (
            &[0x2001_0000u32, 0x2_0000].map(u32::to_le_bytes).concat()[..],
            0x0101,
        ),
    ] {
        area.extend(value);
        area.extend(kind.to_le_bytes());
        area.extend(8u16.to_le_bytes());
    }
    area.extend([0, 0, 0, 1]);
    area.extend(b"TOCK");
    assert_eq!(
        kernel_attributes(&area).unwrap(),
        KernelAttributes {
            version: 1,
            app_memory: Some((0x2001_0000, 0x2_0000)),
            kernel_binary: Some((0, 0x1_9330)),
            kernel_version: Some([2, 3, 0, 0]),
        }
    );
    let n = area.len();
    area[n - 1] = b'X';
    assert!(kernel_attributes(&area).is_err());
}

#[test]
fn the_overhead_bound_matches_the_kernel() {
    assert_eq!(
        app_layout::KERNEL_OVERHEAD_MAX,
        kernel::process::Process::kernel_overhead(kernel::MAX_GRANTS)
    );
}
