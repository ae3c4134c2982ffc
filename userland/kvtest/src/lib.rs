//! Shared by the key-value test apps (`kv_tests`, `kv_perm_*`): a check
//! report, deterministic value patterns, waiting for a key another app
//! writes, and the checks on the kernel's own item.
//!
//! Every check prints one line, written to the console in one piece (so
//! lines of apps running side by side never mix):
//!
//! ```text
//! [<app>: ]ok <check>
//! [<app>: ]FAIL <check>: got <what came>, want <what was expected>
//! <app>: <n> checks of <declared>, <k> failed
//! ```
//!
//! The `<app>: ` prefix is there for a [`Report::prefixed`] report (apps
//! that run beside each other in one boot).

#![no_std]

use core::fmt::{self, Debug, Display, Write};

use tockrt::console::LineWriter;
use tockrt::kv::{self, KvError};
use tockrt::{alarm, ErrorCode};

/// Longest line written in one console write.
const LINE: usize = 256;

/// The key of the board's boot counter, owned by the kernel (id 0): no app
/// may read, overwrite or delete it.
pub const KERNEL_KEY: &[u8] = b"kernel-boot-count";

/// Counts checks and prints one line per check.
pub struct Report {
    app: &'static str,
    prefixed: bool,
    checks: u32,
    failed: u32,
}

impl Report {
    /// A report whose check lines are `ok <check>` / `FAIL <check>: ...`.
    pub fn new(app: &'static str) -> Report {
        Report {
            app,
            prefixed: false,
            checks: 0,
            failed: 0,
        }
    }

    /// A report whose check lines start with `<app>: `.
    pub fn prefixed(app: &'static str) -> Report {
        Report {
            prefixed: true,
            ..Report::new(app)
        }
    }

    /// Checks so far.
    pub fn checks(&self) -> u32 {
        self.checks
    }

    /// Failed checks so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// Prints one line (with the app prefix if the report has one).
    pub fn say(&self, args: fmt::Arguments<'_>) {
        let mut w = LineWriter::<LINE>::new();
        if self.prefixed {
            let _ = write!(w, "{}: ", self.app);
        }
        let _ = w.write_fmt(args);
        let _ = w.write_str("\n");
        let _ = w.flush();
    }

    /// A passed check.
    pub fn pass(&mut self, name: impl Display) {
        self.checks += 1;
        self.say(format_args!("ok {name}"));
    }

    /// A failed check.
    pub fn fail(&mut self, name: impl Display, got: impl Display, want: impl Display) {
        self.checks += 1;
        self.failed += 1;
        self.say(format_args!("FAIL {name}: got {got}, want {want}"));
    }

    /// `ok` must hold; `got` and `want` describe the values in a failure.
    pub fn that(
        &mut self,
        name: impl Display,
        ok: bool,
        got: impl Display,
        want: impl Display,
    ) -> bool {
        if ok {
            self.pass(name);
        } else {
            self.fail(name, got, want);
        }
        ok
    }

    /// `got` must equal `want`.
    pub fn eq<T: PartialEq + Display>(&mut self, name: impl Display, got: T, want: T) -> bool {
        let ok = got == want;
        self.that(name, ok, got, want)
    }

    /// A key-value outcome must be `want`.
    pub fn kv<T: PartialEq + Debug>(
        &mut self,
        name: impl Display,
        got: Result<T, KvError>,
        want: Result<T, KvError>,
    ) -> bool {
        let ok = got == want;
        self.that(name, ok, Outcome(&got), Outcome(&want))
    }

    /// Bytes read must equal the bytes expected.
    pub fn bytes(&mut self, name: impl Display, got: &[u8], want: &[u8]) -> bool {
        match first_difference(got, want) {
            None => {
                self.pass(name);
                true
            }
            Some(at) => {
                self.fail(name, Diff(got, at), Diff(want, at));
                false
            }
        }
    }

    /// Prints `<app>: <n> checks of <expected>, <k> failed` and returns
    /// the failures (the app's exit code). `expected` is the number of
    /// checks the app declares next to its checks: a run that made another
    /// number (a check that silently stopped running, or ran twice) is one
    /// more failure.
    pub fn finish(mut self, expected: u32) -> u32 {
        if self.checks != expected {
            self.failed += 1;
            self.say(format_args!(
                "FAIL check_count: ran {} checks, the app declares {expected}",
                self.checks
            ));
        }
        let mut w = LineWriter::<LINE>::new();
        let _ = writeln!(
            w,
            "{}: {} checks of {expected}, {} failed",
            self.app, self.checks, self.failed
        );
        let _ = w.flush();
        self.failed
    }
}

/// Where `a` and `b` first differ (`None`: equal).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
        return Some(i);
    }
    (a.len() != b.len()).then(|| a.len().min(b.len()))
}

/// A key-value outcome: `Ok(45)`, `Ok(())`, `NOSUPPORT`, `INVAL (rejected)`,
/// `SIZE (full length 10)`.
pub struct Outcome<'a, T>(pub &'a Result<T, KvError>);

impl<T: Debug> Display for Outcome<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(v) => write!(f, "Ok({v:?})"),
            Err(e) => write!(f, "{e}"),
        }
    }
}

/// Bytes shown as an escaped string, at most 48 of them: `"hello\x00"`,
/// or `"abc..."...` when there are more.
pub struct Bytes<'a>(pub &'a [u8]);

impl Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 48;
        f.write_char('"')?;
        for &b in self.0.iter().take(SHOWN) {
            match b {
                b'"' | b'\\' => write!(f, "\\{}", b as char)?,
                0x20..=0x7e => f.write_char(b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_char('"')?;
        if self.0.len() > SHOWN {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// A byte string at its first difference from another: its length and the
/// byte there.
struct Diff<'a>(&'a [u8], usize);

impl Display for Diff<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Diff(bytes, at) = *self;
        match bytes.get(at) {
            Some(b) => write!(f, "{} bytes with {b:#04x} at {at}", bytes.len()),
            None => write!(f, "{} bytes (ends at {at})", bytes.len()),
        }
    }
}

/// Fills `buf` with bytes that depend on `seed` and on the position (an
/// xorshift sequence): different seeds give different contents.
pub fn fill(buf: &mut [u8], seed: u32) {
    let mut x = seed.wrapping_mul(0x9E37_79B9) ^ 0x5A5A_1234;
    if x == 0 {
        x = 1;
    }
    for b in buf {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
}

/// Gets `key` into `buf`, and while the answer is `NOSUPPORT` (no such
/// key yet, as far as this app can see) sleeps `period_ms` and tries
/// again, `tries` times at most. Returns the last answer.
pub fn wait_for_key(
    key: &[u8],
    buf: &mut [u8],
    tries: u32,
    period_ms: u32,
) -> Result<usize, KvError> {
    let mut tried = 1;
    loop {
        match kv::get(key, buf) {
            Err(e) if e.is_not_found() && tried < tries => {
                tried += 1;
                let _ = alarm::sleep_ms(period_ms);
            }
            other => return other,
        }
    }
}

/// The answer `NOSUPPORT` from the store (not found, or not permitted).
pub const NOT_FOUND: KvError = KvError::Failed(ErrorCode::NoSupport);

/// The kernel's item ([`KERNEL_KEY`]) is out of reach: get, a length
/// query, update and delete all answer `NOSUPPORT` (update answers `INVAL`
/// at command time for an app without a write id). Set and add are not
/// tried: on a store where the kernel has not written its item yet they
/// would create it, owned by the app.
pub fn kernel_item_checks(report: &mut Report, has_write_id: bool) {
    let mut buf = [0u8; 16];
    report.kv(
        "kernel item: get",
        kv::get(KERNEL_KEY, &mut buf),
        Err(NOT_FOUND),
    );
    report.kv(
        "kernel item: length query",
        kv::value_len(KERNEL_KEY),
        Err(NOT_FOUND),
    );
    let want_update = if has_write_id {
        NOT_FOUND
    } else {
        KvError::Rejected(ErrorCode::Inval)
    };
    report.kv(
        "kernel item: update",
        kv::update(KERNEL_KEY, b"\xff\xff\xff\xff"),
        Err(want_update),
    );
    report.kv(
        "kernel item: delete",
        kv::delete(KERNEL_KEY),
        Err(NOT_FOUND),
    );
}

/// What the storage-permission apps (`kv_perm_*`) share: the owner's id,
/// its keys and values, and how long the others wait for them.
///
/// | app | write id | read ids | modify ids |
/// |---|---|---|---|
/// | `kv_perm_owner` | 101 | 101 | 101 |
/// | `kv_perm_reader` | none (0) | 101 | - |
/// | `kv_perm_nomodify` | 104 | 101 104 | 104 |
/// | `kv_perm_noread` | 103 | 104 | 103 |
/// | `kv_perm_nowrite` | none (0) | 101 | 101 |
/// | `kv_perm_kernel` | 106 | 0 106 | 0 106 |
pub mod perm {
    /// The owner's write id (`kv_perm_owner`).
    pub const OWNER_ID: u32 = 101;
    /// The owner's item that the others read (or must not).
    pub const A_KEY: &[u8] = b"perm/a";
    /// Its value.
    pub const A_VALUE: &[u8] = b"owned by 101";
    /// The owner's 503-byte item; its value is [`a_max_value`].
    pub const A_MAX_KEY: &[u8] = b"perm/a-max";
    /// The owner's item that `kv_perm_nowrite` deletes (written anew on
    /// every boot).
    pub const DOOMED_KEY: &[u8] = b"perm/doomed";
    /// Its value.
    pub const DOOMED_VALUE: &[u8] = b"delete me";
    /// Written by the owner after all its items: the others wait for it.
    pub const READY_KEY: &[u8] = b"perm/a-ready";
    /// Written by `kv_perm_nomodify` (id 104) once it has read the
    /// owner's item; `kv_perm_noread`, which cannot read the owner's
    /// items, waits for it.
    pub const NOMODIFY_SAW_A: &[u8] = b"perm/nomodify-saw-a";
    /// Attempts while waiting for another app's key.
    pub const WAIT_TRIES: u32 = 250;
    /// Milliseconds between attempts (so at most 5 s of waiting).
    pub const WAIT_MS: u32 = 20;

    /// The value of [`A_MAX_KEY`].
    pub fn a_max_value() -> [u8; tockrt::kv::VALUE_MAX] {
        let mut v = [0u8; tockrt::kv::VALUE_MAX];
        super::fill(&mut v, OWNER_ID);
        v
    }
}

/// The power-cut workload of `kv_writer` and `kv_check`: [`K`] keys
/// `writer/0` .. `writer/7`, each value a record of one sequence number.
///
/// Sequence numbers start at 1 and go up by one per write; write `seq`
/// goes to key `seq % K`. A value of `L` bytes (`L` = [`value_len`]`(seq)`,
/// 32 to 128) is:
///
/// | bytes | content |
/// |---|---|
/// | 0..4 | `KVW1` |
/// | 4..8 | `seq`, u32 little-endian |
/// | 8..12 | the key index `seq % K`, u32 little-endian |
/// | 12..L-4 | filler: byte `j` (from 0) is `(seq * 31 + j * 7) mod 256` |
/// | L-4..L | CRC-32 (IEEE, as zlib's `crc32`) of bytes 0..L-4, little-endian |
///
/// Because writes go in order and each waits for the previous one, a
/// store whose highest sequence number is `M` holds, for every key `i`,
/// the largest `s <= M` with `s % K == i` (no value if there is none with
/// `s >= 1`): [`expected_seq`].
pub mod workload {
    /// Number of keys.
    pub const K: u32 = 8;
    /// Longest value.
    pub const VALUE_LEN_MAX: usize = 128;
    /// The magic at the start of every value.
    pub const MAGIC: &[u8; 4] = b"KVW1";
    /// Owner id of the workload's items: `kv_writer`'s write id.
    pub const WRITER_ID: u32 = 201;

    /// Key `i`: `writer/<i>`.
    pub fn key(i: u32) -> [u8; 8] {
        let mut k = *b"writer/0";
        k[7] = b'0' + (i % K) as u8;
        k
    }

    /// Length of the value of write `seq`.
    pub fn value_len(seq: u32) -> usize {
        32 + (seq.wrapping_mul(13) % 97) as usize
    }

    /// The value of write `seq`, in `buf`.
    pub fn value(buf: &mut [u8; VALUE_LEN_MAX], seq: u32) -> &[u8] {
        let len = value_len(seq);
        let v = &mut buf[..len];
        v[..4].copy_from_slice(MAGIC);
        v[4..8].copy_from_slice(&seq.to_le_bytes());
        v[8..12].copy_from_slice(&(seq % K).to_le_bytes());
        for (j, b) in v[12..len - 4].iter_mut().enumerate() {
            *b = seq.wrapping_mul(31).wrapping_add(j as u32 * 7) as u8;
        }
        let crc = crc32(&v[..len - 4]);
        v[len - 4..].copy_from_slice(&crc.to_le_bytes());
        v
    }

    /// Checks a value read from key `index`: its sequence number, or what
    /// is wrong with it.
    pub fn parse(index: u32, v: &[u8]) -> Result<u32, &'static str> {
        if v.len() < 16 || v.len() > VALUE_LEN_MAX {
            return Err("bad length");
        }
        if v[..4] != MAGIC[..] {
            return Err("bad magic");
        }
        let crc = u32::from_le_bytes([
            v[v.len() - 4],
            v[v.len() - 3],
            v[v.len() - 2],
            v[v.len() - 1],
        ]);
        if crc != crc32(&v[..v.len() - 4]) {
            return Err("bad checksum");
        }
        let seq = u32::from_le_bytes([v[4], v[5], v[6], v[7]]);
        let stored_index = u32::from_le_bytes([v[8], v[9], v[10], v[11]]);
        if seq == 0 || stored_index != index || seq % K != index {
            return Err("sequence number of another key");
        }
        let mut want = [0u8; VALUE_LEN_MAX];
        if value(&mut want, seq) != v {
            return Err("wrong length or filler for its sequence number");
        }
        Ok(seq)
    }

    /// What key `index` holds when the highest sequence number written is
    /// `max`: the largest `s <= max` with `s % K == index`, or `None`.
    pub fn expected_seq(index: u32, max: u32) -> Option<u32> {
        let back = (max % K + K - index % K) % K;
        max.checked_sub(back).filter(|&s| s >= 1)
    }

    /// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`).
    pub fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !crc
    }
}

/// Many keys, overwritten again and again: the store's head moves on
/// through its regions, old values become garbage, a garbage collection
/// compacts them, and every key must read back as last written.
pub mod many {
    use tockrt::kv::{self, KvError, VALUE_MAX};

    use super::{fill, Report, NOT_FOUND};

    /// What to write.
    pub struct Fill {
        /// Key prefix (the app's own: keys are global, and another app's
        /// key of the same name could not be overwritten).
        pub prefix: [u8; 4],
        /// Number of keys, at most 1000: `<prefix>many/000` ...
        pub keys: usize,
        /// Passes over all the keys: the first creates them, each later
        /// one overwrites every key.
        pub passes: u32,
    }

    impl Fill {
        /// Name of key `i`: `<prefix>many/NNN`.
        pub fn key(&self, i: usize) -> [u8; 12] {
            let mut k = *b"????many/000";
            k[..4].copy_from_slice(&self.prefix);
            k[9] = b'0' + (i / 100 % 10) as u8;
            k[10] = b'0' + (i / 10 % 10) as u8;
            k[11] = b'0' + (i % 10) as u8;
            k
        }

        /// Bytes all the passes write.
        pub fn bytes(&self) -> u64 {
            (0..self.passes)
                .map(|p| (0..self.keys).map(|i| len(i, p) as u64).sum::<u64>())
                .sum()
        }

        /// The first key whose value is not that of pass `expected(i)`, and
        /// what came instead.
        fn read_back(
            &self,
            expected: impl Fn(usize) -> u32,
        ) -> Result<usize, (usize, &'static str)> {
            let mut want = [0u8; VALUE_MAX];
            let mut got = [0u8; VALUE_MAX];
            for i in 0..self.keys {
                let value = value(&mut want, i, expected(i));
                match kv::get(&self.key(i), &mut got) {
                    Ok(n) if got[..n] == *value => {}
                    Ok(_) | Err(KvError::Size { .. }) => return Err((i, "another value")),
                    Err(e) if e.is_not_found() => return Err((i, "NOSUPPORT")),
                    Err(_) => return Err((i, "an error")),
                }
            }
            Ok(self.keys)
        }
    }

    /// Length of key `i`'s value in pass `pass`: 200 to 400 bytes, and the
    /// 503-byte maximum for every 16th key.
    fn len(i: usize, pass: u32) -> usize {
        if i % 16 == 5 {
            VALUE_MAX
        } else {
            200 + (i * 37 + pass as usize * 53) % 201
        }
    }

    /// Key `i`'s value in pass `pass`, in `buf`.
    fn value(buf: &mut [u8; VALUE_MAX], i: usize, pass: u32) -> &[u8] {
        let v = &mut buf[..len(i, pass)];
        fill(v, (i as u32) << 16 | pass);
        v
    }

    fn report_read_back(r: &mut Report, name: &str, result: Result<usize, (usize, &'static str)>) {
        match result {
            Ok(n) => r.pass(format_args!("{name} ({n} keys)")),
            Err((i, what)) => r.fail(
                name,
                format_args!("{what} at key {i}"),
                "every value as written",
            ),
        }
    }

    /// Writes the passes, reading another key back after each write; reads
    /// every key back; garbage-collects and reads everything again;
    /// overwrites every other key and reads everything again; deletes all
    /// the keys (and checks they are gone) and garbage-collects. About a
    /// dozen checks.
    pub fn run(r: &mut Report, f: &Fill) {
        let mut buf = [0u8; VALUE_MAX];
        let mut got = [0u8; VALUE_MAX];
        let mut written: u64 = 0;
        let mut first_error: Option<(u32, usize, KvError)> = None;
        let mut first_mismatch: Option<(u32, usize, usize)> = None;
        for pass in 0..f.passes {
            for i in 0..f.keys {
                let v = value(&mut buf, i, pass);
                match kv::set(&f.key(i), v) {
                    Ok(()) => written += v.len() as u64,
                    Err(e) => {
                        first_error.get_or_insert((pass, i, e));
                    }
                }
                // Read back another key: written in this pass if it comes
                // before `i`, else in the previous one (if any).
                let j = (i * 7 + 3) % f.keys;
                if pass == 0 && j > i {
                    continue;
                }
                let pj = if j <= i { pass } else { pass - 1 };
                let want = value(&mut buf, j, pj);
                let ok = matches!(kv::get(&f.key(j), &mut got), Ok(n) if got[..n] == *want);
                if !ok {
                    first_mismatch.get_or_insert((pass, i, j));
                }
            }
        }
        let name = "many keys: write every pass";
        match first_error {
            None => r.pass(format_args!(
                "{name} ({} keys x {} passes, {written} bytes)",
                f.keys, f.passes
            )),
            Some((pass, i, e)) => r.fail(
                name,
                format_args!("{e} in pass {pass} at key {i}"),
                format_args!("{} bytes written", f.bytes()),
            ),
        }
        let name = "many keys: read back while writing";
        match first_mismatch {
            None => r.pass(name),
            Some((pass, i, j)) => r.fail(
                name,
                format_args!("key {j} wrong after writing key {i} in pass {pass}"),
                "the last value written",
            ),
        }
        let last = f.passes.saturating_sub(1);
        report_read_back(r, "many keys: all read back", f.read_back(|_| last));
        r.kv("many keys: gc", kv::gc(), Ok(()));
        report_read_back(
            r,
            "many keys: all read back after gc",
            f.read_back(|_| last),
        );

        // Overwrite every other key after the collection.
        let next = f.passes;
        let mut failed = None;
        for i in (0..f.keys).step_by(2) {
            if let Err(e) = kv::set(&f.key(i), value(&mut buf, i, next)) {
                failed.get_or_insert((i, e));
            }
        }
        let name = "many keys: overwrite every other key after gc";
        match failed {
            None => r.pass(name),
            Some((i, e)) => r.fail(name, format_args!("{e} at key {i}"), "Ok"),
        }
        report_read_back(
            r,
            "many keys: all read back after the overwrite",
            f.read_back(|i| if i % 2 == 0 { next } else { last }),
        );

        let mut failed = None;
        for i in 0..f.keys {
            if let Err(e) = kv::delete(&f.key(i)) {
                failed.get_or_insert((i, e));
            }
        }
        match failed {
            None => r.pass("many keys: delete all"),
            Some((i, e)) => r.fail(
                "many keys: delete all",
                format_args!("{e} at key {i}"),
                "Ok",
            ),
        }
        let left = (0..f.keys).find(|&i| kv::value_len(&f.key(i)) != Err(NOT_FOUND));
        r.that(
            "many keys: all gone",
            left.is_none(),
            format_args!("key {} still there", left.unwrap_or(0)),
            "NOSUPPORT for every key",
        );
        r.kv("many keys: gc after delete", kv::gc(), Ok(()));
    }
}
