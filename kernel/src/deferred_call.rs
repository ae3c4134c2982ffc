//! Deferred calls: running a piece of a driver later, from the main loop.
//!
//! A split-phase operation must never call its client back from inside the
//! request (the client could be in the middle of a state change, and
//! re-entrant callbacks grow the stack without bound). When a driver can
//! finish an operation at once (an error found after the request was
//! accepted, data already buffered, a purely software HIL), it instead
//! *sets* its [`DeferredCall`] and completes the operation from
//! [`DeferredCallClient::handle_deferred_call`], which the kernel's main loop
//! runs once the current call stack has unwound.
//!
//! There are no global statics and no `unsafe` here: the board allocates one
//! [`DeferredCalls`] manager with room for `N` clients (typically in a
//! `static_cell::StaticCell`) and hands the `&'static` manager to the components that
//! need slots; the main loop calls [`DeferredCalls::service_next`] (or
//! [`DeferredCalls::service_all`]) while [`DeferredCalls::has_pending`].
//!
//! Two ways to get a slot:
//!
//! ```
//! use core::cell::Cell;
//! use kernel::deferred_call::{DeferredCall, DeferredCallClient, DeferredCalls};
//!
//! struct Driver {
//!     deferred: DeferredCall,
//!     done: Cell<bool>,
//! }
//!
//! impl Driver {
//!     fn request(&self) {
//!         // ... accept the request, then finish it later:
//!         self.deferred.set();
//!     }
//! }
//!
//! impl DeferredCallClient for Driver {
//!     fn handle_deferred_call(&self) {
//!         self.done.set(true); // here the driver would call its client
//!     }
//! }
//!
//! # fn leak<T>(t: T) -> &'static T { Box::leak(Box::new(t)) }
//! let calls: &'static DeferredCalls<4> = leak(DeferredCalls::new()); // a StaticCell on a board
//! // Allocate the slot first, build the driver with it, then bind the driver.
//! let slot = calls.allocate().unwrap();
//! let driver = leak(Driver { deferred: slot, done: Cell::new(false) });
//! slot.set_client(driver);
//!
//! driver.request();
//! assert!(calls.has_pending());
//! assert!(calls.service_next());
//! assert!(driver.done.get());
//! ```
//!
//! A component built before its slot can instead call
//! [`DeferredCalls::register`] with itself and keep the returned handle in a
//! `Cell<Option<DeferredCall>>`.

use core::cell::Cell;
use core::fmt;

use crate::ErrorCode;

/// A component that can be called back from the main loop.
pub trait DeferredCallClient {
    /// Runs the work deferred with [`DeferredCall::set`]. The call's pending
    /// flag is already clear, so the client may set it again from here.
    fn handle_deferred_call(&self);
}

/// The slots a [`DeferredCall`] handle points into.
///
/// [`DeferredCalls`] is the implementation; the trait lets a handle stay a
/// small `Copy` value that does not carry the manager's capacity `N` in its
/// type. Slot numbers that the implementation never handed out are ignored.
pub trait DeferredCallSet {
    /// Requests one call of the client in `slot`.
    fn set(&self, slot: usize);
    /// Whether a call of `slot` is requested and not yet run.
    fn is_pending(&self, slot: usize) -> bool;
    /// Binds (or rebinds) the client called for `slot`.
    fn set_client(&self, slot: usize, client: &'static dyn DeferredCallClient);
}

/// A handle on one deferred call slot: cheap to copy, kept by the component
/// that owns the slot.
#[derive(Clone, Copy)]
pub struct DeferredCall {
    set: &'static dyn DeferredCallSet,
    slot: usize,
}

impl DeferredCall {
    /// Requests one call of the slot's client from the main loop. Setting
    /// again before the call runs still gives a single call. Has no effect
    /// while no client is bound.
    pub fn set(&self) {
        self.set.set(self.slot);
    }

    /// Whether a call is requested and has not run yet.
    pub fn is_pending(&self) -> bool {
        self.set.is_pending(self.slot)
    }

    /// Binds the client to call; replaces any earlier one.
    pub fn set_client(&self, client: &'static dyn DeferredCallClient) {
        self.set.set_client(self.slot, client);
    }

    /// The slot number, unique within its manager.
    pub fn slot(&self) -> usize {
        self.slot
    }
}

impl fmt::Debug for DeferredCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredCall")
            .field("slot", &self.slot)
            .field("pending", &self.is_pending())
            .finish()
    }
}

/// The manager of up to `N` deferred calls (`N <= 64`, checked at compile
/// time).
///
/// Servicing is fair: [`service_next`](Self::service_next) runs the lowest
/// pending slot *after* the one it ran last, wrapping around, so a client
/// that sets its call again every time it runs cannot starve the others.
pub struct DeferredCalls<const N: usize> {
    clients: [Cell<Option<&'static dyn DeferredCallClient>>; N],
    /// Bit `i` set: slot `i` has a call requested.
    pending: Cell<u64>,
    /// Number of slots handed out.
    allocated: Cell<usize>,
    /// Where the search for the next call starts.
    next: Cell<usize>,
}

impl<const N: usize> DeferredCalls<N> {
    /// A manager with `N` free slots.
    pub const fn new() -> Self {
        const { assert!(N <= 64, "DeferredCalls supports at most 64 slots") };
        DeferredCalls {
            clients: [const { Cell::new(None) }; N],
            pending: Cell::new(0),
            allocated: Cell::new(0),
            next: Cell::new(0),
        }
    }

    /// Hands out a free slot with no client bound yet; bind one with
    /// [`DeferredCall::set_client`]. `NOMEM` when all `N` slots are taken.
    pub fn allocate(&'static self) -> Result<DeferredCall, ErrorCode> {
        let slot = self.allocated.get();
        if slot >= N {
            return Err(ErrorCode::NOMEM);
        }
        self.allocated.set(slot + 1);
        Ok(DeferredCall { set: self, slot })
    }

    /// Hands out a free slot bound to `client`. `NOMEM` when all `N` slots
    /// are taken.
    pub fn register(
        &'static self,
        client: &'static dyn DeferredCallClient,
    ) -> Result<DeferredCall, ErrorCode> {
        let call = self.allocate()?;
        call.set_client(client);
        Ok(call)
    }

    /// Whether any call is pending.
    pub fn has_pending(&self) -> bool {
        self.pending.get() != 0
    }

    /// The pending calls, one bit per slot (bit `i`: slot `i`).
    pub fn pending(&self) -> u64 {
        self.pending.get()
    }

    /// Runs one pending call, if any, and tells whether it did. The slot's
    /// pending flag is cleared before its client runs.
    pub fn service_next(&self) -> bool {
        let pending = self.pending.get();
        if pending == 0 {
            return false;
        }
        // The lowest pending slot at or after `next`, else the lowest one.
        let next = self.next.get() as u32;
        let slot = if N <= 32 {
            // Every slot is in the low word: 32-bit masks and counts, which
            // a 32-bit CPU does in a few instructions (in 64 bits, shift
            // and count are done in software).
            let pending = pending as u32;
            let after = pending & u32::MAX.checked_shl(next).unwrap_or(0);
            if after != 0 { after } else { pending }.trailing_zeros()
        } else {
            let after = pending & u64::MAX.checked_shl(next).unwrap_or(0);
            if after != 0 { after } else { pending }.trailing_zeros()
        } as usize;
        self.next.set(slot + 1);
        self.run(slot);
        true
    }

    /// Runs every call pending at the time of the call once, in slot order,
    /// and returns how many ran. Calls set while these run (even by the
    /// same client) stay pending for the next round, so this always ends.
    pub fn service_all(&self) -> usize {
        let mut round = self.pending.get();
        let mut ran = 0;
        while round != 0 {
            let slot = round.trailing_zeros() as usize;
            round &= !(1 << slot);
            if self.pending.get() & (1 << slot) != 0 {
                self.run(slot);
                ran += 1;
            }
        }
        ran
    }

    /// Clears `slot`'s pending flag, then calls its client.
    fn run(&self, slot: usize) {
        self.pending.set(self.pending.get() & !(1 << slot));
        if let Some(client) = self.clients.get(slot).and_then(Cell::get) {
            client.handle_deferred_call();
        }
    }
}

impl<const N: usize> Default for DeferredCalls<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> DeferredCallSet for DeferredCalls<N> {
    fn set(&self, slot: usize) {
        let bound = self.clients.get(slot).is_some_and(|c| c.get().is_some());
        if bound {
            self.pending.set(self.pending.get() | 1 << slot);
        }
    }

    fn is_pending(&self, slot: usize) -> bool {
        slot < N && self.pending.get() & (1 << slot) != 0
    }

    fn set_client(&self, slot: usize, client: &'static dyn DeferredCallClient) {
        if let Some(cell) = self.clients.get(slot) {
            cell.set(Some(client));
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::RefCell;
    use std::boxed::Box;
    use std::vec::Vec;

    fn leak<T>(t: T) -> &'static T {
        Box::leak(Box::new(t))
    }

    type Log = RefCell<Vec<u8>>;

    /// Counts its calls, records them in a shared log, and sets itself
    /// again while `again` is positive.
    struct Client {
        id: u8,
        calls: Cell<usize>,
        again: Cell<usize>,
        call: Cell<Option<DeferredCall>>,
        log: &'static Log,
    }

    impl DeferredCallClient for Client {
        fn handle_deferred_call(&self) {
            self.calls.set(self.calls.get() + 1);
            self.log.borrow_mut().push(self.id);
            let call = self.call.get().unwrap();
            assert!(!call.is_pending(), "flag must be clear before the call");
            if self.again.get() > 0 {
                self.again.set(self.again.get() - 1);
                call.set();
            }
        }
    }

    fn setup<const N: usize>(
        clients: usize,
    ) -> (
        &'static DeferredCalls<N>,
        Vec<&'static Client>,
        &'static Log,
    ) {
        let calls: &'static DeferredCalls<N> = leak(DeferredCalls::new());
        let log = leak(Log::default());
        let list = (0..clients)
            .map(|i| {
                let c = leak(Client {
                    id: i as u8,
                    calls: Cell::new(0),
                    again: Cell::new(0),
                    call: Cell::new(None),
                    log,
                });
                c.call.set(Some(calls.register(c).unwrap()));
                c
            })
            .collect();
        (calls, list, log)
    }

    #[test]
    fn set_twice_runs_once() {
        let (calls, c, log) = setup::<4>(2);
        let call = c[1].call.get().unwrap();
        assert!(!calls.has_pending());
        assert!(!calls.service_next());
        call.set();
        call.set();
        assert!(call.is_pending());
        assert!(calls.has_pending());
        assert!(calls.service_next());
        assert!(!calls.service_next());
        assert_eq!((c[0].calls.get(), c[1].calls.get()), (0, 1));
        assert_eq!(log.take(), [1]);
    }

    #[test]
    fn lowest_slot_first_then_rotating() {
        let (calls, c, log) = setup::<8>(4);
        for i in [3, 0, 2] {
            c[i].call.get().unwrap().set();
        }
        while calls.service_next() {}
        assert_eq!(log.take(), [0, 2, 3]);
        // The search goes on after slot 3: wraps to 0.
        for i in [1, 0] {
            c[i].call.get().unwrap().set();
        }
        while calls.service_next() {}
        assert_eq!(log.take(), [0, 1]);
    }

    #[test]
    fn slot_order_is_the_same_on_both_sides_of_32_slots() {
        // Up to 32 slots the search works on one word; above, on two.
        fn order<const N: usize>(slots: &[usize], rounds: usize) -> Vec<u8> {
            let (calls, c, log) = setup::<N>(N);
            for &i in slots {
                c[i].call.get().unwrap().set();
            }
            for _ in 0..rounds {
                calls.service_next();
            }
            // Set again: the search goes on after the last slot it ran.
            for &i in slots {
                c[i].call.get().unwrap().set();
            }
            while calls.service_next() {}
            log.take()
        }
        assert_eq!(order::<32>(&[31, 0, 5], 2), [0, 5, 31, 0, 5]);
        assert_eq!(order::<32>(&[31, 0, 5], 3), [0, 5, 31, 0, 5, 31]);
        assert_eq!(order::<64>(&[31, 0, 5], 3), [0, 5, 31, 0, 5, 31]);
        assert_eq!(order::<64>(&[63, 32, 31, 1], 2), [1, 31, 32, 63, 1, 31]);
        assert_eq!(order::<40>(&[39, 33, 2], 3), [2, 33, 39, 2, 33, 39]);
    }

    #[test]
    fn a_client_that_re_sets_cannot_starve_others() {
        let (calls, c, log) = setup::<8>(3);
        c[0].again.set(usize::MAX);
        c[0].call.get().unwrap().set();
        c[2].call.get().unwrap().set();
        for _ in 0..6 {
            assert!(calls.service_next());
        }
        assert_eq!(log.take(), [0, 2, 0, 0, 0, 0]);
        // A latecomer runs within one rotation.
        c[1].call.get().unwrap().set();
        calls.service_next();
        calls.service_next();
        assert_eq!(log.take(), [1, 0]);
        assert!(calls.has_pending());
    }

    #[test]
    fn re_set_during_handling_runs_again_later() {
        let (calls, c, _) = setup::<2>(1);
        c[0].again.set(2);
        c[0].call.get().unwrap().set();
        assert_eq!(calls.service_all(), 1);
        assert!(c[0].call.get().unwrap().is_pending());
        assert_eq!(calls.service_all(), 1);
        assert_eq!(calls.service_all(), 1);
        assert_eq!(calls.service_all(), 0);
        assert_eq!(c[0].calls.get(), 3);
        assert!(!calls.has_pending());
    }

    #[test]
    fn service_all_runs_each_pending_call_once() {
        let (calls, c, log) = setup::<64>(64);
        for client in &c {
            client.again.set(usize::MAX);
            client.call.get().unwrap().set();
        }
        assert_eq!(calls.service_all(), 64);
        assert!(c.iter().all(|c| c.calls.get() == 1));
        assert_eq!(log.take().len(), 64);
        assert!(calls.has_pending());
    }

    #[test]
    fn capacity_is_enforced() {
        let (calls, c, _) = setup::<3>(3);
        assert_eq!(calls.register(c[0]).err(), Some(ErrorCode::NOMEM));
        assert_eq!(calls.allocate().err(), Some(ErrorCode::NOMEM));
        let empty: &'static DeferredCalls<0> = leak(DeferredCalls::new());
        assert_eq!(empty.allocate().err(), Some(ErrorCode::NOMEM));
        assert!(!empty.service_next());
        assert_eq!(empty.service_all(), 0);
    }

    #[test]
    fn unbound_slots_ignore_set_and_clients_can_be_bound_later() {
        let (calls, c, log) = setup::<4>(1);
        let slot = calls.allocate().unwrap();
        assert_eq!(slot.slot(), 1);
        slot.set();
        assert!(!slot.is_pending());
        assert!(!calls.has_pending());
        slot.set_client(c[0]);
        slot.set();
        assert!(calls.service_next());
        assert_eq!(log.take(), [0]);
        // Out-of-range slots through the trait are ignored.
        calls.set(60);
        assert!(!calls.is_pending(60) && !calls.has_pending());
    }
}
