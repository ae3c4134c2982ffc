//! Tests of the version-1 reader and importer.

extern crate std;

use super::*;
use crate::blocking::Flash;
use crate::{FlashFault, Geometry, TicKV};
use std::vec;
use std::vec::Vec;

/// "mykey" = "hello" with owner write id 0x1234 (doc/tickv-v1.md).
const MYKEY: [u8; 29] = [
    0x01, 0x80, 0x1d, 0x21, 0x9e, 0x0c, 0x95, 0x28, 0xeb, 0x43, 0x92, 0x00, 0x05, 0x00, 0x00, 0x00,
    0x34, 0x12, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x91, 0x51, 0xa9, 0xf6,
];
/// The main-key object.
const MAIN: [u8; 15] = [
    0x01, 0x80, 0x0f, 0x7b, 0xc9, 0xf7, 0xff, 0x4f, 0x76, 0xf2, 0x44, 0xbb, 0x32, 0x74, 0x1d,
];
const MYKEY_HASH: u64 = 0x219e_0c95_28eb_4392;

use flashsim::Rng;

/// 3 regions of 4096, as tockloader lays out the test vectors: "mykey"
/// in region 0, the main key in region 1.
fn vector_image() -> Vec<u8> {
    let mut img = vec![0xFF; 3 * 4096];
    img[..29].copy_from_slice(&MYKEY);
    img[4096..4096 + 15].copy_from_slice(&MAIN);
    img
}

fn objects(image: &[u8], region_size: usize) -> Vec<Object<'_>> {
    scan(image, region_size)
        .filter_map(|i| match i {
            Item::Object(o) => Some(o),
            Item::Damage(_) => None,
        })
        .collect()
}

fn damages(image: &[u8], region_size: usize) -> Vec<Damage> {
    scan(image, region_size)
        .filter_map(|i| match i {
            Item::Damage(d) => Some(d),
            Item::Object(_) => None,
        })
        .collect()
}

#[test]
fn reads_the_spec_test_vectors() {
    let img = vector_image();
    let objs = objects(&img, 4096);
    assert_eq!(objs.len(), 2);
    let o = objs[0];
    assert_eq!((o.region, o.offset), (0, 0));
    assert_eq!(o.hash, MYKEY_HASH);
    assert!(o.valid && o.crc_ok && !o.zeroised && o.is_live());
    assert_eq!(o.total_len, 29);
    assert_eq!(o.value.len(), 14);
    assert_eq!(
        o.owner,
        Some(Owner {
            version: 0,
            length: 5,
            write_id: 0x1234
        })
    );
    assert_eq!(o.payload(), b"hello");
    let m = objs[1];
    assert_eq!((m.region, m.offset, m.total_len), (1, 0, 15));
    assert!(m.is_main_key() && m.valid && m.crc_ok && !m.is_live());
    assert_eq!(m.value, b"");
    assert_eq!(m.owner, None);
    assert!(is_v1_store(&img, 4096));
    assert_eq!(home_region(MYKEY_HASH, 3), 0);
    assert_eq!(home_region(MAIN_KEY, 3), 1);
    assert_eq!(find(&img, 4096, MYKEY_HASH), Some(o));
    assert_eq!(find(&img, 4096, MAIN_KEY), None);
}

#[test]
fn encodes_the_spec_test_vectors() {
    let mut out = [0u8; 64];
    let mut value = Vec::from(Owner::new(5, 0x1234).encode());
    value.extend_from_slice(b"hello");
    assert_eq!(encode_object(MYKEY_HASH, &value, &mut out), Some(29));
    assert_eq!(out[..29], MYKEY);
    assert_eq!(encode_object(MAIN_KEY, b"", &mut out), Some(15));
    assert_eq!(out[..15], MAIN);
    assert_eq!(encode_object(1, &[0; MAX_VALUE + 1], &mut [0; 4096]), None);
    assert_eq!(encode_object(1, b"abc", &mut [0; 17]), None);
    assert_eq!(
        encode_object(1, &[7; MAX_VALUE], &mut [0; 4096]),
        Some(MAX_OBJECT)
    );
}

#[test]
fn probe_order_alternates_and_stays_in_range() {
    let order = |home: u64, n: usize| ProbeOrder::new(home, n).collect::<Vec<_>>();
    assert_eq!(order(0, 1), [0]);
    assert_eq!(order(0, 4), [0, 1, 2, 3]);
    assert_eq!(order(3, 4), [3, 2, 1, 0]);
    assert_eq!(order(2, 5), [2, 3, 1, 4, 0]);
    assert_eq!(order(1, 5), [1, 2, 0, 3, 4]);
    assert_eq!(order(5, 8), [5, 6, 4, 7, 3, 2, 1, 0]);
    // The home region comes from the low 16 bits.
    assert_eq!(order(0x1_0000 + 7, 8), [7, 6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(order(9, 0), Vec::<usize>::new());
    for n in 1..20 {
        for h in 0..n as u64 {
            let mut v = order(h, n);
            assert_eq!(v[0], h as usize);
            v.sort_unstable();
            assert_eq!(v, (0..n).collect::<Vec<_>>());
        }
    }
}

#[test]
fn deleted_objects_by_upstream_and_by_tockloader() {
    // Upstream clears the VALID bit and keeps the CRC.
    let mut img = vector_image();
    img[1] &= !FLAG_VALID;
    let o = objects(&img, 4096)[0];
    assert!(!o.valid && o.crc_ok && !o.is_live() && !o.zeroised);
    assert_eq!(o.owner.map(|w| w.write_id), Some(0x1234));
    assert_eq!(find(&img, 4096, MYKEY_HASH), None);
    // tockloader recomputes the CRC over the cleared header.
    let crc = Crc32::of(&img[..25]);
    img[25..29].copy_from_slice(&crc.to_le_bytes());
    let o = objects(&img, 4096)[0];
    assert!(!o.valid && o.crc_ok);
    // A valid object is checked against its header as stored only.
    img[1] |= FLAG_VALID;
    let o = objects(&img, 4096)[0];
    assert!(o.valid && !o.crc_ok && !o.is_live());
}

#[test]
fn zeroised_objects() {
    let mut img = vector_image();
    img[1] &= !FLAG_VALID;
    img[11..29].fill(0);
    let objs = objects(&img, 4096);
    let o = objs[0];
    assert!(!o.valid && o.zeroised && !o.crc_ok && !o.is_live());
    assert_eq!(o.owner, None);
    assert_eq!(o.value, &[0u8; 14][..]);
    assert_eq!(o.payload(), o.value);
    // The scan continues after it.
    assert_eq!(objs.len(), 2);
    // A zeroised main key.
    let mut img = vector_image();
    img[4097] &= !FLAG_VALID;
    img[4096 + 11..4096 + 15].fill(0);
    let m = objects(&img, 4096)[1];
    assert!(m.zeroised && !m.valid);
    assert!(!is_v1_store(&img, 4096));
}

#[test]
fn damaged_lengths_stop_the_region() {
    for (len, expect_bad) in [(0usize, true), (14, true), (0xFFF, true), (15, false)] {
        let mut img = vector_image();
        // A second object in region 0, then a damaged length.
        img[29..29 + 15].copy_from_slice(&MAIN);
        img[30] = 0x80 | (len >> 8) as u8;
        img[31] = len as u8;
        let items: Vec<Item> = scan(&img, 4096).collect();
        if expect_bad {
            assert_eq!(
                items[1],
                Item::Damage(Damage::BadLength {
                    region: 0,
                    offset: 29,
                    total_len: len
                })
            );
            // Region 1 is still read.
            assert!(matches!(items[2], Item::Object(o) if o.region == 1));
            assert_eq!(items.len(), 3);
        } else {
            assert!(matches!(items[1], Item::Object(o) if o.offset == 29 && o.crc_ok));
        }
    }
    let mut img = vector_image();
    img[29] = 0x02;
    assert_eq!(
        damages(&img, 4096),
        [Damage::BadVersion {
            region: 0,
            offset: 29,
            byte: 2
        }]
    );
    // Damage at offset 0 of a region hides the whole region.
    let mut img = vector_image();
    img[0] = 0;
    assert_eq!(objects(&img, 4096).len(), 1);
    assert!(is_v1_store(&img, 4096));
    img[4096] = 0x11;
    assert!(!is_v1_store(&img, 4096));
    assert_eq!(damages(&img, 4096).len(), 2);
    assert_eq!(damages(&img, 4096)[1].region(), 1);
    assert_eq!(damages(&img, 4096)[1].offset(), 0);
}

#[test]
fn truncation_at_the_region_end() {
    let rs = 64;
    let mut img = vec![0xFF; 2 * rs];
    // An object ending exactly at the region end is fine.
    let n = encode_object(5, &[1; 64 - 15], &mut img[..]).unwrap();
    assert_eq!(n, 64);
    assert_eq!(objects(&img, rs).len(), 1);
    // One that would end 1..=3 bytes past it (what upstream's off-by-
    // three room check could attempt) is truncated.
    let mut obj = [0u8; 80];
    let n = encode_object(5, &[1; 30], &mut obj).unwrap();
    for cut in 1..=3 {
        let mut img = vec![0xFF; 2 * rs];
        let at = rs - n + cut;
        img[at..rs].copy_from_slice(&obj[..n - cut]);
        // One object before it, so that the scan gets there.
        encode_object(9, &vec![3; at - 15], &mut img[..at]).unwrap();
        let d = damages(&img, rs);
        assert_eq!(
            d,
            [Damage::Truncated {
                region: 0,
                offset: at,
                total_len: n
            }]
        );
    }
    // Header cut after the version byte or after the first length byte.
    for tail in 1..=2 {
        let mut img = vec![0xFF; 2 * rs];
        img[rs - tail] = VERSION;
        if tail == 2 {
            img[rs - 1] = 0x80;
        }
        let at = rs - tail;
        // Fill the region before with one object so the scan gets there.
        encode_object(9, &vec![3; at - 15], &mut img[..at]).unwrap();
        assert_eq!(
            damages(&img, rs),
            [Damage::Truncated {
                region: 0,
                offset: at,
                total_len: 0
            }]
        );
    }
}

#[test]
fn geometry_that_does_not_fit_yields_nothing() {
    let img = vector_image();
    assert_eq!(scan(&img, 0).count(), 0);
    assert_eq!(scan(&img, 5000).count(), 0);
    assert_eq!(scan(&[], 4096).count(), 0);
    assert!(!is_v1_store(&img, 0));
    assert!(!is_v1_store(&img, 5000));
    assert_eq!(find(&img, 0, MYKEY_HASH), None);
    // Another divisor still parses, region by region.
    assert_eq!(scan(&img, 1024).count(), 2);
    assert_eq!(scan_region(&img, 4096, 1).count(), 1);
    assert_eq!(scan_region(&img, 4096, 3).count(), 0);
}

#[test]
fn non_owner_values() {
    let mut img = vec![0xFF; 256];
    // Too short, wrong version, wrong length.
    let n1 = encode_object(10, &[0; 8], &mut img).unwrap();
    let n2 = encode_object(11, &[1, 0, 0, 0, 0, 0, 0, 0, 0], &mut img[n1..]).unwrap();
    let n3 = encode_object(12, &[0, 2, 0, 0, 0, 9, 9, 9, 9, 1], &mut img[n1 + n2..]).unwrap();
    encode_object(
        13,
        &[0, 1, 0, 0, 0, 9, 9, 9, 9, 1],
        &mut img[n1 + n2 + n3..],
    )
    .unwrap();
    let objs = objects(&img, 256);
    assert_eq!(objs.len(), 4);
    assert_eq!(objs[0].owner, None);
    assert_eq!(objs[1].owner, None);
    assert_eq!(objs[2].owner, None);
    assert_eq!(objs[2].payload(), objs[2].value);
    assert_eq!(objs[3].owner, Some(Owner::new(1, 0x0909_0909)));
    assert_eq!(objs[3].payload(), &[1]);
}

/// Appends an object of `hash` at the end of `region`'s objects.
fn put(img: &mut [u8], rs: usize, region: usize, hash: u64, value: &[u8]) -> usize {
    let base = region * rs;
    let end = objects(img, rs)
        .iter()
        .filter(|o| o.region == region)
        .map(|o| o.end())
        .max()
        .unwrap_or(0);
    encode_object(hash, value, &mut img[base + end..base + rs]).unwrap();
    end
}

#[test]
fn duplicates_resolve_in_probe_order() {
    let rs = 256;
    let mut img = vec![0xFF; 4 * rs];
    let h = 0x1_0002; // home region 2 of 4; order 2, 3, 1, 0
    put(&mut img, rs, 0, h, b"in 0");
    put(&mut img, rs, 1, h, b"in 1");
    put(&mut img, rs, 3, h, b"in 3");
    assert_eq!(find(&img, rs, h).unwrap().value, b"in 3");
    let off = put(&mut img, rs, 2, h, b"home");
    put(&mut img, rs, 2, h, b"home, later");
    assert_eq!(find(&img, rs, h).unwrap().value, b"home");
    // Deleting the home copy makes region 3 win; corrupting it, region 1.
    img[2 * rs + off + 1] &= !FLAG_VALID;
    assert_eq!(find(&img, rs, h).unwrap().value, b"home, later");
    let later = off + 15 + 4;
    img[2 * rs + later + 1] &= !FLAG_VALID;
    assert_eq!(find(&img, rs, h).unwrap().value, b"in 3");
    img[3 * rs + 12] ^= 1;
    assert_eq!(find(&img, rs, h).unwrap().value, b"in 1");
}

/// A RAM flash for the import tests (programming only clears bits).
struct Ram {
    bytes: Vec<u8>,
    region: usize,
}

impl Flash for Ram {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        let src = self.bytes.get(addr..addr + buf.len()).ok_or(FlashFault)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
        let dst = self
            .bytes
            .get_mut(addr..addr + data.len())
            .ok_or(FlashFault)?;
        for (d, s) in dst.iter_mut().zip(data) {
            *d &= *s;
        }
        Ok(())
    }
    fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
        let r = self.region;
        self.bytes
            .get_mut(region * r..(region + 1) * r)
            .ok_or(FlashFault)?
            .fill(0xFF);
        Ok(())
    }
}

fn with_v2_store<T>(
    region_size: usize,
    regions: usize,
    f: impl FnOnce(&mut Store<'_, '_, Ram>) -> T,
) -> T {
    let g = Geometry {
        region_size,
        region_count: regions,
        program_unit: 4,
    };
    let mut index = vec![crate::IndexEntry::default(); 64];
    let mut scratch = vec![0u8; 256];
    let kv = TicKV::new(g, &mut index).unwrap();
    let ram = Ram {
        bytes: vec![0xFF; region_size * regions],
        region: region_size,
    };
    let mut store = Store::new(kv, ram, &mut scratch);
    store.format().unwrap();
    f(&mut store)
}

fn get(store: &mut Store<'_, '_, Ram>, key: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match store.get(key, &mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(Error::NotFound) => None,
        Err(e) => panic!("get: {e:?}"),
    }
}

#[test]
fn import_counts_every_kind_of_object() {
    let rs = 256;
    let mut img = vec![0xFF; 4 * rs];
    put(&mut img, rs, 0, MAIN_KEY, b"");
    let dup = 0x1_0002;
    put(&mut img, rs, 2, dup, b"new");
    put(&mut img, rs, 3, dup, b"old");
    put(&mut img, rs, 1, 0x21, b"plain");
    let del = put(&mut img, rs, 1, 0x31, b"deleted");
    img[rs + del + 1] &= !FLAG_VALID;
    let bad = put(&mut img, rs, 1, 0x41, b"corrupt");
    img[rs + bad + 12] ^= 0x40;
    put(&mut img, rs, 3, 0x51, b"last");
    let z = put(&mut img, rs, 3, 0x61, b"zeroised");
    img[3 * rs + z + 1] &= !FLAG_VALID;
    img[3 * rs + z + 11..3 * rs + z + 15 + 8].fill(0);
    // Damage after one object of region 0 hides what follows.
    let after = put(&mut img, rs, 0, 0x71, b"fine");
    img[after + 19] = 0x33;
    img[after + 20..after + 40].fill(0x44);
    with_v2_store(1024, 4, |store| {
        let report = import(&img, rs, store).unwrap();
        assert_eq!(
            report,
            ImportReport {
                imported: 4,
                deleted: 2,
                corrupt: 1,
                damaged_regions: 1,
                duplicates: 1,
            }
        );
        assert_eq!(get(store, dup).as_deref(), Some(&b"new"[..]));
        assert_eq!(get(store, 0x21).as_deref(), Some(&b"plain"[..]));
        assert_eq!(get(store, 0x51).as_deref(), Some(&b"last"[..]));
        assert_eq!(get(store, 0x71).as_deref(), Some(&b"fine"[..]));
        for k in [0x31, 0x41, 0x61, MAIN_KEY] {
            assert_eq!(get(store, k), None);
        }
        // Importing again changes nothing visible.
        assert_eq!(import(&img, rs, store).unwrap(), report);
        assert_eq!(import(&img, 100, store), Err(Error::Invalid));
        assert_eq!(import(&img, 0, store), Err(Error::Invalid));
    });
}

#[test]
fn import_refuses_values_the_store_cannot_hold_before_writing() {
    let rs = 4096;
    let mut img = vec![0xFF; 2 * rs];
    put(&mut img, rs, 0, 0x10, b"small");
    put(&mut img, rs, 1, 0x11, &[5; 1000]);
    with_v2_store(256, 8, |store| {
        let max = store.kv.max_value_len();
        assert!(max < 1000);
        assert_eq!(import(&img, rs, store), Err(Error::TooLarge));
        assert_eq!(get(store, 0x10), None);
    });
}

#[test]
fn import_of_an_empty_image() {
    with_v2_store(1024, 4, |store| {
        assert_eq!(import(&[], 4096, store), Ok(ImportReport::default()));
        let blank = vec![0xFF; 8192];
        assert_eq!(import(&blank, 4096, store), Ok(ImportReport::default()));
    });
}

#[test]
fn random_images_never_panic() {
    let mut rng = Rng::new(0x5EED_1234_ABCD_0001);
    let mut seen_objects = 0usize;
    let mut seen_damage = 0usize;
    for round in 0..3000 {
        let rs = [16usize, 64, 100, 256][rng.index(4)];
        let regions = 1 + rng.index(4);
        let mut img = vec![0xFF; rs * regions];
        match round % 3 {
            // Pure noise.
            0 => img.iter_mut().for_each(|b| *b = rng.next() as u8),
            // Plausible objects with random damage.
            _ => {
                for r in 0..regions {
                    let mut at = 0;
                    while at + 15 <= rs && rng.index(8) != 0 {
                        let len = rng.index(40);
                        let value: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                        let hash = if rng.index(4) == 0 {
                            MAIN_KEY
                        } else {
                            rng.next() % 8
                        };
                        let region = &mut img[r * rs..(r + 1) * rs];
                        match encode_object(hash, &value, &mut region[at..]) {
                            Some(n) => at += n,
                            None => break,
                        }
                    }
                }
                for _ in 0..rng.index(4) {
                    let i = rng.index(img.len());
                    img[i] = rng.next() as u8;
                }
            }
        }
        let size = if rng.index(10) == 0 {
            rng.index(300)
        } else {
            rs
        };
        for item in scan(&img, size) {
            match item {
                Item::Object(o) => {
                    seen_objects += 1;
                    assert!(o.end() <= size);
                    assert_eq!(o.value.len() + MIN_OBJECT, o.total_len);
                    let _ = (o.payload(), o.is_live());
                }
                Item::Damage(_) => seen_damage += 1,
            }
        }
        let _ = is_v1_store(&img, size);
        for h in 0..8 {
            if let Some(o) = find(&img, size, h) {
                assert!(o.is_live() && o.hash == h);
            }
        }
        if round % 50 == 0 {
            with_v2_store(1024, 4, |store| {
                let _ = import(&img, size, store);
            });
        }
    }
    assert!(seen_objects > 1000 && seen_damage > 1000);
}
