//! A split-phase [`hil::flash::Flash`](kernel::hil::flash::Flash) over the
//! `flashsim` NOR simulator, for host tests of flash users (the flash
//! virtualizer, the TicKV capsule and everything above it).
//!
//! A request is checked with [`check_request`] / [`check_erase`] (so the
//! mock answers exactly like a real driver), then remembered; the work
//! happens on the simulator and the callback is delivered from the mock's
//! [`DeferredCall`] when the test services its [`DeferredCalls`]. While a
//! request is in flight every other request gets `BUSY`.
//!
//! Simulator failures reach the client as the [`Error`] of the callback:
//!
//! | simulator | callback |
//! |---|---|
//! | an injected fault ([`SimFlash::fail_nth_read`] and friends) | `ReadFailed`, `ProgramFailed` or `EraseFailed` |
//! | power loss ([`SimFlash::cut_power_after`]), on the torn operation and every later one | `ReadFailed`, `ProgramFailed` or `EraseFailed` |
//! | strict-mode violations (`Rewrite`, `BitRaise`) | `VerifyFailed`, also counted in [`MockStats::violations`] |
//!
//! The simulator that caused the last failure is available through
//! [`MockFlash::last_sim_error`], so a test can tell a power cut from an
//! injected fault.
//!
//! ```
//! use kernel::deferred_call::DeferredCalls;
//! use kernel::hil::flash::Flash;
//! use kernel_mock::flash::MockFlash;
//!
//! let calls: &'static DeferredCalls<4> = kernel_mock::leak(DeferredCalls::new());
//! let flash = MockFlash::blank(
//!     flashsim::Geometry { region_size: 256, region_count: 4, program_unit: 4, erase_value: 0xFF },
//!     calls,
//! );
//! flash.erase(1).unwrap();
//! assert!(flash.busy());
//! assert_eq!(flash.erase(2), Err(kernel::ErrorCode::BUSY));
//! while calls.service_next() {}
//! assert_eq!(flash.stats().completed, 1);
//! ```

use std::cell::{Cell, Ref, RefCell, RefMut};

use flashsim::{SimError, SimFlash, Snapshot};
use kernel::deferred_call::{DeferredCall, DeferredCallClient, DeferredCalls};
use kernel::hil::flash::{check_erase, check_request, Error, Flash, FlashClient, Geometry};
use kernel::ErrorCode;

/// Which kind of flash request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A read.
    Read,
    /// A program.
    Program,
    /// An erase.
    Erase,
}

/// One accepted request, as recorded in the [log](MockFlash::log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MockOp {
    /// A read of `len` bytes at `offset`.
    Read {
        /// Byte offset.
        offset: u32,
        /// Length.
        len: usize,
    },
    /// A program of `len` bytes at `offset`.
    Program {
        /// Byte offset.
        offset: u32,
        /// Length.
        len: usize,
    },
    /// An erase of unit `unit`.
    Erase {
        /// Erase unit.
        unit: u32,
    },
}

impl MockOp {
    /// The kind of request.
    pub fn kind(&self) -> Kind {
        match self {
            MockOp::Read { .. } => Kind::Read,
            MockOp::Program { .. } => Kind::Program,
            MockOp::Erase { .. } => Kind::Erase,
        }
    }
}

/// Request accounting of a [`MockFlash`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MockStats {
    /// Requests that returned `Ok`.
    pub accepted: u64,
    /// Callbacks delivered (one per accepted request, once serviced).
    pub completed: u64,
    /// Requests that returned `Err` (no callback).
    pub rejected: u64,
    /// Callbacks that carried an error.
    pub failed: u64,
    /// Programs the simulator refused as a rewrite or a bit raise (bugs of
    /// the client: it programmed a word twice between erases).
    pub violations: u64,
    /// Accepted reads.
    pub reads: u64,
    /// Accepted programs.
    pub programs: u64,
    /// Accepted erases.
    pub erases: u64,
}

/// The request in flight.
enum InFlight {
    Read {
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    },
    Program {
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    },
    Erase {
        unit: u32,
    },
}

/// A split-phase flash over a [`SimFlash`]; see the [module docs](self).
pub struct MockFlash {
    sim: RefCell<SimFlash>,
    geometry: Geometry,
    client: Cell<Option<&'static dyn FlashClient>>,
    deferred: Cell<Option<DeferredCall>>,
    in_flight: RefCell<Option<InFlight>>,
    /// Extra main-loop rounds before the callback of each request.
    latency: Cell<u32>,
    waited: Cell<u32>,
    /// Answer the next request synchronously with this code.
    reject: Cell<Option<ErrorCode>>,
    /// Reads may be done at once (`Flash::read_now`), as memory-mapped
    /// flash does.
    read_now: Cell<bool>,
    stats: Cell<MockStats>,
    log: RefCell<Vec<MockOp>>,
    last_sim_error: Cell<Option<SimError>>,
}

/// The `hil::flash` geometry of a simulator geometry.
///
/// # Panics
///
/// If it does not fit a `hil::flash::Geometry` or breaks its rules (for
/// example an erase unit that is not a power of two).
pub fn hil_geometry(g: flashsim::Geometry) -> Geometry {
    let geometry = Geometry {
        erase_unit: u32::try_from(g.region_size).expect("region size fits u32"),
        erase_units: u32::try_from(g.region_count).expect("region count fits u32"),
        program_unit: u32::try_from(g.program_unit).expect("program unit fits u32"),
        erase_value: g.erase_value,
    };
    assert!(
        geometry.is_valid(),
        "not a valid hil geometry: {geometry:?}"
    );
    geometry
}

impl MockFlash {
    /// A mock over `sim` (switched to strict mode), completing its requests
    /// through a slot of `calls`. Leaked, as boards allocate statically.
    ///
    /// # Panics
    ///
    /// If the simulator's geometry is not a valid `hil::flash` geometry, or
    /// `calls` has no free slot.
    pub fn new<const N: usize>(
        mut sim: SimFlash,
        calls: &'static DeferredCalls<N>,
    ) -> &'static MockFlash {
        sim.set_strict(true);
        let geometry = hil_geometry(sim.geometry());
        let flash: &'static MockFlash = crate::leak(MockFlash {
            sim: RefCell::new(sim),
            geometry,
            client: Cell::new(None),
            deferred: Cell::new(None),
            in_flight: RefCell::new(None),
            latency: Cell::new(0),
            waited: Cell::new(0),
            reject: Cell::new(None),
            read_now: Cell::new(false),
            stats: Cell::new(MockStats::default()),
            log: RefCell::new(Vec::new()),
            last_sim_error: Cell::new(None),
        });
        let call = calls.register(flash).expect("a free deferred call slot");
        flash.deferred.set(Some(call));
        flash
    }

    /// A mock over a blank simulated flash of `geometry`.
    pub fn blank<const N: usize>(
        geometry: flashsim::Geometry,
        calls: &'static DeferredCalls<N>,
    ) -> &'static MockFlash {
        MockFlash::new(SimFlash::new(geometry), calls)
    }

    /// The simulator, to inspect it.
    ///
    /// # Panics
    ///
    /// If it is borrowed mutably at the same time.
    pub fn sim(&self) -> Ref<'_, SimFlash> {
        self.sim.borrow()
    }

    /// The simulator, to inject faults, cut the power, corrupt the image or
    /// restore a snapshot. Do not hold it across a service of the deferred
    /// calls.
    ///
    /// # Panics
    ///
    /// If it is borrowed at the same time.
    pub fn sim_mut(&self) -> RefMut<'_, SimFlash> {
        self.sim.borrow_mut()
    }

    /// A snapshot of the simulated flash (contents, programmed flags, wear).
    pub fn snapshot(&self) -> Snapshot {
        self.sim.borrow().snapshot()
    }

    /// Puts back a snapshot (taken from a flash of the same geometry).
    pub fn restore(&self, snapshot: &Snapshot) {
        self.sim.borrow_mut().restore(snapshot);
    }

    /// Whether a request is in flight (accepted, callback not yet delivered).
    pub fn busy(&self) -> bool {
        self.in_flight.borrow().is_some()
    }

    /// The request accounting so far.
    pub fn stats(&self) -> MockStats {
        self.stats.get()
    }

    /// Every accepted request so far, in order.
    pub fn log(&self) -> Vec<MockOp> {
        self.log.borrow().clone()
    }

    /// Forgets the log and zeroes the accounting.
    pub fn clear_log(&self) {
        self.log.borrow_mut().clear();
        self.stats.set(MockStats::default());
    }

    /// Delays every callback by `rounds` extra services of the deferred
    /// calls (0, the default: the next service delivers it).
    pub fn set_latency(&self, rounds: u32) {
        self.latency.set(rounds);
    }

    /// Makes the next request fail synchronously with `code` (as a driver
    /// whose device is off would with `OFF`). The arguments are still
    /// checked first.
    pub fn reject_next(&self, code: ErrorCode) {
        self.reject.set(Some(code));
    }

    /// Whether `read_now` reads at once (`true`) or answers `NOSUPPORT`
    /// (the default, as split-phase-only flash does). A read done at once
    /// is logged and counted as an accepted and completed read.
    pub fn set_read_now(&self, on: bool) {
        self.read_now.set(on);
    }

    /// The simulator error behind the last failed callback.
    pub fn last_sim_error(&self) -> Option<SimError> {
        self.last_sim_error.get()
    }

    fn count(&self, f: impl FnOnce(&mut MockStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Common part of every request once its arguments are checked.
    fn accept(&self, op: MockOp, request: InFlight) -> Result<(), (ErrorCode, InFlight)> {
        if self.busy() {
            return Err((ErrorCode::BUSY, request));
        }
        if let Some(code) = self.reject.take() {
            return Err((code, request));
        }
        *self.in_flight.borrow_mut() = Some(request);
        self.log.borrow_mut().push(op);
        self.count(|s| {
            s.accepted += 1;
            match op.kind() {
                Kind::Read => s.reads += 1,
                Kind::Program => s.programs += 1,
                Kind::Erase => s.erases += 1,
            }
        });
        self.waited.set(0);
        if let Some(call) = self.deferred.get() {
            call.set();
        }
        Ok(())
    }

    fn reject_with<T>(&self, code: ErrorCode, value: T) -> Result<(), (ErrorCode, T)> {
        self.count(|s| s.rejected += 1);
        Err((code, value))
    }

    /// Turns a simulator result into the callback's result.
    fn outcome(&self, kind: Kind, result: Result<(), SimError>) -> Result<(), Error> {
        let Err(error) = result else {
            return Ok(());
        };
        self.last_sim_error.set(Some(error));
        self.count(|s| s.failed += 1);
        Err(match (error, kind) {
            (SimError::Rewrite | SimError::BitRaise, _) => {
                self.count(|s| s.violations += 1);
                Error::VerifyFailed
            }
            (_, Kind::Read) => Error::ReadFailed,
            (_, Kind::Program) => Error::ProgramFailed,
            (_, Kind::Erase) => Error::EraseFailed,
        })
    }
}

impl Flash<'static> for MockFlash {
    fn set_client(&self, client: &'static dyn FlashClient) {
        self.client.set(Some(client));
    }

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if let Err(code) = check_request(&self.geometry, offset, len, buf.len(), false) {
            return self.reject_with(code, buf);
        }
        let op = MockOp::Read { offset, len };
        match self.accept(op, InFlight::Read { offset, buf, len }) {
            Ok(()) => Ok(()),
            Err((code, InFlight::Read { buf, .. })) => self.reject_with(code, buf),
            Err(_) => unreachable!("accept hands back what it was given"),
        }
    }

    fn read_now(&self, offset: u32, buf: &mut [u8]) -> Result<(), ErrorCode> {
        if !self.read_now.get() {
            return Err(ErrorCode::NOSUPPORT);
        }
        if let Err(code) =
            kernel::hil::flash::accept_read_now(self.busy(), &self.geometry, offset, buf.len())
        {
            self.count(|s| s.rejected += 1);
            return Err(code);
        }
        self.log.borrow_mut().push(MockOp::Read {
            offset,
            len: buf.len(),
        });
        self.count(|s| {
            s.accepted += 1;
            s.completed += 1;
            s.reads += 1;
        });
        let result = self.sim.borrow_mut().read(offset as usize, buf);
        self.outcome(Kind::Read, result)
            .map_err(|_| ErrorCode::FAIL)
    }

    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if let Err(code) = check_request(&self.geometry, offset, len, buf.len(), true) {
            return self.reject_with(code, buf);
        }
        let op = MockOp::Program { offset, len };
        match self.accept(op, InFlight::Program { offset, buf, len }) {
            Ok(()) => Ok(()),
            Err((code, InFlight::Program { buf, .. })) => self.reject_with(code, buf),
            Err(_) => unreachable!("accept hands back what it was given"),
        }
    }

    fn erase(&self, unit: u32) -> Result<(), ErrorCode> {
        if let Err(code) = check_erase(&self.geometry, unit) {
            return self.reject_with(code, ()).map_err(|(c, ())| c);
        }
        self.accept(MockOp::Erase { unit }, InFlight::Erase { unit })
            .or_else(|(code, _)| self.reject_with(code, ()).map_err(|(c, ())| c))
    }
}

impl DeferredCallClient for MockFlash {
    fn handle_deferred_call(&self) {
        if self.waited.get() < self.latency.get() {
            self.waited.set(self.waited.get() + 1);
            if let Some(call) = self.deferred.get() {
                call.set();
            }
            return;
        }
        let Some(request) = self.in_flight.borrow_mut().take() else {
            return;
        };
        self.count(|s| s.completed += 1);
        let client = self.client.get();
        match request {
            InFlight::Read { offset, buf, len } => {
                let result = self.sim.borrow_mut().read(offset as usize, &mut buf[..len]);
                let result = self.outcome(Kind::Read, result);
                if let Some(client) = client {
                    client.read_done(buf, len, result);
                }
            }
            InFlight::Program { offset, buf, len } => {
                let result = self.sim.borrow_mut().program(offset as usize, &buf[..len]);
                let result = self.outcome(Kind::Program, result);
                if let Some(client) = client {
                    client.program_done(buf, len, result);
                }
            }
            InFlight::Erase { unit } => {
                let result = self.sim.borrow_mut().erase(unit as usize);
                let result = self.outcome(Kind::Erase, result);
                if let Some(client) = client {
                    client.erase_done(unit, result);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsim::Tear;

    const G: flashsim::Geometry = flashsim::Geometry {
        region_size: 256,
        region_count: 4,
        program_unit: 4,
        erase_value: 0xFF,
    };

    type Event = (Kind, Result<(), Error>, Vec<u8>);

    #[derive(Default)]
    struct Recorder {
        events: RefCell<Vec<Event>>,
    }

    impl FlashClient for Recorder {
        fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
            self.events
                .borrow_mut()
                .push((Kind::Read, result, buf[..len].to_vec()));
        }
        fn program_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
            self.events
                .borrow_mut()
                .push((Kind::Program, result, buf[..len].to_vec()));
        }
        fn erase_done(&self, unit: u32, result: Result<(), Error>) {
            self.events
                .borrow_mut()
                .push((Kind::Erase, result, vec![unit as u8]));
        }
    }

    fn setup() -> (
        &'static DeferredCalls<4>,
        &'static MockFlash,
        &'static Recorder,
    ) {
        let calls: &'static DeferredCalls<4> = crate::leak(DeferredCalls::new());
        let flash = MockFlash::blank(G, calls);
        let rec = crate::leak(Recorder::default());
        flash.set_client(rec);
        (calls, flash, rec)
    }

    fn buf(bytes: &[u8]) -> &'static mut [u8] {
        Box::leak(bytes.to_vec().into_boxed_slice())
    }

    #[test]
    fn completes_later_and_is_busy_meanwhile() {
        let (calls, flash, rec) = setup();
        flash.program(8, buf(&[1, 2, 3, 4]), 4).unwrap();
        assert!(flash.busy());
        let (code, _) = flash.read(0, buf(&[0; 4]), 4).unwrap_err();
        assert_eq!(code, ErrorCode::BUSY);
        assert_eq!(flash.erase(0), Err(ErrorCode::BUSY));
        assert!(rec.events.borrow().is_empty());
        assert_eq!(flash.sim().image()[8], 0xFF, "work happens at completion");
        assert_eq!(calls.service_all(), 1);
        assert!(!flash.busy());
        flash.read(6, buf(&[0; 8]), 6).unwrap();
        while calls.service_next() {}
        let events = rec.events.take();
        assert_eq!(events[0], (Kind::Program, Ok(()), vec![1, 2, 3, 4]));
        assert_eq!(
            events[1],
            (Kind::Read, Ok(()), vec![0xFF, 0xFF, 1, 2, 3, 4])
        );
        let s = flash.stats();
        assert_eq!((s.accepted, s.completed, s.rejected), (2, 2, 2));
        assert_eq!(
            flash.log(),
            [
                MockOp::Program { offset: 8, len: 4 },
                MockOp::Read { offset: 6, len: 6 }
            ]
        );
    }

    #[test]
    fn arguments_are_checked_like_a_driver() {
        let (_, flash, _) = setup();
        let code = |r: Result<(), (ErrorCode, &'static mut [u8])>| r.unwrap_err().0;
        assert_eq!(code(flash.read(0, buf(&[0; 4]), 0)), ErrorCode::INVAL);
        assert_eq!(code(flash.read(0, buf(&[0; 4]), 8)), ErrorCode::SIZE);
        assert_eq!(code(flash.read(1020, buf(&[0; 8]), 8)), ErrorCode::INVAL);
        assert_eq!(code(flash.program(2, buf(&[0; 4]), 4)), ErrorCode::INVAL);
        assert_eq!(flash.erase(4), Err(ErrorCode::INVAL));
        flash.reject_next(ErrorCode::OFF);
        assert_eq!(flash.erase(0), Err(ErrorCode::OFF));
        assert!(!flash.busy());
        assert_eq!(flash.stats().accepted, 0);
    }

    #[test]
    fn simulator_failures_reach_the_callback() {
        let (calls, flash, rec) = setup();
        flash.sim_mut().fail_nth_erase(0);
        flash.erase(1).unwrap();
        calls.service_all();
        flash.program(0, buf(&[0; 4]), 4).unwrap();
        calls.service_all();
        flash.program(0, buf(&[0; 4]), 4).unwrap();
        calls.service_all();
        flash.sim_mut().cut_power_after(0, Tear::Before);
        flash.erase(2).unwrap();
        calls.service_all();
        flash.read(0, buf(&[0; 4]), 4).unwrap();
        calls.service_all();
        let results: Vec<_> = rec.events.take().into_iter().map(|e| e.1).collect();
        assert_eq!(
            results,
            [
                Err(Error::EraseFailed),
                Ok(()),
                Err(Error::VerifyFailed),
                Err(Error::EraseFailed),
                Err(Error::ReadFailed)
            ]
        );
        assert_eq!(flash.last_sim_error(), Some(SimError::PowerLoss));
        let s = flash.stats();
        assert_eq!((s.failed, s.violations, s.completed), (4, 1, 5));
    }

    #[test]
    fn latency_delays_the_callback() {
        let (calls, flash, rec) = setup();
        flash.set_latency(2);
        flash.erase(3).unwrap();
        assert_eq!(calls.service_all(), 1);
        assert_eq!(calls.service_all(), 1);
        assert!(rec.events.borrow().is_empty() && flash.busy());
        assert_eq!(calls.service_all(), 1);
        assert_eq!(rec.events.borrow().len(), 1);
        assert!(!calls.has_pending());
    }
}
