//! Shared test support: the simulator adapter, a deterministic PRNG and a
//! reference model.
#![allow(dead_code)]

use std::collections::BTreeMap;

use flashsim::{SimError, SimFlash};
use tickv::blocking::{Flash, Store};
use tickv::{FlashFault, Geometry, IndexEntry, TicKV};

/// The simulator seen through the engine's blocking-flash trait.
pub struct Sim(pub SimFlash);

impl Flash for Sim {
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
    // A strict-mode violation is an engine bug, never an expected fault.
    assert!(
        !matches!(
            e,
            SimError::Rewrite | SimError::BitRaise | SimError::Misaligned | SimError::OutOfRange
        ),
        "engine broke a flash rule: {e:?}"
    );
    FlashFault
}

pub fn geometry(region_size: usize, region_count: usize, program_unit: usize) -> Geometry {
    Geometry {
        region_size,
        region_count,
        program_unit,
    }
}

pub fn sim(g: Geometry) -> Sim {
    Sim(SimFlash::new(flashsim::Geometry {
        region_size: g.region_size,
        region_count: g.region_count,
        program_unit: g.program_unit,
        erase_value: 0xFF,
    }))
}

/// A buffer that lives as long as the test program.
pub fn leak<T: Clone>(fill: T, len: usize) -> &'static mut [T] {
    Box::leak(vec![fill; len].into_boxed_slice())
}

/// Leaked buffers: fine in tests, and they make stores easy to keep around.
pub fn store(
    g: Geometry,
    index_slots: usize,
    scratch: usize,
    flash: Sim,
) -> Store<'static, 'static, Sim> {
    let index = leak(IndexEntry::default(), index_slots);
    Store::new(
        TicKV::new(g, index).expect("geometry"),
        flash,
        leak(0u8, scratch),
    )
}

/// Like `store`, with `filter_per_region` bytes of key filter per region
/// (feature `filter`).
#[cfg(feature = "filter")]
pub fn filtered_store(
    g: Geometry,
    index_slots: usize,
    filter_per_region: usize,
    scratch: usize,
    flash: Sim,
) -> Store<'static, 'static, Sim> {
    let index = leak(IndexEntry::default(), index_slots);
    let filter = leak(0u8, filter_per_region * g.region_count);
    let kv = TicKV::with_filter(g, index, filter).expect("geometry");
    Store::new(kv, flash, leak(0u8, scratch))
}

pub fn formatted(g: Geometry, index_slots: usize) -> Store<'static, 'static, Sim> {
    let mut s = store(g, index_slots, 64, sim(g));
    s.format().expect("format");
    s
}

pub use flashsim::Rng;

pub type Model = BTreeMap<u64, Vec<u8>>;

/// Reads one key; `None` when absent.
pub fn read(s: &mut Store<Sim>, key: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; s.kv.max_value_len()];
    match s.get(key, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(tickv::Error::NotFound) => None,
        Err(e) => panic!("get {key:#x}: {e:?}"),
    }
}

/// Asserts that the store holds exactly the model (every key, and no other
/// key in iteration).
pub fn check_model(s: &mut Store<Sim>, model: &Model) {
    for (k, v) in model {
        assert_eq!(read(s, *k).as_ref(), Some(v), "key {k:#x}");
    }
    let mut keys = Vec::new();
    s.for_each_key(|k, _| keys.push(k)).expect("iterate");
    let want: Vec<u64> = model.keys().copied().collect();
    assert_eq!(keys, want, "iteration");
}

/// One write-side command of a workload.
#[derive(Clone, Debug)]
pub enum Cmd {
    Set(u64, Vec<u8>),
    Add(u64, Vec<u8>),
    Update(u64, Vec<u8>),
    Delete(u64),
    SecureDelete(u64),
    GcStep,
    GcFull,
}

impl Cmd {
    /// The key the command changes, if any.
    pub fn key(&self) -> Option<u64> {
        match self {
            Cmd::Set(k, _) | Cmd::Add(k, _) | Cmd::Update(k, _) => Some(*k),
            Cmd::Delete(k) | Cmd::SecureDelete(k) => Some(*k),
            Cmd::GcStep | Cmd::GcFull => None,
        }
    }

    /// A one-line description without the value bytes.
    pub fn describe(&self) -> String {
        match self {
            Cmd::Set(k, v) => format!("Set({k:#x}, {} bytes)", v.len()),
            Cmd::Add(k, v) => format!("Add({k:#x}, {} bytes)", v.len()),
            Cmd::Update(k, v) => format!("Update({k:#x}, {} bytes)", v.len()),
            other => format!("{other:?}"),
        }
    }

    pub fn run(&self, s: &mut Store<Sim>) -> Result<(), tickv::Error> {
        match self {
            Cmd::Set(k, v) => s.set(*k, v),
            Cmd::Add(k, v) => s.add(*k, v),
            Cmd::Update(k, v) => s.update(*k, v),
            Cmd::Delete(k) => s.delete(*k),
            Cmd::SecureDelete(k) => s.secure_delete(*k),
            Cmd::GcStep => s.gc_step().map(|_| ()),
            Cmd::GcFull => s.gc_full().map(|_| ()),
        }
    }

    /// What the command must return on a store holding `model`, and the
    /// model afterwards. `NoSpace` is judged by the caller.
    pub fn expect(&self, model: &Model) -> (Result<(), tickv::Error>, Model) {
        use tickv::Error::*;
        let mut m = model.clone();
        let r = match self {
            Cmd::Set(k, v) => {
                m.insert(*k, v.clone());
                Ok(())
            }
            Cmd::Add(k, v) => {
                if m.contains_key(k) {
                    Err(AlreadyExists)
                } else {
                    m.insert(*k, v.clone());
                    Ok(())
                }
            }
            Cmd::Update(k, v) => match m.get_mut(k) {
                Some(old) => {
                    *old = v.clone();
                    Ok(())
                }
                None => Err(NotFound),
            },
            Cmd::Delete(k) | Cmd::SecureDelete(k) => match m.remove(k) {
                Some(_) => Ok(()),
                None => Err(NotFound),
            },
            Cmd::GcStep | Cmd::GcFull => Ok(()),
        };
        (r, m)
    }
}

/// A random workload over `keys` keys with values up to `max_len` bytes.
pub fn workload(rng: &mut Rng, n: usize, keys: u64, max_len: usize, secure: bool) -> Vec<Cmd> {
    let key_space: Vec<u64> = (0..keys).map(|_| rng.next()).collect();
    (0..n)
        .map(|_| {
            let k = key_space[rng.below(keys) as usize];
            // Lengths whose low byte is 0xFF make a header's first bytes
            // look erased under some encodings: include them on purpose.
            let len = match rng.below(20) {
                0 if max_len >= 255 => 255,
                1 if max_len >= 511 => 511,
                _ => rng.below(max_len as u64 + 1) as usize,
            };
            let v = rng.bytes(len);
            match rng.below(100) {
                0..=54 => Cmd::Set(k, v),
                55..=64 => Cmd::Add(k, v),
                65..=74 => Cmd::Update(k, v),
                75..=89 => Cmd::Delete(k),
                90..=95 => Cmd::GcStep,
                96..=97 => Cmd::GcFull,
                _ if secure => Cmd::SecureDelete(k),
                _ => Cmd::Delete(k),
            }
        })
        .collect()
}
