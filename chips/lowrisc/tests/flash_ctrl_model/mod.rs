//! A register model of Earl Grey's flash controller (flash_ctrl) and its
//! 1 MiB data flash, written from OpenTitan's documentation, that enforces
//! the part's rules where a lenient emulator would not:
//!
//! * a flash word (8 bytes, its own ECC) may be programmed once between
//!   erases: a second program in a region with ECC on fails the operation
//!   (`PROG_ERR`) and is counted as a double program; programming ANDs
//!   bits;
//! * a program may not cross a 64-byte program window (`PROG_WIN_ERR`,
//!   nothing programmed) and needs the normal program type enabled;
//! * erases are whole pages (2 KiB); bank erase is not enabled;
//! * memory-protection regions (the lowest-numbered enabled region that
//!   covers a page wins, else `DEFAULT_REGION`) allow or deny reads,
//!   programs and erases (`MP_ERR`, nothing done);
//! * completion is `OP_STATUS.DONE` (with `ERR` and `ERR_CODE` on failure)
//!   and the `OP_DONE` interrupt state bit; reads fill a 16-word FIFO the
//!   driver must drain; a new operation while one runs is a violation.
//!
//! Faults: a controller that is slow (`busy_for` status polls), stuck
//! (never done), absent (everything reads 0), that fails the next
//! operation with given `ERR_CODE` bits, or whose region registers are
//! locked; torn words that fail reads with an ECC error. Power cuts: after
//! a budget of mutating flash operations (word programs, page erases) the
//! next one is torn (some of its bits land) and the controller dies; the
//! array survives for the next boot.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use lowrisc::flash_ctrl::{FlashCtrlBus, Reg};

pub const FLASH_SIZE: usize = 1 << 20;
pub const PAGE: usize = 2048;
pub const WORD: usize = 8;
pub const WINDOW: usize = 64;
pub const FIFO: usize = 16;

pub const TRUE: u32 = 0x6;
pub const FALSE: u32 = 0x9;

// ERR_CODE bits.
pub const OP_ERR: u32 = 1 << 0;
pub const MP_ERR: u32 = 1 << 1;
pub const RD_ERR: u32 = 1 << 2;
pub const PROG_ERR: u32 = 1 << 3;
pub const PROG_WIN_ERR: u32 = 1 << 4;
pub const PROG_TYPE_ERR: u32 = 1 << 5;

// OP_STATUS, STATUS and interrupt bits.
pub const DONE: u32 = 1 << 0;
pub const ERR: u32 = 1 << 1;
pub const RD_EMPTY: u32 = 1 << 1;
pub const PROG_EMPTY: u32 = 1 << 3;
pub const INITIALIZED: u32 = 1 << 5;
pub const INTR_OP_DONE: u32 = 1 << 4;

/// What the flash array holds: it survives a power cut.
#[derive(Clone)]
pub struct Array {
    pub mem: Vec<u8>,
    /// Per flash word: programmed since its page was last erased.
    pub programmed: Vec<bool>,
    /// Per flash word: a torn program or erase left its ECC inconsistent.
    pub torn: Vec<bool>,
}

impl Array {
    pub fn blank() -> Array {
        Array {
            mem: vec![0xFF; FLASH_SIZE],
            programmed: vec![false; FLASH_SIZE / WORD],
            torn: vec![false; FLASH_SIZE / WORD],
        }
    }
}

#[derive(Default)]
pub struct Faults {
    /// Every operation stays busy for this many `OP_STATUS` reads.
    pub busy_for: u32,
    /// Operations never finish.
    pub stuck: bool,
    /// No controller: every register reads 0, writes are ignored.
    pub absent: bool,
    /// The next operation fails with these `ERR_CODE` bits.
    pub fail_next: Option<u32>,
    /// Region registers that ignore writes (`REGION_CFG_REGWEN` cleared).
    pub locked_regions: Vec<usize>,
    /// Reads of torn words fail with `RD_ERR` (an uncorrectable ECC
    /// error) instead of returning the bits that landed.
    pub torn_reads_fail: bool,
    /// Mutating operations left before the power goes: the one that finds
    /// 0 is torn and the controller dies.
    pub power_budget: Option<u64>,
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Flash words programmed (each program of a word counts once).
    pub word_programs: u64,
    pub page_erases: u64,
    pub reads: u64,
    /// Programs of a word already programmed since its erase.
    pub double_programs: u64,
    pub window_errors: u64,
    pub mp_denials: u64,
}

#[derive(Clone, Copy, Debug)]
enum Pending {
    Read { next: u32, left: u32 },
    Program { next: u32, left: u32 },
}

#[derive(Default)]
struct Regs {
    intr_state: u32,
    intr_enable: u32,
    initialized: bool,
    control: u32,
    addr: u32,
    prog_type_en: u32,
    mp_cfg: [u32; 8],
    mp_region: [u32; 8],
    default_region: u32,
    op_status: u32,
    err_code: u32,
    err_addr: u32,
    fifo_rst: u32,
    rd_fifo: VecDeque<u32>,
    pending: Option<Pending>,
    /// The running operation's accumulated error bits.
    op_err: u32,
    /// Words of the running program seen (flash word index) to count each
    /// word once per operation.
    op_words: Vec<usize>,
    /// The operation has moved all its data and finishes after `polls`
    /// more `OP_STATUS` reads.
    finishing: Option<u32>,
}

pub struct Model {
    pub array: RefCell<Array>,
    regs: RefCell<Regs>,
    pub faults: RefCell<Faults>,
    pub stats: Cell<Stats>,
    /// The power went: the controller is dead.
    pub dead: Cell<bool>,
    /// What the power cut tore: "program" or "erase".
    pub cut: Cell<Option<&'static str>>,
    /// Things the real controller would not accept from a driver.
    pub violations: RefCell<Vec<String>>,
    seed: Cell<u64>,
}

/// Page permissions decided by the memory protection.
#[derive(Clone, Copy, Debug)]
struct Perm {
    read: bool,
    program: bool,
    erase: bool,
    ecc: bool,
}

impl Model {
    pub fn new(array: Array) -> Model {
        let regs = Regs {
            initialized: true,
            prog_type_en: 0x3,
            mp_cfg: [0x0999_9999; 8],
            // Everything denied outside the configured regions.
            default_region: 0x0099_9999,
            ..Regs::default()
        };
        Model {
            array: RefCell::new(array),
            regs: RefCell::new(regs),
            faults: RefCell::new(Faults::default()),
            stats: Cell::new(Stats::default()),
            dead: Cell::new(false),
            cut: Cell::new(None),
            violations: RefCell::new(Vec::new()),
            seed: Cell::new(0x1234_5678_9abc_def1),
        }
    }

    pub fn blank() -> Model {
        Model::new(Array::blank())
    }

    pub fn leak(self) -> &'static Model {
        Box::leak(Box::new(self))
    }

    fn rand(&self) -> u64 {
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        x
    }

    pub fn set_seed(&self, seed: u64) {
        self.seed.set(seed | 1);
    }

    fn stat(&self, f: impl FnOnce(&mut Stats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    pub fn mp_cfg(&self, region: usize) -> u32 {
        self.regs.borrow().mp_cfg[region]
    }

    pub fn mp_region(&self, region: usize) -> u32 {
        self.regs.borrow().mp_region[region]
    }

    /// Sets a region directly (another agent, e.g. the ROM, configured it).
    pub fn set_region(&self, region: usize, base: u32, size: u32, cfg: u32) {
        let mut r = self.regs.borrow_mut();
        r.mp_region[region] = base | size << 9;
        r.mp_cfg[region] = cfg;
    }

    pub fn intr_state(&self) -> u32 {
        self.regs.borrow().intr_state
    }

    /// The permissions of `page` under the current protection.
    fn perm(r: &Regs, page: usize) -> Perm {
        let field = |v: u32, shift: u32| (v >> shift) & 0xF == TRUE;
        for i in 0..8 {
            let cfg = r.mp_cfg[i];
            let base = (r.mp_region[i] & 0x1FF) as usize;
            let size = ((r.mp_region[i] >> 9) & 0x3FF) as usize;
            if field(cfg, 0) && (base..base + size).contains(&page) {
                return Perm {
                    read: field(cfg, 4),
                    program: field(cfg, 8),
                    erase: field(cfg, 12),
                    ecc: field(cfg, 20),
                };
            }
        }
        let d = r.default_region;
        Perm {
            read: field(d, 0),
            program: field(d, 4),
            erase: field(d, 8),
            ecc: field(d, 16),
        }
    }

    /// Takes one unit of the power budget: false if the power goes now.
    fn power(&self) -> bool {
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

    /// Ends the running operation with `err` bits (0: success).
    fn finish(&self, r: &mut Regs, err: u32) {
        r.pending = None;
        r.op_err |= err;
        r.finishing = Some(self.faults.borrow().busy_for);
    }

    /// Fills the read FIFO from the running read.
    fn fill(&self, r: &mut Regs) {
        while r.rd_fifo.len() < FIFO {
            let Some(Pending::Read { next, left }) = r.pending else {
                return;
            };
            let a = next as usize;
            let array = self.array.borrow();
            let word = u32::from_le_bytes(array.mem[a..a + 4].try_into().unwrap());
            if array.torn[a / WORD] && self.faults.borrow().torn_reads_fail {
                r.op_err |= RD_ERR;
                r.err_addr = next;
            }
            drop(array);
            r.rd_fifo.push_back(word);
            if left == 1 {
                let err = r.op_err;
                self.finish(r, err);
            } else {
                r.pending = Some(Pending::Read {
                    next: next + 4,
                    left: left - 1,
                });
            }
        }
    }

    fn start(&self, r: &mut Regs, control: u32) {
        if r.pending.is_some() || r.finishing.is_some() {
            self.violation(format!("operation {control:#x} started while another runs"));
            return;
        }
        r.op_err = 0;
        r.op_words.clear();
        let fail = self.faults.borrow_mut().fail_next.take();
        if let Some(bits) = fail {
            return self.finish(r, bits);
        }
        let op = (control >> 4) & 3;
        let erase_bank = control & (1 << 7) != 0;
        let info = control & (1 << 8) != 0;
        let words = ((control >> 16) & 0xFFF) + 1;
        let addr = r.addr & 0xF_FFFC;
        if info {
            // Only the data partition is modelled.
            return self.finish(r, OP_ERR);
        }
        let end = addr as usize + 4 * words as usize;
        if end > FLASH_SIZE && op != 2 {
            return self.finish(r, OP_ERR);
        }
        let pages = addr as usize / PAGE..=(end - 1) / PAGE;
        match op {
            0 => {
                if !pages.clone().all(|p| Self::perm(r, p).read) {
                    self.stat(|s| s.mp_denials += 1);
                    return self.finish(r, MP_ERR);
                }
                self.stat(|s| s.reads += 1);
                r.pending = Some(Pending::Read {
                    next: addr,
                    left: words,
                });
                self.fill(r);
            }
            1 => {
                if r.prog_type_en & 1 == 0 {
                    return self.finish(r, PROG_TYPE_ERR);
                }
                let (first, last) = (addr / 4, addr / 4 + words - 1);
                if first / 16 != last / 16 {
                    self.stat(|s| s.window_errors += 1);
                    return self.finish(r, PROG_WIN_ERR);
                }
                if !pages.clone().all(|p| Self::perm(r, p).program) {
                    self.stat(|s| s.mp_denials += 1);
                    return self.finish(r, MP_ERR);
                }
                r.pending = Some(Pending::Program {
                    next: addr,
                    left: words,
                });
            }
            2 => {
                if erase_bank {
                    self.stat(|s| s.mp_denials += 1);
                    return self.finish(r, MP_ERR);
                }
                let page = (r.addr as usize % FLASH_SIZE) / PAGE;
                if !Self::perm(r, page).erase {
                    self.stat(|s| s.mp_denials += 1);
                    return self.finish(r, MP_ERR);
                }
                self.erase(page);
                if self.dead.get() {
                    return;
                }
                self.finish(r, 0);
            }
            _ => self.finish(r, OP_ERR),
        }
    }

    fn erase(&self, page: usize) {
        let mut array = self.array.borrow_mut();
        let words = page * PAGE / WORD..(page + 1) * PAGE / WORD;
        if !self.power() {
            self.cut.set(Some("erase"));
            // Torn: a prefix of the page erased, one word half erased.
            let n = (self.rand() % (PAGE / WORD) as u64) as usize;
            for w in words.clone().take(n) {
                array.mem[w * WORD..(w + 1) * WORD].fill(0xFF);
                array.programmed[w] = false;
                array.torn[w] = false;
            }
            let w = words.start + n;
            let bits = self.rand().to_le_bytes();
            for (i, b) in bits.iter().enumerate() {
                array.mem[w * WORD + i] |= b;
            }
            array.torn[w] = true;
            return;
        }
        for w in words {
            array.mem[w * WORD..(w + 1) * WORD].fill(0xFF);
            array.programmed[w] = false;
            array.torn[w] = false;
        }
        self.stat(|s| s.page_erases += 1);
    }

    fn push(&self, r: &mut Regs, value: u32) {
        let Some(Pending::Program { next, left }) = r.pending else {
            self.violation(format!("program FIFO write {value:#x} without a program"));
            return;
        };
        let a = next as usize;
        let w = a / WORD;
        let ecc = Self::perm(r, a / PAGE).ecc;
        let first_touch = !r.op_words.contains(&w);
        if first_touch {
            r.op_words.push(w);
            let mut array = self.array.borrow_mut();
            if array.programmed[w] {
                self.stat(|s| s.double_programs += 1);
                if ecc {
                    r.op_err |= PROG_ERR;
                    r.err_addr = next;
                }
            }
            array.programmed[w] = true;
            drop(array);
            self.stat(|s| s.word_programs += 1);
            if !self.power() {
                self.cut.set(Some("program"));
                // Torn: some of the new zero bits land, the ECC does not
                // match.
                let mut array = self.array.borrow_mut();
                let keep = self.rand() as u32;
                let bytes = (value | keep).to_le_bytes();
                for (i, b) in bytes.iter().enumerate() {
                    array.mem[a + i] &= b;
                }
                array.torn[w] = true;
                r.pending = None;
                return;
            }
        } else if self.dead.get() {
            return;
        }
        let mut array = self.array.borrow_mut();
        for (i, b) in value.to_le_bytes().iter().enumerate() {
            array.mem[a + i] &= b;
        }
        drop(array);
        if left == 1 {
            let err = r.op_err;
            self.finish(r, err);
        } else {
            r.pending = Some(Pending::Program {
                next: next + 4,
                left: left - 1,
            });
        }
    }

    fn op_status(&self, r: &mut Regs) -> u32 {
        if let Some(polls) = r.finishing {
            if self.faults.borrow().stuck {
                return r.op_status;
            }
            if polls == 0 {
                r.finishing = None;
                r.op_status |= DONE;
                if r.op_err != 0 {
                    r.op_status |= ERR;
                    r.err_code |= r.op_err;
                }
                r.intr_state |= INTR_OP_DONE;
            } else {
                r.finishing = Some(polls - 1);
            }
        }
        r.op_status
    }
}

impl FlashCtrlBus for &Model {
    fn read(&self, reg: Reg) -> u32 {
        if self.dead.get() || self.faults.borrow().absent {
            return 0;
        }
        let mut r = self.regs.borrow_mut();
        match reg {
            Reg::IntrState => r.intr_state,
            Reg::IntrEnable => r.intr_enable,
            Reg::Init => r.initialized as u32,
            Reg::Control => r.control,
            Reg::Addr => r.addr,
            Reg::ProgTypeEn => r.prog_type_en,
            Reg::MpRegionCfg(n) => r.mp_cfg.get(n).copied().unwrap_or(0),
            Reg::MpRegion(n) => r.mp_region.get(n).copied().unwrap_or(0),
            Reg::DefaultRegion => r.default_region,
            Reg::OpStatus => self.op_status(&mut r),
            Reg::Status => {
                let mut s = PROG_EMPTY;
                if r.rd_fifo.is_empty() {
                    s |= RD_EMPTY;
                }
                if r.initialized {
                    s |= INITIALIZED;
                }
                s
            }
            Reg::ErrCode => r.err_code,
            Reg::ErrAddr => r.err_addr,
            Reg::FifoRst => r.fifo_rst,
            Reg::ProgFifo => 0,
            Reg::RdFifo => match r.rd_fifo.pop_front() {
                Some(word) => {
                    self.fill(&mut r);
                    word
                }
                None => {
                    drop(r);
                    self.violation("read of an empty read FIFO".into());
                    0
                }
            },
        }
    }

    fn write(&self, reg: Reg, value: u32) {
        if self.dead.get() || self.faults.borrow().absent {
            return;
        }
        let mut r = self.regs.borrow_mut();
        match reg {
            Reg::IntrState => r.intr_state &= !value,
            Reg::IntrEnable => r.intr_enable = value,
            Reg::Init => r.initialized |= value & 1 != 0,
            Reg::Control => {
                r.control = value & !1;
                if value & 1 != 0 {
                    self.start(&mut r, value);
                }
            }
            Reg::Addr => r.addr = value,
            Reg::ProgTypeEn => r.prog_type_en = value,
            Reg::MpRegionCfg(n) | Reg::MpRegion(n)
                if self.faults.borrow().locked_regions.contains(&n) => {}
            Reg::MpRegionCfg(n) => {
                if let Some(c) = r.mp_cfg.get_mut(n) {
                    *c = value;
                }
            }
            Reg::MpRegion(n) => {
                if let Some(c) = r.mp_region.get_mut(n) {
                    *c = value;
                }
            }
            Reg::DefaultRegion => r.default_region = value,
            Reg::OpStatus => r.op_status = value,
            Reg::ErrCode => r.err_code &= !value,
            Reg::FifoRst => {
                r.fifo_rst = value;
                if value & 1 != 0 {
                    r.rd_fifo.clear();
                }
            }
            Reg::ProgFifo => self.push(&mut r, value),
            Reg::Status | Reg::ErrAddr | Reg::RdFifo => {
                drop(r);
                self.violation(format!("write to read-only {reg:?}"));
            }
        }
    }
}
