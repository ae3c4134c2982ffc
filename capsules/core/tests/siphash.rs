//! The SipHash-2-4 hasher capsule, driven split-phase with deferred calls.

use std::cell::{Cell, RefCell};
use std::hash::Hasher as _;

use capsules_core::siphash::{digest, siphash24, tickv_key, SipHasher, State};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::hasher::{Hasher, HasherClient};
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use kernel_mock::leak;

/// The reference implementation's value for `data` under `key`.
fn reference(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().unwrap());
    let k1 = u64::from_le_bytes(key[8..].try_into().unwrap());
    let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
    h.write(data);
    h.finish()
}

type Added = (Result<(), ErrorCode>, SubSliceMut<'static, u8>);
type Hashed = (Result<(), ErrorCode>, &'static mut [u8; 8]);

#[derive(Default)]
struct Client {
    /// Set while the test is inside a request: a callback then is a bug.
    in_request: Cell<bool>,
    added: RefCell<Vec<Added>>,
    hashed: RefCell<Vec<Hashed>>,
}

impl HasherClient<8> for Client {
    fn add_mut_data_done(&self, result: Result<(), ErrorCode>, data: SubSliceMut<'static, u8>) {
        assert!(!self.in_request.get(), "callback inside the request");
        self.added.borrow_mut().push((result, data));
    }
    fn hash_done(&self, result: Result<(), ErrorCode>, digest: &'static mut [u8; 8]) {
        assert!(!self.in_request.get(), "callback inside the request");
        self.hashed.borrow_mut().push((result, digest));
    }
}

struct Rig {
    calls: &'static DeferredCalls<4>,
    hasher: &'static SipHasher<'static>,
    client: &'static Client,
}

fn rig() -> Rig {
    let calls: &'static DeferredCalls<4> = leak(DeferredCalls::new());
    let slot = calls.allocate().unwrap();
    let hasher = leak(SipHasher::new(slot));
    slot.set_client(hasher);
    let client = leak(Client::default());
    hasher.set_client(client);
    Rig {
        calls,
        hasher,
        client,
    }
}

impl Rig {
    /// Hashes `data` in pieces of `piece` bytes through the HIL, checking
    /// every callback, and returns the digest.
    fn hash(&self, data: &[u8], piece: usize) -> [u8; 8] {
        let buf: &'static mut [u8] = Box::leak(data.to_vec().into_boxed_slice());
        let mut sub = SubSliceMut::new(buf);
        let mut done = 0;
        while done < data.len() {
            sub.reset();
            sub.slice(done..(done + piece).min(data.len()));
            let window = (sub.start(), sub.len());
            self.client.in_request.set(true);
            let n = self.hasher.add_mut_data(sub).unwrap();
            self.client.in_request.set(false);
            assert_eq!(n, window.1, "the whole window is taken");
            assert!(self.client.added.borrow().is_empty());
            while self.calls.service_next() {}
            let (result, back) = self.client.added.borrow_mut().pop().unwrap();
            assert_eq!(result, Ok(()));
            assert_eq!((back.start(), back.len()), window, "window unchanged");
            sub = back;
            done += n;
        }
        let out: &'static mut [u8; 8] = Box::leak(Box::new([0; 8]));
        self.client.in_request.set(true);
        self.hasher.run(out).unwrap();
        self.client.in_request.set(false);
        while self.calls.service_next() {}
        let (result, out) = self.client.hashed.borrow_mut().pop().unwrap();
        assert_eq!(result, Ok(()));
        *out
    }
}

#[test]
fn tickv_vector_through_the_hil() {
    let r = rig();
    let d = r.hash(b"mykey", 5);
    assert_eq!(u64::from_be_bytes(d), 0x219e_0c95_28eb_4392);
    assert_eq!(d, digest(&[0; 16], b"mykey"));
    // Byte by byte gives the same digest, and the state starts over after run.
    assert_eq!(r.hash(b"mykey", 1), d);
}

#[test]
fn matches_the_reference_crate() {
    let r = rig();
    let mut rng = flashsim::Rng::new(7);
    for len in [1usize, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200] {
        let data = rng.bytes(len);
        let want = reference(&[0; 16], &data);
        assert_eq!(siphash24(&[0; 16], &data), want, "len {len}");
        assert_eq!(tickv_key(&data), want.swap_bytes());
        for piece in [1, 3, 8, len] {
            assert_eq!(
                r.hash(&data, piece),
                want.to_le_bytes(),
                "len {len} piece {piece}"
            );
        }
    }
    // The empty message (only through the pure function: the HIL refuses
    // empty windows).
    assert_eq!(siphash24(&[0; 16], b""), reference(&[0; 16], b""));
    let mut s = State::new(&[9; 16]);
    s.write(b"abc");
    assert_eq!(s.finish(), reference(&[9; 16], b"abc"));
}

#[test]
fn configured_key() {
    let r = rig();
    let key: [u8; 16] = core::array::from_fn(|i| (i * 17 + 1) as u8);
    r.hasher.set_key(key);
    let d = r.hash(b"some key material", 4);
    assert_eq!(u64::from_le_bytes(d), reference(&key, b"some key material"));
    assert_ne!(d, digest(&[0; 16], b"some key material"));
    // The one-pass path uses the same key.
    let mut now = [0; 8];
    assert_eq!(r.hasher.digest_now(b"some key material", &mut now), Ok(()));
    assert_eq!(now, d);
}

#[test]
fn busy_empty_and_clear() {
    let r = rig();
    let buf: &'static mut [u8] = Box::leak(b"abcdef".to_vec().into_boxed_slice());
    let mut empty = SubSliceMut::new(buf);
    empty.slice(3..3);
    let (code, empty) = r.hasher.add_mut_data(empty).unwrap_err();
    assert_eq!(code, ErrorCode::INVAL);

    let mut data = empty;
    data.reset();
    r.hasher.add_mut_data(data).unwrap();
    // Pending callback: everything else is BUSY and gets its buffer back.
    let other: &'static mut [u8] = Box::leak(vec![1u8; 4].into_boxed_slice());
    let (code, _) = r.hasher.add_mut_data(SubSliceMut::new(other)).unwrap_err();
    assert_eq!(code, ErrorCode::BUSY);
    let (code, _) = r.hasher.run(Box::leak(Box::new([0; 8]))).unwrap_err();
    assert_eq!(code, ErrorCode::BUSY);
    while r.calls.service_next() {}
    assert_eq!(r.client.added.take().len(), 1);

    // clear_data forgets "abcdef": the next hash is of "mykey" alone.
    r.hasher.clear_data();
    assert_eq!(r.hash(b"mykey", 5), digest(&[0; 16], b"mykey"));
    assert_eq!(r.client.hashed.borrow().len(), 0);
}
