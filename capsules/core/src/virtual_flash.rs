//! Sharing one flash between several users.
//!
//! [`MuxFlash`] owns the underlying [`Flash`]; each user gets a
//! [`FlashUser`], which implements [`Flash`] itself with the same geometry
//! (the whole device: the mux does not partition).
//!
//! # Guarantees
//!
//! * **FIFO**: requests reach the device in the order the users made them,
//!   whoever made them; a user that asks again from inside its callback
//!   queues behind everyone already waiting.
//! * **One request in flight** at the device at a time.
//! * **One outstanding request per user**: a user's second request before
//!   its callback gets `BUSY`. A user that was never registered with
//!   [`FlashUser::setup`] gets `OFF`.
//! * **Exactly one callback** for every accepted request, to the user that
//!   made it. Arguments are checked when the request is made (with
//!   [`check_request`] / [`check_erase`] against the device geometry), so
//!   `INVAL` and `SIZE` come back synchronously as from a driver. If the
//!   device nevertheless refuses a request when its turn comes (it is off,
//!   or someone bypassed the mux and made it busy), the request is completed
//!   with an error callback (`ReadFailed`, `ProgramFailed` or `EraseFailed`)
//!   delivered from the mux's [`DeferredCall`], and the mux moves on to the
//!   next request.
//!
//! Buffers go to the device as they are (no copy).
//!
//! # Setup
//!
//! ```text
//! let slot = deferred_calls.allocate()?;
//! // MUX: StaticCell<MuxFlash>; USER: StaticCell<FlashUser>
//! let mux = MUX.init(MuxFlash::new(flash, slot));
//! slot.set_client(mux);
//! flash.set_client(mux);
//! let user = USER.init(FlashUser::new(mux));
//! user.setup(); // registers the user with the mux
//! user.set_client(tickv);
//! ```

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::flash::{check_erase, check_request, Error, Flash, FlashClient, Geometry};
use kernel::ErrorCode;
use tock_cells::{OptionalCell, TakeCell};

/// A user's outstanding request (its buffer waits in the user).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Read { offset: u32, len: usize },
    Program { offset: u32, len: usize },
    Erase { unit: u32 },
}

impl Request {
    /// The callback error for a request the device refused.
    fn refused(self) -> Error {
        match self {
            Request::Read { .. } => Error::ReadFailed,
            Request::Program { .. } => Error::ProgramFailed,
            Request::Erase { .. } => Error::EraseFailed,
        }
    }
}

/// The multiplexer over one flash device; see the [module docs](self).
pub struct MuxFlash<'a> {
    flash: &'a dyn Flash<'a>,
    /// The registered users, linked through [`FlashUser::next`].
    users: OptionalCell<&'a FlashUser<'a>>,
    /// The ticket the next request gets: requests are served in ticket
    /// order. 64 bits never wrap.
    next_ticket: Cell<u64>,
    /// The user whose request is at the device (or was refused by it and
    /// waits for its error callback).
    current: OptionalCell<&'a FlashUser<'a>>,
    /// Set when the device refused `current`'s request: the error for its
    /// deferred callback.
    refused: OptionalCell<Error>,
    deferred: DeferredCall,
}

impl<'a> MuxFlash<'a> {
    /// A mux over `flash`, completing refused requests through `deferred`.
    /// Make the mux the client of `flash` and of `deferred`.
    pub fn new(flash: &'a dyn Flash<'a>, deferred: DeferredCall) -> MuxFlash<'a> {
        MuxFlash {
            flash,
            users: OptionalCell::empty(),
            next_ticket: Cell::new(0),
            current: OptionalCell::empty(),
            refused: OptionalCell::empty(),
            deferred,
        }
    }

    /// Whether a request is at the device (or waiting for its error
    /// callback).
    pub fn busy(&self) -> bool {
        self.current.is_some()
    }

    /// Number of requests waiting for their turn (not counting the one at
    /// the device).
    pub fn waiting(&self) -> usize {
        let mut n = 0;
        self.for_each_user(|u| {
            if u.request.is_some() && !self.is_current(u) {
                n += 1;
            }
        });
        n
    }

    fn for_each_user(&self, mut f: impl FnMut(&'a FlashUser<'a>)) {
        let mut user = self.users.get();
        while let Some(u) = user {
            f(u);
            user = u.next.get();
        }
    }

    fn is_current(&self, user: &FlashUser<'a>) -> bool {
        self.current.get().is_some_and(|c| core::ptr::eq(c, user))
    }

    /// The registered user at the address of `user`.
    fn find(&self, user: &FlashUser<'a>) -> Option<&'a FlashUser<'a>> {
        let mut found = None;
        self.for_each_user(|u| {
            if core::ptr::eq(u, user) {
                found = Some(u);
            }
        });
        found
    }

    fn take_ticket(&self) -> u64 {
        let t = self.next_ticket.get();
        self.next_ticket.set(t.wrapping_add(1));
        t
    }

    /// Starts the oldest waiting request if the device is free.
    fn run_next(&self) {
        if self.current.is_some() {
            return;
        }
        let mut oldest: Option<(&'a FlashUser<'a>, Request)> = None;
        self.for_each_user(|u| {
            if let Some(r) = u.request.get() {
                if oldest.is_none_or(|(o, _)| u.ticket.get() < o.ticket.get()) {
                    oldest = Some((u, r));
                }
            }
        });
        let Some((user, request)) = oldest else {
            return;
        };
        self.current.set(user);
        let accepted = match request {
            Request::Read { offset, len } | Request::Program { offset, len } => {
                match user.buf.take() {
                    Some(buf) => {
                        let result = if let Request::Read { .. } = request {
                            self.flash.read(offset, buf, len)
                        } else {
                            self.flash.program(offset, buf, len)
                        };
                        result.map_err(|(_, buf)| user.buf.replace(buf)).is_ok()
                    }
                    None => false,
                }
            }
            Request::Erase { unit } => self.flash.erase(unit).is_ok(),
        };
        if !accepted {
            self.refused.set(request.refused());
            self.deferred.set();
        }
    }

    /// Ends `current`'s request: calls it back, then starts the next one.
    fn complete(&self, done: impl FnOnce(&'a FlashUser<'a>, Option<Request>)) {
        if let Some(user) = self.current.take() {
            let request = user.request.take();
            done(user, request);
        }
        self.run_next();
    }
}

impl FlashClient for MuxFlash<'_> {
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.complete(|user, _| {
            if let Some(c) = user.client.get() {
                c.read_done(buf, len, result);
            }
        });
    }

    fn program_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.complete(|user, _| {
            if let Some(c) = user.client.get() {
                c.program_done(buf, len, result);
            }
        });
    }

    fn erase_done(&self, unit: u32, result: Result<(), Error>) {
        self.complete(|user, _| {
            if let Some(c) = user.client.get() {
                c.erase_done(unit, result);
            }
        });
    }
}

impl DeferredCallClient for MuxFlash<'_> {
    fn handle_deferred_call(&self) {
        let Some(error) = self.refused.take() else {
            return;
        };
        self.complete(|user, request| {
            let client = user.client.get();
            match request {
                Some(Request::Read { len, .. }) => {
                    let buf = user.buf.take().unwrap_or(&mut []);
                    if let Some(c) = client {
                        c.read_done(buf, len, Err(error));
                    }
                }
                Some(Request::Program { len, .. }) => {
                    let buf = user.buf.take().unwrap_or(&mut []);
                    if let Some(c) = client {
                        c.program_done(buf, len, Err(error));
                    }
                }
                Some(Request::Erase { unit }) => {
                    if let Some(c) = client {
                        c.erase_done(unit, Err(error));
                    }
                }
                None => {}
            }
        });
    }
}

/// One user's share of a [`MuxFlash`]: a [`Flash`] with at most one
/// outstanding request.
pub struct FlashUser<'a> {
    mux: &'a MuxFlash<'a>,
    client: OptionalCell<&'a dyn FlashClient>,
    /// The outstanding request (waiting or at the device).
    request: OptionalCell<Request>,
    /// Its place in the FIFO.
    ticket: Cell<u64>,
    buf: TakeCell<'static, [u8]>,
    /// The next registered user of the mux.
    next: OptionalCell<&'a FlashUser<'a>>,
}

impl<'a> FlashUser<'a> {
    /// A new user of `mux`; register it with [`setup`](Self::setup).
    pub fn new(mux: &'a MuxFlash<'a>) -> FlashUser<'a> {
        FlashUser {
            mux,
            client: OptionalCell::empty(),
            request: OptionalCell::empty(),
            ticket: Cell::new(0),
            buf: TakeCell::empty(),
            next: OptionalCell::empty(),
        }
    }

    /// Registers the user with its mux (once, at board setup; a second
    /// call does nothing).
    pub fn setup(&'a self) {
        if self.mux.find(self).is_none() {
            if let Some(first) = self.mux.users.get() {
                self.next.set(first);
            }
            self.mux.users.set(self);
        }
    }

    /// Whether this user has a request outstanding.
    pub fn busy(&self) -> bool {
        self.request.is_some()
    }

    /// Queues `request` (its arguments already checked).
    fn submit(&self, request: Request, buf: Option<&'static mut [u8]>) {
        self.request.set(request);
        self.ticket.set(self.mux.take_ticket());
        self.buf.put(buf);
        self.mux.run_next();
    }

    /// Checks whether a request can be queued: `BUSY`, `OFF`, or the
    /// argument checks of `check`.
    fn admit(
        &self,
        check: impl FnOnce(&Geometry) -> Result<(), ErrorCode>,
    ) -> Result<(), ErrorCode> {
        if self.busy() {
            return Err(ErrorCode::BUSY);
        }
        if self.mux.find(self).is_none() {
            return Err(ErrorCode::OFF);
        }
        check(&self.mux.flash.geometry())
    }
}

impl<'a> Flash<'a> for FlashUser<'a> {
    fn set_client(&self, client: &'a dyn FlashClient) {
        self.client.set(client);
    }

    fn geometry(&self) -> Geometry {
        self.mux.flash.geometry()
    }

    fn read(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if let Err(code) = self.admit(|g| check_request(g, offset, len, buf.len(), false)) {
            return Err((code, buf));
        }
        self.submit(Request::Read { offset, len }, Some(buf));
        Ok(())
    }

    fn read_now(&self, offset: u32, buf: &mut [u8]) -> Result<(), ErrorCode> {
        // A read changes nothing, so it may go ahead of queued requests;
        // the flash itself answers BUSY while one is in flight.
        self.admit(|g| check_request(g, offset, buf.len(), buf.len(), false))?;
        self.mux.flash.read_now(offset, buf)
    }

    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if let Err(code) = self.admit(|g| check_request(g, offset, len, buf.len(), true)) {
            return Err((code, buf));
        }
        self.submit(Request::Program { offset, len }, Some(buf));
        Ok(())
    }

    fn erase(&self, unit: u32) -> Result<(), ErrorCode> {
        self.admit(|g| check_erase(g, unit))?;
        self.submit(Request::Erase { unit }, None);
        Ok(())
    }
}
