//! The one simulated flash every store runs on, metered: the simulator's own
//! counters plus the time each access would take on the two device models
//! of `doc/peers.md`.

use std::cell::RefCell;
use std::rc::Rc;

use flashsim::{Counters, SimError, SimFlash};

/// Nanoseconds per 32-bit word programmed on nRF52 internal flash.
pub const NRF_WORD_NS: u64 = 41_000;
/// Nanoseconds per page erase on nRF52 internal flash.
pub const NRF_ERASE_NS: u64 = 85_000_000;
/// SPI NOR at 8 MHz: nanoseconds per byte transferred by a read.
pub const SPI_READ_BYTE_NS: u64 = 1_000;
/// SPI NOR: nanoseconds of command overhead per read.
pub const SPI_COMMAND_NS: u64 = 5_000;
/// SPI NOR: nanoseconds per 256-byte page program.
pub const SPI_PAGE_PROGRAM_NS: u64 = 400_000;
/// SPI NOR: the page a single program command may cover.
pub const SPI_PAGE: usize = 256;
/// SPI NOR: nanoseconds per 4 KiB sector erase.
pub const SPI_SECTOR_ERASE_NS: u64 = 45_000_000;
/// SPI NOR: the erase sector.
pub const SPI_SECTOR: usize = 4096;

/// 32-bit words touched by a program of `len` bytes at `addr`.
pub fn words_touched(addr: usize, len: usize) -> u64 {
    if len == 0 {
        return 0;
    }
    ((addr + len).div_ceil(4) - addr / 4) as u64
}

/// nRF52 time of one program (reads are memory-mapped and counted as free).
pub fn nrf_program_ns(addr: usize, len: usize) -> u64 {
    words_touched(addr, len) * NRF_WORD_NS
}

/// nRF52 time of one region erase (one 4 KiB page per region).
pub fn nrf_erase_ns(region_size: usize) -> u64 {
    region_size.div_ceil(4096) as u64 * NRF_ERASE_NS
}

/// SPI NOR time of one read command.
pub fn spi_read_ns(len: usize) -> u64 {
    SPI_COMMAND_NS + len as u64 * SPI_READ_BYTE_NS
}

/// SPI NOR time of one program: a program that crosses a 256-byte page
/// boundary is split into one page-program command per page it touches.
pub fn spi_program_ns(addr: usize, len: usize) -> u64 {
    if len == 0 {
        return 0;
    }
    let pages = (addr + len - 1) / SPI_PAGE - addr / SPI_PAGE + 1;
    pages as u64 * SPI_PAGE_PROGRAM_NS
}

/// SPI NOR time of one region erase (4 KiB sectors).
pub fn spi_erase_ns(region_size: usize) -> u64 {
    region_size.div_ceil(SPI_SECTOR) as u64 * SPI_SECTOR_ERASE_NS
}

/// Everything measured about a stretch of work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// The simulator's counters.
    pub c: Counters,
    /// Estimated time on nRF52 internal flash.
    pub nrf_ns: u64,
    /// Estimated time on SPI NOR at 8 MHz.
    pub spi_ns: u64,
}

impl Cost {
    /// `self - earlier`.
    pub fn since(&self, earlier: &Cost) -> Cost {
        Cost {
            c: self.c.since(&earlier.c),
            nrf_ns: self.nrf_ns - earlier.nrf_ns,
            spi_ns: self.spi_ns - earlier.spi_ns,
        }
    }

    /// Field-wise sum.
    pub fn add(&mut self, o: &Cost) {
        self.c.reads += o.c.reads;
        self.c.read_bytes += o.c.read_bytes;
        self.c.programs += o.c.programs;
        self.c.program_bytes += o.c.program_bytes;
        self.c.erases += o.c.erases;
        self.c.word_rewrites += o.c.word_rewrites;
        self.nrf_ns += o.nrf_ns;
        self.spi_ns += o.spi_ns;
    }
}

/// The simulated flash with its time meters.
pub struct Meter {
    /// The simulator (strict mode off: rewrites are counted, not refused).
    pub sim: SimFlash,
    nrf_ns: u64,
    spi_ns: u64,
}

/// The meter shared between a store's flash adapter and the benchmark.
pub type Shared = Rc<RefCell<Meter>>;

/// A blank, non-strict flash of `regions` x `region_size` bytes with the
/// given program unit.
pub fn new_flash(region_size: usize, regions: usize, unit: usize) -> Shared {
    let mut sim = SimFlash::new(flashsim::Geometry {
        region_size,
        region_count: regions,
        program_unit: unit,
        erase_value: 0xFF,
    });
    sim.set_strict(false);
    Rc::new(RefCell::new(Meter {
        sim,
        nrf_ns: 0,
        spi_ns: 0,
    }))
}

impl Meter {
    /// The flash's region size.
    pub fn region_size(&self) -> usize {
        self.sim.geometry().region_size
    }

    /// The flash's region count.
    pub fn regions(&self) -> usize {
        self.sim.geometry().region_count
    }

    /// The flash's program unit.
    pub fn unit(&self) -> usize {
        self.sim.geometry().program_unit
    }

    /// Reads, charging the time of a successful read.
    pub fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), SimError> {
        self.sim.read(addr, buf)?;
        self.spi_ns += spi_read_ns(buf.len());
        Ok(())
    }

    /// Programs, charging the time of a successful program.
    pub fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), SimError> {
        self.sim.program(addr, data)?;
        self.nrf_ns += nrf_program_ns(addr, data.len());
        self.spi_ns += spi_program_ns(addr, data.len());
        Ok(())
    }

    /// Erases a region, charging the time of a successful erase.
    pub fn erase(&mut self, region: usize) -> Result<(), SimError> {
        self.sim.erase(region)?;
        let size = self.region_size();
        self.nrf_ns += nrf_erase_ns(size);
        self.spi_ns += spi_erase_ns(size);
        Ok(())
    }

    /// Everything measured since the flash was created.
    pub fn cost(&self) -> Cost {
        Cost {
            c: self.sim.counters(),
            nrf_ns: self.nrf_ns,
            spi_ns: self.spi_ns,
        }
    }
}

/// A program of `data` at a byte address that need not be aligned to the
/// program unit: the data is widened to whole words with the erase value
/// (0xFF leaves programmed bits as they are). This is what a driver for a
/// store that writes at byte granularity has to do; a widened word that was
/// already programmed shows up in `word_rewrites`.
pub fn program_widened(m: &mut Meter, addr: usize, data: &[u8]) -> Result<(), SimError> {
    let unit = m.unit();
    let start = addr - addr % unit;
    let end = (addr + data.len()).div_ceil(unit) * unit;
    if start == addr && end == addr + data.len() {
        return m.program(addr, data);
    }
    let mut buf = vec![0xFF; end - start];
    buf[addr - start..addr - start + data.len()].copy_from_slice(data);
    m.program(start, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nrf_model_counts_words_touched() {
        assert_eq!(words_touched(0, 0), 0);
        assert_eq!(words_touched(0, 4), 1);
        assert_eq!(words_touched(2, 4), 2);
        assert_eq!(words_touched(4, 48), 12);
        assert_eq!(nrf_program_ns(0, 48), 12 * 41_000);
        assert_eq!(nrf_erase_ns(4096), 85_000_000);
    }

    #[test]
    fn spi_model_splits_programs_at_page_boundaries() {
        assert_eq!(spi_read_ns(48), 53_000);
        assert_eq!(spi_program_ns(0, 48), 400_000);
        assert_eq!(spi_program_ns(240, 32), 800_000);
        assert_eq!(spi_program_ns(0, 256), 400_000);
        assert_eq!(spi_program_ns(0, 257), 800_000);
        assert_eq!(spi_erase_ns(4096), 45_000_000);
    }

    #[test]
    fn meter_charges_successful_operations() {
        let f = new_flash(4096, 2, 4);
        let mut m = f.borrow_mut();
        m.program(0, &[0; 8]).unwrap();
        let mut b = [0u8; 8];
        m.read(0, &mut b).unwrap();
        m.erase(1).unwrap();
        let c = m.cost();
        assert_eq!(c.c.programs, 1);
        assert_eq!(c.nrf_ns, 2 * NRF_WORD_NS + NRF_ERASE_NS);
        assert_eq!(
            c.spi_ns,
            spi_read_ns(8) + SPI_PAGE_PROGRAM_NS + SPI_SECTOR_ERASE_NS
        );
        assert!(m.read(8192, &mut b).is_err());
        assert_eq!(m.cost(), c);
    }

    #[test]
    fn widened_programs_keep_neighbouring_bytes() {
        let f = new_flash(4096, 1, 4);
        let mut m = f.borrow_mut();
        program_widened(&mut m, 1, &[0x11, 0x22, 0x33]).unwrap();
        program_widened(&mut m, 4, &[0x44]).unwrap();
        let mut b = [0u8; 8];
        m.read(0, &mut b).unwrap();
        assert_eq!(b, [0xFF, 0x11, 0x22, 0x33, 0x44, 0xFF, 0xFF, 0xFF]);
        assert_eq!(m.cost().c.word_rewrites, 0);
        program_widened(&mut m, 5, &[0x55]).unwrap();
        assert_eq!(m.cost().c.word_rewrites, 1);
    }
}
