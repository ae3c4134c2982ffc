//! File-backed simulator: window at an offset, write-through, creation rules.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use flashsim::{Geometry, SimError, SimFlash, Tear};

fn geo() -> Geometry {
    Geometry {
        region_size: 64,
        region_count: 4,
        program_unit: 4,
        erase_value: 0xFF,
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "flashsim-test-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn create_fills_with_erase_value_to_exact_length() {
    let dir = TempDir::new("create");
    let path = dir.path("flash.img");
    let f = SimFlash::open_file(&path, 1000, geo(), true).unwrap();
    assert!(f.is_file_backed());
    assert!(f.image().iter().all(|&b| b == 0xFF));
    assert_eq!(f.programmed_words(), 0);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 1000 + 256);
    assert!(bytes.iter().all(|&b| b == 0xFF));

    // Zero erase value takes the set_len path.
    let zpath = dir.path("zero.img");
    let g = Geometry {
        erase_value: 0,
        ..geo()
    };
    SimFlash::open_file(&zpath, 7, g, true).unwrap();
    let bytes = fs::read(&zpath).unwrap();
    assert_eq!(bytes.len(), 7 + 256);
    assert!(bytes.iter().all(|&b| b == 0));
}

#[test]
fn missing_file_without_create_is_an_error() {
    let dir = TempDir::new("missing");
    let path = dir.path("nope.img");
    let err = SimFlash::open_file(&path, 0, geo(), false).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(!path.exists());
}

#[test]
fn writes_go_through_at_the_offset() {
    let dir = TempDir::new("through");
    let path = dir.path("pflash.img");
    // A larger image with foreign data around the window.
    let offset = 512u64;
    let mut initial = vec![0x11u8; 2048];
    initial[512..768].fill(0xFF);
    fs::write(&path, &initial).unwrap();

    let mut f = SimFlash::open_file(&path, offset, geo(), true).unwrap();
    assert!(f.image().iter().all(|&b| b == 0xFF));
    f.program(8, &[1, 2, 3, 4]).unwrap();
    f.program(64, &[0x00; 8]).unwrap();
    let on_disk = fs::read(&path).unwrap();
    assert_eq!(on_disk.len(), 2048, "never resized");
    assert_eq!(on_disk[520..524], [1, 2, 3, 4]);
    assert_eq!(on_disk[576..584], [0; 8]);
    assert!(on_disk[..512].iter().all(|&b| b == 0x11));
    assert!(on_disk[768..].iter().all(|&b| b == 0x11));

    f.erase(1).unwrap();
    let on_disk = fs::read(&path).unwrap();
    assert!(on_disk[576..640].iter().all(|&b| b == 0xFF));

    // Torn operations are written through as far as they got.
    f.cut_power_after(0, Tear::Partial(2));
    assert_eq!(f.program(12, &[9, 9, 9, 9]), Err(SimError::PowerLoss));
    f.power_on();
    f.program(128, &[0; 64]).unwrap();
    f.cut_power_after(0, Tear::Partial(6));
    assert_eq!(f.erase(2), Err(SimError::PowerLoss));
    f.power_on();
    f.flip_bit(200, 0);
    let on_disk = fs::read(&path).unwrap();
    assert_eq!(on_disk[524..528], [9, 9, 0xFF, 0xFF]);
    assert_eq!(&on_disk[512..768], f.image());
    assert!(on_disk[640..646].iter().all(|&b| b == 0xFF));
    assert!(on_disk[646..704].iter().all(|&b| b == 0));
    drop(f);

    // Reopening sees the same contents and derives programmed words.
    let g = SimFlash::open_file(&path, offset, geo(), false).unwrap();
    assert_eq!(g.image(), &on_disk[512..768]);
    assert!(g.is_programmed(8) && g.is_programmed(12) && !g.is_programmed(16));
    assert!(!g.is_programmed(640 - 512) && g.is_programmed(644 - 512));
}

#[test]
fn image_mut_needs_write_back() {
    let dir = TempDir::new("writeback");
    let path = dir.path("flash.img");
    let mut f = SimFlash::open_file(&path, 0, geo(), true).unwrap();
    f.image_mut()[10] = 0x42;
    assert_eq!(fs::read(&path).unwrap()[10], 0xFF);
    f.write_back().unwrap();
    f.sync_file().unwrap();
    assert_eq!(fs::read(&path).unwrap()[10], 0x42);
}

#[test]
fn restore_writes_through() {
    let dir = TempDir::new("restore");
    let path = dir.path("flash.img");
    let mut f = SimFlash::open_file(&path, 4, geo(), true).unwrap();
    let snap = f.snapshot();
    f.program(0, &[0; 4]).unwrap();
    assert_eq!(fs::read(&path).unwrap()[4..8], [0; 4]);
    f.restore(&snap);
    assert_eq!(fs::read(&path).unwrap()[4..8], [0xFF; 4]);
}

#[test]
fn shorter_file_rejected_and_not_extended() {
    let dir = TempDir::new("short");
    let path = dir.path("short.img");
    fs::write(&path, vec![0xFFu8; 300]).unwrap();
    for create in [false, true] {
        let err = SimFlash::open_file(&path, 100, geo(), create).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let msg = err.to_string();
        assert!(msg.contains("300") && msg.contains("356"), "{msg}");
        assert_eq!(fs::metadata(&path).unwrap().len(), 300);
    }
    // Exactly long enough is fine.
    SimFlash::open_file(&path, 44, geo(), false).unwrap();
}

#[test]
fn invalid_geometry_is_an_io_error() {
    let dir = TempDir::new("badgeo");
    let path = dir.path("x.img");
    let g = Geometry {
        program_unit: 3,
        ..geo()
    };
    let err = SimFlash::open_file(&path, 0, g, true).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(!path.exists(), "nothing created for a bad geometry");
}
