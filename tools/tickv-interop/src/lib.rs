//! Differential tests of the TicKV version-1 reader (`tickv::v1`); the
//! crate has no code of its own, only tests:
//!
//! * `tests/upstream.rs`: random append / invalidate / zeroise / garbage
//!   collection workloads run by upstream `tickv` 2.0.0 over a simulated
//!   flash (3 x 4096, 8 x 2048, 4 x 1024 bytes), compared with upstream's
//!   own reads and a model; upstream's stuck keys, duplicates and its
//!   off-by-three append; single-byte and burst corruption.
//! * `tests/import.rs`: upstream images imported into a version-2 store,
//!   and the version-2 mount refusing a version-1 image untouched.
//! * `tests/tockloader.rs`: images written by tockloader 1.19.0, which
//!   must be on PATH (`make setup` installs it).
