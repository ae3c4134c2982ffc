//! Damaged flash: random images, bit flips, torn and zeroed records.
//!
//! Every operation is driven step by step with a cap on the number of flash
//! requests, so an engine that loops forever fails the test instead of
//! hanging it; the random-image tests also run under a wall-clock watchdog
//! that catches a loop issuing no request at all. All randomness comes from
//! fixed seeds.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use flashsim::SimFlash;
use tickv::crc::Crc32;
use tickv::{Error, Geometry, Op, Output, TicKV, ValueBuf};

/// No single operation may need more flash requests than this.
const STEP_CAP: u64 = 10_000_000;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// An engine, its flash and scratch, driven one step at a time.
struct Rig {
    kv: TicKV<'static>,
    flash: Sim,
    scratch: &'static mut [u8],
}

fn flash_geometry(g: Geometry) -> flashsim::Geometry {
    flashsim::Geometry {
        region_size: g.region_size,
        region_count: g.region_count,
        program_unit: g.program_unit,
        erase_value: 0xFF,
    }
}

impl Rig {
    fn new(g: Geometry, slots: usize, scratch: usize, flash: Sim) -> Rig {
        let (kv, flash, scratch) = store(g, slots, scratch, flash).into_parts();
        Rig { kv, flash, scratch }
    }

    /// A rig over a copy of `image`; words that are not all 0xFF count as
    /// programmed, as on a device that was read back from a dump.
    fn from_image(g: Geometry, slots: usize, scratch: usize, image: &[u8]) -> Rig {
        let sim = SimFlash::from_image(flash_geometry(g), image.to_vec()).expect("image size");
        Rig::new(g, slots, scratch, Sim(sim))
    }

    fn formatted(g: Geometry, slots: usize) -> Rig {
        let mut r = Rig::new(g, slots, 64, sim(g));
        r.format().expect("format");
        r
    }

    fn image(&self) -> &[u8] {
        self.flash.0.image()
    }

    /// Runs one operation to completion, failing if it issues more than
    /// `STEP_CAP` flash requests or leaves the engine busy.
    fn run(&mut self, op: Op, value: ValueBuf) -> Result<Output, Error> {
        let r = tickv::blocking::run_bounded(
            &mut self.kv,
            &mut self.flash,
            self.scratch,
            op,
            value,
            STEP_CAP,
        )
        .unwrap_or_else(|| {
            panic!("{op:?} still running after {STEP_CAP} flash requests: the engine hangs")
        });
        assert!(!self.kv.busy(), "{op:?} finished but left the engine busy");
        r
    }

    fn unit(&mut self, op: Op, value: ValueBuf) -> Result<(), Error> {
        self.run(op, value).map(|out| {
            assert_eq!(out, Output::Done, "{op:?}");
        })
    }

    fn format(&mut self) -> Result<(), Error> {
        self.unit(Op::Format, ValueBuf::None)
    }

    fn mount(&mut self) -> Result<(), Error> {
        self.unit(Op::Mount, ValueBuf::None)
    }

    fn remount(&mut self) -> Result<(), Error> {
        self.kv.forget();
        self.mount()
    }

    fn get(&mut self, key: u64) -> Result<Vec<u8>, Error> {
        let max = self.kv.max_value_len();
        let mut buf = vec![0u8; max];
        match self.run(Op::Get(key), ValueBuf::Out(&mut buf))? {
            Output::Value { len } => {
                assert!(len <= max, "get {key:#x}: length {len} above the maximum");
                buf.truncate(len);
                Ok(buf)
            }
            other => panic!("get {key:#x} returned {other:?}"),
        }
    }

    fn set(&mut self, key: u64, value: &[u8]) -> Result<(), Error> {
        self.unit(Op::Set(key), ValueBuf::In(value))
    }

    fn gc(&mut self, full: bool) -> Result<usize, Error> {
        let op = if full { Op::GcFull } else { Op::GcStep };
        match self.run(op, ValueBuf::None)? {
            Output::Freed(n) => Ok(n),
            other => panic!("{op:?} returned {other:?}"),
        }
    }

    /// Every live key with its length, checking that iteration moves
    /// strictly forward.
    fn keys(&mut self) -> Result<Vec<(u64, usize)>, Error> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            match self.run(Op::NextKey(after), ValueBuf::None)? {
                Output::Key { key, len } => {
                    assert!(
                        after.is_none_or(|a| key > a),
                        "iteration went from {after:?} back to {key:#x}"
                    );
                    out.push((key, len));
                    after = Some(key);
                }
                Output::NoMoreKeys => return Ok(out),
                other => panic!("next_key returned {other:?}"),
            }
        }
    }

    fn rewrites(&self) -> u64 {
        self.flash.0.counters().word_rewrites
    }

    /// Checks the engine's counters for internal consistency.
    fn check_stats(&self, ctx: &str) {
        let st = self.kv.stats();
        assert!((1..=st.regions).contains(&st.used_regions), "{ctx}: {st:?}");
        assert!(st.index_used <= st.index_capacity, "{ctx}: {st:?}");
    }
}

/// Runs `f` on a worker thread and fails if it has not finished after
/// `secs` seconds: the step cap cannot see a loop that asks for no flash.
fn watchdog(name: &str, secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => worker.join().expect("worker"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: no result after {secs} s: the engine hangs without flash requests")
        }
    }
}

/// Random bytes, between `min` and `max` of them.
fn random_value(rng: &mut Rng, min: usize, max: usize) -> Vec<u8> {
    let len = min + rng.below((max - min) as u64 + 1) as usize;
    rng.bytes(len)
}

fn extent(g: Geometry, len: usize) -> usize {
    (16 + len).next_multiple_of(g.program_unit)
}

fn span(g: Geometry) -> usize {
    12usize.next_multiple_of(g.program_unit)
}

/// A version-2 region header as the engine writes it.
fn region_header(g: Geometry, erase_count: u32, seq: u32) -> Vec<u8> {
    let mut h = vec![0xFF; span(g)];
    h[0] = 2;
    h[1] =
        g.program_unit.trailing_zeros() as u8 | ((g.region_size.trailing_zeros() as u8 - 8) << 3);
    h[2..5].copy_from_slice(&erase_count.min(0xFF_FFFF).to_le_bytes()[..3]);
    h[5..8].copy_from_slice(&(seq & 0xFF_FFFF).to_le_bytes()[..3]);
    let crc = Crc32::of(&h[..8]);
    h[8..12].copy_from_slice(&crc.to_le_bytes());
    h
}

// ---------------------------------------------------------------------------
// a. Random images
// ---------------------------------------------------------------------------

/// Every value each key ever had.
type History = BTreeMap<u64, Vec<Vec<u8>>>;

/// A real store with history: formatted, then churned with overwrites,
/// deletes and compaction until the ring has wrapped.
fn donor(g: Geometry, seed: u64) -> (Vec<u8>, History) {
    let mut rng = Rng::new(seed);
    let mut r = Rig::formatted(g, 64);
    let max_len = r.kv.max_value_len().min(g.region_size / 4);
    let keys: Vec<u64> = (0..10).map(|_| rng.next()).collect();
    let mut history = History::new();
    for _ in 0..40 * g.region_count {
        let k = keys[rng.below(keys.len() as u64) as usize];
        match rng.below(20) {
            0..=2 => {
                let res = r.unit(Op::Delete(k), ValueBuf::None);
                assert!(
                    matches!(res, Ok(()) | Err(Error::NotFound)),
                    "donor delete: {res:?}"
                );
            }
            3 => {
                r.gc(false).unwrap();
            }
            _ => {
                let v = random_value(&mut rng, 0, max_len);
                match r.set(k, &v) {
                    Ok(()) => history.entry(k).or_default().push(v),
                    Err(Error::NoSpace) => {
                        r.gc(true).unwrap();
                    }
                    Err(e) => panic!("donor set: {e:?}"),
                }
            }
        }
    }
    let wrapped = r.flash.0.erase_counts().iter().all(|&c| c >= 2);
    assert!(wrapped, "donor for {g:?} never compacted every region");
    let img = r.image().to_vec();
    // Crafted headers must be what the engine writes.
    for at in (0..img.len()).step_by(g.region_size) {
        let h = &img[at..at + span(g)];
        let u24 = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], 0]);
        assert_eq!(h, region_header(g, u24(2), u24(5)), "region header format");
    }
    (img, history)
}

/// Erase counts and sequence numbers that stress the arithmetic around
/// them.
fn odd_u32(rng: &mut Rng, count: usize) -> u32 {
    match rng.below(7) {
        0 => 0,
        1 => 1,
        2 => rng.below(3 * count as u64) as u32,
        3 => u32::MAX,
        4 => u32::MAX - rng.below(3) as u32,
        5 => rng.below(100_000) as u32,
        _ => rng.next() as u32,
    }
}

fn odd_header(rng: &mut Rng, g: Geometry) -> Vec<u8> {
    let erase_count = odd_u32(rng, g.region_count);
    region_header(g, erase_count, odd_u32(rng, g.region_count))
}

/// Random bytes, with plausible structure laid over some regions: region
/// headers copied from the donor or crafted with odd numbers, erased
/// bodies, erased tails, and record runs copied from the donor.
fn crafted_image(rng: &mut Rng, g: Geometry, donor: &[u8]) -> Vec<u8> {
    let (region, count, sp) = (g.region_size, g.region_count, span(g));
    let mut img = rng.bytes(region * count);
    for r in 0..count {
        let base = r * region;
        let from = rng.below(count as u64) as usize * region;
        match rng.below(10) {
            0..=3 => img[base..base + sp].copy_from_slice(&donor[from..from + sp]),
            4..=6 => {
                img[base..base + sp].copy_from_slice(&odd_header(rng, g));
            }
            7 => img[base..base + sp].fill(0xFF),
            _ => {}
        }
        let body = base + sp..base + region;
        let cut = body.start + rng.below((region - sp) as u64) as usize;
        match rng.below(7) {
            0 => {}
            1 => img[body].fill(0xFF),
            2 => img[cut..body.end].fill(0xFF),
            3 => img[body.clone()].copy_from_slice(&donor[from + sp..from + region]),
            4 => img[body.start..cut]
                .copy_from_slice(&donor[from + sp..from + sp + cut - body.start]),
            5 => {
                img[body.start..cut]
                    .copy_from_slice(&donor[from + sp..from + sp + cut - body.start]);
                img[cut..body.end].fill(0xFF);
            }
            _ => img[body.start..body.start + 16].fill(0xFF),
        }
    }
    img
}

/// The donor image with a few random injuries, and whether any of them
/// forged metadata (a valid region header in the wrong place, or a region's
/// records copied into another region). Forged metadata can mislead mount
/// into a different order of regions than the one it then writes in, so
/// that only the weak checks apply to such images.
fn damaged_image(rng: &mut Rng, g: Geometry, donor: &[u8]) -> (Vec<u8>, bool) {
    let (region, count, sp) = (g.region_size, g.region_count, span(g));
    let size = region * count;
    let mut img = donor.to_vec();
    let mut forged = false;
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(size as u64) as usize;
        let most = if rng.chance(70) { 48 } else { region as u64 };
        let len = (1 + rng.below(most) as usize).min(size - at);
        let kind = rng.below(8);
        forged |= kind >= 5;
        match kind {
            0 => img[at..at + len].copy_from_slice(&random_value(rng, len, len)),
            1 => img[at..at + len].fill(0x00),
            2 => img[at..at + len].fill(0xFF),
            3 => img[at] ^= 1 << rng.below(8),
            4 => {
                let r = rng.below(count as u64) as usize;
                img[r * region..(r + 1) * region].fill(0xFF);
            }
            5 => {
                // Two regions with the same header (same sequence number).
                let (a, b) = (
                    rng.below(count as u64) as usize,
                    rng.below(count as u64) as usize,
                );
                let h = img[a * region..a * region + sp].to_vec();
                img[b * region..b * region + sp].copy_from_slice(&h);
            }
            6 => {
                // A region header re-crafted with odd numbers.
                let r = rng.below(count as u64) as usize;
                img[r * region..r * region + sp].copy_from_slice(&odd_header(rng, g));
            }
            _ => {
                // A region's body replaced by another region's.
                let (a, b) = (
                    rng.below(count as u64) as usize,
                    rng.below(count as u64) as usize,
                );
                let body = img[a * region + sp..(a + 1) * region].to_vec();
                img[b * region + sp..(b + 1) * region].copy_from_slice(&body);
            }
        }
    }
    (img, forged)
}

/// Mounts `img`; if that works, runs random operations. Nothing may panic
/// or hang, and reads return only values once written for the key. Unless
/// the image holds forged metadata, and while no write has landed on
/// non-erased flash (the simulator counts those), keys written in this
/// session must behave exactly like a map. Returns how far it got.
fn garbage_run(
    g: Geometry,
    seed: u64,
    img: &[u8],
    donor_history: &History,
    forged: bool,
) -> Outcome {
    let ctx = format!("{g:?} seed {seed}");
    let mut rng = Rng::new(seed ^ 0xA5A5);
    let slots = [0, 3, 64][rng.below(3) as usize];
    let scratch = [64, 96, 512][rng.below(3) as usize];
    let mut r = Rig::from_image(g, slots, scratch, img);
    // Garbage words count as programmed: writing over them is the device's
    // business, not a rule the engine can keep.
    r.flash.0.set_strict(false);
    match r.mount() {
        Ok(()) => {}
        Err(Error::NotFormatted | Error::V1Store | Error::GeometryMismatch) => {
            return Outcome::Refused
        }
        Err(e) => panic!("{ctx}: mount of a damaged image: {e:?}"),
    }
    let mut history = donor_history.clone();
    let mut keys: Vec<u64> = history.keys().copied().collect();
    keys.extend((0..4).map(|_| rng.next()));
    let max_len = r.kv.max_value_len().min(g.region_size / 4);
    // Keys written on clean flash since the last write over garbage.
    let mut exact: BTreeMap<u64, Option<Vec<u8>>> = BTreeMap::new();
    let mut clean_mark = r.rewrites();
    let mut checks = 0usize;
    for i in 0..300 {
        if r.rewrites() != clean_mark {
            exact.clear();
            clean_mark = r.rewrites();
        }
        let pick = rng.below(100);
        let k = keys[rng.below(keys.len() as u64) as usize];
        let ctx = format!("{ctx} op {i}");
        let want = exact.get(&k).cloned();
        match pick {
            0..=19 => match r.get(k) {
                Ok(v) => {
                    assert!(
                        history.get(&k).is_some_and(|h| h.contains(&v)),
                        "{ctx}: get {k:#x} returned {} bytes never written for it",
                        v.len()
                    );
                    if let Some(w) = &want {
                        assert_eq!(w.as_ref(), Some(&v), "{ctx}: get {k:#x}");
                        checks += 1;
                    }
                }
                Err(e @ (Error::NotFound | Error::Corrupt)) => {
                    if let Some(w) = &want {
                        assert!(
                            w.is_none() && e == Error::NotFound,
                            "{ctx}: get {k:#x}: {e:?}"
                        );
                        checks += 1;
                    }
                }
                Err(e) => panic!("{ctx}: get: {e:?}"),
            },
            20..=32 => match r.gc(false) {
                Ok(_) | Err(Error::NoSpace) => {}
                Err(e) => panic!("{ctx}: gc step: {e:?}"),
            },
            33..=37 => match r.gc(true) {
                Ok(_) | Err(Error::NoSpace) => {}
                Err(e) => panic!("{ctx}: gc full: {e:?}"),
            },
            38..=47 => match r.keys() {
                Ok(list) => {
                    assert!(list.len() <= g.region_count * g.region_size / 16, "{ctx}");
                    if r.rewrites() == clean_mark {
                        for (key, v) in &exact {
                            let listed = list.iter().find(|(x, _)| x == key).map(|e| e.1);
                            assert_eq!(listed, v.as_ref().map(|v| v.len()), "{ctx}: key {key:#x}");
                            checks += 1;
                        }
                    }
                }
                Err(Error::Corrupt) => {}
                Err(e) => panic!("{ctx}: iteration: {e:?}"),
            },
            48..=52 => {
                for region in 0..g.region_count {
                    let info = r.run(Op::RegionInfo(region), ValueBuf::None);
                    assert!(matches!(info, Ok(Output::Region(_))), "{ctx}: {info:?}");
                }
            }
            53..=57 => r
                .remount()
                .unwrap_or_else(|e| panic!("{ctx}: remount: {e:?}")),
            58..=87 => {
                let v = random_value(&mut rng, 0, max_len);
                history.entry(k).or_default().push(v.clone());
                let present = want.as_ref().map(|w| w.is_some());
                let (op, refusal) = match rng.below(6) {
                    0 => (
                        Op::Add(k),
                        (present != Some(false)).then_some(Error::AlreadyExists),
                    ),
                    1 => (
                        Op::Update(k),
                        (present != Some(true)).then_some(Error::NotFound),
                    ),
                    _ => (Op::Set(k), None),
                };
                match r.unit(op, ValueBuf::In(&v)) {
                    Ok(()) => {
                        assert!(
                            present.is_none() || refusal.is_none(),
                            "{ctx}: {op:?} accepted"
                        );
                        if r.rewrites() == clean_mark && !forged {
                            exact.insert(k, Some(v));
                        }
                    }
                    Err(Error::NoSpace) => {}
                    Err(e) => assert_eq!(Some(e), refusal, "{ctx}: {op:?}"),
                }
            }
            _ => {
                let op = if rng.chance(25) {
                    Op::SecureDelete(k)
                } else {
                    Op::Delete(k)
                };
                match r.unit(op, ValueBuf::None) {
                    Ok(()) => {
                        assert_ne!(want, Some(None), "{ctx}: {op:?} of an absent key");
                        if r.rewrites() == clean_mark && !forged {
                            exact.insert(k, None);
                        }
                    }
                    Err(Error::NotFound) => {
                        assert!(!matches!(want, Some(Some(_))), "{ctx}: {op:?}: NotFound")
                    }
                    Err(Error::NoSpace) => {}
                    Err(e) => panic!("{ctx}: {op:?}: {e:?}"),
                }
            }
        }
        r.check_stats(&ctx);
    }
    r.remount()
        .unwrap_or_else(|e| panic!("{ctx}: final remount: {e:?}"));
    Outcome::Survived(checks)
}

/// How a random image fared.
enum Outcome {
    /// Mount said the image is not a store.
    Refused,
    /// Mounted, and every operation behaved; this many reads were checked
    /// against the exact model.
    Survived(usize),
}

const RANDOM_GEOMETRIES: [(usize, usize, usize); 4] =
    [(4096, 4, 4), (1024, 8, 1), (2048, 6, 32), (256, 16, 8)];

/// The message of a caught panic.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "non-text panic".into()
    }
}

fn random_images(variant: u64, seeds: u64) {
    let mut failures = Vec::new();
    let mut mounts = Vec::new();
    let mut totals = (0, 0);
    for (gi, (region, count, unit)) in RANDOM_GEOMETRIES.into_iter().enumerate() {
        let g = geometry(region, count, unit);
        let (donor_img, history) = donor(g, 100 + gi as u64);
        let (mut mounted, mut checks) = (0, 0);
        for seed in 0..seeds {
            let mut rng = Rng::new(seed * 7919 + gi as u64 + 1000 * variant);
            let (img, forged) = match variant {
                0 => (rng.bytes(region * count), true),
                1 => (crafted_image(&mut rng, g, &donor_img), true),
                _ => damaged_image(&mut rng, g, &donor_img),
            };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                garbage_run(g, seed, &img, &history, forged)
            }));
            match run {
                Ok(Outcome::Survived(n)) => {
                    mounted += 1;
                    checks += n;
                }
                Ok(Outcome::Refused) => {}
                Err(p) => failures.push(format!(
                    "variant {variant} {g:?} seed {seed}: {}",
                    panic_text(&*p)
                )),
            }
        }
        totals = (totals.0 + mounted, totals.1 + checks);
        mounts.push((g, mounted));
    }
    let (mounted, checks) = totals;
    println!(
        "{} images: {mounted} mounted and survived ({checks} exact checks)",
        seeds as usize * RANDOM_GEOMETRIES.len()
    );
    assert!(
        failures.is_empty(),
        "{} images broke the engine:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (g, mounted) in mounts {
        assert!(
            variant == 0 || mounted * 4 >= seeds,
            "{g:?}: only {mounted}/{seeds} images mounted: the operation phase went untested"
        );
    }
}

#[test]
fn random_bytes_never_mount_into_a_panic() {
    watchdog("random bytes", 120, || random_images(0, 256));
}

#[test]
fn random_bytes_under_valid_headers_never_panic_or_hang() {
    watchdog("crafted images", 120, || random_images(1, 150));
}

#[test]
fn damaged_real_stores_never_panic_or_hang() {
    watchdog("damaged images", 120, || random_images(2, 150));
}

// ---------------------------------------------------------------------------
// b. Bit flips in a populated store; c. torn and zeroed records;
// d. the store still takes a new key, and remounts
// ---------------------------------------------------------------------------

/// One record of a populated store: its key, its value, and the bytes it
/// occupies in flash.
#[derive(Clone)]
struct Rec {
    key: u64,
    value: Vec<u8>,
    start: usize,
    end: usize,
}

impl Rec {
    fn holds(&self, addr: usize) -> bool {
        (self.start..self.end).contains(&addr)
    }
}

/// A store image with sixty keys, each written once.
struct Populated {
    g: Geometry,
    slots: usize,
    image: Vec<u8>,
    recs: Vec<Rec>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sixty keys, each written once with a distinct random value of 32 to 200
/// bytes: no record is superseded, nothing is compacted, and each record is
/// found in the image by its value.
fn populated(g: Geometry, slots: usize, seed: u64) -> Populated {
    let mut rng = Rng::new(seed);
    let mut r = Rig::formatted(g, slots);
    let mut written = Vec::new();
    for _ in 0..60 {
        let key = rng.next();
        let value = random_value(&mut rng, 32, 200);
        r.set(key, &value).expect("populate");
        written.push((key, value));
    }
    assert_eq!(
        r.flash.0.counters().erases as usize,
        g.region_count,
        "no compaction"
    );
    let st = r.kv.stats();
    assert!(st.used_regions >= 2, "records span several regions");
    assert!(st.used_regions + 2 <= st.regions, "room left for a new key");
    let image = r.image().to_vec();
    let recs = written
        .into_iter()
        .map(|(key, value)| {
            let at = find(&image, &value).expect("value in flash");
            assert!(
                find(&image[at + 1..], &value).is_none(),
                "value stored once"
            );
            let start = at - 16;
            let end = start + extent(g, value.len());
            Rec {
                key,
                value,
                start,
                end,
            }
        })
        .collect();
    Populated {
        g,
        slots,
        image,
        recs,
    }
}

/// Shapes of populated stores: region size, count, program unit, index
/// slots (complete, none, partial).
const POPULATED: [(usize, usize, usize, usize); 4] = [
    (4096, 5, 4, 64),
    (2048, 8, 8, 0),
    (1024, 16, 1, 16),
    (4096, 6, 32, 64),
];

/// What a read of a damaged record may return: its exact value, or an
/// honest failure. Never another value.
fn damaged_read_ok(got: &Result<Vec<u8>, Error>, value: &[u8]) -> bool {
    match got {
        Ok(v) => v == value,
        Err(e) => matches!(e, Error::Corrupt | Error::NotFound),
    }
}

/// Checks every record: intact ones read back exactly, damaged ones
/// (`hit`) per `damaged_read_ok`; iteration lists every intact key with
/// its length and no key that was never written. Returns how many damaged
/// records failed to read.
fn check_records(r: &mut Rig, recs: &[Rec], hit: &dyn Fn(&Rec) -> bool, ctx: &str) -> usize {
    let mut failed = 0;
    for rec in recs {
        let got = r.get(rec.key);
        if hit(rec) {
            assert!(
                damaged_read_ok(&got, &rec.value),
                "{ctx}: damaged key {:#x}: {:?}",
                rec.key,
                got.as_ref().map(|v| v.len())
            );
            failed += got.is_err() as usize;
        } else {
            assert_eq!(
                got.as_ref(),
                Ok(&rec.value),
                "{ctx}: intact key {:#x}",
                rec.key
            );
        }
    }
    let listed = r
        .keys()
        .unwrap_or_else(|e| panic!("{ctx}: iteration: {e:?}"));
    for (key, len) in &listed {
        let rec = recs.iter().find(|rec| rec.key == *key);
        let rec = rec.unwrap_or_else(|| panic!("{ctx}: iteration invented key {key:#x}"));
        assert_eq!(*len, rec.value.len(), "{ctx}: listed length of {key:#x}");
    }
    for rec in recs.iter().filter(|rec| !hit(rec)) {
        assert!(
            listed.iter().any(|(k, _)| *k == rec.key),
            "{ctx}: iteration lost intact key {:#x}",
            rec.key
        );
    }
    failed
}

/// d. Writes a new key and reads it back. `suspect` tells whether an
/// address is damaged; a new record over a damaged address may read back
/// as its value, `Corrupt` or `NotFound`, anything else exactly.
fn new_key_round_trip(r: &mut Rig, suspect: &dyn Fn(usize) -> bool, ctx: &str) -> Rec {
    let g = r.kv.geometry();
    let key = 0x5EED_0000_0000_0001;
    let value = Rng::new(0xBEEF).bytes(100);
    r.set(key, &value)
        .unwrap_or_else(|e| panic!("{ctx}: set of a new key: {e:?}"));
    // Damage under the new record can change its bytes; then the value is
    // not found, and the whole flash counts as its place.
    let rec = match find(r.image(), &value) {
        Some(at) => Rec {
            key,
            start: at - 16,
            end: at - 16 + extent(g, value.len()),
            value,
        },
        None => Rec {
            key,
            start: 0,
            end: r.image().len(),
            value,
        },
    };
    let touched = (rec.start..rec.end).any(suspect);
    let got = r.get(key);
    if touched {
        assert!(damaged_read_ok(&got, &rec.value), "{ctx}: new key: {got:?}");
    } else {
        assert_eq!(got.as_ref(), Ok(&rec.value), "{ctx}: new key");
    }
    rec
}

/// Mounts a copy of `p` with `flips` applied and checks the verdicts of
/// `check_records`; then d.: a new key, a remount, and everything again.
/// Returns how many damaged records failed to read.
fn flip_trial(p: &Populated, flips: &[(usize, u8)], ctx: &str) -> usize {
    let g = p.g;
    let mut r = Rig::from_image(g, p.slots, 64, &p.image);
    // A flipped bit in erased flash is a stuck bit: a later program over it
    // clears fewer bits than asked. That is the device, not the engine; it
    // is the only kind of rewrite allowed below.
    r.flash.0.set_strict(false);
    for &(addr, bit) in flips {
        r.flash.0.flip_bit(addr, bit);
    }
    let stuck = flips.iter().filter(|(a, _)| p.image[*a] == 0xFF).count() as u64;
    r.mount().unwrap_or_else(|e| panic!("{ctx}: mount: {e:?}"));
    let hit = |rec: &Rec| flips.iter().any(|&(a, _)| rec.holds(a));
    let failed = check_records(&mut r, &p.recs, &hit, ctx);
    let suspect = |a: usize| flips.iter().any(|&(f, _)| f == a);
    let new = new_key_round_trip(&mut r, &suspect, ctx);
    r.remount()
        .unwrap_or_else(|e| panic!("{ctx}: remount: {e:?}"));
    let new_hit = (new.start..new.end).any(suspect);
    let mut all: Vec<&Rec> = p.recs.iter().collect();
    all.push(&new);
    for rec in all {
        let got = r.get(rec.key);
        if hit(rec) || (rec.key == new.key && new_hit) {
            assert!(
                damaged_read_ok(&got, &rec.value),
                "{ctx}: after remount: {:#x}",
                rec.key
            );
        } else {
            assert_eq!(
                got.as_ref(),
                Ok(&rec.value),
                "{ctx}: after remount: {:#x}",
                rec.key
            );
        }
    }
    assert!(
        r.rewrites() <= stuck,
        "{ctx}: the engine programmed {} words twice ({stuck} stuck bits)",
        r.rewrites()
    );
    failed
}

fn random_flips(rng: &mut Rng, size: usize, n: usize) -> Vec<(usize, u8)> {
    (0..n)
        .map(|_| (rng.below(size as u64) as usize, rng.below(8) as u8))
        .collect()
}

#[test]
fn single_bit_flips_cost_at_most_the_record_they_hit() {
    let (mut trials, mut in_records, mut failed) = (0, 0, 0);
    for (i, (region, count, unit, slots)) in POPULATED.into_iter().enumerate() {
        let p = populated(geometry(region, count, unit), slots, 10 + i as u64);
        let mut rng = Rng::new(20 + i as u64);
        for t in 0..300 {
            let flips = random_flips(&mut rng, region * count, 1);
            in_records += p.recs.iter().any(|rec| rec.holds(flips[0].0)) as usize;
            failed += flip_trial(&p, &flips, &format!("{:?} trial {t} {flips:?}", p.g));
            trials += 1;
        }
    }
    println!("{trials} single flips, {in_records} inside records, {failed} reads refused");
    assert!(in_records > trials / 4, "most flips should land in records");
    assert!(failed > 0, "some flips must damage a value");
}

#[test]
fn five_bit_flips_cost_at_most_the_records_they_hit() {
    let (mut trials, mut failed) = (0, 0);
    for (i, (region, count, unit, slots)) in POPULATED.into_iter().enumerate() {
        let p = populated(geometry(region, count, unit), slots, 30 + i as u64);
        let mut rng = Rng::new(40 + i as u64);
        for t in 0..120 {
            let flips = random_flips(&mut rng, region * count, 5);
            failed += flip_trial(&p, &flips, &format!("{:?} trial {t} {flips:?}", p.g));
            trials += 1;
        }
    }
    println!("{trials} five-flip trials, {failed} reads refused");
    assert!(failed > 0, "some flips must damage a value");
}

#[test]
fn a_flip_in_any_region_header_bit_loses_no_key() {
    let mut trials = 0;
    for (i, (region, count, unit, slots)) in POPULATED.into_iter().enumerate() {
        let p = populated(geometry(region, count, unit), slots, 50 + i as u64);
        let mut rng = Rng::new(60 + i as u64);
        for r in 0..count {
            // Every header bit in the larger regions, a sample in the
            // smaller ones.
            let header_bits = 8 * span(p.g);
            let bits: Vec<usize> = if region >= 4096 {
                (0..header_bits).collect()
            } else {
                (0..32)
                    .map(|_| rng.below(header_bits as u64) as usize)
                    .collect()
            };
            for bit in bits {
                let flips = [(r * region + bit / 8, (bit % 8) as u8)];
                assert!(!p.recs.iter().any(|rec| rec.holds(flips[0].0)));
                let failed = flip_trial(&p, &flips, &format!("{:?} region {r} bit {bit}", p.g));
                assert_eq!(failed, 0, "{:?} region {r} bit {bit}: a key was lost", p.g);
                trials += 1;
            }
        }
    }
    println!("{trials} region-header flips, no key lost");
}

/// Mounts `img` (a damaged copy of `p` in which record `victim` is hit)
/// on a strict simulator whose programmed words are the image's non-erased
/// ones, and checks c. and d.
fn record_damage_trial(p: &Populated, img: &[u8], victim: usize, ctx: &str) {
    let mut r = Rig::from_image(p.g, p.slots, 64, img);
    r.mount().unwrap_or_else(|e| panic!("{ctx}: mount: {e:?}"));
    assert!(
        r.kv.stats().corrupt_records >= 1,
        "{ctx}: {:?}",
        r.kv.stats()
    );
    let rec = &p.recs[victim];
    let hit = |x: &Rec| x.key == rec.key;
    assert_eq!(
        check_records(&mut r, &p.recs, &hit, ctx),
        1,
        "{ctx}: damaged key read"
    );
    let new = new_key_round_trip(&mut r, &|_| false, ctx);
    r.remount()
        .unwrap_or_else(|e| panic!("{ctx}: remount: {e:?}"));
    let mut recs = p.recs.clone();
    recs.push(new);
    assert_eq!(
        check_records(&mut r, &recs, &hit, ctx),
        1,
        "{ctx}: after remount"
    );
}

#[test]
fn torn_and_zeroed_records_cost_only_themselves() {
    let mut trials = 0;
    for (i, (region, count, unit, slots)) in POPULATED.into_iter().enumerate() {
        let p = populated(geometry(region, count, unit), slots, 70 + i as u64);
        let mut rng = Rng::new(80 + i as u64);
        for (v, rec) in p.recs.iter().enumerate() {
            let ctx = format!("{:?} record {v}", p.g);
            // Torn: everything from a point after the meta words (which a
            // torn first program can break only at the end of the log) up
            // to the record's end reads erased.
            let data_end = rec.start + 16 + rec.value.len();
            let mut img = p.image.clone();
            let cut = loop {
                let cut = rec.start + 4 + rng.below((data_end - rec.start - 4) as u64) as usize;
                if !img[cut..data_end].iter().all(|&b| b == 0xFF) {
                    break cut;
                }
            };
            img[cut..rec.end].fill(0xFF);
            record_damage_trial(&p, &img, v, &format!("{ctx} torn at +{}", cut - rec.start));
            // Zeroed: every byte of the record programmed to 0.
            let mut img = p.image.clone();
            img[rec.start..rec.end].fill(0x00);
            record_damage_trial(&p, &img, v, &format!("{ctx} zeroed"));
            trials += 2;
        }
        // The last record torn anywhere, header included: what a power cut
        // during its program leaves.
        let last = (0..p.recs.len()).max_by_key(|&v| p.recs[v].start).unwrap();
        let rec = &p.recs[last];
        for cut in 1..16 + rec.value.len() {
            let mut img = p.image.clone();
            img[rec.start + cut..rec.end].fill(0xFF);
            if img == p.image {
                continue;
            }
            record_damage_trial(
                &p,
                &img,
                last,
                &format!("{:?} last record torn at +{cut}", p.g),
            );
            trials += 1;
        }
    }
    println!("{trials} torn or zeroed records, each costing only itself");
}

// ---------------------------------------------------------------------------
// Reproducers of bugs found by these tests (fixed), and one known limit
// ---------------------------------------------------------------------------

/// One bit flip in the head region's header used to make mount take the
/// previous region for the head and the real head for the tail: the ring
/// ran backwards (older values won) and, with no region free, every write
/// failed with `NoSpace`. Mount now recognises a damaged head by the free
/// region that follows it.
#[test]
fn header_flip_in_head_region() {
    let g = geometry(1024, 4, 4);
    let mut r = Rig::formatted(g, 16);
    r.set(1, &[1; 600]).unwrap();
    r.set(2, &[2; 600]).unwrap();
    r.set(1, b"new").unwrap();
    let head = (0..4)
        .position(|i| {
            matches!(
                r.run(Op::RegionInfo(i), ValueBuf::None),
                Ok(Output::Region(info)) if info.role == tickv::Role::Head
            )
        })
        .unwrap();
    assert_eq!(head, 1);
    r.flash.0.flip_bit(g.region_size, 0);
    r.remount().unwrap();
    let got = r.get(1).map(|v| v.len());
    assert_eq!(got, Ok(3), "key 1 must read its newest value, b\"new\"");
    assert!(r.kv.stats().used_regions < 4, "{:?}", r.kv.stats());
    r.set(3, b"x").unwrap();
    assert_eq!(r.get(3), Ok(b"x".to_vec()));
}

/// A region header carrying the largest 24-bit sequence number (forged, or
/// after 16 million erases): the next regions wrap to 0, 1, ... and serial
/// arithmetic keeps them newer, so no key is lost.
#[test]
fn sequence_numbers_wrap() {
    let g = geometry(1024, 4, 4);
    let mut r = Rig::formatted(g, 16);
    r.set(1, b"one").unwrap();
    r.flash.0.image_mut()[..span(g)].copy_from_slice(&region_header(g, 1, 0xFF_FFFF));
    r.remount().unwrap();
    for k in 2..5u64 {
        r.set(k, &[k as u8; 900]).unwrap();
    }
    r.remount().unwrap();
    assert_eq!(r.get(1), Ok(b"one".to_vec()));
    for k in 2..5u64 {
        assert_eq!(r.get(k), Ok(vec![k as u8; 900]), "key {k}");
    }
}

/// A record whose first bytes read erased (here: key 2's record erased
/// from byte 2 of its meta word on) looks like the end of the log: mount
/// stops scanning the region there, so the intact records after it are
/// lost, and in the head region the next append programs over them. A
/// power cut can only leave such a record at the very end of the log,
/// where this is right; elsewhere it takes bits returning to 1.
#[test]
#[ignore = "known format limit (doc/tickv-format.md): needs bits to return to 1 mid-log"]
fn limit_erased_record_start_hides_the_rest_of_its_region() {
    let g = geometry(1024, 4, 4);
    let mut r = Rig::formatted(g, 16);
    for k in 1..4u64 {
        r.set(k, &[k as u8; 40]).unwrap();
    }
    let mut img = r.image().to_vec();
    let at = find(&img, &[2; 40]).unwrap() - 16;
    img[at + 2..at + 56].fill(0xFF);
    let mut r = Rig::from_image(g, 16, 64, &img);
    r.mount().unwrap();
    assert_eq!(r.get(3), Ok(vec![3; 40]), "key 3's record is intact");
    // Strict simulator: appending over key 3's record breaks a flash rule.
    r.set(4, b"four").unwrap();
    assert_eq!(r.get(3), Ok(vec![3; 40]));
}
