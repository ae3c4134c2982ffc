//! The userland app slot table: where each app lives in flash and RAM.
//!
//! Our apps are position-dependent: each one is linked for a fixed flash
//! address (its TBF start; the binary follows the protected region) and a
//! fixed RAM address, and elf2tab records both in the TBF's fixed-addresses
//! TLV. The kernel honours the RAM address exactly and refuses a TBF that
//! does not sit where it was linked. One table, `userland/layout.toml`,
//! assigns every app its slots; everything else is derived from it:
//!
//! * the apps' build scripts call [`build_script`], which writes the app's
//!   linker script (its `MEMORY` regions and sizes, then `INCLUDE
//!   tockrt.ld`);
//! * `userland/build.sh` asks `app-image` for each app's elf2tab arguments
//!   ([`AppSlot::elf2tab_args`]);
//! * `app-image` checks each TBF against its slot and lays the TBFs out
//!   in flash order.
//!
//! The file is TOML. The board's memory map comes from the board's own
//! description ([`board::BoardFile`], `boards/<board>/board.toml`), which
//! the table names; the table adds the kernel version the apps require:
//!
//! ```toml
//! [board]
//! description = "../boards/qemu_rv32_virt/board.toml"   # relative to this file
//! kernel_major = 2
//! kernel_minor = 0
//!
//! [[app]]                        # one per app, in flash order
//! name = "hello"
//! flash = 0x8010_0000            # TBF start
//! flash_size = 0x1_0000
//! ram = 0x8030_0000
//! ram_size = 0x1_0000
//! stack = 2048
//! app_heap = 0
//! kernel_heap = 1024
//! # elf2tab_extra = ["--write_id", "17"]   (optional)
//! # sign_with = "../tools/keys/k.p8"      (optional: elf2tab signs and
//! #                                         hashes the TBF with this key)
//!
//! [images]                       # optional: named sets of apps
//! apps = ["hello"]
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod board;

pub use board::BoardFile;

/// The most RAM the kernel adds to an app's `minimum_ram_size`: the grant
/// table at 4 bytes for each of at most 32 grants, plus the 10-entry upcall
/// queue at 28 bytes an entry (see `doc/kernel.md`, "Process memory"; the
/// `app-image` tests check this against the kernel crate).
pub const KERNEL_OVERHEAD_MAX: u32 = 32 * 4 + 10 * 28;

/// RAM slots start on 4 KiB boundaries: LLVM's linker can emit a segment
/// that covers the ELF headers when the RAM region is not so aligned, and
/// elf2tab would then pack garbage into the TBF.
pub const RAM_ALIGN: u32 = 0x1000;

/// The board part of the table: the areas the kernel uses for apps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    /// Board name (informational).
    pub name: String,
    /// Architecture name elf2tab uses for the TBF inside a TAB
    /// (`rv32imac.tbf`).
    pub arch: String,
    /// First address of the app flash area.
    pub flash_start: u32,
    /// End (exclusive) of the app flash area.
    pub flash_end: u32,
    /// First address of the process RAM window.
    pub ram_start: u32,
    /// End (exclusive) of the process RAM window.
    pub ram_end: u32,
    /// Bytes from a TBF's start to its binary: the TBF header plus the
    /// protected trailer. The same for every app.
    pub protected_size: u32,
    /// Kernel major version the apps require.
    pub kernel_major: u16,
    /// Kernel minor version the apps require.
    pub kernel_minor: u16,
}

/// One app's slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSlot {
    /// Package name: the cargo package, the TBF package name and the file
    /// names under `target/userland/`.
    pub name: String,
    /// Address of the TBF start.
    pub flash: u32,
    /// Flash bytes reserved for the TBF.
    pub flash_size: u32,
    /// First RAM address of the process.
    pub ram: u32,
    /// RAM bytes reserved for the process (kernel-owned part included).
    pub ram_size: u32,
    /// Stack size in bytes (the stack sits at the bottom of RAM).
    pub stack: u32,
    /// App heap bytes (room above `.bss` the app may `sbrk` into).
    pub app_heap: u32,
    /// Kernel heap bytes: the grant budget.
    pub kernel_heap: u32,
    /// Extra elf2tab arguments (storage permissions, ShortId, ...).
    pub elf2tab_extra: Vec<String>,
    /// The ECDSA P-256 key (PKCS#8 DER) elf2tab signs the TBF with, if
    /// any (written relative to the table's folder, held absolute).
    pub sign_with: Option<std::path::PathBuf>,
}

impl AppSlot {
    /// Address where the app binary (and its runtime header) starts.
    pub fn binary_start(&self, board: &Board) -> u32 {
        self.flash + board.protected_size
    }

    /// End (exclusive) of the flash slot.
    pub fn flash_end(&self) -> u32 {
        self.flash + self.flash_size
    }

    /// End (exclusive) of the RAM slot.
    pub fn ram_end(&self) -> u32 {
        self.ram + self.ram_size
    }

    /// The app's linker script: its memory regions and sizes, then the
    /// runtime's common script `tockrt.ld` (found on the library search
    /// path).
    pub fn linker_script(&self, board: &Board) -> String {
        let binary = self.binary_start(board);
        format!(
            "/* Generated by app-layout from userland/layout.toml for app `{name}`.\n \
             * Edit the table, not this file. */\n\
             MEMORY {{\n    \
             /* The binary: the TBF start plus the protected region, which elf2tab\n     \
             * fills with the TBF header. */\n    \
             FLASH (rx) : ORIGIN = {binary:#010x}, LENGTH = {flash_len:#x}\n    \
             RAM (rw) : ORIGIN = {ram:#010x}, LENGTH = {ram_len:#x}\n\
             }}\n\
             /* elf2tab reads this symbol and makes the protected region this big. */\n\
             tbf_protected_region_size = {protected:#x};\n\
             TOCKRT_TBF_START = {tbf:#010x};\n\
             TOCKRT_STACK_SIZE = {stack:#x};\n\
             INCLUDE tockrt.ld\n",
            name = self.name,
            flash_len = self.flash_size - board.protected_size,
            ram = self.ram,
            ram_len = self.ram_size,
            protected = board.protected_size,
            tbf = self.flash,
            stack = self.stack,
        )
    }

    /// The name of this app's TBF inside a TAB, without `.tbf`:
    /// `<arch>.<TBF start>.<RAM start>` (e.g.
    /// `cortex-m4.0x00040000.0x20010000`), given to elf2tab after the
    /// ELF's name (`app.elf,NAME`). A TAB then holds one TBF per slot
    /// table, even two for one architecture; tockloader matches the part
    /// before the first dot with the board's architecture and picks among
    /// fixed-address TBFs by their RAM address.
    pub fn tab_name(&self, board: &Board) -> String {
        format!("{}.{:#010x}.{:#010x}", board.arch, self.flash, self.ram)
    }

    /// elf2tab's arguments for this app, without the input and output
    /// files: name, sizes, kernel version, deterministic output, then
    /// `elf2tab_extra`. (The protected region size comes from the ELF's
    /// `tbf_protected_region_size` symbol.)
    pub fn elf2tab_args(&self, board: &Board) -> Vec<String> {
        let mut args: Vec<String> = [
            "--deterministic".to_string(),
            "-n".into(),
            self.name.clone(),
            "--stack".into(),
            self.stack.to_string(),
            "--app-heap".into(),
            self.app_heap.to_string(),
            "--kernel-heap".into(),
            self.kernel_heap.to_string(),
            "--kernel-major".into(),
            board.kernel_major.to_string(),
            "--kernel-minor".into(),
            board.kernel_minor.to_string(),
        ]
        .into();
        args.extend(self.elf2tab_extra.iter().cloned());
        if let Some(key) = &self.sign_with {
            // Room for the 64-byte signature and the 32-byte hash, each
            // with its 8 bytes of footer header.
            args.extend(
                [
                    "--minimum-footer-size",
                    "256",
                    "--sha256",
                    "--ecdsa-nist-p256-private",
                ]
                .map(String::from),
            );
            args.push(key.display().to_string());
        }
        args
    }
}

/// A named set of apps to put in one flash image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Image name (`apps` gives `apps.bin`).
    pub name: String,
    /// The apps, by name.
    pub apps: Vec<String>,
}

/// The whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The board's areas.
    pub board: Board,
    /// The board description they come from.
    pub board_file: PathBuf,
    /// The app slots, in flash order.
    pub apps: Vec<AppSlot>,
    /// Named app sets.
    pub images: Vec<Image>,
}

/// Why a slot table is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LayoutError {}

fn error<T>(message: impl Into<String>) -> Result<T, LayoutError> {
    Err(LayoutError(message.into()))
}

/// `[board]` of the table: which board description, and the kernel
/// version the apps require.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    description: PathBuf,
    kernel_major: u16,
    kernel_minor: u16,
}

/// One `[[app]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: String,
    flash: u32,
    flash_size: u32,
    ram: u32,
    ram_size: u32,
    stack: u32,
    app_heap: u32,
    kernel_heap: u32,
    #[serde(default)]
    elf2tab_extra: Vec<String>,
    #[serde(default)]
    sign_with: Option<String>,
}

/// The table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    board: RawBoard,
    #[serde(default)]
    app: Vec<RawApp>,
    #[serde(default)]
    images: toml::Table,
}

impl Layout {
    /// Parses and checks a slot table; `[board].description` is read
    /// relative to `base` (the folder of the table).
    pub fn parse(text: &str, base: &Path) -> Result<Layout, LayoutError> {
        let raw: RawLayout = toml::from_str(text).map_err(|e| LayoutError(e.to_string()))?;
        let description = base.join(&raw.board.description);
        let file = BoardFile::load(&description)?;
        let end = |a: board::Area| a.end().unwrap_or(u32::MAX);
        let board = Board {
            name: file.name,
            arch: file.arch,
            flash_start: file.app_flash.start,
            flash_end: end(file.app_flash),
            ram_start: file.app_ram.start,
            ram_end: end(file.app_ram),
            protected_size: file.protected_size,
            kernel_major: raw.board.kernel_major,
            kernel_minor: raw.board.kernel_minor,
        };
        let apps = raw
            .app
            .into_iter()
            .map(|a| AppSlot {
                name: a.name,
                flash: a.flash,
                flash_size: a.flash_size,
                ram: a.ram,
                ram_size: a.ram_size,
                stack: a.stack,
                app_heap: a.app_heap,
                kernel_heap: a.kernel_heap,
                elf2tab_extra: a.elf2tab_extra,
                sign_with: a.sign_with.map(|k| base.join(k)),
            })
            .collect();
        let mut images = Vec::new();
        for (name, value) in raw.images {
            let apps = value
                .as_array()
                .and_then(|v| {
                    v.iter()
                        .map(|x| x.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    LayoutError(format!("[images]: `{name}` must be an array of app names"))
                })?;
            images.push(Image { name, apps });
        }
        let layout = Layout {
            board,
            board_file: description,
            apps,
            images,
        };
        layout.check()?;
        Ok(layout)
    }

    /// Reads and parses the table at `path`.
    pub fn load(path: &Path) -> Result<Layout, LayoutError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LayoutError(format!("cannot read {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Layout::parse(&text, base).map_err(|e| LayoutError(format!("{}: {e}", path.display())))
    }

    /// The slot of app `name`.
    pub fn app(&self, name: &str) -> Option<&AppSlot> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The slot whose TBF starts at `flash`.
    pub fn app_at(&self, flash: u32) -> Option<&AppSlot> {
        self.apps.iter().find(|a| a.flash == flash)
    }

    /// The image called `name`.
    pub fn image(&self, name: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.name == name)
    }

    /// Every rule a usable table follows.
    fn check(&self) -> Result<(), LayoutError> {
        let b = &self.board;
        if b.flash_start >= b.flash_end || b.ram_start >= b.ram_end {
            return error("[board]: an area ends before it starts");
        }
        if b.protected_size < 16 || !b.protected_size.is_multiple_of(4) {
            return error(format!(
                "[board]: protected_size {:#x} must be a multiple of 4 and at least 16",
                b.protected_size
            ));
        }
        let mut previous: Option<&AppSlot> = None;
        for a in &self.apps {
            let what = format!("app `{}`", a.name);
            let valid_name = !a.name.is_empty()
                && a.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return error(format!("{what}: names use letters, digits, _ and -"));
            }
            if self.apps.iter().filter(|o| o.name == a.name).count() > 1 {
                return error(format!("{what} appears twice"));
            }
            if !a.flash.is_multiple_of(4) || !a.flash_size.is_multiple_of(4) {
                return error(format!("{what}: flash slot must be 4-byte aligned"));
            }
            if !a.ram.is_multiple_of(RAM_ALIGN) {
                return error(format!(
                    "{what}: RAM slot {:#010x} must start on a {RAM_ALIGN:#x} boundary",
                    a.ram
                ));
            }
            if !a.ram_size.is_multiple_of(4) || !a.stack.is_multiple_of(16) {
                return error(format!(
                    "{what}: RAM size must be a multiple of 4 and the stack of 16"
                ));
            }
            let flash_end = u64::from(a.flash) + u64::from(a.flash_size);
            if a.flash < b.flash_start || flash_end > u64::from(b.flash_end) {
                return error(format!(
                    "{what}: flash slot {:#010x}..{flash_end:#010x} is outside the app flash area {:#010x}..{:#010x}",
                    a.flash, b.flash_start, b.flash_end
                ));
            }
            let ram_end = u64::from(a.ram) + u64::from(a.ram_size);
            if a.ram < b.ram_start || ram_end > u64::from(b.ram_end) {
                return error(format!(
                    "{what}: RAM slot {:#010x}..{ram_end:#010x} is outside the process RAM window {:#010x}..{:#010x}",
                    a.ram, b.ram_start, b.ram_end
                ));
            }
            if a.flash_size <= b.protected_size {
                return error(format!(
                    "{what}: flash slot smaller than the protected region"
                ));
            }
            let needed = u64::from(a.stack)
                + u64::from(a.app_heap)
                + u64::from(a.kernel_heap)
                + u64::from(KERNEL_OVERHEAD_MAX);
            if needed > u64::from(a.ram_size) {
                return error(format!(
                    "{what}: stack + app heap + kernel heap + kernel overhead = {needed} bytes, more than the RAM slot ({} bytes)",
                    a.ram_size
                ));
            }
            if let Some(p) = previous {
                // The kernel walks TBFs in flash order and hands out RAM in
                // that order: both must increase.
                if a.flash < p.flash_end() {
                    return error(format!(
                        "{what}: flash slot {:#010x} overlaps or precedes app `{}` (ends {:#010x}); slots must be in flash order",
                        a.flash,
                        p.name,
                        p.flash_end()
                    ));
                }
                if a.ram < p.ram_end() {
                    return error(format!(
                        "{what}: RAM slot {:#010x} overlaps or precedes app `{}` (ends {:#010x}); RAM slots must increase with flash slots",
                        a.ram,
                        p.name,
                        p.ram_end()
                    ));
                }
            }
            previous = Some(a);
        }
        for image in &self.images {
            if self.app(&image.name).is_some() {
                return error(format!(
                    "image `{}` has the name of an app (each app gets an image of that name)",
                    image.name
                ));
            }
            for name in &image.apps {
                if self.app(name).is_none() {
                    return error(format!(
                        "image `{}` names app `{name}`, which has no slot",
                        image.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The whole build script of a userland app (`build.rs`: `fn main() {
/// app_layout::build_script() }`).
///
/// Finds the slot of the package being built in `userland/layout.toml`
/// (`$TOCK_LAYOUT` overrides the path), writes its linker script to
/// `$OUT_DIR/<name>.ld` and tells cargo to link with it (the runtime's
/// `tockrt.ld` is found in `userland/tockrt`). Panics with a clear message
/// if the table is unusable or has no slot for the app: a build script
/// has no better way to fail.
pub fn build_script() {
    let env =
        |key: &str| std::env::var(key).unwrap_or_else(|_| panic!("app-layout: ${key} is not set"));
    let name = env("CARGO_PKG_NAME");
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env("OUT_DIR"));
    // Apps live in userland/apps/<name>.
    let userland = manifest.join("../..");
    let table = match std::env::var_os("TOCK_LAYOUT") {
        Some(p) => PathBuf::from(p),
        None => userland.join("layout.toml"),
    };
    let runtime = userland.join("tockrt");
    println!("cargo:rerun-if-env-changed=TOCK_LAYOUT");
    println!("cargo:rerun-if-changed={}", table.display());
    println!(
        "cargo:rerun-if-changed={}",
        runtime.join("tockrt.ld").display()
    );
    let layout = Layout::load(&table).unwrap_or_else(|e| panic!("app-layout: {e}"));
    println!("cargo:rerun-if-changed={}", layout.board_file.display());
    let slot = layout.app(&name).unwrap_or_else(|| {
        panic!(
            "app-layout: {} has no [[app]] slot named `{name}`",
            table.display()
        )
    });
    let script = out.join(format!("{name}.ld"));
    std::fs::write(&script, slot.linker_script(&layout.board))
        .unwrap_or_else(|e| panic!("app-layout: cannot write {}: {e}", script.display()));
    println!("cargo:rustc-link-search={}", runtime.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    // What apps may know of their board (`tockrt::board_u32!`): an
    // address inside the kernel (never the process's), the alarm's clock
    // and whether user mode may read the counters.
    let file = BoardFile::load(&layout.board_file).unwrap_or_else(|e| panic!("app-layout: {e}"));
    println!(
        "cargo:rustc-env=TOCK_KERNEL_RAM={:#x}",
        file.kernel.start.saturating_add(KERNEL_PROBE_OFFSET)
    );
    println!("cargo:rustc-env=TOCK_ALARM_HZ={}", file.alarm_hz);
    println!(
        "cargo:rustc-env=TOCK_USER_COUNTERS={}",
        u32::from(file.user_counters)
    );
}

/// The folder under `target/userland/` with a board's apps: the default
/// board's at the top (as before other boards existed), every other
/// board's in a folder named after it.
pub fn out_dir(board: &str) -> String {
    if board == DEFAULT_BOARD {
        String::new()
    } else {
        format!("{board}/")
    }
}

/// The board tools use when none is named.
pub const DEFAULT_BOARD: &str = "qemu_rv32_virt";

/// Apps probe kernel memory this far into the kernel image (not at its
/// start: on a kernel at address 0 that would be the null pointer, which
/// system calls treat specially).
pub const KERNEL_PROBE_OFFSET: u32 = 0x1000;

/// Where the third-party test material lives: `$TOCK_FIXTURES` if set,
/// else `../shared/fixtures` beside the repository `root`; `sub` is the
/// folder inside it. `Err` says why it is not usable: tests that need it
/// report themselves skipped (never passed).
pub fn fixtures_dir(root: &Path, sub: &str) -> Result<PathBuf, String> {
    let base = match std::env::var_os("TOCK_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("../shared/fixtures"),
    };
    let dir = base.join(sub);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "fixtures folder {} is absent (set TOCK_FIXTURES to the folder holding libtock-rs/ and libtock-c/)",
            dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's board, named as `userland/layout.toml` names it.
    const BOARD: &str = r#"
        [board]
        description = "../boards/qemu_rv32_virt/board.toml"
        kernel_major = 2
        kernel_minor = 0
    "#;

    /// The folder the tables are read from (board paths are relative to
    /// it).
    fn userland() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../userland")
    }

    fn app(name: &str, flash: u32, ram: u32) -> String {
        format!(
            "[[app]]\nname = \"{name}\"\nflash = {flash:#x}\nflash_size = 0x1_0000\n\
             ram = {ram:#x}\nram_size = 0x1_0000\nstack = 2048\napp_heap = 0\nkernel_heap = 1024\n"
        )
    }

    #[test]
    fn parses_a_table() {
        let text = format!(
            "{BOARD}{}{}[images]\nall = [\"a\", \"b\"]\n",
            app("a", 0x8010_0000, 0x8030_0000),
            app("b", 0x8011_0000, 0x8031_0000)
        );
        let l = Layout::parse(&text, &userland()).unwrap();
        assert_eq!(l.apps.len(), 2);
        let a = l.app("a").unwrap();
        assert_eq!(a.binary_start(&l.board), 0x8010_0080);
        assert_eq!(l.app_at(0x8011_0000).unwrap().name, "b");
        assert_eq!(l.image("all").unwrap().apps, ["a", "b"]);
        let script = a.linker_script(&l.board);
        assert!(
            script.contains("ORIGIN = 0x80100080, LENGTH = 0xff80"),
            "{script}"
        );
        assert!(
            script.contains("ORIGIN = 0x80300000, LENGTH = 0x10000"),
            "{script}"
        );
        assert!(
            script.contains("tbf_protected_region_size = 0x80;"),
            "{script}"
        );
        let args = a.elf2tab_args(&l.board);
        assert!(args.windows(2).any(|w| w == ["--kernel-major", "2"]));
        assert!(args.windows(2).any(|w| w == ["-n", "a"]));
    }

    #[test]
    fn the_repository_table_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../userland/layout.toml");
        let l = Layout::load(&path).unwrap();
        let first = &l.apps[0];
        // The first slot is exactly libtock-rs's qemu_rv32_virt layout.
        assert_eq!((first.flash, first.ram), (0x8010_0000, 0x8030_0000));
        assert_eq!(l.board.protected_size, 0x80);
        assert!(l.image("apps").is_some());
    }

    #[test]
    fn refuses_bad_tables() {
        let cases = [
            (
                format!(
                    "{BOARD}{}{}",
                    app("a", 0x8010_0000, 0x8030_0000),
                    app("b", 0x8010_8000, 0x8031_0000)
                ),
                "overlaps",
            ),
            (
                format!(
                    "{BOARD}{}{}",
                    app("a", 0x8011_0000, 0x8031_0000),
                    app("b", 0x8010_0000, 0x8030_0000)
                ),
                "flash order",
            ),
            (
                format!(
                    "{BOARD}{}{}",
                    app("a", 0x8010_0000, 0x8031_0000),
                    app("b", 0x8011_0000, 0x8030_0000)
                ),
                "RAM slots must increase",
            ),
            (
                format!("{BOARD}{}", app("a", 0x8000_0000, 0x8030_0000)),
                "outside the app flash area",
            ),
            (
                format!("{BOARD}{}", app("a", 0x8010_0000, 0x8060_0000)),
                "outside the process RAM",
            ),
            (
                format!("{BOARD}{}", app("a", 0x8010_0000, 0x8030_0100)),
                "boundary",
            ),
            (
                format!(
                    "{BOARD}{}{}",
                    app("a", 0x8010_0000, 0x8030_0000),
                    app("a", 0x8011_0000, 0x8031_0000)
                ),
                "twice",
            ),
            (
                format!(
                    "{BOARD}{}[images]\nx = [\"nope\"]\n",
                    app("a", 0x8010_0000, 0x8030_0000)
                ),
                "no slot",
            ),
            (
                format!("{BOARD}{}stak = 1\n", app("a", 0x8010_0000, 0x8030_0000)),
                "unknown field `stak`",
            ),
            (app("a", 0x8010_0000, 0x8030_0000), "missing field `board`"),
            (
                format!(
                    "{BOARD}{}[images]\na = [\"a\"]\n",
                    app("a", 0x8010_0000, 0x8030_0000)
                ),
                "name of an app",
            ),
            (
                format!("{BOARD}[[app]]\nname = \"a\"\n"),
                "missing field `flash`",
            ),
            (format!("{BOARD}[boards]\n"), "unknown field `boards`"),
            (
                BOARD.replace("qemu_rv32_virt/board.toml", "nowhere/board.toml"),
                "cannot read",
            ),
        ];
        for (text, want) in cases {
            let e = Layout::parse(&text, &userland()).unwrap_err();
            assert!(e.0.contains(want), "want {want:?}, got {e}");
        }
    }

    #[test]
    fn refuses_a_slot_too_small_for_its_sizes() {
        let text = format!("{BOARD}{}", app("a", 0x8010_0000, 0x8030_0000))
            .replace("kernel_heap = 1024", "kernel_heap = 0xFE00");
        let e = Layout::parse(&text, &userland()).unwrap_err();
        assert!(e.0.contains("more than the RAM slot"), "{e}");
    }
}
