//! The NVMC driver against a model of the NVMC and its flash: word
//! writes only with `CONFIG = WEN`, aligned, AND-ing bits, at most twice
//! per word between erases; page erases only with `CONFIG = EEN`;
//! `READY` low while a write or erase is in progress (and `CONFIG` not
//! to be changed then); partial erases that add up to a whole one.

mod model;

use std::cell::{Cell, RefCell};

use kernel::deferred_call::DeferredCalls;
use kernel::hil::flash::{Error, Flash};
use kernel::ErrorCode;
use model::{buffer, leak, Block, FlashRecorder, Violations};
use nrf52840::nvmc::{FlashArray, Nvmc, NvmcRegisters, PAGE, PAGE_ERASE_MS};

const READY: usize = 0x400;
const CONFIG: usize = 0x504;
const ERASEPAGE: usize = 0x508;
const ERASEPAGEPARTIAL: usize = 0x518;
const ERASEPAGEPARTIALCFG: usize = 0x51C;
/// What the erase registers hold until the driver writes an address.
const UNWRITTEN: u32 = 0xFFFF_FFFF;
const WEN: u32 = 1;
const EEN: u32 = 2;

/// Writes a 512-byte block may take between erases: the figure of the
/// nRF52 family's specification (nRF52832 `n_WRITE,BLOCK`), kept as a
/// conservative bound; writing every word once is 128.
const BLOCK_BUDGET: u32 = 181;

/// Where the store's pages are in the model (the top 32 KiB).
const BASE: u32 = 0xF8000;
const PAGES: u32 = 8;

struct NvmcModel {
    regs: Block,
    mem: RefCell<Vec<u8>>,
    /// Writes to each word since its page was erased.
    writes: RefCell<Vec<u8>>,
    /// Writes to each 512-byte block since its page was erased.
    block_writes: RefCell<Vec<u32>>,
    /// Ticks (deferred calls) the operation in progress still takes.
    busy: Cell<u32>,
    /// `CONFIG` when it started.
    config_then: Cell<u32>,
    /// Milliseconds of partial erase each page had since its last erase.
    partial: RefCell<Vec<u32>>,
    write_ticks: u32,
    erase_ticks: u32,
    /// Fault: the NVMC never gets ready again.
    stuck: Cell<bool>,
    /// Fault: writes do not change the flash.
    dead_cells: Cell<bool>,
    /// Fault: an erase leaves one word programmed.
    weak_erase: Cell<bool>,
    word_writes: Cell<u32>,
    erases: Cell<u32>,
    partial_erases: Cell<u32>,
    violations: Violations,
}

impl NvmcModel {
    fn new(regs: Block) -> NvmcModel {
        regs.set(READY, 1);
        regs.set(ERASEPAGE, UNWRITTEN);
        regs.set(ERASEPAGEPARTIAL, UNWRITTEN);
        regs.set(ERASEPAGEPARTIALCFG, 10);
        NvmcModel {
            regs,
            mem: RefCell::new(vec![0xFF; (PAGES * PAGE) as usize]),
            writes: RefCell::new(vec![0; (PAGES * PAGE / 4) as usize]),
            block_writes: RefCell::new(vec![0; (PAGES * PAGE / 512) as usize]),
            busy: Cell::new(0),
            config_then: Cell::new(0),
            partial: RefCell::new(vec![0; PAGES as usize]),
            write_ticks: 2,
            erase_ticks: 85,
            stuck: Cell::new(false),
            dead_cells: Cell::new(false),
            weak_erase: Cell::new(false),
            word_writes: Cell::new(0),
            erases: Cell::new(0),
            partial_erases: Cell::new(0),
            violations: Violations::default(),
        }
    }

    fn start(&self, ticks: u32) {
        self.busy.set(ticks.max(1));
        self.config_then.set(self.regs.get(CONFIG));
        self.regs.set(READY, 0);
    }

    fn erase_page(&self, page: usize) {
        let p = page * PAGE as usize;
        self.mem.borrow_mut()[p..p + PAGE as usize].fill(0xFF);
        if self.weak_erase.get() {
            self.mem.borrow_mut()[p + 0x24] = 0xFE;
        }
        let w = p / 4;
        self.writes.borrow_mut()[w..w + PAGE as usize / 4].fill(0);
        let b = p / 512;
        self.block_writes.borrow_mut()[b..b + PAGE as usize / 512].fill(0);
        self.partial.borrow_mut()[page] = 0;
        self.erases.set(self.erases.get() + 1);
    }

    /// The page an erase register names, if it is one of ours.
    fn page_of(&self, address: u32) -> Option<usize> {
        let offset = address.checked_sub(BASE)?;
        if offset % PAGE != 0 || offset >= PAGES * PAGE {
            self.violations
                .add(format!("erase of {address:#x}: not a page of the store"));
            return None;
        }
        Some((offset / PAGE) as usize)
    }

    /// One deferred call's worth of time.
    fn tick(&self) {
        let r = self.regs;
        for (reg, partial) in [(ERASEPAGE, false), (ERASEPAGEPARTIAL, true)] {
            let address = r.get(reg);
            if address == UNWRITTEN {
                continue;
            }
            r.set(reg, UNWRITTEN);
            if r.get(CONFIG) != EEN {
                self.violations.add("erase without CONFIG = EEN");
                continue;
            }
            if self.busy.get() > 0 {
                self.violations.add("erase while busy");
                continue;
            }
            let Some(page) = self.page_of(address) else {
                continue;
            };
            if partial {
                let ms = r.get(ERASEPAGEPARTIALCFG);
                self.partial_erases.set(self.partial_erases.get() + 1);
                let total = self.partial.borrow()[page] + ms;
                self.partial.borrow_mut()[page] = total;
                if total >= PAGE_ERASE_MS {
                    self.erase_page(page);
                }
                self.start(ms);
            } else {
                self.erase_page(page);
                self.start(self.erase_ticks);
            }
        }
        if self.busy.get() > 0 {
            if r.get(CONFIG) != self.config_then.get() {
                self.violations.add("CONFIG changed while busy");
            }
            if !self.stuck.get() {
                self.busy.set(self.busy.get() - 1);
            }
            r.set(READY, u32::from(self.busy.get() == 0));
        }
    }
}

impl FlashArray for NvmcModel {
    fn base(&self) -> u32 {
        BASE
    }

    fn size(&self) -> u32 {
        PAGES * PAGE
    }

    fn read32(&self, offset: u32) -> u32 {
        let o = offset as usize;
        if !o.is_multiple_of(4) {
            self.violations
                .add(format!("unaligned read at {offset:#x}"));
        }
        let mem = self.mem.borrow();
        u32::from_le_bytes(mem[o..o + 4].try_into().unwrap())
    }

    fn write32(&self, offset: u32, value: u32) {
        let o = offset as usize;
        if !o.is_multiple_of(4) {
            self.violations
                .add(format!("unaligned write at {offset:#x}: a fault"));
            return;
        }
        if self.regs.get(CONFIG) != WEN {
            self.violations
                .add(format!("write at {offset:#x} without CONFIG = WEN"));
            return;
        }
        if self.busy.get() > 0 {
            self.violations
                .add(format!("write at {offset:#x} while busy"));
            return;
        }
        let count = self.writes.borrow()[o / 4] + 1;
        self.writes.borrow_mut()[o / 4] = count;
        if count > 2 {
            self.violations.add(format!(
                "word at {offset:#x} written {count} times since its erase"
            ));
        }
        let block = {
            let mut blocks = self.block_writes.borrow_mut();
            blocks[o / 512] += 1;
            blocks[o / 512]
        };
        if block > BLOCK_BUDGET {
            self.violations.add(format!(
                "block at {:#x} written {block} times since its erase",
                o & !511
            ));
        }
        self.word_writes.set(self.word_writes.get() + 1);
        if !self.dead_cells.get() {
            let old = self.read32(offset);
            self.mem.borrow_mut()[o..o + 4].copy_from_slice(&(old & value).to_le_bytes());
        }
        self.start(self.write_ticks);
    }
}

struct Setup {
    model: &'static NvmcModel,
    nvmc: &'static Nvmc<'static, &'static NvmcModel>,
    calls: &'static DeferredCalls<1>,
    client: &'static FlashRecorder,
}

fn setup() -> Setup {
    let (regs, block) = Block::new::<NvmcRegisters>();
    let model = leak(NvmcModel::new(block));
    let calls: &'static DeferredCalls<1> = leak(DeferredCalls::new());
    let nvmc = leak(Nvmc::new(regs, model, calls.allocate().unwrap()));
    nvmc.register_deferred_call();
    let client = leak(FlashRecorder::default());
    nvmc.set_client(client);
    Setup {
        model,
        nvmc,
        calls,
        client,
    }
}

impl Setup {
    /// Time passes and deferred calls run until the driver is idle.
    fn run(&self) -> u32 {
        let mut calls = 0;
        loop {
            self.model.tick();
            if !self.calls.service_next() {
                break;
            }
            calls += 1;
            assert!(calls < 1_000_000, "the driver never finishes");
        }
        assert!(!self.nvmc.is_busy());
        calls
    }

    fn program(&self, offset: u32, data: &[u8]) -> Result<(), Error> {
        self.nvmc
            .program(offset, buffer(data), data.len())
            .map_err(|(e, _)| e)
            .unwrap();
        self.run();
        let results = self.client.programs.take();
        assert_eq!(results.len(), 1, "exactly one callback");
        results[0]
    }

    fn erase(&self, unit: u32) -> Result<(), Error> {
        self.nvmc.erase(unit).unwrap();
        self.run();
        let results = self.client.erases.take();
        assert_eq!(results.len(), 1, "exactly one callback");
        assert_eq!(results[0].0, unit);
        results[0].1
    }

    fn read(&self, offset: u32, len: usize) -> Vec<u8> {
        self.nvmc
            .read(offset, buffer(&vec![0; len]), len)
            .map_err(|(e, _)| e)
            .unwrap();
        self.run();
        let (data, result) = self.client.reads.borrow_mut().pop().unwrap();
        assert_eq!(result, Ok(()));
        data
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) & 0x7F)
        .collect()
}

#[test]
fn geometry_is_pages_of_the_store() {
    let s = setup();
    let g = s.nvmc.geometry();
    assert_eq!(
        (g.erase_unit, g.erase_units, g.program_unit),
        (4096, PAGES, 4)
    );
}

#[test]
fn programs_write_words_with_wen_and_wait_for_ready() {
    let s = setup();
    let data = pattern(600, 1);
    assert_eq!(s.program(0x1F0, &data), Ok(()));
    assert_eq!(s.read(0x1F0, 600), data);
    assert_eq!(s.read(0x1F3, 5), data[3..8].to_vec(), "any alignment");
    assert_eq!(s.model.word_writes.get(), 150);
    assert_eq!(s.model.regs.get(CONFIG), 0, "read-only again");
    s.model.violations.assert_none();
}

#[test]
fn read_now_reads_at_once_and_only_while_idle() {
    let s = setup();
    let data = pattern(64, 9);
    assert_eq!(s.program(0x400, &data), Ok(()));
    let mut now = [0u8; 61];
    assert_eq!(s.nvmc.read_now(0x401, &mut now), Ok(()));
    assert_eq!(now.to_vec(), data[1..62].to_vec(), "any alignment");
    assert!(s.client.reads.borrow().is_empty(), "no callback");
    // Checked as a read is: past the end, or while a program runs.
    let end = PAGES * 4096;
    assert_eq!(s.nvmc.read_now(end - 4, &mut [0; 8]), Err(ErrorCode::INVAL));
    s.nvmc
        .program(0x800, buffer(&data), 64)
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(s.nvmc.read_now(0x400, &mut now), Err(ErrorCode::BUSY));
    s.run();
    assert_eq!(s.client.programs.take(), vec![Ok(())]);
    s.model.violations.assert_none();
}

#[test]
fn words_holding_their_value_are_not_written_again() {
    let s = setup();
    let data = pattern(64, 2);
    assert_eq!(s.program(0, &data), Ok(()));
    assert_eq!(s.program(0, &data), Ok(()));
    assert_eq!(s.program(0, &data), Ok(()));
    assert_eq!(s.model.word_writes.get(), 16, "each word once");
    // Erased words in a request are skipped too.
    let mut sparse = vec![0xFF; 64];
    sparse[8..12].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(s.program(0x100, &sparse), Ok(()));
    assert_eq!(s.model.word_writes.get(), 17);
    s.model.violations.assert_none();
}

#[test]
fn a_page_written_word_by_word_stays_within_every_budget() {
    let s = setup();
    for word in 0..PAGE / 4 {
        let value = (word.wrapping_mul(0x9E37_79B9) & 0x7F7F_7F7F).to_le_bytes();
        assert_eq!(s.program(2 * PAGE + 4 * word, &value), Ok(()));
    }
    assert_eq!(s.model.word_writes.get(), PAGE / 4);
    s.model.violations.assert_none();
}

#[test]
fn the_model_flags_a_third_write_to_a_word() {
    let s = setup();
    for value in [0x7Fu8, 0x3F, 0x1F] {
        // Each clears one more bit: the driver must write (the data
        // differs), and the model counts.
        assert_eq!(s.program(0, &[value, 0xFF, 0xFF, 0xFF]), Ok(()));
    }
    let v = s.model.violations.all();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("written 3 times"), "{v:?}");
}

#[test]
fn a_program_that_would_set_a_bit_writes_nothing() {
    let s = setup();
    assert_eq!(s.program(0, &[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]), Ok(()));
    let before = s.model.word_writes.get();
    assert_eq!(
        s.program(0, &[0, 0, 0, 0, 0x0F, 0x0F, 0x0F, 0x01]).ok(),
        Some(()),
        "clearing more bits of an erased word is fine"
    );
    assert_eq!(
        s.program(0, &[0xFF, 0, 0, 0, 0x0F, 0x0F, 0x0F, 0x00]),
        Err(Error::VerifyFailed)
    );
    assert_eq!(
        s.model.word_writes.get(),
        before + 1,
        "the refused program wrote nothing"
    );
    s.model.violations.assert_none();
}

#[test]
fn a_page_erase_needs_een_and_waits_for_ready() {
    let s = setup();
    assert_eq!(s.program(PAGE, &pattern(PAGE as usize, 3)), Ok(()));
    assert_eq!(s.program(2 * PAGE, &pattern(16, 4)), Ok(()));
    let calls_before = s.calls.service_all();
    assert_eq!(calls_before, 0);
    assert_eq!(s.erase(1), Ok(()));
    assert_eq!(s.model.erases.get(), 1);
    assert!(s.read(PAGE, PAGE as usize).iter().all(|&b| b == 0xFF));
    assert_eq!(
        s.read(2 * PAGE, 16),
        pattern(16, 4),
        "the next page is kept"
    );
    assert_eq!(s.model.regs.get(CONFIG), 0);
    // Erased words can be written again.
    assert_eq!(s.program(PAGE, &pattern(PAGE as usize, 5)), Ok(()));
    s.model.violations.assert_none();
}

#[test]
fn partial_erases_add_up_to_a_whole_one() {
    let s = setup();
    s.nvmc.set_partial_erase(Some(10));
    assert_eq!(s.program(3 * PAGE, &pattern(256, 6)), Ok(()));
    assert_eq!(s.erase(3), Ok(()));
    assert_eq!(s.model.partial_erases.get(), 9, "9 x 10 ms >= 85 ms");
    assert_eq!(s.model.regs.get(ERASEPAGEPARTIALCFG), 10);
    assert!(s.read(3 * PAGE, 256).iter().all(|&b| b == 0xFF));
    s.model.violations.assert_none();
}

#[test]
fn an_nvmc_stuck_busy_times_out_with_one_callback() {
    let s = setup();
    s.nvmc.set_poll_limit(50);
    s.model.stuck.set(true);
    assert_eq!(s.erase(0), Err(Error::Timeout));
    assert_eq!(s.program(0, &[0; 8]), Err(Error::Timeout));
    assert_eq!(s.model.word_writes.get(), 0, "nothing written while busy");
    // The NVMC recovers: the driver returns CONFIG to read-only first.
    s.model.stuck.set(false);
    s.nvmc.set_poll_limit(1000);
    assert_eq!(s.program(0, &[0; 8]), Ok(()));
    assert_eq!(s.model.regs.get(CONFIG), 0);
    assert_eq!(s.erase(0), Ok(()));
    s.model.violations.assert_none();
}

#[test]
fn a_write_that_does_not_take_fails_to_verify() {
    let s = setup();
    s.model.dead_cells.set(true);
    assert_eq!(s.program(0x40, &[1, 2, 3, 4]), Err(Error::VerifyFailed));
    s.model.violations.assert_none();
}

#[test]
fn an_erase_that_leaves_bits_fails() {
    let s = setup();
    assert_eq!(s.program(0x20, &[0; 16]), Ok(()));
    s.model.weak_erase.set(true);
    assert_eq!(s.erase(0), Err(Error::EraseFailed));
    s.model.weak_erase.set(false);
    assert_eq!(s.erase(0), Ok(()));
    s.model.violations.assert_none();
}

#[test]
fn requests_are_checked_first() {
    let s = setup();
    let rejected = |r: Result<(), (ErrorCode, &'static mut [u8])>| r.unwrap_err().0;
    assert_eq!(
        rejected(s.nvmc.program(2, buffer(&[0; 4]), 4)),
        ErrorCode::INVAL
    );
    assert_eq!(
        rejected(s.nvmc.program(0, buffer(&[0; 6]), 6)),
        ErrorCode::INVAL
    );
    assert_eq!(
        rejected(s.nvmc.read(PAGES * PAGE - 2, buffer(&[0; 4]), 4)),
        ErrorCode::INVAL
    );
    assert_eq!(
        rejected(s.nvmc.read(0, buffer(&[0; 4]), 8)),
        ErrorCode::SIZE
    );
    assert_eq!(s.nvmc.erase(PAGES), Err(ErrorCode::INVAL));
    s.nvmc.erase(0).unwrap();
    assert_eq!(s.nvmc.erase(1), Err(ErrorCode::BUSY));
    assert_eq!(
        rejected(s.nvmc.read(0, buffer(&[0; 4]), 4)),
        ErrorCode::BUSY
    );
    s.run();
    assert_eq!(s.client.erases.borrow().len(), 1);
    assert!(s.client.reads.borrow().is_empty());
}

/// The board's `nvmc-store` option on the model: the whole key-value
/// stack (configured as `components::standard` does) over the NVMC driver,
/// with the kernel's boot counter as its user, booted three times over
/// the same flash. The store is formatted on the first boot and the count
/// survives each reboot; the engine never breaks a rule of the NVMC (in
/// particular it writes no word twice).
#[test]
fn the_kv_store_on_internal_flash_counts_boots() {
    use kernel::policy::{AllowAll, StopFaultPolicy};
    use kernel_mock::Harness;

    let (regs, block) = Block::new::<NvmcRegisters>();
    let model = leak(NvmcModel::new(block));
    for boot in 1..=3 {
        let h = Harness::new(1, &StopFaultPolicy, &AllowAll);
        let nvmc = leak(Nvmc::new(regs, model, h.deferred.allocate().unwrap()));
        nvmc.register_deferred_call();
        nvmc.set_partial_erase(Some(10));
        model::boot_counter_boot(&h, nvmc, boot, || model.tick(), || nvmc.is_busy());
    }
    // Formatted once (every page erased in nine 10 ms slices), not again.
    assert_eq!(model.erases.get(), PAGES);
    assert_eq!(model.partial_erases.get(), 9 * PAGES);
    model.violations.assert_none();
}
