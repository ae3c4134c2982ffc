//! Upstream Tock `tickv` 2.0.0, used the way Tock's KV stack uses it.

use upstream_tickv::error_codes::ErrorCode;
use upstream_tickv::flash_controller::FlashController;
use upstream_tickv::TicKV;

use crate::device::{program_widened, Shared};

/// Region size: a compile-time parameter of upstream TicKV.
const S: usize = 4096;

/// Stand-in for SipHash-2-4 of `upstream_tickv::MAIN_KEY` (any fixed
/// non-zero 64-bit value serves; the store only compares it).
pub const MAIN_KEY_HASH: u64 = 0x6f2a_95c1_d3b4_7e08;

/// The metered flash as upstream's controller. Upstream writes objects at
/// byte offsets (a 47-byte object for a 32-byte value), so writes are
/// widened to the 4-byte program unit, as a real driver must.
pub struct UpFlash(Shared);

impl FlashController<S> for UpFlash {
    fn read_region(&self, region: usize, buf: &mut [u8; S]) -> Result<(), ErrorCode> {
        self.0
            .borrow_mut()
            .read(region * S, buf)
            .map_err(|_| ErrorCode::ReadFail)
    }
    fn write(&self, address: usize, buf: &[u8]) -> Result<(), ErrorCode> {
        program_widened(&mut self.0.borrow_mut(), address, buf).map_err(|_| ErrorCode::WriteFail)
    }
    fn erase_region(&self, region: usize) -> Result<(), ErrorCode> {
        self.0
            .borrow_mut()
            .erase(region)
            .map_err(|_| ErrorCode::EraseFail)
    }
}

/// Upstream TicKV. Each mount builds a new instance (its only RAM state is
/// the region buffer and an idle state machine).
pub struct Upstream {
    flash: Shared,
    kv: TicKV<'static, UpFlash, S>,
}

fn text(e: ErrorCode) -> String {
    format!("{e:?}")
}

fn instance(flash: &Shared) -> TicKV<'static, UpFlash, S> {
    let size = {
        let m = flash.borrow();
        m.region_size() * m.regions()
    };
    // One 4 KiB buffer per instance; the benchmark builds a bounded number.
    let buf: &'static mut [u8; S] = Box::leak(Box::new([0u8; S]));
    TicKV::new(UpFlash(flash.clone()), buf, size)
}

impl Upstream {
    /// A store on `flash`.
    pub fn new(flash: &Shared) -> Upstream {
        Upstream {
            flash: flash.clone(),
            kv: instance(flash),
        }
    }

    /// Appends, and on a full flash runs upstream's garbage collection once
    /// and retries (what Tock's capsule leaves to its user).
    fn append(&self, key: u64, value: &[u8]) -> Result<(), String> {
        match self.kv.append_key(key, value) {
            Ok(_) => Ok(()),
            Err(ErrorCode::FlashFull) | Err(ErrorCode::RegionFull) => {
                self.kv.garbage_collect().map_err(text)?;
                self.kv.append_key(key, value).map(|_| ()).map_err(text)
            }
            Err(e) => Err(text(e)),
        }
    }
}

impl super::Kv for Upstream {
    fn format(&mut self) -> Result<(), String> {
        // The benchmark formats blank flash only: there `initialise` finds no
        // main key, erases every region and writes the main key.
        self.remount()
    }
    fn remount(&mut self) -> Result<(), String> {
        self.kv = instance(&self.flash);
        self.kv.initialise(MAIN_KEY_HASH).map(|_| ()).map_err(text)
    }
    fn insert(&mut self, key: u64, value: &[u8]) -> Result<(), String> {
        self.append(key, value)
    }
    /// Tock's set: invalidate the old object, then append the new one.
    fn set(&mut self, key: u64, value: &[u8]) -> Result<(), String> {
        match self.kv.invalidate_key(key) {
            Ok(_) | Err(ErrorCode::KeyNotFound) => {}
            Err(e) => return Err(text(e)),
        }
        self.append(key, value)
    }
    fn get(&mut self, key: u64, out: &mut [u8]) -> Result<Option<usize>, String> {
        match self.kv.get_key(key, out) {
            Ok((_, n)) => Ok(Some(n)),
            Err(ErrorCode::KeyNotFound) => Ok(None),
            Err(e) => Err(text(e)),
        }
    }
    fn delete(&mut self, key: u64) -> Result<(), String> {
        match self.kv.invalidate_key(key) {
            Ok(_) | Err(ErrorCode::KeyNotFound) => Ok(()),
            Err(e) => Err(text(e)),
        }
    }
    fn ram(&self) -> Vec<(&'static str, usize)> {
        vec![
            (
                "TicKV struct",
                std::mem::size_of::<TicKV<'static, UpFlash, S>>(),
            ),
            ("region buffer", S),
        ]
    }
}
