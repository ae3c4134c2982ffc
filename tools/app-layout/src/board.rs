//! A board's description (`boards/<board>/board.toml`): its memory map and
//! its key-value store, the one place these numbers are written.

use std::path::Path;

use serde::Deserialize;

use crate::LayoutError;

/// An address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    /// First address.
    pub start: u32,
    /// Length in bytes.
    pub size: u32,
}

impl Area {
    /// End (exclusive), or `None` past the address space.
    pub fn end(&self) -> Option<u32> {
        self.start.checked_add(self.size)
    }
}

/// The board's key-value store in its flash image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// Size of the image file (QEMU requires exactly this for pflash).
    pub image_size: u64,
    /// Byte offset of the store in the image.
    pub offset: u64,
    /// Region (erase block) size in bytes.
    pub region_size: u32,
    /// Number of regions the store uses.
    pub regions: u32,
    /// Program unit in bytes.
    pub program_unit: u32,
}

/// The keys whose signatures the board's `secure-apps` kernel trusts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// ECDSA P-256 public keys, uncompressed SEC1 points in hex (130 hex
    /// digits, starting `04`).
    pub trusted_keys: Vec<String>,
}

impl Credentials {
    /// The keys as bytes, each checked to be 65 bytes starting with 4.
    pub fn keys(&self) -> Result<Vec<[u8; 65]>, LayoutError> {
        self.trusted_keys
            .iter()
            .map(|hex| {
                let bad = || {
                    LayoutError(format!(
                        "[credentials]: {hex:?} is not an uncompressed P-256 key (130 hex digits starting 04)"
                    ))
                };
                if hex.len() != 130 || !hex.is_ascii() {
                    return Err(bad());
                }
                let mut key = [0u8; 65];
                for (i, b) in key.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
                }
                if key[0] != 4 {
                    return Err(bad());
                }
                Ok(key)
            })
            .collect()
    }
}

/// How QEMU runs a board (`[qemu]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qemu {
    /// The QEMU program (`qemu-system-riscv32`).
    pub binary: String,
    /// Arguments that select and set up the machine (`-M virt ...`).
    pub machine: Vec<String>,
    /// The `-drive` options of the store image, without `file=`
    /// (`if=pflash,unit=1,format=raw`); none if QEMU models no storage
    /// for the board (its tests then run without a store).
    #[serde(default)]
    pub store_drive: Option<String>,
    /// A tockloader flash file (which starts at the kernel's address) is
    /// not given to QEMU as `-kernel` (which loads a raw file at the
    /// start of RAM): the kernel ELF is, and the flash file's app area is
    /// put in place with QEMU's generic loader (`-device loader`).
    #[serde(default)]
    pub flash_file_loader: bool,
    /// The Rust target the kernel is built for.
    pub kernel_target: String,
    /// tockloader's board name for flash files of this board, if
    /// tockloader knows the board.
    pub tockloader_board: Option<String>,
    /// The libtock-rs platform whose prebuilt apps (fixtures) run on this
    /// board, if not named like the board.
    #[serde(default)]
    pub libtock_rs: Option<String>,
    /// QEMU's flash model writes the store file behind the guest
    /// (asynchronously), so a SIGKILL can lose writes the guest saw
    /// complete. A power cut then stops the virtual machine first (QMP
    /// `stop`, which drains QEMU's block I/O: the cut instant) and kills
    /// QEMU after. `false` (the default): QEMU writes the file as the guest
    /// writes, and a SIGKILL is the cut.
    #[serde(default)]
    pub store_writes_async: bool,
}

fn yes() -> bool {
    true
}

/// The Rust target of apps for elf2tab's architecture name `arch`.
pub fn app_target(arch: &str) -> Option<&'static str> {
    match arch {
        "rv32imac" => Some("riscv32imac-unknown-none-elf"),
        "rv32imc" => Some("riscv32imc-unknown-none-elf"),
        "cortex-m4" => Some("thumbv7em-none-eabi"),
        _ => None,
    }
}

/// A board description.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardFile {
    /// Board name.
    pub name: String,
    /// elf2tab's architecture name for the board's apps.
    pub arch: String,
    /// Where the kernel image is loaded.
    pub kernel: Area,
    /// RAM for the kernel's data, stack and bss, when the kernel image
    /// itself is in flash (its initialised data is copied here at boot);
    /// without it everything is in `kernel`.
    #[serde(default)]
    pub kernel_ram: Option<Area>,
    /// The app flash area: the TBFs the kernel walks.
    pub app_flash: Area,
    /// The process RAM window.
    pub app_ram: Area,
    /// Bytes from a TBF's start to its binary.
    pub protected_size: u32,
    /// Frequency of the alarm driver's clock (what apps measure time in).
    pub alarm_hz: u32,
    /// Whether user mode may read the RISC-V `time` and `instret`
    /// counters (the kernel allows it where the core has them; Ibex has
    /// no `time` CSR).
    #[serde(default = "yes")]
    pub user_counters: bool,
    /// How QEMU runs the board, if it is a QEMU board.
    pub qemu: Option<Qemu>,
    /// The key-value store, if the board has one.
    pub store: Option<Store>,
    /// App credentials, if the board checks them.
    pub credentials: Option<Credentials>,
    /// tockloader's name for the real board (`--board`), if it is one
    /// tockloader flashes and installs apps on.
    pub tockloader_board: Option<String>,
}

impl BoardFile {
    /// The Rust target of apps for this board's architecture (`None` for
    /// an architecture we build no apps for).
    pub fn app_target(&self) -> Option<&'static str> {
        app_target(&self.arch)
    }

    /// Parses and checks a description.
    pub fn parse(text: &str) -> Result<BoardFile, LayoutError> {
        let b: BoardFile = toml::from_str(text).map_err(|e| LayoutError(e.to_string()))?;
        for (what, area) in [
            ("kernel", b.kernel),
            ("app_flash", b.app_flash),
            ("app_ram", b.app_ram),
        ] {
            if area.size == 0 || area.end().is_none() {
                return Err(LayoutError(format!(
                    "`{what}` {:#x} + {:#x} is empty or runs past the address space",
                    area.start, area.size
                )));
            }
        }
        if b.kernel.end() > Some(b.app_flash.start) && b.app_flash.end() > Some(b.kernel.start) {
            return Err(LayoutError("the kernel overlaps the app flash area".into()));
        }
        if let Some(ram) = b.kernel_ram {
            if ram.size == 0 || ram.end().is_none() {
                return Err(LayoutError("`kernel_ram` is empty".into()));
            }
            if ram.end() > Some(b.app_ram.start) && b.app_ram.end() > Some(ram.start) {
                return Err(LayoutError("the kernel's RAM overlaps process RAM".into()));
            }
        }
        if let Some(c) = &b.credentials {
            c.keys()?;
        }
        if let Some(s) = b.store {
            let bytes = u64::from(s.region_size) * u64::from(s.regions);
            if s.offset + bytes > s.image_size {
                return Err(LayoutError(format!(
                    "[store]: {} regions of {:#x} bytes at offset {:#x} do not fit the {:#x}-byte image",
                    s.regions, s.region_size, s.offset, s.image_size
                )));
            }
        }
        Ok(b)
    }

    /// Reads and parses the description at `path`.
    pub fn load(path: &Path) -> Result<BoardFile, LayoutError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LayoutError(format!("cannot read {}: {e}", path.display())))?;
        BoardFile::parse(&text).map_err(|e| LayoutError(format!("{}: {e}", path.display())))
    }
}

/// The build script of a board's kernel: reads the board's `board.toml`
/// (in the crate's folder) and writes into `OUT_DIR` `board.rs` (the
/// addresses and the store size, for the kernel's `main.rs`),
/// `memory.ld` (the kernel's memory region, the app flash start and the
/// process RAM window, for the board's `layout.ld`) and
/// `kernel_attributes.ld` (see [`kernel_attributes_script`], which
/// `layout.ld` includes after its sections), then links with
/// `layout.ld`. `kernel_version` is the kernel's (major, minor)
/// (`kernel::KERNEL_VERSION`), recorded in the attributes.
pub fn kernel_build_script(kernel_version: (u16, u16)) {
    use std::path::PathBuf;
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let description = dir.join("board.toml");
    let board = BoardFile::load(&description).unwrap_or_else(|e| panic!("{e}"));
    let store = board
        .store
        .unwrap_or_else(|| panic!("{}: this board needs a [store]", description.display()));
    let consts = format!(
        "// Generated by build.rs from board.toml.\n\
         /// Start of the app flash area.\n\
         pub const APP_FLASH: u32 = {:#x};\n\
         /// Length of the app flash area.\n\
         pub const APP_FLASH_LEN: usize = {:#x};\n\
         /// Start of process RAM.\n\
         pub const APP_RAM: u32 = {:#x};\n\
         /// Length of process RAM.\n\
         pub const APP_RAM_LEN: usize = {:#x};\n\
         /// Erase units of the store's flash the store uses.\n\
         pub const STORE_REGIONS: u32 = {};\n\
         /// Byte offset of the store in its flash.\n\
         #[allow(dead_code)]\n\
         pub const STORE_OFFSET: u64 = {:#x};\n",
        board.app_flash.start,
        board.app_flash.size,
        board.app_ram.start,
        board.app_ram.size,
        store.regions,
        store.offset,
    );
    let keys = board
        .credentials
        .as_ref()
        .map(|c| c.keys().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_default();
    let consts = format!(
        "{consts}/// Public keys whose app signatures a kernel that checks\n\
         /// credentials trusts (the board's `[credentials]`).\n\
         #[allow(dead_code)]\n\
         pub const TRUSTED_KEYS: [[u8; 65]; {}] = {:?};\n",
        keys.len(),
        keys
    );
    std::fs::write(out.join("board.rs"), consts).expect("write board.rs");
    let ram = board
        .kernel_ram
        .map(|r| {
            format!(
                "    ram (rw) : ORIGIN = {:#x}, LENGTH = {:#x}\n",
                r.start, r.size
            )
        })
        .unwrap_or_default();
    if board.kernel.end() != Some(board.app_flash.start) {
        panic!(
            "{}: the kernel area must end where the app flash area starts (tockloader reads the kernel attributes just below the apps)",
            description.display()
        );
    }
    let memory = format!(
        "/* Generated by build.rs from board.toml. */\n\
         MEMORY\n{{\n    kernel (rwx) : ORIGIN = {:#x}, LENGTH = {:#x}\n{ram}}}\n\
         _app_flash_start = {:#x};\n\
         _app_ram_start = {:#x};\n\
         _app_ram_end = {:#x};\n",
        board.kernel.start,
        board.kernel.size,
        board.app_flash.start,
        board.app_ram.start,
        u64::from(board.app_ram.start) + u64::from(board.app_ram.size),
    );
    std::fs::write(out.join("memory.ld"), memory).expect("write memory.ld");
    let layout = std::fs::read_to_string(dir.join("layout.ld")).expect("read layout.ld");
    // A script that lays out its own program headers names one for the
    // attributes (a section without one would join the previous one's).
    let phdr = layout.contains("PHDRS").then_some("attributes");
    std::fs::write(
        out.join("kernel_attributes.ld"),
        kernel_attributes_script(kernel_version, phdr),
    )
    .expect("write kernel_attributes.ld");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-T{}/layout.ld", dir.display());
    println!("cargo:rerun-if-changed={}", dir.join("layout.ld").display());
    println!("cargo:rerun-if-changed={}", description.display());
}

/// Bytes of the kernel attributes our kernels carry: three TLVs of 12
/// bytes (an 8-byte value, its type and its length), a 4-byte header and
/// the 4-byte sentinel.
pub const KERNEL_ATTRIBUTES_LEN: u32 = 3 * 12 + 4 + 4;

/// The linker script fragment (`kernel_attributes.ld`) that ends a
/// kernel's area with the *kernel attributes*, the table tockloader reads
/// to learn about an installed kernel. It is read backwards from the
/// area's last byte, which is where the app flash area starts: the
/// sentinel `TOCK`, then a version byte (1) and three reserved bytes,
/// then TLVs, each its 8-byte value followed by a `u16` type and a `u16`
/// length (of the value), little-endian:
///
/// | type | value |
/// |---|---|
/// | `0x0101` app memory | start and length of process RAM |
/// | `0x0102` kernel binary | start and length of the kernel image |
/// | `0x0103` kernel version | major, minor, patch, pre-release (`u16` each) |
///
/// (in that order going backwards). It uses the symbols `memory.ld`
/// defines (`_app_ram_start`, `_app_ram_end`) and one the board's
/// `layout.ld` defines, `_kernel_image_end`: the end of what is loaded
/// into the kernel area (code, read-only data, the initial `.data`). It
/// defines `_kernel_attributes_start`; the section goes in program header
/// `phdr` when the board's script declares its own.
pub fn kernel_attributes_script(kernel_version: (u16, u16), phdr: Option<&str>) -> String {
    let (major, minor) = kernel_version;
    let len = KERNEL_ATTRIBUTES_LEN;
    let phdr = phdr.map(|p| format!(" :{p}")).unwrap_or_default();
    format!(
        "/* Generated by build.rs (app-layout): the kernel attributes, the last\n \
         * {len} bytes of the kernel area, read backwards by tockloader. */\n\
         _kernel_attributes_start = ORIGIN(kernel) + LENGTH(kernel) - {len};\n\
         SECTIONS\n{{\n    \
         .kernel_attributes _kernel_attributes_start : {{\n        \
         /* 0x0103 kernel version: {major}.{minor}.0, a release */\n        \
         SHORT({major}) SHORT({minor}) SHORT(0) SHORT(0) SHORT(0x0103) SHORT(8)\n        \
         /* 0x0102 kernel binary: start, length */\n        \
         LONG(ORIGIN(kernel)) LONG(_kernel_image_end - ORIGIN(kernel)) SHORT(0x0102) SHORT(8)\n        \
         /* 0x0101 app memory: start, length */\n        \
         LONG(_app_ram_start) LONG(_app_ram_end - _app_ram_start) SHORT(0x0101) SHORT(8)\n        \
         /* three reserved bytes, version 1, the sentinel */\n        \
         BYTE(0) BYTE(0) BYTE(0) BYTE(1)\n        \
         BYTE(0x54) BYTE(0x4F) BYTE(0x43) BYTE(0x4B)\n    \
         }} > kernel{phdr}\n\
         }}\n\
         ASSERT(SIZEOF(.kernel_attributes) == {len}, \"the kernel attributes are {len} bytes\")\n\
         ASSERT(_kernel_image_end <= _kernel_attributes_start, \"the kernel image overlaps its attributes\")\n"
    )
}

#[cfg(test)]
mod tests {
    use super::BoardFile;

    const DK: &str = include_str!("../../../boards/nrf52840dk/board.toml");

    #[test]
    fn the_nrf52840dk_runs_from_flash_with_its_own_ram() {
        let b = BoardFile::parse(DK).unwrap();
        assert_eq!(b.tockloader_board.as_deref(), Some("nrf52dk"));
        let ram = b.kernel_ram.unwrap();
        assert_eq!((ram.start, ram.end()), (0x2000_0000, Some(0x2001_0000)));
        assert_eq!(
            (b.app_flash.start, b.app_ram.start),
            (0x4_0000, 0x2001_0000)
        );
        assert!(b.qemu.is_none());
    }

    #[test]
    fn kernel_ram_may_not_overlap_process_ram() {
        let overlapping = DK.replace(
            "kernel_ram = { start = 0x2000_0000, size = 0x1_0000 }",
            "kernel_ram = { start = 0x2000_0000, size = 0x1_0001 }",
        );
        assert_ne!(overlapping, DK);
        let e = BoardFile::parse(&overlapping).unwrap_err();
        assert!(e.0.contains("overlaps process RAM"), "{}", e.0);
    }
}
