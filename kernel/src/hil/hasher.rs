//! Incremental hashing into a digest of `L` bytes.
//!
//! A client adds data in one or more pieces, then runs the hash to get the
//! digest; the implementation then starts over with no data. The KV stack
//! hashes keys this way (SipHash-2-4, `L = 8`).
//!
//! Split-phase as described in the [HIL docs](super): a request that returns
//! `Ok` gets exactly one callback that hands the buffer back, a request that
//! returns `Err` hands it back at once and gets none. `BUSY` answers a
//! request while another one is in flight.

use crate::utilities::SubSliceMut;
use crate::ErrorCode;

/// A hash function with a digest of `L` bytes.
pub trait Hasher<'a, const L: usize> {
    /// Sets the client that receives the completion callbacks.
    fn set_client(&self, client: &'a dyn HasherClient<L>);

    /// Adds the window of `data` to the data being hashed.
    ///
    /// `Ok(n)`: the first `n` bytes of the window will be added (`n` may be
    /// less than the window if the implementation takes data in blocks);
    /// [`HasherClient::add_mut_data_done`] follows and hands `data` back with
    /// its window unchanged. To add the rest, the client slices `n` bytes
    /// off the window and calls again. `INVAL` for an empty window.
    fn add_mut_data(
        &self,
        data: SubSliceMut<'static, u8>,
    ) -> Result<usize, (ErrorCode, SubSliceMut<'static, u8>)>;

    /// Finishes the hash of the data added so far into `digest`, then
    /// forgets the data. Completes with [`HasherClient::hash_done`].
    fn run(&self, digest: &'static mut [u8; L]) -> Result<(), (ErrorCode, &'static mut [u8; L])>;

    /// Forgets the data added so far, without a callback.
    fn clear_data(&self);

    /// Hashes `data` into `digest` at once, with no callback, for hashers
    /// that compute in software: a short key then costs no round trip
    /// through deferred calls. It does not touch the data added with
    /// [`add_mut_data`](Self::add_mut_data). `NOSUPPORT` (the default):
    /// this hasher only works split-phase; use the requests above.
    fn digest_now(&self, data: &[u8], digest: &mut [u8; L]) -> Result<(), ErrorCode> {
        let _ = (data, digest);
        Err(ErrorCode::NOSUPPORT)
    }
}

/// Receives the completions of [`Hasher`] requests.
pub trait HasherClient<const L: usize> {
    /// Data passed to [`Hasher::add_mut_data`] was added (or, on error, was
    /// not); `data` comes back with the window it was passed with.
    fn add_mut_data_done(&self, result: Result<(), ErrorCode>, data: SubSliceMut<'static, u8>);

    /// The hash finished; on success `digest` holds it.
    fn hash_done(&self, result: Result<(), ErrorCode>, digest: &'static mut [u8; L]);
}
