//! A kernel user of the KV store: counts boots in a kernel-owned item.
//!
//! At boot it reads the key [`KEY`] with the kernel's storage permissions
//! (owner id 0, which no app can read or modify), adds one and writes it
//! back, then prints `<board>: boot <n>`. A missing item counts as
//! 0; any other error is printed and the count is left alone. It shows
//! kernel-owned and app-owned items sharing one store through the mux.

use core::cell::Cell;
use core::fmt::Write;

use capsules_core::console::Console;
use capsules_extra::virtual_kv::KVUser;
use kernel::hil::kv::{KVClient, KVPermissions};
use kernel::storage_permissions::StoragePermissions;
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tock_cells::{MapCell, OptionalCell};

/// The key of the boot count (hashed like any key).
pub const KEY: &[u8] = b"kernel-boot-count";

/// Bytes of the value buffer: the permission layer's owner header plus the
/// 4-byte little-endian count.
pub const VALUE_BUF: usize = capsules_extra::kv_permissions::HEADER_SIZE + 4;

/// The boot counter; see the module docs.
pub struct BootCounter {
    name: &'static str,
    store: OptionalCell<&'static KVUser<'static>>,
    console: &'static Console<'static>,
    key: MapCell<SubSliceMut<'static, u8>>,
    value: MapCell<SubSliceMut<'static, u8>>,
    count: Cell<Option<u32>>,
}

impl BootCounter {
    /// A counter printing on `console` (its lines start with the board's
    /// `name`), with buffers for the key and the value.
    pub fn new(
        name: &'static str,
        console: &'static Console<'static>,
        key: &'static mut [u8; KEY.len()],
        value: &'static mut [u8; VALUE_BUF],
    ) -> BootCounter {
        key.copy_from_slice(KEY);
        BootCounter {
            name,
            store: OptionalCell::empty(),
            console,
            key: MapCell::new(SubSliceMut::new(key)),
            value: MapCell::new(SubSliceMut::new(value)),
            count: Cell::new(None),
        }
    }

    /// The store user this counter reads and writes through.
    pub fn set_store(&self, store: &'static KVUser<'static>) {
        self.store.set(store);
    }

    fn say(&self, args: core::fmt::Arguments<'_>) {
        let _ = write!(self.console.kernel_writer(), "{}: {args}", self.name);
    }

    /// Starts reading the count (requests wait for the store's mount).
    pub fn start(&self) {
        let (Some(store), Some(mut key), Some(mut value)) =
            (self.store.get(), self.key.take(), self.value.take())
        else {
            return;
        };
        key.reset();
        value.reset();
        value.slice(9..);
        if let Err((key, value, e)) = store.get(key, value, StoragePermissions::KERNEL) {
            self.key.replace(key);
            self.value.replace(value);
            self.say(format_args!("boot counter: cannot read ({e:?})\n"));
        }
    }

    fn write(
        &self,
        count: u32,
        mut key: SubSliceMut<'static, u8>,
        mut value: SubSliceMut<'static, u8>,
    ) {
        let Some(store) = self.store.get() else {
            return;
        };
        key.reset();
        value.reset();
        value.slice(9..);
        value.as_mut_slice().copy_from_slice(&count.to_le_bytes());
        if let Err((key, value, e)) = store.set(key, value, StoragePermissions::KERNEL) {
            self.key.replace(key);
            self.value.replace(value);
            self.say(format_args!("boot counter: cannot write ({e:?})\n"));
        }
    }

    fn give_back(&self, key: SubSliceMut<'static, u8>, value: SubSliceMut<'static, u8>) {
        self.key.replace(key);
        self.value.replace(value);
    }
}

impl KVClient for BootCounter {
    fn get_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        full_len: usize,
    ) {
        let previous = match result {
            Ok(()) if full_len == 4 => {
                let b = value.as_slice();
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
            Err(ErrorCode::NOSUPPORT) => 0,
            other => {
                self.say(format_args!(
                    "boot counter: unreadable ({other:?}, {full_len} bytes)\n"
                ));
                self.give_back(key, value);
                return;
            }
        };
        let count = previous.saturating_add(1);
        self.count.set(Some(count));
        self.write(count, key, value);
    }

    fn set_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.give_back(key, value);
        match (result, self.count.get()) {
            (Ok(()), Some(n)) => self.say(format_args!("boot {n}\n")),
            (r, _) => self.say(format_args!("boot counter: not stored ({r:?})\n")),
        }
    }

    fn add_complete(
        &self,
        _: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.give_back(key, value);
    }

    fn update_complete(
        &self,
        _: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.give_back(key, value);
    }

    fn delete_complete(&self, _: Result<(), ErrorCode>, key: SubSliceMut<'static, u8>) {
        self.key.replace(key);
    }

    fn garbage_collect_complete(&self, _: Result<(), ErrorCode>, _: usize) {}
}

/// The memory of a [`BootCounter`] and its store user, allocated by the
/// board (a `StaticCell`).
pub struct BootCounterMemory {
    counter: Option<BootCounter>,
    user: Option<KVUser<'static>>,
    key: [u8; KEY.len()],
    value: [u8; VALUE_BUF],
}

impl BootCounterMemory {
    /// Empty memory.
    pub const fn new() -> Self {
        BootCounterMemory {
            counter: None,
            user: None,
            key: [0; KEY.len()],
            value: [0; VALUE_BUF],
        }
    }
}

impl Default for BootCounterMemory {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a boot counter printing on `console` as `name`, as a kernel user
/// of `kv`'s mux; returns it and its store user. Call
/// [`BootCounter::start`] after mounting the store.
pub fn boot_counter<const VALUE_MAX: usize>(
    memory: &'static mut BootCounterMemory,
    name: &'static str,
    console: &'static Console<'static>,
    kv: &crate::kv_stack::KVStack<VALUE_MAX>,
) -> (&'static BootCounter, &'static KVUser<'static>) {
    let BootCounterMemory {
        counter,
        user,
        key,
        value,
    } = memory;
    let counter: &'static BootCounter = counter.insert(BootCounter::new(name, console, key, value));
    let user = kv.add_kernel_user(user, counter);
    counter.set_store(user);
    (counter, user)
}
