//! Process loading: the TBF walk over the app flash area, RAM placement,
//! the board's identity policies, and a report of what happened to every
//! TBF.

use core::fmt;

use super::{Kernel, KERNEL_VERSION, MAX_GRANTS};
use crate::credentials::{
    CredentialsChecker, CredentialsError, NoCredentials, Trust, UnsignedApps,
};
use crate::platform::arch::UserspaceBoundary;
use crate::platform::mpu::MemoryProtection;
use crate::platform::Range;
use crate::process::{CreateError, Process, State};
use crate::storage_permissions::{
    ShortId, ShortIdAssigner, StoragePermissions, StoragePermissionsPolicy,
};
use crate::tbf::{AppWalk, Outcome, TbfHeader};
use crate::utilities::Escaped;

/// What happened to one TBF during [`Kernel::load_processes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadEvent<'a> {
    /// A process was created in slot `index`.
    Loaded {
        /// Slot in the process table.
        index: usize,
        /// Package name.
        name: &'a str,
        /// Its flash (the TBF).
        flash: Range,
        /// Its RAM block.
        ram: Range,
        /// The ShortId the board's policy gave it.
        short_id: ShortId,
        /// Its storage permissions under the board's policy.
        storage: StoragePermissions,
        /// What its credentials established.
        trust: Trust,
    },
    /// The TBF's credentials refuse it (see [`CredentialsError`]).
    BadCredentials {
        /// Address of the TBF.
        address: u32,
        /// Package name.
        name: &'a str,
        /// Why.
        error: CredentialsError,
    },
    /// The walk skipped or refused the TBF at `address`.
    Skipped {
        /// Address of the TBF.
        address: u32,
        /// The walk's verdict.
        outcome: Outcome<'a>,
    },
    /// No RAM could be found for the app (too little left, or its fixed
    /// RAM address lies behind memory already given out).
    NoMemory {
        /// Address of the TBF.
        address: u32,
        /// Package name.
        name: &'a str,
        /// RAM it needs.
        needed: u32,
        /// Its fixed RAM address, if any.
        fixed: Option<u32>,
    },
    /// Another loaded process already has the same fixed ShortId: the
    /// later app is refused, so no two running processes share an
    /// identity (and so each other's stored data).
    DuplicateShortId {
        /// Address of the TBF.
        address: u32,
        /// Package name.
        name: &'a str,
        /// The ShortId the board's policy gave it.
        short_id: ShortId,
        /// The slot of the process that has it.
        holder: usize,
    },
    /// Every process slot is in use.
    NoSlot {
        /// Address of the TBF.
        address: u32,
    },
    /// The architecture refused to start the app.
    StartFailed {
        /// Address of the TBF.
        address: u32,
        /// What went wrong.
        error: CreateError,
    },
}

/// One line per event, without a board prefix or a newline, e.g.
/// `process 0 'kv' flash 0x80100000..0x8010177c ram 0x80300000..0x80300d24
/// shortid 0x5ac3a6b2 storage self-only 0x5ac3a6b2`, or `TBF at 0x80100000
/// ('kv') refused: needs kernel 3.0, this is 2.3`. Padding, which fixed
/// addresses make ordinary, prints as an empty string.
impl fmt::Display for LoadEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadEvent::Loaded {
                index,
                name,
                flash,
                ram,
                short_id,
                storage,
                trust,
            } => {
                let name = Escaped(name);
                write!(
                    f,
                    "process {index} '{name}' flash {:#010x}..{:#010x} ram {:#010x}..{:#010x} \
                     shortid {short_id} storage {storage}",
                    flash.start,
                    flash.end(),
                    ram.start,
                    ram.end()
                )?;
                // Only a signature is worth a word: most apps are unsigned.
                match trust {
                    Trust::Signed { .. } => write!(f, " ({trust})"),
                    Trust::Unverified => Ok(()),
                }
            }
            LoadEvent::BadCredentials {
                address,
                name,
                error,
            } => {
                let name = Escaped(name);
                write!(f, "TBF at {address:#010x} ('{name}') refused: {error}")
            }
            LoadEvent::Skipped { address, outcome } => {
                fn name<'h>(h: &TbfHeader<'h>) -> Escaped<'h> {
                    Escaped(h.package_name().unwrap_or(""))
                }
                match outcome {
                    Outcome::Padding | Outcome::Load(_) => Ok(()),
                    Outcome::Invalid(e) => {
                        write!(f, "TBF at {address:#010x} skipped: invalid header: {e}")
                    }
                    Outcome::Refused(h, why) => {
                        write!(f, "TBF at {address:#010x} ('{}') refused: {why}", name(h))
                    }
                    Outcome::Disabled(h) => {
                        write!(f, "TBF at {address:#010x} ('{}') is disabled", name(h))
                    }
                }
            }
            LoadEvent::NoMemory {
                address,
                name,
                needed,
                fixed,
            } => write!(
                f,
                "TBF at {address:#010x} ('{}') not loaded: no room for {needed} bytes of RAM{}",
                Escaped(name),
                if fixed.is_some() {
                    " at its fixed address"
                } else {
                    ""
                }
            ),
            LoadEvent::DuplicateShortId {
                address,
                name,
                short_id,
                holder,
            } => write!(
                f,
                "TBF at {address:#010x} ('{}') refused: shortid {short_id} is already process {holder}'s",
                Escaped(name)
            ),
            LoadEvent::NoSlot { address } => write!(
                f,
                "TBF at {address:#010x} not loaded: every process slot is in use"
            ),
            LoadEvent::StartFailed { address, error } => {
                write!(f, "TBF at {address:#010x} not started: {error:?}")
            }
        }
    }
}

/// Where the apps are and where their RAM goes: the board's app flash
/// area and process RAM window.
pub struct AppMemory {
    /// The app flash area: a list of TBFs.
    pub flash: &'static [u8],
    /// Address of `flash[0]`.
    pub flash_start: u32,
    /// The process RAM window.
    pub ram: &'static mut [u8],
    /// Address of `ram[0]`.
    pub ram_start: u32,
}

/// Board policies used while loading processes.
pub struct LoadPolicy<'a> {
    /// Checks each TBF's credentials: a TBF it refuses is not loaded.
    pub credentials: &'a dyn CredentialsChecker,
    /// What apps the checker does not find signed by a trusted key get.
    pub unsigned: UnsignedApps,
    /// Assigns each process its ShortId (every app under
    /// [`UnsignedApps::TrustHeaders`], signed apps only otherwise).
    pub short_id: &'a dyn ShortIdAssigner,
    /// Decides each process's storage permissions (likewise).
    pub storage: &'a dyn StoragePermissionsPolicy,
}

impl<'a> LoadPolicy<'a> {
    /// Upstream Tock's development default: no credentials checked, header
    /// TLVs taken as they are, with these identity policies.
    pub fn trusting(
        short_id: &'a dyn ShortIdAssigner,
        storage: &'a dyn StoragePermissionsPolicy,
    ) -> Self {
        LoadPolicy {
            credentials: &NoCredentials,
            unsigned: UnsignedApps::TrustHeaders,
            short_id,
            storage,
        }
    }

    /// The identity of an app with `header` and `trust`.
    fn identity(&self, header: &TbfHeader<'static>, trust: Trust) -> (ShortId, StoragePermissions) {
        match (trust, self.unsigned) {
            (Trust::Unverified, UnsignedApps::NoIdentity) => {
                (ShortId::LocallyUnique, StoragePermissions::null())
            }
            _ => {
                let short_id = self.short_id.assign(header);
                (short_id, self.storage.permissions(header, short_id))
            }
        }
    }
}

impl Kernel {
    /// Loads every app in `memory.flash` (the app flash area) into
    /// `memory.ram` (process RAM), following the TBF loading walk. Apps are
    /// placed in flash order; an app with a fixed RAM address gets exactly
    /// that address (skipping RAM to reach it) or is not loaded. `policy`
    /// gives each its ShortId and storage permissions; `report` hears
    /// about every TBF. Returns the number of processes created. After
    /// this call no more grants can be created.
    pub fn load_processes(
        &self,
        memory: AppMemory,
        policy: &LoadPolicy<'_>,
        boundary: &dyn UserspaceBoundary,
        protection: &dyn MemoryProtection,
        report: &mut dyn FnMut(&LoadEvent<'static>),
    ) -> usize {
        let AppMemory {
            flash,
            flash_start,
            ram,
            ram_start,
        } = memory;
        self.grants_finalized.set(true);
        let grant_slots = MAX_GRANTS.min(
            self.grant_count().max(
                // Slots are indexed by registry position: size for the highest.
                self.grants
                    .iter()
                    .rposition(|g| g.get().is_some())
                    .map_or(0, |i| i + 1),
            ),
        );
        let mut rest: &'static mut [u8] = ram;
        let mut cursor = ram_start;
        let mut loaded = 0;
        for item in AppWalk::new(flash, flash_start, KERNEL_VERSION) {
            let header: TbfHeader<'static> = match item.outcome {
                Outcome::Load(h) => h,
                outcome => {
                    report(&LoadEvent::Skipped {
                        address: item.address,
                        outcome,
                    });
                    continue;
                }
            };
            let name = header.package_name().unwrap_or("");
            let trust = match policy.credentials.check(item.bytes, &header) {
                Ok(trust) => trust,
                Err(error) => {
                    report(&LoadEvent::BadCredentials {
                        address: item.address,
                        name,
                        error,
                    });
                    continue;
                }
            };
            let Some(index) = self
                .processes
                .iter()
                .position(|p| p.state() == State::Unused)
            else {
                report(&LoadEvent::NoSlot {
                    address: item.address,
                });
                break;
            };
            let (short_id, storage) = policy.identity(&header, trust);
            let holder = short_id.id().and_then(|_| {
                self.processes
                    .iter()
                    .position(|p| p.state() != State::Unused && p.short_id() == short_id)
            });
            if let Some(holder) = holder {
                report(&LoadEvent::DuplicateShortId {
                    address: item.address,
                    name,
                    short_id,
                    holder,
                });
                continue;
            }
            let needed = header
                .minimum_ram_size()
                .saturating_add(Process::kernel_overhead(grant_slots))
                .saturating_add(boundary.initial_accessible_bytes());
            let window = Range {
                start: cursor,
                len: u32::try_from(rest.len()).unwrap_or(u32::MAX),
            };
            let fixed = header.fixed_ram_address();
            let Some(block) = protection
                .place_process_ram(window, needed, fixed)
                .filter(|b| window.contains_range(b.start, b.len) && b.len >= needed)
            else {
                report(&LoadEvent::NoMemory {
                    address: item.address,
                    name,
                    needed,
                    fixed,
                });
                continue;
            };
            let skip = (block.start - cursor) as usize;
            let (_, after) = core::mem::take(&mut rest).split_at_mut(skip);
            let (mine, after) = after.split_at_mut(block.len as usize);
            rest = after;
            cursor = block.end();
            let identifier = self.new_identifier();
            match self.processes[index].create(
                index,
                identifier,
                header,
                (item.address, item.bytes),
                mine,
                block.start,
                grant_slots,
                (short_id, storage),
                boundary,
                protection,
            ) {
                Ok(()) => {
                    loaded += 1;
                    self.slot_used(index);
                    report(&LoadEvent::Loaded {
                        index,
                        name,
                        flash: Range {
                            start: item.address,
                            len: item.length,
                        },
                        ram: block,
                        short_id,
                        storage,
                        trust,
                    });
                }
                Err(error) => report(&LoadEvent::StartFailed {
                    address: item.address,
                    error,
                }),
            }
        }
        loaded
    }
}
