//! The image file and the store window inside it.
//!
//! Every command works on an in-memory copy of the window
//! `[offset, offset + region_size * regions)`. The file is written only
//! after the whole command succeeded, and only if the window changed, so a
//! failed command leaves the file byte-for-byte as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// Region size used when neither `--region-size` nor a preset gives one.
pub const DEFAULT_REGION_SIZE: u64 = 4096;
/// Program unit used when neither `--unit` nor a preset gives one.
pub const DEFAULT_UNIT: u64 = 4;
/// Region count for a file that `format --create` creates, when neither
/// `--regions` nor a preset gives one.
pub const DEFAULT_NEW_REGIONS: u64 = 16;

/// A named geometry.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// Name on the command line.
    pub name: &'static str,
    /// Store offset in the image.
    pub offset: u64,
    /// Region (erase block) size.
    pub region_size: u64,
    /// Number of regions.
    pub regions: u64,
    /// Program unit.
    pub unit: u64,
    /// Size of a file that `--create` makes.
    pub image_size: u64,
}

/// The QEMU board's store (pflash unit 1: 256 KiB erase blocks, a 32 MiB
/// image; the store is its first 16 blocks), from the board's own
/// description, `boards/qemu_rv32_virt/board.toml`, built into the tool.
pub fn qemu() -> Preset {
    board_preset(
        "qemu",
        include_str!("../../../boards/qemu_rv32_virt/board.toml"),
    )
}

/// The Cortex-M QEMU board's store (the whole 1 MiB SPI NOR: 256 sectors
/// of 4 KiB), from `boards/qemu_ast1030/board.toml`, built into the tool.
pub fn qemu_ast1030() -> Preset {
    board_preset(
        "qemu-ast1030",
        include_str!("../../../boards/qemu_ast1030/board.toml"),
    )
}

/// The nRF52840-DK's store on its MX25R6435F (the first 256 sectors of
/// 4 KiB of the 8 MiB part; a dump of the part is the image), from
/// `boards/nrf52840dk/board.toml`, built into the tool.
pub fn nrf52840dk() -> Preset {
    board_preset(
        "nrf52840dk",
        include_str!("../../../boards/nrf52840dk/board.toml"),
    )
}

/// The store of a board description built into the tool.
fn board_preset(name: &'static str, board: &str) -> Preset {
    // The file is part of this build and checked by the tool's tests: a
    // broken one is a build mistake, not a user's.
    let store = app_layout::BoardFile::parse(board)
        .ok()
        .and_then(|b| b.store)
        .expect("the board description describes the store");
    Preset {
        name,
        offset: store.offset,
        region_size: u64::from(store.region_size),
        regions: u64::from(store.regions),
        unit: u64::from(store.program_unit),
        image_size: store.image_size,
    }
}

/// The geometry options as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--image`.
    pub image: Option<PathBuf>,
    /// `--offset`.
    pub offset: Option<u64>,
    /// `--region-size`.
    pub region_size: Option<u64>,
    /// `--regions`.
    pub regions: Option<u64>,
    /// `--unit`.
    pub unit: Option<u64>,
    /// `--create`.
    pub create: bool,
    /// `--preset`.
    pub preset: Option<Preset>,
}

/// The store window of an image file, read into memory.
#[derive(Debug)]
pub struct Window {
    /// The image file.
    pub path: PathBuf,
    /// Offset of the store in the file.
    pub offset: u64,
    /// The store geometry.
    pub geometry: tickv::Geometry,
    /// The window's bytes as read from the file (all 0xFF for a file that
    /// does not exist yet).
    pub original: Vec<u8>,
    /// `Some(total size)` when the file does not exist and will be created
    /// with that size when the command succeeds.
    pub create_len: Option<u64>,
}

fn geometry_error(message: String) -> CliError {
    CliError::new("geometry", message)
}

impl Window {
    /// Checks the options, resolves defaults and reads the window.
    /// `may_create` is true for the commands that honour `--create`.
    pub fn open(opts: &Options, may_create: bool) -> Result<Window, CliError> {
        let path = opts
            .image
            .clone()
            .ok_or_else(|| CliError::usage("--image FILE is required"))?;
        if opts.create && !may_create {
            return Err(CliError::usage("--create can only be used with format"));
        }
        let preset = opts.preset;
        let offset = opts.offset.or(preset.map(|p| p.offset)).unwrap_or(0);
        let region_size = opts
            .region_size
            .or(preset.map(|p| p.region_size))
            .unwrap_or(DEFAULT_REGION_SIZE);
        let unit = opts.unit.or(preset.map(|p| p.unit)).unwrap_or(DEFAULT_UNIT);

        if !matches!(unit, 1 | 2 | 4 | 8 | 16 | 32) {
            return Err(geometry_error(format!(
                "program unit {unit} is not supported: it must be 1, 2, 4, 8, 16 or 32 bytes"
            )));
        }
        if !region_size.is_power_of_two() {
            return Err(geometry_error(format!(
                "region size {region_size} ({region_size:#x}) is not a power of two"
            )));
        }
        if !(256..=(16 << 20)).contains(&region_size) {
            return Err(geometry_error(format!(
                "region size {region_size} ({region_size:#x}) is out of range: \
                 it must be between 256 bytes and 16 MiB"
            )));
        }

        let file_len = match fs::metadata(&path) {
            Ok(m) if m.is_file() => Some(m.len()),
            Ok(_) => {
                return Err(CliError::new(
                    "io",
                    format!("{}: not a regular file", path.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&path, e)),
        };
        if file_len.is_none() && !opts.create {
            let hint = if may_create {
                " (add --create to create it)"
            } else {
                ""
            };
            return Err(CliError::new(
                "io",
                format!("{}: no such file{hint}", path.display()),
            ));
        }
        if let Some(len) = file_len {
            if offset >= len {
                return Err(geometry_error(format!(
                    "{}: the offset {offset:#x} is at or beyond the end of the file ({len} bytes)",
                    path.display()
                )));
            }
        }

        let regions = match (opts.regions.or(preset.map(|p| p.regions)), file_len) {
            (Some(n), _) => n,
            (None, Some(len)) => (len - offset) / region_size,
            (None, None) => DEFAULT_NEW_REGIONS,
        };
        if regions < 2 {
            let room = match file_len {
                Some(len) => format!(
                    "; the file has room for {} region(s) of {region_size:#x} bytes after offset {offset:#x}",
                    (len - offset) / region_size
                ),
                None => String::new(),
            };
            return Err(geometry_error(format!(
                "a store needs at least 2 regions{room}"
            )));
        }
        let size = regions
            .checked_mul(region_size)
            .filter(|&s| s < (1u64 << 32))
            .ok_or_else(|| {
                geometry_error(format!(
                    "{regions} regions of {region_size:#x} bytes exceed the 4 GiB limit of a store"
                ))
            })?;
        let end = offset
            .checked_add(size)
            .ok_or_else(|| geometry_error("offset + store size overflows".into()))?;

        let create_len = match file_len {
            Some(len) => {
                if len < end {
                    return Err(geometry_error(format!(
                        "{}: the file is {len} bytes, but a store of {regions} regions x {region_size:#x} bytes \
                         at offset {offset:#x} needs {end} bytes; check --offset, --region-size and --regions",
                        path.display()
                    )));
                }
                None
            }
            None => {
                let image_size = preset.map(|p| p.image_size).unwrap_or(end);
                if end > image_size {
                    return Err(geometry_error(format!(
                        "the store ends at {end:#x}, beyond the {image_size}-byte image of the {} preset",
                        preset.map(|p| p.name).unwrap_or("chosen")
                    )));
                }
                Some(image_size)
            }
        };

        let size = size as usize;
        let original = match file_len {
            Some(_) => read_window(&path, offset, size)?,
            None => vec![0xFF; size],
        };
        Ok(Window {
            path,
            offset,
            geometry: tickv::Geometry {
                region_size: region_size as usize,
                region_count: regions as usize,
                program_unit: unit as usize,
            },
            original,
            create_len,
        })
    }

    /// One line describing where the store is.
    pub fn describe(&self) -> String {
        let g = &self.geometry;
        format!(
            "{} at offset {:#x} ({} regions x {}, program unit {})",
            self.path.display(),
            self.offset,
            g.region_count,
            human_size(g.region_size as u64),
            g.program_unit
        )
    }

    /// Writes `image` (the new window contents) back to the file if it
    /// differs from what was read, creating the file if needed. Returns
    /// whether the file was written.
    pub fn commit(&self, image: &[u8]) -> Result<bool, CliError> {
        match self.create_len {
            Some(total) => {
                create_file(&self.path, self.offset, image, total)?;
                Ok(true)
            }
            None if image == self.original.as_slice() => Ok(false),
            None => {
                let write = || -> io::Result<()> {
                    let mut f = OpenOptions::new().write(true).open(&self.path)?;
                    f.seek(SeekFrom::Start(self.offset))?;
                    f.write_all(image)?;
                    f.sync_all()
                };
                write().map_err(|e| io_error(&self.path, e))?;
                Ok(true)
            }
        }
    }
}

fn io_error(path: &Path, e: io::Error) -> CliError {
    CliError::new("io", format!("{}: {e}", path.display()))
}

fn read_window(path: &Path, offset: u64, size: usize) -> Result<Vec<u8>, CliError> {
    let read = || -> io::Result<Vec<u8>> {
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; size];
        f.read_exact(&mut buf)?;
        Ok(buf)
    };
    read().map_err(|e| io_error(path, e))
}

/// Creates the image file: 0xFF everywhere except the window. The file is
/// written under a temporary name and renamed into place, so a failure
/// leaves no file behind.
fn create_file(path: &Path, offset: u64, window: &[u8], total: u64) -> Result<(), CliError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tickv-tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let fill = vec![0xFFu8; 1 << 16];
        let put_fill = |f: &mut File, mut n: u64| -> io::Result<()> {
            while n > 0 {
                let k = n.min(fill.len() as u64) as usize;
                f.write_all(&fill[..k])?;
                n -= k as u64;
            }
            Ok(())
        };
        put_fill(&mut f, offset)?;
        f.write_all(window)?;
        put_fill(&mut f, total - offset - window.len() as u64)?;
        f.sync_all()?;
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the file appeared while the command ran",
            ));
        }
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error(path, e)
    })
}

/// `4 KiB`, `256 KiB`, `4 MiB`, or bytes when not a whole number of KiB.
pub fn human_size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}
