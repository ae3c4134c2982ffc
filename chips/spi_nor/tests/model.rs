//! The SPI NOR driver against the behavioural model of a JEDEC SPI NOR
//! part (`spi_nor::model`, feature `model`): write-enable latch, busy
//! time, page wrap, AND-ing programs, with faults and power cuts.

use std::cell::RefCell;

use kernel::deferred_call::DeferredCalls;
use kernel::hil::flash::{Error, Flash, FlashClient};
use kernel::ErrorCode;
use spi_nor::model::{Nor, Part};
use spi_nor::{SpiNor, SECTOR, W25Q80_ID};

const SIZE: usize = 64 * 1024;
const SECTORS: u32 = (SIZE as u32) / SECTOR;

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

/// A completed read: the data and the outcome.
type ReadDone = (Vec<u8>, Result<(), Error>);

#[derive(Default)]
struct Client {
    reads: RefCell<Vec<ReadDone>>,
    programs: RefCell<Vec<(usize, Result<(), Error>)>>,
    erases: RefCell<Vec<(u32, Result<(), Error>)>>,
    buffers: RefCell<Vec<&'static mut [u8]>>,
}

impl FlashClient for Client {
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.reads.borrow_mut().push((buf[..len].to_vec(), result));
        self.buffers.borrow_mut().push(buf);
    }
    fn program_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.programs.borrow_mut().push((len, result));
        self.buffers.borrow_mut().push(buf);
    }
    fn erase_done(&self, unit: u32, result: Result<(), Error>) {
        self.erases.borrow_mut().push((unit, result));
    }
}

struct Setup {
    nor: &'static Nor,
    driver: &'static SpiNor<'static, &'static Nor>,
    calls: &'static DeferredCalls<1>,
    client: &'static Client,
}

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn buffer(data: &[u8]) -> &'static mut [u8] {
    Box::leak(data.to_vec().into_boxed_slice())
}

fn setup_with(nor: Nor) -> Setup {
    let nor = leak(nor);
    let calls: &'static DeferredCalls<1> = leak(DeferredCalls::new());
    let driver = leak(SpiNor::new(
        nor,
        calls.allocate().unwrap(),
        W25Q80_ID,
        SECTORS,
    ));
    driver.register_deferred_call();
    let client = leak(Client::default());
    driver.set_client(client);
    driver.init().unwrap();
    Setup {
        nor,
        driver,
        calls,
        client,
    }
}

fn setup() -> Setup {
    setup_with(Nor::blank(Part::W25Q80_SMALL))
}

impl Setup {
    /// Runs deferred calls until the driver is idle (bounded).
    fn run(&self) -> usize {
        let mut steps = 0;
        while self.calls.service_next() {
            steps += 1;
            assert!(steps < 1_000_000, "the driver never finishes");
        }
        assert!(!self.driver.is_busy());
        steps
    }

    fn program(&self, offset: u32, data: &[u8]) -> Result<(), Error> {
        self.driver
            .program(offset, buffer(data), data.len())
            .map_err(|(e, _)| e)
            .unwrap();
        self.run();
        self.client.programs.borrow_mut().pop().unwrap().1
    }

    fn erase(&self, unit: u32) -> Result<(), Error> {
        self.driver.erase(unit).unwrap();
        self.run();
        self.client.erases.borrow_mut().pop().unwrap().1
    }

    fn read(&self, offset: u32, len: usize) -> ReadDone {
        self.driver
            .read(offset, buffer(&vec![0; len]), len)
            .map_err(|(e, _)| e)
            .unwrap();
        self.run();
        self.client.reads.borrow_mut().pop().unwrap()
    }

    fn violations(&self) -> Vec<String> {
        self.nor.violations()
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) & 0xFE)
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn init_checks_the_jedec_id() {
    let nor = leak(Nor::blank(Part::W25Q80_SMALL));
    let calls: &'static DeferredCalls<1> = leak(DeferredCalls::new());
    let other = leak(SpiNor::new(
        nor,
        calls.allocate().unwrap(),
        spi_nor::MX25R6435F_ID,
        SECTORS,
    ));
    assert_eq!(other.init(), Err(W25Q80_ID));
    assert_eq!(other.erase(0), Err(ErrorCode::OFF));
    let err = other.read(0, buffer(&[0; 4]), 4).unwrap_err();
    assert_eq!(err.0, ErrorCode::OFF);
    let err = other.program(0, buffer(&[0; 4]), 4).unwrap_err();
    assert_eq!(err.0, ErrorCode::OFF);
}

#[test]
fn programs_are_split_at_pages_and_each_write_enabled() {
    let s = setup();
    s.nor.faults.borrow_mut().busy_for = Some(5);
    for (offset, len) in [(0u32, 4usize), (0xF0, 600), (0x5FC, 8), (0x3000, 4096)] {
        let data = pattern(len, offset as u8);
        assert_eq!(s.program(offset, &data), Ok(()), "{offset:#x}+{len}");
        let (back, result) = s.read(offset, len);
        assert_eq!(result, Ok(()));
        assert_eq!(back, data, "{offset:#x}+{len}");
    }
    // 1 + 4 (0xF0: 16, 256, 256, 72) + 2 + 16 page programs.
    assert_eq!(s.nor.programs.get(), 23);
    assert_eq!(s.violations(), Vec::<String>::new());
    // Nothing outside the programmed ranges changed.
    let mem = s.nor.mem.borrow();
    assert!(mem[0x348..0x5FC].iter().all(|&b| b == 0xFF));
    assert!(mem[0x604..0x3000].iter().all(|&b| b == 0xFF));
}

#[test]
fn erases_wait_for_the_part_and_verify() {
    let s = setup();
    s.nor.faults.borrow_mut().busy_for = Some(300);
    let data = pattern(2 * SECTOR as usize, 3);
    assert_eq!(s.program(SECTOR, &data), Ok(()));
    assert_eq!(s.erase(1), Ok(()));
    let mem = s.nor.mem.borrow().clone();
    assert!(mem[SECTOR as usize..2 * SECTOR as usize]
        .iter()
        .all(|&b| b == 0xFF));
    assert_eq!(
        &mem[2 * SECTOR as usize..3 * SECTOR as usize],
        &data[SECTOR as usize..],
        "the next sector is kept"
    );
    assert_eq!(s.nor.erases.get(), 1);
    assert_eq!(s.violations(), Vec::<String>::new());
}

#[test]
fn reads_of_any_length_and_alignment() {
    let s = setup();
    let data = pattern(1000, 9);
    assert_eq!(s.program(0x100, &data), Ok(()));
    for (offset, len) in [(0x101u32, 1usize), (0x100, 1000), (0x1FF, 513), (0, 0x100)] {
        let (back, result) = s.read(offset, len);
        assert_eq!(result, Ok(()));
        let mem = s.nor.mem.borrow();
        assert_eq!(back, mem[offset as usize..offset as usize + len]);
    }
}

#[test]
fn a_program_that_would_set_bits_fails_to_verify() {
    let s = setup();
    assert_eq!(s.program(0, &[0x00, 0x00, 0xFF, 0xFF]), Ok(()));
    assert_eq!(
        s.program(0, &[0xFF, 0xFF, 0x00, 0x00]),
        Err(Error::VerifyFailed)
    );
    // Same content again is fine (programming ANDs).
    assert_eq!(s.program(0, &[0x00, 0x00, 0x00, 0x00]), Ok(()));
}

#[test]
fn dropped_programs_fail_to_verify() {
    let s = setup();
    s.nor.faults.borrow_mut().drop_programs = true;
    assert_eq!(s.program(0, &[1, 2, 3, 4]), Err(Error::VerifyFailed));
}

#[test]
fn a_part_that_stays_busy_times_out_and_recovers() {
    let s = setup();
    s.driver.set_poll_limit(10);
    s.nor.faults.borrow_mut().stuck = true;
    // The first request starts nothing: the part was idle; the erase
    // starts and never ends.
    assert_eq!(s.erase(0), Err(Error::Timeout));
    assert_eq!(s.program(0, &[0; 4]), Err(Error::Timeout));
    assert_eq!(s.nor.programs.get(), 0, "nothing sent to a busy part");
    s.nor.faults.borrow_mut().stuck = false;
    assert_eq!(s.program(0, &[0; 4]), Ok(()));
    assert_eq!(s.violations(), Vec::<String>::new());
}

#[test]
fn a_latch_that_does_not_set_fails_without_writing() {
    let s = setup();
    s.nor.faults.borrow_mut().no_wel = true;
    assert_eq!(s.program(0, &[0; 4]), Err(Error::ProgramFailed));
    assert_eq!(s.erase(0), Err(Error::EraseFailed));
    assert_eq!(s.nor.programs.get() + s.nor.erases.get(), 0);
    assert_eq!(s.violations(), Vec::<String>::new());
}

#[test]
fn bus_errors_fail_each_operation() {
    let s = setup();
    s.nor.faults.borrow_mut().bus_error = true;
    assert_eq!(s.read(0, 4).1, Err(Error::ReadFailed));
    assert_eq!(s.program(0, &[0; 4]), Err(Error::ProgramFailed));
    assert_eq!(s.erase(0), Err(Error::EraseFailed));
    s.nor.faults.borrow_mut().bus_error = false;
    assert_eq!(s.program(0, &[0; 4]), Ok(()), "usable again");
}

#[test]
fn requests_are_checked_first() {
    let s = setup();
    let rejected = |r: Result<(), (ErrorCode, &'static mut [u8])>| r.unwrap_err().0;
    assert_eq!(
        rejected(s.driver.read(0, buffer(&[0; 4]), 0)),
        ErrorCode::INVAL
    );
    assert_eq!(
        rejected(s.driver.read(0, buffer(&[0; 4]), 5)),
        ErrorCode::SIZE
    );
    assert_eq!(
        rejected(s.driver.read(SIZE as u32 - 2, buffer(&[0; 4]), 4)),
        ErrorCode::INVAL
    );
    assert_eq!(
        rejected(s.driver.program(2, buffer(&[0; 4]), 4)),
        ErrorCode::INVAL
    );
    assert_eq!(
        rejected(s.driver.program(0, buffer(&[0; 6]), 6)),
        ErrorCode::INVAL
    );
    assert_eq!(s.driver.erase(SECTORS), Err(ErrorCode::INVAL));
    s.driver.erase(0).unwrap();
    assert_eq!(s.driver.erase(1), Err(ErrorCode::BUSY));
    assert_eq!(
        rejected(s.driver.read(0, buffer(&[0; 4]), 4)),
        ErrorCode::BUSY
    );
    s.run();
    assert_eq!(s.client.erases.borrow().len(), 1, "exactly one callback");
}

#[test]
fn every_callback_comes_from_a_deferred_call() {
    let s = setup();
    s.driver.program(0, buffer(&[0; 8]), 8).unwrap();
    assert!(s.client.programs.borrow().is_empty());
    s.run();
    assert_eq!(s.client.programs.borrow().len(), 1);
}

/// Cuts the power at every program and erase of a workload in turn: the
/// cut operation is never reported done, and after a reboot the driver
/// reads exactly what the part holds and can erase and program the torn
/// sector again.
#[test]
fn power_cuts_at_every_operation() {
    // Workload: erase sector 2, program 3 pieces over pages, erase 3.
    let workload = |s: &Setup| -> Vec<Result<(), Error>> {
        vec![
            s.erase(2),
            s.program(2 * SECTOR + 0xF8, &pattern(600, 1)),
            s.program(2 * SECTOR + 0x400, &pattern(32, 2)),
            s.erase(3),
            s.program(3 * SECTOR, &pattern(256, 3)),
        ]
    };
    let clean = setup();
    let want = workload(&clean);
    assert!(want.iter().all(|r| r.is_ok()));
    let mutations = clean.nor.programs.get() + clean.nor.erases.get();
    let mut cuts = 0;
    for budget in 0..mutations {
        let s = setup_with(Nor::new(Part::W25Q80_SMALL, pattern(SIZE, 7)));
        s.nor.faults.borrow_mut().power_budget = Some(budget);
        let results = workload(&s);
        assert!(s.nor.dead.get(), "budget {budget}: the power went");
        let first_failed = results.iter().position(|r| r.is_err()).unwrap();
        assert!(
            results[first_failed..].iter().all(|r| r.is_err()),
            "nothing succeeds after the cut: {results:?}"
        );
        // Reboot: the same memory, a fresh part and driver.
        let image = s.nor.mem.borrow().clone();
        let r = setup_with(Nor::new(Part::W25Q80_SMALL, image.clone()));
        let (back, ok) = r.read(0, SIZE);
        assert_eq!(ok, Ok(()));
        assert_eq!(back, image, "reads show the torn state as it is");
        for unit in [2, 3] {
            assert_eq!(r.erase(unit), Ok(()));
            assert_eq!(r.program(unit * SECTOR + 0x10, &pattern(300, 4)), Ok(()));
        }
        assert_eq!(r.violations(), Vec::<String>::new());
        cuts += 1;
    }
    assert!(cuts >= 8, "{cuts}");
}
