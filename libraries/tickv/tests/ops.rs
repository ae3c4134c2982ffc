//! Behaviour of every operation, its errors, and the engine's limits.

mod common;
use common::*;
use tickv::blocking::{Flash, Store};
use tickv::{Error, Io, Op, Output, Role, Step, TicKV, ValueBuf};

#[test]
fn engine_state_fits_in_512_bytes() {
    let size = core::mem::size_of::<TicKV>();
    println!("engine state: {size} bytes");
    assert!(size <= 512, "engine state is {size} bytes");
}

#[test]
fn set_get_overwrite_delete_and_persistence() {
    let g = geometry(4096, 4, 4);
    let mut s = formatted(g, 16);
    assert_eq!(read(&mut s, 1), None);
    s.set(1, b"one").unwrap();
    s.set(2, b"").unwrap();
    assert_eq!(read(&mut s, 1).unwrap(), b"one");
    assert_eq!(read(&mut s, 2).unwrap(), b"");
    s.set(1, b"uno").unwrap();
    assert_eq!(read(&mut s, 1).unwrap(), b"uno");
    s.delete(2).unwrap();
    assert_eq!(read(&mut s, 2), None);
    assert_eq!(s.delete(2), Err(Error::NotFound));
    s.reboot();
    assert_eq!(s.get(1, &mut [0; 8]), Err(Error::NotMounted));
    s.mount().unwrap();
    assert_eq!(read(&mut s, 1).unwrap(), b"uno");
    assert_eq!(read(&mut s, 2), None);
}

#[test]
fn add_and_update_semantics() {
    let mut s = formatted(geometry(4096, 4, 8), 16);
    assert_eq!(s.update(5, b"x"), Err(Error::NotFound));
    s.add(5, b"a").unwrap();
    assert_eq!(s.add(5, b"b"), Err(Error::AlreadyExists));
    assert_eq!(read(&mut s, 5).unwrap(), b"a");
    s.update(5, b"c").unwrap();
    assert_eq!(read(&mut s, 5).unwrap(), b"c");
    s.delete(5).unwrap();
    assert_eq!(s.update(5, b"d"), Err(Error::NotFound));
    s.add(5, b"e").unwrap();
    assert_eq!(read(&mut s, 5).unwrap(), b"e");
}

#[test]
fn keys_are_opaque_64_bit_values() {
    // 0 and all-ones are ordinary keys (upstream panics on them). Two
    // application keys with the same hash are, to the store, one key.
    let mut s = formatted(geometry(4096, 4, 4), 8);
    s.set(0, b"zero").unwrap();
    s.set(u64::MAX, b"max").unwrap();
    assert_eq!(read(&mut s, 0).unwrap(), b"zero");
    assert_eq!(read(&mut s, u64::MAX).unwrap(), b"max");
    s.set(0, b"alias").unwrap();
    assert_eq!(read(&mut s, 0).unwrap(), b"alias");
    assert_eq!(s.add(0, b"again"), Err(Error::AlreadyExists));
}

#[test]
fn short_buffer_gets_the_prefix_and_full_length_after_a_checked_read() {
    let mut s = formatted(geometry(4096, 4, 4), 8);
    s.set(9, b"0123456789").unwrap();
    let mut small = [0u8; 4];
    assert_eq!(s.get(9, &mut small), Ok(10));
    assert_eq!(&small, b"0123");
    // The checksum still covers the whole value: damage past the prefix is
    // reported even to a short read.
    let img = s.flash.0.image().to_vec();
    let pos = img.windows(10).position(|w| w == b"0123456789").unwrap();
    s.flash.0.flip_bit(pos + 8, 0);
    assert_eq!(s.get(9, &mut small), Err(Error::Corrupt));
}

/// The simulator, failing the test on any read that crosses a region's end.
struct InRegion(Sim, usize);

impl Flash for InRegion {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), tickv::FlashFault> {
        let last = addr + buf.len().max(1) - 1;
        assert_eq!(
            addr / self.1,
            last / self.1,
            "read of {} bytes at {addr:#x} crosses a region's end",
            buf.len()
        );
        self.0.read(addr, buf)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), tickv::FlashFault> {
        self.0.program(addr, data)
    }
    fn erase(&mut self, region: usize) -> Result<(), tickv::FlashFault> {
        self.0.erase(region)
    }
}

#[test]
fn a_get_of_the_record_last_read_or_written_reads_it_whole_at_once() {
    let g = geometry(8192, 4, 4);
    let mut s = formatted(g, 128);
    let value = |len: usize| (0..len).map(|i| (i * 7 + len) as u8).collect::<Vec<u8>>();
    let reads = |s: &mut Store<Sim>, key: usize| {
        let c0 = s.flash.0.counters();
        assert_eq!(read(s, key as u64).unwrap(), value(key), "{key}");
        let c = s.flash.0.counters().since(&c0);
        (c.reads, c.read_bytes)
    };
    for len in 0..=100usize {
        s.set(len as u64, &value(len)).unwrap();
        // Just written, so its length is known: the header and the value
        // in 64-byte reads (the scratch), no byte read twice.
        let whole = (16 + len as u64).div_ceil(64);
        assert_eq!(reads(&mut s, len), (whole, 16 + len as u64), "{len}");
        // And again, just read.
        assert_eq!(reads(&mut s, len), (whole, 16 + len as u64), "{len}");
    }
    for len in 0..=100usize {
        // Another key was read last: the header first, then the value.
        let value_reads = (len as u64).div_ceil(64);
        assert_eq!(
            reads(&mut s, len),
            (1 + value_reads, 16 + len as u64),
            "{len}"
        );
    }
    // A short output buffer gets the prefix and the full length, whether
    // the value came with the header's read or after it.
    for (len, room) in [(40, 4), (40, 40), (100, 30), (100, 60)] {
        for _ in 0..2 {
            let mut out = vec![0u8; room];
            assert_eq!(s.get(len as u64, &mut out), Ok(len));
            assert_eq!(out, value(len)[..room]);
        }
    }
}

#[test]
fn a_write_after_a_get_or_write_of_its_key_reads_nothing() {
    let g = geometry(4096, 4, 4);
    let mut s = formatted(g, 8);
    let reads = |s: &mut Store<Sim>, f: &mut dyn FnMut(&mut Store<Sim>)| {
        let c0 = s.flash.0.counters();
        f(s);
        s.flash.0.counters().since(&c0).reads
    };
    s.set(1, &[1; 20]).unwrap();
    s.set(2, &[2; 30]).unwrap();
    // Key 2 was written last: its old size is known.
    assert_eq!(reads(&mut s, &mut |s| s.set(2, &[2; 10]).unwrap()), 0);
    // Key 1's is read from its header (one 16-byte read).
    assert_eq!(reads(&mut s, &mut |s| s.set(1, &[1; 40]).unwrap()), 1);
    // After a get of key 2, nothing is read to overwrite it.
    assert_eq!(read(&mut s, 2).unwrap(), [2; 10]);
    assert_eq!(reads(&mut s, &mut |s| s.update(2, &[3; 50]).unwrap()), 0);
    assert_eq!(s.add(2, &[4; 1]), Err(Error::AlreadyExists));
    // The live byte count is the same as when every old header is read:
    // key 1's 56-byte record and key 2's 68-byte one.
    assert_eq!(s.stats().live_bytes, Some(56 + 68));
    // A value that fails its checksum keeps its size (its header would say
    // the same): the next write still reads nothing.
    let key2 = s
        .flash
        .0
        .image()
        .windows(8)
        .rposition(|w| w == 2u64.to_le_bytes());
    s.flash.0.flip_bit(key2.unwrap() + 10, 0);
    assert_eq!(s.get(2, &mut [0; 64]), Err(Error::Corrupt));
    assert_eq!(reads(&mut s, &mut |s| s.set(2, &[5; 8]).unwrap()), 0);
    assert_eq!(s.stats().live_bytes, Some(56 + 24));
    // After a delete there is no old value to read.
    s.delete(2).unwrap();
    assert_eq!(reads(&mut s, &mut |s| s.set(2, &[6; 8]).unwrap()), 0);
    // A mount applies the records in log order and knows the last one
    // (key 2's), not key 1's.
    s.reboot();
    s.mount().unwrap();
    assert_eq!(reads(&mut s, &mut |s| s.set(2, &[7; 8]).unwrap()), 0);
    assert_eq!(reads(&mut s, &mut |s| s.set(1, &[8; 40]).unwrap()), 1);
    assert_eq!(s.stats().live_bytes, Some(56 + 24));
    assert_eq!(read(&mut s, 1).unwrap(), [8; 40]);
    assert_eq!(read(&mut s, 2).unwrap(), [7; 8]);
}

#[test]
fn a_get_of_a_record_ending_its_region_reads_only_that_record() {
    let g = geometry(256, 4, 4);
    let mut s = Store::new(
        TicKV::new(g, leak(tickv::IndexEntry::default(), 8)).unwrap(),
        InRegion(sim(g), 256),
        leak(0u8, 64),
    );
    s.format().unwrap();
    // Records from offset 12: 212 bytes, then 32 that end exactly at the
    // region's end, so that fewer than 64 bytes (the scratch) are left
    // from the second.
    const LAST: u64 = 0xB0B0_B0B0_B0B0_B0B0;
    s.set(1, &[1; 196]).unwrap();
    s.set(LAST, &[2; 16]).unwrap();
    assert_eq!(s.stats().used_regions, 1);
    let mut out = [0u8; 200];
    assert_eq!(s.get(1, &mut out), Ok(196));
    assert_eq!(out[..196], [1; 196]);
    // After a get of another key, then after its own.
    for reads in [2, 1] {
        let c0 = s.flash.0 .0.counters();
        assert_eq!(s.get(LAST, &mut out), Ok(16));
        assert_eq!(out[..16], [2; 16]);
        let c = s.flash.0 .0.counters().since(&c0);
        assert_eq!((c.reads, c.read_bytes), (reads, 32));
    }
    let at = s
        .flash
        .0
         .0
        .image()
        .windows(8)
        .position(|w| w == LAST.to_le_bytes())
        .unwrap()
        - 4;
    assert_eq!(at % 256, 224);
    // Its header damaged to claim another length (the meta word still
    // checks): the first read is still the 32 bytes the engine knows of.
    // A shorter value is checked from what that read brought; a longer
    // one is read on past the region, as without that knowledge. Either
    // way the checksum fails, and nothing panics.
    for (claim, reads) in [(8u16, 1), (100, 3)] {
        let meta: u16 = (1 << 13) | claim;
        let img = s.flash.0 .0.image_mut();
        img[at..at + 2].copy_from_slice(&meta.to_be_bytes());
        img[at + 2..at + 4].copy_from_slice(&(!meta).to_be_bytes());
        let c0 = s.flash.0 .0.counters();
        assert_eq!(s.get(LAST, &mut out), Err(Error::Corrupt), "{claim}");
        let c = s.flash.0 .0.counters().since(&c0);
        assert_eq!(c.reads, reads, "{claim}");
    }
}

#[test]
fn damage_anywhere_in_a_record_read_in_one_request_is_caught() {
    let mut s = formatted(geometry(4096, 4, 4), 8);
    for (key, len) in [(1u64, 20usize), (2, 48), (3, 100)] {
        let v: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5A).collect();
        s.set(key, &v).unwrap();
        let at = s
            .flash
            .0
            .image()
            .windows(8)
            .position(|w| w == key.to_le_bytes())
            .unwrap()
            - 4;
        // Every byte of the record (header and value), one at a time: read
        // with the header (its length known from the last get); also with
        // an output buffer shorter than the value.
        for i in 0..16 + len {
            assert_eq!(read(&mut s, key).unwrap(), v);
            s.flash.0.flip_bit(at + i, 3);
            let mut out = vec![0u8; len];
            let c0 = s.flash.0.counters();
            assert_eq!(
                s.get(key, &mut out),
                Err(Error::Corrupt),
                "key {key}, byte {i}"
            );
            let reads = s.flash.0.counters().since(&c0).reads;
            assert!(
                reads <= (16 + len as u64).div_ceil(64),
                "key {key}, byte {i}"
            );
            let mut short = [0u8; 4];
            assert_eq!(
                s.get(key, &mut short),
                Err(Error::Corrupt),
                "key {key}, byte {i}"
            );
            s.flash.0.flip_bit(at + i, 3);
        }
    }
}

#[test]
fn value_size_limits() {
    for (region, unit) in [(4096, 4), (2048, 8), (256, 32), (65536, 1)] {
        let g = geometry(region, 4, unit);
        let mut s = formatted(g, 8);
        let max = s.kv.max_value_len();
        let expect = (region - 12usize.next_multiple_of(unit) - 16).min(8191);
        assert_eq!(max, expect, "region {region} unit {unit}");
        if region >= 4096 {
            assert!(max >= 2048);
        }
        let big = vec![0xA5; max];
        s.set(1, &big).unwrap();
        assert_eq!(read(&mut s, 1).unwrap(), big);
        assert_eq!(s.set(2, &vec![1; max + 1]), Err(Error::TooLarge));
        // Overwriting a maximal value needs compaction and still works.
        for i in 0..6u8 {
            s.set(1, &vec![i; max]).unwrap();
        }
        assert_eq!(read(&mut s, 1).unwrap(), vec![5u8; max]);
        s.reboot();
        s.mount().unwrap();
        assert_eq!(read(&mut s, 1).unwrap(), vec![5u8; max]);
    }
}

#[test]
fn argument_and_protocol_errors_change_nothing() {
    let g = geometry(4096, 4, 4);
    let mut s = formatted(g, 8);
    s.set(1, b"v").unwrap();
    let mut tiny = [0u8; 63];
    let mut kv = TicKV::new(g, &mut []).unwrap();
    fn io(scratch: &mut [u8]) -> Io<'_> {
        Io {
            scratch,
            value: ValueBuf::None,
        }
    }
    assert_eq!(
        kv.begin(Op::Mount, io(&mut tiny)),
        Step::Done(Err(Error::ScratchTooSmall))
    );
    let mut scratch = [0u8; 64];
    assert_eq!(
        kv.resume(io(&mut scratch), Ok(())),
        Step::Done(Err(Error::Protocol))
    );
    assert_eq!(
        kv.begin(Op::Get(1), io(&mut scratch)),
        Step::Done(Err(Error::NotMounted))
    );
    // Busy: a second begin while an operation waits for flash.
    let first = kv.begin(Op::Mount, io(&mut scratch));
    assert!(matches!(first, Step::Read { .. }));
    assert_eq!(
        kv.begin(Op::Format, io(&mut scratch)),
        Step::Done(Err(Error::Busy))
    );
    assert!(kv.busy());
    // A flash failure ends the operation and leaves the engine idle.
    assert_eq!(
        kv.resume(io(&mut scratch), Err(tickv::FlashFault)),
        Step::Done(Err(Error::Flash(tickv::FlashOp::Read)))
    );
    assert!(!kv.busy());
    // Wrong buffers.
    assert_eq!(s.run(Op::Get(1), ValueBuf::None), Err(Error::Invalid));
    assert_eq!(s.run(Op::Set(1), ValueBuf::None), Err(Error::Invalid));
    assert_eq!(
        s.run(Op::RegionInfo(4), ValueBuf::None),
        Err(Error::Invalid)
    );
    assert_eq!(read(&mut s, 1).unwrap(), b"v");
}

#[test]
fn mount_reports_blank_v1_and_foreign_geometry_without_writing() {
    let g = geometry(4096, 4, 4);
    let mut s = store(g, 8, 64, sim(g));
    assert_eq!(s.mount(), Err(Error::NotFormatted));
    // An upstream v1 store: byte 0 of each region is the object version 1.
    s.flash.0.image_mut()[..16].copy_from_slice(&[
        0x01, 0x80, 0x0f, 0x7b, 0xc9, 0xf7, 0xff, 0x4f, 0x76, 0xf2, 0x44, 0xbb, 0x32, 0x74, 0x1d,
        0xFF,
    ]);
    let before = s.flash.0.image().to_vec();
    let c0 = s.flash.0.counters();
    assert_eq!(s.mount(), Err(Error::V1Store));
    assert_eq!(s.flash.0.image(), &before[..]);
    let c = s.flash.0.counters().since(&c0);
    assert_eq!((c.programs, c.erases), (0, 0));
    // A store formatted for program unit 8 is not mounted as unit 4.
    let g8 = geometry(4096, 4, 8);
    let mut s8 = formatted(g8, 8);
    s8.set(1, b"x").unwrap();
    let img = s8.flash.0.image().to_vec();
    let mut s4 = store(g, 8, 64, sim(g));
    s4.flash.0.image_mut().copy_from_slice(&img);
    assert_eq!(s4.mount(), Err(Error::GeometryMismatch));
}

#[test]
fn get_with_index_reads_exactly_one_record_and_misses_read_nothing() {
    let g = geometry(4096, 16, 4);
    let mut s = formatted(g, 64);
    for k in 0..50u64 {
        s.set(k, &[k as u8; 32]).unwrap();
    }
    let c0 = s.flash.0.counters();
    assert_eq!(read(&mut s, 7).unwrap(), vec![7u8; 32]);
    let c = s.flash.0.counters().since(&c0);
    assert_eq!((c.reads, c.read_bytes), (2, 48), "one 48-byte record");
    // Read again, its length is known: header and value in one read.
    let c0 = s.flash.0.counters();
    assert_eq!(read(&mut s, 7).unwrap(), vec![7u8; 32]);
    let c = s.flash.0.counters().since(&c0);
    assert_eq!((c.reads, c.read_bytes), (1, 48), "one 48-byte record");
    let c0 = s.flash.0.counters();
    assert_eq!(read(&mut s, 1000), None);
    assert_eq!(s.flash.0.counters().since(&c0).reads, 0);
}

#[test]
fn without_an_index_everything_still_works() {
    let g = geometry(1024, 8, 4);
    let mut s = formatted(g, 0);
    let mut model = Model::new();
    let mut rng = Rng::new(3);
    for _ in 0..400 {
        let k = rng.below(20);
        if rng.chance(20) {
            let r = s.delete(k);
            assert_eq!(r.is_ok(), model.remove(&k).is_some());
        } else {
            let n = rng.below(60) as usize;
            let v = rng.bytes(n);
            s.set(k, &v).unwrap();
            model.insert(k, v);
        }
    }
    check_model(&mut s, &model);
    assert_eq!(s.stats().live_bytes, None);
    s.reboot();
    s.mount().unwrap();
    check_model(&mut s, &model);
}

#[test]
fn gc_full_reclaims_exactly_the_dead_bytes_and_then_nothing() {
    let g = geometry(4096, 8, 4);
    let mut s = formatted(g, 64);
    for round in 0..5u8 {
        for k in 0..40u64 {
            s.set(k, &[round; 20]).unwrap();
        }
    }
    for k in 0..10u64 {
        s.delete(k).unwrap();
    }
    let st = s.stats();
    let dead = st.reclaimable.unwrap();
    assert!(dead > 0);
    assert_eq!(s.gc_full().unwrap(), dead);
    assert_eq!(s.stats().reclaimable, Some(0));
    let c0 = s.flash.0.counters();
    assert_eq!(s.gc_full().unwrap(), 0);
    assert_eq!(s.gc_step().unwrap(), 0);
    assert_eq!(
        s.flash.0.counters().since(&c0).erases,
        0,
        "no garbage, no erase"
    );
    for k in 10..40u64 {
        assert_eq!(read(&mut s, k).unwrap(), vec![4u8; 20]);
    }
}

#[test]
fn secure_delete_leaves_no_copy_of_the_value_in_flash() {
    let g = geometry(1024, 8, 4);
    let mut s = formatted(g, 32);
    let secret = b"correct horse battery staple!!";
    let other = b"an unrelated value that stays!";
    s.set(1, secret).unwrap();
    s.set(2, other).unwrap();
    for i in 0..30u8 {
        s.set(3, &[i; 40]).unwrap();
    }
    s.set(1, secret).unwrap();
    let find = |img: &[u8], v: &[u8]| img.windows(v.len()).any(|w| w == v);
    s.delete(1).unwrap();
    assert!(find(s.flash.0.image(), secret), "plain delete only marks");
    s.set(1, secret).unwrap();
    s.secure_delete(1).unwrap();
    assert!(!find(s.flash.0.image(), secret), "secure delete erases");
    assert_eq!(read(&mut s, 1), None);
    assert_eq!(read(&mut s, 2).unwrap(), other);
    assert_eq!(s.secure_delete(1), Err(Error::NotFound));
    s.reboot();
    s.mount().unwrap();
    assert_eq!(read(&mut s, 1), None);
    assert_eq!(read(&mut s, 2).unwrap(), other);
}

#[test]
fn iteration_in_key_order_with_and_without_index() {
    for slots in [0, 3, 64] {
        let mut s = formatted(geometry(1024, 6, 2), slots);
        let mut model = Model::new();
        for k in [50u64, 3, 900, 7, 1 << 60, 0] {
            s.set(k, &k.to_le_bytes()).unwrap();
            model.insert(k, k.to_le_bytes().to_vec());
        }
        s.delete(7).unwrap();
        model.remove(&7);
        s.set(3, b"three").unwrap();
        model.insert(3, b"three".to_vec());
        check_model(&mut s, &model);
        let mut lens = Vec::new();
        s.for_each_key(|_, len| lens.push(len)).unwrap();
        assert_eq!(lens, vec![8, 5, 8, 8, 8]);
    }
}

#[test]
fn region_info_and_stats_describe_the_ring() {
    let g = geometry(1024, 6, 4);
    let mut s = formatted(g, 64);
    for k in 0..40u64 {
        s.set(k, &[1; 30]).unwrap();
    }
    let st = s.stats();
    assert_eq!(st.regions, 6);
    assert_eq!(st.keys, Some(40));
    assert_eq!(st.live_bytes, Some(40 * 48));
    assert_eq!(st.reclaimable, Some(0));
    assert_eq!(st.reserve_bytes, 1024 - 12);
    let mut roles = Vec::new();
    for r in 0..6 {
        let info = s.region_info(r).unwrap();
        assert!(matches!(info.header, tickv::HeaderState::Valid(h) if h.erase_count == 1));
        roles.push(info.role);
    }
    assert_eq!(roles.iter().filter(|r| **r == Role::Head).count(), 1);
    assert_eq!(
        roles.iter().filter(|r| **r != Role::Free).count(),
        st.used_regions
    );
    // Stats survive a remount.
    s.reboot();
    s.mount().unwrap();
    assert_eq!(s.stats(), st);
}

#[test]
fn full_store_says_no_space_and_recovers_after_deletes() {
    let g = geometry(1024, 4, 4);
    let mut s = formatted(g, 128);
    let mut n = 0u64;
    loop {
        match s.set(n, &[n as u8; 100]) {
            Ok(()) => n += 1,
            Err(Error::NoSpace) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    // 3 of 4 regions usable (one reserve), 116-byte records, 1008 usable bytes.
    assert_eq!(n, 3 * (1008 / 116));
    for k in 0..n {
        assert_eq!(read(&mut s, k).unwrap(), vec![k as u8; 100]);
    }
    for k in 0..n / 2 {
        s.delete(k).unwrap();
    }
    // Deleting made room: writes succeed again, each with at most one erase.
    for k in 100..100 + n / 3 {
        let c0 = s.flash.0.counters();
        s.set(k, &[7; 100]).unwrap();
        assert!(s.flash.0.counters().since(&c0).erases <= 1);
    }
    s.reboot();
    s.mount().unwrap();
    for k in n / 2..n {
        assert_eq!(read(&mut s, k).unwrap(), vec![k as u8; 100]);
    }
}

#[test]
fn scratch_size_changes_request_sizes_not_results() {
    let g = geometry(4096, 4, 4);
    let mut big = store(g, 8, 4096, sim(g));
    big.format().unwrap();
    let v: Vec<u8> = (0..3000).map(|i| i as u8).collect();
    big.set(1, &v).unwrap();
    big.set(2, b"two").unwrap();
    let c0 = big.flash.0.counters();
    assert_eq!(read(&mut big, 1).unwrap(), v);
    let c = big.flash.0.counters().since(&c0);
    assert_eq!(c.reads, 2, "header, then the whole value in one read");
    let c0 = big.flash.0.counters();
    assert_eq!(read(&mut big, 1).unwrap(), v);
    let c = big.flash.0.counters().since(&c0);
    assert_eq!(c.reads, 1, "the record just read, whole in one read");
    let img = big.flash.0.image().to_vec();
    let mut small: Store<Sim> = store(g, 8, 64, sim(g));
    small.flash.0.image_mut().copy_from_slice(&img);
    small.mount().unwrap();
    assert_eq!(read(&mut small, 1).unwrap(), v);
    let r = small.run(Op::Get(1), ValueBuf::Out(&mut [0u8; 3000]));
    assert_eq!(r, Ok(Output::Value { len: 3000 }));
}

#[test]
fn secure_delete_scrubs_copies_made_by_its_own_compaction() {
    // Fill sizes are swept so that, in some runs, the tombstone itself does
    // not fit and the compaction it triggers copies the secret forward.
    let secret = b"the secret value, 32 bytes long!";
    let find = |img: &[u8]| img.windows(secret.len()).any(|w| w == secret);
    let mut scrubbed_copies = 0;
    for regions in [2usize, 3] {
        for len in 40..=80usize {
            for filler in 0..16u64 {
                let mut s = formatted(geometry(1024, regions, 4), 32);
                s.set(1, secret).unwrap();
                for i in 0..filler {
                    s.set(2 + i % 3, &vec![i as u8; len]).unwrap();
                }
                let erases = s.flash.0.counters().erases;
                s.secure_delete(1).unwrap();
                assert!(
                    !find(s.flash.0.image()),
                    "{regions} regions, len {len}, filler {filler}"
                );
                assert_eq!(read(&mut s, 1), None);
                if s.flash.0.counters().erases > erases + 1 {
                    scrubbed_copies += 1;
                }
            }
        }
    }
    assert!(scrubbed_copies > 0);
}

#[test]
fn a_damaged_header_on_the_newest_region_never_panics() {
    let g = geometry(1024, 4, 4);
    for bit in 0..128 {
        let mut s = formatted(g, 32);
        for k in 0..40u64 {
            s.set(k % 9, &[k as u8; 50]).unwrap();
        }
        // Damage every region header in turn, the head's included.
        let region = (bit / 32) as usize;
        s.flash
            .0
            .flip_bit(region * 1024 + (bit % 16) as usize, (bit % 8) as u8);
        s.reboot();
        s.mount().unwrap();
        for k in 100..140u64 {
            match s.set(k, &[1; 50]) {
                Ok(()) | Err(Error::NoSpace) => {}
                Err(e) => panic!("bit {bit}: {e:?}"),
            }
        }
        s.reboot();
        s.mount().unwrap();
    }
}

#[test]
fn mount_rolls_back_only_a_head_made_of_copies() {
    // A record that exists nowhere else, placed in the reserve region, makes
    // flash look like a compaction cut while copying (no free region, an
    // intact tail). Mount must see that the head is not made of copies and
    // erase nothing.
    let g = geometry(1024, 3, 4);
    let mut donor = formatted(g, 8);
    donor.set(99, b"only here").unwrap();
    let record = donor.flash.0.image()[12..44].to_vec();
    let mut s = formatted(g, 32);
    for k in 0..20u64 {
        s.set(k, &[k as u8; 60]).unwrap();
    }
    let roles: Vec<Role> = (0..3).map(|r| s.region_info(r).unwrap().role).collect();
    let free = roles.iter().position(|r| *r == Role::Free).unwrap();
    assert_eq!(roles.iter().filter(|r| **r == Role::Free).count(), 1);
    s.flash.0.image_mut()[free * 1024 + 12..free * 1024 + 44].copy_from_slice(&record);
    let c0 = s.flash.0.counters();
    s.reboot();
    s.mount().unwrap();
    assert_eq!(
        s.flash.0.counters().since(&c0).erases,
        0,
        "mount erased data"
    );
    assert_eq!(read(&mut s, 99).unwrap(), b"only here");
    for k in 0..20u64 {
        assert_eq!(read(&mut s, k).unwrap(), vec![k as u8; 60]);
    }
}

#[test]
fn record_walk_lists_every_record_in_log_order() {
    let g = geometry(1024, 4, 4);
    let mut s = formatted(g, 32);
    for round in 0..3u8 {
        for k in 0..6u64 {
            s.set(k, &[round; 40]).unwrap();
        }
    }
    s.delete(5).unwrap();
    let walk = |s: &mut tickv::blocking::Store<Sim>| {
        let mut out = Vec::new();
        let mut at = None;
        while let Some((info, next)) = s.next_record(at).unwrap() {
            out.push(info);
            at = Some(next);
        }
        out
    };
    let recs = walk(&mut s);
    let st = s.stats();
    let total: usize = recs.iter().map(|r| r.extent).sum();
    assert_eq!(total, st.record_bytes, "the walk covers every record byte");
    let live: Vec<u64> = recs
        .iter()
        .filter(|r| r.live == Some(true))
        .map(|r| r.header.unwrap().key)
        .collect();
    assert_eq!(
        live,
        vec![0, 1, 2, 3, 4],
        "one live record per live key, in log order"
    );
    assert_eq!(
        recs.iter()
            .filter(|r| r.header.unwrap().kind == tickv::Kind::Tombstone)
            .count(),
        1
    );
    assert!(recs.iter().all(|r| r.crc_ok));
    // Damage shows up as a failed CRC at the damaged record.
    let victim = recs.iter().find(|r| r.live == Some(true)).unwrap();
    s.flash
        .0
        .flip_bit(victim.region * 1024 + victim.offset + 20, 3);
    let recs = walk(&mut s);
    let hit = recs
        .iter()
        .find(|r| r.region == victim.region && r.offset == victim.offset)
        .unwrap();
    assert!(!hit.crc_ok);
    assert_eq!(recs.iter().filter(|r| !r.crc_ok).count(), 1);
}
