//! The KV capsule stack (top to bottom):
//!
//! * [`kv_store`]: `hil::kv::KV` over `KVSystem` (key hashing);
//! * [`tickv`]: `KVSystem` over `hil::flash`, driving the TicKV engine
//!   split-phase.

#![no_std]
#![forbid(unsafe_code)]

pub mod kv_store;
pub mod tickv;
