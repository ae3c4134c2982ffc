//! The loading walk: which TBFs in an app flash area the kernel may load.

use core::fmt;

use super::{le_u16, le_u32, KernelVersion, TbfError, TbfHeader, BASE_HEADER_SIZE, TBF_VERSION};

/// Walks an app flash area TBF by TBF, following upstream Tock's loader:
///
/// * a version other than 2 where a header should start (erased flash is
///   `0xFFFF`) ends the walk;
/// * a `total_size` of less than 16 bytes (0 included), or one that runs past
///   the area, ends the walk: the next TBF could not be found;
/// * otherwise the TBF occupies `total_size` bytes and the next one starts
///   right after it, whatever is wrong with this one;
/// * a header that fails to parse (bad checksum, malformed TLV, ...) is
///   reported as [`Outcome::Invalid`] and skipped;
/// * padding objects and disabled apps are reported and skipped;
/// * apps without a kernel version TLV, apps needing an incompatible kernel,
///   headers without a program and apps whose fixed flash address is not
///   where their binary actually sits are reported as [`Outcome::Refused`].
///
/// Every step advances by at least 16 bytes, so the walk ends after at most
/// `area.len() / 16` items. Afterwards [`AppWalk::end`] says why it ended.
///
/// ```
/// use kernel::tbf::{AppWalk, KernelVersion, Outcome, WalkEnd};
///
/// let flash = [0xFFu8; 256]; // erased: no apps
/// let mut walk = AppWalk::new(&flash, 0x8010_0000, KernelVersion::new(2, 0));
/// for item in walk.by_ref() {
///     match item.outcome {
///         Outcome::Load(_header) => { /* create a process */ }
///         _other => { /* report why item.address was skipped */ }
///     }
/// }
/// assert_eq!(walk.end(), Some(WalkEnd::NotATbf { version: 0xFFFF }));
/// ```
#[derive(Clone, Debug)]
pub struct AppWalk<'a> {
    area: &'a [u8],
    base: u32,
    offset: usize,
    kernel: KernelVersion,
    end: Option<WalkEnd>,
}

/// One TBF found by [`AppWalk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkItem<'a> {
    /// Address of the TBF's first byte.
    pub address: u32,
    /// Length of the TBF in bytes (its `total_size`).
    pub length: u32,
    /// The TBF's bytes (`length` of them).
    pub bytes: &'a [u8],
    /// What the kernel should do with it.
    pub outcome: Outcome<'a>,
}

/// The verdict on one TBF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A valid, enabled, compatible app: load it.
    Load(TbfHeader<'a>),
    /// A padding object; nothing to load.
    Padding,
    /// A valid app with the enabled flag clear; not started.
    Disabled(TbfHeader<'a>),
    /// The header does not parse; skipped.
    Invalid(TbfError),
    /// A valid header the kernel will not load, and why.
    Refused(TbfHeader<'a>, Refusal),
}

/// Why a valid app is not loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The header has no kernel version TLV.
    NoKernelVersion,
    /// The app needs a kernel this one is not compatible with.
    IncompatibleKernel {
        /// Version the app asks for.
        required: KernelVersion,
        /// Version of this kernel.
        kernel: KernelVersion,
    },
    /// The header has neither a Program nor a Main TLV.
    NoProgram,
    /// The app is linked for a fixed flash address other than the address
    /// at which its binary sits.
    WrongFlashAddress {
        /// Address from the fixed addresses TLV.
        fixed: u32,
        /// Where the binary actually starts.
        actual: u32,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoKernelVersion => f.write_str("no kernel version in the header"),
            Refusal::IncompatibleKernel { required, kernel } => {
                write!(f, "needs kernel {required}, this is {kernel}")
            }
            Refusal::NoProgram => f.write_str("no program in the header"),
            Refusal::WrongFlashAddress { fixed, actual } => {
                write!(
                    f,
                    "linked for flash {fixed:#010x} but sits at {actual:#010x}"
                )
            }
        }
    }
}

/// Why an [`AppWalk`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WalkEnd {
    /// The last TBF ended exactly at the end of the area.
    EndOfArea,
    /// Fewer bytes are left than a base header needs.
    Truncated {
        /// Bytes left in the area.
        remaining: usize,
    },
    /// No TBF header here (erased flash or something else).
    NotATbf {
        /// The version field found.
        version: u16,
    },
    /// The `total_size` found is below 16 or runs past the area.
    BadTotalSize {
        /// The `total_size` found.
        total_size: u32,
    },
    /// The next address does not fit in 32 bits.
    AddressOverflow,
}

impl fmt::Display for WalkEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkEnd::EndOfArea => f.write_str("end of the app flash area"),
            WalkEnd::Truncated { remaining } => write!(f, "{remaining} stray bytes at the end"),
            WalkEnd::NotATbf { version } => write!(f, "no more apps (version word {version:#06x})"),
            WalkEnd::BadTotalSize { total_size } => {
                write!(f, "TBF total size {total_size} does not fit the area")
            }
            WalkEnd::AddressOverflow => f.write_str("address overflow"),
        }
    }
}

impl<'a> AppWalk<'a> {
    /// A walk over `area`, whose first byte is at address `base`, for a
    /// kernel of version `kernel`.
    pub fn new(area: &'a [u8], base: u32, kernel: KernelVersion) -> AppWalk<'a> {
        AppWalk {
            area,
            base,
            offset: 0,
            kernel,
            end: None,
        }
    }

    /// Why the walk ended, or `None` while it has not.
    pub fn end(&self) -> Option<WalkEnd> {
        self.end
    }

    /// Address where the next TBF is looked for; once the walk has ended,
    /// the first address after the last TBF found. Saturates at
    /// `u32::MAX` when that address is past the top of the address space.
    pub fn position(&self) -> u32 {
        u32::try_from(self.offset)
            .ok()
            .and_then(|o| self.base.checked_add(o))
            .unwrap_or(u32::MAX)
    }

    /// The verdict on a TBF that sits at `address` and parsed as `header`.
    fn judge(&self, header: TbfHeader<'a>, address: u32) -> Outcome<'a> {
        if header.is_padding() {
            return Outcome::Padding;
        }
        if !header.enabled() {
            return Outcome::Disabled(header);
        }
        let refuse = |why| Outcome::Refused(header, why);
        let Some(required) = header.kernel_version() else {
            return refuse(Refusal::NoKernelVersion);
        };
        if !required.is_compatible_with(self.kernel) {
            return refuse(Refusal::IncompatibleKernel {
                required,
                kernel: self.kernel,
            });
        }
        if !header.has_program() {
            return refuse(Refusal::NoProgram);
        }
        if let Some(fixed) = header.fixed_flash_address() {
            let actual = header.app_binary_start(address);
            if fixed != actual {
                return refuse(Refusal::WrongFlashAddress { fixed, actual });
            }
        }
        Outcome::Load(header)
    }

    fn step(&mut self) -> Result<WalkItem<'a>, WalkEnd> {
        let rest = self.area.get(self.offset..).unwrap_or(&[]);
        if rest.is_empty() {
            return Err(WalkEnd::EndOfArea);
        }
        let address = u32::try_from(self.offset)
            .ok()
            .and_then(|o| self.base.checked_add(o))
            .ok_or(WalkEnd::AddressOverflow)?;
        let truncated = WalkEnd::Truncated {
            remaining: rest.len(),
        };
        let version = le_u16(rest, 0).ok_or(truncated)?;
        if version != TBF_VERSION {
            return Err(WalkEnd::NotATbf { version });
        }
        let total_size = le_u32(rest, 4).ok_or(truncated)?;
        let length = usize::try_from(total_size).unwrap_or(usize::MAX);
        if length < BASE_HEADER_SIZE || length > rest.len() {
            return Err(WalkEnd::BadTotalSize { total_size });
        }
        // The TBF must end inside the 32-bit address space.
        if address.checked_add(total_size - 1).is_none() {
            return Err(WalkEnd::AddressOverflow);
        }
        let bytes = rest
            .get(..length)
            .ok_or(WalkEnd::BadTotalSize { total_size })?;
        let outcome = match TbfHeader::parse(bytes) {
            Ok(header) => self.judge(header, address),
            Err(e) => Outcome::Invalid(e),
        };
        self.offset += length;
        Ok(WalkItem {
            address,
            length: total_size,
            bytes,
            outcome,
        })
    }
}

impl<'a> Iterator for AppWalk<'a> {
    type Item = WalkItem<'a>;

    fn next(&mut self) -> Option<WalkItem<'a>> {
        if self.end.is_some() {
            return None;
        }
        match self.step() {
            Ok(item) => Some(item),
            Err(end) => {
                self.end = Some(end);
                None
            }
        }
    }
}

impl core::iter::FusedIterator for AppWalk<'_> {}
