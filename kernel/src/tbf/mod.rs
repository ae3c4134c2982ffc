//! The Tock Binary Format (TBF): parsing app headers and walking app flash.
//!
//! A TBF object is a little-endian header followed by the app binary and,
//! optionally, footers. The header starts with a 16-byte base header
//!
//! ```text
//! 0  u16 version (2)   2  u16 header_size   4  u32 total_size
//! 8  u32 flags         12 u32 checksum
//! ```
//!
//! followed by TLV entries (`u16 type`, `u16 length`, data zero-padded to a
//! multiple of 4) up to `header_size`. A header of exactly 16 bytes is a
//! padding object that only reserves space.
//!
//! [`TbfHeader::parse`] checks a header and gives a borrowed view of it;
//! [`AppWalk`] goes through an app flash area TBF by TBF and tells for each
//! one whether the kernel may load it and, if not, why. Nothing in this
//! module panics, whatever bytes it is given.
//!
//! Decisions this module makes where the format leaves room:
//!
//! * When a header holds both a Program TLV (9) and a Main TLV (1), the
//!   Program TLV wins, wherever the two appear. With only a Main TLV, the
//!   binary ends at `total_size` and the app version is 0.
//! * Other single-valued TLVs (package name, fixed addresses, permissions,
//!   storage permissions, kernel version, ShortId) may appear more than
//!   once; the last one counts. Writeable flash region TLVs accumulate.
//! * TLVs with a fixed layout must have exactly their length (Main 12,
//!   fixed addresses 8, kernel version 4, Program 20, ShortId 4); the
//!   permissions and storage permissions TLVs must have exactly the length
//!   their counts imply; writeable flash regions a multiple of 8.
//! * Offsets inside the TBF are checked when the header is parsed, so the
//!   accessors can compute addresses without further checks: the protected
//!   region and the entry point lie inside the binary, the binary ends
//!   inside the TBF, and every writeable flash region lies inside the TBF.

use core::fmt;
use core::num::NonZeroU32;

mod walk;

pub use walk::{AppWalk, Outcome, Refusal, WalkEnd, WalkItem};

/// The only TBF header version this kernel understands.
pub const TBF_VERSION: u16 = 2;

/// Size in bytes of the base header (and of a whole padding header).
pub const BASE_HEADER_SIZE: usize = 16;

/// Header flag bit 0: the app should be started.
pub const FLAG_ENABLED: u32 = 1 << 0;

/// Header flag bit 1: the app is sticky (tools should not remove it
/// without being forced).
pub const FLAG_STICKY: u32 = 1 << 1;

/// TLV type numbers of the header entries this kernel knows.
pub mod tlv {
    /// Main (legacy): init_fn_offset, protected_trailer_size,
    /// minimum_ram_size.
    pub const MAIN: u16 = 1;
    /// Writeable flash regions: (offset, size) pairs.
    pub const WRITEABLE_FLASH_REGIONS: u16 = 2;
    /// Package name, UTF-8.
    pub const PACKAGE_NAME: u16 = 3;
    /// Fixed RAM and flash addresses.
    pub const FIXED_ADDRESSES: u16 = 5;
    /// Command permissions per driver.
    pub const PERMISSIONS: u16 = 6;
    /// Storage (key-value) permissions.
    pub const STORAGE_PERMISSIONS: u16 = 7;
    /// Required kernel version.
    pub const KERNEL_VERSION: u16 = 8;
    /// Program: Main plus binary_end_offset and the app version.
    pub const PROGRAM: u16 = 9;
    /// Fixed ShortId.
    pub const SHORT_ID: u16 = 10;
}

/// Footer type of a credentials footer.
pub const FOOTER_CREDENTIALS: u16 = 128;

/// Marks an unfixed address in the fixed addresses TLV.
const NOT_FIXED: u32 = 0xFFFF_FFFF;

/// Why a TBF header was rejected. Each failure has its own variant so the
/// kernel can say precisely what is wrong with an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TbfError {
    /// The header version is not 2.
    UnsupportedVersion(u16),
    /// Fewer bytes were given than the header needs.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// `header_size` is below 16 or not a multiple of 4.
    BadHeaderSize(u16),
    /// `total_size` is smaller than `header_size`.
    BadTotalSize(u32),
    /// The checksum word does not match the header contents.
    ChecksumMismatch {
        /// The checksum stored in the header.
        stored: u32,
        /// The XOR of the header words.
        computed: u32,
    },
    /// A TLV (its type and length, or its data) runs past `header_size`.
    TlvOverrun {
        /// Offset of the TLV from the start of the TBF.
        offset: usize,
    },
    /// A TLV of a known type has a wrong length or inconsistent contents.
    MalformedTlv(u16),
    /// The package name is not valid UTF-8.
    InvalidPackageName,
    /// A footer runs past the end of the TBF, or a credentials footer is
    /// too short to hold its format word.
    MalformedFooter {
        /// Offset of the footer from the start of the TBF.
        offset: usize,
    },
}

impl fmt::Display for TbfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TbfError::UnsupportedVersion(v) => write!(f, "unsupported TBF version {v}"),
            TbfError::TooShort { needed, available } => {
                write!(f, "TBF too short: {available} bytes, header needs {needed}")
            }
            TbfError::BadHeaderSize(s) => write!(f, "invalid header size {s}"),
            TbfError::BadTotalSize(s) => write!(f, "total size {s} smaller than the header"),
            TbfError::ChecksumMismatch { stored, computed } => write!(
                f,
                "header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            TbfError::TlvOverrun { offset } => {
                write!(f, "TLV at offset {offset} runs past the header")
            }
            TbfError::MalformedTlv(t) => write!(f, "malformed TLV of type {t}"),
            TbfError::InvalidPackageName => f.write_str("package name is not UTF-8"),
            TbfError::MalformedFooter { offset } => {
                write!(f, "malformed footer at offset {offset}")
            }
        }
    }
}

/// A kernel version, as required by an app (TLV 8) or offered by the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelVersion {
    /// Major version: must be equal.
    pub major: u16,
    /// Minor version: the kernel's must be at least the app's.
    pub minor: u16,
}

impl KernelVersion {
    /// A version from its two parts.
    pub const fn new(major: u16, minor: u16) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// Whether an app that requires `self` can run on a kernel of version
    /// `kernel`: same major, and the kernel's minor not older.
    pub const fn is_compatible_with(self, kernel: KernelVersion) -> bool {
        self.major == kernel.major && kernel.minor >= self.minor
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One writeable flash region of an app, relative to the TBF start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WriteableRegion {
    /// Offset from the start of the TBF.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// The program description from a Program (or legacy Main) TLV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ProgramInfo {
    init_fn_offset: u32,
    protected_trailer_size: u32,
    minimum_ram_size: u32,
    binary_end_offset: u32,
    app_version: u32,
}

/// A list of little-endian `u32` ids stored back to back (unaligned) in a
/// header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids<'a> {
    bytes: &'a [u8],
}

impl<'a> Ids<'a> {
    /// Number of ids left in the list.
    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is in the list.
    pub fn contains(&self, id: u32) -> bool {
        let mut ids = *self;
        ids.any(|x| x == id)
    }
}

impl Iterator for Ids<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let id = le_u32(self.bytes, 0)?;
        self.bytes = self.bytes.get(4..)?;
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl ExactSizeIterator for Ids<'_> {}

/// The storage permissions of an app (TLV 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoragePermissions<'a> {
    write_id: u32,
    read_ids: &'a [u8],
    modify_ids: &'a [u8],
}

impl<'a> StoragePermissions<'a> {
    /// The id stored with items this app writes; `None` (stored as 0) means
    /// the app may not write.
    pub fn write_id(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.write_id)
    }

    /// Owner ids whose items the app may read.
    pub fn read_ids(&self) -> Ids<'a> {
        Ids {
            bytes: self.read_ids,
        }
    }

    /// Owner ids whose items the app may modify.
    pub fn modify_ids(&self) -> Ids<'a> {
        Ids {
            bytes: self.modify_ids,
        }
    }
}

/// A footer that follows the app binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Footer<'a> {
    /// Type 128: a credential (signature, hash, or reserved space).
    Credentials {
        /// Credential format number.
        format: u32,
        /// The credential bytes after the format word.
        data: &'a [u8],
    },
    /// A footer of another type, passed through.
    Other {
        /// Footer type.
        kind: u16,
        /// Footer data.
        data: &'a [u8],
    },
}

/// Iterator over the footers of a TBF, see [`TbfHeader::footers`].
///
/// Yields one `Err` and then ends if a footer is malformed.
#[derive(Clone, Debug)]
pub struct Footers<'a> {
    bytes: &'a [u8],
    offset: usize,
    end: usize,
}

impl<'a> Iterator for Footers<'a> {
    type Item = Result<Footer<'a>, TbfError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.end {
            return None;
        }
        let at = self.offset;
        // Whatever happens below, a malformed footer ends the iteration.
        self.offset = self.end;
        let bad = Err(TbfError::MalformedFooter { offset: at });
        let (Some(kind), Some(len)) = (le_u16(self.bytes, at), le_u16(self.bytes, at + 2)) else {
            return Some(bad);
        };
        let data_start = at.saturating_add(4);
        let data_end = data_start.saturating_add(usize::from(len));
        if data_end > self.end {
            return Some(bad);
        }
        let Some(data) = self.bytes.get(data_start..data_end) else {
            return Some(bad);
        };
        let footer = if kind == FOOTER_CREDENTIALS {
            let (Some(format), Some(rest)) = (le_u32(data, 0), data.get(4..)) else {
                return Some(bad);
            };
            Footer::Credentials { format, data: rest }
        } else {
            Footer::Other { kind, data }
        };
        // Footers follow each other without alignment padding.
        self.offset = data_end;
        Some(Ok(footer))
    }
}

/// Iterator over the writeable flash regions of a TBF, see
/// [`TbfHeader::writeable_regions`].
#[derive(Clone, Debug)]
pub struct WriteableRegions<'a> {
    tlvs: Tlvs<'a>,
    current: &'a [u8],
}

impl Iterator for WriteableRegions<'_> {
    type Item = WriteableRegion;

    fn next(&mut self) -> Option<WriteableRegion> {
        loop {
            if let (Some(offset), Some(size)) = (le_u32(self.current, 0), le_u32(self.current, 4)) {
                self.current = self.current.get(8..).unwrap_or(&[]);
                return Some(WriteableRegion { offset, size });
            }
            // Next region TLV; the header was validated, so an error cannot
            // happen here, and would simply end the iteration.
            match self.tlvs.next()? {
                Ok(entry) if entry.kind == tlv::WRITEABLE_FLASH_REGIONS => {
                    self.current = entry.data
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

/// A checked, borrowed view of a TBF header.
///
/// Holds references into the bytes given to [`TbfHeader::parse`] (at most
/// `total_size` of them) plus a few decoded numbers; it copies nothing out
/// of flash and is cheap to copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TbfHeader<'a> {
    /// The TBF, truncated to `total_size` (or shorter if fewer bytes were
    /// given, but always at least `header_size`).
    bytes: &'a [u8],
    header_size: u16,
    total_size: u32,
    flags: u32,
    program: Option<ProgramInfo>,
    package_name: Option<&'a str>,
    fixed_addresses: Option<(u32, u32)>,
    /// The permission records (after the count).
    permissions: Option<&'a [u8]>,
    storage_permissions: Option<StoragePermissions<'a>>,
    kernel_version: Option<KernelVersion>,
    short_id: Option<u32>,
}

impl<'a> TbfHeader<'a> {
    /// Parses and checks the TBF header at the start of `bytes`.
    ///
    /// `bytes` must hold at least the whole header (`header_size` bytes);
    /// it may hold the whole TBF or more (the view keeps at most
    /// `total_size` bytes). Footers are only visible to
    /// [`TbfHeader::footers`] if the bytes given reach them.
    pub fn parse(bytes: &'a [u8]) -> Result<TbfHeader<'a>, TbfError> {
        let too_short = |needed: usize| TbfError::TooShort {
            needed,
            available: bytes.len(),
        };
        let (Some(version), Some(header_size), Some(total_size), Some(flags), Some(stored)) = (
            le_u16(bytes, 0),
            le_u16(bytes, 2),
            le_u32(bytes, 4),
            le_u32(bytes, 8),
            le_u32(bytes, 12),
        ) else {
            return Err(too_short(BASE_HEADER_SIZE));
        };
        if version != TBF_VERSION {
            return Err(TbfError::UnsupportedVersion(version));
        }
        if usize::from(header_size) < BASE_HEADER_SIZE || header_size % 4 != 0 {
            return Err(TbfError::BadHeaderSize(header_size));
        }
        if total_size < u32::from(header_size) {
            return Err(TbfError::BadTotalSize(total_size));
        }
        let header = bytes
            .get(..usize::from(header_size))
            .ok_or(too_short(usize::from(header_size)))?;

        let computed = header
            .chunks_exact(4)
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .fold(0u32, |acc, (_, w)| {
                acc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]])
            });
        if computed != stored {
            return Err(TbfError::ChecksumMismatch { stored, computed });
        }

        let keep = usize::try_from(total_size).map_or(bytes.len(), |t| t.min(bytes.len()));
        let mut parsed = TbfHeader {
            bytes: bytes.get(..keep).unwrap_or(header),
            header_size,
            total_size,
            flags,
            program: None,
            package_name: None,
            fixed_addresses: None,
            permissions: None,
            storage_permissions: None,
            kernel_version: None,
            short_id: None,
        };
        let mut main = None;
        let mut program = None;
        for entry in Tlvs::new(header) {
            let Tlv { kind, data, .. } = entry?;
            let bad = TbfError::MalformedTlv(kind);
            match kind {
                tlv::MAIN => {
                    let [init, trailer, ram] = fixed_u32s::<3>(data).ok_or(bad)?;
                    main = Some(parsed.check_program(init, trailer, ram, total_size, 0, kind)?);
                }
                tlv::PROGRAM => {
                    let [init, trailer, ram, end, version] = fixed_u32s::<5>(data).ok_or(bad)?;
                    program = Some(parsed.check_program(init, trailer, ram, end, version, kind)?);
                }
                tlv::WRITEABLE_FLASH_REGIONS => {
                    if data.len() % 8 != 0 {
                        return Err(bad);
                    }
                    let regions = WriteableRegions {
                        tlvs: Tlvs::new(&[]),
                        current: data,
                    };
                    for region in regions {
                        let end = u64::from(region.offset) + u64::from(region.size);
                        if end > u64::from(total_size) {
                            return Err(bad);
                        }
                    }
                }
                tlv::PACKAGE_NAME => {
                    let name =
                        core::str::from_utf8(data).map_err(|_| TbfError::InvalidPackageName)?;
                    parsed.package_name = Some(name);
                }
                tlv::FIXED_ADDRESSES => {
                    let [ram, flash] = fixed_u32s::<2>(data).ok_or(bad)?;
                    parsed.fixed_addresses = Some((ram, flash));
                }
                tlv::PERMISSIONS => {
                    let count = le_u16(data, 0).ok_or(bad)?;
                    if data.len() != 2 + 16 * usize::from(count) {
                        return Err(bad);
                    }
                    parsed.permissions = data.get(2..);
                }
                tlv::STORAGE_PERMISSIONS => {
                    parsed.storage_permissions = Some(parse_storage(data).ok_or(bad)?);
                }
                tlv::KERNEL_VERSION => {
                    let (Some(major), Some(minor), 4) =
                        (le_u16(data, 0), le_u16(data, 2), data.len())
                    else {
                        return Err(bad);
                    };
                    parsed.kernel_version = Some(KernelVersion { major, minor });
                }
                tlv::SHORT_ID => {
                    let [id] = fixed_u32s::<1>(data).ok_or(bad)?;
                    parsed.short_id = Some(id);
                }
                _ => {} // Unknown types are skipped.
            }
        }
        parsed.program = program.or(main);
        Ok(parsed)
    }

    /// Checks a Main or Program TLV's offsets against the header.
    fn check_program(
        &self,
        init_fn_offset: u32,
        protected_trailer_size: u32,
        minimum_ram_size: u32,
        binary_end_offset: u32,
        app_version: u32,
        kind: u16,
    ) -> Result<ProgramInfo, TbfError> {
        let header = u64::from(self.header_size);
        let end = u64::from(binary_end_offset);
        let consistent = end <= u64::from(self.total_size)
            && header + u64::from(protected_trailer_size) <= end
            && header + u64::from(init_fn_offset) < end;
        if !consistent {
            return Err(TbfError::MalformedTlv(kind));
        }
        Ok(ProgramInfo {
            init_fn_offset,
            protected_trailer_size,
            minimum_ram_size,
            binary_end_offset,
            app_version,
        })
    }

    /// Whether this is a padding object (a header of exactly 16 bytes): it
    /// only reserves flash and is never an app.
    pub fn is_padding(&self) -> bool {
        usize::from(self.header_size) == BASE_HEADER_SIZE
    }

    /// The raw flags word.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether the app should be started (flag bit 0).
    pub fn enabled(&self) -> bool {
        self.flags & FLAG_ENABLED != 0
    }

    /// Whether the app is sticky (flag bit 1).
    pub fn sticky(&self) -> bool {
        self.flags & FLAG_STICKY != 0
    }

    /// Size of the header (base header plus TLVs) in bytes.
    pub fn header_size(&self) -> u32 {
        u32::from(self.header_size)
    }

    /// Size of the whole TBF object, footers and padding included.
    pub fn total_size(&self) -> u32 {
        self.total_size
    }

    /// Whether the header has a Program or Main TLV, i.e. describes
    /// something that can run. Without one, the program accessors below
    /// return their defaults.
    pub fn has_program(&self) -> bool {
        self.program.is_some()
    }

    /// Offset of the first instruction from the end of the header (0 when
    /// there is no program).
    pub fn init_fn_offset(&self) -> u32 {
        self.program.map_or(0, |p| p.init_fn_offset)
    }

    /// Size of the protected region after the header (0 when there is no
    /// program).
    pub fn protected_trailer_size(&self) -> u32 {
        self.program.map_or(0, |p| p.protected_trailer_size)
    }

    /// Size of the whole protected region, counted from the TBF start:
    /// header plus protected trailer. The process may not write it.
    pub fn protected_size(&self) -> u32 {
        // Checked at parse time to be at most binary_end_offset.
        self.header_size() + self.protected_trailer_size()
    }

    /// RAM the app needs, in bytes (0 when there is no program).
    pub fn minimum_ram_size(&self) -> u32 {
        self.program.map_or(0, |p| p.minimum_ram_size)
    }

    /// Offset from the TBF start at which the binary ends and the footers
    /// begin: from the Program TLV, else `total_size`.
    pub fn binary_end_offset(&self) -> u32 {
        self.program
            .map_or(self.total_size, |p| p.binary_end_offset)
    }

    /// Version of the app binary from the Program TLV; 0 without one.
    pub fn app_version(&self) -> u32 {
        self.program.map_or(0, |p| p.app_version)
    }

    /// Address of the first instruction when the TBF sits at `tbf_start`:
    /// `tbf_start + header_size + init_fn_offset`. (Cortex-M callers set
    /// the Thumb bit themselves.)
    pub fn entry_point(&self, tbf_start: u32) -> u32 {
        tbf_start
            .wrapping_add(self.header_size())
            .wrapping_add(self.init_fn_offset())
    }

    /// Start address of the app binary when the TBF sits at `tbf_start`:
    /// `tbf_start + header_size + protected_trailer_size`. The process gets
    /// it in its first argument register.
    pub fn app_binary_start(&self, tbf_start: u32) -> u32 {
        tbf_start.wrapping_add(self.protected_size())
    }

    /// The package name, if the header has one.
    pub fn package_name(&self) -> Option<&'a str> {
        self.package_name
    }

    /// The RAM address the app is linked for, if fixed.
    pub fn fixed_ram_address(&self) -> Option<u32> {
        self.fixed_addresses
            .map(|(ram, _)| ram)
            .filter(|&a| a != NOT_FIXED)
    }

    /// The flash address the app binary (not the TBF) is linked for, if
    /// fixed; compare it with [`TbfHeader::app_binary_start`].
    pub fn fixed_flash_address(&self) -> Option<u32> {
        self.fixed_addresses
            .map(|(_, flash)| flash)
            .filter(|&a| a != NOT_FIXED)
    }

    /// The writeable flash regions, from all region TLVs in header order.
    pub fn writeable_regions(&self) -> WriteableRegions<'a> {
        WriteableRegions {
            tlvs: Tlvs::new(self.header_bytes()),
            current: &[],
        }
    }

    /// Number of writeable flash regions.
    pub fn writeable_region_count(&self) -> usize {
        self.writeable_regions().count()
    }

    /// Whether the permissions TLV lets the app call `command` of `driver`.
    ///
    /// `None` when the header has no permissions TLV (no restriction is
    /// expressed). Otherwise permissions are default-deny: a record for
    /// `driver` whose offset is `command / 64` allows the command if bit
    /// `command % 64` of its mask is set; without such a record the answer
    /// is `Some(false)`.
    pub fn command_permitted(&self, driver: u32, command: u32) -> Option<bool> {
        let records = self.permissions?;
        let offset = command / 64;
        let bit = command % 64;
        let allowed = records.chunks_exact(16).any(|r| {
            le_u32(r, 0) == Some(driver)
                && le_u32(r, 4) == Some(offset)
                && le_u64(r, 8).is_some_and(|mask| mask >> bit & 1 == 1)
        });
        Some(allowed)
    }

    /// The storage permissions TLV, if present.
    pub fn storage_permissions(&self) -> Option<StoragePermissions<'a>> {
        self.storage_permissions
    }

    /// The kernel version the app requires, if stated.
    pub fn kernel_version(&self) -> Option<KernelVersion> {
        self.kernel_version
    }

    /// The fixed ShortId from TLV 10; `None` if absent or 0.
    pub fn short_id(&self) -> Option<NonZeroU32> {
        self.short_id.and_then(NonZeroU32::new)
    }

    /// The footers between `binary_end_offset` and `total_size`.
    ///
    /// Only the bytes given to [`TbfHeader::parse`] are visible: if they
    /// stop before `binary_end_offset` there are no footers, and a footer
    /// cut off by their end is reported as malformed.
    pub fn footers(&self) -> Footers<'a> {
        let start = usize::try_from(self.binary_end_offset()).unwrap_or(usize::MAX);
        Footers {
            bytes: self.bytes,
            offset: start,
            end: self.bytes.len(),
        }
    }

    fn header_bytes(&self) -> &'a [u8] {
        self.bytes
            .get(..usize::from(self.header_size))
            .unwrap_or(&[])
    }
}

/// Splits the storage permissions TLV; `None` if the lengths disagree.
fn parse_storage(data: &[u8]) -> Option<StoragePermissions<'_>> {
    let write_id = le_u32(data, 0)?;
    let read_count = usize::from(le_u16(data, 4)?);
    let read_end = 6 + 4 * read_count;
    let modify_count = usize::from(le_u16(data, read_end)?);
    let modify_start = read_end + 2;
    let modify_end = modify_start + 4 * modify_count;
    if data.len() != modify_end {
        return None;
    }
    Some(StoragePermissions {
        write_id,
        read_ids: data.get(6..read_end)?,
        modify_ids: data.get(modify_start..modify_end)?,
    })
}

/// One TLV entry of a header.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    kind: u16,
    data: &'a [u8],
}

/// Walks the TLVs of a header (`header` is exactly `header_size` bytes).
/// Yields one `Err` and ends if an entry overruns the header.
#[derive(Clone, Debug)]
struct Tlvs<'a> {
    header: &'a [u8],
    offset: usize,
}

impl<'a> Tlvs<'a> {
    fn new(header: &'a [u8]) -> Tlvs<'a> {
        Tlvs {
            header,
            offset: BASE_HEADER_SIZE,
        }
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<Tlv<'a>, TbfError>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.offset;
        if at >= self.header.len() {
            return None;
        }
        self.offset = self.header.len();
        let overrun = Err(TbfError::TlvOverrun { offset: at });
        let (Some(kind), Some(len)) = (le_u16(self.header, at), le_u16(self.header, at + 2)) else {
            return Some(overrun);
        };
        let start = at + 4;
        let end = start + usize::from(len);
        let Some(data) = self.header.get(start..end) else {
            return Some(overrun);
        };
        // Data is padded to 4 bytes; the header length is a multiple of 4,
        // so the padded end never passes it once the data fits.
        self.offset = end.next_multiple_of(4);
        Some(Ok(Tlv { kind, data }))
    }
}

/// Exactly `N` little-endian `u32`s, or `None` for any other length.
fn fixed_u32s<const N: usize>(data: &[u8]) -> Option<[u32; N]> {
    if data.len() != 4 * N {
        return None;
    }
    let mut out = [0; N];
    for (i, word) in out.iter_mut().enumerate() {
        *word = le_u32(data, 4 * i)?;
    }
    Some(out)
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let lo = le_u32(bytes, at)?;
    let hi = le_u32(bytes, at.checked_add(4)?)?;
    Some(u64::from(lo) | u64::from(hi) << 32)
}
