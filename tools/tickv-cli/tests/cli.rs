//! End-to-end tests: the real `tickv` binary on temporary image files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

const MYKEY: u64 = 0x219e_0c95_28eb_4392;

/// Program unit of the test stores (the tool's default).
const UNIT: usize = 4;
/// Where records start in a region at program unit 4: the 12-byte region
/// header, already a multiple of the unit (`TicKV::header_span()`).
const DATA: usize = 12;
/// Size of a record header: meta, inverted meta, key, CRC.
const REC: usize = 16;
/// Offset of the key in a record header, and of its CRC.
const KEY_AT: usize = 4;
const CRC_AT: usize = 12;
/// Region size of the test stores (the default, 4 KiB).
const REGION: usize = 4096;
/// The largest value a 4 KiB region at program unit 4 accepts.
const MAX_VALUE: usize = REGION - DATA - REC;

/// Bytes a record with a value of `len` bytes occupies at program unit 4.
fn extent(len: usize) -> usize {
    (REC + len).next_multiple_of(UNIT)
}

/// A unique path under the temp directory, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("tickv-cli-test-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        Temp(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn s(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.0).expect("read image")
    }

    fn write(&self, bytes: &[u8]) {
        std::fs::write(&self.0, bytes).expect("write image");
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    raw: Vec<u8>,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

fn tickv(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_tickv"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tickv");
    Run {
        code: out.status.code().expect("exit status"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw: out.stdout,
    }
}

/// Runs `tickv --image IMG ARGS...` and asserts success.
fn ok(img: &Temp, args: &[&str]) -> Run {
    let mut all = vec!["--image", img.s()];
    all.extend_from_slice(args);
    let r = tickv(&all);
    assert_eq!(
        r.code, 0,
        "tickv {all:?} failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r
}

/// Runs `tickv --image IMG ARGS...`, expecting exit status `code`, and checks
/// that the image file is byte-for-byte unchanged (and, for errors, that a
/// message was printed; exit status 3 is fsck's "damaged" report).
fn fails_unchanged(img: &Temp, args: &[&str], code: i32) -> Run {
    let before = std::fs::read(img.path()).ok();
    let mut all = vec!["--image", img.s()];
    all.extend_from_slice(args);
    let r = tickv(&all);
    assert_eq!(
        r.code, code,
        "tickv {all:?}: expected exit {code}\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    if code != 3 {
        assert!(!r.stderr.is_empty(), "an error message is expected");
    }
    let after = std::fs::read(img.path()).ok();
    assert!(before == after, "tickv {all:?} changed the image file");
    r
}

/// A formatted 4 x 4 KiB store.
fn small_store(name: &str) -> Temp {
    let img = Temp::new(name);
    ok(&img, &["--create", "--regions", "4", "format"]);
    assert_eq!(img.bytes().len(), 4 * 4096);
    img
}

/// A version-1 image of 3 x 4096 bytes holding the test vectors of
/// doc/tickv-v1.md: "mykey" = "hello" with owner 0x1234 in region 0 and the
/// main-key object in region 1.
fn v1_image() -> Vec<u8> {
    let mut img = vec![0xFFu8; 3 * 4096];
    let mykey = [
        0x01, 0x80, 0x1d, 0x21, 0x9e, 0x0c, 0x95, 0x28, 0xeb, 0x43, 0x92, 0x00, 0x05, 0x00, 0x00,
        0x00, 0x34, 0x12, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x91, 0x51, 0xa9, 0xf6,
    ];
    let main = [
        0x01, 0x80, 0x0f, 0x7b, 0xc9, 0xf7, 0xff, 0x4f, 0x76, 0xf2, 0x44, 0xbb, 0x32, 0x74, 0x1d,
    ];
    img[..mykey.len()].copy_from_slice(&mykey);
    img[4096..4096 + main.len()].copy_from_slice(&main);
    img
}

#[test]
fn format_set_get_list_delete_round_trip() {
    let img = small_store("roundtrip.img");
    ok(&img, &["set", "alpha", "one"]);
    ok(&img, &["set", "beta", "two"]);
    ok(&img, &["set", "alpha", "uno"]);
    let r = ok(&img, &["get", "alpha"]);
    assert!(r.stdout.contains("\"uno\""), "{}", r.stdout);
    let r = ok(&img, &["list"]);
    assert!(r.stdout.contains("\"uno\"") && r.stdout.contains("\"two\""));
    assert!(r.stdout.contains("2 keys"), "{}", r.stdout);
    ok(&img, &["delete", "alpha"]);
    fails_unchanged(&img, &["get", "alpha"], 4);
    let r = ok(&img, &["list"]);
    assert!(r.stdout.contains("1 key\n") && !r.stdout.contains("uno"));
    // The same store survives across invocations and checks clean.
    ok(&img, &["fsck"]);
}

#[test]
fn string_keys_hash_like_the_kernel() {
    let img = small_store("hash.img");
    ok(&img, &["set", "mykey", "hello"]);
    // The raw hash names the same key.
    let r = ok(&img, &["--json", "get", "--hash", "0x219e0c9528eb4392"]);
    assert_eq!(r.json()["value"], "hello");
    let r = ok(&img, &["--json", "get", "mykey"]);
    assert_eq!(r.json()["key"], "0x219e0c9528eb4392");
    // The record on flash is the worked example of doc/tickv-format.md.
    let b = img.bytes();
    assert_eq!(
        &b[DATA..DATA + extent(5)],
        &[
            0x20, 0x05, 0xdf, 0xfa, 0x92, 0x43, 0xeb, 0x28, 0x95, 0x0c, 0x9e, 0x21, 0xa7, 0x3d,
            0xc6, 0x24, b'h', b'e', b'l', b'l', b'o', 0xff, 0xff, 0xff
        ][..]
    );
    assert_eq!(MYKEY.to_le_bytes(), b[DATA + KEY_AT..DATA + KEY_AT + 8]);
    // A decimal hash works too.
    let r = ok(&img, &["get", "--hash", &MYKEY.to_string()]);
    assert!(r.stdout.contains("hello"));
    // --hash and KEY together are a usage error.
    fails_unchanged(&img, &["get", "mykey", "--hash", "1"], 2);
}

#[test]
fn kernel_keys_live_in_the_kernels_namespace() {
    let img = small_store("kernel-ns.img");
    ok(&img, &["set", "--kernel", "boots", "--owner", "0", "k"]);
    ok(&img, &["set", "boots", "--owner", "5", "app"]);
    // The same string names two keys: the kernel's hash is moved by the
    // bytes `kernelNS` (what the kernel's kv_store does).
    let kernel_hash = siphash::tickv_kernel_key(b"boots");
    assert_ne!(kernel_hash, siphash::tickv_key(b"boots"));
    let r = ok(&img, &["--json", "get", "--kernel", "boots"]);
    assert_eq!(r.json()["key"], format!("{kernel_hash:#018x}"));
    assert_eq!(r.json()["owner"], 0);
    let r = ok(&img, &["--json", "get", "boots"]);
    assert_eq!(r.json()["owner"], 5);
    ok(&img, &["delete", "--kernel", "boots"]);
    fails_unchanged(&img, &["get", "--kernel", "boots"], 4);
    ok(&img, &["get", "boots"]);
}

#[test]
fn json_output_shapes() {
    let img = Temp::new("json.img");
    let r = ok(&img, &["--json", "--create", "--regions", "4", "format"]);
    let j = r.json();
    assert_eq!(j["formatted"], true);
    assert_eq!(j["store"]["regions"], 4);
    assert_eq!(j["store"]["region_size"], 4096);
    assert_eq!(j["stats"]["keys"], 0);

    let j = ok(&img, &["--json", "set", "k", "v"]).json();
    assert_eq!(j["size"], 1);
    assert_eq!(j["owner"], Value::Null);

    ok(&img, &["set", "bin", "--hex", "00ff10"]);
    let j = ok(&img, &["--json", "get", "bin"]).json();
    assert_eq!(j["encoding"], "hex");
    assert_eq!(j["value"], "00ff10");

    let j = ok(&img, &["--json", "list"]).json();
    let keys = j["keys"].as_array().expect("keys array");
    assert_eq!(keys.len(), 2);
    for k in keys {
        assert!(k["key"].as_str().unwrap().starts_with("0x"));
        assert!(k["size"].is_u64());
        assert!(k.get("owner").is_some());
    }

    let j = ok(&img, &["--json", "stat"]).json();
    assert_eq!(j["stats"]["keys"], 2);
    assert_eq!(j["regions"].as_array().unwrap().len(), 4);
    assert_eq!(j["regions"][0]["erase_count"], 1);
    assert_eq!(j["records"]["live"], 2);

    let j = ok(&img, &["--json", "dump"]).json();
    let recs = j["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["region"], 0);
    assert_eq!(recs[0]["offset"], DATA);
    assert_eq!(recs[0]["status"], "live");

    let j = ok(&img, &["--json", "fsck"]).json();
    assert_eq!(j["clean"], true);
    assert_eq!(j["damage"].as_array().unwrap().len(), 0);

    // Errors in JSON mode: an object on stdout, the message on stderr.
    let r = fails_unchanged(&img, &["--json", "get", "missing"], 4);
    assert_eq!(r.json()["error"]["kind"], "not_found");
}

#[test]
fn owner_header_round_trip() {
    let img = small_store("owner.img");
    ok(&img, &["set", "mykey", "hello", "--owner", "0x1234"]);
    let r = ok(&img, &["get", "mykey"]);
    assert!(r.stdout.contains("0x1234"), "{}", r.stdout);
    assert!(r.stdout.contains("\"hello\""), "{}", r.stdout);
    let j = ok(&img, &["--json", "get", "mykey"]).json();
    assert_eq!(j["owner"], 0x1234);
    assert_eq!(j["size"], 14);
    assert_eq!(j["value"], "hello");
    // The stored bytes carry the 9-byte header.
    let r = ok(&img, &["get", "mykey", "--raw"]);
    assert_eq!(
        r.raw,
        [0, 5, 0, 0, 0, 0x34, 0x12, 0, 0, b'h', b'e', b'l', b'l', b'o']
    );
    let j = ok(&img, &["--json", "list"]).json();
    assert_eq!(j["keys"][0]["owner"], 0x1234);
    // A value that merely starts with a zero byte is not mistaken for one.
    ok(&img, &["set", "plain", "--hex", "00010203"]);
    let j = ok(&img, &["--json", "get", "plain"]).json();
    assert_eq!(j["owner"], Value::Null);
    fails_unchanged(&img, &["set", "x", "y", "--owner", "0x100000000"], 2);
}

#[test]
fn value_file_and_stdin_forms() {
    let img = small_store("valuefile.img");
    let f = Temp::new("value.bin");
    f.write(&[1, 2, 3, 0xFF]);
    ok(&img, &["set", "blob", "--value-file", f.s()]);
    let r = ok(&img, &["get", "blob", "--raw"]);
    assert_eq!(r.raw, [1, 2, 3, 0xFF]);
    ok(&img, &["set", "--hash", "0x10", "sixteen"]);
    let j = ok(&img, &["--json", "get", "--hash", "16"]).json();
    assert_eq!(j["value"], "sixteen");
    fails_unchanged(&img, &["set", "a", "b", "--value-file", f.s()], 2);
    fails_unchanged(&img, &["set", "a"], 2);
}

#[test]
fn qemu_ast1030_preset_is_the_whole_1_mib_nor() {
    let img = Temp::new("ast1030.img");
    let r = ok(&img, &["--preset", "qemu-ast1030", "--create", "format"]);
    assert!(r.stdout.contains("256 regions x 4 KiB"), "{}", r.stdout);
    let b = img.bytes();
    assert_eq!(b.len(), 1 << 20, "QEMU's mtd drive wants exactly 1 MiB");
    for r in [0usize, 255] {
        let region = &b[r * 0x1000..][..0x1000];
        // Version 2, log2 unit 2 | (log2 region 12 - 8) << 3.
        assert_eq!(&region[..2], &[2, 2 | ((12 - 8) << 3)], "region {r}");
    }
    ok(
        &img,
        &["--preset", "qemu-ast1030", "set", "k", "v", "--owner", "7"],
    );
    let j = ok(&img, &["--preset", "qemu-ast1030", "--json", "get", "k"]).json();
    assert_eq!(j["value"], "v");
}

#[test]
fn nrf52840dk_preset_is_the_first_mib_of_an_8_mib_dump() {
    let img = Temp::new("mx25r.img");
    let r = ok(&img, &["--preset", "nrf52840dk", "--create", "format"]);
    assert!(r.stdout.contains("256 regions x 4 KiB"), "{}", r.stdout);
    let b = img.bytes();
    assert_eq!(b.len(), 8 << 20, "a dump of the whole MX25R6435F");
    assert_eq!(&b[255 * 0x1000..][..2], &[2, 2 | ((12 - 8) << 3)]);
    assert!(
        b[256 * 0x1000..].iter().all(|&x| x == 0xFF),
        "past the store"
    );
    ok(&img, &["--preset", "nrf52840dk", "set", "k", "v"]);
    let j = ok(&img, &["--preset", "nrf52840dk", "--json", "get", "k"]).json();
    assert_eq!(j["value"], "v");
}

#[test]
fn qemu_preset_at_an_offset_in_a_32_mib_image() {
    let img = Temp::new("qemu.img");
    let r = ok(
        &img,
        &[
            "--preset",
            "qemu",
            "--offset",
            "0x1000000",
            "--create",
            "format",
        ],
    );
    assert!(r.stdout.contains("16 regions x 256 KiB"), "{}", r.stdout);
    let b = img.bytes();
    assert_eq!(b.len(), 32 << 20, "QEMU wants exactly 32 MiB");
    // Nothing outside the window is touched; every region has a header:
    // version 2, the geometry byte (log2 unit | (log2 region - 8) << 3), erase
    // count 1 and sequence number r (both u24 LE), then its CRC; the data area
    // after it is erased.
    assert!(b[..0x100_0000].iter().all(|&x| x == 0xFF));
    assert!(b[0x140_0000..].iter().all(|&x| x == 0xFF));
    for r in 0..16u8 {
        let region = &b[0x100_0000 + usize::from(r) * 0x40000..][..0x40000];
        assert_eq!(
            &region[..8],
            &[2, 2 | ((18 - 8) << 3), 1, 0, 0, r, 0, 0],
            "region {r} header"
        );
        assert!(
            region[DATA..].iter().all(|&x| x == 0xFF),
            "region {r} data area"
        );
    }
    let q = ["--preset", "qemu", "--offset", "0x1000000"];
    let with =
        |extra: &[&str]| -> Vec<String> { q.iter().chain(extra).map(|s| s.to_string()).collect() };
    let args = with(&["set", "mykey", "hello", "--owner", "7"]);
    ok(&img, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let args = with(&["--json", "get", "mykey"]);
    let j = ok(&img, &args.iter().map(String::as_str).collect::<Vec<_>>()).json();
    assert_eq!(j["value"], "hello");
    assert_eq!(j["owner"], 7);
    let args = with(&["--json", "stat"]);
    let j = ok(&img, &args.iter().map(String::as_str).collect::<Vec<_>>()).json();
    assert_eq!(j["store"]["offset"], 0x100_0000);
    assert_eq!(j["store"]["size"], 4 << 20);
    assert_eq!(j["stats"]["keys"], 1);
    // The record sits right after the first region header, at the offset.
    let key_at = 0x100_0000 + DATA + KEY_AT;
    assert_eq!(&img.bytes()[key_at..key_at + 8], &MYKEY.to_le_bytes());
    // At offset 0 the same file holds no store.
    let r = fails_unchanged(&img, &["--preset", "qemu", "list"], 1);
    assert!(r.stderr.contains("no TicKV store"), "{}", r.stderr);

    // A store that would not fit in the 32 MiB image is refused and no file
    // is created.
    let none = Temp::new("qemu-too-far.img");
    let r = tickv(&[
        "--image",
        none.s(),
        "--preset",
        "qemu",
        "--offset",
        "0x1d00000",
        "--create",
        "format",
    ]);
    assert_eq!(r.code, 1);
    assert!(!none.path().exists());
}

#[test]
fn fsck_clean_then_names_the_damaged_key() {
    let img = small_store("fsck.img");
    ok(&img, &["set", "mykey", "hello"]);
    ok(&img, &["set", "other", "still here"]);
    let r = ok(&img, &["fsck"]);
    assert!(r.stdout.contains("result: clean"), "{}", r.stdout);

    // Flip one byte of "hello" (record at DATA, value right after its header).
    let mut b = img.bytes();
    b[DATA + REC] ^= 0x20;
    img.write(&b);
    let r = fails_unchanged(&img, &["fsck"], 3);
    assert!(r.stdout.contains("0x219e0c9528eb4392"), "{}", r.stdout);
    assert!(r.stdout.contains("fails its CRC"), "{}", r.stdout);
    assert!(r.stdout.contains("DAMAGED"), "{}", r.stdout);
    // What is still readable is reported too.
    assert!(r.stdout.contains("readable: 1 live key "), "{}", r.stdout);
    let j = tickv(&["--image", img.s(), "--json", "fsck"]).json();
    assert_eq!(j["clean"], false);
    assert_eq!(j["damage"][0]["key"], "0x219e0c9528eb4392");
    assert_eq!(j["damage"][0]["region"], 0);
    assert_eq!(j["damage"][0]["offset"], DATA);
    assert_eq!(j["readable_keys"].as_array().unwrap().len(), 1);
    // The damaged key reads as absent; the other key is intact.
    fails_unchanged(&img, &["get", "mykey"], 4);
    let r = ok(&img, &["get", "other"]);
    assert!(r.stdout.contains("still here"));
    let j = ok(&img, &["--json", "dump"]).json();
    assert_eq!(j["records"][0]["status"], "corrupt");
    assert_eq!(j["records"][0]["crc_ok"], false);
}

#[test]
fn fsck_reports_an_older_value_coming_back() {
    let img = small_store("fsck-older.img");
    ok(&img, &["set", "k", "old"]);
    ok(&img, &["set", "k", "new!"]);
    // Damage the newest record's value ("new!", in the record after "old").
    let mut b = img.bytes();
    b[DATA + extent(3) + REC] ^= 1;
    img.write(&b);
    let r = fails_unchanged(&img, &["fsck"], 3);
    assert!(r.stdout.contains("older value (3 bytes)"), "{}", r.stdout);
    let j = ok(&img, &["--json", "get", "k"]).json();
    assert_eq!(j["value"], "old");
}

#[test]
fn fsck_tells_a_write_cut_by_a_power_loss_from_damage() {
    let img = small_store("fsck-cut.img");
    ok(&img, &["set", "k", "old"]);
    ok(&img, &["set", "k", "a longer new value"]);
    // Erase the last program unit of the newest record, as if the power
    // failed before the driver programmed it: NOR flash still reads 0xFF.
    let mut b = img.bytes();
    let newest = DATA + extent(3);
    let end = newest + extent(18);
    b[end - 4..end].fill(0xFF);
    img.write(&b);
    let r = ok(&img, &["fsck"]);
    assert!(
        r.stdout.contains("never completely programmed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("older value (3 bytes)"), "{}", r.stdout);
    assert!(r.stdout.contains("result: clean"), "{}", r.stdout);
    let j = ok(&img, &["--json", "get", "k"]).json();
    assert_eq!(j["value"], "old");
    // A flipped bit in a fully programmed record is damage, though.
    let mut b = img.bytes();
    b[DATA + REC] ^= 0x20;
    img.write(&b);
    let r = fails_unchanged(&img, &["fsck"], 3);
    assert!(r.stdout.contains("fails its CRC"), "{}", r.stdout);
}

#[test]
fn every_error_leaves_the_image_unchanged() {
    let img = small_store("errors.img");
    ok(&img, &["set", "mykey", "hello"]);

    // Missing file: no file appears.
    let missing = Temp::new("missing.img");
    let r = fails_unchanged(&missing, &["list"], 1);
    assert!(r.stderr.contains("no such file"), "{}", r.stderr);
    fails_unchanged(&missing, &["set", "a", "b"], 1);
    assert!(!missing.path().exists());
    // --create is for format only.
    fails_unchanged(&missing, &["--create", "set", "a", "b"], 2);
    assert!(!missing.path().exists());

    // A file too small for offset + size.
    let r = fails_unchanged(&img, &["--regions", "8", "set", "a", "b"], 1);
    assert!(r.stderr.contains("needs 32768 bytes"), "{}", r.stderr);
    fails_unchanged(&img, &["--offset", "0x1000", "--regions", "4", "format"], 1);
    fails_unchanged(&img, &["--offset", "0x4000", "list"], 1);
    // Region sizes that are not a power of two, or do not fit.
    let r = fails_unchanged(&img, &["--region-size", "3000", "format"], 1);
    assert!(r.stderr.contains("not a power of two"), "{}", r.stderr);
    let r = fails_unchanged(&img, &["--region-size", "0x10000", "format"], 1);
    assert!(r.stderr.contains("at least 2 regions"), "{}", r.stderr);
    fails_unchanged(&img, &["--region-size", "128", "format"], 1);
    fails_unchanged(&img, &["--unit", "3", "format"], 1);
    // Another geometry than the store was formatted with.
    let r = fails_unchanged(&img, &["--region-size", "8192", "set", "a", "b"], 1);
    assert!(r.stderr.contains("--region-size 0x1000"), "{}", r.stderr);

    // Key not found (get and delete).
    fails_unchanged(&img, &["get", "nope"], 4);
    fails_unchanged(&img, &["delete", "nope"], 4);
    fails_unchanged(&img, &["delete", "--secure", "nope"], 4);

    // Value too large (largest value here: 4096 - 12 - 16 = 4068).
    assert_eq!(MAX_VALUE, 4068);
    let big = Temp::new("big.bin");
    big.write(&vec![7u8; MAX_VALUE + 1]);
    let r = fails_unchanged(&img, &["set", "big", "--value-file", big.s()], 1);
    assert!(r.stderr.contains("at most 4068"), "{}", r.stderr);
    // The largest value itself fits (checked without writing).
    big.write(&vec![7u8; MAX_VALUE]);
    ok(&img, &["--dry-run", "set", "big", "--value-file", big.s()]);
    // With the 9-byte owner header, a value 9 bytes shorter is one too many.
    big.write(&vec![7u8; MAX_VALUE - 8]);
    fails_unchanged(
        &img,
        &["set", "big", "--value-file", big.s(), "--owner", "1"],
        1,
    );

    // Store full.
    big.write(&vec![7u8; 4000]);
    let mut n = 0;
    loop {
        let name = format!("fill{n}");
        let r = tickv(&["--image", img.s(), "set", &name, "--value-file", big.s()]);
        if r.code != 0 {
            assert!(r.stderr.contains("store full"), "{}", r.stderr);
            break;
        }
        n += 1;
        assert!(n < 10, "the store never filled up");
    }
    let r = fails_unchanged(&img, &["set", "one-more", "--value-file", big.s()], 1);
    assert!(r.stderr.contains("store full"), "{}", r.stderr);
    let j = fails_unchanged(&img, &["--json", "set", "x", "--value-file", big.s()], 1).json();
    assert_eq!(j["error"]["kind"], "no_space");
    ok(&img, &["fsck"]);

    // An unformatted store: blank and foreign windows.
    let blank = Temp::new("blank.img");
    blank.write(&vec![0xFF; 4 * 4096]);
    let r = fails_unchanged(&blank, &["set", "a", "b"], 1);
    assert!(r.stderr.contains("tickv format"), "{}", r.stderr);
    fails_unchanged(&blank, &["list"], 1);
    blank.write(&vec![0; 4 * 4096]);
    fails_unchanged(&blank, &["gc"], 1);
    fails_unchanged(&blank, &["fsck"], 1);

    // A version-1 store: say so and suggest import-v1.
    let v1 = Temp::new("v1.img");
    v1.write(&v1_image());
    for args in [
        &["set", "a", "b"][..],
        &["get", "mykey"],
        &["list"],
        &["dump"],
        &["stat"],
        &["delete", "mykey"],
        &["gc"],
    ] {
        let r = fails_unchanged(&v1, args, 1);
        assert!(r.stderr.contains("version-1"), "{}", r.stderr);
        assert!(r.stderr.contains("import-v1"), "{}", r.stderr);
    }
    let j = fails_unchanged(&v1, &["--json", "list"], 1).json();
    assert_eq!(j["error"]["kind"], "v1_store");

    // --image is required.
    let r = tickv(&["list"]);
    assert_eq!(r.code, 2);
}

#[test]
fn dry_run_never_writes() {
    let img = small_store("dry.img");
    let before = img.bytes();
    let r = ok(&img, &["--dry-run", "set", "a", "b"]);
    assert!(r.stdout.contains("dry run"));
    assert_eq!(img.bytes(), before);
    let none = Temp::new("dry-create.img");
    ok(&none, &["--dry-run", "--create", "format"]);
    assert!(!none.path().exists());
}

#[test]
fn read_only_commands_never_write() {
    let img = small_store("ro.img");
    ok(&img, &["set", "a", "1"]);
    ok(&img, &["delete", "a"]);
    let before = img.bytes();
    for args in [&["list"][..], &["dump"], &["stat"], &["fsck"]] {
        ok(&img, args);
    }
    fails_unchanged(&img, &["get", "a"], 4);
    assert_eq!(img.bytes(), before);
}

#[test]
fn gc_reclaims_and_stat_counts() {
    let img = small_store("gc.img");
    let v = Temp::new("gc-value.bin");
    v.write(&[5u8; 1000]);
    for _ in 0..12 {
        ok(&img, &["set", "churn", "--value-file", v.s()]);
    }
    let j = ok(&img, &["--json", "stat"]).json();
    let dead = j["stats"]["dead_bytes"].as_u64().unwrap();
    assert!(dead > 0, "{j}");
    assert!(j["records"]["superseded"].as_u64().unwrap() > 0);
    let r = ok(&img, &["stat"]);
    assert!(r.stdout.contains("ERASES"), "{}", r.stdout);
    let j = ok(&img, &["--json", "gc", "--step"]).json();
    assert_eq!(j["step"], true);
    let j = ok(&img, &["--json", "gc"]).json();
    assert_eq!(j["stats"]["dead_bytes"], 0);
    let j = ok(&img, &["--json", "stat"]).json();
    assert_eq!(j["stats"]["dead_bytes"], 0);
    assert_eq!(j["stats"]["keys"], 1);
    // Erase counts went up somewhere.
    let erases: u64 = j["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["erase_count"].as_u64().unwrap_or(0))
        .sum();
    assert!(erases > 4, "{j}");
    ok(&img, &["fsck"]);
}

#[test]
fn secure_delete_leaves_no_copy() {
    let img = small_store("secure.img");
    ok(&img, &["set", "secret", "hunter2"]);
    ok(&img, &["set", "keep", "me"]);
    let r = ok(&img, &["delete", "--secure", "secret"]);
    assert!(r.stdout.contains("no byte"), "{}", r.stdout);
    let b = img.bytes();
    assert!(!b.windows(7).any(|w| w == b"hunter2"));
    let j = ok(&img, &["--json", "get", "keep"]).json();
    assert_eq!(j["value"], "me");
}

#[test]
fn dump_shows_every_record_with_its_place() {
    let img = small_store("dump.img");
    ok(&img, &["set", "mykey", "hello"]);
    ok(&img, &["delete", "mykey"]);
    ok(&img, &["set", "b", "x"]);
    // "hello" at DATA, then the tombstone, then "x".
    let tombstone = DATA + extent(5);
    let x = tombstone + extent(0);
    let end = x + extent(1);
    let r = ok(&img, &["dump"]);
    for s in [
        "deleted",
        "tombstone",
        "live",
        "0x219e0c9528eb4392",
        &format!("{DATA:#x}"),
        &format!("{tombstone:#x}"),
    ] {
        assert!(r.stdout.contains(s), "{s} missing:\n{}", r.stdout);
    }
    // Each record row: REGION OFFSET EXTENT KIND KEY LEN STATUS ...
    let rows: Vec<Vec<&str>> = r
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 7 && w[0] == "0" && w[2].parse::<u32>().is_ok())
        .collect();
    let rows: Vec<(String, &str, &str, &str)> = rows
        .iter()
        .map(|w| (w[1].to_string(), w[2], w[3], w[6]))
        .collect();
    let (e5, e0, e1) = (
        extent(5).to_string(),
        extent(0).to_string(),
        extent(1).to_string(),
    );
    assert_eq!(
        rows,
        [
            (format!("{DATA:#x}"), &*e5, "value", "deleted"),
            (format!("{tombstone:#x}"), &*e0, "tombstone", "tombstone"),
            (format!("{x:#x}"), &*e1, "value", "live"),
        ],
        "{}",
        r.stdout
    );
    let j = ok(&img, &["--json", "dump", "--values"]).json();
    let recs = j["records"].as_array().unwrap();
    let got: Vec<(u64, &str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r["offset"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (DATA as u64, "value", "deleted"),
            (tombstone as u64, "tombstone", "tombstone"),
            (x as u64, "value", "live")
        ]
    );
    // Values are read through the engine's get: only the current value of a
    // key can be shown; older copies are listed without their bytes.
    assert!(recs[0].get("value").is_none(), "{}", recs[0]);
    assert_eq!(recs[2]["value"], "x");
    assert_eq!(recs[2]["encoding"], "utf8");
    assert_eq!(recs[0]["address"], DATA);
    assert_eq!(j["regions"][0]["role"], "head");
    assert_eq!(j["regions"][0]["end"], end);
    assert_eq!(j["regions"][0]["stray_bytes_at"], Value::Null);
    assert_eq!(j["regions"][1]["role"], "free");
}

#[test]
fn fsck_reports_damaged_headers_and_non_erased_bytes() {
    let img = small_store("fsck-headers.img");
    ok(&img, &["set", "mykey", "hello"]); // 0xc..0x24
    ok(&img, &["set", "b", "x"]); // 0x24..0x38
    let b_at = DATA + extent(5);
    let end = b_at + extent(1);
    let mut b = img.bytes();
    // Break the header of "mykey" (its meta no longer matches the inverted
    // copy): the engine skips 16 + 5 + 3 bytes until the next header
    // decodes; the tool shows them as one stretch.
    b[DATA + 1] ^= 0xFF;
    // Non-erased bytes after the records of the head (region 0), in a free
    // region with a valid header (region 2), and in a free region whose
    // header is broken (region 3: erased before use, a warning only).
    b[0x200] = 0;
    b[2 * 4096 + 0x300] = 0;
    b[3 * 4096] ^= 0xFF;
    b[3 * 4096 + 0x400] = 0;
    img.write(&b);

    let r = fails_unchanged(&img, &["fsck"], 3);
    assert!(
        r.stdout.contains(&format!(
            "region 0 offset {DATA:#x}: {} bytes do not decode",
            extent(5)
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("program them twice"), "{}", r.stdout);
    assert!(r.stdout.contains("readable: 1 live key "), "{}", r.stdout);
    let j = tickv(&["--image", img.s(), "--json", "fsck"]).json();
    assert_eq!(j["clean"], false);
    let damage = j["damage"].as_array().unwrap();
    let at: Vec<(u64, u64)> = damage
        .iter()
        .map(|d| (d["region"].as_u64().unwrap(), d["offset"].as_u64().unwrap()))
        .collect();
    assert!(at.contains(&(0, DATA as u64)), "{j}");
    assert!(at.contains(&(0, 0x200)), "{j}");
    assert!(at.contains(&(2, 0x300)), "{j}");
    assert_eq!(damage.len(), 3, "{j}");
    let warnings = j["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["region"] == 3 && w["offset"] == 0x400),
        "{j}"
    );

    let j = ok(&img, &["--json", "dump"]).json();
    let recs = j["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2, "{j}");
    assert_eq!(recs[0]["kind"], "undecodable");
    assert_eq!(recs[0]["status"], "damaged");
    assert_eq!(recs[0]["offset"], DATA);
    assert_eq!(recs[0]["extent"], extent(5));
    assert_eq!(recs[1]["offset"], b_at);
    assert_eq!(recs[1]["status"], "live");
    assert_eq!(j["regions"][0]["end"], end);
    assert_eq!(j["regions"][0]["stray_bytes_at"], 0x200);
    assert_eq!(j["regions"][2]["stray_bytes_at"], 0x300);
    let j = ok(&img, &["--json", "stat"]).json();
    assert_eq!(j["records"]["undecodable"], 1);
    assert_eq!(j["records"]["live"], 1);
    fails_unchanged(&img, &["get", "mykey"], 4);
}

#[test]
fn fsck_reports_a_deleted_value_coming_back() {
    let img = small_store("fsck-tombstone.img");
    ok(&img, &["set", "k", "gone"]); // 0xc..0x20
    ok(&img, &["set", "other", "x"]); // 0x20..0x34
    ok(&img, &["delete", "k"]); // tombstone at 0x34
    let tombstone = DATA + extent(4) + extent(1);
    let mut b = img.bytes();
    b[tombstone + CRC_AT] ^= 1; // its CRC
    img.write(&b);
    let r = fails_unchanged(&img, &["fsck"], 3);
    assert!(
        r.stdout
            .contains(&format!("region 0 offset {tombstone:#x}: tombstone")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("readable again"), "{}", r.stdout);
    let j = ok(&img, &["--json", "get", "k"]).json();
    assert_eq!(j["value"], "gone");
    let j = ok(&img, &["--json", "dump"]).json();
    assert_eq!(j["records"][0]["status"], "live");
    assert_eq!(j["records"][2]["offset"], tombstone);
    assert_eq!(j["records"][2]["status"], "corrupt");
}

#[test]
fn import_v1_into_a_fresh_store() {
    let src = Temp::new("v1-src.img");
    src.write(&v1_image());
    let img = small_store("import.img");
    let j = ok(&img, &["--json", "import-v1", src.s()]).json();
    assert_eq!(j["imported"], 1);
    assert_eq!(j["deleted"], 0);
    assert_eq!(j["corrupt"], 0);
    assert_eq!(j["duplicates"], 0);
    assert_eq!(j["damaged_regions"], 0);
    assert_eq!(j["source"]["main_key"], true);
    assert_eq!(j["source"]["regions"], 3);
    let j = ok(&img, &["--json", "get", "mykey"]).json();
    assert_eq!(j["owner"], 0x1234);
    assert_eq!(j["value"], "hello");
    let j = ok(&img, &["--json", "list"]).json();
    assert_eq!(
        j["keys"].as_array().unwrap().len(),
        1,
        "the main key is not imported"
    );
    // The source is only read.
    assert_eq!(src.bytes(), v1_image());
    // A version-2 image is not a version-1 source.
    let r = fails_unchanged(&img, &["import-v1", img.s()], 1);
    assert!(
        r.stderr.contains("no TicKV version-1 objects"),
        "{}",
        r.stderr
    );
}

#[test]
fn import_v1_converts_an_image_in_place() {
    let img = Temp::new("inplace.img");
    img.write(&v1_image());
    // Without --format the version-1 target is refused, unchanged.
    let r = fails_unchanged(&img, &["import-v1", img.s()], 1);
    assert!(r.stderr.contains("--format"), "{}", r.stderr);
    let r = ok(&img, &["import-v1", "--format", img.s()]);
    assert!(r.stdout.contains("imported    1 keys"), "{}", r.stdout);
    let j = ok(&img, &["--json", "get", "mykey"]).json();
    assert_eq!(j["owner"], 0x1234);
    assert_eq!(j["value"], "hello");
    ok(&img, &["fsck"]);
}

#[test]
fn import_v1_reports_damage_and_deleted_objects() {
    let src = Temp::new("v1-damaged.img");
    let mut b = v1_image();
    // A deleted copy of another key after "mykey" in region 0 (VALID cleared).
    let other: [u8; 15] = {
        let mut o = [0xFFu8; 15];
        o[0] = 1;
        o[1] = 0x00;
        o[2] = 0x0f;
        o[3..11].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        o[11..].copy_from_slice(&[0; 4]);
        o
    };
    b[29..44].copy_from_slice(&other);
    // Region 2 starts with garbage.
    b[2 * 4096] = 0x42;
    src.write(&b);
    let img = small_store("import-damaged.img");
    let j = ok(&img, &["--json", "import-v1", src.s()]).json();
    assert_eq!(j["imported"], 1);
    assert_eq!(j["deleted"], 1);
    assert_eq!(j["damaged_regions"], 1);
    assert_eq!(j["damage"][0]["region"], 2);
}

#[test]
fn import_v1_errors_leave_the_image_unchanged() {
    let src = Temp::new("v1-err.img");
    src.write(&v1_image());
    let blank = Temp::new("blank-target.img");
    blank.write(&vec![0xFF; 4 * 4096]);
    let r = fails_unchanged(&blank, &["import-v1", src.s()], 1);
    assert!(r.stderr.contains("--format"), "{}", r.stderr);
    let img = small_store("import-err.img");
    fails_unchanged(&img, &["import-v1", "/nonexistent/tickv-v1.img"], 1);
    fails_unchanged(&img, &["import-v1", src.s(), "--v1-regions", "9"], 1);
}
