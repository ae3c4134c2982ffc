//! SipHash-2-4: the key hash of the TicKV stack, with no Tock types, for
//! the kernel's hasher capsule (`capsules_core::siphash`) and for host
//! tools alike.
//!
//! SipHash produces a 64-bit number `h`; its 8-byte *digest* is `h` in
//! little-endian order (what the reference implementation outputs). The
//! TicKV stack reads that digest as a **big-endian** number to get the
//! stored key:
//!
//! ```
//! use siphash::{digest, tickv_key};
//!
//! assert_eq!(tickv_key(b"mykey"), 0x219e_0c95_28eb_4392);
//! assert_eq!(digest(&[0; 16], b"mykey"), 0x219e_0c95_28eb_4392u64.to_be_bytes());
//! ```

#![no_std]
#![forbid(unsafe_code)]

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

/// A key made ready for hashing: the four initial state words it
/// determines. Worth keeping where one key hashes many messages (the
/// kernel's hasher): reading the 16 key bytes into words costs about as
/// much as a compression round on 32-bit targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    v: [u64; 4],
}

impl Key {
    /// The initial state words for the 16-byte `key` (two little-endian
    /// words).
    pub const fn new(key: &[u8; 16]) -> Key {
        let k0 = u64::from_le_bytes([
            key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
        ]);
        let k1 = u64::from_le_bytes([
            key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15],
        ]);
        Key {
            // The initialisation constants spell "somepseudorandomlygeneratedbytes".
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    /// SipHash-2-4 of the whole message `data` under this key.
    ///
    /// One pass: the state words stay in registers from the key to the
    /// result, where the streaming [`State`] keeps them in memory between
    /// its steps (every KV request hashes its key here).
    pub fn hash(&self, data: &[u8]) -> u64 {
        let mut v = self.v;
        let mut rest = data;
        // The whole words, then the last word: the bytes left, with the
        // length's low byte on top.
        loop {
            let (m, last) = match rest.split_first_chunk::<8>() {
                Some((w, tail)) => {
                    rest = tail;
                    (u64::from_le_bytes(*w), false)
                }
                None => {
                    let bytes = rest
                        .iter()
                        .rev()
                        .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
                    (bytes | (data.len() as u64 & 0xff) << 56, true)
                }
            };
            State::absorb(&mut v, m);
            if last {
                break;
            }
        }
        State::finalize(v)
    }
}

impl State {
    /// A fresh state for the 16-byte `key` (two little-endian words).
    pub const fn new(key: &[u8; 16]) -> State {
        State::keyed(&Key::new(key))
    }

    /// A fresh state for a key already made ready.
    pub const fn keyed(key: &Key) -> State {
        State {
            v: key.v,
            tail: 0,
            ntail: 0,
            len: 0,
        }
    }

    /// One SipRound over the state words (inlined: a call per round cost
    /// more than the round on 32-bit targets).
    #[inline(always)]
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
        State::absorb(&mut self.v, m);
    }

    /// Absorbs message word `m` into the state words `v`.
    #[inline(always)]
    fn absorb(v: &mut [u64; 4], m: u64) {
        v[3] ^= m;
        State::round(v);
        State::round(v);
        v[0] ^= m;
    }

    /// Adds `data` to the message.
    // Out of line (here and in `finish`): the streaming path is not the
    // fast one ([`Key::hash`] is), and inlined into a caller it would
    // repeat the rounds already there.
    #[inline(never)]
    pub fn write(&mut self, data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        // Complete a word left from an earlier write a byte at a time, then
        // take whole words as words, then keep the rest.
        let fill = if self.ntail == 0 {
            0
        } else {
            data.len().min(8 - self.ntail as usize)
        };
        let (head, rest) = data.split_at(fill);
        head.iter().for_each(|&b| self.push(b));
        let mut words = rest.chunks_exact(8);
        for w in &mut words {
            self.compress(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]));
        }
        words.remainder().iter().for_each(|&b| self.push(b));
    }

    /// Adds one byte to the incomplete word, compressing it when full.
    fn push(&mut self, byte: u8) {
        self.tail |= u64::from(byte) << (8 * self.ntail);
        self.ntail += 1;
        if self.ntail == 8 {
            self.compress(self.tail);
            self.tail = 0;
            self.ntail = 0;
        }
    }

    /// The hash of everything written so far (the state is not changed, so
    /// more data may follow).
    #[inline(never)]
    pub fn finish(&self) -> u64 {
        // Only the state words are copied (not the whole state, which
        // costs a memcpy call on 32-bit targets).
        let mut v = self.v;
        State::absorb(&mut v, self.tail | (self.len & 0xff) << 56);
        State::finalize(v)
    }

    /// The finalisation rounds over the state words `v`, once the last
    /// message word (with the length byte) is absorbed.
    #[inline(always)]
    fn finalize(mut v: [u64; 4]) -> u64 {
        v[2] ^= 0xff;
        for _ in 0..4 {
            State::round(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }
}

/// SipHash-2-4 of `data` under `key`, as the number the algorithm defines
/// (the reference digest read little-endian).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    Key::new(key).hash(data)
}

/// The 8-byte SipHash-2-4 digest of `data` under `key`.
pub fn digest(key: &[u8; 16], data: &[u8]) -> [u8; 8] {
    siphash24(key, data).to_le_bytes()
}

/// The TicKV key of `data`: the zero-key digest read big-endian.
pub fn tickv_key(data: &[u8]) -> u64 {
    u64::from_be_bytes(digest(&[0; 16], data))
}

/// What a kernel key's hashed bytes are XORed with: the kernel's keys live
/// in the apps' hashed-key space moved by this constant, so the same key
/// bytes land on unrelated stored keys, and an app could reach a kernel key
/// only by finding a key whose 64-bit hash hits one exactly. The bytes
/// spell `kernelNS`.
pub const KERNEL_NAMESPACE: [u8; 8] = *b"kernelNS";

/// Moves hashed key bytes (as the store sees them) into the kernel's
/// namespace, in place.
pub fn to_kernel_namespace(hashed: &mut [u8]) {
    for (h, n) in hashed.iter_mut().zip(KERNEL_NAMESPACE.iter().cycle()) {
        *h ^= n;
    }
}

/// The TicKV key of the kernel's key `data`.
pub fn tickv_kernel_key(data: &[u8]) -> u64 {
    let mut bytes = tickv_key(data).to_be_bytes();
    to_kernel_namespace(&mut bytes);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass hash and the streaming state agree on every length
    /// around the word boundaries, however the message is split.
    #[test]
    fn one_pass_agrees_with_the_streaming_state() {
        let key: [u8; 16] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        let data: [u8; 70] = core::array::from_fn(|i| (i * 31 + 5) as u8);
        for len in 0..data.len() {
            let msg = &data[..len];
            let one = siphash24(&key, msg);
            for split in 0..=len {
                let mut s = State::new(&key);
                s.write(&msg[..split]);
                s.write(&msg[split..]);
                assert_eq!(s.finish(), one, "length {len}, split at {split}");
            }
        }
    }

    /// The paper's vectors (key 00..0f, message 00..len-1) for lengths 0,
    /// 7, 8 and 15: the one-pass hash, not only the streaming state.
    #[test]
    fn one_pass_matches_reference_vectors() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: [u8; 16] = core::array::from_fn(|i| i as u8);
        for (len, want) in [
            (0, 0x726f_db47_dd0e_0e31u64),
            (7, 0xab02_00f5_8b01_d137),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
        ] {
            assert_eq!(siphash24(&key, &msg[..len]), want, "length {len}");
        }
    }
}
