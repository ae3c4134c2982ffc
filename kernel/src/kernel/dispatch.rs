//! System call dispatch: one function per class, each answering with the
//! value to write back (the ABI encoding is in [`crate::syscall`]).

use super::Kernel;
use crate::grant::{self, SlotKind};
use crate::platform::Platform;
use crate::process::task::UpcallId;
use crate::process::{Process, State};
use crate::syscall::{ExitCall, Syscall, SyscallReturn, YieldCall};
use crate::ErrorCode;

impl Kernel {
    /// Handles one system call of `process`. Returns the value to write
    /// into its registers, or `None` if nothing is written now (yield,
    /// exit). The board's filter runs first for every class that names a
    /// driver; each class then has its own function.
    pub fn handle_syscall(
        &self,
        process: &Process,
        syscall: Syscall,
        platform: &Platform<'_>,
    ) -> Option<SyscallReturn> {
        process.count_syscall(syscall.class(), syscall.driver());
        let filtered = platform.filter.filter(process, &syscall);
        match syscall {
            Syscall::Yield { which, param } => {
                self.handle_yield(process, which, param);
                None
            }
            Syscall::Exit {
                which,
                completion_code,
            } => self.exit(process, which, completion_code, platform),
            Syscall::Memop { operand, arg0 } => Some(self.memop(process, operand, arg0, platform)),
            Syscall::Command {
                driver,
                command,
                arg0,
                arg1,
            } => Some(
                filtered
                    .and_then(|()| Self::command(process, (driver, command, arg0, arg1), platform))
                    .unwrap_or_else(SyscallReturn::Failure),
            ),
            Syscall::Subscribe {
                driver,
                subdriver,
                upcall_ptr,
                appdata,
            } => {
                let r = filtered.and_then(|()| {
                    self.subscribe(process, driver, subdriver, (upcall_ptr, appdata), platform)
                });
                Some(match r {
                    Ok((f, d)) => SyscallReturn::subscribe_success(f, d),
                    Err(e) => SyscallReturn::subscribe_failure(e, upcall_ptr, appdata),
                })
            }
            Syscall::ReadWriteAllow {
                driver,
                allow,
                ptr,
                size,
            }
            | Syscall::ReadOnlyAllow {
                driver,
                allow,
                ptr,
                size,
            }
            | Syscall::UserspaceReadableAllow {
                driver,
                allow,
                ptr,
                size,
            } => {
                let kind = match syscall {
                    Syscall::ReadOnlyAllow { .. } => SlotKind::ReadOnly,
                    Syscall::UserspaceReadableAllow { .. } => SlotKind::UserspaceReadable,
                    _ => SlotKind::ReadWrite,
                };
                let args = (driver, allow, ptr, size);
                Some(self.allow(process, kind, args, filtered, platform))
            }
        }
    }

    /// Exit: terminate or restart (nothing is written back: the process's
    /// run ends); any other exit number answers NOSUPPORT and the process
    /// goes on.
    fn exit(
        &self,
        process: &Process,
        which: ExitCall,
        completion_code: u32,
        platform: &Platform<'_>,
    ) -> Option<SyscallReturn> {
        match which {
            ExitCall::Terminate => {
                process.stop(State::Terminated, Some(completion_code));
                None
            }
            ExitCall::Restart => {
                self.restart(process, Some(completion_code), platform);
                None
            }
            ExitCall::Other(_) => Some(SyscallReturn::Failure(ErrorCode::NOSUPPORT)),
        }
    }

    /// Command: the driver's answer; NODEVICE for a driver the board does
    /// not have.
    fn command(
        process: &Process,
        (driver, command, arg0, arg1): (u32, u32, u32, u32),
        platform: &Platform<'_>,
    ) -> Result<SyscallReturn, ErrorCode> {
        let d = platform.drivers.driver(driver).ok_or(ErrorCode::NODEVICE)?;
        let pid = process.processid().ok_or(ErrorCode::FAIL)?;
        Ok(d.command(command, arg0, arg1, pid).into_inner())
    }

    fn handle_yield(&self, process: &Process, which: YieldCall, param: u32) {
        match which {
            YieldCall::NoWait => {
                let has_upcall = Self::drop_leading_null_upcalls(process);
                if param != 0 && process.in_app_ram(param, 1) {
                    if let Some((a, _)) = process.ram_offsets(param, 1) {
                        process.with_ram(|ram| ram[a] = u8::from(has_upcall));
                    }
                }
                if has_upcall {
                    process.set_state(State::Yielded);
                }
            }
            YieldCall::Wait => {
                // Null upcalls never wake a yield-wait: drop those queued
                // ahead (later ones are dropped on arrival, see
                // `Process::enqueue`).
                Self::drop_leading_null_upcalls(process);
                process.set_state(State::Yielded);
            }
            YieldCall::WaitFor { driver, subscribe } => {
                process.set_state(State::YieldedFor(UpcallId { driver, subscribe }))
            }
        }
    }

    /// Drops the null upcalls at the head of the queue of `process`;
    /// returns whether a real upcall is then first in line.
    fn drop_leading_null_upcalls(process: &Process) -> bool {
        process
            .with_ram(|ram| {
                process
                    .with_queue(ram, |q, bytes| {
                        while q.get(bytes, 0).is_some_and(|t| t.fn_ptr == 0) {
                            q.remove(bytes, 0);
                        }
                        !q.is_empty()
                    })
                    .unwrap_or(false)
            })
            .unwrap_or(false)
    }

    #[inline(never)]
    fn subscribe(
        &self,
        process: &Process,
        driver: u32,
        subscribe: u32,
        upcall: (u32, u32),
        platform: &Platform<'_>,
    ) -> Result<(u32, u32), ErrorCode> {
        platform.drivers.driver(driver).ok_or(ErrorCode::NODEVICE)?;
        let (slot, info) = self.grant_slot(driver).ok_or(ErrorCode::NOSUPPORT)?;
        if subscribe >= info.count(SlotKind::Upcall) {
            return Err(ErrorCode::NOSUPPORT);
        }
        if !process.valid_upcall_pointer(upcall.0) {
            return Err(ErrorCode::INVAL);
        }
        process
            .with_ram(|ram| {
                let block = grant::block_offset(process, ram, slot, &info, true)?;
                let old = grant::swap_slot(ram, block, &info, SlotKind::Upcall, subscribe, upcall)
                    .ok_or(ErrorCode::NOSUPPORT)?;
                let id = UpcallId { driver, subscribe };
                process.with_queue(ram, |q, bytes| q.retain(bytes, |t| t.id == id));
                Ok(old)
            })
            .unwrap_or(Err(ErrorCode::BUSY))
    }

    #[inline(never)]
    fn allow(
        &self,
        process: &Process,
        kind: SlotKind,
        (driver, allow, ptr, size): (u32, u32, u32, u32),
        filtered: Result<(), ErrorCode>,
        platform: &Platform<'_>,
    ) -> SyscallReturn {
        let r = filtered.and_then(|()| {
            platform.drivers.driver(driver).ok_or(ErrorCode::NODEVICE)?;
            let (slot, info) = self.grant_slot(driver).ok_or(ErrorCode::NOSUPPORT)?;
            if allow >= info.count(kind) {
                return Err(ErrorCode::NOSUPPORT);
            }
            let valid = size == 0
                || process.in_app_ram(ptr, size)
                || (kind == SlotKind::ReadOnly && process.in_app_flash(ptr, size));
            if !valid {
                return Err(ErrorCode::INVAL);
            }
            let old = process
                .with_ram(|ram| {
                    let block = grant::block_offset(process, ram, slot, &info, true)?;
                    grant::swap_slot(ram, block, &info, kind, allow, (ptr, size))
                        .ok_or(ErrorCode::NOSUPPORT)
                })
                .unwrap_or(Err(ErrorCode::BUSY))?;
            if size != 0 && process.in_app_ram(ptr, size) {
                process.raise_allow_high_water(ptr + size);
            }
            Ok(old)
        });
        match r {
            Ok((p, s)) => SyscallReturn::allow_success(p, s),
            Err(e) => SyscallReturn::allow_failure(e, ptr, size),
        }
    }

    fn memop(
        &self,
        process: &Process,
        op: u32,
        arg: u32,
        platform: &Platform<'_>,
    ) -> SyscallReturn {
        use SyscallReturn::{Failure, Success, SuccessU32};
        let header = process.header();
        let flash = process.flash();
        let region = |i: u32| {
            header
                .and_then(|h| h.writeable_regions().nth(i as usize))
                .map(|r| (flash.start.wrapping_add(r.offset), r.size))
        };
        match op {
            0 => match process.brk(arg, platform.protection) {
                Ok(()) => Success,
                Err(e) => Failure(e),
            },
            1 => {
                let old = process.app_break();
                let new = old.checked_add_signed(arg as i32);
                match new.map(|n| process.brk(n, platform.protection)) {
                    Some(Ok(())) => SuccessU32(old),
                    _ => Failure(ErrorCode::NOMEM),
                }
            }
            2 => SuccessU32(process.memory().start),
            3 => SuccessU32(process.memory().end()),
            4 => SuccessU32(flash.start),
            5 => SuccessU32(flash.end()),
            6 => SuccessU32(process.kernel_break()),
            7 => SuccessU32(header.map_or(0, |h| h.writeable_region_count() as u32)),
            8 => region(arg).map_or(Failure(ErrorCode::FAIL), |(s, _)| SuccessU32(s)),
            9 => region(arg).map_or(Failure(ErrorCode::FAIL), |(s, l)| {
                SuccessU32(s.wrapping_add(l))
            }),
            10 => {
                process.set_stack_start(arg);
                Success
            }
            11 => {
                process.set_heap_start(arg);
                Success
            }
            _ => Failure(ErrorCode::NOSUPPORT),
        }
    }
}
