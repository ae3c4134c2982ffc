//! SipHash-2-4 in software: the key hash of the TicKV stack.
//!
//! * [`State`]: the streaming function itself (no Tock types), usable on
//!   the host too.
//! * [`siphash24`], [`digest`] and [`tickv_key`]: one-shot helpers.
//! * [`SipHasher`]: a capsule implementing
//!   [`hil::hasher::Hasher<'a, 8>`](kernel::hil::hasher::Hasher).
//!
//! # Byte order
//!
//! SipHash produces a 64-bit number `h`; its 8-byte *digest* is `h` in
//! little-endian order (this is what the reference implementation outputs
//! and what [`siphash24`] returns as a number). The TicKV stack reads that
//! digest as a **big-endian** number to get the stored key, so the key is
//! `h.swap_bytes()`:
//!
//! ```
//! use capsules_core::siphash::{digest, tickv_key};
//!
//! assert_eq!(tickv_key(b"mykey"), 0x219e_0c95_28eb_4392);
//! assert_eq!(digest(&[0; 16], b"mykey"), 0x219e_0c95_28eb_4392u64.to_be_bytes());
//! ```
//!
//! The capsule writes the digest into the caller's `[u8; 8]`, so
//! `u64::from_be_bytes(digest)` is the TicKV key.
//!
//! # The capsule
//!
//! The key is all zeros unless [`SipHasher::set_key`] sets another. Data is
//! hashed at once, in whole windows: [`add_mut_data`](Hasher::add_mut_data)
//! always accepts the whole window (`Ok(window length)`), and
//! [`run`](Hasher::run) writes the digest at once. The callbacks come later,
//! from a [`DeferredCall`], never from inside the request. One request at a
//! time: a request made while a callback is pending gets `BUSY`.

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::hasher::{Hasher, HasherClient};
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tock_cells::{MapCell, OptionalCell, TakeCell};

/// The streaming SipHash-2-4 state: the four state words, the bytes of an
/// incomplete word and the total length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    v: [u64; 4],
    /// Bytes not yet compressed, little-endian in the low bytes.
    tail: u64,
    /// Number of bytes in `tail` (0..8).
    ntail: u32,
    /// Total bytes added (only its low byte is used).
    len: u64,
}

impl State {
    /// A fresh state for the 16-byte `key` (two little-endian words).
    pub const fn new(key: &[u8; 16]) -> State {
        let k0 = u64::from_le_bytes([
            key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
        ]);
        let k1 = u64::from_le_bytes([
            key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15],
        ]);
        State {
            // The initialisation constants spell "somepseudorandomlygeneratedbytes".
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            ntail: 0,
            len: 0,
        }
    }

    /// One SipRound over the state words.
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    /// Absorbs one message word: two compression rounds.
    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        State::round(&mut self.v);
        State::round(&mut self.v);
        self.v[0] ^= m;
    }

    /// Adds `data` to the message.
    pub fn write(&mut self, data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        for &byte in data {
            self.tail |= u64::from(byte) << (8 * self.ntail);
            self.ntail += 1;
            if self.ntail == 8 {
                self.compress(self.tail);
                self.tail = 0;
                self.ntail = 0;
            }
        }
    }

    /// The hash of everything written so far (the state is not changed, so
    /// more data may follow).
    pub fn finish(&self) -> u64 {
        let mut s = *self;
        let last = s.tail | (s.len & 0xff) << 56;
        s.compress(last);
        s.v[2] ^= 0xff;
        for _ in 0..4 {
            State::round(&mut s.v);
        }
        s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3]
    }
}

/// SipHash-2-4 of `data` under `key`, as the number the algorithm defines
/// (the reference digest read little-endian).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let mut s = State::new(key);
    s.write(data);
    s.finish()
}

/// The 8-byte SipHash-2-4 digest of `data` under `key`.
pub fn digest(key: &[u8; 16], data: &[u8]) -> [u8; 8] {
    siphash24(key, data).to_le_bytes()
}

/// The TicKV key of `data`: the zero-key digest read big-endian.
pub fn tickv_key(data: &[u8]) -> u64 {
    u64::from_be_bytes(digest(&[0; 16], data))
}

/// A SipHash-2-4 [`Hasher`] with an 8-byte digest; see the
/// [module docs](self).
///
/// Board setup: allocate a deferred call slot, build the hasher with it,
/// then bind it with `slot.set_client(hasher)`.
pub struct SipHasher<'a> {
    client: OptionalCell<&'a dyn HasherClient<8>>,
    key: Cell<[u8; 16]>,
    state: Cell<State>,
    /// Data whose `add_mut_data_done` is pending.
    data: MapCell<SubSliceMut<'static, u8>>,
    /// Digest whose `hash_done` is pending.
    digest: TakeCell<'static, [u8; 8]>,
    deferred: DeferredCall,
}

impl<'a> SipHasher<'a> {
    /// A hasher with the all-zero key, completing through `deferred` (bind
    /// the slot to the hasher once it has its final address).
    pub fn new(deferred: DeferredCall) -> SipHasher<'a> {
        SipHasher {
            client: OptionalCell::empty(),
            key: Cell::new([0; 16]),
            state: Cell::new(State::new(&[0; 16])),
            data: MapCell::empty(),
            digest: TakeCell::empty(),
            deferred,
        }
    }

    /// Sets the 16-byte key and forgets any data added so far.
    pub fn set_key(&self, key: [u8; 16]) {
        self.key.set(key);
        self.state.set(State::new(&key));
    }

    fn busy(&self) -> bool {
        self.data.is_some() || self.digest.is_some()
    }
}

impl<'a> Hasher<'a, 8> for SipHasher<'a> {
    fn set_client(&self, client: &'a dyn HasherClient<8>) {
        self.client.set(client);
    }

    fn add_mut_data(
        &self,
        data: SubSliceMut<'static, u8>,
    ) -> Result<usize, (ErrorCode, SubSliceMut<'static, u8>)> {
        if self.busy() {
            return Err((ErrorCode::BUSY, data));
        }
        if data.is_empty() {
            return Err((ErrorCode::INVAL, data));
        }
        let mut state = self.state.get();
        state.write(data.as_slice());
        self.state.set(state);
        let len = data.len();
        self.data.put(data);
        self.deferred.set();
        Ok(len)
    }

    fn run(&self, digest: &'static mut [u8; 8]) -> Result<(), (ErrorCode, &'static mut [u8; 8])> {
        if self.busy() {
            return Err((ErrorCode::BUSY, digest));
        }
        *digest = self.state.get().finish().to_le_bytes();
        self.state.set(State::new(&self.key.get()));
        self.digest.replace(digest);
        self.deferred.set();
        Ok(())
    }

    fn clear_data(&self) {
        self.state.set(State::new(&self.key.get()));
    }
}

impl DeferredCallClient for SipHasher<'_> {
    fn handle_deferred_call(&self) {
        // At most one of the two is pending (the other request got BUSY).
        if let Some(data) = self.data.take() {
            self.client
                .map(|client| client.add_mut_data_done(Ok(()), data));
        } else if let Some(digest) = self.digest.take() {
            self.client.map(|client| client.hash_done(Ok(()), digest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        // The first entries of the SipHash-2-4 paper's vector table: key
        // 00..0f, messages 00, 00 01, ..., digests as bytes.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let expected: [[u8; 8]; 3] = [
            [0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72],
            [0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74],
            [0x5a, 0x4f, 0xa9, 0xd9, 0x09, 0x80, 0x6c, 0x0d],
        ];
        let msg: [u8; 2] = [0, 1];
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(&digest(&key, &msg[..n]), want, "length {n}");
        }
        // Message 00..0e (15 bytes) from the paper's appendix.
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&key, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn tickv_vector() {
        assert_eq!(tickv_key(b"mykey"), 0x219e_0c95_28eb_4392);
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data: [u8; 40] = core::array::from_fn(|i| (i * 7) as u8);
        let key = [3u8; 16];
        for split in 0..=data.len() {
            let mut s = State::new(&key);
            s.write(&data[..split]);
            s.write(&[]);
            s.write(&data[split..]);
            assert_eq!(s.finish(), siphash24(&key, &data), "split {split}");
        }
    }
}
