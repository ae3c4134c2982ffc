//! Operation sequences with remounts and power cuts, checked against a
//! `BTreeMap` model on a strict simulator (no word is programmed twice
//! between erases).
//!
//! Input: byte 0 picks the program unit, byte 1 the index, scratch and key
//! filter sizes; the rest is a stream of operations, each an opcode byte
//! followed by its arguments. A power cut arms `cut_power_after` and runs
//! the next write under it; then power comes back, the store is remounted,
//! and every key must hold its model value, except the key being written,
//! which may hold its old or its new value.

#![no_main]

use std::collections::BTreeMap;

use flashsim::{SimError, SimFlash, Tear};
use libfuzzer_sys::fuzz_target;
use tickv::blocking::{run_bounded, Flash};
use tickv::{Error, FlashFault, Geometry, IndexEntry, Op, Output, TicKV, ValueBuf};

const REGION: usize = 512;
const COUNT: usize = 6;
const KEYS: usize = 6;
const MAX_LEN: usize = 160;
/// No operation may need more flash requests than this.
const STEP_CAP: u64 = 1_000_000;

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
    // Only a power loss is an expected failure here.
    assert_eq!(e, SimError::PowerLoss, "engine broke a flash rule");
    FlashFault
}

fn key(i: u8) -> u64 {
    (i as u64 % KEYS as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

struct Rig<'x> {
    kv: TicKV<'x>,
    flash: Fz,
    scratch: Vec<u8>,
    out: Vec<u8>,
    model: BTreeMap<u64, Vec<u8>>,
    /// Makes every written value distinct.
    serial: u32,
}

/// A write operation and its value.
#[derive(Clone, Debug)]
enum Write {
    Put(Op, Vec<u8>),
    Delete(Op),
    Gc(Op),
}

impl<'x> Rig<'x> {
    fn run(&mut self, op: Op, value: ValueBuf) -> Result<Output, Error> {
        let r = run_bounded(
            &mut self.kv,
            &mut self.flash,
            &mut self.scratch[..],
            op,
            value,
            STEP_CAP,
        )
        .unwrap_or_else(|| panic!("{op:?} hangs"));
        assert!(!self.kv.busy(), "{op:?} left the engine busy");
        r
    }

    fn get(&mut self, k: u64) -> Result<Vec<u8>, Error> {
        let mut out = std::mem::take(&mut self.out);
        let r = self.run(Op::Get(k), ValueBuf::Out(&mut out));
        let v = r.map(|o| match o {
            Output::Value { len } => out[..len].to_vec(),
            o => panic!("get returned {o:?}"),
        });
        self.out = out;
        v
    }

    fn value(&mut self, input: &mut Input) -> Vec<u8> {
        let len = input.byte().unwrap_or(0) as usize % (MAX_LEN + 1);
        let fill = input.byte().unwrap_or(0);
        self.serial += 1;
        let tag = self.serial.to_le_bytes();
        (0..len)
            .map(|i| if i < 4 { tag[i] } else { fill ^ i as u8 })
            .collect()
    }

    /// Decodes a write from the input.
    fn write(&mut self, input: &mut Input) -> Write {
        let code = input.byte().unwrap_or(0);
        let k = key(input.byte().unwrap_or(0));
        match code % 8 {
            0 | 1 => Write::Put(Op::Set(k), self.value(input)),
            2 => Write::Put(Op::Add(k), self.value(input)),
            3 => Write::Put(Op::Update(k), self.value(input)),
            4 => Write::Delete(Op::Delete(k)),
            5 => Write::Delete(Op::SecureDelete(k)),
            6 => Write::Gc(Op::GcStep),
            _ => Write::Gc(Op::GcFull),
        }
    }

    /// Runs a write; returns its result and the model it implies if it
    /// succeeds.
    fn apply(&mut self, w: &Write) -> (Result<Output, Error>, BTreeMap<u64, Vec<u8>>) {
        let mut next = self.model.clone();
        let r = match w {
            Write::Put(op, v) => {
                let (Op::Set(k) | Op::Add(k) | Op::Update(k)) = *op else {
                    unreachable!()
                };
                let present = self.model.contains_key(&k);
                let r = self.run(*op, ValueBuf::In(v));
                let refusal = match op {
                    Op::Add(_) if present => Some(Error::AlreadyExists),
                    Op::Update(_) if !present => Some(Error::NotFound),
                    _ => None,
                };
                match (&r, refusal) {
                    (Ok(_), None) => {
                        next.insert(k, v.clone());
                    }
                    (Err(e), Some(want)) => assert_eq!(*e, want, "{op:?}"),
                    (Err(Error::NoSpace | Error::Flash(_)), None) => {}
                    (r, refusal) => panic!("{op:?}: {r:?}, expected refusal {refusal:?}"),
                }
                r
            }
            Write::Delete(op) => {
                let (Op::Delete(k) | Op::SecureDelete(k)) = *op else {
                    unreachable!()
                };
                let present = self.model.contains_key(&k);
                let r = self.run(*op, ValueBuf::None);
                match &r {
                    Ok(_) => {
                        assert!(present, "{op:?} of an absent key succeeded");
                        next.remove(&k);
                    }
                    Err(Error::NotFound) => assert!(!present, "{op:?}: NotFound"),
                    Err(Error::NoSpace | Error::Flash(_)) => {}
                    Err(e) => panic!("{op:?}: {e:?}"),
                }
                r
            }
            Write::Gc(op) => {
                let r = self.run(*op, ValueBuf::None);
                assert!(
                    matches!(r, Ok(Output::Freed(_)) | Err(Error::Flash(_))),
                    "{op:?}: {r:?}"
                );
                r
            }
        };
        (r, next)
    }

    /// Every key holds its model value, and iteration lists the model.
    fn check_all(&mut self) {
        for i in 0..KEYS as u8 {
            let k = key(i);
            let want = self.model.get(&k).cloned().ok_or(Error::NotFound);
            assert_eq!(self.get(k), want, "key {k:#x}");
        }
        let mut keys = Vec::new();
        let mut after = None;
        loop {
            match self.run(Op::NextKey(after), ValueBuf::None) {
                Ok(Output::Key { key, len }) => {
                    assert_eq!(
                        self.model.get(&key).map(Vec::len),
                        Some(len),
                        "listed {key:#x}"
                    );
                    keys.push(key);
                    after = Some(key);
                }
                Ok(Output::NoMoreKeys) => break,
                r => panic!("next_key: {r:?}"),
            }
        }
        assert_eq!(
            keys,
            self.model.keys().copied().collect::<Vec<_>>(),
            "iteration"
        );
    }

    fn remount(&mut self) {
        self.kv.forget();
        let r = self.run(Op::Mount, ValueBuf::None);
        assert_eq!(r, Ok(Output::Done), "remount");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (Some(b0), Some(b1)) = (input.byte(), input.byte()) else {
        return;
    };
    let unit = 1usize << (b0 % 6);
    let g = Geometry {
        region_size: REGION,
        region_count: COUNT,
        program_unit: unit,
    };
    let mut index = vec![IndexEntry::default(); [0, 3, 16, 16][(b1 & 3) as usize]];
    // Key filters of 0, 1, 2 or 8 bytes per region (none, and many to few
    // false positives).
    let mut filter = vec![0u8; [0, 1, 2, 8][(b1 >> 3 & 3) as usize] * COUNT];
    let kv = TicKV::with_filter(g, &mut index, &mut filter).unwrap();
    let sim = SimFlash::new(flashsim::Geometry {
        region_size: REGION,
        region_count: COUNT,
        program_unit: unit,
        erase_value: 0xFF,
    });
    let mut rig = Rig {
        out: vec![0; kv.max_value_len()],
        kv,
        flash: Fz(sim),
        scratch: vec![0; if b1 & 4 == 0 { 64 } else { 128 }],
        model: BTreeMap::new(),
        serial: 0,
    };
    assert_eq!(rig.run(Op::Format, ValueBuf::None), Ok(Output::Done));

    let mut ops = 0;
    while let Some(code) = input.byte() {
        ops += 1;
        if ops > 200 {
            break;
        }
        match code % 8 {
            0..=3 => {
                let w = rig.write(&mut input);
                let (mut r, mut next) = rig.apply(&w);
                if r == Err(Error::NoSpace) {
                    // Live data is far below capacity here: after a full
                    // collection every write fits.
                    let gc = rig.run(Op::GcFull, ValueBuf::None);
                    assert!(matches!(gc, Ok(Output::Freed(_))), "gc_full: {gc:?}");
                    (r, next) = rig.apply(&w);
                    assert_ne!(r, Err(Error::NoSpace), "{w:?} after gc_full");
                }
                assert!(!matches!(r, Err(Error::Flash(_))), "{w:?}: {r:?}");
                rig.model = next;
            }
            4 => {
                let k = key(input.byte().unwrap_or(0));
                let want = rig.model.get(&k).cloned().ok_or(Error::NotFound);
                assert_eq!(rig.get(k), want, "get {k:#x}");
            }
            5 => {
                rig.remount();
                rig.check_all();
            }
            _ => {
                // A power cut during the next write.
                let budget = input.byte().unwrap_or(0) as u64 % 24;
                let tear = match input.byte().unwrap_or(0) {
                    t if t < 64 => Tear::Before,
                    t => Tear::Partial(t as usize % 48),
                };
                let w = rig.write(&mut input);
                let in_flight = match &w {
                    Write::Put(Op::Set(k) | Op::Add(k) | Op::Update(k), v) => {
                        Some((*k, Some(v.clone())))
                    }
                    Write::Delete(Op::Delete(k) | Op::SecureDelete(k)) => Some((*k, None)),
                    _ => None,
                };
                rig.flash.0.cut_power_after(budget, tear);
                let (r, next) = rig.apply(&w);
                rig.flash.0.power_on();
                rig.remount();
                if r.is_ok() {
                    rig.model = next;
                } else if let Some((k, new)) = in_flight {
                    // Old or new, nothing else.
                    let got = rig.get(k);
                    let old = rig.model.get(&k).cloned().ok_or(Error::NotFound);
                    let new = new.ok_or(Error::NotFound);
                    assert!(
                        got == old || (got == new && matches!(r, Err(Error::Flash(_)))),
                        "{w:?} cut: key {k:#x} is neither old nor new"
                    );
                    match got {
                        Ok(v) => rig.model.insert(k, v),
                        Err(_) => rig.model.remove(&k),
                    };
                }
                rig.check_all();
            }
        }
    }
    rig.remount();
    rig.check_all();
});
