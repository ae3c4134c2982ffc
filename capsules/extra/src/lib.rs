//! The KV capsule stack (top to bottom):
//!
//! * [`kv_driver`]: syscall driver 0x50003;
//! * [`virtual_kv`]: FIFO mux of several KV users over one store;
//! * [`kv_permissions`]: owner ids and storage permissions;
//! * [`kv_store`]: `hil::kv::KV` over `KVSystem` (key hashing);
//! * [`tickv`]: `KVSystem` over `hil::flash`, driving the TicKV engine
//!   split-phase;
//!
//! A board wires all of them (with the key hasher) over its flash in one
//! call with `components::kv_stack` (`boards/components`).

#![no_std]
#![forbid(unsafe_code)]

pub mod kv_driver;
pub mod kv_permissions;
pub mod kv_store;
pub mod tickv;
pub mod virtual_kv;
