//! `tickv app-id` and `set --owner-app`: the storage identity our boards
//! give an app, computed from its TBF or TAB with the kernel's policies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kernel::utilities::crc32_posix;
use kernel_mock::tbf::TbfBuilder;
use serde_json::Value;

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("tickv-app-id-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Dir(p)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tickv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickv"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tickv");
    (
        out.status.code().expect("exit status"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn app_id_json(path: &Path) -> Value {
    let (code, out, err) = tickv(&["--json", "app-id", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("JSON")
}

#[test]
fn identity_from_name_shortid_tlv_and_storage_tlv() {
    let d = Dir::new("ids");
    let plain = d.file("kv.tbf", &TbfBuilder::app("kv").build());
    let sid = d.file("sid.tbf", &TbfBuilder::app("sid").short_id(0x1234).build());
    let stor = d.file(
        "stor.tbf",
        &TbfBuilder::app("stor").storage(5, &[5, 6], &[5]).build(),
    );
    let reader = d.file(
        "reader.tbf",
        &TbfBuilder::app("reader").storage(0, &[5], &[]).build(),
    );

    let j = app_id_json(&plain);
    let crc = crc32_posix(b"kv");
    assert_eq!(crc, 0x9c8b_e941);
    assert_eq!(j["apps"][0]["name"], "kv");
    assert_eq!(j["apps"][0]["short_id"], crc);
    assert_eq!(j["apps"][0]["short_id_tlv"], false);
    assert_eq!(j["apps"][0]["storage"], "self-only 0x9c8be941");
    assert_eq!(j["apps"][0]["write_id"], crc);

    let j = app_id_json(&sid);
    assert_eq!(j["apps"][0]["short_id"], 0x1234);
    assert_eq!(j["apps"][0]["short_id_tlv"], true);
    assert_eq!(j["apps"][0]["write_id"], 0x1234);

    let j = app_id_json(&stor);
    assert_eq!(j["apps"][0]["short_id"], crc32_posix(b"stor"));
    assert_eq!(
        j["apps"][0]["storage"],
        "write 0x5 read [0x5 0x6] modify [0x5]"
    );
    assert_eq!(j["apps"][0]["write_id"], 5);

    let j = app_id_json(&reader);
    assert_eq!(j["apps"][0]["write_id"], Value::Null);

    // The text form says where each part came from and what to type.
    let (code, out, _) = tickv(&["app-id", plain.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("shortid       0x9c8be941 (CRC-32 of the package name)"),
        "{out}"
    );
    assert!(out.contains("--owner 0x9c8be941"), "{out}");
}

#[test]
fn every_tbf_of_a_tab() {
    let d = Dir::new("tab");
    d.file("rv32imac.tbf", &TbfBuilder::app("kv").build());
    d.file("cortex-m4.tbf", &TbfBuilder::app("kv").build());
    d.file("metadata.toml", b"tab-version = 1\nname = \"kv\"\n");
    let tab = d.0.join("kv.tab");
    let status = Command::new("tar")
        .current_dir(&d.0)
        .args([
            "-cf",
            "kv.tab",
            "metadata.toml",
            "rv32imac.tbf",
            "cortex-m4.tbf",
        ])
        .status()
        .expect("run tar");
    assert!(status.success());
    let j = app_id_json(&tab);
    let apps = j["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "{j}");
    assert!(apps[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("kv.tab:rv32imac.tbf"));
    assert!(apps[1]["source"]
        .as_str()
        .unwrap()
        .ends_with("kv.tab:cortex-m4.tbf"));
    assert!(apps.iter().all(|a| a["write_id"] == crc32_posix(b"kv")));

    // set --owner-app stores the value under that id.
    let img = d.0.join("store.img");
    let img = img.to_str().unwrap();
    let (code, out, err) = tickv(&["--image", img, "--create", "--regions", "4", "format"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = tickv(&[
        "--image",
        img,
        "set",
        "a",
        "provisioned",
        "--owner-app",
        tab.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = tickv(&["--image", img, "--json", "get", "a"]);
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["owner"], crc32_posix(b"kv"));
    assert_eq!(j["value"], "provisioned");
}

#[test]
fn refusals_are_clear_and_change_nothing() {
    let d = Dir::new("bad");
    let junk = d.file("junk.tbf", b"not a tbf at all, just text");
    let (code, _, err) = tickv(&["app-id", junk.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a valid TBF header"), "{err}");

    let reader = d.file(
        "reader.tbf",
        &TbfBuilder::app("reader").storage(0, &[5], &[]).build(),
    );
    let img = d.0.join("store.img");
    let img_s = img.to_str().unwrap();
    let (code, ..) = tickv(&["--image", img_s, "--create", "--regions", "4", "format"]);
    assert_eq!(code, 0);
    let before = std::fs::read(&img).unwrap();
    let (code, _, err) = tickv(&[
        "--image",
        img_s,
        "set",
        "a",
        "x",
        "--owner-app",
        reader.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("may not create items"), "{err}");
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "the image is unchanged"
    );

    // --owner and --owner-app exclude each other.
    let (code, ..) = tickv(&[
        "--image",
        img_s,
        "set",
        "a",
        "x",
        "--owner",
        "5",
        "--owner-app",
        reader.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    let (code, ..) = tickv(&["app-id"]);
    assert_eq!(code, 2, "no app given is a usage error");
}
