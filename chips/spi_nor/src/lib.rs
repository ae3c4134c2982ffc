//! A SPI NOR flash (the common JEDEC command set of the Winbond W25Q80 on
//! QEMU's AST1030 and the Macronix MX25R6435F of the nRF52840-DK) as a
//! [`kernel::hil::flash::Flash`] on 4 KiB sectors.
//!
//! # Commands used
//!
//! | command | byte | what |
//! |---|---|---|
//! | read JEDEC id | `0x9F` | 3 bytes: manufacturer, type, capacity |
//! | read status | `0x05` | bit 0 WIP (busy), bit 1 WEL (write enabled) |
//! | write enable | `0x06` | sets WEL; needed before **every** program and erase |
//! | read | `0x03` + 3 address bytes | any length |
//! | page program | `0x02` + 3 address bytes + 1-256 bytes | bits 1 -> 0 only; wraps inside its 256-byte page |
//! | sector erase | `0x20` + 3 address bytes | 4 KiB to `0xFF` |
//!
//! A part clears WEL at the end of every program and erase and ignores a
//! program or erase while WEL is clear; it is busy (WIP) while it programs
//! or erases and then ignores everything but a status read. QEMU's model
//! does neither (doc/platforms.md), so the driver is tested against a
//! behavioural model that does (`tests/model.rs`).
//!
//! # The driver
//!
//! [`SpiNor`] works over a [`SpiTransport`]: one chip-select cycle that
//! sends bytes and then clocks bytes in. Every request is checked with
//! [`check_request`] / [`check_erase`] and then carried out from a deferred
//! call, a bounded step at a time, so the kernel is never blocked long:
//!
//! * **read**: up to [`READ_CHUNK`] bytes a step.
//! * **program**: split at 256-byte page boundaries. For each piece: wait
//!   until the part is idle, write enable, check that WEL is set (else
//!   [`Error::ProgramFailed`]), page program, poll WIP, then read the
//!   piece back ([`Error::VerifyFailed`] if it differs: also what a
//!   program that needed a 0 -> 1 change gives, as NOR ANDs bits).
//! * **erase**: wait until idle, write enable, check WEL
//!   ([`Error::EraseFailed`]), sector erase, poll WIP, then read the
//!   sector back in [`READ_CHUNK`] steps ([`Error::EraseFailed`] unless
//!   all `0xFF`).
//!
//! Each step reads the status at most [`SPIN_POLLS`] times; after
//! [`DEFAULT_POLL_LIMIT`] steps (see [`SpiNor::set_poll_limit`]) that
//! found the part busy the request fails with [`Error::Timeout`]. A
//! transport error fails the request with the operation's error. The
//! next request waits for the part to be idle first.
//!
//! [`SpiNor::init`] reads the JEDEC id; until it matched, every request
//! answers `OFF`. Every accepted request ends in exactly one callback,
//! from the deferred call, with the driver idle again.

#![no_std]

#[cfg(feature = "model")]
pub mod model;

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::flash::{check_erase, check_request, Error, Flash, FlashClient, Geometry};
use kernel::ErrorCode;
use tock_cells::{OptionalCell, TakeCell};

/// Command bytes.
pub mod command {
    /// Read the JEDEC id (3 bytes).
    pub const READ_ID: u8 = 0x9F;
    /// Read the status register.
    pub const READ_STATUS: u8 = 0x05;
    /// Write enable (sets WEL).
    pub const WRITE_ENABLE: u8 = 0x06;
    /// Read data.
    pub const READ: u8 = 0x03;
    /// Page program.
    pub const PAGE_PROGRAM: u8 = 0x02;
    /// 4 KiB sector erase.
    pub const SECTOR_ERASE: u8 = 0x20;
}

/// Status register bits.
pub mod status {
    /// Write (program or erase) in progress.
    pub const WIP: u8 = 1 << 0;
    /// Write enable latch.
    pub const WEL: u8 = 1 << 1;
}

/// Bytes in a sector (the erase unit).
pub const SECTOR: u32 = 4096;
/// Bytes in a page (the most one page program writes; it wraps inside).
pub const PAGE: u32 = 256;
/// The program unit the driver offers (the part itself programs bytes).
pub const PROGRAM_UNIT: u32 = 4;
/// Bytes read per step.
pub const READ_CHUNK: usize = 256;
/// Status reads per step while the part is busy.
pub const SPIN_POLLS: u32 = 64;
/// Steps that may find the part busy before a request times out (a 4 KiB
/// erase takes up to 400 ms on the MX25R6435F).
pub const DEFAULT_POLL_LIMIT: u32 = 100_000;

/// The JEDEC id of the W25Q80 (QEMU's `w25q80bl`).
pub const W25Q80_ID: [u8; 3] = [0xEF, 0x40, 0x14];
/// The JEDEC id of the MX25R6435F.
pub const MX25R6435F_ID: [u8; 3] = [0xC2, 0x28, 0x17];

/// One chip-select cycle on a SPI bus with the flash on it.
pub trait SpiTransport {
    /// Selects the part, sends `tx`, then clocks `rx.len()` bytes in (none
    /// if empty) and deselects it.
    fn transfer(&self, tx: &[u8], rx: &mut [u8]) -> Result<(), ErrorCode>;

    /// Selects the part, sends `header` then `data`, deselects it.
    fn write(&self, header: &[u8], data: &[u8]) -> Result<(), ErrorCode>;
}

impl<T: SpiTransport + ?Sized> SpiTransport for &T {
    fn transfer(&self, tx: &[u8], rx: &mut [u8]) -> Result<(), ErrorCode> {
        (**self).transfer(tx, rx)
    }

    fn write(&self, header: &[u8], data: &[u8]) -> Result<(), ErrorCode> {
        (**self).write(header, data)
    }
}

/// A command with a 24-bit address.
fn addressed(cmd: u8, address: u32) -> [u8; 4] {
    let a = address.to_be_bytes();
    [cmd, a[1], a[2], a[3]]
}

/// Where a program or erase is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the part to be idle before the next command; `calls`
    /// steps found it busy so far.
    Ready { calls: u32 },
    /// The command was sent; waiting for WIP to clear.
    Busy { calls: u32 },
    /// Reading back what was written, from this many bytes in.
    Verify { pos: u32 },
}

/// The request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Idle,
    Read {
        offset: u32,
        len: usize,
        done: usize,
    },
    /// The piece `[done, done + piece)` of the request is being written.
    Program {
        offset: u32,
        len: usize,
        done: usize,
        piece: usize,
        stage: Stage,
    },
    Erase {
        unit: u32,
        stage: Stage,
    },
}

/// What a status poll found.
enum Poll {
    Idle,
    Busy,
    Failed,
}

/// The SPI NOR driver; see the [crate docs](crate).
pub struct SpiNor<'a, T: SpiTransport> {
    transport: T,
    geometry: Geometry,
    id: [u8; 3],
    ready: Cell<bool>,
    deferred: DeferredCall,
    client: OptionalCell<&'a dyn FlashClient>,
    buffer: TakeCell<'static, [u8]>,
    op: Cell<Op>,
    poll_limit: Cell<u32>,
}

impl<'a, T: SpiTransport> SpiNor<'a, T> {
    /// A driver for the part with JEDEC id `id` behind `transport`,
    /// exposing its first `sectors` 4 KiB sectors. Bind the deferred call
    /// with [`register_deferred_call`](Self::register_deferred_call) and
    /// call [`init`](Self::init) before the first request.
    pub fn new(transport: T, deferred: DeferredCall, id: [u8; 3], sectors: u32) -> Self {
        SpiNor {
            transport,
            geometry: Geometry {
                erase_unit: SECTOR,
                erase_units: sectors,
                program_unit: PROGRAM_UNIT,
                erase_value: 0xFF,
            },
            id,
            ready: Cell::new(false),
            deferred,
            client: OptionalCell::empty(),
            buffer: TakeCell::empty(),
            op: Cell::new(Op::Idle),
            poll_limit: Cell::new(DEFAULT_POLL_LIMIT),
        }
    }

    /// Makes this driver the client of its deferred call.
    pub fn register_deferred_call(&'static self) {
        self.deferred.set_client(self);
    }

    /// Reads the JEDEC id. If it is the expected one the driver is ready;
    /// otherwise it stays off (every request answers `OFF`) and the id
    /// read is returned in the error.
    pub fn init(&self) -> Result<(), [u8; 3]> {
        let mut id = [0u8; 3];
        let ok = self
            .transport
            .transfer(&[command::READ_ID], &mut id)
            .is_ok()
            && id == self.id;
        self.ready.set(ok);
        if ok {
            Ok(())
        } else {
            Err(id)
        }
    }

    /// Sets how many steps may find the part busy before a request fails
    /// with [`Error::Timeout`] (at least 1).
    pub fn set_poll_limit(&self, steps: u32) {
        self.poll_limit.set(steps.max(1));
    }

    /// Whether a request is in flight.
    pub fn is_busy(&self) -> bool {
        self.op.get() != Op::Idle
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn read_status(&self) -> Option<u8> {
        let mut s = [0u8];
        self.transport
            .transfer(&[command::READ_STATUS], &mut s)
            .ok()?;
        Some(s[0])
    }

    /// Up to [`SPIN_POLLS`] status reads until the part is idle.
    fn poll(&self) -> Poll {
        for _ in 0..SPIN_POLLS {
            match self.read_status() {
                None => return Poll::Failed,
                Some(s) if s & status::WIP == 0 => return Poll::Idle,
                Some(_) => {}
            }
        }
        Poll::Busy
    }

    /// Write enable, then checks that the latch is set.
    fn write_enable(&self) -> bool {
        self.transport
            .transfer(&[command::WRITE_ENABLE], &mut [])
            .is_ok()
            && self
                .read_status()
                .is_some_and(|s| s & status::WEL != 0 && s & status::WIP == 0)
    }

    /// Whether `[address, address + expected.len())` reads back as
    /// `expected` (`None`: the read failed).
    fn reads_back(&self, address: u32, expected: &[u8]) -> Option<bool> {
        let mut chunk = [0u8; 32];
        for (i, want) in expected.chunks(chunk.len()).enumerate() {
            let got = &mut chunk[..want.len()];
            let at = address + (i * 32) as u32;
            self.transport
                .transfer(&addressed(command::READ, at), got)
                .ok()?;
            if got != want {
                return Some(false);
            }
        }
        Some(true)
    }

    /// The next stage after a step found the part busy in `stage`.
    fn still_busy(&self, calls: u32) -> Option<u32> {
        let calls = calls + 1;
        (calls < self.poll_limit.get()).then_some(calls)
    }

    fn finish_read(&self, len: usize, result: Result<(), Error>) {
        self.op.set(Op::Idle);
        if let Some(buf) = self.buffer.take() {
            self.client.map(|c| c.read_done(buf, len, result));
        }
    }

    fn finish_program(&self, len: usize, result: Result<(), Error>) {
        self.op.set(Op::Idle);
        if let Some(buf) = self.buffer.take() {
            self.client.map(|c| c.program_done(buf, len, result));
        }
    }

    fn finish_erase(&self, unit: u32, result: Result<(), Error>) {
        self.op.set(Op::Idle);
        self.client.map(|c| c.erase_done(unit, result));
    }

    fn step_read(&self, offset: u32, len: usize, done: usize) {
        let n = READ_CHUNK.min(len - done);
        let ok = self.buffer.map_or(false, |buf| {
            let at = offset + done as u32;
            buf.get_mut(done..done + n).is_some_and(|dst| {
                self.transport
                    .transfer(&addressed(command::READ, at), dst)
                    .is_ok()
            })
        });
        if !ok {
            return self.finish_read(len, Err(Error::ReadFailed));
        }
        if done + n == len {
            self.finish_read(len, Ok(()));
        } else {
            self.op.set(Op::Read {
                offset,
                len,
                done: done + n,
            });
            self.deferred.set();
        }
    }

    fn step_program(&self, offset: u32, len: usize, done: usize, piece: usize, stage: Stage) {
        let address = offset + done as u32;
        let next = |stage| {
            self.op.set(Op::Program {
                offset,
                len,
                done,
                piece,
                stage,
            });
            self.deferred.set();
        };
        match stage {
            Stage::Ready { calls } => match self.poll() {
                Poll::Failed => self.finish_program(len, Err(Error::ProgramFailed)),
                Poll::Busy => match self.still_busy(calls) {
                    Some(calls) => next(Stage::Ready { calls }),
                    None => self.finish_program(len, Err(Error::Timeout)),
                },
                Poll::Idle => {
                    let sent = self.write_enable()
                        && self.buffer.map_or(false, |buf| {
                            buf.get(done..done + piece).is_some_and(|data| {
                                self.transport
                                    .write(&addressed(command::PAGE_PROGRAM, address), data)
                                    .is_ok()
                            })
                        });
                    if sent {
                        self.step_program(offset, len, done, piece, Stage::Busy { calls: 0 });
                    } else {
                        self.finish_program(len, Err(Error::ProgramFailed));
                    }
                }
            },
            Stage::Busy { calls } => match self.poll() {
                Poll::Failed => self.finish_program(len, Err(Error::ProgramFailed)),
                Poll::Busy => match self.still_busy(calls) {
                    Some(calls) => next(Stage::Busy { calls }),
                    None => self.finish_program(len, Err(Error::Timeout)),
                },
                Poll::Idle => {
                    let verified = self.buffer.map_or(None, |buf| {
                        buf.get(done..done + piece)
                            .and_then(|data| self.reads_back(address, data))
                    });
                    match verified {
                        None => self.finish_program(len, Err(Error::ReadFailed)),
                        Some(false) => self.finish_program(len, Err(Error::VerifyFailed)),
                        Some(true) if done + piece == len => self.finish_program(len, Ok(())),
                        Some(true) => {
                            let done = done + piece;
                            let piece = piece_len(offset + done as u32, len - done);
                            self.op.set(Op::Program {
                                offset,
                                len,
                                done,
                                piece,
                                stage: Stage::Ready { calls: 0 },
                            });
                            self.deferred.set();
                        }
                    }
                }
            },
            // Programs verify inside the busy stage.
            Stage::Verify { .. } => self.finish_program(len, Err(Error::VerifyFailed)),
        }
    }

    fn step_erase(&self, unit: u32, stage: Stage) {
        let address = unit * SECTOR;
        let next = |stage| {
            self.op.set(Op::Erase { unit, stage });
            self.deferred.set();
        };
        match stage {
            Stage::Ready { calls } => match self.poll() {
                Poll::Failed => self.finish_erase(unit, Err(Error::EraseFailed)),
                Poll::Busy => match self.still_busy(calls) {
                    Some(calls) => next(Stage::Ready { calls }),
                    None => self.finish_erase(unit, Err(Error::Timeout)),
                },
                Poll::Idle => {
                    let sent = self.write_enable()
                        && self
                            .transport
                            .write(&addressed(command::SECTOR_ERASE, address), &[])
                            .is_ok();
                    if sent {
                        next(Stage::Busy { calls: 0 });
                    } else {
                        self.finish_erase(unit, Err(Error::EraseFailed));
                    }
                }
            },
            Stage::Busy { calls } => match self.poll() {
                Poll::Failed => self.finish_erase(unit, Err(Error::EraseFailed)),
                Poll::Busy => match self.still_busy(calls) {
                    Some(calls) => next(Stage::Busy { calls }),
                    None => self.finish_erase(unit, Err(Error::Timeout)),
                },
                Poll::Idle => next(Stage::Verify { pos: 0 }),
            },
            Stage::Verify { pos } => {
                let erased = [0xFFu8; READ_CHUNK];
                match self.reads_back(address + pos, &erased) {
                    Some(true) if pos + READ_CHUNK as u32 >= SECTOR => {
                        self.finish_erase(unit, Ok(()))
                    }
                    Some(true) => next(Stage::Verify {
                        pos: pos + READ_CHUNK as u32,
                    }),
                    _ => self.finish_erase(unit, Err(Error::EraseFailed)),
                }
            }
        }
    }

    /// Checks a read or program and starts it as `op`.
    fn accept(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
        aligned: bool,
        op: Op,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if let Err(e) = self
            .check_ready()
            .and_then(|()| check_request(&self.geometry, offset, len, buf.len(), aligned))
        {
            return Err((e, buf));
        }
        self.buffer.replace(buf);
        self.op.set(op);
        self.deferred.set();
        Ok(())
    }

    fn check_ready(&self) -> Result<(), ErrorCode> {
        if !self.ready.get() {
            Err(ErrorCode::OFF)
        } else if self.is_busy() {
            Err(ErrorCode::BUSY)
        } else {
            Ok(())
        }
    }
}

/// Bytes of a page program starting at `address` with `remaining` bytes
/// to go: up to the end of the page.
pub fn piece_len(address: u32, remaining: usize) -> usize {
    let to_page_end = (PAGE - address % PAGE) as usize;
    remaining.min(to_page_end)
}

impl<'a, T: SpiTransport> Flash<'a> for SpiNor<'a, T> {
    fn set_client(&self, client: &'a dyn FlashClient) {
        self.client.set(client);
    }

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let op = Op::Read {
            offset,
            len,
            done: 0,
        };
        self.accept(offset, buf, len, false, op)
    }

    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let op = Op::Program {
            offset,
            len,
            done: 0,
            piece: piece_len(offset, len),
            stage: Stage::Ready { calls: 0 },
        };
        self.accept(offset, buf, len, true, op)
    }

    fn erase(&self, unit: u32) -> Result<(), ErrorCode> {
        self.check_ready()?;
        check_erase(&self.geometry, unit)?;
        self.op.set(Op::Erase {
            unit,
            stage: Stage::Ready { calls: 0 },
        });
        self.deferred.set();
        Ok(())
    }
}

impl<T: SpiTransport> DeferredCallClient for SpiNor<'_, T> {
    /// Advances the request in flight by one step.
    fn handle_deferred_call(&self) {
        match self.op.get() {
            Op::Idle => {}
            Op::Read { offset, len, done } => self.step_read(offset, len, done),
            Op::Program {
                offset,
                len,
                done,
                piece,
                stage,
            } => self.step_program(offset, len, done, piece, stage),
            Op::Erase { unit, stage } => self.step_erase(unit, stage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_at_page_boundaries() {
        assert_eq!(piece_len(0, 1000), 256);
        assert_eq!(piece_len(0xF0, 1000), 16);
        assert_eq!(piece_len(0x100, 8), 8);
        assert_eq!(piece_len(0x1FC, 4), 4);
        assert_eq!(addressed(0x02, 0x0A_BC_DE), [0x02, 0x0A, 0xBC, 0xDE]);
    }
}
