//! Differential tests against tockloader 1.19.0 (`tockloader tickv ...` on
//! a flash file): what tockloader writes, our version-1 reader must read
//! the same way tockloader's own `get` and `dump` do.
//!
//! tockloader must be on PATH (`make setup` installs it); without it these
//! tests fail rather than pass silently. Each invocation costs about half a
//! second, so the tests make few of them (at most 25 in all).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use common::*;
use tickv::crc::Crc32;
use tickv::v1::{self, Item, Object};
use tickv::Error;
use upstream_tickv::ErrorCode;

const WANT_VERSION: &str = "1.19.0";
const MAX_CALLS: usize = 25;
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Runs tockloader with stdin from /dev/null (so it never waits at a
/// prompt) and returns its standard output.
fn tockloader(args: &[&str]) -> String {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(
        n <= MAX_CALLS,
        "more than {MAX_CALLS} tockloader invocations"
    );
    let out = match Command::new("tockloader")
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "tockloader is not on PATH: run `make setup`, which installs \
             tockloader {WANT_VERSION} (pip install tockloader=={WANT_VERSION})"
        ),
        Err(e) => panic!("cannot run tockloader: {e}"),
    };
    assert!(
        out.status.success(),
        "tockloader {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Checks the installed version once.
fn check_version() {
    static VERSION: OnceLock<String> = OnceLock::new();
    let v = VERSION.get_or_init(|| tockloader(&["--version"]).trim().to_string());
    assert_eq!(
        v, WANT_VERSION,
        "tockloader {v} found, these tests expect {WANT_VERSION}: run `make setup`"
    );
}

/// A flash file of `regions` erased regions, and the tockloader options
/// that describe it.
struct FlashFile {
    path: PathBuf,
    region_size: usize,
    regions: usize,
}

impl FlashFile {
    fn new(name: &str, region_size: usize, regions: usize) -> FlashFile {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        // tockloader reads the database from the file: it must already have
        // the full size, erased.
        std::fs::write(&path, vec![0xFF; region_size * regions]).expect("write flash file");
        FlashFile {
            path,
            region_size,
            regions,
        }
    }

    fn tickv(&self, command: &[&str]) -> String {
        check_version();
        let rs = self.region_size.to_string();
        let n = self.regions.to_string();
        let mut args = vec!["tickv"];
        args.extend_from_slice(command);
        args.extend_from_slice(&[
            "--flash-file",
            self.path.to_str().unwrap(),
            "--start-address",
            "0",
            "--region-size",
            &rs,
            "--number-regions",
            &n,
        ]);
        tockloader(&args)
    }

    fn image(&self) -> Vec<u8> {
        let image = std::fs::read(&self.path).expect("read flash file");
        assert_eq!(image.len(), self.region_size * self.regions);
        image
    }

    fn value_file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path.with_file_name(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
}

/// One object as tockloader's `dump` or `get` prints it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Printed {
    region: usize,
    hash: u64,
    flags: u8,
    length: usize,
    valid: bool,
    checksum: u32,
    value: Vec<u8>,
    /// write_id and payload of the Tock object tockloader decoded, if any.
    tock: Option<(u32, Vec<u8>)>,
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line.find(&format!("{name}=")).expect(name) + name.len() + 1;
    line[start..].split_whitespace().next().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse_printed(out: &str) -> Vec<Printed> {
    let mut objs: Vec<Printed> = Vec::new();
    let mut region = 0;
    let mut tock_id = None;
    for line in out.lines() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if let Some(r) = t.strip_prefix("REGION ") {
            region = r.trim().parse().unwrap();
        } else if t.starts_with("TicKV Object ") {
            objs.push(Printed {
                region,
                hash: u64::from_str_radix(field(t, "hash").trim_start_matches("0x"), 16).unwrap(),
                flags: field(t, "flags").parse().unwrap(),
                length: field(t, "length").parse().unwrap(),
                valid: field(t, "valid") == "True",
                checksum: u32::from_str_radix(field(t, "checksum").trim_start_matches("0x"), 16)
                    .unwrap(),
                ..Printed::default()
            });
        } else if t.starts_with("TockTicKV Object ") {
            tock_id = Some(field(t, "write_id").parse::<u32>().unwrap());
        } else if let Some(v) = t.strip_prefix("Value:") {
            let o = objs.last_mut().expect("value after an object");
            let bytes = hex(v.trim());
            if indent == 2 {
                o.value = bytes;
            } else {
                o.tock = Some((tock_id.take().expect("tock header"), bytes));
            }
        }
    }
    objs
}

/// How tockloader would print one of our objects.
fn as_printed(image: &[u8], region_size: usize, o: &Object) -> Printed {
    let at = o.region * region_size + o.offset;
    let crc = &image[at + o.total_len - 4..at + o.total_len];
    Printed {
        region: o.region,
        hash: o.hash,
        flags: image[at + 1] >> 4,
        length: o.total_len,
        valid: o.valid,
        checksum: u32::from_le_bytes(crc.try_into().unwrap()),
        value: o.value.to_vec(),
        tock: o.owner.map(|w| (w.write_id, o.payload().to_vec())),
    }
}

fn our_dump(image: &[u8], region_size: usize) -> Vec<Printed> {
    v1::scan(image, region_size)
        .map(|i| match i {
            Item::Object(o) => as_printed(image, region_size, &o),
            Item::Damage(d) => panic!("damage in a tockloader image: {d:?}"),
        })
        .collect()
}

fn key(name: &str) -> u64 {
    tock_hash(name.as_bytes())
}

/// Appends, overwrites and invalidates on 3 regions of 4096 bytes; the
/// reader, tockloader's `get` and `dump`, upstream 2.0.0 and an import
/// into version 2 all agree.
#[test]
fn tockloader_image_3_x_4096() {
    const S: usize = 4096;
    let f = FlashFile::new("tockloader-a.bin", S, 3);
    f.tickv(&["reset"]);
    f.tickv(&["append", "mykey", "hello", "--write-id", "0x1234"]);

    // The spec's test vectors, byte for byte.
    let image = f.image();
    assert_eq!(
        image[..29],
        hex("01801d219e0c9528eb43920005000000341200006865\
             6c6c6f9151a9f6")[..]
    );
    assert_eq!(image[S..S + 15], hex("01800f7bc9f7ff4f76f244bb32741d")[..]);
    assert!(image[29..S].iter().all(|&b| b == 0xFF));

    let mut rng = Rng::new(2024);
    let blob = rng.bytes(1500);
    let blob_file = f.value_file("blob.bin", &blob);
    f.tickv(&["append", "temperature", "21.5", "--write-id", "7"]);
    f.tickv(&["append", "empty", ""]);
    f.tickv(&[
        "append",
        "blob",
        "--value-file",
        &blob_file,
        "--write-id",
        "0xFFFFFFFF",
    ]);
    f.tickv(&["append", "unicodé-κλειδί", "värde ✓", "--write-id", "42"]);
    f.tickv(&["invalidate", "temperature"]);
    // tockloader's append overwrites: it invalidates the old copy first.
    f.tickv(&["append", "mykey", "world", "--write-id", "0x1234"]);

    let image = f.image();
    let expect: BTreeMap<u64, Vec<u8>> = [
        (key("mykey"), owned(0x1234, b"world")),
        (key("empty"), owned(0, b"")),
        (key("blob"), owned(u32::MAX, &blob)),
        (key("unicodé-κλειδί"), owned(42, "värde ✓".as_bytes())),
    ]
    .into_iter()
    .collect();

    // Our reader.
    assert!(v1::is_v1_store(&image, S));
    let objs = objects(&image, S);
    assert_eq!(objs.len(), 7, "main key + 6 appends");
    for (&k, v) in &expect {
        let o = v1::find(&image, S, k).expect("live key");
        assert_eq!(o.value, &v[..]);
        assert_eq!(o.owner, v1::Owner::parse(v));
        assert!(o.crc_ok && o.valid);
    }
    assert_eq!(v1::find(&image, S, key("temperature")), None);
    let deleted: Vec<&Object> = objs.iter().filter(|o| !o.valid).collect();
    assert_eq!(deleted.len(), 2, "old mykey and temperature");
    for o in &deleted {
        assert!(o.crc_ok && !o.zeroised);
        // tockloader recomputes the CRC over the cleared header (upstream
        // keeps the CRC of the valid header).
        let at = o.region * S + o.offset;
        let stored = u32::from_le_bytes(
            image[at + o.total_len - 4..at + o.total_len]
                .try_into()
                .unwrap(),
        );
        assert_eq!(Crc32::of(&image[at..at + o.total_len - 4]), stored);
    }
    let old = deleted.iter().find(|o| o.hash == key("mykey")).unwrap();
    assert_eq!(old.payload(), b"hello");
    assert_eq!(old.owner.unwrap().write_id, 0x1234);

    // tockloader's own reads.
    let got = parse_printed(&f.tickv(&["get", "mykey"]));
    assert_eq!(got.len(), 1);
    let o = v1::find(&image, S, key("mykey")).unwrap();
    let mut want = as_printed(&image, S, &o);
    want.region = 0; // `get` prints no region
    assert_eq!(got[0], want);
    assert_eq!(got[0].tock, Some((0x1234, b"world".to_vec())));
    assert_eq!(f.tickv(&["get", "temperature"]).trim(), "None");
    assert_eq!(parse_printed(&f.tickv(&["dump"])), our_dump(&image, S));

    // Upstream 2.0.0 reads the same image the same way (every key here sits
    // in its home region) and finds it initialised.
    let mut up = Upstream::<S>::from_image(&image);
    assert!(up.with(|kv| kv.initialise(MAIN_KEY)).is_ok());
    assert_eq!(up.image(), image, "initialise changed nothing");
    for (&k, v) in &expect {
        assert_eq!(up.get(k).as_ref(), Ok(v));
    }
    assert_eq!(up.get(key("temperature")), Err(ErrorCode::KeyNotFound));

    // Import into version 2; the version-2 mount refuses the v1 image.
    let mut v2 = fresh_v2(4096, 4);
    let report = v1::import(&image, S, &mut v2).unwrap();
    assert_eq!((report.imported, report.deleted), (4, 2));
    assert_eq!(v2_contents(&mut v2), expect);
    let sim = flashsim::SimFlash::from_image(
        flashsim::Geometry {
            region_size: S,
            region_count: 3,
            program_unit: 4,
            erase_value: 0xFF,
        },
        image.clone(),
    )
    .unwrap();
    let mut mounted = v2_store(sim, 4);
    assert_eq!(mounted.mount(), Err(Error::V1Store));
    assert_eq!(mounted.into_parts().1 .0.image(), &image[..]);

    // tockloader's cleanup rewrites the live objects only.
    f.tickv(&["cleanup"]);
    let image = f.image();
    let objs = objects(&image, S);
    assert_eq!(objs.len(), 5);
    assert!(objs.iter().all(|o| o.valid && o.crc_ok));
    for (&k, v) in &expect {
        assert_eq!(v1::find(&image, S, k).unwrap().value, &v[..]);
    }
}

/// tockloader and upstream disagree on where a key goes when its home
/// region is full: tockloader tries home + 1, home + 2, ... wrapping
/// around, upstream home + 1, home − 1, home + 2, ... without wrapping. A
/// key that tockloader wraps from the last region to region 0 is then out
/// of upstream's reach (its lookup stops at the first empty region); our
/// reader searches every region and finds it.
#[test]
fn tockloader_wraps_where_upstream_does_not() {
    const S: usize = 1024;
    let f = FlashFile::new("tockloader-b.bin", S, 4);
    // Two names whose home is region 3, the last.
    let names: Vec<String> = (0..)
        .map(|i| format!("wrap-{i}"))
        .filter(|n| v1::home_region(key(n), 4) == 3)
        .take(2)
        .collect();
    let mut rng = Rng::new(7);
    let big = rng.bytes(900);
    let small = rng.bytes(200);
    let big_file = f.value_file("big.bin", &big);
    let small_file = f.value_file("small.bin", &small);
    f.tickv(&["reset"]);
    f.tickv(&[
        "append",
        &names[0],
        "--value-file",
        &big_file,
        "--write-id",
        "3",
    ]);
    f.tickv(&[
        "append",
        &names[1],
        "--value-file",
        &small_file,
        "--write-id",
        "4",
    ]);
    let image = f.image();

    let a = v1::find(&image, S, key(&names[0])).unwrap();
    assert_eq!((a.region, a.offset), (3, 0));
    assert_eq!(a.payload(), &big[..]);
    let b = v1::find(&image, S, key(&names[1])).unwrap();
    // Wrapped to region 0, after the main key.
    assert_eq!((b.region, b.offset), (0, 15));
    assert_eq!(b.payload(), &small[..]);
    assert_eq!(b.owner.unwrap().write_id, 4);

    // tockloader finds it...
    let got = parse_printed(&f.tickv(&["get", &names[1]]));
    assert_eq!(got[0].tock, Some((4, small.clone())));
    assert_eq!(parse_printed(&f.tickv(&["dump"])), our_dump(&image, S));
    // ...upstream does not: region 3 has room left, region 2 is empty.
    let mut up = Upstream::<S>::from_image(&image);
    assert_eq!(up.get(key(&names[1])), Err(ErrorCode::KeyNotFound));
    assert_eq!(up.get(key(&names[0])).unwrap(), owned(3, &big));
    // Not seeing it, upstream appends a second copy, in the home region,
    // which wins in probe order.
    up.append(key(&names[1]), b"second copy").unwrap();
    let image = up.image();
    let c = v1::find(&image, S, key(&names[1])).unwrap();
    assert_eq!((c.region, c.value), (3, &b"second copy"[..]));
    let mut v2 = fresh_v2(1024, 8);
    let report = v1::import(&image, S, &mut v2).unwrap();
    assert_eq!((report.imported, report.duplicates), (2, 1));
}
