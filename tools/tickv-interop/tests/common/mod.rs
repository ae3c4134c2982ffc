//! Shared support for the differential tests: upstream TicKV 2.0.0 over a
//! simulated flash, our version-2 store over the same simulator, a PRNG,
//! and the checks that compare our version-1 reader with both.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use flashsim::{SimError, SimFlash};
use tickv::blocking::{Flash, Store};
use tickv::v1::{self, Item, Object, Owner};
use tickv::{FlashFault, Geometry, IndexEntry, TicKV};
use upstream_tickv::{ErrorCode, FlashController};

/// The hash upstream's `initialise` is given (see `tickv::v1::MAIN_KEY`).
pub const MAIN_KEY: u64 = v1::MAIN_KEY;

/// SipHash-2-4 with the zero key, digest read big-endian: how Tock and
/// tockloader hash string keys (computed with the `siphasher` crate).
pub fn tock_hash(key: &[u8]) -> u64 {
    let h = siphasher::sip::SipHasher24::new_with_keys(0, 0).hash(key);
    u64::from_be_bytes(h.to_le_bytes())
}

pub use flashsim::Rng;

/// Keys the interop tests draw.
pub trait Hashes {
    /// A hash upstream accepts (it asserts on 0 and all-ones) that is not
    /// the main key.
    fn hash(&mut self) -> u64;
    /// A hash whose home region is `home` of `regions`.
    fn hash_at(&mut self, home: usize, regions: usize) -> u64;
}

impl Hashes for Rng {
    fn hash(&mut self) -> u64 {
        loop {
            let h = self.next();
            if h != 0 && h != u64::MAX && h != MAIN_KEY {
                return h;
            }
        }
    }
    fn hash_at(&mut self, home: usize, regions: usize) -> u64 {
        loop {
            let h = self.hash();
            if v1::home_region(h, regions) == home {
                return h;
            }
        }
    }
}

/// A value as Tock's `kv_permissions` writes it: owner header, then payload.
pub fn owned(write_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Owner::new(payload.len() as u32, write_id).encode().to_vec();
    v.extend_from_slice(payload);
    v
}

/// A byte-programmable simulated NOR flash shared between the upstream
/// instances that are created per operation.
#[derive(Clone)]
pub struct UpFlash {
    pub sim: Rc<RefCell<SimFlash>>,
    /// Programs that tried to turn a 0 bit back into 1 (impossible on NOR).
    pub raised_bits: Rc<RefCell<u64>>,
}

impl<const S: usize> FlashController<S> for UpFlash {
    fn read_region(&self, region_number: usize, buf: &mut [u8; S]) -> Result<(), ErrorCode> {
        self.sim
            .borrow_mut()
            .read(region_number * S, buf)
            .map_err(|_| ErrorCode::ReadFail)
    }

    fn write(&self, address: usize, buf: &[u8]) -> Result<(), ErrorCode> {
        let mut sim = self.sim.borrow_mut();
        if let Some(old) = sim.image().get(address..address + buf.len()) {
            let raised = old.iter().zip(buf).filter(|(o, n)| *n & !*o != 0).count();
            *self.raised_bits.borrow_mut() += raised as u64;
        }
        sim.program(address, buf).map_err(|_| ErrorCode::WriteFail)
    }

    fn erase_region(&self, region_number: usize) -> Result<(), ErrorCode> {
        self.sim
            .borrow_mut()
            .erase(region_number)
            .map_err(|_| ErrorCode::EraseFail)
    }
}

/// Upstream TicKV 2.0.0 on `regions` regions of `S` bytes.
///
/// Every operation runs on a fresh `TicKV` over the same flash: upstream
/// keeps nothing in RAM between completed synchronous operations except its
/// read buffer, which some of its error paths lose (the next operation on
/// the same instance would then panic). A fresh instance per operation
/// sidesteps that without changing what is written.
pub struct Upstream<const S: usize> {
    pub flash: UpFlash,
    pub regions: usize,
    buf: Box<[u8; S]>,
}

impl<const S: usize> Upstream<S> {
    /// A new store: erased flash, then upstream's `initialise`.
    pub fn new(regions: usize) -> Self {
        let mut sim = SimFlash::new(flashsim::Geometry {
            region_size: S,
            region_count: regions,
            program_unit: 1,
            erase_value: 0xFF,
        });
        // Upstream programs bytes twice (delete, zeroise): count, not fail.
        sim.set_strict(false);
        let mut up = Self::over(sim);
        let r = up.with(|kv| kv.initialise(MAIN_KEY));
        assert!(r.is_ok(), "initialise: {r:?}");
        up
    }

    /// Upstream over an existing flash (no initialise).
    pub fn over(sim: SimFlash) -> Self {
        let regions = sim.geometry().region_count;
        Upstream {
            flash: UpFlash {
                sim: Rc::new(RefCell::new(sim)),
                raised_bits: Rc::new(RefCell::new(0)),
            },
            regions,
            buf: Box::new([0u8; S]),
        }
    }

    /// Upstream over a copy of `image`.
    pub fn from_image(image: &[u8]) -> Self {
        let mut sim = SimFlash::from_image(
            flashsim::Geometry {
                region_size: S,
                region_count: image.len() / S,
                program_unit: 1,
                erase_value: 0xFF,
            },
            image.to_vec(),
        )
        .expect("image");
        sim.set_strict(false);
        Self::over(sim)
    }

    pub fn with<R>(&mut self, f: impl FnOnce(&upstream_tickv::TicKV<UpFlash, S>) -> R) -> R {
        let kv = upstream_tickv::TicKV::<UpFlash, S>::new(
            self.flash.clone(),
            &mut self.buf,
            S * self.regions,
        );
        f(&kv)
    }

    pub fn append(&mut self, key: u64, value: &[u8]) -> Result<(), ErrorCode> {
        self.with(|kv| kv.append_key(key, value)).map(|_| ())
    }

    /// Upstream's get; the value on success.
    pub fn get(&mut self, key: u64) -> Result<Vec<u8>, ErrorCode> {
        let mut out = vec![0u8; S];
        let (_, len) = self.with(|kv| kv.get_key(key, &mut out))?;
        out.truncate(len);
        Ok(out)
    }

    pub fn invalidate(&mut self, key: u64) -> Result<(), ErrorCode> {
        self.with(|kv| kv.invalidate_key(key)).map(|_| ())
    }

    pub fn zeroise(&mut self, key: u64) -> Result<(), ErrorCode> {
        self.with(|kv| kv.zeroise_key(key)).map(|_| ())
    }

    pub fn gc(&mut self) -> Result<usize, ErrorCode> {
        self.with(|kv| kv.garbage_collect())
    }

    pub fn image(&self) -> Vec<u8> {
        self.flash.sim.borrow().image().to_vec()
    }

    pub fn raised_bits(&self) -> u64 {
        *self.flash.raised_bits.borrow()
    }

    pub fn word_rewrites(&self) -> u64 {
        self.flash.sim.borrow().counters().word_rewrites
    }
}

/// What a workload wrote, as upstream's return codes say it happened.
///
/// A key can have several live copies (see `tickv::v1` on duplicates), so
/// each key keeps a stack of its live values, newest last: upstream always
/// writes a new copy before every older one in its probe order, and its
/// get, invalidate and zeroise meet the newest copy first.
#[derive(Default)]
pub struct Model {
    /// Live values per key, oldest first.
    pub stacks: BTreeMap<u64, Vec<Vec<u8>>>,
    /// Every hash ever appended.
    pub written: BTreeSet<u64>,
}

impl Model {
    /// The value a reader should return for each live key.
    pub fn live(&self) -> BTreeMap<u64, Vec<u8>> {
        self.stacks
            .iter()
            .filter_map(|(k, s)| s.last().map(|v| (*k, v.clone())))
            .collect()
    }

    pub fn has(&self, key: u64) -> bool {
        self.stacks.get(&key).is_some_and(|s| !s.is_empty())
    }

    /// Records a successful append; true when it made a duplicate.
    pub fn push(&mut self, key: u64, value: &[u8]) -> bool {
        self.written.insert(key);
        let s = self.stacks.entry(key).or_default();
        s.push(value.to_vec());
        s.len() > 1
    }

    /// Records a successful invalidate or zeroise of the newest copy.
    pub fn pop(&mut self, key: u64) {
        let s = self.stacks.get_mut(&key).expect("popped key is live");
        s.pop().expect("popped key is live");
        if s.is_empty() {
            self.stacks.remove(&key);
        }
    }

    /// Live copies beyond the first of each key.
    pub fn duplicates(&self) -> usize {
        self.stacks
            .values()
            .map(|s| s.len().saturating_sub(1))
            .sum()
    }

    /// Every live copy, sorted.
    pub fn copies(&self) -> Vec<(u64, Vec<u8>)> {
        let mut v: Vec<_> = self
            .stacks
            .iter()
            .flat_map(|(k, s)| s.iter().map(move |v| (*k, v.clone())))
            .collect();
        v.sort();
        v
    }
}

/// What one comparison found, for the summary printed by the tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    /// Live keys that upstream's own `get_key` cannot find (stuck keys).
    pub upstream_lost: usize,
    /// Live objects that lose to another live copy of the same hash.
    pub duplicates: usize,
    /// Objects whose VALID bit is cleared.
    pub deleted: usize,
    /// Zeroised objects.
    pub zeroised: usize,
    /// Objects in total (the main key included).
    pub objects: usize,
}

impl std::ops::AddAssign for Seen {
    fn add_assign(&mut self, o: Seen) {
        self.upstream_lost += o.upstream_lost;
        self.duplicates += o.duplicates;
        self.deleted += o.deleted;
        self.zeroised += o.zeroised;
        self.objects += o.objects;
    }
}

pub fn objects(image: &[u8], region_size: usize) -> Vec<Object<'_>> {
    v1::scan(image, region_size)
        .map(|i| match i {
            Item::Object(o) => o,
            Item::Damage(d) => panic!("unexpected damage {d:?}"),
        })
        .collect()
}

/// The heart of the differential test: our reader, upstream's reads and the
/// model must agree on an undamaged image written by upstream.
pub fn check<const S: usize>(up: &mut Upstream<S>, model: &Model) -> Seen {
    let image = up.image();
    let objs = objects(&image, S);
    let mut seen = Seen {
        objects: objs.len(),
        ..Seen::default()
    };
    assert!(v1::is_v1_store(&image, S));
    let mains: Vec<_> = objs.iter().filter(|o| o.is_main_key()).collect();
    assert_eq!(mains.len(), 1, "one main key");
    assert!(mains[0].valid && mains[0].crc_ok && mains[0].offset == 0);
    assert_eq!(mains[0].region, v1::home_region(MAIN_KEY, up.regions));

    let mut live_hashes = BTreeSet::new();
    for o in &objs {
        assert!(
            o.is_main_key() || model.written.contains(&o.hash),
            "unknown hash {:#x}",
            o.hash
        );
        // Upstream deletes in place after computing the CRC over the valid
        // header: the reader still accepts the CRC. Zeroised objects have
        // no CRC left.
        if o.zeroised {
            assert!(!o.valid && !o.crc_ok && o.owner.is_none(), "{o:?}");
            seen.zeroised += 1;
        } else {
            assert!(o.crc_ok, "{o:?}");
        }
        if !o.valid {
            seen.deleted += 1;
        }
        if o.is_live() {
            live_hashes.insert(o.hash);
            let w = v1::find(&image, S, o.hash).expect("a live object has a winner");
            if (w.region, w.offset) != (o.region, o.offset) {
                seen.duplicates += 1;
            }
        }
    }
    let live = model.live();
    let model_keys: BTreeSet<u64> = live.keys().copied().collect();
    assert_eq!(live_hashes, model_keys, "live keys");
    // Every live copy, duplicates included, is one the model knows.
    let mut copies: Vec<(u64, Vec<u8>)> = objs
        .iter()
        .filter(|o| o.is_live())
        .map(|o| (o.hash, o.value.to_vec()))
        .collect();
    copies.sort();
    assert_eq!(copies, model.copies(), "live copies");
    assert_eq!(seen.duplicates, model.duplicates(), "duplicates");
    for (&k, v) in &live {
        let w = v1::find(&image, S, k).expect("model key found");
        assert_eq!(w.value, &v[..], "value of {k:#x}");
        assert_eq!(w.owner, Owner::parse(v), "owner of {k:#x}");
        match up.get(k) {
            Ok(uv) => assert_eq!(uv, *v, "upstream value of {k:#x}"),
            Err(ErrorCode::KeyNotFound) => seen.upstream_lost += 1,
            Err(e) => panic!("upstream get {k:#x}: {e:?}"),
        }
    }
    for &k in model.written.difference(&model_keys) {
        assert_eq!(v1::find(&image, S, k), None, "deleted key {k:#x}");
        assert_eq!(up.get(k), Err(ErrorCode::KeyNotFound), "deleted key {k:#x}");
    }
    seen
}

/// Our version-2 engine's view of the simulator.
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
    panic!("flash error in a v2 store: {e:?}");
}

/// A version-2 store over a simulated flash, with an index and a scratch
/// buffer that live as long as the test (leaked).
pub fn v2_store(sim: SimFlash, program_unit: usize) -> Store<'static, 'static, Sim> {
    let g = sim.geometry();
    let geometry = Geometry {
        region_size: g.region_size,
        region_count: g.region_count,
        program_unit,
    };
    let index: &'static mut [IndexEntry] =
        Box::leak(vec![IndexEntry::default(); 1024].into_boxed_slice());
    let scratch: &'static mut [u8] = Box::leak(vec![0u8; 512].into_boxed_slice());
    Store::new(
        TicKV::new(geometry, index).expect("geometry"),
        Sim(sim),
        scratch,
    )
}

/// A freshly formatted version-2 store.
pub fn fresh_v2(region_size: usize, regions: usize) -> Store<'static, 'static, Sim> {
    let sim = SimFlash::new(flashsim::Geometry {
        region_size,
        region_count: regions,
        program_unit: 4,
        erase_value: 0xFF,
    });
    let mut s = v2_store(sim, 4);
    s.format().expect("format");
    s
}

/// Every key of a version-2 store with its value.
pub fn v2_contents(store: &mut Store<'static, 'static, Sim>) -> BTreeMap<u64, Vec<u8>> {
    let mut keys = Vec::new();
    store.for_each_key(|k, _| keys.push(k)).expect("iterate");
    let mut out = BTreeMap::new();
    for k in keys {
        let mut buf = vec![0u8; store.kv.max_value_len()];
        let n = store.get(k, &mut buf).expect("get");
        buf.truncate(n);
        out.insert(k, buf);
    }
    out
}
