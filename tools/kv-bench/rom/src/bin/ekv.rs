//! ekv 1.0.0 with its default compile-time configuration (4 KiB pages, up
//! to 256 pages), one transaction per write.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use ekv::flash::{Flash, PageID};
use ekv::{Config, Database};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use kv_bench_rom::*;

struct Nvmc;

impl Flash for Nvmc {
    type Error = ();
    fn page_count(&self) -> usize {
        REGIONS
    }
    async fn erase(&mut self, page_id: PageID) -> Result<(), ()> {
        flash_erase(page_id.index());
        Ok(())
    }
    async fn read(&mut self, page_id: PageID, offset: usize, data: &mut [u8]) -> Result<(), ()> {
        flash_read(page_id.index() * REGION + offset, data);
        Ok(())
    }
    async fn write(&mut self, page_id: PageID, offset: usize, data: &[u8]) -> Result<(), ()> {
        flash_program(page_id.index() * REGION + offset, data);
        Ok(())
    }
}

static mut DB: MaybeUninit<Database<Nvmc, NoopRawMutex>> = MaybeUninit::uninit();

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut config = Config::default();
    config.random_seed = key(0) as u32;
    // SAFETY: single-threaded start-up; the static is borrowed once.
    let db = unsafe { (*addr_of_mut!(DB)).write(Database::new(Nvmc, config)) };
    block_on(async {
        if db.mount().await.is_err() {
            keep(db.format().await);
        }
        let mut tx = db.write_transaction().await;
        keep(tx.write(&key(1).to_be_bytes(), &value()).await);
        keep(tx.commit().await);
        let mut out = [0u8; 32];
        {
            let rtx = db.read_transaction().await;
            keep(rtx.read(&key(2).to_be_bytes(), &mut out).await);
        }
        let mut tx = db.write_transaction().await;
        keep(tx.delete(&key(3).to_be_bytes()).await);
        keep(tx.commit().await);
        keep(out);
    });
    loop {}
}
