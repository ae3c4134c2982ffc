//! Packs TBFs into an app flash image.
//!
//! Our apps are linked for fixed addresses (see `tools/app-layout` and
//! `userland/layout.toml`), so a TBF can only go where it was linked.
//! [`pack`] checks every TBF with the kernel's own parser
//! ([`kernel::tbf::TbfHeader`]) and against its slot in the table, lays
//! the TBFs out in flash order from the start of the app flash area, fills
//! the gaps with padding TBFs (16-byte headers whose `total_size` spans
//! the gap), ends the list with a word that is not a TBF version, and
//! finally walks the result with the kernel's loader ([`kernel::tbf::AppWalk`])
//! to prove the kernel will find every app where it belongs.
//!
//! Inputs are TBFs (elf2tab writes `<name>.tbf`) or TABs (tar archives
//! holding `<arch>.tbf`, or several `<arch>.<flash>.<ram>.tbf`;
//! [`tbf_for_board`] takes the board's).
//!
//! [`kernel_attributes`] reads the attributes at the end of a kernel's
//! area (what tockloader reads there), and [`elf_symbol`] a symbol of a
//! kernel ELF, for the tests that check them.

use std::fmt;

use app_layout::{AppSlot, Layout, KERNEL_OVERHEAD_MAX};
use kernel::tbf::{AppWalk, Outcome, TbfHeader, WalkEnd, BASE_HEADER_SIZE};
use kernel::KERNEL_VERSION;

/// Why an image cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn error<T>(message: impl Into<String>) -> Result<T, Error> {
    Err(Error(message.into()))
}

/// What follows the last TBF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Zero bytes (QEMU RAM and tockloader's flash-file convention).
    Zero,
    /// 0xFF bytes, like erased flash.
    Erased,
}

impl Fill {
    fn byte(self) -> u8 {
        match self {
            Fill::Zero => 0x00,
            Fill::Erased => 0xFF,
        }
    }
}

/// How to end the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The bytes after the last TBF.
    pub fill: Fill,
    /// Fill up to the end of the app flash area (else: one 4-byte word).
    pub pad_to_end: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fill: Fill::Zero,
            pad_to_end: false,
        }
    }
}

/// One input TBF, checked against its slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Package name (the slot's name).
    pub name: String,
    /// Where the TBF starts.
    pub address: u32,
    /// Where its binary starts (the fixed flash address, if it has one).
    pub binary_start: u32,
    /// Its entry point.
    pub entry: u32,
    /// The fixed RAM address, if any.
    pub ram: Option<u32>,
    /// RAM the kernel will give it: minimum_ram_size plus at most
    /// [`KERNEL_OVERHEAD_MAX`].
    pub ram_needed: u32,
    /// The TBF bytes.
    pub bytes: Vec<u8>,
}

impl Placement {
    /// First address after the TBF.
    pub fn end(&self) -> u32 {
        self.address + self.bytes.len() as u32
    }
}

/// Checks one TBF (`bytes`, from `source`, named in errors) against the
/// kernel's parser and its slot, and says where it goes.
pub fn place(layout: &Layout, source: &str, bytes: Vec<u8>) -> Result<Placement, Error> {
    let bad = |what: String| error(format!("{source}: {what}"));
    let header = match TbfHeader::parse(&bytes) {
        Ok(h) => h,
        Err(e) => return bad(format!("not a valid TBF: {e}")),
    };
    if header.total_size() as usize != bytes.len() {
        return bad(format!(
            "the file has {} bytes but the header says total_size {}",
            bytes.len(),
            header.total_size()
        ));
    }
    if header.is_padding() {
        return bad("is a padding object, not an app".into());
    }
    if !header.has_program() {
        return bad("has no Program or Main TLV".into());
    }
    let board = &layout.board;
    let wanted = kernel::tbf::KernelVersion::new(board.kernel_major, board.kernel_minor);
    match header.kernel_version() {
        None => return bad("has no kernel version TLV: the kernel would refuse it".into()),
        Some(v) if !v.is_compatible_with(KERNEL_VERSION) => {
            return bad(format!("needs kernel {v}; our kernel is {KERNEL_VERSION}"))
        }
        Some(v) if v != wanted => {
            return bad(format!("asks for kernel {v}, the table says {wanted}"))
        }
        Some(_) => {}
    }
    let Some(name) = header.package_name() else {
        return bad("has no package name: cannot find its slot".into());
    };
    let Some(slot) = layout.app(name) else {
        return bad(format!("package `{name}` has no slot in the layout table"));
    };
    let address = match header.fixed_flash_address() {
        Some(fixed) => {
            let address = fixed.wrapping_sub(header.protected_size());
            if address != slot.flash {
                return bad(format!(
                    "`{name}` is linked for flash {fixed:#010x} (TBF start {address:#010x}), but its slot starts at {:#010x} (binary at {:#010x}): rebuild it or fix the table",
                    slot.flash,
                    slot.flash + header.protected_size()
                ));
            }
            address
        }
        // Position-independent: it goes to its slot.
        None => slot.flash,
    };
    if header.protected_size() != board.protected_size {
        return bad(format!(
            "`{name}` has a {:#x}-byte protected region; the table's apps use {:#x}",
            header.protected_size(),
            board.protected_size
        ));
    }
    let ram = header.fixed_ram_address();
    if let Some(r) = ram {
        if r != slot.ram {
            return bad(format!(
                "`{name}` is linked for RAM {r:#010x}, but its slot starts at {:#010x}",
                slot.ram
            ));
        }
    }
    check_fits(source, name, slot, &header)?;
    Ok(Placement {
        name: name.to_string(),
        address,
        binary_start: header.app_binary_start(address),
        entry: header.entry_point(address),
        ram,
        ram_needed: header
            .minimum_ram_size()
            .saturating_add(KERNEL_OVERHEAD_MAX),
        bytes,
    })
}

fn check_fits(
    source: &str,
    name: &str,
    slot: &AppSlot,
    header: &TbfHeader<'_>,
) -> Result<(), Error> {
    if header.total_size() > slot.flash_size {
        return error(format!(
            "{source}: `{name}` is {} bytes, more than its flash slot ({} bytes)",
            header.total_size(),
            slot.flash_size
        ));
    }
    let needed = u64::from(header.minimum_ram_size()) + u64::from(KERNEL_OVERHEAD_MAX);
    if needed > u64::from(slot.ram_size) {
        return error(format!(
            "{source}: `{name}` needs up to {needed} bytes of RAM (minimum_ram_size {} + kernel overhead {KERNEL_OVERHEAD_MAX}), more than its RAM slot ({} bytes)",
            header.minimum_ram_size(),
            slot.ram_size
        ));
    }
    Ok(())
}

/// A padding TBF of `total_size` bytes (at least 16): a base header with
/// header_size 16, flags 0 and its checksum, then 0xFF bytes.
pub fn padding_tbf(total_size: u32) -> Vec<u8> {
    assert!(
        total_size as usize >= BASE_HEADER_SIZE,
        "padding below 16 bytes"
    );
    let words = [
        u32::from(kernel::tbf::TBF_VERSION) | (BASE_HEADER_SIZE as u32) << 16,
        total_size,
        0,
    ];
    let checksum = words.iter().fold(0, |acc, w| acc ^ w);
    let mut bytes: Vec<u8> = words
        .iter()
        .chain([&checksum])
        .flat_map(|w| w.to_le_bytes())
        .collect();
    bytes.resize(total_size as usize, 0xFF);
    bytes
}

/// A packed image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Address of the first byte (the start of the app flash area).
    pub base: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The apps, in flash order.
    pub apps: Vec<Placement>,
    /// The padding objects: (address, size).
    pub padding: Vec<(u32, u32)>,
}

/// Packs `inputs` ((source, TBF bytes) pairs) for `layout`.
pub fn pack(
    layout: &Layout,
    inputs: Vec<(String, Vec<u8>)>,
    options: Options,
) -> Result<Image, Error> {
    let board = &layout.board;
    let mut apps = Vec::new();
    for (source, bytes) in inputs {
        apps.push(place(layout, &source, bytes)?);
    }
    apps.sort_by_key(|p| p.address);
    for pair in apps.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.name == b.name {
            return error(format!("`{}` is given twice", a.name));
        }
        if a.end() > b.address {
            return error(format!(
                "`{}` ({:#010x}..{:#010x}) overlaps `{}` (from {:#010x})",
                a.name,
                a.address,
                a.end(),
                b.name,
                b.address
            ));
        }
    }
    let mut bytes = Vec::new();
    let mut padding = Vec::new();
    let mut cursor = board.flash_start;
    for app in &apps {
        if app.address < cursor || app.end() > board.flash_end {
            return error(format!(
                "`{}` ({:#010x}..{:#010x}) is outside the app flash area {:#010x}..{:#010x}",
                app.name,
                app.address,
                app.end(),
                board.flash_start,
                board.flash_end
            ));
        }
        let gap = app.address - cursor;
        if gap > 0 {
            if (gap as usize) < BASE_HEADER_SIZE {
                return error(format!(
                    "a gap of {gap} bytes before `{}` at {:#010x} is too small for a padding TBF",
                    app.name, app.address
                ));
            }
            padding.push((cursor, gap));
            bytes.extend(padding_tbf(gap));
        }
        bytes.extend(&app.bytes);
        cursor = app.end();
    }
    let area = (board.flash_end - board.flash_start) as usize;
    let end = if options.pad_to_end {
        area
    } else {
        (bytes.len() + 4).min(area)
    };
    bytes.resize(end, options.fill.byte());
    let image = Image {
        base: board.flash_start,
        bytes,
        apps,
        padding,
    };
    verify(&image)?;
    Ok(image)
}

/// Walks `image` as the kernel's loader does and checks it finds exactly
/// the apps (loadable, in order, at their addresses) and the padding.
pub fn verify(image: &Image) -> Result<(), Error> {
    let mut walk = AppWalk::new(&image.bytes, image.base, KERNEL_VERSION);
    let mut apps = image.apps.iter();
    let mut padding = image.padding.iter();
    for item in walk.by_ref() {
        match item.outcome {
            Outcome::Load(h) => {
                let Some(app) = apps.next() else {
                    return error(format!(
                        "the kernel would find an extra app at {:#010x}",
                        item.address
                    ));
                };
                if app.address != item.address || h.package_name() != Some(app.name.as_str()) {
                    return error(format!(
                        "the kernel would find {:?} at {:#010x}, expected `{}` at {:#010x}",
                        h.package_name(),
                        item.address,
                        app.name,
                        app.address
                    ));
                }
            }
            Outcome::Padding => {
                if padding.next() != Some(&(item.address, item.length)) {
                    return error(format!("unexpected padding at {:#010x}", item.address));
                }
            }
            other => {
                return error(format!(
                    "the kernel would not load the TBF at {:#010x}: {other:?}",
                    item.address
                ))
            }
        }
    }
    if let Some(app) = apps.next() {
        return error(format!("the kernel would not reach `{}`", app.name));
    }
    match walk.end() {
        Some(WalkEnd::NotATbf { .. } | WalkEnd::EndOfArea) => Ok(()),
        other => error(format!("the app list does not end cleanly: {other:?}")),
    }
}

/// Whether `name` (a file in a TAB) is a TBF for `arch`: `<arch>.tbf`, or
/// `<arch>.<anything>.tbf` (elf2tab names a TBF after what follows the
/// comma of its input, and a TAB with several TBFs of one architecture,
/// one per board layout, names them
/// `<arch>.<flash address>.<RAM address>.tbf`; tockloader matches the
/// part before the first dot).
pub fn tbf_is_for_arch(name: &str, arch: &str) -> bool {
    name.strip_suffix(".tbf")
        .is_some_and(|stem| stem.split('.').next() == Some(arch))
}

/// The TBF for `arch` inside a TAB (a tar archive holding
/// `metadata.toml` and `<arch>.tbf`, or `<arch>.<...>.tbf`): there must be
/// exactly one (see [`tbf_for_board`] for TABs with one per layout).
pub fn tbf_from_tab(tab: &[u8], arch: &str) -> Result<Vec<u8>, Error> {
    let entries = tab_tbfs(tab)?;
    let mut matching = entries
        .iter()
        .filter(|(name, _)| tbf_is_for_arch(name, arch));
    match (matching.next(), matching.next()) {
        (Some((_, tbf)), None) => Ok(tbf.clone()),
        (None, _) => {
            let found: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
            error(format!(
                "the TAB has no {arch}.tbf (it has: {})",
                if found.is_empty() {
                    "no TBFs".to_string()
                } else {
                    found.join(", ")
                }
            ))
        }
        (Some(_), Some(_)) => error(format!(
            "the TAB has several TBFs for {arch}: name the board to choose"
        )),
    }
}

/// The TBF a board takes from a TAB, as tockloader chooses it: the one
/// for the board's architecture; where the TAB has several (one per
/// layout of that architecture), the one whose fixed RAM address lies in
/// the board's process RAM window.
pub fn tbf_for_board(tab: &[u8], board: &app_layout::Board) -> Result<Vec<u8>, Error> {
    let entries = tab_tbfs(tab)?;
    let candidates: Vec<&(String, Vec<u8>)> = entries
        .iter()
        .filter(|(name, _)| tbf_is_for_arch(name, &board.arch))
        .collect();
    if candidates.len() <= 1 {
        return tbf_from_tab(tab, &board.arch);
    }
    let in_window = |tbf: &[u8]| {
        TbfHeader::parse(tbf)
            .ok()
            .and_then(|h| h.fixed_ram_address())
            .is_some_and(|ram| (board.ram_start..board.ram_end).contains(&ram))
    };
    let fitting: Vec<&&(String, Vec<u8>)> = candidates
        .iter()
        .filter(|(_, tbf)| in_window(tbf))
        .collect();
    match fitting.as_slice() {
        [(_, tbf)] => Ok(tbf.clone()),
        _ => {
            let names: Vec<&str> = candidates.iter().map(|(n, _)| n.as_str()).collect();
            error(format!(
                "{} of the TAB's TBFs for {} ({}) have their RAM in {:#010x}..{:#010x}; one must",
                fitting.len(),
                board.arch,
                names.join(", "),
                board.ram_start,
                board.ram_end
            ))
        }
    }
}

/// Every TBF inside a TAB, as (file name without directories, bytes), in
/// archive order.
pub fn tab_tbfs(tab: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut found = Vec::new();
    let mut at = 0;
    while at + 512 <= tab.len() {
        let header = &tab[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let name = c_string(&header[0..100]);
        let prefix = c_string(&header[345..500]);
        let size_field = c_string(&header[124..136]);
        let size = usize::from_str_radix(size_field.trim(), 8)
            .map_err(|_| Error(format!("bad tar entry size {size_field:?} for {name:?}")))?;
        let data_start = at + 512;
        let data_end = data_start
            .checked_add(size)
            .filter(|&e| e <= tab.len())
            .ok_or_else(|| Error(format!("tar entry {name:?} runs past the end")))?;
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let base = full.rsplit('/').next().unwrap_or(&full).to_string();
        if base.ends_with(".tbf") {
            found.push((base, tab[data_start..data_end].to_vec()));
        }
        at = data_start + size.div_ceil(512) * 512;
    }
    Ok(found)
}

fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Reads a `.tbf`, or the board's TBF out of a `.tab` ([`tbf_for_board`]).
pub fn read_input(path: &std::path::Path, board: &app_layout::Board) -> Result<Vec<u8>, Error> {
    let bytes =
        std::fs::read(path).map_err(|e| Error(format!("cannot read {}: {e}", path.display())))?;
    if path.extension().is_some_and(|e| e == "tab") {
        tbf_for_board(&bytes, board).map_err(|e| Error(format!("{}: {e}", path.display())))
    } else {
        Ok(bytes)
    }
}

/// One line per app and padding object, for the tool's report.
pub fn describe(image: &Image) -> String {
    let mut out = String::new();
    let mut items: Vec<(u32, String)> = image
        .apps
        .iter()
        .map(|a| {
            (
                a.address,
                format!(
                    "{:#010x}..{:#010x}  {:<12} binary {:#010x}  entry {:#010x}  ram {}  needs <= {} bytes",
                    a.address,
                    a.end(),
                    a.name,
                    a.binary_start,
                    a.entry,
                    a.ram.map_or("any".to_string(), |r| format!("{r:#010x}")),
                    a.ram_needed
                ),
            )
        })
        .chain(image.padding.iter().map(|&(at, len)| {
            (at, format!("{:#010x}..{:#010x}  (padding)", at, at + len))
        }))
        .collect();
    items.sort();
    for (_, line) in items {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The kernel attributes at the end of a kernel's area, as tockloader
/// reads them (`app_layout::board::kernel_attributes_script` writes
/// them): the sentinel `TOCK` in the last four bytes, the version byte
/// before it, then TLVs read backwards. Absent TLVs are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelAttributes {
    /// The table's version (1).
    pub version: u8,
    /// TLV `0x0101`: start and length of process RAM.
    pub app_memory: Option<(u32, u32)>,
    /// TLV `0x0102`: start and length of the kernel image.
    pub kernel_binary: Option<(u32, u32)>,
    /// TLV `0x0103`: major, minor, patch and pre-release.
    pub kernel_version: Option<[u16; 4]>,
}

/// Parses the kernel attributes that end `area` (the bytes of a kernel's
/// area, or any slice ending where the area ends). Reading stops at the
/// first TLV type it does not know, as tockloader's does.
pub fn kernel_attributes(area: &[u8]) -> Result<KernelAttributes, Error> {
    let Some(rest) = area.strip_suffix(b"TOCK") else {
        return error("no kernel attributes (the area does not end with \"TOCK\")");
    };
    let Some((&version, mut rest)) = rest.split_last() else {
        return error("the kernel attributes end after the sentinel");
    };
    rest = &rest[..rest.len().saturating_sub(3)];
    let mut attrs = KernelAttributes {
        version,
        ..KernelAttributes::default()
    };
    if version != 1 {
        return error(format!("kernel attributes version {version}, not 1"));
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    while rest.len() >= 4 {
        let n = rest.len();
        let (kind, len) = (u16_at(rest, n - 4), usize::from(u16_at(rest, n - 2)));
        if !matches!(kind, 0x0101..=0x0103) {
            break;
        }
        if len != 8 || n < 4 + len {
            return error(format!(
                "kernel attribute {kind:#06x} has length {len} (8 expected, {} bytes left)",
                n - 4
            ));
        }
        let value = &rest[n - 4 - len..n - 4];
        match kind {
            0x0101 => attrs.app_memory = Some((u32_at(value, 0), u32_at(value, 4))),
            0x0102 => attrs.kernel_binary = Some((u32_at(value, 0), u32_at(value, 4))),
            _ => {
                attrs.kernel_version = Some([0, 2, 4, 6].map(|i| u16_at(value, i)));
            }
        }
        rest = &rest[..n - 4 - len];
    }
    Ok(attrs)
}

/// The value of the symbol `name` in a little-endian ELF32 file (its
/// `.symtab`), or `None` if the file has no such symbol.
pub fn elf_symbol(elf: &[u8], name: &str) -> Result<Option<u32>, Error> {
    let bad = |what: &str| Error(format!("not a usable ELF32 file: {what}"));
    let u16_at = |i: usize| {
        elf.get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("truncated"))
    };
    let u32_at = |i: usize| {
        elf.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad("truncated"))
    };
    if elf.get(..6) != Some(b"\x7fELF\x01\x01") {
        return Err(bad("no ELF32 little-endian magic"));
    }
    let shoff = u32_at(32)? as usize;
    let shentsize = usize::from(u16_at(46)?);
    let shnum = usize::from(u16_at(48)?);
    // Section headers: type at +4, offset at +16, size at +20, link at +24.
    const SHT_SYMTAB: u32 = 2;
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        if u32_at(sh + 4)? != SHT_SYMTAB {
            continue;
        }
        let (offset, size) = (u32_at(sh + 16)? as usize, u32_at(sh + 20)? as usize);
        let strtab = shoff + u32_at(sh + 24)? as usize * shentsize;
        let strings = u32_at(strtab + 16)? as usize;
        // Symbols: 16 bytes each, name offset at +0, value at +4.
        for sym in (offset..offset + size).step_by(16) {
            let start = strings + u32_at(sym)? as usize;
            let text = elf.get(start..).ok_or_else(|| bad("symbol name"))?;
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            if &text[..end] == name.as_bytes() {
                return Ok(Some(u32_at(sym + 4)?));
            }
        }
    }
    Ok(None)
}
