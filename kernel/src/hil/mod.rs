//! Hardware interface layers (HILs): the traits between chip drivers,
//! capsules and virtualizers.
//!
//! * [`flash`]: NOR flash with ranged reads and programs and unit erases.
//! * [`kv`]: the key-value stack: [`kv::KVSystem`] (hashed keys, the TicKV
//!   capsule), [`kv::KV`] and [`kv::KVPermissions`] (unhashed keys, with and
//!   without storage permissions).
//! * [`hasher`]: incremental hashing into a fixed-size digest.
//! * [`gpio`]: output and input pins (LEDs, buttons).
//! * [`uart`]: serial ports.
//! * [`time`]: tick counters, frequencies and alarms.
//!
//! # The split-phase contract
//!
//! Every operation that takes time is split in two. The *request* (a method
//! of the HIL trait) checks its arguments and either
//!
//! * returns `Ok`: the operation was accepted, and **exactly one** callback
//!   to the client follows later, carrying the result and every buffer the
//!   request lent; or
//! * returns `Err`: nothing was started, the buffers come straight back in
//!   the error, and **no** callback follows.
//!
//! The callback never runs inside the request: an implementation that can
//! finish at once still returns first and calls back later, for example from
//! a [`DeferredCall`](crate::deferred_call::DeferredCall). A client may start
//! its next operation from inside a callback.
//!
//! Buffers are `&'static mut` (or a [`SubSliceMut`](crate::utilities::SubSliceMut)
//! over one): the kernel has no heap, and the buffer a request lends is owned
//! by the implementation until it comes back.
//!
//! Unless a trait says otherwise, an implementation handles one request at a
//! time and answers another one with `BUSY`; virtualizers multiplex several
//! clients over one implementation.

pub mod flash;
pub mod gpio;
pub mod hasher;
pub mod kv;
pub mod time;
pub mod uart;

#[cfg(test)]
mod tests {
    use super::*;

    /// Capsules hold HILs as trait objects: this stops compiling if one of
    /// the traits stops being object safe.
    #[test]
    fn hils_are_object_safe() {
        type Key = [u8; 8];
        type Alarm = dyn time::Alarm<'static, Frequency = time::Freq32KHz, Ticks = time::Ticks24>;
        type Hils = (
            &'static dyn flash::Flash<'static>,
            &'static dyn flash::FlashClient,
            &'static dyn kv::KVSystem<'static, K = Key>,
            &'static dyn kv::KVSystemClient<Key>,
            &'static dyn kv::KV<'static>,
            &'static dyn kv::KVPermissions<'static>,
            &'static dyn kv::KVClient,
            &'static dyn hasher::Hasher<'static, 8>,
            &'static dyn hasher::HasherClient<8>,
            &'static dyn uart::Uart<'static>,
            &'static dyn uart::TransmitClient,
            &'static dyn uart::ReceiveClient,
            &'static Alarm,
            &'static dyn time::AlarmClient,
        );
        // Fat pointers: two words each.
        let words = core::mem::size_of::<Hils>() / core::mem::size_of::<usize>();
        assert_eq!(words, 2 * 14);
    }
}
