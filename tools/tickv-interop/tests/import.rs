//! Migration: images written by upstream TicKV 2.0.0, imported with
//! `tickv::v1::import` into a fresh version-2 store; and the version-2
//! mount refusing to touch a version-1 image.

mod common;

use common::*;
use flashsim::SimFlash;
use tickv::v1::{self, ImportReport, Item};
use tickv::Error;
use upstream_tickv::ErrorCode;

/// Builds an upstream store with live, deleted, zeroised and overwritten
/// keys (values with owner headers and without), then corrupts one live
/// value.
fn upstream_image<const S: usize>(regions: usize, seed: u64) -> (Vec<u8>, Model, u64) {
    let mut rng = Rng::new(seed);
    let mut up = Upstream::<S>::new(regions);
    let mut model = Model::default();
    for i in 0..60u32 {
        let k = rng.hash();
        let len = rng.index(S / 16);
        let payload = rng.bytes(len);
        let value = if i % 5 == 0 {
            payload
        } else {
            owned(i * 7 + 1, &payload)
        };
        match up.append(k, &value) {
            Ok(()) => {
                model.push(k, &value);
            }
            Err(ErrorCode::FlashFull) | Err(ErrorCode::ObjectTooLarge) => {}
            Err(e) => panic!("append: {e:?}"),
        }
    }
    let keys: Vec<u64> = model.stacks.keys().copied().collect();
    assert!(keys.len() > 20);
    for (i, &k) in keys.iter().enumerate() {
        let r = match i % 6 {
            0 => up.invalidate(k),
            1 => up.zeroise(k),
            _ => continue,
        };
        if r.is_ok() {
            model.pop(k);
        }
    }
    check(&mut up, &model);
    // Corrupt the value of one live key.
    let mut image = up.image();
    let victim = model
        .live()
        .into_iter()
        .filter(|(_, v)| v.len() > 2)
        .nth(3)
        .unwrap()
        .0;
    let at = v1::find(&image, S, victim)
        .map(|o| o.region * S + o.offset)
        .unwrap();
    image[at + v1::OBJECT_HEADER + 2] ^= 0x01;
    let mut victim_model = model;
    victim_model.pop(victim);
    (image, victim_model, victim)
}

fn import_geometry<const S: usize>(regions: usize, seed: u64) {
    let (image, model, victim) = upstream_image::<S>(regions, seed);
    let live = model.live();
    let deleted = v1::scan(&image, S)
        .filter(|i| matches!(i, Item::Object(o) if !o.valid))
        .count();
    assert!(deleted > 5);

    let mut v2 = fresh_v2(4096, 8);
    let report = v1::import(&image, S, &mut v2).expect("import");
    assert_eq!(
        report,
        ImportReport {
            imported: live.len(),
            deleted,
            corrupt: 1,
            damaged_regions: 0,
            duplicates: 0,
        }
    );
    // Every live key reads back byte for byte, owner header included;
    // nothing else is there.
    let got = v2_contents(&mut v2);
    assert_eq!(got, live);
    for &k in model.written.iter() {
        if !live.contains_key(&k) {
            let mut buf = [0u8; 16];
            assert_eq!(v2.get(k, &mut buf), Err(Error::NotFound), "{k:#x}");
        }
    }
    assert!(!got.contains_key(&victim));
    assert!(!got.contains_key(&v1::MAIN_KEY));
    // Owners survive: the v2 value starts with the same owner header.
    let owned_keys = got
        .values()
        .filter(|v| v1::Owner::parse(v).is_some())
        .count();
    assert!(owned_keys > live.len() / 2);

    // And after a reboot of the v2 store.
    v2.reboot();
    v2.mount().expect("mount");
    assert_eq!(v2_contents(&mut v2), live);
}

#[test]
fn import_3_x_4096() {
    import_geometry::<4096>(3, 1);
}

#[test]
fn import_8_x_2048() {
    import_geometry::<2048>(8, 2);
}

#[test]
fn import_4_x_1024() {
    import_geometry::<1024>(4, 3);
}

/// Our version-2 mount on an untouched version-1 image: `V1Store`, and not
/// one byte programmed or erased.
#[test]
fn v2_mount_refuses_a_v1_image_and_changes_nothing() {
    for (regions, unit) in [(3usize, 4usize), (3, 1), (3, 16)] {
        let (image, _, _) = upstream_image::<4096>(regions, 9);
        let sim = SimFlash::from_image(
            flashsim::Geometry {
                region_size: 4096,
                region_count: regions,
                program_unit: unit,
                erase_value: 0xFF,
            },
            image.clone(),
        )
        .unwrap();
        let mut store = v2_store(sim, unit);
        assert_eq!(store.mount(), Err(Error::V1Store));
        // A second attempt, and the operations that need a mount, change
        // nothing either.
        assert_eq!(store.mount(), Err(Error::V1Store));
        assert_eq!(store.set(1, b"x"), Err(Error::NotMounted));
        let (_, flash, _) = store.into_parts();
        let counters = flash.0.counters();
        assert_eq!((counters.programs, counters.erases), (0, 0));
        assert_eq!(flash.0.image(), &image[..]);
        assert!(v1::is_v1_store(&image, 4096));
    }
}

/// `is_v1_store` on upstream, blank and version-2 images.
#[test]
fn v1_detection() {
    let (image, _, _) = upstream_image::<2048>(8, 4);
    assert!(v1::is_v1_store(&image, 2048));
    assert!(!v1::is_v1_store(&image, 3000));
    assert!(!v1::is_v1_store(&vec![0xFF; 8 * 2048], 2048));
    let mut v2 = fresh_v2(2048, 8);
    let (_, flash, _) = {
        v2.set(5, b"v2 value").unwrap();
        v2.into_parts()
    };
    assert!(!v1::is_v1_store(flash.0.image(), 2048));
    // Every version-2 region starts with its header (version byte 2).
    let items: Vec<Item> = v1::scan(flash.0.image(), 2048).collect();
    assert_eq!(items.len(), 8);
    assert!(items.iter().all(|i| matches!(
        i,
        Item::Damage(v1::Damage::BadVersion {
            offset: 0,
            byte: 2,
            ..
        })
    )));
}
