//! Arbitrary flash images: mount must return, and a mounted store must
//! survive a short fixed sequence of operations without panicking, hanging
//! or returning a value that was never written.
//!
//! Input: byte 0 picks the program unit, byte 1 the index size, scratch size
//! and base image (erased, or a real store with history); the rest is a
//! list of patches `[offset hi, offset lo, len, bytes...]` written over the
//! base image.

#![no_main]

use std::sync::OnceLock;

use flashsim::{SimError, SimFlash};
use libfuzzer_sys::fuzz_target;
use tickv::blocking::{run_bounded, Flash};
use tickv::{Error, FlashFault, Geometry, IndexEntry, Op, Output, TicKV, ValueBuf};

const REGION: usize = 512;
const COUNT: usize = 8;
const SIZE: usize = REGION * COUNT;
/// No operation may need more flash requests than this.
const STEP_CAP: u64 = 1_000_000;
/// Keys the base store holds, and the fuzz operations use.
const KEYS: [u64; 4] = [0x0123_4567_89AB_CDEF, 1, 0xFFFF_FFFF_FFFF_FFFF, 0xDEAD_BEEF];

struct Fz(SimFlash);

impl Flash for Fz {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        self.0.read(addr, buf).map_err(fault)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
        self.0.program(addr, data).map_err(fault)
    }
    fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
        self.0.erase(region).map_err(fault)
    }
}

fn fault(e: SimError) -> FlashFault {
    // Garbage counts as programmed, so the simulator runs non-strict; an
    // access outside the flash or a misaligned program is still a bug.
    assert!(
        !matches!(e, SimError::OutOfRange | SimError::Misaligned),
        "engine broke a flash rule: {e:?}"
    );
    FlashFault
}

fn geometry(unit: usize) -> Geometry {
    Geometry {
        region_size: REGION,
        region_count: COUNT,
        program_unit: unit,
    }
}

fn sim(unit: usize, image: Vec<u8>) -> SimFlash {
    let g = flashsim::Geometry {
        region_size: REGION,
        region_count: COUNT,
        program_unit: unit,
        erase_value: 0xFF,
    };
    SimFlash::from_image(g, image).expect("image size")
}

/// Runs one operation, failing on a hang.
fn run(
    kv: &mut TicKV,
    flash: &mut Fz,
    scratch: &mut [u8],
    op: Op,
    value: ValueBuf,
) -> Result<Output, Error> {
    let r = run_bounded(kv, flash, scratch, op, value, STEP_CAP)
        .unwrap_or_else(|| panic!("{op:?} hangs"));
    assert!(!kv.busy(), "{op:?} left the engine busy");
    r
}

/// Values the base store holds for key `k` over its history.
fn base_value(k: usize, round: usize) -> Vec<u8> {
    vec![(k * 16 + round) as u8; (k * 37 + round * 11) % 150]
}

/// A real store for each program unit: formatted, then written so that
/// the ring has wrapped and every key has old copies.
fn base_image(unit: usize) -> &'static [u8] {
    static BASES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let bases = BASES.get_or_init(|| {
        (0..6)
            .map(|log| {
                let unit = 1 << log;
                let mut index = [IndexEntry::default(); 8];
                let mut kv = TicKV::new(geometry(unit), &mut index).unwrap();
                let mut flash = Fz(sim(unit, vec![0xFF; SIZE]));
                let mut scratch = [0u8; 64];
                let s = &mut scratch[..];
                run(&mut kv, &mut flash, s, Op::Format, ValueBuf::None).unwrap();
                for round in 0..12 {
                    for (k, &key) in KEYS.iter().enumerate() {
                        let v = base_value(k, round);
                        run(&mut kv, &mut flash, s, Op::Set(key), ValueBuf::In(&v)).unwrap();
                    }
                }
                run(&mut kv, &mut flash, s, Op::Delete(KEYS[3]), ValueBuf::None).unwrap();
                flash.0.into_image()
            })
            .collect()
    });
    &bases[unit.trailing_zeros() as usize]
}

fn was_written(k: usize, v: &[u8], extra: &[Vec<u8>]) -> bool {
    (0..12).any(|round| base_value(k, round) == v) || extra.iter().any(|x| x == v)
}

/// Every key reads as a value once written for it, or fails honestly.
fn check_gets(kv: &mut TicKV, flash: &mut Fz, s: &mut [u8], out: &mut [u8], written: &[Vec<u8>]) {
    for (k, &key) in KEYS.iter().enumerate() {
        match run(kv, flash, s, Op::Get(key), ValueBuf::Out(out)) {
            Ok(Output::Value { len }) => {
                assert!(
                    was_written(k, &out[..len], written),
                    "key {key:#x}: a value never written"
                )
            }
            Err(Error::NotFound | Error::Corrupt) => {}
            r => panic!("get {key:#x}: {r:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let unit = 1usize << (data[0] % 6);
    let slots = [0, 2, 8, 8][(data[1] & 3) as usize];
    let scratch_len = if data[1] & 4 == 0 { 64 } else { 512 };
    let mut image = if data[1] & 8 == 0 {
        vec![0xFF; SIZE]
    } else {
        base_image(unit).to_vec()
    };
    let mut rest = &data[2..];
    while rest.len() >= 3 {
        let at = u16::from_be_bytes([rest[0], rest[1]]) as usize % SIZE;
        let len = (rest[2] as usize).min(rest.len() - 3).min(SIZE - at);
        image[at..at + len].copy_from_slice(&rest[3..3 + len]);
        rest = &rest[3 + len..];
    }

    let mut index = vec![IndexEntry::default(); slots];
    let mut kv = TicKV::new(geometry(unit), &mut index).unwrap();
    let mut flash = Fz(sim(unit, image));
    flash.0.set_strict(false);
    let mut scratch = vec![0u8; scratch_len];
    let s = &mut scratch[..];
    match run(&mut kv, &mut flash, s, Op::Mount, ValueBuf::None) {
        Ok(_) => {}
        Err(Error::NotFormatted | Error::V1Store | Error::GeometryMismatch) => return,
        Err(e) => panic!("mount: {e:?}"),
    }

    let mut written: Vec<Vec<u8>> = Vec::new();
    let mut out = vec![0u8; kv.max_value_len()];
    check_gets(&mut kv, &mut flash, s, &mut out, &written);

    // Iteration moves strictly forward and ends.
    let mut after = None;
    for _ in 0..SIZE / 16 + 1 {
        match run(&mut kv, &mut flash, s, Op::NextKey(after), ValueBuf::None) {
            Ok(Output::Key { key, .. }) => {
                assert!(after.is_none_or(|a| key > a), "iteration went backwards");
                after = Some(key);
            }
            Ok(Output::NoMoreKeys) | Err(Error::Corrupt) => break,
            r => panic!("next_key: {r:?}"),
        }
    }

    // Writes, compaction, and reading back what was written on clean flash.
    for (i, &key) in KEYS.iter().enumerate() {
        let v = vec![0xA0 + i as u8; 20 + 30 * i];
        written.push(v.clone());
        let before = flash.0.counters().word_rewrites;
        match run(&mut kv, &mut flash, s, Op::Set(key), ValueBuf::In(&v)) {
            Ok(_) => {
                if flash.0.counters().word_rewrites == before {
                    let r = run(
                        &mut kv,
                        &mut flash,
                        s,
                        Op::Get(key),
                        ValueBuf::Out(&mut out),
                    );
                    assert_eq!(r, Ok(Output::Value { len: v.len() }), "read back {key:#x}");
                    assert_eq!(&out[..v.len()], &v[..], "read back {key:#x}");
                }
            }
            Err(Error::NoSpace) => {}
            Err(e) => panic!("set {key:#x}: {e:?}"),
        }
    }
    for op in [
        Op::Delete(KEYS[0]),
        Op::GcStep,
        Op::SecureDelete(KEYS[1]),
        Op::GcFull,
    ] {
        match run(&mut kv, &mut flash, s, op, ValueBuf::None) {
            Ok(_) | Err(Error::NotFound | Error::NoSpace) => {}
            Err(e) => panic!("{op:?}: {e:?}"),
        }
    }
    for r in 0..COUNT {
        let info = run(&mut kv, &mut flash, s, Op::RegionInfo(r), ValueBuf::None);
        assert!(
            matches!(info, Ok(Output::Region(_))),
            "region {r}: {info:?}"
        );
    }
    check_gets(&mut kv, &mut flash, s, &mut out, &written);

    // A store that mounted once mounts again.
    kv.forget();
    let r = run(&mut kv, &mut flash, s, Op::Mount, ValueBuf::None);
    assert_eq!(r, Ok(Output::Done), "remount");
    check_gets(&mut kv, &mut flash, s, &mut out, &written);
});
