//! ShortId assigners and storage permission policies over real TBF headers.

mod common;

use std::num::NonZeroU32;

use common::TbfBuilder;
use kernel::storage_permissions::{
    IdList, NullPolicy, PackageNameCrc, SelfOnlyPolicy, ShortId, ShortIdAssigner,
    StoragePermissions, StoragePermissionsPolicy, TlvElseCrc, TlvElseSelfOnlyPolicy, TlvPolicy,
    TlvShortId,
};
use kernel::tbf::TbfHeader;
use kernel::utilities::crc32_posix;

/// Parses a built TBF whose bytes live for the rest of the test, as TBFs in
/// flash do.
fn header(builder: TbfBuilder) -> TbfHeader<'static> {
    let bytes: &'static [u8] = builder.build().leak();
    TbfHeader::parse(bytes).expect("test TBF parses")
}

fn fixed(id: u32) -> ShortId {
    ShortId::Fixed(NonZeroU32::new(id).unwrap())
}

/// A package name whose CRC is 0: a prefix plus four ASCII bytes that drive
/// the CRC register to all ones before the final inversion. Feeding four
/// bytes `b` to register `r` gives `f(r ^ b)` for a bijection `f`, so
/// `b = r ^ f⁻¹(!0)`; `f⁻¹` is the CRC run backwards for 32 bits.
fn name_with_zero_crc() -> String {
    let mut target = u32::MAX;
    for _ in 0..32 {
        target = if target & 1 == 1 {
            ((target ^ 0x04C1_1DB7) >> 1) | 0x8000_0000
        } else {
            target >> 1
        };
    }
    (0..100_000u32)
        .find_map(|n| {
            let prefix = format!("app{n}-");
            let reg = !crc32_posix(prefix.as_bytes());
            let tail = (reg ^ target).to_be_bytes();
            tail.iter()
                .all(|b| b.is_ascii_alphanumeric())
                .then(|| prefix + std::str::from_utf8(&tail).unwrap())
        })
        .expect("some prefix gives an ASCII tail")
}

#[test]
fn tlv_short_id() {
    let h = header(TbfBuilder::app("a").short_id(0x1234));
    assert_eq!(TlvShortId.assign(&h), fixed(0x1234));
    let h = header(TbfBuilder::app("a").short_id(0));
    assert_eq!(TlvShortId.assign(&h), ShortId::LocallyUnique);
    let h = header(TbfBuilder::app("a"));
    assert_eq!(TlvShortId.assign(&h), ShortId::LocallyUnique);
}

#[test]
fn package_name_crc_spec_vectors() {
    for (name, id) in [("kv_unit_tests", 1153320202), ("kv", 2626414913)] {
        let h = header(TbfBuilder::app(name));
        assert_eq!(PackageNameCrc.assign(&h), fixed(id), "{name}");
    }
}

#[test]
fn package_name_crc_without_a_usable_name() {
    let nameless = TbfBuilder::new()
        .program(0, 0, 1024, 0)
        .kernel_version(2, 0)
        .binary(16);
    assert_eq!(
        PackageNameCrc.assign(&header(nameless)),
        ShortId::LocallyUnique
    );
    let empty = header(TbfBuilder::app(""));
    assert_eq!(empty.package_name(), Some(""));
    assert_eq!(PackageNameCrc.assign(&empty), ShortId::LocallyUnique);

    let name = name_with_zero_crc();
    assert_eq!(crc32_posix(name.as_bytes()), 0);
    let zero = header(TbfBuilder::app(&name));
    assert_eq!(PackageNameCrc.assign(&zero), ShortId::LocallyUnique);
    assert_eq!(TlvElseCrc.assign(&zero), ShortId::LocallyUnique);
}

#[test]
fn tlv_else_crc() {
    let h = header(TbfBuilder::app("kv").short_id(99));
    assert_eq!(TlvElseCrc.assign(&h), fixed(99));
    let h = header(TbfBuilder::app("kv").short_id(0));
    assert_eq!(TlvElseCrc.assign(&h), fixed(2626414913));
    let h = header(TbfBuilder::app("kv"));
    assert_eq!(TlvElseCrc.assign(&h), fixed(2626414913));
}

#[test]
fn from_tlv_follows_the_lists_and_never_reaches_id_0() {
    let h = header(TbfBuilder::app("a").storage(5, &[5, 6, 0], &[0, 6]));
    let p = StoragePermissions::from_tlv(h.storage_permissions().unwrap());
    assert_eq!(p.write_id(), Some(5));
    assert!(p.check_read_permission(5) && p.check_read_permission(6));
    assert!(!p.check_read_permission(0) && !p.check_read_permission(7));
    assert!(p.check_modify_permission(6));
    // Its own id is not implicitly modifiable (upstream behaviour).
    assert!(!p.check_modify_permission(5));
    assert!(!p.check_modify_permission(0));
    match p {
        StoragePermissions::Listed {
            read: IdList::Tlv(ids),
            read_self: false,
            modify_self: false,
            ..
        } => assert_eq!(ids.collect::<Vec<_>>(), [5, 6, 0]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn from_tlv_write_id_0_cannot_write() {
    let h = header(TbfBuilder::app("a").storage(0, &[3], &[]));
    let p = StoragePermissions::from_tlv(h.storage_permissions().unwrap());
    assert_eq!(p.write_id(), None);
    assert!(p.check_read_permission(3));
    assert!(!p.check_modify_permission(3));
    // An app that may write but lists nothing cannot even read its own items.
    let h = header(TbfBuilder::app("a").storage(9, &[], &[]));
    let p = StoragePermissions::from_tlv(h.storage_permissions().unwrap());
    assert_eq!(p.write_id(), Some(9));
    assert!(!p.check_read_permission(9) && !p.check_modify_permission(9));
}

#[test]
fn policies() {
    let with_tlv = header(TbfBuilder::app("a").storage(5, &[5], &[5]));
    let without = header(TbfBuilder::app("a"));
    let tlv = StoragePermissions::from_tlv(with_tlv.storage_permissions().unwrap());
    let seven = fixed(7);
    let local = ShortId::LocallyUnique;
    let self_only = StoragePermissions::self_only(NonZeroU32::new(7).unwrap());
    let null = StoragePermissions::null();

    for h in [&with_tlv, &without] {
        for id in [seven, local] {
            assert_eq!(NullPolicy.permissions(h, id), null);
        }
        assert_eq!(SelfOnlyPolicy.permissions(h, seven), self_only);
        assert_eq!(SelfOnlyPolicy.permissions(h, local), null);
    }

    for id in [seven, local] {
        assert_eq!(TlvPolicy.permissions(&with_tlv, id), tlv);
        assert_eq!(TlvPolicy.permissions(&without, id), null);
        assert_eq!(TlvElseSelfOnlyPolicy.permissions(&with_tlv, id), tlv);
    }
    assert_eq!(
        TlvElseSelfOnlyPolicy.permissions(&without, seven),
        self_only
    );
    assert_eq!(TlvElseSelfOnlyPolicy.permissions(&without, local), null);
}

#[test]
fn default_board_setup_for_a_libtock_rs_app() {
    // No storage TLV, no ShortId TLV: the ShortId comes from the name and
    // the app gets its own data only.
    let h = header(TbfBuilder::app("kv"));
    let id = TlvElseCrc.assign(&h);
    let p = TlvElseSelfOnlyPolicy.permissions(&h, id);
    assert_eq!(p.write_id(), Some(2626414913));
    assert!(p.check_read_permission(2626414913) && p.check_modify_permission(2626414913));
    assert!(!p.check_read_permission(0) && !p.check_read_permission(1153320202));
}
