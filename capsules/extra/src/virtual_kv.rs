//! Sharing one [`KVPermissions`] store among several users, first come
//! first served.
//!
//! [`MuxKV`] sits on a [`KVPermissions`] implementation (normally
//! [`KVStorePermissions`](crate::kv_permissions::KVStorePermissions)) and
//! hands out [`KVUser`]s, each of which is a [`KVPermissions`] in its own
//! right: kernel components that keep data in the store and the syscall
//! driver ([`KVStoreDriver`](crate::kv_driver::KVStoreDriver)) each get one.
//!
//! ```text
//!   kernel user   kernel user   kv_driver
//!        |             |            |
//!     KVUser        KVUser       KVUser        (KVPermissions)
//!         \____________|___________/
//!                    MuxKV
//!                      |
//!              KVStorePermissions             (KVPermissions)
//! ```
//!
//! # Guarantees
//!
//! * **FIFO across users.** Every accepted request draws a ticket from the
//!   mux; the lower store always gets the oldest waiting request next. A user
//!   that starts a new request from its completion callback queues behind
//!   the users that were already waiting.
//! * **One request per user.** A user with a request waiting, running, or
//!   failed-but-not-yet-reported answers a second request with `BUSY` (the
//!   buffers come straight back). A user that was never added to the mux
//!   with [`MuxKV::add_user`] answers `RESERVE`.
//! * **Exactly one callback per accepted request.** A user's request returns
//!   `Ok` as soon as it is queued. If the lower store then refuses it
//!   synchronously, the error (with the buffers) reaches the user from the
//!   mux's [`DeferredCall`], never from inside a request call, and the mux
//!   moves on to the next request at once.
//! * **Never run twice.** A request leaves the queue before it is handed to
//!   the lower store; whatever the outcome, it is not retried.
//!
//! # Board setup
//!
//! ```text
//! let slot = deferred_calls.allocate()?;
//! let mux = MUX.init(MuxKV::new(kv_permissions, slot)); // static MUX: StaticCell<MuxKV<'static>>
//! slot.set_client(mux);
//! kv_permissions.set_client(mux);
//! let driver_user = DRIVER_USER.init(KVUser::new(mux)); // static DRIVER_USER: StaticCell<KVUser<'static>>
//! mux.add_user(driver_user);
//! driver_user.set_client(kv_driver);
//! ```

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::kv::{KVClient, KVPermissions, RefusedKeyValue};
use kernel::storage_permissions::StoragePermissions;
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tock_cells::{MapCell, OptionalCell};

/// A request, as the user made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    Add,
    Update,
    Delete,
    GarbageCollect,
}

/// Where a user's request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No request.
    Idle,
    /// Waiting for the lower store, with this ticket.
    Queued(u32),
    /// Running in the lower store.
    InFlight,
    /// Refused by the lower store; the error is reported from the deferred
    /// call.
    Failed(ErrorCode),
}

/// One user of a [`MuxKV`]: a [`KVPermissions`] whose requests queue with
/// those of the other users. See the [module docs](self).
pub struct KVUser<'a> {
    mux: &'a MuxKV<'a>,
    /// The next user in the mux's list.
    next: OptionalCell<&'a KVUser<'a>>,
    client: OptionalCell<&'a dyn KVClient>,
    state: Cell<State>,
    op: Cell<Op>,
    key: MapCell<SubSliceMut<'static, u8>>,
    value: MapCell<SubSliceMut<'static, u8>>,
    permissions: Cell<&'a StoragePermissions>,
    /// Added to its mux ([`MuxKV::add_user`]).
    registered: Cell<bool>,
}

impl<'a> KVUser<'a> {
    /// A user of `mux`; register it with [`MuxKV::add_user`].
    pub fn new(mux: &'a MuxKV<'a>) -> Self {
        KVUser {
            mux,
            next: OptionalCell::empty(),
            client: OptionalCell::empty(),
            state: Cell::new(State::Idle),
            op: Cell::new(Op::Get),
            key: MapCell::empty(),
            value: MapCell::empty(),
            permissions: Cell::new(StoragePermissions::NULL),
            registered: Cell::new(false),
        }
    }

    /// Whether this user has a request that has not completed yet.
    pub fn is_busy(&self) -> bool {
        self.state.get() != State::Idle
    }

    /// Whether a new request can be accepted: `BUSY` while one is
    /// pending, `RESERVE` if the user was never added to its mux (its
    /// requests would never run).
    fn acceptable(&self) -> Result<(), ErrorCode> {
        if self.is_busy() {
            Err(ErrorCode::BUSY)
        } else if !self.registered.get() {
            Err(ErrorCode::RESERVE)
        } else {
            Ok(())
        }
    }

    /// Accepts a request: parks its buffers and queues it.
    fn submit(
        &self,
        op: Op,
        key: Option<SubSliceMut<'static, u8>>,
        value: Option<SubSliceMut<'static, u8>>,
        permissions: &'a StoragePermissions,
    ) {
        self.op.set(op);
        if let Some(key) = key {
            self.key.put(key);
        }
        if let Some(value) = value {
            self.value.put(value);
        }
        self.permissions.set(permissions);
        self.mux.enqueue(self);
    }

    /// Requests with a key and a value.
    fn submit_key_value(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue> {
        if let Err(e) = self.acceptable() {
            return Err((key, value, e));
        }
        self.submit(op, Some(key), Some(value), permissions);
        Ok(())
    }

    /// Hands the parked request to `kv`. On a synchronous refusal the
    /// buffers are parked again and the error returned.
    fn start(&self, kv: &dyn KVPermissions<'a>) -> Result<(), ErrorCode> {
        let op = self.op.get();
        let permissions = self.permissions.get();
        if op == Op::GarbageCollect {
            return kv.garbage_collect();
        }
        let Some(key) = self.key.take() else {
            return Err(ErrorCode::FAIL); // cannot happen: submit parked it
        };
        if op == Op::Delete {
            return kv.delete(key, permissions).map_err(|(key, e)| {
                self.key.put(key);
                e
            });
        }
        let Some(value) = self.value.take() else {
            self.key.put(key);
            return Err(ErrorCode::FAIL); // cannot happen: submit parked it
        };
        let started = match op {
            Op::Get => kv.get(key, value, permissions),
            Op::Set => kv.set(key, value, permissions),
            Op::Add => kv.add(key, value, permissions),
            _ => kv.update(key, value, permissions),
        };
        started.map_err(|(key, value, e)| {
            self.key.put(key);
            self.value.put(value);
            e
        })
    }

    /// Reports a request the lower store refused, with its parked buffers.
    fn report_failure(&self, e: ErrorCode) {
        self.state.set(State::Idle);
        let key = self.key.take();
        let value = self.value.take();
        let Some(client) = self.client.get() else {
            return;
        };
        match (self.op.get(), key, value) {
            (Op::GarbageCollect, _, _) => client.garbage_collect_complete(Err(e), 0),
            (Op::Delete, Some(key), _) => client.delete_complete(Err(e), key),
            (Op::Get, Some(key), Some(value)) => client.get_complete(Err(e), key, value, 0),
            (Op::Set, Some(key), Some(value)) => client.set_complete(Err(e), key, value),
            (Op::Add, Some(key), Some(value)) => client.add_complete(Err(e), key, value),
            (Op::Update, Some(key), Some(value)) => client.update_complete(Err(e), key, value),
            _ => {} // cannot happen: the buffers were parked
        }
    }
}

impl<'a> KVPermissions<'a> for KVUser<'a> {
    fn set_client(&self, client: &'a dyn KVClient) {
        self.client.set(client);
    }

    fn get(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue> {
        self.submit_key_value(Op::Get, key, value, permissions)
    }

    fn set(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue> {
        self.submit_key_value(Op::Set, key, value, permissions)
    }

    fn add(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue> {
        self.submit_key_value(Op::Add, key, value, permissions)
    }

    fn update(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue> {
        self.submit_key_value(Op::Update, key, value, permissions)
    }

    fn delete(
        &self,
        key: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        if let Err(e) = self.acceptable() {
            return Err((key, e));
        }
        self.submit(Op::Delete, Some(key), None, permissions);
        Ok(())
    }

    fn garbage_collect(&self) -> Result<(), ErrorCode> {
        self.acceptable()?;
        self.submit(Op::GarbageCollect, None, None, StoragePermissions::NULL);
        Ok(())
    }

    fn header_size(&self) -> usize {
        self.mux.kv.header_size()
    }
}

/// Multiplexes [`KVUser`]s over one [`KVPermissions`] store, strictly in
/// the order their requests arrived. See the [module docs](self).
pub struct MuxKV<'a> {
    kv: &'a dyn KVPermissions<'a>,
    /// Head of the list of users (linked through [`KVUser`]'s `next`).
    users: OptionalCell<&'a KVUser<'a>>,
    /// The user whose request the lower store is running.
    in_flight: OptionalCell<&'a KVUser<'a>>,
    /// The ticket the next accepted request gets.
    next_ticket: Cell<u32>,
    /// Set while requests are being started (guards against re-entry).
    starting: Cell<bool>,
    /// How many users are [`State::Queued`]: with none, there is nothing
    /// to look for in the list.
    waiting: Cell<usize>,
    /// Reports requests the lower store refused synchronously.
    deferred: DeferredCall,
}

impl<'a> MuxKV<'a> {
    /// A mux over `kv`. Bind `deferred` to the mux
    /// (`deferred.set_client(mux)`) and make the mux `kv`'s client.
    pub fn new(kv: &'a dyn KVPermissions<'a>, deferred: DeferredCall) -> Self {
        MuxKV {
            kv,
            users: OptionalCell::empty(),
            in_flight: OptionalCell::empty(),
            next_ticket: Cell::new(0),
            starting: Cell::new(false),
            waiting: Cell::new(0),
            deferred,
        }
    }

    /// Adds `user` to the users this mux serves (once; adding a user
    /// again has no effect, nor has adding a user made for another mux).
    pub fn add_user(&self, user: &'a KVUser<'a>) {
        if core::ptr::eq(user.mux, self) && !user.registered.get() {
            user.next.insert(self.users.get());
            self.users.set(user);
            user.registered.set(true);
        }
    }

    /// Calls `f` for every registered user.
    fn for_each_user(&self, mut f: impl FnMut(&'a KVUser<'a>)) {
        let mut cursor = self.users.get();
        while let Some(user) = cursor {
            f(user);
            cursor = user.next.get();
        }
    }

    /// Queues `user`'s parked request and starts it if it is the oldest
    /// and the store is free.
    fn enqueue(&self, user: &KVUser<'a>) {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket.wrapping_add(1));
        user.state.set(State::Queued(ticket));
        self.waiting.set(self.waiting.get() + 1);
        self.run_next();
    }

    /// The user with the oldest waiting request.
    fn oldest_queued(&self) -> Option<&'a KVUser<'a>> {
        let now = self.next_ticket.get();
        let alone = self.waiting.get() == 1;
        let mut oldest: Option<(u32, &'a KVUser<'a>)> = None;
        let mut cursor = self.users.get();
        while let Some(user) = cursor {
            if let State::Queued(ticket) = user.state.get() {
                if alone {
                    return Some(user);
                }
                // Age since the ticket was drawn: correct across wrapping,
                // since far fewer than 2^32 requests are ever waiting.
                let age = now.wrapping_sub(ticket);
                if oldest.is_none_or(|(a, _)| age > a) {
                    oldest = Some((age, user));
                }
            }
            cursor = user.next.get();
        }
        oldest.map(|(_, user)| user)
    }

    /// Starts waiting requests, oldest first, until one is accepted by the
    /// lower store or none is left.
    fn run_next(&self) {
        if self.in_flight.is_some() || self.starting.get() || self.waiting.get() == 0 {
            return;
        }
        self.starting.set(true);
        while let Some(user) = self.oldest_queued() {
            // Out of the queue before it runs: never started twice.
            user.state.set(State::InFlight);
            self.waiting.set(self.waiting.get().saturating_sub(1));
            match user.start(self.kv) {
                Ok(()) => {
                    self.in_flight.set(user);
                    break;
                }
                Err(e) => {
                    user.state.set(State::Failed(e));
                    self.deferred.set();
                }
            }
        }
        self.starting.set(false);
    }

    /// The lower store completed the running request: its user, now idle.
    fn finish(&self) -> Option<&'a KVUser<'a>> {
        let user = self.in_flight.take()?;
        user.state.set(State::Idle);
        Some(user)
    }
}

impl DeferredCallClient for MuxKV<'_> {
    fn handle_deferred_call(&self) {
        self.for_each_user(|user| {
            if let State::Failed(e) = user.state.get() {
                user.report_failure(e);
            }
        });
        self.run_next();
    }
}

impl KVClient for MuxKV<'_> {
    fn get_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        full_len: usize,
    ) {
        if let Some(user) = self.finish() {
            user.client
                .map(|c| c.get_complete(result, key, value, full_len));
        }
        self.run_next();
    }

    fn set_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        if let Some(user) = self.finish() {
            user.client.map(|c| c.set_complete(result, key, value));
        }
        self.run_next();
    }

    fn add_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        if let Some(user) = self.finish() {
            user.client.map(|c| c.add_complete(result, key, value));
        }
        self.run_next();
    }

    fn update_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        if let Some(user) = self.finish() {
            user.client.map(|c| c.update_complete(result, key, value));
        }
        self.run_next();
    }

    fn delete_complete(&self, result: Result<(), ErrorCode>, key: SubSliceMut<'static, u8>) {
        if let Some(user) = self.finish() {
            user.client.map(|c| c.delete_complete(result, key));
        }
        self.run_next();
    }

    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, freed_bytes: usize) {
        if let Some(user) = self.finish() {
            user.client
                .map(|c| c.garbage_collect_complete(result, freed_bytes));
        }
        self.run_next();
    }
}
