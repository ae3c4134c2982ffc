//! SipHash-2-4 in software: the key hash of the TicKV stack.
//!
//! * [`State`] and [`Key`]: the streaming function and the one-pass hash
//!   of a whole message, from the `siphash` library (`libraries/siphash`,
//!   no Tock types; host tools use it directly).
//! * [`siphash24`], [`digest`] and [`tickv_key`]: one-shot helpers (the
//!   same library).
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
//! [`digest_now`](Hasher::digest_now) hashes a whole message at once with
//! no callback (the KV stack's key hashes take this path).

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::hasher::{Hasher, HasherClient};
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tock_cells::{MapCell, OptionalCell, TakeCell};

pub use siphash::{digest, siphash24, tickv_key, Key, State};

/// A SipHash-2-4 [`Hasher`] with an 8-byte digest; see the
/// [module docs](self).
///
/// Board setup: allocate a deferred call slot, build the hasher with it,
/// then bind it with `slot.set_client(hasher)`.
pub struct SipHasher<'a> {
    client: OptionalCell<&'a dyn HasherClient<8>>,
    key: Cell<Key>,
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
            key: Cell::new(Key::new(&[0; 16])),
            state: Cell::new(State::new(&[0; 16])),
            data: MapCell::empty(),
            digest: TakeCell::empty(),
            deferred,
        }
    }

    /// Sets the 16-byte key and forgets any data added so far.
    pub fn set_key(&self, key: [u8; 16]) {
        let key = Key::new(&key);
        self.key.set(key);
        self.state.set(State::keyed(&key));
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
        self.state.set(State::keyed(&self.key.get()));
        self.digest.replace(digest);
        self.deferred.set();
        Ok(())
    }

    fn clear_data(&self) {
        self.state.set(State::keyed(&self.key.get()));
    }

    fn digest_now(&self, data: &[u8], digest: &mut [u8; 8]) -> Result<(), ErrorCode> {
        if data.is_empty() {
            return Err(ErrorCode::INVAL);
        }
        *digest = self.key.get().hash(data).to_le_bytes();
        Ok(())
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
