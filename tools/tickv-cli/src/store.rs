//! The engine on the in-memory window: the `blocking::Flash` adapter for
//! the flash simulator, and the translation of engine errors into messages.

use flashsim::{SimError, SimFlash};
use tickv::blocking::Flash;
use tickv::{Error, FlashFault, FlashOp, IndexEntry};

use crate::error::CliError;
use crate::image::{human_size, Window};

/// Scratch buffer size: large enough that most values move in one request.
pub const SCRATCH: usize = 16 << 10;
/// Upper bound on index entries (12 bytes each), so that huge stores do not
/// allocate without limit. Below it the index holds every possible key and
/// the statistics are exact.
pub const MAX_INDEX: usize = 1 << 22;

/// Index entries for a store: one per smallest possible record (as the
/// engine sizes it) that fits in the regions' data areas, capped.
pub fn index_entries(g: &tickv::Geometry) -> usize {
    let Ok(kv) = tickv::TicKV::new(*g, &mut []) else {
        return 1; // `build` reports the geometry error.
    };
    let records = g.region_count * (g.region_size - kv.header_span()) / kv.record_extent(0);
    records.clamp(1, MAX_INDEX)
}

/// The flash simulator as the engine's flash, remembering the last failure
/// so that it can be explained.
pub struct SimDev {
    /// The simulated flash holding the window.
    pub sim: SimFlash,
    /// The last request the simulator refused.
    pub last_fault: Option<(FlashOp, usize, SimError)>,
}

impl SimDev {
    /// A simulator over a copy of the window's bytes (strict mode: a program
    /// over a word that is not erased is refused rather than merged).
    pub fn new(window: &Window) -> Result<SimDev, CliError> {
        let g = window.geometry;
        let geometry = flashsim::Geometry {
            region_size: g.region_size,
            region_count: g.region_count,
            program_unit: g.program_unit,
            erase_value: 0xFF,
        };
        let sim = SimFlash::from_image(geometry, window.original.clone())
            .map_err(|e| CliError::new("geometry", e))?;
        Ok(SimDev {
            sim,
            last_fault: None,
        })
    }

    fn note<T>(
        &mut self,
        op: FlashOp,
        addr: usize,
        r: Result<T, SimError>,
    ) -> Result<T, FlashFault> {
        r.map_err(|e| {
            self.last_fault = Some((op, addr, e));
            FlashFault
        })
    }
}

impl Flash for SimDev {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        let r = self.sim.read(addr, buf);
        self.note(FlashOp::Read, addr, r)
    }

    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
        let r = self.sim.program(addr, data);
        self.note(FlashOp::Program, addr, r)
    }

    fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
        let r = self.sim.erase(region);
        self.note(FlashOp::Erase, region, r)
    }
}

/// Storage an engine borrows: the index and the scratch buffer.
pub struct Buffers {
    /// Index entries.
    pub index: Vec<IndexEntry>,
    /// Scratch buffer.
    pub scratch: Vec<u8>,
}

impl Buffers {
    /// Buffers sized for `g`.
    pub fn new(g: &tickv::Geometry) -> Buffers {
        Buffers {
            index: vec![IndexEntry::default(); index_entries(g)],
            scratch: vec![0; SCRATCH],
        }
    }
}

/// The engine bundled with the simulator.
pub type Store<'a> = tickv::blocking::Store<'a, 'a, SimDev>;

/// Builds the store over the window (not mounted yet).
pub fn build<'a>(window: &Window, bufs: &'a mut Buffers) -> Result<Store<'a>, CliError> {
    let kv = tickv::TicKV::new(window.geometry, &mut bufs.index).map_err(|e| {
        CliError::new(
            "geometry",
            format!("the engine rejects this geometry ({e:?})"),
        )
    })?;
    Ok(tickv::blocking::Store::new(
        kv,
        SimDev::new(window)?,
        &mut bufs.scratch,
    ))
}

/// Mounts the store, explaining why it cannot be mounted.
pub fn mount(store: &mut Store<'_>, window: &Window) -> Result<(), CliError> {
    store.mount().map_err(|e| explain(e, store, window))
}

/// Read-only flash over a byte slice, for probing the image with the engine
/// under other geometries. Bytes past the slice read as erased (so that a
/// window shorter than two regions of a larger size can still be probed);
/// programs and erases are refused.
struct Probe<'a>(&'a [u8]);

impl Flash for Probe<'_> {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        buf.fill(0xFF);
        if let Some(src) = self.0.get(addr..) {
            let n = src.len().min(buf.len());
            buf[..n].copy_from_slice(&src[..n]);
        }
        Ok(())
    }

    fn program(&mut self, _addr: usize, _data: &[u8]) -> Result<(), FlashFault> {
        Err(FlashFault)
    }

    fn erase(&mut self, _region: usize) -> Result<(), FlashFault> {
        Err(FlashFault)
    }
}

/// The region size and program unit the store in the window was formatted
/// with, when the engine reports headers of another geometry: found by
/// letting the engine mount the window under each geometry it supports until
/// one finds a region header that is valid for it. (The tool does not decode
/// region headers itself.)
fn formatted_geometry(window: &Window) -> Option<(usize, usize)> {
    let bytes = window.original.as_slice();
    let mut scratch = vec![0u8; tickv::MIN_SCRATCH];
    // Largest first: few regions to survey, and the usual mismatch is a
    // --region-size smaller than the real one.
    for region_log2 in (8..=24).rev() {
        let region_size = 1usize << region_log2;
        let region_count = (bytes.len() / region_size).max(2);
        for unit in [1, 2, 4, 8, 16, 32] {
            let g = tickv::Geometry {
                region_size,
                region_count,
                program_unit: unit,
            };
            if g == window.geometry {
                continue;
            }
            let Ok(kv) = tickv::TicKV::new(g, &mut []) else {
                continue;
            };
            let flash = Probe(&bytes[..bytes.len().min(region_size * region_count)]);
            let mut probe = tickv::blocking::Store::new(kv, flash, &mut scratch);
            match probe.mount() {
                Err(
                    Error::NotFormatted
                    | Error::GeometryMismatch
                    | Error::V1Store
                    | Error::InvalidGeometry,
                ) => {}
                // Mounted, or got past the headers (a rollback it could
                // not write): a valid header for this geometry exists.
                _ => return Some((region_size, unit)),
            }
        }
    }
    None
}

/// Turns an engine error into a message for the user.
pub fn explain(e: Error, store: &Store<'_>, window: &Window) -> CliError {
    let max = store.kv.max_value_len();
    match e {
        Error::NotFormatted => CliError::new(
            "not_formatted",
            format!(
                "no TicKV store found in {}: the window holds no version-2 region header \
                 (blank or foreign data, or wrong --offset/--region-size); run `tickv format` to create one",
                window.describe()
            ),
        ),
        Error::V1Store => CliError::new(
            "v1_store",
            format!(
                "{} holds an upstream TicKV version-1 store, which this engine does not mount; \
                 nothing was changed. Convert it with `tickv import-v1` (in place: `tickv --image FILE import-v1 --format FILE`)",
                window.describe()
            ),
        ),
        Error::GeometryMismatch => {
            let hint = match formatted_geometry(window) {
                Some((region, unit)) => format!(
                    "; its headers say region size {region:#x} ({}) and program unit {unit}: \
                     try --region-size {region:#x} --unit {unit}",
                    human_size(region as u64)
                ),
                None => String::new(),
            };
            CliError::new(
                "geometry_mismatch",
                format!(
                    "the store in {} was formatted for another region size or program unit{hint}",
                    window.describe()
                ),
            )
        }
        Error::NotFound => CliError::new("not_found", "key not found"),
        Error::AlreadyExists => CliError::new("exists", "the key already has a value"),
        Error::TooLarge => CliError::new(
            "too_large",
            format!("value too large: this store accepts values of at most {max} bytes"),
        ),
        Error::NoSpace => {
            let s = store.stats();
            let gc = match s.reclaimable {
                Some(0) => " and nothing is reclaimable".to_string(),
                Some(n) => format!("; `tickv gc` would reclaim {n} bytes"),
                None => "; `tickv gc` may reclaim space".to_string(),
            };
            CliError::new(
                "no_space",
                format!(
                    "store full: the record does not fit ({} bytes free outside the reserve{gc})",
                    s.free_bytes
                ),
            )
        }
        Error::Corrupt => CliError::new(
            "corrupt",
            "the record holding this key's value fails its CRC (run `tickv fsck`)",
        ),
        Error::Flash(op) => {
            let detail = match store.flash.last_fault {
                Some((_, at, why)) => format!(" at {at:#x}: {why}"),
                None => String::new(),
            };
            CliError::new(
                "flash",
                format!(
                    "flash {op:?} failed{detail}; the image is damaged where the engine expected \
                     erased flash (run `tickv fsck`); nothing was written"
                ),
            )
        }
        Error::InvalidGeometry => CliError::new("geometry", "the engine rejects this geometry"),
        other => CliError::new("engine", format!("engine error: {other:?}")),
    }
}
