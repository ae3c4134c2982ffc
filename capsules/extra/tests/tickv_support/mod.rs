//! Test support for the TicKV capsule and kv_store: the whole stack over a
//! split-phase mock flash, recording clients, and helpers that make one
//! request, service the deferred calls until nothing is pending and check
//! that an accepted request got exactly one callback (and a refused one
//! none).
#![allow(dead_code)]

use std::cell::{Cell, RefCell};

use capsules_core::siphash::SipHasher;
use capsules_core::virtual_flash::{FlashUser, MuxFlash};
use capsules_extra::kv_store::KVStore;
use capsules_extra::tickv::{Config, KVSystemExt, MountClient, TicKVSystem};
use flashsim::{SimFlash, Snapshot, Tear};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::flash::Flash;
use kernel::hil::hasher::Hasher;
use kernel::hil::kv::{KVClient, KVSystem, KVSystemClient, RefusedKeyValue, KV};
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use kernel_mock::flash::{Kind, MockFlash, MockOp};
use kernel_mock::leak;
use tickv::IndexEntry;

thread_local! {
    /// Set while a test is inside a request: a callback then is a bug.
    static IN_REQUEST: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as if inside a request: a callback meanwhile fails the test.
pub fn as_request<T>(f: impl FnOnce() -> T) -> T {
    IN_REQUEST.with(|flag| flag.set(true));
    let r = f();
    IN_REQUEST.with(|flag| flag.set(false));
    r
}

fn assert_not_in_request() {
    assert!(
        !IN_REQUEST.with(Cell::get),
        "callback delivered inside a request"
    );
}

/// A completion, with the window of every buffer that came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    // KV level.
    Get {
        result: Result<(), ErrorCode>,
        /// The first `min(full_len, window)` bytes of the window.
        data: Vec<u8>,
        full_len: usize,
        key: Window,
        value: Window,
        /// The whole value buffer as it came back.
        whole: Vec<u8>,
    },
    Set(Result<(), ErrorCode>, Window, Window),
    Add(Result<(), ErrorCode>, Window, Window),
    Update(Result<(), ErrorCode>, Window, Window),
    Delete(Result<(), ErrorCode>, Window),
    Gc(Result<(), ErrorCode>, usize),
    // KVSystem level.
    Key(Result<(), ErrorCode>, Window, [u8; 8]),
    Append(Result<(), ErrorCode>, Window),
    Value {
        result: Result<(), ErrorCode>,
        data: Vec<u8>,
        len: usize,
        buf: Window,
    },
    Invalidate(Result<(), ErrorCode>),
    SysGc(Result<(), ErrorCode>, usize),
    /// A walk step: the key found and its value length, or none.
    Next(Result<Option<(u64, usize)>, ErrorCode>),
}

impl Done {
    /// The result of any completion.
    pub fn result(&self) -> Result<(), ErrorCode> {
        match self {
            Done::Get { result, .. } | Done::Value { result, .. } => *result,
            Done::Set(r, ..)
            | Done::Add(r, ..)
            | Done::Update(r, ..)
            | Done::Delete(r, ..)
            | Done::Gc(r, ..)
            | Done::Key(r, ..)
            | Done::Append(r, ..)
            | Done::Invalidate(r)
            | Done::SysGc(r, ..) => *r,
            Done::Next(r) => r.map(|_| ()),
        }
    }
}

/// A KV write request (set, add or update).
type WriteFn = fn(
    &KVStore<'static>,
    SubSliceMut<'static, u8>,
    SubSliceMut<'static, u8>,
) -> Result<(), RefusedKeyValue>;

/// A buffer window: start, length, whole length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window(pub usize, pub usize, pub usize);

fn window(s: &SubSliceMut<'static, u8>) -> Window {
    Window(s.start(), s.len(), s.full_len())
}

fn prefix(s: &SubSliceMut<'static, u8>, len: usize) -> Vec<u8> {
    s.as_slice()[..len.min(s.len())].to_vec()
}

/// Records every completion of the KV and KVSystem levels, and mount
/// notifications.
#[derive(Default)]
pub struct Recorder {
    pub done: RefCell<Vec<Done>>,
    pub mounts: RefCell<Vec<Result<(), ErrorCode>>>,
}

impl Recorder {
    fn push(&self, d: Done) {
        assert_not_in_request();
        self.done.borrow_mut().push(d);
    }
}

impl KVClient for Recorder {
    fn get_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        full_len: usize,
    ) {
        let (data, key, win) = (prefix(&value, full_len), window(&key), window(&value));
        self.push(Done::Get {
            result,
            data,
            full_len,
            key,
            value: win,
            whole: value.take().to_vec(),
        });
    }
    fn set_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.push(Done::Set(result, window(&key), window(&value)));
    }
    fn add_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.push(Done::Add(result, window(&key), window(&value)));
    }
    fn update_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.push(Done::Update(result, window(&key), window(&value)));
    }
    fn delete_complete(&self, result: Result<(), ErrorCode>, key: SubSliceMut<'static, u8>) {
        self.push(Done::Delete(result, window(&key)));
    }
    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, freed_bytes: usize) {
        self.push(Done::Gc(result, freed_bytes));
    }
}

impl KVSystemClient<[u8; 8]> for Recorder {
    fn generate_key_complete(
        &self,
        result: Result<(), ErrorCode>,
        unhashed_key: SubSliceMut<'static, u8>,
        key: &'static mut [u8; 8],
    ) {
        self.push(Done::Key(result, window(&unhashed_key), *key));
    }
    fn append_key_complete(
        &self,
        result: Result<(), ErrorCode>,
        _key: &'static mut [u8; 8],
        value: SubSliceMut<'static, u8>,
    ) {
        self.push(Done::Append(result, window(&value)));
    }
    fn get_value_complete(
        &self,
        result: Result<(), ErrorCode>,
        _key: &'static mut [u8; 8],
        ret_buf: SubSliceMut<'static, u8>,
        value_len: usize,
    ) {
        self.push(Done::Value {
            result,
            data: prefix(&ret_buf, value_len),
            len: value_len,
            buf: window(&ret_buf),
        });
    }
    fn invalidate_key_complete(&self, result: Result<(), ErrorCode>, _key: &'static mut [u8; 8]) {
        self.push(Done::Invalidate(result));
    }
    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, freed_bytes: usize) {
        self.push(Done::SysGc(result, freed_bytes));
    }
    fn next_item_complete(
        &self,
        result: Result<Option<(u64, usize)>, ErrorCode>,
        _prefix: SubSliceMut<'static, u8>,
    ) {
        self.push(Done::Next(result));
    }
}

impl MountClient for Recorder {
    fn mount_done(&self, result: Result<(), ErrorCode>) {
        assert_not_in_request();
        self.mounts.borrow_mut().push(result);
    }
}

/// How to build a stack.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    pub geometry: flashsim::Geometry,
    pub index: usize,
    pub scratch: usize,
    pub config: Config,
    /// Put a flash mux (and a second, idle user) between flash and capsule.
    pub mux: bool,
}

/// 6 regions of 512 bytes, 4-byte program unit.
pub const GEOMETRY: flashsim::Geometry = flashsim::Geometry {
    region_size: 512,
    region_count: 6,
    program_unit: 4,
    erase_value: 0xFF,
};

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            geometry: GEOMETRY,
            index: 32,
            scratch: 64,
            config: Config {
                region_count: None,
                format_if_blank: true,
            },
            mux: false,
        }
    }
}

/// The whole stack.
pub struct Stack {
    pub calls: &'static DeferredCalls<16>,
    pub flash: &'static MockFlash,
    pub mux: Option<&'static MuxFlash<'static>>,
    pub hasher: &'static SipHasher<'static>,
    pub tickv: &'static TicKVSystem<'static>,
    pub store: &'static KVStore<'static>,
    pub rec: &'static Recorder,
    /// Requests accepted and refused so far.
    pub accepted: Cell<usize>,
    pub refused: Cell<usize>,
}

/// A leaked buffer holding `front` filler bytes, `data`, then `back`
/// filler bytes, whose window is `data`.
pub fn buf(data: &[u8], front: usize, back: usize) -> SubSliceMut<'static, u8> {
    let mut v = vec![0xA5u8; front];
    v.extend_from_slice(data);
    v.extend(std::iter::repeat_n(0x5A, back));
    let mut s = SubSliceMut::new(Box::leak(v.into_boxed_slice()));
    s.slice(front..front + data.len());
    s
}

pub fn key_buf() -> &'static mut [u8; 8] {
    Box::leak(Box::new([0u8; 8]))
}

impl Stack {
    /// A stack on blank flash, or on `image`. Nothing is mounted yet.
    pub fn new(opts: Opts, image: Option<&Snapshot>) -> Stack {
        let calls: &'static DeferredCalls<16> = leak(DeferredCalls::new());
        let flash = MockFlash::new(SimFlash::new(opts.geometry), calls);
        if let Some(image) = image {
            flash.restore(image);
        }
        let (lower, mux): (&'static dyn Flash<'static>, _) = if opts.mux {
            let slot = calls.allocate().unwrap();
            let mux = leak(MuxFlash::new(flash, slot));
            slot.set_client(mux);
            flash.set_client(mux);
            let user = leak(FlashUser::new(mux));
            user.setup();
            let other = leak(FlashUser::new(mux));
            other.setup();
            (user, Some(mux))
        } else {
            (flash, None)
        };
        let slot = calls.allocate().unwrap();
        let hasher = leak(SipHasher::new(slot));
        slot.set_client(hasher);
        let index: &'static mut [IndexEntry] =
            Box::leak(vec![IndexEntry::default(); opts.index].into_boxed_slice());
        let scratch: &'static mut [u8] = Box::leak(vec![0u8; opts.scratch].into_boxed_slice());
        let slot = calls.allocate().unwrap();
        let tickv = leak(
            TicKVSystem::new(lower, hasher, index, scratch, slot, opts.config)
                .expect("capsule geometry"),
        );
        slot.set_client(tickv);
        lower.set_client(tickv);
        hasher.set_client(tickv);
        let ext: &'static dyn KVSystemExt<'static, K = [u8; 8]> = tickv;
        let store = leak(KVStore::new(ext, key_buf()));
        tickv.set_client(store);
        let rec = leak(Recorder::default());
        store.set_client(rec);
        tickv.set_mount_client(rec);
        Stack {
            calls,
            flash,
            mux,
            hasher,
            tickv,
            store,
            rec,
            accepted: Cell::new(0),
            refused: Cell::new(0),
        }
    }

    /// A fresh stack (as after a reboot) on a copy of this stack's flash,
    /// mounted.
    pub fn reboot(&self, opts: Opts) -> Stack {
        // The new stack gets its own simulator, powered.
        let s = Stack::new(opts, Some(&self.flash.snapshot()));
        s.mount().expect("remount");
        s
    }

    /// Makes the test recorder the capsule's client (KVSystem-level tests).
    pub fn direct(&self) {
        self.tickv.set_client(self.rec);
    }

    /// Services deferred calls until none is pending.
    pub fn settle(&self) {
        for _ in 0..1_000_000 {
            if !self.calls.service_next() {
                return;
            }
        }
        panic!("the stack never settles");
    }

    /// Mounts through `init` and returns the mount result.
    pub fn mount(&self) -> Result<(), ErrorCode> {
        IN_REQUEST.with(|f| f.set(true));
        let r = self.tickv.init();
        IN_REQUEST.with(|f| f.set(false));
        r?;
        self.settle();
        self.rec
            .mounts
            .borrow_mut()
            .pop()
            .expect("mount notification")
    }

    /// Makes one request: `Err(code)` if it was refused (and then no
    /// callback may follow); otherwise services the deferred calls and
    /// returns its one completion.
    pub fn call(&self, request: impl FnOnce() -> Result<(), ErrorCode>) -> Result<Done, ErrorCode> {
        let before = self.rec.done.borrow().len();
        IN_REQUEST.with(|f| f.set(true));
        let r = request();
        IN_REQUEST.with(|f| f.set(false));
        self.settle();
        let mut done = self.rec.done.borrow_mut();
        match r {
            Err(code) => {
                self.refused.set(self.refused.get() + 1);
                assert_eq!(done.len(), before, "a refused request got a callback");
                Err(code)
            }
            Ok(()) => {
                self.accepted.set(self.accepted.get() + 1);
                assert_eq!(
                    done.len(),
                    before + 1,
                    "an accepted request must get exactly one callback: {:?}",
                    &done[before..]
                );
                assert!(!self.tickv.busy(), "capsule idle after its callback");
                Ok(done.pop().unwrap())
            }
        }
    }

    // ---- KV level -------------------------------------------------------

    /// Gets `key` into a window of `cap` bytes (with 3 bytes in front).
    /// `Ok((value prefix, full length))`.
    pub fn get(&self, key: &[u8], cap: usize) -> Result<(Vec<u8>, usize), ErrorCode> {
        let k = buf(key, 2, 1);
        let (kw, vb) = (window(&k), buf(&vec![0; cap], 3, 2));
        let vw = window(&vb);
        let d = self.call(|| {
            self.store.get(k, vb).map_err(|(k2, v2, c)| {
                assert_eq!((window(&k2), window(&v2)), (kw, vw));
                c
            })
        })?;
        match d {
            Done::Get {
                result,
                data,
                full_len,
                key,
                value,
                ..
            } => {
                assert_eq!((key, value), (kw, vw), "windows come back unchanged");
                match result {
                    Ok(()) => Ok((data, full_len)),
                    Err(ErrorCode::SIZE) => {
                        assert_eq!(data.len(), cap);
                        Err(ErrorCode::SIZE)
                    }
                    Err(c) => {
                        assert_eq!(full_len, 0);
                        Err(c)
                    }
                }
            }
            other => panic!("expected a get completion, got {other:?}"),
        }
    }

    /// The value of `key`, `None` if absent; panics on other errors.
    pub fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.get(key, self.tickv.max_value_len()) {
            Ok((v, _)) => Some(v),
            Err(ErrorCode::NOSUPPORT) => None,
            Err(e) => panic!("get {key:?}: {e:?}"),
        }
    }

    fn write(&self, which: WriteFn, key: &[u8], value: &[u8]) -> Result<(), ErrorCode> {
        let (k, v) = (buf(key, 1, 2), buf(value, 9, 0));
        let (kw, vw) = (window(&k), window(&v));
        let d = self.call(|| {
            which(self.store, k, v).map_err(|(k2, v2, c)| {
                assert_eq!((window(&k2), window(&v2)), (kw, vw));
                c
            })
        })?;
        match d {
            Done::Set(r, k2, v2) | Done::Add(r, k2, v2) | Done::Update(r, k2, v2) => {
                assert_eq!((k2, v2), (kw, vw), "windows come back unchanged");
                r
            }
            other => panic!("expected a write completion, got {other:?}"),
        }
    }

    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<(), ErrorCode> {
        self.write(|s, k, v| s.set(k, v), key, value)
    }

    pub fn add(&self, key: &[u8], value: &[u8]) -> Result<(), ErrorCode> {
        self.write(|s, k, v| s.add(k, v), key, value)
    }

    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), ErrorCode> {
        self.write(|s, k, v| s.update(k, v), key, value)
    }

    pub fn delete(&self, key: &[u8]) -> Result<(), ErrorCode> {
        let k = buf(key, 4, 4);
        let kw = window(&k);
        match self.call(|| self.store.delete(k).map_err(|(_, c)| c))? {
            Done::Delete(r, k2) => {
                assert_eq!(k2, kw);
                r
            }
            other => panic!("expected a delete completion, got {other:?}"),
        }
    }

    pub fn gc(&self) -> Result<usize, ErrorCode> {
        match self.call(|| self.store.garbage_collect())? {
            Done::Gc(r, freed) => r.map(|()| freed),
            other => panic!("expected a gc completion, got {other:?}"),
        }
    }
}

/// Makes sure the flash is used as the engine promises: no word programmed
/// twice, every accepted flash request answered.
pub fn check_flash(s: &Stack) {
    let st = s.flash.stats();
    assert_eq!(st.violations, 0, "a word was programmed twice");
    assert_eq!(st.accepted, st.completed, "flash requests left unanswered");
    assert!(!s.flash.busy());
}

/// Hashes with the KVSystem's generate_key (direct client).
pub fn sys_key(s: &Stack, unhashed: SubSliceMut<'static, u8>) -> Result<Done, ErrorCode> {
    let k = key_buf();
    s.call(|| s.tickv.generate_key(unhashed, k).map_err(|(_, _, c)| c))
}

/// The tears a power-cut sweep tries at each program and erase.
pub const TEARS: [Tear; 4] = [
    Tear::Before,
    Tear::Partial(1),
    Tear::Partial(6),
    Tear::Partial(40),
];

/// Arms an injected fault for the flash operation `log[j]` of a sweep that
/// replays `log` from now: the earlier operations of its kind pass, that
/// one fails.
pub fn fail_like(flash: &MockFlash, log: &[MockOp], j: usize) {
    let kind = log[j].kind();
    let nth = log[..j].iter().filter(|o| o.kind() == kind).count() as u64;
    let mut sim = flash.sim_mut();
    match kind {
        Kind::Read => sim.fail_nth_read(nth),
        Kind::Program => sim.fail_nth_program(nth),
        Kind::Erase => sim.fail_nth_erase(nth),
    }
}
