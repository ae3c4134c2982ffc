//! A behavioural model of a JEDEC SPI NOR part for host tests (feature
//! `model`), shared by every crate whose driver talks to such a part.
//!
//! It enforces what QEMU's model does not: the write-enable latch is
//! cleared by every program and erase and required before each; the part
//! is busy for a while after each and then ignores everything but status
//! reads; a page program wraps inside its 256-byte page; programming ANDs
//! bits. Faults (stuck busy, a latch that never sets, dropped programs,
//! transport errors) and power cuts (a program or erase torn part way)
//! are injected through [`Faults`]. Everything a real part would not
//! accept is recorded in [`Nor::violations`].

extern crate std;

use core::cell::{Cell, RefCell};
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use kernel::ErrorCode;

use crate::{command, status, SpiTransport, MX25R6435F_ID, PAGE, SECTOR, W25Q80_ID};

/// What a part is: its id, size and how long it stays busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// The JEDEC id `READ_ID` answers.
    pub id: [u8; 3],
    /// Bytes of memory.
    pub size: usize,
    /// Status reads a page program keeps WIP set for.
    pub program_busy: u32,
    /// Status reads a sector erase keeps WIP set for.
    pub erase_busy: u32,
}

impl Part {
    /// A 64 KiB W25Q80-like part that is never busy (the old test part).
    pub const W25Q80_SMALL: Part = Part {
        id: W25Q80_ID,
        size: 64 * 1024,
        program_busy: 0,
        erase_busy: 0,
    };

    /// The nRF52840-DK's 8 MiB Macronix MX25R6435F. Page program takes
    /// about 0.85 ms and a 4 KiB sector erase about 45 ms (datasheet
    /// typical values); a status read over an 8 MHz SPIM with the
    /// driver's overhead takes about 5 us, hence the counts.
    pub const MX25R6435F: Part = Part {
        id: MX25R6435F_ID,
        size: 8 << 20,
        program_busy: 170,
        erase_busy: 9_000,
    };
}

/// Faults to inject.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Every program / erase keeps the part busy for this many status
    /// reads (instead of the part's own figure), if set.
    pub busy_for: Option<u32>,
    /// The part never finishes what it starts.
    pub stuck: bool,
    /// WREN is ignored (write protection).
    pub no_wel: bool,
    /// Programs store nothing.
    pub drop_programs: bool,
    /// Every transfer fails from now on.
    pub bus_error: bool,
    /// Mutating operations (a page program or an erase) left before power
    /// goes: the one that reaches 0 is torn half way and the part dies.
    pub power_budget: Option<u32>,
}

/// The part.
pub struct Nor {
    part: Part,
    /// The memory array.
    pub mem: RefCell<Vec<u8>>,
    wel: Cell<bool>,
    busy_reads: Cell<u32>,
    /// The power went (see [`Faults::power_budget`]).
    pub dead: Cell<bool>,
    /// Faults to inject.
    pub faults: RefCell<Faults>,
    /// Page programs accepted.
    pub programs: Cell<u32>,
    /// Sector erases accepted.
    pub erases: Cell<u32>,
    /// Things a real part would not accept.
    pub violations: RefCell<Vec<String>>,
}

impl Nor {
    /// `part` holding `mem` (`part.size` bytes).
    pub fn new(part: Part, mem: Vec<u8>) -> Nor {
        assert_eq!(mem.len(), part.size, "memory of the part's size");
        Nor {
            part,
            mem: RefCell::new(mem),
            wel: Cell::new(false),
            busy_reads: Cell::new(0),
            dead: Cell::new(false),
            faults: RefCell::new(Faults::default()),
            programs: Cell::new(0),
            erases: Cell::new(0),
            violations: RefCell::new(Vec::new()),
        }
    }

    /// `part`, erased.
    pub fn blank(part: Part) -> Nor {
        Nor::new(part, vec![0xFF; part.size])
    }

    /// The part's description.
    pub fn part(&self) -> Part {
        self.part
    }

    /// The violations so far.
    pub fn violations(&self) -> Vec<String> {
        self.violations.borrow().clone()
    }

    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    fn busy(&self) -> bool {
        self.busy_reads.get() > 0 || self.faults.borrow().stuck
    }

    /// A program or erase is starting: true if it happens in full, false
    /// if the power goes part way (the caller tears it).
    fn start_mutation(&self, busy: u32) -> bool {
        self.wel.set(false);
        self.busy_reads
            .set(self.faults.borrow().busy_for.unwrap_or(busy));
        let mut f = self.faults.borrow_mut();
        match f.power_budget {
            Some(0) => {
                self.dead.set(true);
                false
            }
            Some(n) => {
                f.power_budget = Some(n - 1);
                true
            }
            None => true,
        }
    }

    fn address(&self, bytes: &[u8]) -> Option<usize> {
        let a = bytes.get(..3)?;
        let address = (usize::from(a[0]) << 16) | (usize::from(a[1]) << 8) | usize::from(a[2]);
        Some(address % self.part.size)
    }

    /// One chip-select cycle: `bytes` sent, `rx` clocked in after them.
    pub fn command(&self, bytes: &[u8], rx: &mut [u8]) -> Result<(), ErrorCode> {
        if self.dead.get() || self.faults.borrow().bus_error {
            return Err(ErrorCode::FAIL);
        }
        let Some(&cmd) = bytes.first() else {
            self.violation("empty cycle".into());
            return Ok(());
        };
        if cmd == command::READ_STATUS {
            let busy = self.busy();
            if self.busy_reads.get() > 0 {
                self.busy_reads.set(self.busy_reads.get() - 1);
            }
            let s = (u8::from(busy) * status::WIP) | (u8::from(self.wel.get()) * status::WEL);
            rx.iter_mut().for_each(|b| *b = s);
            return Ok(());
        }
        if self.busy() {
            self.violation(format!("command {cmd:#04x} while busy"));
            return Ok(());
        }
        let size = self.part.size;
        match cmd {
            command::READ_ID => {
                for (b, id) in rx.iter_mut().zip(self.part.id.iter().cycle()) {
                    *b = *id;
                }
            }
            command::WRITE_ENABLE => self.wel.set(!self.faults.borrow().no_wel),
            command::READ => {
                let Some(a) = self.address(&bytes[1..]) else {
                    self.violation("read without an address".into());
                    return Ok(());
                };
                let mem = self.mem.borrow();
                for (i, b) in rx.iter_mut().enumerate() {
                    *b = mem[(a + i) % size];
                }
            }
            command::PAGE_PROGRAM => {
                if !self.wel.get() {
                    self.violation("page program without write enable".into());
                    return Ok(());
                }
                let Some(a) = self.address(&bytes[1..]) else {
                    self.violation("page program without an address".into());
                    return Ok(());
                };
                let data = &bytes[4..];
                let page_len = PAGE as usize;
                if (a % page_len) + data.len() > page_len {
                    self.violation(format!("page program of {} at {a:#x} wraps", data.len()));
                }
                let full = self.start_mutation(self.part.program_busy);
                self.programs.set(self.programs.get() + 1);
                let n = if full { data.len() } else { data.len() / 2 };
                if !self.faults.borrow().drop_programs {
                    let page = a & !(page_len - 1);
                    let mut mem = self.mem.borrow_mut();
                    for (i, d) in data[..n].iter().enumerate() {
                        let at = page + (a + i) % page_len;
                        mem[at] &= d;
                    }
                }
            }
            command::SECTOR_ERASE => {
                if !self.wel.get() {
                    self.violation("sector erase without write enable".into());
                    return Ok(());
                }
                let Some(a) = self.address(&bytes[1..]) else {
                    self.violation("sector erase without an address".into());
                    return Ok(());
                };
                let a = a & !(SECTOR as usize - 1);
                let full = self.start_mutation(self.part.erase_busy);
                self.erases.set(self.erases.get() + 1);
                let n = if full {
                    SECTOR as usize
                } else {
                    SECTOR as usize / 3
                };
                self.mem.borrow_mut()[a..a + n].fill(0xFF);
            }
            other => self.violation(format!("unknown command {other:#04x}")),
        }
        Ok(())
    }
}

impl SpiTransport for Nor {
    fn transfer(&self, tx: &[u8], rx: &mut [u8]) -> Result<(), ErrorCode> {
        self.command(tx, rx)
    }

    fn write(&self, header: &[u8], data: &[u8]) -> Result<(), ErrorCode> {
        let mut all = header.to_vec();
        all.extend_from_slice(data);
        self.command(&all, &mut [])
    }
}
