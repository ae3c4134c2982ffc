//! The real userland TBFs: builds the userland workspace (release, as
//! `userland/build.sh` does), packs each app with elf2tab using the slot
//! table's flags, and checks every TBF with the kernel's parser: entry
//! point, binary start = TBF start + 0x80, fixed addresses equal to the
//! slot, kernel version 2.0, the runtime header, the RAM it asks for. Then
//! packs the images and compares one with what tockloader makes.
//!
//! Needs the riscv32imac target, elf2tab and tockloader (`make setup`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use app_image::{pack, tbf_from_tab, Options};
use app_layout::Layout;
use kernel::tbf::{KernelVersion, TbfHeader};
use kernel::KERNEL_VERSION;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn layout() -> Layout {
    Layout::load(&root().join("userland/layout.toml")).unwrap()
}

/// One app as built: the ELF's entry point, the TBF and the TAB.
struct Built {
    entry: u32,
    tbf: Vec<u8>,
    tab: Vec<u8>,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Builds the userland once and runs elf2tab on every app.
fn built() -> &'static Vec<(String, Built)> {
    static BUILT: OnceLock<Vec<(String, Built)>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = root();
        let target = root.join("target/userland/cargo");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root.join("userland"))
            .env("CARGO_TARGET_DIR", &target)
            .args(["build", "--release", "--quiet"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the userland build failed");
        let dir = std::env::temp_dir().join(format!("app-image-userland-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layout = layout();
        let mut out = Vec::new();
        for slot in &layout.apps {
            let elf = std::fs::read(
                target
                    .join("riscv32imac-unknown-none-elf/release")
                    .join(&slot.name),
            )
            .unwrap();
            // ELF32 header: e_entry at offset 24.
            let entry = le32(&elf, 24);
            let elf_path = dir.join(format!("{}.elf", slot.name));
            std::fs::write(&elf_path, &elf).unwrap();
            let run = Command::new("elf2tab")
                .current_dir(&dir)
                .args(slot.elf2tab_args(&layout.board))
                .arg("-o")
                .arg(format!("{}.tab", slot.name))
                .arg(format!("{}.elf,{}", slot.name, layout.board.arch))
                .output()
                .expect("elf2tab is installed (make setup)");
            assert!(
                run.status.success(),
                "elf2tab failed for {}: {}",
                slot.name,
                String::from_utf8_lossy(&run.stderr)
            );
            let tbf = std::fs::read(dir.join(format!("{}.tbf", slot.name))).unwrap();
            let tab = std::fs::read(dir.join(format!("{}.tab", slot.name))).unwrap();
            out.push((slot.name.clone(), Built { entry, tbf, tab }));
        }
        // Everything is in memory now.
        let _ = std::fs::remove_dir_all(&dir);
        out
    })
}

#[test]
fn every_tbf_matches_its_slot() {
    let layout = layout();
    let board = &layout.board;
    assert_eq!(built().len(), layout.apps.len());
    for (name, b) in built() {
        let slot = layout.app(name).unwrap();
        let h = TbfHeader::parse(&b.tbf).unwrap_or_else(|e| panic!("{name}: {e}"));
        let what = |s: &str| format!("{name}: {s}");
        assert_eq!(
            h.total_size() as usize,
            b.tbf.len(),
            "{}",
            what("total_size")
        );
        assert!(
            h.total_size() <= slot.flash_size,
            "{}",
            what("fits its flash slot")
        );
        assert!(h.enabled() && !h.is_padding(), "{}", what("enabled app"));
        assert_eq!(h.package_name(), Some(name.as_str()));
        assert_eq!(h.kernel_version(), Some(KernelVersion::new(2, 0)));
        assert!(h
            .kernel_version()
            .unwrap()
            .is_compatible_with(KERNEL_VERSION));
        // The binary starts exactly 0x80 after the TBF start.
        assert_eq!(h.protected_size(), 0x80, "{}", what("protected size"));
        assert_eq!(h.protected_size(), board.protected_size);
        let binary = slot.flash + 0x80;
        assert_eq!(h.app_binary_start(slot.flash), binary);
        assert_eq!(
            h.fixed_flash_address(),
            Some(binary),
            "{}",
            what("fixed flash")
        );
        assert_eq!(
            h.fixed_ram_address(),
            Some(slot.ram),
            "{}",
            what("fixed RAM")
        );
        // The entry point is the ELF's, right after the 32-byte runtime
        // header at the binary start.
        assert_eq!(
            h.entry_point(slot.flash),
            b.entry,
            "{}",
            what("entry point")
        );
        assert_eq!(b.entry, binary + 32, "{}", what("_start after the header"));
        assert_eq!(h.writeable_region_count(), 0);

        // The runtime header (libtock-rs layout) at the binary start.
        let rt: Vec<u32> = (0..8).map(|i| le32(&b.tbf, 0x80 + 4 * i)).collect();
        let [start, brk, stack_top, data_size, data_flash, data_ram, bss_size, bss_start] = rt[..]
        else {
            unreachable!()
        };
        assert_eq!(start, b.entry, "{}", what("header: _start"));
        assert_eq!(
            stack_top,
            slot.ram + slot.stack,
            "{}",
            what("header: stack top")
        );
        assert_eq!(
            data_ram,
            stack_top,
            "{}",
            what(".data right above the stack")
        );
        assert_eq!(
            bss_start,
            data_ram + data_size,
            "{}",
            what(".bss after .data")
        );
        assert_eq!(
            brk,
            bss_start + bss_size,
            "{}",
            what("initial break = end of .bss")
        );
        if data_size > 0 {
            let end = slot.flash + h.binary_end_offset();
            assert!(
                data_flash >= binary && data_flash + data_size <= end,
                "{}",
                what(".data's initial contents inside the binary")
            );
        }
        // RAM: everything up to the break, plus the app heap and the
        // kernel heap, is in minimum_ram_size, and it all fits the slot.
        let used = brk - slot.ram;
        assert!(
            h.minimum_ram_size() >= used + slot.app_heap + slot.kernel_heap,
            "{}",
            what("minimum_ram_size covers stack, .data, .bss and heaps")
        );
        assert!(h.minimum_ram_size() + app_layout::KERNEL_OVERHEAD_MAX <= slot.ram_size);

        // The TAB holds the same TBF.
        assert_eq!(
            tbf_from_tab(&b.tab, &board.arch).unwrap(),
            b.tbf,
            "{}",
            what("TAB content")
        );
    }
}

#[test]
fn every_image_of_the_table_packs() {
    let layout = layout();
    let find = |name: &str| {
        built()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.tbf.clone())
            .unwrap()
    };
    for image in &layout.images {
        let inputs = image.apps.iter().map(|a| (a.clone(), find(a))).collect();
        let packed = pack(&layout, inputs, Options::default())
            .unwrap_or_else(|e| panic!("image {}: {e}", image.name));
        let names: Vec<&str> = packed.apps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, image.apps, "image {}", image.name);
    }
    // All apps at once, too.
    let all = built()
        .iter()
        .map(|(n, b)| (n.clone(), b.tbf.clone()))
        .collect();
    pack(&layout, all, Options::default()).unwrap();
}

#[test]
fn tockloader_makes_the_same_image() {
    let layout = layout();
    let dir = std::env::temp_dir().join(format!("app-image-tockloader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The first two apps: the second needs padding before it.
    let chosen: Vec<&(String, Built)> = built().iter().take(2).collect();
    let mut tabs = Vec::new();
    for (name, b) in &chosen {
        let path = dir.join(format!("{name}.tab"));
        std::fs::write(&path, &b.tab).unwrap();
        tabs.push(path);
    }
    let flash = dir.join("flash.bin");
    let _ = std::fs::remove_file(&flash);
    let run = Command::new("tockloader")
        .args(["install", "--board", "qemu_rv32_virt", "--flash-file"])
        .arg(&flash)
        .args(&tabs)
        .output()
        .expect("tockloader is installed (make setup)");
    assert!(
        run.status.success(),
        "tockloader failed: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs = std::fs::read(&flash).unwrap();
    let inputs = chosen
        .iter()
        .map(|(n, b)| (n.clone(), b.tbf.clone()))
        .collect();
    let ours = pack(&layout, inputs, Options::default()).unwrap();
    // tockloader's flash file starts at 0x8000_0000.
    let offset = (layout.board.flash_start - 0x8000_0000) as usize;
    let apps_len = ours.bytes.len() - 4; // without our terminating word
    assert_eq!(
        &theirs[offset..offset + apps_len],
        &ours.bytes[..apps_len],
        "same TBFs and padding at the same places"
    );
    // Both end the list with something that is not a TBF version.
    assert_eq!(theirs.get(offset + apps_len), Some(&0));
    let _ = std::fs::remove_dir_all(&dir);
}
