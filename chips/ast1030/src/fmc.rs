//! The FMC (boot SPI flash controller) as the [`SpiTransport`] of the NOR
//! flash on chip select 0.
//!
//! In user (command) mode, CE0's control register selects the chip (`3`)
//! or deselects it (`7`); while selected, every byte written to the CS0
//! window (`0x8000_0000`) goes out on the SPI bus and every byte read
//! from it is clocked in. CONF bit 16 allows writes to CE0. The window
//! accesses are behind the [`Window`] trait so the sequencing is tested
//! on the host.

use kernel::ErrorCode;
use spi_nor::SpiTransport;
use static_ref::StaticRef;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::{register_bitfields, register_structs};

/// Address of the FMC registers.
pub const FMC_BASE: usize = 0x7E62_0000;
/// Address of the CS0 flash window.
pub const CS0_WINDOW: usize = 0x8000_0000;

register_structs! {
    /// The FMC registers the transport uses.
    pub FmcRegisters {
        /// Configuration: write enables per chip select.
        (0x00 => conf: ReadWrite<u32, CONF::Register>),
        (0x04 => _reserved),
        /// CE0 control: command mode and chip select.
        (0x10 => ce0_control: ReadWrite<u32>),
        (0x14 => @END),
    }
}

register_bitfields![u32,
    CONF [
        /// Writes to CE0 allowed.
        CE0_WRITE OFFSET(16) NUMBITS(1) []
    ]
];

/// CE0 control: user mode, chip selected.
pub const USER_SELECTED: u32 = 0x3;
/// CE0 control: user mode, chip deselected.
pub const USER_DESELECTED: u32 = 0x7;

/// Byte accesses to the CS0 window.
pub trait Window {
    /// Sends `byte` (user mode, selected).
    fn write(&self, byte: u8);
    /// Clocks a byte in.
    fn read(&self) -> u8;
}

/// The real CS0 window (ARM targets only).
#[derive(Debug)]
pub struct MmioWindow {
    _private: (),
}

#[cfg(all(target_arch = "arm", target_os = "none"))]
impl MmioWindow {
    /// The window at [`CS0_WINDOW`].
    pub const fn cs0() -> Self {
        MmioWindow { _private: () }
    }
}

#[cfg(all(target_arch = "arm", target_os = "none"))]
impl Window for MmioWindow {
    fn write(&self, byte: u8) {
        // SAFETY: the CS0 window is device memory mapped on ast1030-evb; in
        // user mode a byte write sends the byte and touches no RAM.
        unsafe { core::ptr::write_volatile(CS0_WINDOW as *mut u8, byte) }
    }

    fn read(&self) -> u8 {
        // SAFETY: as above; a byte read clocks one byte in.
        unsafe { core::ptr::read_volatile(CS0_WINDOW as *const u8) }
    }
}

/// The FMC registers (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const FMC: StaticRef<FmcRegisters> =
    // SAFETY: the FMC register block is mapped at `FMC_BASE`.
    unsafe { StaticRef::new(FMC_BASE as *const FmcRegisters) };

/// The FMC driving CE0 in user mode.
pub struct Fmc<W: Window> {
    regs: StaticRef<FmcRegisters>,
    window: W,
}

impl<W: Window> Fmc<W> {
    /// The transport over `regs` and `window`; call [`init`](Self::init)
    /// once.
    pub const fn new(regs: StaticRef<FmcRegisters>, window: W) -> Self {
        Fmc { regs, window }
    }

    /// Allows writes to CE0 and leaves it deselected in user mode.
    pub fn init(&self) {
        self.regs.conf.modify(CONF::CE0_WRITE::SET);
        self.regs.ce0_control.set(USER_DESELECTED);
    }

    /// The window.
    pub fn window(&self) -> &W {
        &self.window
    }

    fn cycle(&self, f: impl FnOnce(&W)) -> Result<(), ErrorCode> {
        if !self.regs.conf.is_set(CONF::CE0_WRITE) {
            return Err(ErrorCode::OFF);
        }
        self.regs.ce0_control.set(USER_SELECTED);
        f(&self.window);
        self.regs.ce0_control.set(USER_DESELECTED);
        Ok(())
    }
}

impl<W: Window> SpiTransport for Fmc<W> {
    fn transfer(&self, tx: &[u8], rx: &mut [u8]) -> Result<(), ErrorCode> {
        self.cycle(|w| {
            tx.iter().for_each(|&b| w.write(b));
            rx.iter_mut().for_each(|b| *b = w.read());
        })
    }

    fn write(&self, header: &[u8], data: &[u8]) -> Result<(), ErrorCode> {
        self.cycle(|w| header.iter().chain(data).for_each(|&b| w.write(b)))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::{Cell, RefCell};
    use static_ref::fake;
    use std::vec::Vec;

    /// Records every window access with the CE0 control value at the time.
    struct Recorder {
        control: &'static Cell<u32>,
        log: RefCell<Vec<(char, u8, u32)>>,
    }

    impl Window for Recorder {
        fn write(&self, byte: u8) {
            self.log.borrow_mut().push(('w', byte, self.control.get()));
        }
        fn read(&self) -> u8 {
            self.log.borrow_mut().push(('r', 0xA5, self.control.get()));
            0xA5
        }
    }

    #[test]
    fn bytes_go_out_only_while_selected() {
        let (regs, mem) = fake::registers::<FmcRegisters, u32>();
        let fmc = Fmc::new(
            regs,
            Recorder {
                control: &mem[4],
                log: RefCell::new(Vec::new()),
            },
        );
        assert_eq!(fmc.transfer(&[0x9F], &mut [0; 3]), Err(ErrorCode::OFF));
        fmc.init();
        assert_eq!(mem[0].get() & (1 << 16), 1 << 16, "CE0 writable");
        assert_eq!(mem[4].get(), USER_DESELECTED);
        let mut rx = [0u8; 2];
        fmc.transfer(&[0x05], &mut rx).unwrap();
        assert_eq!(rx, [0xA5, 0xA5]);
        fmc.write(&[0x02, 0, 1, 0], &[7, 8]).unwrap();
        let log = fmc.window().log.borrow().clone();
        assert_eq!(
            log.iter().map(|&(k, b, _)| (k, b)).collect::<Vec<_>>(),
            [
                ('w', 0x05),
                ('r', 0xA5),
                ('r', 0xA5),
                ('w', 0x02),
                ('w', 0),
                ('w', 1),
                ('w', 0),
                ('w', 7),
                ('w', 8)
            ]
        );
        assert!(log.iter().all(|&(_, _, c)| c == USER_SELECTED));
        assert_eq!(mem[4].get(), USER_DESELECTED, "deselected after");
    }
}
