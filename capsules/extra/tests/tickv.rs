//! The TicKV capsule at the KVSystem level: mounting (blank, formatted,
//! version-1, foreign and damaged flash), every operation and its error
//! codes, deferred completions, flash refusals and the mux underneath.

mod tickv_support;

use capsules_core::siphash::tickv_key;
use capsules_extra::tickv::{error_code, Config, KVSystemExt, StoreState, TicKVSystem};
use flashsim::{SimFlash, Snapshot};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::kv::KVSystem;
use kernel::ErrorCode;
use kernel_mock::flash::{MockFlash, MockOp};
use kernel_mock::leak;
use tickv::{Error, FlashOp};
use tickv_support::{
    as_request, buf, check_flash, key_buf, sys_key, Done, Opts, Stack, Window, GEOMETRY,
};

fn opts(format_if_blank: bool) -> Opts {
    Opts {
        config: Config {
            region_count: None,
            format_if_blank,
        },
        ..Opts::default()
    }
}

fn key(name: &[u8]) -> &'static mut [u8; 8] {
    Box::leak(Box::new(tickv_key(name).to_be_bytes()))
}

fn append(s: &Stack, name: &[u8], value: &[u8]) -> Result<Done, ErrorCode> {
    s.call(|| {
        s.tickv
            .append_key(key(name), buf(value, 0, 0))
            .map_err(|(_, _, c)| c)
    })
}

fn set(s: &Stack, name: &[u8], value: &[u8]) -> Result<Done, ErrorCode> {
    s.call(|| {
        s.tickv
            .set_value(key(name), buf(value, 0, 0))
            .map_err(|(_, _, c)| c)
    })
}

fn update(s: &Stack, name: &[u8], value: &[u8]) -> Result<Done, ErrorCode> {
    s.call(|| {
        s.tickv
            .update_value(key(name), buf(value, 0, 0))
            .map_err(|(_, _, c)| c)
    })
}

fn get(s: &Stack, name: &[u8], cap: usize) -> Result<Done, ErrorCode> {
    s.call(|| {
        s.tickv
            .get_value(key(name), buf(&vec![0; cap], 5, 5))
            .map_err(|(_, _, c)| c)
    })
}

fn invalidate(s: &Stack, name: &[u8]) -> Result<Done, ErrorCode> {
    s.call(|| s.tickv.invalidate_key(key(name)).map_err(|(_, c)| c))
}

fn all_erased(s: &Stack) -> bool {
    s.flash.sim().image().iter().all(|&b| b == 0xFF)
}

/// A version-1 (upstream) store image: the main key, then "mykey".
fn v1_image() -> Snapshot {
    let mut sim = SimFlash::new(GEOMETRY);
    let image = sim.image_mut();
    let n = tickv::v1::encode_object(tickv::v1::MAIN_KEY, &[], image).unwrap();
    tickv::v1::encode_object(tickv_key(b"mykey"), b"hello", &mut image[n..]).unwrap();
    assert!(tickv::v1::is_v1_store(sim.image(), GEOMETRY.region_size));
    sim.snapshot()
}

#[test]
fn blank_flash_without_the_format_option_is_no_device() {
    let s = Stack::new(opts(false), None);
    s.direct();
    // The first request is accepted and runs after the mount, which fails.
    let d = get(&s, b"mykey", 8).unwrap();
    assert_eq!(d.result(), Err(ErrorCode::NODEVICE));
    assert_eq!(s.tickv.state(), StoreState::Failed(Error::NotFormatted));
    assert_eq!(s.rec.mounts.take(), [Err(ErrorCode::NODEVICE)]);
    // Later requests are refused at once.
    assert_eq!(get(&s, b"mykey", 8), Err(ErrorCode::NODEVICE));
    assert_eq!(append(&s, b"k", b"v"), Err(ErrorCode::NODEVICE));
    assert_eq!(
        s.call(|| s.tickv.garbage_collect()),
        Err(ErrorCode::NODEVICE)
    );
    // Nothing was written.
    assert!(s
        .flash
        .log()
        .iter()
        .all(|op| matches!(op, MockOp::Read { .. })));
    assert!(all_erased(&s));
    check_flash(&s);
}

#[test]
fn blank_flash_is_formatted_when_asked_and_only_after_reading_it_all() {
    let s = Stack::new(opts(true), None);
    assert_eq!(s.tickv.state(), StoreState::Unmounted);
    assert_eq!(s.mount(), Ok(()));
    assert_eq!(s.tickv.state(), StoreState::Mounted);
    assert_eq!(s.tickv.init(), Err(ErrorCode::ALREADY));
    let log = s.flash.log();
    let first_erase = log
        .iter()
        .position(|op| matches!(op, MockOp::Erase { .. }))
        .unwrap();
    let read: usize = log[..first_erase]
        .iter()
        .map(|op| match op {
            MockOp::Read { len, .. } => *len,
            _ => 0,
        })
        .sum();
    assert!(
        read >= GEOMETRY.region_size * GEOMETRY.region_count,
        "{read}"
    );
    let erases = log
        .iter()
        .filter(|op| matches!(op, MockOp::Erase { .. }))
        .count();
    assert_eq!(erases, GEOMETRY.region_count);
    s.direct();
    append(&s, b"mykey", b"hello").unwrap();
    let d = get(&s, b"mykey", 16).unwrap();
    assert_eq!(
        d,
        Done::Value {
            result: Ok(()),
            data: b"hello".to_vec(),
            len: 5,
            buf: Window(5, 16, 26)
        }
    );
    check_flash(&s);
}

/// Blank but for one byte at `at`, which is `value`.
fn nearly_blank(at: usize, value: u8) -> Snapshot {
    let mut sim = SimFlash::new(GEOMETRY);
    sim.image_mut()[at] = value;
    sim.snapshot()
}

#[test]
fn one_foreign_byte_anywhere_stops_the_format_with_reads_split_or_at_once() {
    let size = GEOMETRY.region_size * GEOMETRY.region_count;
    for now in [false, true] {
        for at in [0, 1, size / 2 + 3, size - 5, size - 1] {
            for value in [0x00, 0x7F, 0xFE] {
                let image = nearly_blank(at, value);
                let s = Stack::new(opts(true), Some(&image));
                s.flash.set_read_now(now);
                assert_eq!(s.mount(), Err(ErrorCode::NODEVICE), "{now} {at}");
                assert_eq!(s.tickv.state(), StoreState::Failed(Error::NotFormatted));
                assert!(
                    s.flash
                        .log()
                        .iter()
                        .all(|op| matches!(op, MockOp::Read { .. })),
                    "{now} {at}: wrote"
                );
                assert_eq!(s.flash.sim().image(), image.image(), "{now} {at}");
            }
        }
    }
}

#[test]
fn blank_flash_read_at_once_is_formatted_and_works() {
    let s = Stack::new(opts(true), None);
    s.flash.set_read_now(true);
    assert_eq!(s.mount(), Ok(()));
    let stats = s.flash.stats();
    // Every read was done at once (none waited for a callback).
    assert_eq!(stats.completed, stats.accepted);
    assert!(stats.reads >= (GEOMETRY.region_count * GEOMETRY.region_size / 64) as u64);
    s.direct();
    append(&s, b"mykey", b"hello").unwrap();
    assert_eq!(get(&s, b"mykey", 16).unwrap().result(), Ok(()));
    check_flash(&s);
    // Mounted again, with reads at once.
    let again = Stack::new(opts(false), Some(&s.flash.snapshot()));
    again.flash.set_read_now(true);
    assert_eq!(again.mount(), Ok(()));
    again.direct();
    assert_eq!(get(&again, b"mykey", 16).unwrap().result(), Ok(()));
}

#[test]
fn the_index_is_built_in_the_background_after_the_lazy_mount() {
    let s = Stack::new(opts(true), None);
    assert_eq!(s.mount(), Ok(()));
    s.direct();
    // A key written once, then two versions of 12 keys: several regions,
    // old versions in old ones.
    append_or_set(&s, b"first", &[7; 20]);
    for round in 0..2u8 {
        for k in 0..12u8 {
            append_or_set(&s, &[b'k', k], &[round; 20]);
        }
    }
    let image = s.flash.snapshot();
    let t = Stack::new(opts(false), Some(&image));
    as_request(|| t.tickv.init().unwrap());
    while t.rec.mounts.borrow().is_empty() {
        assert!(t.calls.service_next(), "the mount never ended");
    }
    assert_eq!(t.rec.mounts.take(), [Ok(())]);
    // Mounted with the newest region indexed; the rest is still to come.
    assert_eq!(t.tickv.state(), StoreState::Mounted);
    assert_eq!(t.tickv.stats().map(|st| st.keys), Some(None));
    // Gets right away (one of a key in the oldest region, which only a
    // search of the part not yet indexed finds) answer, exactly once each.
    t.direct();
    assert_eq!(value_of(get(&t, b"first", 32)), [7; 20]);
    assert_eq!(value_of(get(&t, &[b'k', 0], 32)), [1; 20]);
    // Once the deferred calls are done, so is the index, and the build
    // wrote nothing.
    t.settle();
    assert_eq!(t.tickv.stats().map(|st| st.keys), Some(Some(13)));
    assert!(t
        .flash
        .log()
        .iter()
        .all(|op| matches!(op, MockOp::Read { .. })));
    for k in 0..12u8 {
        assert_eq!(value_of(get(&t, &[b'k', k], 32)), [1; 20]);
    }
}

/// The value a successful get returned.
fn value_of(done: Result<Done, ErrorCode>) -> Vec<u8> {
    match done {
        Ok(Done::Value {
            result: Ok(()),
            data,
            ..
        }) => data,
        other => panic!("get: {other:?}"),
    }
}

#[test]
fn a_walk_waits_for_the_index_and_fails_once_on_a_flash_error() {
    let s = Stack::new(opts(true), None);
    assert_eq!(s.mount(), Ok(()));
    s.direct();
    for k in 0..30u8 {
        append_or_set(&s, &[b'w', k], &[k; 20]);
    }
    let image = s.flash.snapshot();
    let walk = |t: &Stack, after: Option<u64>| {
        t.call(|| {
            t.tickv
                .next_item(after, buf(&[0; 4], 0, 0))
                .map_err(|(_, c)| c)
        })
    };
    // A walk right after the lazy mount waits for the whole index, then
    // lists every key.
    let t = Stack::new(opts(false), Some(&image));
    assert_eq!(t.mount(), Ok(()));
    t.direct();
    let mut after = None;
    let mut keys = 0;
    while let Ok(Done::Next(Ok(Some((key, len))))) = walk(&t, after) {
        assert_eq!(len, 20);
        after = Some(key);
        keys += 1;
    }
    assert_eq!(keys, 30);
    // The same with the next read refused while the index is built: the
    // walk fails, with exactly one callback, and the store goes on.
    let t = Stack::new(opts(false), Some(&image));
    as_request(|| t.tickv.init().unwrap());
    while t.rec.mounts.borrow().is_empty() {
        assert!(t.calls.service_next(), "the mount never ended");
    }
    assert_eq!(t.tickv.stats().map(|st| st.keys), Some(None));
    t.direct();
    t.flash.reject_next(ErrorCode::FAIL);
    assert_eq!(walk(&t, None).unwrap(), Done::Next(Err(ErrorCode::FAIL)));
    assert_eq!(value_of(get(&t, &[b'w', 0], 32)), [0; 20]);
    assert!(matches!(walk(&t, None), Ok(Done::Next(Ok(Some(_))))));
}

/// A format asked for while a step of the background index build waits on
/// the flash answers BUSY and leaves the store working (the engine would
/// refuse the format, and the store would have failed until remounted).
#[test]
fn a_format_during_a_step_of_the_index_build_is_busy() {
    let s = Stack::new(opts(true), None);
    assert_eq!(s.mount(), Ok(()));
    s.direct();
    for k in 0..30u8 {
        append_or_set(&s, &[b'f', k], &[k; 20]);
    }
    let image = s.flash.snapshot();
    let t = Stack::new(opts(false), Some(&image));
    as_request(|| t.tickv.init().unwrap());
    while t.rec.mounts.borrow().is_empty() {
        assert!(t.calls.service_next(), "the mount never ended");
    }
    t.direct();
    // The build's next step starts from a deferred call and reads
    // split-phase: run until its read is in flight.
    while !t.flash.busy() {
        assert!(t.calls.service_next(), "no build step started");
    }
    assert!(!t.tickv.busy(), "no client operation runs");
    assert_eq!(as_request(|| t.tickv.format()), Err(ErrorCode::BUSY));
    t.settle();
    assert_eq!(t.tickv.state(), StoreState::Mounted);
    assert_eq!(value_of(get(&t, &[b'f', 7], 32)), [7; 20]);
}

fn append_or_set(s: &Stack, name: &[u8], value: &[u8]) {
    assert_eq!(set(s, name, value).unwrap().result(), Ok(()));
}

#[test]
fn the_first_request_waits_for_the_mount() {
    let s = Stack::new(opts(true), None);
    s.direct();
    // No init: the request starts the mount (and the format) and runs after.
    let before = s.rec.done.borrow().len();
    let mut k = Some(key(b"a"));
    let mut v = Some(buf(b"one", 0, 0));
    as_request(|| {
        s.tickv
            .append_key(k.take().unwrap(), v.take().unwrap())
            .map_err(|(_, _, c)| c)
            .unwrap();
        assert_eq!(s.tickv.state(), StoreState::Mounting);
        // One operation at a time, even while it waits.
        assert_eq!(
            s.tickv
                .get_value(key(b"a"), buf(&[0; 4], 0, 0))
                .map_err(|(_, _, c)| c),
            Err(ErrorCode::BUSY)
        );
        assert_eq!(s.tickv.garbage_collect(), Err(ErrorCode::BUSY));
    });
    s.settle();
    assert_eq!(s.rec.done.borrow().len(), before + 1);
    assert_eq!(s.rec.done.borrow_mut().pop().unwrap().result(), Ok(()));
    assert_eq!(s.rec.mounts.take(), [Ok(())]);
    assert_eq!(get(&s, b"a", 3).unwrap().result(), Ok(()));
    check_flash(&s);
}

#[test]
fn generate_key_hashes_the_window() {
    let s = Stack::new(opts(true), None);
    s.direct();
    let d = sys_key(&s, buf(b"mykey", 3, 4)).unwrap();
    assert_eq!(
        d,
        Done::Key(
            Ok(()),
            Window(3, 5, 12),
            0x219e_0c95_28eb_4392u64.to_be_bytes()
        )
    );
    // Hashing started the mount in the background.
    assert_eq!(s.tickv.state(), StoreState::Mounted);
    let empty = buf(b"", 2, 2);
    assert_eq!(sys_key(&s, empty), Err(ErrorCode::INVAL));
    let long: Vec<u8> = (0..200u8).collect();
    let d = sys_key(&s, buf(&long, 0, 0)).unwrap();
    assert_eq!(
        d,
        Done::Key(Ok(()), Window(0, 200, 200), tickv_key(&long).to_be_bytes())
    );
}

#[test]
fn operations_and_error_codes() {
    let s = Stack::new(opts(true), None);
    s.mount().unwrap();
    s.direct();
    assert_eq!(
        append(&s, b"k1", b"first").unwrap(),
        Done::Append(Ok(()), Window(0, 5, 5))
    );
    assert_eq!(
        append(&s, b"k1", b"again").unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(
        get(&s, b"nope", 8).unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(
        invalidate(&s, b"nope").unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(
        update(&s, b"nope", b"x").unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(set(&s, b"k1", b"second").unwrap().result(), Ok(()));
    assert_eq!(update(&s, b"k1", b"third!").unwrap().result(), Ok(()));
    // A short buffer: SIZE, the prefix, the full length.
    assert_eq!(
        get(&s, b"k1", 4).unwrap(),
        Done::Value {
            result: Err(ErrorCode::SIZE),
            data: b"thir".to_vec(),
            len: 6,
            buf: Window(5, 4, 14)
        }
    );
    assert_eq!(invalidate(&s, b"k1").unwrap().result(), Ok(()));
    assert_eq!(
        get(&s, b"k1", 8).unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    // Too large: refused at once.
    let max = s.tickv.max_value_len();
    assert!(max > 100);
    assert_eq!(append(&s, b"big", &vec![1; max + 1]), Err(ErrorCode::SIZE));
    assert_eq!(set(&s, b"big", &vec![1; max]).unwrap().result(), Ok(()));
    // An empty value is a value.
    assert_eq!(set(&s, b"empty", b"").unwrap().result(), Ok(()));
    assert_eq!(get(&s, b"empty", 4).unwrap().result(), Ok(()));
    // Garbage collection reports what it freed.
    match s.call(|| s.tickv.garbage_collect()).unwrap() {
        Done::SysGc(Ok(()), freed) => assert!(freed > 0, "{freed}"),
        other => panic!("{other:?}"),
    }
    check_flash(&s);
}

#[test]
fn a_full_store_is_nomem_and_no_gc_is_run_for_it() {
    let s = Stack::new(opts(true), None);
    s.mount().unwrap();
    s.direct();
    let value = [7u8; 100];
    let mut n = 0u32;
    let code = loop {
        let name = n.to_le_bytes();
        match append(&s, &name, &value).unwrap().result() {
            Ok(()) => n += 1,
            Err(code) => break code,
        }
        assert!(n < 1000);
    };
    assert_eq!(code, ErrorCode::NOMEM);
    // Everything written is still there, and the store keeps working.
    for i in 0..n {
        assert_eq!(get(&s, &i.to_le_bytes(), 100).unwrap().result(), Ok(()));
    }
    assert_eq!(
        invalidate(&s, &0u32.to_le_bytes()).unwrap().result(),
        Ok(())
    );
    assert!(matches!(
        s.call(|| s.tickv.garbage_collect()).unwrap(),
        Done::SysGc(Ok(()), _)
    ));
    assert_eq!(append(&s, b"after", &value).unwrap().result(), Ok(()));
    check_flash(&s);
}

#[test]
fn results_known_at_once_are_still_deferred() {
    let s = Stack::new(opts(true), None);
    s.mount().unwrap();
    s.direct();
    s.flash.clear_log();
    // With a complete index these need no flash access at all; the
    // recorder fails the test if a callback comes inside the request.
    assert_eq!(
        invalidate(&s, b"absent").unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(
        get(&s, b"absent", 4).unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    assert!(s.flash.log().is_empty());
}

#[test]
fn flash_that_refuses_a_request_fails_the_operation_only() {
    let s = Stack::new(opts(true), None);
    s.mount().unwrap();
    s.direct();
    append(&s, b"k", b"v").unwrap();
    for code in [ErrorCode::OFF, ErrorCode::BUSY] {
        s.flash.reject_next(code);
        assert_eq!(set(&s, b"k", b"w").unwrap().result(), Err(ErrorCode::FAIL));
        assert!(!s.tickv.busy());
    }
    assert_eq!(set(&s, b"k", b"x").unwrap().result(), Ok(()));
    let d = get(&s, b"k", 1).unwrap();
    assert_eq!(d.result(), Ok(()));
    check_flash(&s);
}

#[test]
fn a_mount_that_failed_on_the_flash_is_retried() {
    let s = Stack::new(opts(true), None);
    s.mount().unwrap();
    let s2 = Stack::new(opts(true), Some(&s.flash.snapshot()));
    s2.flash.sim_mut().fail_nth_read(0);
    assert_eq!(s2.mount(), Err(ErrorCode::FAIL));
    assert_eq!(
        s2.tickv.state(),
        StoreState::Failed(Error::Flash(FlashOp::Read))
    );
    s2.direct();
    assert_eq!(
        get(&s2, b"x", 1).unwrap().result(),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(s2.tickv.state(), StoreState::Mounted);
}

#[test]
fn a_version_1_store_is_never_formatted_automatically() {
    let image = v1_image();
    let s = Stack::new(opts(true), Some(&image));
    assert_eq!(s.mount(), Err(ErrorCode::NODEVICE));
    assert_eq!(s.tickv.state(), StoreState::Failed(Error::V1Store));
    s.direct();
    assert_eq!(get(&s, b"mykey", 8), Err(ErrorCode::NODEVICE));
    assert_eq!(s.tickv.init(), Ok(()));
    s.settle();
    assert_eq!(s.tickv.state(), StoreState::Failed(Error::V1Store));
    assert_eq!(
        s.flash.sim().image(),
        image.image(),
        "the image is untouched"
    );
    assert_eq!(s.flash.stats().programs + s.flash.stats().erases, 0);
    // The board may format deliberately.
    assert_eq!(s.tickv.format(), Ok(()));
    s.settle();
    assert_eq!(s.tickv.state(), StoreState::Mounted);
    assert_eq!(append(&s, b"mykey", b"v2").unwrap().result(), Ok(()));
    check_flash(&s);
}

#[test]
fn foreign_or_damaged_data_is_never_formatted_automatically() {
    // Foreign bytes in the middle of an otherwise blank flash.
    let mut sim = SimFlash::new(GEOMETRY);
    sim.image_mut()[1000..1010].copy_from_slice(b"not erased");
    let foreign = sim.snapshot();

    // A real store whose region headers are all damaged.
    let s = Stack::new(opts(true), None);
    s.mount().unwrap();
    s.set(b"precious", b"data").unwrap();
    {
        let mut sim = s.flash.sim_mut();
        for r in 0..GEOMETRY.region_count {
            sim.flip_bit(r * GEOMETRY.region_size + 4, 0);
        }
    }
    let damaged = s.flash.snapshot();

    for image in [foreign, damaged] {
        let s = Stack::new(opts(true), Some(&image));
        assert_eq!(s.mount(), Err(ErrorCode::NODEVICE));
        assert!(matches!(s.tickv.state(), StoreState::Failed(_)));
        assert_eq!(s.flash.sim().image(), image.image());
        assert_eq!(s.flash.stats().programs + s.flash.stats().erases, 0);
        assert_eq!(s.value_or_code(b"precious"), Err(ErrorCode::NODEVICE));
    }
}

trait ValueOrCode {
    fn value_or_code(&self, key: &[u8]) -> Result<Vec<u8>, ErrorCode>;
}

impl ValueOrCode for Stack {
    fn value_or_code(&self, key: &[u8]) -> Result<Vec<u8>, ErrorCode> {
        self.get(key, 64).map(|(v, _)| v)
    }
}

#[test]
fn the_region_count_limits_the_store() {
    let o = Opts {
        config: Config {
            region_count: Some(4),
            format_if_blank: true,
        },
        ..Opts::default()
    };
    let s = Stack::new(o, None);
    s.mount().unwrap();
    for i in 0..200u32 {
        s.set(&(i % 5).to_le_bytes(), &[i as u8; 60]).unwrap();
    }
    let outside = 4 * GEOMETRY.region_size as u32;
    for op in s.flash.log() {
        match op {
            MockOp::Read { offset, .. } | MockOp::Program { offset, .. } => {
                assert!(offset < outside)
            }
            MockOp::Erase { unit } => assert!(unit < 4),
        }
    }
    assert!(s.flash.sim().image()[outside as usize..]
        .iter()
        .all(|&b| b == 0xFF));
}

#[test]
fn construction_checks_the_configuration() {
    let calls: &'static DeferredCalls<16> = leak(DeferredCalls::new());
    let flash = MockFlash::blank(GEOMETRY, calls);
    let make = |regions: Option<u32>, scratch: usize| {
        let slot = calls.allocate().unwrap();
        let hasher: &'static capsules_core::siphash::SipHasher<'static> =
            leak(capsules_core::siphash::SipHasher::new(slot));
        TicKVSystem::new(
            flash,
            hasher,
            Box::leak(Box::new([])),
            Box::leak(vec![0u8; scratch].into_boxed_slice()),
            slot,
            Config {
                region_count: regions,
                format_if_blank: false,
            },
        )
        .err()
    };
    assert_eq!(make(Some(7), 64), Some(Error::InvalidGeometry));
    assert_eq!(make(Some(1), 64), Some(Error::InvalidGeometry));
    assert_eq!(make(None, 32), Some(Error::ScratchTooSmall));
    assert_eq!(make(Some(2), 64), None);
}

#[test]
fn error_mapping() {
    use ErrorCode::*;
    let cases = [
        (Error::NotFound, NOSUPPORT),
        (Error::AlreadyExists, NOSUPPORT),
        (Error::NoSpace, NOMEM),
        (Error::TooLarge, SIZE),
        (Error::Busy, BUSY),
        (Error::NotMounted, NODEVICE),
        (Error::NotFormatted, NODEVICE),
        (Error::V1Store, NODEVICE),
        (Error::GeometryMismatch, NODEVICE),
        (Error::Flash(FlashOp::Erase), FAIL),
        (Error::Corrupt, FAIL),
        (Error::Protocol, FAIL),
        (Error::Invalid, INVAL),
    ];
    for (e, code) in cases {
        assert_eq!(error_code(e), code, "{e:?}");
    }
}

#[test]
fn over_a_flash_mux() {
    let o = Opts {
        mux: true,
        ..Opts::default()
    };
    let s = Stack::new(o, None);
    s.mount().unwrap();
    for i in 0..50u8 {
        s.set(&[i % 7], &[i; 30]).unwrap();
    }
    for i in 43..50u8 {
        assert_eq!(s.value(&[i % 7]), Some(vec![i; 30]));
    }
    assert!(s.gc().unwrap() > 0);
    assert!(!s.mux.unwrap().busy());
    check_flash(&s);
    let _ = key_buf();
}
