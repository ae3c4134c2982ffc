//! SPIM0 against a model of the SPIM with the DK's MX25R6435F behind it
//! (the shared NOR model of `spi_nor::model`): EasyDMA from the Data RAM
//! only, `MAXCNT` at most 16 bits, `END` once both buffers are done,
//! full duplex with `ORC` clocked out after the transmit buffer; one
//! transfer per chip-select cycle. The whole SPI NOR driver runs on top.

mod model;

use std::cell::Cell;

use kernel::deferred_call::DeferredCalls;
use kernel::hil::flash::{Error, Flash};
use kernel::ErrorCode;
use model::{buffer, leak, Block, FlashRecorder, SimRam, Violations};
use nrf52840::dma::{in_ram, MAX_COUNT};
use nrf52840::spim::{ChipSelect, Pins, Spim, SpimRegisters, BUFFER, ENABLE_SPIM, ORC};
use spi_nor::model::{Nor, Part};
use spi_nor::{SpiNor, SpiTransport, MX25R6435F_ID, SECTOR};

const START: usize = 0x010;
const STOP: usize = 0x014;
const END: usize = 0x118;
const ENABLE: usize = 0x500;
const RXD_PTR: usize = 0x534;
const RXD_MAXCNT: usize = 0x538;
const RXD_AMOUNT: usize = 0x53C;
const TXD_PTR: usize = 0x544;
const TXD_MAXCNT: usize = 0x548;
const TXD_AMOUNT: usize = 0x54C;
const ORC_REG: usize = 0x5C0;

/// The chip-select GPIO.
#[derive(Default)]
struct Cs {
    selected: Cell<bool>,
    /// Transfers in the current chip-select cycle.
    transfers: Cell<u32>,
    cycles: Cell<u32>,
    violations: Violations,
}

impl ChipSelect for Cs {
    fn select(&self) {
        if self.selected.replace(true) {
            self.violations.add("selected twice");
        }
        self.transfers.set(0);
    }
    fn deselect(&self) {
        if self.selected.replace(false) {
            self.cycles.set(self.cycles.get() + 1);
        }
    }
}

struct SpimModel {
    regs: Block,
    ram: &'static SimRam,
    cs: &'static Cs,
    nor: &'static Nor,
    /// Waits a transfer takes.
    latency: u32,
    /// Waits left of the transfer in progress.
    busy: Cell<Option<u32>>,
    /// Fault: `END` never comes.
    hang: Cell<bool>,
    stopped: Cell<u32>,
    violations: Violations,
}

impl SpimModel {
    fn step(&self) {
        let r = self.regs;
        if r.take_task(STOP) {
            self.busy.set(None);
            self.stopped.set(self.stopped.get() + 1);
        }
        if r.take_task(START) {
            if r.get(ENABLE) != ENABLE_SPIM {
                self.violations.add("START while disabled");
            }
            if !self.cs.selected.get() {
                self.violations.add("transfer without chip select");
            }
            self.cs.transfers.set(self.cs.transfers.get() + 1);
            if self.cs.transfers.get() > 1 {
                self.violations
                    .add("two transfers in one chip-select cycle");
            }
            self.busy.set(Some(self.latency));
        }
        match self.busy.get() {
            Some(0) if !self.hang.get() => {
                self.busy.set(None);
                self.exchange();
                r.set(END, 1);
            }
            Some(0) => {}
            Some(n) => self.busy.set(Some(n - 1)),
            None => {}
        }
    }

    fn exchange(&self) {
        let r = self.regs;
        let (tp, tn) = (r.get(TXD_PTR), r.get(TXD_MAXCNT) as usize);
        let (rp, rn) = (r.get(RXD_PTR), r.get(RXD_MAXCNT) as usize);
        for (what, p, n) in [("TXD", tp, tn), ("RXD", rp, rn)] {
            if n > MAX_COUNT {
                self.violations
                    .add(format!("{what}.MAXCNT {n:#x} > 16 bits"));
            }
            if n > 0 && !in_ram(p, n) {
                self.violations.add(format!("{what}.PTR {p:#x} not in RAM"));
                return;
            }
        }
        if r.get(ORC_REG) != u32::from(ORC) {
            self.violations.add("ORC is not 0xFF");
        }
        let tx = self.ram.read(tp, tn).unwrap_or_default();
        let mut rx = vec![0xFF; rn];
        if rn > tn {
            if self.nor.command(&tx, &mut rx[tn..]).is_err() {
                rx.fill(0xFF);
            }
        } else {
            let _ = self.nor.command(&tx, &mut []);
        }
        if rn > 0 {
            self.ram.write(rp, &rx);
        }
        r.set(TXD_AMOUNT, tn as u32);
        r.set(RXD_AMOUNT, rn as u32);
    }
}

type Transport = Spim<&'static SimRam, &'static Cs>;

struct Setup {
    model: &'static SpimModel,
    spim: &'static Transport,
    nor: &'static Nor,
    cs: &'static Cs,
}

fn setup_with(nor: Nor) -> Setup {
    let (regs, block) = Block::new::<SpimRegisters>();
    let ram = SimRam::new();
    let cs: &'static Cs = leak(Cs::default());
    let nor: &'static Nor = leak(nor);
    let model: &'static SpimModel = leak(SpimModel {
        regs: block,
        ram,
        cs,
        nor,
        latency: 3,
        busy: Cell::new(None),
        hang: Cell::new(false),
        stopped: Cell::new(0),
        violations: Violations::default(),
    });
    ram.add_device(leak(move || model.step()));
    let tx: &'static mut [u8; BUFFER] = Box::leak(Box::new([0; BUFFER]));
    let rx: &'static mut [u8; BUFFER] = Box::leak(Box::new([0; BUFFER]));
    let spim: &'static Transport = leak(Spim::new(regs, ram, cs, tx, rx));
    spim.initialize(Pins::DK_FLASH);
    Setup {
        model,
        spim,
        nor,
        cs,
    }
}

fn setup() -> Setup {
    setup_with(Nor::blank(Part::MX25R6435F))
}

impl Setup {
    fn assert_clean(&self) {
        self.model.violations.assert_none();
        self.cs.violations.assert_none();
        assert_eq!(self.nor.violations(), Vec::<String>::new());
        assert!(!self.cs.selected.get(), "deselected between transfers");
    }
}

#[test]
fn pins_and_mode_for_the_dk_flash() {
    let s = setup();
    let r = s.model.regs;
    assert_eq!((r.get(0x508), r.get(0x50C), r.get(0x510)), (19, 20, 21));
    assert_eq!(r.get(ENABLE), ENABLE_SPIM);
    assert_eq!(r.get(0x554), 0, "mode 0, MSB first");
}

#[test]
fn a_command_and_its_answer_in_one_transfer() {
    let s = setup();
    let mut id = [0u8; 3];
    s.spim
        .transfer(&[spi_nor::command::READ_ID], &mut id)
        .unwrap();
    assert_eq!(id, MX25R6435F_ID);
    assert_eq!(s.model.regs.get(TXD_MAXCNT), 1);
    assert_eq!(s.model.regs.get(RXD_MAXCNT), 4, "full duplex: 1 + 3");
    assert_eq!(s.cs.cycles.get(), 1);
    s.assert_clean();
}

#[test]
fn transfers_longer_than_the_buffers_are_refused() {
    let s = setup();
    let mut big = vec![0u8; BUFFER];
    assert_eq!(
        s.spim.transfer(&[0x03, 0, 0, 0], &mut big),
        Err(ErrorCode::SIZE)
    );
    assert_eq!(
        s.spim.write(&[0x02, 0, 0, 0], &vec![0; BUFFER]),
        Err(ErrorCode::SIZE)
    );
    assert_eq!(s.cs.cycles.get(), 0, "nothing sent");
}

#[test]
fn a_spim_that_never_ends_fails_the_transfer_and_deselects() {
    let s = setup();
    s.model.hang.set(true);
    let mut id = [0u8; 3];
    assert_eq!(
        s.spim.transfer(&[spi_nor::command::READ_ID], &mut id),
        Err(ErrorCode::FAIL)
    );
    s.model.step();
    assert_eq!(s.model.stopped.get(), 1, "the transfer was stopped");
    assert!(!s.cs.selected.get());
    s.model.hang.set(false);
    s.spim
        .transfer(&[spi_nor::command::READ_ID], &mut id)
        .unwrap();
    assert_eq!(id, MX25R6435F_ID);
}

#[test]
fn buffers_outside_ram_are_not_given_to_easydma() {
    let s = setup();
    s.model.ram.place_at.set(Some(0x0010_0000));
    assert_eq!(
        s.spim.transfer(&[spi_nor::command::READ_STATUS], &mut [0]),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(s.cs.cycles.get(), 0);
    s.model.violations.assert_none();
}

// The SPI NOR driver over SPIM0 over the MX25R6435F model.

struct Stack {
    s: Setup,
    nor: &'static SpiNor<'static, &'static Transport>,
    calls: &'static DeferredCalls<1>,
    client: &'static FlashRecorder,
}

fn stack() -> Stack {
    let s = setup();
    let calls: &'static DeferredCalls<1> = leak(DeferredCalls::new());
    let nor = leak(SpiNor::new(
        s.spim,
        calls.allocate().unwrap(),
        MX25R6435F_ID,
        2048,
    ));
    nor.register_deferred_call();
    let client = leak(FlashRecorder::default());
    nor.set_client(client);
    nor.init().unwrap();
    Stack {
        s,
        nor,
        calls,
        client,
    }
}

impl Stack {
    fn run(&self) {
        let mut n = 0;
        while self.calls.service_next() {
            n += 1;
            assert!(n < 1_000_000, "never finishes");
        }
    }
}

#[test]
fn the_nor_driver_programs_reads_and_erases_the_mx25r6435f() {
    let t = stack();
    let data: Vec<u8> = (0..1000).map(|i| (i * 7 % 256) as u8 & 0xFE).collect();
    let at = 2047 * SECTOR + 0xF0;
    t.nor.program(at, buffer(&data), data.len()).unwrap();
    t.run();
    assert_eq!(*t.client.programs.borrow(), vec![Ok(())]);
    t.nor.read(at, buffer(&[0; 1000]), 1000).unwrap();
    t.run();
    assert_eq!(t.client.reads.borrow()[0], (data.clone(), Ok(())));
    t.nor.erase(2047).unwrap();
    t.run();
    assert_eq!(*t.client.erases.borrow(), vec![(2047, Ok(()))]);
    assert!(t.s.nor.mem.borrow()[(2047 * SECTOR) as usize..]
        .iter()
        .all(|&b| b == 0xFF));
    // 5 page programs (16 + 3 x 256 + 216 bytes), one erase.
    assert_eq!((t.s.nor.programs.get(), t.s.nor.erases.get()), (5, 1));
    t.s.assert_clean();
}

#[test]
fn a_flash_that_stops_answering_fails_the_request_once() {
    let t = stack();
    t.nor.set_poll_limit(20);
    t.s.nor.faults.borrow_mut().stuck = true;
    t.nor.erase(3).unwrap();
    t.run();
    assert_eq!(*t.client.erases.borrow(), vec![(3, Err(Error::Timeout))]);
    // A dead part reads all ones over SPIM (MISO high): a program does not
    // verify rather than hang.
    t.s.nor.faults.borrow_mut().stuck = false;
    t.s.nor.faults.borrow_mut().bus_error = true;
    t.nor.program(0, buffer(&[0; 8]), 8).unwrap();
    t.run();
    assert_eq!(t.client.programs.borrow().len(), 1);
    assert!(t.client.programs.borrow()[0].is_err());
    assert!(!t.nor.is_busy());
}

/// The board's default store on the model: the whole key-value stack
/// (configured as `components::standard` does) over the SPI NOR driver over
/// SPIM0 over the MX25R6435F model (16 sectors here), with the kernel's
/// boot counter as its user, booted three times: formatted once, the
/// count survives each reboot, and neither the SPIM nor the part sees a
/// rule broken.
#[test]
fn the_kv_store_on_the_mx25r6435f_counts_boots() {
    use kernel::policy::{AllowAll, StopFaultPolicy};
    use kernel_mock::Harness;

    let s = setup();
    for boot in 1..=3 {
        let h = Harness::new(1, &StopFaultPolicy, &AllowAll);
        let nor = leak(SpiNor::new(
            s.spim,
            h.deferred.allocate().unwrap(),
            MX25R6435F_ID,
            16,
        ));
        nor.register_deferred_call();
        nor.init().expect("the part answers");
        model::boot_counter_boot(&h, nor, boot, || {}, || nor.is_busy());
    }
    assert_eq!(s.nor.erases.get(), 16, "formatted once");
    s.assert_clean();
}
