//! Wiring the whole KV stack, from a flash to the `0x50003` syscall
//! driver, out of statically allocated parts.
//!
//! ```text
//!   KVStoreDriver (0x50003)        kernel users (add_kernel_user)
//!          |                          |
//!       KVUser                     KVUser ...
//!          \__________________________/
//!                      MuxKV                    deferred call
//!                        |
//!              KVStorePermissions               owner header buffer
//!                        |
//!                     KVStore                   hashed key buffer
//!                        |
//!                   TicKVSystem                 scratch, index, deferred call
//!                    |        \
//!          any hil::flash    SipHasher          deferred call
//! ```
//!
//! [`KVStack::build`] creates every layer in order (bottom up), binds every
//! client and the three deferred calls, and returns references to all of
//! them. It never allocates and never panics: the components live in a
//! [`KVStackMemory`] the board provides (`&'static mut`, for example from a
//! `static_cell::StaticCell`), the buffers in [`KVStackBuffers`], and every
//! configuration it can detect as wrong (too few deferred call slots, a
//! flash geometry the engine does not support, a scratch buffer below
//! [`tickv::MIN_SCRATCH`], a driver value buffer shorter than the owner
//! header plus `VALUE_MAX`, a store whose regions cannot hold a value of
//! `VALUE_MAX` bytes) comes back as a [`KVStackError`].
//!
//! The permission layer gets the default quotas for the store's size
//! ([`Quotas::for_store`] of all regions but one and the index: the
//! kernel keeps an eighth, one app owner at most half of the rest, and
//! three quarters of the index's keys, at least 128); a board
//! with another policy calls `stack.permissions.set_quotas(...)` after
//! the build.
//!
//! A build that fails may already have used some slots of the memory and
//! of the deferred call manager: it is a boot-time configuration error,
//! and the board should stop (or report it) rather than retry.
//!
//! # Board setup
//!
//! ```text
//! // Before the processes are loaded: the driver's grant.
//! let grant = kernel.create_grant::<kv_driver::App>(
//!     kv_driver::DRIVER_NUM, kv_driver::ALLOW_COUNTS)?;
//! static MEMORY: StaticCell<KVStackMemory<503>> = StaticCell::new();
//! static SCRATCH: StaticCell<KVBuffer<256>> = StaticCell::new();
//! static INDEX: StaticCell<[IndexEntry; 64]> = StaticCell::new();
//! static VALUE: StaticCell<KVBuffer<{ driver_value_len(503) }>> = StaticCell::new();
//! static USER: StaticCell<Option<KVUser>> = StaticCell::new();
//! let buffers = KVStackBuffers {
//!     scratch: SCRATCH.init(KVBuffer::new()).bytes(),
//!     index: INDEX.init([IndexEntry::default(); 64]),
//!     driver_value: VALUE.init(KVBuffer::new()).bytes(),
//! };
//! let stack = KVStack::build(MEMORY.init(KVStackMemory::new()), flash,
//!     deferred_calls, grant, buffers,
//!     Config { region_count: None, format_if_blank: true })?;
//! // Optional: kernel components that keep their own (id 0) data.
//! let user = stack.add_kernel_user(USER.init(None), my_component);
//! stack.mount()?;                  // or let the first request mount
//! // Register stack.driver as driver kv_driver::DRIVER_NUM.
//! ```
//!
//! `doc/kv-stack.md` explains the buffer sizes, the grant cost per app and
//! what each layer guarantees.

use capsules_core::siphash::SipHasher;
use kernel::deferred_call::DeferredCalls;
use kernel::grant::{Grant, GrantData};
use kernel::hil::flash::Flash;
use kernel::hil::hasher::Hasher;
use kernel::hil::kv::{KVClient, KVPermissions, KVSystem, KV};
use kernel::ErrorCode;
use tickv::IndexEntry;

use capsules_extra::kv_driver::{self, App, KVStoreDriver, ValueBufferTooShort, KEY_MAX};
use capsules_extra::kv_permissions::{KVStorePermissions, Quotas, HEADER_SIZE};
use capsules_extra::kv_store::KVStore;
use capsules_extra::tickv::{Config, TicKVSystem};
use capsules_extra::virtual_kv::{KVUser, MuxKV};

/// Deferred calls the stack takes from the manager: the hasher's, the
/// TicKV capsule's and the mux's.
pub const DEFERRED_CALLS: usize = 3;

/// Bytes of the driver's value buffer for values of up to `value_max`
/// bytes: the owner header ([`HEADER_SIZE`], 9 bytes) the permissions
/// layer stores in front of every value, plus the value.
pub const fn driver_value_len(value_max: usize) -> usize {
    HEADER_SIZE + value_max
}

/// Where the bytes of a [`KVBuffer`] start, past a word boundary: the
/// owner header's length short of the next one.
const VALUE_SHIFT: usize = (4 - HEADER_SIZE % 4) % 4;

// A record's value starts a whole number of words after its header: the
// engine reads a record to the start of its scratch buffer.
const _: () = assert!(tickv::REC_HDR.is_multiple_of(4));

/// A byte buffer for the KV stack (the engine's scratch buffer or the
/// driver's value buffer), placed so that values travel as words.
///
/// A stored value is the owner header (9 bytes) and then the app's bytes.
/// The engine copies it from its scratch buffer (where it starts a whole
/// number of words into a record) into the driver's value buffer, and the
/// driver copies the app's part into the app's buffer. With both buffers
/// starting [`HEADER_SIZE`] bytes short of a word boundary (mod 4), the
/// first copy is between equally aligned addresses and the second lands
/// on a word boundary, as an app's buffer usually starts: `memcpy` moves
/// words instead of bytes (on rv32 about 160 instructions of a 32-byte
/// get). Any other placement works too, only slower.
///
/// ```text
/// static KV_SCRATCH: ConstStaticCell<KVBuffer<512>> = ConstStaticCell::new(KVBuffer::new());
/// // KVStackBuffers { scratch: KV_SCRATCH.take().bytes(), .. }
/// ```
#[repr(C, align(4))]
pub struct KVBuffer<const N: usize> {
    _shift: [u8; VALUE_SHIFT],
    bytes: [u8; N],
}

impl<const N: usize> KVBuffer<N> {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        KVBuffer {
            _shift: [0; VALUE_SHIFT],
            bytes: [0; N],
        }
    }

    /// The `N` bytes.
    pub fn bytes(&'static mut self) -> &'static mut [u8] {
        &mut self.bytes
    }
}

impl<const N: usize> Default for KVBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes of an app's grant region the driver's grant takes (slots plus
/// [`App`] data, rounded up to a word): what each app's `--kernel-heap`
/// must budget for the KV driver: 40, whatever `VALUE_MAX` is (keys and
/// values stay in the app's allows until a request starts).
pub const GRANT_BYTES: usize = {
    let c = kv_driver::ALLOW_COUNTS;
    let slots = c.upcalls as usize + c.read_only as usize + c.read_write as usize;
    let slots = slots + c.userspace_readable as usize;
    (8 * slots + <App as GrantData>::SIZE + 3) & !3
};

/// The statically allocated home of every component of the stack, and of
/// the small fixed-size buffers (hashed key, owner header, driver key).
///
/// Allocate one per stack (a `StaticCell<KVStackMemory<503>>` on a
/// board) and hand it to [`KVStack::build`], which fills it.
pub struct KVStackMemory<const VALUE_MAX: usize> {
    hasher: Option<SipHasher<'static>>,
    tickv: Option<TicKVSystem<'static>>,
    hashed_key: [u8; 8],
    store: Option<KVStore<'static>>,
    header: [u8; HEADER_SIZE],
    permissions: Option<KVStorePermissions<'static>>,
    mux: Option<MuxKV<'static>>,
    driver_user: Option<KVUser<'static>>,
    driver_key: [u8; KEY_MAX],
    driver: Option<KVStoreDriver<'static, VALUE_MAX>>,
}

impl<const VALUE_MAX: usize> KVStackMemory<VALUE_MAX> {
    /// Empty memory, ready for [`KVStack::build`].
    pub const fn new() -> Self {
        KVStackMemory {
            hasher: None,
            tickv: None,
            hashed_key: [0; 8],
            store: None,
            header: [0; HEADER_SIZE],
            permissions: None,
            mux: None,
            driver_user: None,
            driver_key: [0; KEY_MAX],
            driver: None,
        }
    }
}

impl<const VALUE_MAX: usize> Default for KVStackMemory<VALUE_MAX> {
    fn default() -> Self {
        Self::new()
    }
}

/// The buffers whose size the board chooses.
pub struct KVStackBuffers {
    /// The TicKV engine's scratch buffer: at least [`tickv::MIN_SCRATCH`]
    /// (64) bytes; every flash read and program moves at most this many
    /// bytes, so larger means fewer flash requests (256 is a good size).
    pub scratch: &'static mut [u8],
    /// The engine's RAM index, 12 bytes per key it can index; may be empty
    /// (then every lookup scans flash). Size it for the number of keys
    /// the store is expected to hold.
    pub index: &'static mut [IndexEntry],
    /// The driver's value buffer: at least
    /// [`driver_value_len`]`(VALUE_MAX)` bytes (512 with `VALUE_MAX` =
    /// 503).
    pub driver_value: &'static mut [u8],
}

/// Why [`KVStack::build`] refused the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KVStackError {
    /// The deferred call manager has fewer than [`DEFERRED_CALLS`] free
    /// slots.
    DeferredCalls(ErrorCode),
    /// The TicKV capsule refused the flash or the buffers: a geometry the
    /// engine does not support (`InvalidGeometry`) or a scratch buffer
    /// below [`tickv::MIN_SCRATCH`] (`ScratchTooSmall`).
    Store(tickv::Error),
    /// The store cannot hold a value of `VALUE_MAX` bytes behind its owner
    /// header: it takes at most `store_max` bytes per value (use larger
    /// regions or a smaller `VALUE_MAX`).
    ValueMaxTooLarge {
        /// The longest value (owner header included) the store takes.
        store_max: usize,
    },
    /// The driver's value buffer is too short.
    DriverValueBuffer(ValueBufferTooShort),
}

/// The components of a built stack; see the [module docs](self).
pub struct KVStack<const VALUE_MAX: usize> {
    /// The key hasher (SipHasher-2-4, zero key: TicKV's key hash).
    pub hasher: &'static SipHasher<'static>,
    /// The TicKV capsule (mounting, state, statistics).
    pub tickv: &'static TicKVSystem<'static>,
    /// `hil::kv::KV` over the capsule.
    pub store: &'static KVStore<'static>,
    /// The owner-id layer.
    pub permissions: &'static KVStorePermissions<'static>,
    /// The FIFO mux every user goes through.
    pub mux: &'static MuxKV<'static>,
    /// The driver's user of the mux.
    pub driver_user: &'static KVUser<'static>,
    /// The syscall driver: register it as [`kv_driver::DRIVER_NUM`].
    pub driver: &'static KVStoreDriver<'static, VALUE_MAX>,
}

impl<const VALUE_MAX: usize> KVStack<VALUE_MAX> {
    /// Builds the stack over `flash` (any `hil::flash::Flash`: a chip
    /// driver, a partition, or a [`FlashUser`] of a flash mux), with the
    /// driver's `grant` (created for [`kv_driver::DRIVER_NUM`] with
    /// [`kv_driver::ALLOW_COUNTS`] before the processes were loaded).
    /// Takes [`DEFERRED_CALLS`] slots of `deferred_calls`.
    ///
    /// The store is not mounted yet: call [`mount`](Self::mount) at boot
    /// (or let the first request mount it).
    ///
    /// [`FlashUser`]: capsules_core::virtual_flash::FlashUser
    pub fn build<const N: usize>(
        memory: &'static mut KVStackMemory<VALUE_MAX>,
        flash: &'static dyn Flash<'static>,
        deferred_calls: &'static DeferredCalls<N>,
        grant: Grant<App>,
        buffers: KVStackBuffers,
        config: Config,
    ) -> Result<Self, KVStackError> {
        let KVStackMemory {
            hasher,
            tickv,
            hashed_key,
            store,
            header,
            permissions,
            mux,
            driver_user,
            driver_key,
            driver,
        } = memory;
        let KVStackBuffers {
            scratch,
            index,
            driver_value,
        } = buffers;
        let index_entries = index.len();

        // Everything that can be checked before anything is built.
        let needed = KVStoreDriver::<VALUE_MAX>::value_buffer_len(HEADER_SIZE);
        if driver_value.len() < needed {
            return Err(KVStackError::DriverValueBuffer(ValueBufferTooShort {
                needed,
                len: driver_value.len(),
            }));
        }
        let allocate = || {
            deferred_calls
                .allocate()
                .map_err(KVStackError::DeferredCalls)
        };
        let (hasher_call, tickv_call, mux_call) = (allocate()?, allocate()?, allocate()?);

        // 1. The hasher and the TicKV capsule over the flash.
        let hasher: &'static SipHasher<'static> = hasher.insert(SipHasher::new(hasher_call));
        hasher_call.set_client(hasher);
        let tickv: &'static TicKVSystem<'static> = tickv.insert(
            TicKVSystem::new(flash, hasher, index, scratch, tickv_call, config)
                .map_err(KVStackError::Store)?,
        );
        let store_max = tickv.max_value_len();
        if store_max < HEADER_SIZE + VALUE_MAX {
            return Err(KVStackError::ValueMaxTooLarge { store_max });
        }
        tickv_call.set_client(tickv);
        flash.set_client(tickv);
        hasher.set_client(tickv);

        // 2. Key hashing, then owner ids.
        let store: &'static KVStore<'static> = store.insert(KVStore::new(tickv, hashed_key));
        tickv.set_client(store);
        let permissions: &'static KVStorePermissions<'static> =
            permissions.insert(KVStorePermissions::new(store, header));
        store.set_client(permissions);
        // The default quotas (the board may set others): the store holds
        // records in all its regions but one, which compaction needs free.
        let g = flash.geometry();
        let regions = config.region_count.unwrap_or(g.erase_units);
        let capacity = u64::from(regions.saturating_sub(1)) * u64::from(g.erase_unit);
        permissions.set_quotas(Quotas::for_store(
            u32::try_from(capacity).unwrap_or(u32::MAX),
            index_entries,
        ));

        // 3. The mux, and the driver's user of it.
        let mux: &'static MuxKV<'static> = mux.insert(MuxKV::new(permissions, mux_call));
        mux_call.set_client(mux);
        permissions.set_client(mux);
        let driver_user: &'static KVUser<'static> = driver_user.insert(KVUser::new(mux));
        mux.add_user(driver_user);

        // 4. The syscall driver (its value buffer was checked above).
        let driver: &'static KVStoreDriver<'static, VALUE_MAX> = driver.insert(
            KVStoreDriver::new(driver_user, grant, driver_key, driver_value)
                .map_err(KVStackError::DriverValueBuffer)?,
        );
        driver_user.set_client(driver);

        Ok(KVStack {
            hasher,
            tickv,
            store,
            permissions,
            mux,
            driver_user,
            driver,
        })
    }

    /// Adds a kernel user of the store in `slot`, calling `client` back.
    /// Its requests queue with the driver's, first come first served; give
    /// it [`StoragePermissions::KERNEL`] to keep data (owned by id 0) that
    /// no app can read or modify.
    ///
    /// [`StoragePermissions::KERNEL`]: kernel::storage_permissions::StoragePermissions::KERNEL
    pub fn add_kernel_user(
        &self,
        slot: &'static mut Option<KVUser<'static>>,
        client: &'static dyn KVClient,
    ) -> &'static KVUser<'static> {
        let user: &'static KVUser<'static> = slot.insert(KVUser::new(self.mux));
        self.mux.add_user(user);
        user.set_client(client);
        user
    }

    /// Starts mounting the store ([`TicKVSystem::init`]): `ALREADY` if it
    /// is mounted or mounting. Requests made meanwhile wait for it.
    pub fn mount(&self) -> Result<(), ErrorCode> {
        self.tickv.init()
    }
}
